"""`qa models …`: the offline Whisper models, placed and verified."""

from __future__ import annotations

from typing import Annotated

import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import JsonOpt, Typer, out, write_json

app = Typer(help="Offline models: place, verify, list.")


@app.command("install")
def models_install(
    names: Annotated[list[str] | None, typer.Argument(help="Models to place (default: all in the manifest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-assemble and re-verify.")] = False,
) -> None:
    """Place the offline models under models/ and verify their sha256."""
    for name in names or qa.known_models():
        path = qa.install_model(name, force=force)
        out.print(f"{name}: {path} (sha256 verified)", highlight=False, soft_wrap=True)


@app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the manifest's models and whether they are placed."""
    rows = []
    for name, entry in qa.model_manifest()["whisper"].items():
        path = qa.models_dir() / entry["dir"]
        rows.append({"name": name, "path": str(path), "placed": (path / "model.bin").exists(),
                     "multilingual": entry["multilingual"], "licence": entry["licence"]})
    if as_json:
        write_json(rows)
        return
    for r in rows:
        out.print(f"{r['name']:10s} {'placed' if r['placed'] else 'missing':8s} {r['path']}", highlight=False, soft_wrap=True)
