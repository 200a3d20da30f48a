"""`qa serve`: the review web app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa_pipeline.cli.common import ConfigOpt, DbOpt, err, fail, load_settings, open_store, out
from qa_pipeline.errors import EXIT_USAGE


def serve(
    db: DbOpt = Path("qa.db"),
    host: Annotated[str, typer.Option(help="Interface to bind; the default keeps the app on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", help="Mark cookies Secure (behind an HTTPS proxy).")] = False,
    config: ConfigOpt = None,
) -> None:
    """The review web app for coaches, QA leads, HR and agents (users from `qa users add --password-stdin`)."""
    try:
        import uvicorn

        from qa_pipeline.web.app import create_app
    except ImportError as exc:
        raise fail(f"the web app needs the 'web' extra ({exc.name} is missing): pip install 'qa_pipeline[web]'",
                   EXIT_USAGE) from None
    cfg = load_settings(config)  # the scorecards use the same settings as `qa scorecard --config`
    open_store(db).close()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it may try to sign in; "
                  "put it behind HTTPS and use --secure-cookies", highlight=False)
    out.print(f"qa review app on http://{host}:{port}/ over {db}", highlight=False)
    app = create_app(db, {"secure_cookies": secure_cookies, "privacy": cfg.privacy, "report": cfg.reports,
                          "claim_ttl_minutes": cfg.queue.claim_ttl_minutes, "qa": cfg,
                          "review": cfg.review})
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)
