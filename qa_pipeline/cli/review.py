"""Human decisions from the command line: `qa review …` (with releasing a review to its agent and the agent's
acknowledgement), `qa dispute …`, `qa calibration`, `qa assist`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

import qa_pipeline as qa
from qa_pipeline.cli.common import ConfigOpt, DbOpt, JsonOpt, Typer, UserOpt, emit, fail, load_settings, open_store, out
from qa_pipeline.errors import EXIT_USAGE
from qa_pipeline.store import release
from qa_pipeline.store.calibration import calibration_report
from qa_pipeline.store.disputes import open_dispute, resolve_dispute
from qa_pipeline.store.review import review_history, set_assist, submit_review

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
    reason: Annotated[str, typer.Option("--reason", help="Why: needed when the call already has a review.")] = "",
    why_rejected: Annotated[list[str] | None, typer.Option(
        "--reject-reason", help="Why a finding was rejected, KEY=TEXT (repeatable; shown in calibration).")] = None,
    as_lead: Annotated[bool, typer.Option("--as-lead", help="QA leads: review without holding the call's claim "
                                                            "(recorded in the audit log).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record a review of a call you have claimed: per-finding confirm/reject, human scores, notes, coaching.

    A call that already has a review gets a new version (give --reason); the old one is kept."""
    review_id = submit_review(open_store(db), user, call_id, verdicts(confirm, reject), parse_scores(score), notes,
                              coaching, reason, as_lead, pairs("--reject-reason", "KEY=TEXT", why_rejected))
    emit({"review_id": review_id}, as_json, lambda d: out.print(f"review {d['review_id']} saved"))


def parse_scores(items: list[str] | None) -> dict[str, str]:
    """CRITERION=POINTS pairs; the points are checked by the store (the same check as the web app's)."""
    return pairs("--score", "CRITERION=POINTS", items)


def pairs(option: str, form: str, items: list[str] | None) -> dict[str, str]:
    """KEY=VALUE items of a repeatable option; the values are checked by the store."""
    found = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"{option} must be {form}, not {item!r}", EXIT_USAGE)
        found[key] = value
    return found


@review_app.command("history")
def review_history_cmd(call_id: str, db: DbOpt = Path("qa.db"), as_json: JsonOpt = False) -> None:
    """Every version of a call's review, with who, when and why, and the disputes on each."""
    store = open_store(db)
    if store.call(call_id) is None:
        raise fail(f"no call {call_id!r}", EXIT_USAGE)

    def render(versions: list[dict[str, Any]]) -> None:
        if not versions:
            out.print(f"{call_id} has no review")
        for v in versions:
            lead = " (as QA lead)" if v["acting_as"] else ""
            out.print(f"v{v['version']} {v['status']:10s} {v['created_at']} {v['reviewer']}{lead}: "
                      f"{len(v['verdicts'])} verdict(s) {v['human_scores'] or ''}"
                      + (f" — why: {v['reason']}" if v["reason"] else ""), highlight=False, markup=False)
            for d in v["disputes"]:
                out.print(f"    dispute {d['dispute_id']} by {d['opened_by']} {d['created_at']}: {d['reason']} — "
                          f"{d['status']}" + (f" by {d['resolved_by']}: {d['resolution']}" if d["resolved_by"] else ""),
                          highlight=False, markup=False)
    emit(review_history(store, call_id), as_json, render)


