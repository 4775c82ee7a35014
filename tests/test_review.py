"""Reviews: an append-only log in the case workspace that survives every re-run of the trace."""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from tracer.cli import cli
from tracer.engine import TraceInputError
from tracer.freeze import load_trace
from tracer.review import REVIEWS_FILE, ReviewLog


def _trace(out, *extra):
    run = CliRunner().invoke(
        cli, ["trace", "--case", "sandbox", "--out", str(out), "--quiet", *extra]
    )
    assert run.exit_code == 0, run.output
    return load_trace(out)


def _review(*args):
    return CliRunner().invoke(cli, ["review", *map(str, args)])


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    out = tmp_path_factory.mktemp("review") / "out"
    return out, _trace(out)


def test_log_records_history_with_old_and_new_status(tmp_path):
    log = ReviewLog(tmp_path)
    t1 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    t2 = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)
    flag = {"address": "0xabc", "kind": "exchange_deposit", "asset": "native", "entity": "X"}
    log.record("EXC-1", "confirmed", "matches the sweep", "alice", flag, now=t1)
    log.record("EXC-1", "requested", "emailed compliance", "bob", flag, now=t2)
    log.record("FRE-2", "dismissed", "", "alice", None, now=t2)
    hist = log.history("EXC-1")
    assert [(r.previous, r.status, r.reviewer, r.at) for r in hist] == [
        ("open", "confirmed", "alice", "2024-05-01T12:00:00Z"),
        ("confirmed", "requested", "bob", "2024-05-02T09:30:00Z"),
    ]
    assert hist[0].flag["kind"] == "exchange_deposit" and hist[1].note == "emailed compliance"
    assert log.statuses() == {"EXC-1": "requested", "FRE-2": "dismissed"}
    # a note alone keeps the status
    r = log.record("EXC-1", None, "exchange acknowledged", "bob")
    assert (r.previous, r.status) == ("requested", "requested")
    # append-only: earlier lines are never rewritten
    lines = (tmp_path / REVIEWS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["status"] == "confirmed"


def test_log_rejects_bad_input_and_survives_a_torn_line(tmp_path):
    log = ReviewLog(tmp_path)
    with pytest.raises(TraceInputError):
        log.record("EXC-1", "approved", "", "alice")
    with pytest.raises(TraceInputError):
        log.record("EXC-1", "confirmed", "", "  ")
    log.record("EXC-1", "confirmed", "", "alice")
    with open(tmp_path / REVIEWS_FILE, "a", encoding="utf-8") as f:
        f.write('{"flag_id": "EXC-1", "status": "dism')  # a crash mid-write
    log.record("EXC-1", "frozen", "exchange froze it", "carol")
    assert [r.status for r in log.entries()] == ["confirmed", "frozen"]
    assert len(log.warnings) == 1 and "unreadable" in log.warnings[0]
    assert log.history("EXC-1")[-1].previous == "confirmed"


def _append_many(args):
    folder, who = args
    log = ReviewLog(folder)
    for i in range(25):
        log.record(f"EXC-{i % 3}", "confirmed" if i % 2 else "requested", f"{who} {i}", who)


def test_concurrent_reviewers_lose_nothing(tmp_path):
    with multiprocessing.get_context("fork").Pool(3) as pool:
        pool.map(_append_many, [(tmp_path, "alice"), (tmp_path, "bob"), (tmp_path, "carol")])
    log = ReviewLog(tmp_path)
    entries = log.entries()
    assert len(entries) == 75 and log.warnings == []
    for fid in ("EXC-0", "EXC-1", "EXC-2"):  # each entry's previous status is the one before it
        hist = log.history(fid)
        assert [r.previous for r in hist[1:]] == [r.status for r in hist[:-1]]


def test_cli_lists_records_and_shows_history(traced):
    out, data = traced
    run = _review(out)
    assert run.exit_code == 0, run.output
    for f in data.flags:
        assert f["flag_id"] in run.output
    assert run.output.count(" open ") == len(data.flags)
    dep = next(f for f in data.flags if f["kind"] == "exchange_deposit")
    run = _review(
        out,
        "--flag",
        dep["flag_id"],
        "--status",
        "confirmed",
        "--note",
        "sweep matches",
        "--reviewer",
        "alice",
    )
    assert run.exit_code == 0, run.output
    assert f"{dep['flag_id']}: open -> confirmed by alice" in run.output
    run = _review(
        out,
        "--flag",
        dep["flag_id"],
        "--status",
        "requested",
        "--note",
        "sent packet",
        "--reviewer",
        "bob",
    )
    assert "confirmed -> requested" in run.output
    run = _review(out, "--flag", dep["flag_id"])
    assert run.exit_code == 0
    assert "status: requested" in run.output
    assert "open -> confirmed  by alice: sweep matches" in run.output
    assert "confirmed -> requested  by bob: sent packet" in run.output
    rows = [json.loads(x) for x in _review(out, "--json").output.splitlines()]
    mine = next(r for r in rows if r["flag_id"] == dep["flag_id"])
    assert (mine["status"], mine["reviewer"], mine["in_trace"]) == ("requested", "bob", True)
    # a typo in a flag id is an error (exit 2, one line), and so is a status without a flag
    bad = _review(out, "--flag", "EXC-nope", "--status", "confirmed", "--reviewer", "x")
    assert bad.exit_code == 2 and "no flag" in bad.output
    assert _review(out, "--status", "confirmed").exit_code == 2
    assert _review(out, "--flag", dep["flag_id"], "--status", "approved").exit_code == 2


def test_reviews_survive_rerunning_the_trace_into_the_same_dir(tmp_path):
    out = tmp_path / "out"
    data = _trace(out)
    ids = [f["flag_id"] for f in data.flags]
    for i, fid in enumerate(ids[:4]):
        status = ("confirmed", "dismissed", "requested", "frozen")[i]
        assert _review(out, "--flag", fid, "--status", status, "--reviewer", "alice").exit_code == 0
    log_bytes = (out / REVIEWS_FILE).read_bytes()
    before = ReviewLog(out).statuses()

    # the same rule again, then another rule: every output is rewritten, the log is not touched
    for policy in ("haircut", "fifo"):
        again = _trace(out, "--policy", policy)
        assert (out / REVIEWS_FILE).read_bytes() == log_bytes
        assert [f["flag_id"] for f in again.flags if f["flag_id"] in before] == [
            f for f in ids if f in before
        ]
        assert ReviewLog(out).statuses() == before
        listing = _review(out, "--json").output.splitlines()
        shown = {json.loads(x)["flag_id"]: json.loads(x)["status"] for x in listing}
        for fid, status in before.items():
            assert shown[fid] == status

    # another trace (the Bitcoin sandbox) into the same directory: the Ethereum reviews are kept
    # and listed as not in this trace; tracing Ethereum again brings them back
    run = CliRunner().invoke(
        cli, ["trace", "--case", "sandbox-bitcoin", "--out", str(out), "--quiet"]
    )
    assert run.exit_code == 0, run.output
    rows = [json.loads(x) for x in _review(out, "--json").output.splitlines()]
    kept = {r["flag_id"]: r for r in rows if not r["in_trace"]}
    assert set(kept) == set(before)
    assert all(kept[f]["status"] == before[f] and kept[f]["address"] for f in before)
    assert "(not in this trace)" in _review(out).output
    _trace(out)
    assert ReviewLog(out).statuses() == before
    assert (out / REVIEWS_FILE).read_bytes() == log_bytes


def test_workspace_elsewhere(traced, tmp_path):
    out, data = traced
    ws = tmp_path / "case"
    fid = data.flags[0]["flag_id"]
    run = _review(
        out, "--flag", fid, "--status", "confirmed", "--reviewer", "dana", "--workspace", ws
    )
    assert run.exit_code == 0, run.output
    assert (ws / REVIEWS_FILE).is_file()
    assert ReviewLog(ws).statuses() == {fid: "confirmed"}
    shown = _review(out, "--workspace", ws, "--json").output.splitlines()
    assert any(
        json.loads(x)["flag_id"] == fid and json.loads(x)["status"] == "confirmed" for x in shown
    )
