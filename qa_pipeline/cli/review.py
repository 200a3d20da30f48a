"""Human decisions from the command line: `qa review …`, `qa dispute …`, `qa calibration`, `qa assist`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qa_pipeline.cli.common import DbOpt, JsonOpt, Typer, UserOpt, emit, fail, open_store, out
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store.calibration import calibration_report
from qa_pipeline.store.review import open_dispute, resolve_dispute, set_assist, submit_review

review_app = Typer(help="Coach reviews.")
dispute_app = Typer(help="Agents dispute reviews; QA leads resolve.")

ConfirmOpt = Annotated[list[str] | None, typer.Option("--confirm", help="Finding key or rule id to confirm (repeatable).")]
RejectOpt = Annotated[list[str] | None, typer.Option("--reject", help="Finding key or rule id to reject (repeatable).")]


def verdicts(confirm: list[str] | None, reject: list[str] | None) -> dict[str, str]:
    return {k: "confirm" for k in confirm or []} | {k: "reject" for k in reject or []}


@review_app.command("submit")
def review_submit(
    call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "", confirm: ConfirmOpt = None, reject: RejectOpt = None,
    score: Annotated[list[str] | None, typer.Option("--score", help="Human score per criterion, CRITERION=POINTS.")] = None,
    notes: Annotated[str, typer.Option()] = "", coaching: Annotated[str, typer.Option("--coaching", help="Coaching action.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record a review: per-finding confirm/reject, human scores, notes, coaching action."""
    scores = {}
    for item in score or []:
        key, _, value = item.partition("=")
        try:
            scores[key] = float(value)
        except ValueError:
            raise fail(f"--score must be CRITERION=POINTS, not {item!r}", EXIT_USAGE) from None
    review_id = submit_review(open_store(db), user, call_id, verdicts(confirm, reject), scores, notes, coaching)
    emit({"review_id": review_id}, as_json, lambda d: out.print(f"review {d['review_id']} saved"))


@dispute_app.command("open")
def dispute_open(review_id: str, reason: Annotated[str, typer.Option()], db: DbOpt = Path("qa.db"),
                 user: UserOpt = "", as_json: JsonOpt = False) -> None:
    """An agent disputes a review of one of their calls."""
    dispute_id = open_dispute(open_store(db), user, review_id, reason)
    emit({"dispute_id": dispute_id}, as_json, lambda d: out.print(f"dispute {d['dispute_id']} opened"))


@dispute_app.command("resolve")
def dispute_resolve(dispute_id: str, decision: Annotated[str, typer.Option(help="upheld | changed")],
                    db: DbOpt = Path("qa.db"), user: UserOpt = "", note: Annotated[str, typer.Option()] = "",
                    confirm: ConfirmOpt = None, reject: RejectOpt = None) -> None:
    """A QA lead upholds a review or changes it."""
    resolve_dispute(open_store(db), user, dispute_id, decision, note, verdicts(confirm, reject))
    out.print(f"dispute {dispute_id}: {decision}")


def calibration(db: DbOpt = Path("qa.db"), min_precision: Annotated[float, typer.Option()] = 0.8,
                min_kappa: Annotated[float, typer.Option()] = 0.6, min_n: Annotated[int, typer.Option()] = 5,
                as_json: JsonOpt = False) -> None:
    """Per-rule precision from coach verdicts and per-criterion Cohen's kappa (machine vs human)."""
    report = calibration_report(open_store(db), min_precision, min_kappa, min_n)

    def render(r: dict[str, Any]) -> None:
        out.print("rule precision (coach verdicts):")
        for row in r["rules"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['rule_id']:32s} {row['confirmed']:3d} confirmed {row['rejected']:3d} rejected "
                      f"precision {row['precision']}{flag}", highlight=False, markup=False)
        out.print("criterion agreement (machine vs human):")
        for row in r["criteria"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['criterion']:20s} n={row['n']:3d} agreement {row['agreement']} kappa {row['kappa']}{flag}",
                      highlight=False, markup=False)
        out.print(f"assist mode: {', '.join(r['assist_mode']) or '-'}", highlight=False)
    emit(report, as_json, render)


def assist(target: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
           off: Annotated[bool, typer.Option("--off", help="Take the rule/criterion out of assist mode.")] = False,
           reason: Annotated[str, typer.Option()] = "") -> None:
    """Put a rule or criterion in assist mode (shown to coaches, not scored) or take it out."""
    set_assist(open_store(db), user, target, not off, reason)
    out.print(f"{target}: assist mode {'off' if off else 'on'} (applies from the next nightly run)")
