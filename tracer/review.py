"""Human review of flags: who looked at which freeze point, when, and what they decided.

Reviews live in the case workspace, not in the trace output: ``reviews.jsonl``, an append-only
log (one JSON object per line) in the trace's output directory or in ``--workspace DIR``. A trace
writes only its own files (:mod:`tracer.outputs` replaces them one by one), so re-running a trace
into the same directory never touches the log, and flag ids are stable
(:func:`tracer.flags.flag_id`: chain, address, kind, asset; not the rule), so every review
attaches to the same flag in the new run. A review whose flag is not in the current run (another
rule, another window) is kept and listed as such, never dropped.

Each entry records the flag id, the new and the previous status, the note, the reviewer, the UTC
time, and a snapshot of the flag (address, kind, asset, entity, amount, rule) so the log reads on
its own. Statuses: ``open`` (never reviewed, or reopened), ``confirmed`` (the evidence holds),
``dismissed`` (a false positive), ``requested`` (a freeze was requested), ``frozen`` (the
exchange or issuer froze the funds).

``tracer review OUT`` lists the flags with their status; ``tracer review OUT --flag ID --status
confirmed --note "..." --reviewer NAME`` records a decision; ``--flag ID`` alone shows its history.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click

__all__ = [
    "REVIEWS_FILE",
    "STATUSES",
    "Review",
    "ReviewLog",
    "review_command",
    "workspace_dir",
]

REVIEWS_FILE = "reviews.jsonl"
OPEN = "open"
#: Statuses a review can set (``open`` reopens a flag).
STATUSES = ("confirmed", "dismissed", "requested", "frozen", OPEN)
_SNAPSHOT = ("chain", "address", "kind", "asset", "symbol", "entity", "tainted_amount", "policy")


def workspace_dir(trace_dir: str | os.PathLike, workspace: str | os.PathLike | None = None) -> Path:
    """Where a case's reviews and checks live: ``workspace`` if given, else the trace directory."""
    return Path(workspace) if workspace else Path(trace_dir)


@dataclass(frozen=True)
class Review:
    flag_id: str
    status: str
    previous: str
    note: str
    reviewer: str
    at: str  # ISO-8601 UTC
    flag: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"v": 1, **asdict(self)}, sort_keys=True, ensure_ascii=False)


def _text(value) -> str:
    """User text as valid Unicode (lone surrogates from undecodable argv become U+FFFD)."""
    return re.sub("[\ud800-\udfff]", "\ufffd", str(value or ""))