@review_app.command("swap-roles")
def review_swap_roles(
    call_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")] = "",
    as_lead: Annotated[bool, typer.Option("--as-lead", help="QA leads: without holding the call's claim.")] = False,
    config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Swap agent and caller on a call you have claimed: the stored transcript is scored again with the roles
    exchanged (no new transcription), kept as a decision with who and when, and kept by later nightly runs."""
    done = qa.swap_roles(open_store(db), user, call_id, load_settings(config), reason, as_lead)
    emit(done, as_json, lambda d: out.print(f"{call_id}: agent and caller swapped (decision {d['decision_id']}, "
                                            f"v{d['version']}); score now {d['score']}", highlight=False))


@review_app.command("release")
def review_release(
    review_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
    at: Annotated[str | None, typer.Option("--at", help="Release on this date (YYYY-MM-DD) or time "
                                                         "(YYYY-MM-DDTHH:MM); default: now.")] = None,
    reschedule: Annotated[bool, typer.Option("--reschedule", help="Move a release that has not taken effect yet "
                                                                  "(the earlier date is kept in its history).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the release).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """QA leads: release a call's current review to its agent, now or from a date. Until then the agent does not
    see it; the dispute window runs from the release. Once in effect, a release is never repeated or taken back."""
    done = release.release_review(open_store(db), user, review_id, at, reason, reschedule)
    emit(done, as_json, lambda d: out.print(f"review {review_id}: released to the agent from {d['release_at']}",
                                            highlight=False))


@review_app.command("acknowledge")
def review_acknowledge(review_id: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
                       comment: Annotated[str, typer.Option("--comment", help="Optional comment.")] = "") -> None:
    """Agents: acknowledge a review released to you (once; an acknowledged review is not disputed)."""
    release.acknowledge(open_store(db), user, review_id, comment)
    out.print(f"review {review_id}: acknowledged", highlight=False)


@review_app.command("pending")
def review_pending(db: DbOpt = Path("qa.db"), team: Annotated[str, typer.Option("--team")] = "",
                   as_json: JsonOpt = False) -> None:
    """Current reviews not visible to their agent yet (never released, or released from a later date)."""
    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            out.print("every current review is released")
        for r in rows:
            out.print(f"{r['review_id']} {r['call_id']} v{r['version']} by {r['reviewer']} agent {r['agent_id']} "
                      f"team {r['team']}: " + (f"release set for {r['release_at']}" if r["release_at"] else
                                              "not released"), highlight=False, markup=False, soft_wrap=True)
    emit(release.pending_releases(open_store(db), team or None), as_json, render)


@review_app.command("rates")
def review_rates(db: DbOpt = Path("qa.db"),
                 since: Annotated[str | None, typer.Option("--since", help="Releases from this date (YYYY-MM-DD).")] = None,
                 config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """QA leads and HR: per team, the reviews released to agents and how many were acknowledged or disputed."""
    window = load_settings(config).review.dispute_window_days

    def render(rows: list[dict[str, Any]]) -> None:
        out.print(f"{'team':12s} released acknowledged   disputed  awaiting unanswered", highlight=False)
        for t in rows:
            out.print(f"{t['team'] or '(none)':12s} {t['released']:8d} {t['acknowledged']:5d} ({t['acknowledged_rate']:4.0%})"
                      f" {t['disputed']:4d} ({t['disputed_rate']:4.0%}) {t['awaiting']:8d} {t['unanswered']:10d}",
                      highlight=False, markup=False)
    emit(release.team_rates(open_store(db), since, window), as_json, render)


@dispute_app.command("open")
def dispute_open(review_id: str, reason: Annotated[str, typer.Option()], db: DbOpt = Path("qa.db"),
                 user: UserOpt = "", config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """An agent disputes a review released to them, within the dispute window (`review.dispute_window_days`)."""
    window = load_settings(config).review.dispute_window_days
    dispute_id = open_dispute(open_store(db), user, review_id, reason, window)
    emit({"dispute_id": dispute_id}, as_json, lambda d: out.print(f"dispute {d['dispute_id']} opened"))


@dispute_app.command("resolve")
def dispute_resolve(dispute_id: str, decision: Annotated[str, typer.Option(help="upheld | changed")],
                    db: DbOpt = Path("qa.db"), user: UserOpt = "", note: Annotated[str, typer.Option()] = "",
                    confirm: ConfirmOpt = None, reject: RejectOpt = None,
                    score: Annotated[list[str] | None, typer.Option("--score", help="CRITERION=POINTS to change.")] = None,
                    ) -> None:
    """A QA lead upholds a review or changes it (a new version that keeps the coach's notes and coaching)."""
    new_id = resolve_dispute(open_store(db), user, dispute_id, decision, note, verdicts(confirm, reject),
                             parse_scores(score))
    out.print(f"dispute {dispute_id}: {decision}" + (f" (new review version {new_id})" if new_id else ""))


def calibration(db: DbOpt = Path("qa.db"), min_precision: Annotated[float, typer.Option()] = 0.8,
                min_kappa: Annotated[float, typer.Option()] = 0.6, min_n: Annotated[int, typer.Option()] = 5,
                as_json: JsonOpt = False) -> None:
    """Per-rule precision from the current reviews' verdicts, per-criterion Cohen's kappa (machine vs coach) and
    coach-vs-coach agreement on calls two reviewers reviewed."""
    report = calibration_report(open_store(db), min_precision, min_kappa, min_n)

    def render(r: dict[str, Any]) -> None:
        out.print("rule precision (coach verdicts):")
        for row in r["rules"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['rule_id']:32s} {row['confirmed']:3d} confirmed {row['rejected']:3d} rejected "
                      f"precision {row['precision']}{flag}", highlight=False, markup=False)
            for why in row["reject_reasons"]:
                out.print(f"      rejected in {why['call_id']} by {why['reviewer']}: {why['reason']}",
                          highlight=False, markup=False)
        out.print("criterion agreement (machine vs human):")
        for row in r["criteria"]:
            flag = "  BELOW BAR" if row["below_bar"] else ""
            out.print(f"  {row['criterion']:20s} n={row['n']:3d} agreement {row['agreement']} kappa {row['kappa']}{flag}",
                      highlight=False, markup=False)
        cc = r["coaches"]
        out.print(f"coach vs coach ({cc['calls']} calls reviewed by two or more): verdicts n={cc['verdicts']['n']} "
                  f"agreement {cc['verdicts']['agreement']} kappa {cc['verdicts']['kappa']}", highlight=False, markup=False)
        for row in cc["pairs"] + cc["criteria"]:
            name = row.get("coaches") or f"criterion {row['criterion']}"
            out.print(f"  {name:32s} n={row['n']:3d} agreement {row['agreement']} kappa {row['kappa']}",
                      highlight=False, markup=False)
        out.print(f"assist mode: {', '.join(r['assist_mode']) or '-'}", highlight=False)
    emit(report, as_json, render)


def assist(target: str, db: DbOpt = Path("qa.db"), user: UserOpt = "",
           off: Annotated[bool, typer.Option("--off", help="Take the rule/criterion out of assist mode.")] = False,
           reason: Annotated[str, typer.Option()] = "") -> None:
    """Put a rule or criterion in assist mode (shown to coaches, not scored) or take it out."""
    set_assist(open_store(db), user, target, not off, reason)
    out.print(f"{target}: assist mode {'off' if off else 'on'} (applies from the next nightly run)")