@contextmanager
def _locked(handle) -> Iterator[None]:
    """An exclusive lock on an open file (POSIX ``flock``; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


class ReviewLog:
    """The append-only review log of one workspace."""

    def __init__(self, workspace: str | os.PathLike):
        self.workspace = Path(workspace)
        self.path = self.workspace / REVIEWS_FILE
        self.warnings: list[str] = []

    def entries(self) -> list[Review]:
        """Every review in the order recorded. Unreadable lines are skipped with a warning."""
        self.warnings = []
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for n, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    out.append(
                        Review(
                            str(d["flag_id"]),
                            str(d["status"]),
                            str(d.get("previous", OPEN)),
                            str(d.get("note", "")),
                            str(d.get("reviewer", "")),
                            str(d.get("at", "")),
                            d.get("flag") if isinstance(d.get("flag"), dict) else {},
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    self.warnings.append(f"{self.path}:{n}: unreadable review line skipped")
        return out

    def current(self) -> dict[str, Review]:
        """flag id -> its latest review."""
        latest: dict[str, Review] = {}
        for r in self.entries():
            latest[r.flag_id] = r
        return latest

    def statuses(self) -> dict[str, str]:
        return {k: r.status for k, r in self.current().items()}

    def history(self, flag_id: str) -> list[Review]:
        return [r for r in self.entries() if r.flag_id == flag_id]

    def record(
        self,
        flag_id: str,
        status: str | None,
        note: str = "",
        reviewer: str = "",
        flag: dict | None = None,
        now: datetime | None = None,
    ) -> Review:
        """Append one review (``status`` None keeps the current status: a note only)."""
        from tracer.engine import TraceInputError

        if status is not None and status not in STATUSES:
            raise TraceInputError(f"unknown review status {status!r} (use {', '.join(STATUSES)})")
        reviewer = _text(reviewer).strip()
        note = _text(note)
        if not reviewer:
            raise TraceInputError("a review needs a reviewer (--reviewer NAME or $TRACER_REVIEWER)")
        when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.workspace.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle, _locked(handle):
            previous = self.statuses().get(flag_id, OPEN)
            review = Review(
                flag_id,
                status or previous,
                previous,
                note or "",
                reviewer,
                when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                {k: (flag or {}).get(k, "") for k in _SNAPSHOT} if flag else {},
            )
            handle.seek(0, os.SEEK_END)
            if handle.tell():  # a torn last line must not swallow this entry
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
            handle.write(review.to_json().encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return review


# ----------------------------------------------------------------------------- command line


def _default_reviewer() -> str:
    name = os.environ.get("TRACER_REVIEWER", "")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in a container
        return ""


@click.command("review")
@click.argument("trace_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--flag", "flag_id", help="Flag id (from flags.csv) to review or to show.")
@click.option("--status", type=click.Choice(STATUSES), help="New review status of --flag.")
@click.option("--note", default="", help="What was checked, requested or decided.")
@click.option("--reviewer", help="Who reviews (default: $TRACER_REVIEWER or the user name).")
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Case workspace holding reviews.jsonl (default: TRACE_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def review_command(trace_dir, flag_id, status, note, reviewer, workspace, as_json) -> None:
    """List the flags of a trace with their review status, or record a review of one.

    Reviews are appended to reviews.jsonl in the workspace (default: TRACE_DIR) with who, when
    (UTC), the old and new status and the note; they carry over when the trace is re-run."""
    from tracer.engine import TraceInputError
    from tracer.freeze import load_trace
    from tracer.labels import display_text

    data = load_trace(trace_dir)
    log = ReviewLog(workspace_dir(trace_dir, workspace))
    if (status or note) and not flag_id:
        raise TraceInputError("--status/--note need --flag ID")
    if flag_id:
        flag = data.flag(flag_id)
        if status or note:
            if flag is None:
                raise TraceInputError(
                    f"no flag {display_text(flag_id, 40)!r} in {trace_dir} (see `tracer review "
                    f"{trace_dir}` for the ids)"
                )
            r = log.record(flag_id, status, note, reviewer or _default_reviewer(), flag)
            if as_json:
                click.echo(r.to_json())
            else:
                click.echo(
                    f"{r.flag_id}: {r.previous} -> {r.status} by {display_text(r.reviewer, 60)} "
                    f"at {r.at} ({log.path})"
                )
            return
        history = log.history(flag_id)
        if flag is None and not history:
            raise TraceInputError(f"no flag {display_text(flag_id, 40)!r} in {trace_dir}")
        if as_json:
            for r in history:
                click.echo(r.to_json())
            return
        if flag is not None:
            click.echo(
                f"{flag_id} {flag['kind']} {flag['address']} {display_text(flag['entity'], 60)} "
                f"{flag['tainted_amount']} {display_text(flag['symbol'], 20)} "
                f"({flag['policy']}, confidence {flag['confidence']})"
            )
            click.echo(f"  evidence: {display_text(flag['evidence'], 400)}")
        else:
            click.echo(f"{flag_id}: not in this trace (reviews kept from another run)")
        status_now = history[-1].status if history else OPEN
        click.echo(f"  status: {status_now}")
        for r in history:
            click.echo(
                f"  {r.at}  {r.previous} -> {r.status}  by {display_text(r.reviewer, 60)}"
                + (f": {display_text(r.note, 300)}" if r.note else "")
            )
        return
    current = log.current()
    for w in log.warnings:
        click.echo(f"warning: {w}", err=True)
    ids = {f["flag_id"] for f in data.flags}
    rows = []
    for f in data.flags:
        r = current.get(f["flag_id"])
        rows.append(
            {
                "flag_id": f["flag_id"],
                "status": r.status if r else OPEN,
                "kind": f["kind"],
                "address": f["address"],
                "entity": f["entity"],
                "tainted_amount": f["tainted_amount"],
                "symbol": f["symbol"],
                "reviewer": r.reviewer if r else "",
                "at": r.at if r else "",
                "in_trace": True,
            }
        )
    for fid, r in sorted(current.items()):
        if fid not in ids:
            snap = r.flag or {}
            rows.append(
                {
                    "flag_id": fid,
                    "status": r.status,
                    "kind": snap.get("kind", ""),
                    "address": snap.get("address", ""),
                    "entity": snap.get("entity", ""),
                    "tainted_amount": snap.get("tainted_amount", ""),
                    "symbol": snap.get("symbol", ""),
                    "reviewer": r.reviewer,
                    "at": r.at,
                    "in_trace": False,
                }
            )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True, ensure_ascii=False))
        return
    click.echo(
        f"{'flag':<15} {'status':<10} {'kind':<18} {'amount':>20}  address / entity / last review"
    )
    for row in rows:
        amount = f"{display_text(row['tainted_amount'], 20)} {display_text(row['symbol'], 10)}"
        last = f"  [{display_text(row['reviewer'], 30)} {row['at']}]" if row["at"] else ""
        gone = "  (not in this trace)" if not row["in_trace"] else ""
        click.echo(
            f"{row['flag_id']:<15} {row['status']:<10} {row['kind']:<18} {amount:>20}  "
            f"{row['address']} {display_text(row['entity'], 40)}{last}{gone}"
        )
