"""Same Tron chain, two sources (TronGrid over HTTP, DuckDB over the exports): identical graphs
and flags under every allocation rule, from the API and from the command line."""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest
from servers.trongrid_server import TronData, TronGridServer

import tracer
from tracer.tron.sandbox import DATA_DIR
from tracer.tron.trongrid import TronGridSource

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


@pytest.fixture(scope="module")
def server():
    with TronGridServer(TronData(DATA_DIR)) as s:
        yield s


def _edges(path: Path) -> list[dict]:
    with open(path / "edges.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert row.pop("source").split(":")[0] in ("duckdb", "trongrid")
    return rows


def _tron_section(manifest: dict) -> dict:
    section = json.loads(json.dumps(manifest["tron"]))
    for entry in section["blacklist"]:
        entry.pop("is_blacklisted_now", None)  # a live source also asks isBlackListed now
        entry.pop("balance_now", None)  # ... and the account's token balance now
    return section


@pytest.mark.parametrize("policy", POLICIES)
def test_identical_graphs_and_flags(server, policy, tmp_path):
    reference = tracer.trace(case="sandbox-tron", policy=policy)
    live = tracer.trace(
        case="sandbox-tron", policy=policy, source=TronGridSource(api_url=server.url)
    )
    reference.export(tmp_path / "duckdb")
    live.export(tmp_path / "trongrid")
    for name in ("flags.csv", "nodes.csv", "pruned.csv"):
        assert filecmp.cmp(tmp_path / "duckdb" / name, tmp_path / "trongrid" / name, False), name
    assert _edges(tmp_path / "duckdb") == _edges(tmp_path / "trongrid")
    assert _tron_section(reference.manifest) == _tron_section(live.manifest)
    assert reference.manifest["stats"] == live.manifest["stats"]
    fp = live.manifest["data_fingerprint"]
    assert fp["kind"] == "trongrid" and fp["store"]["responses"] > 0
    now = {e["address"]: e for e in live.manifest["tron"]["blacklist"]}
    assert now[GT["addresses"]["h1"]]["is_blacklisted_now"] is True
    assert now[GT["addresses"]["h2"]]["balance_now"] == str(500_000 * 10**6)


def test_cli_with_the_trongrid_source(server, tmp_path):
    seeds = GT["seeds"]
    labels = str(DATA_DIR / "labels.yaml")
    common = ["--chain", "tron", "--labels", labels, "--policy", "lifo", "--quiet"]
    asset = ["--asset", GT["token"], "--asset", "native"]
    cache = tmp_path / "store"
    runs = {
        "duckdb": ["--data", str(DATA_DIR)],
        "trongrid": ["--source", "trongrid", "--api-url", server.url, "--cache", str(cache)],
    }
    for name, extra in runs.items():
        r = subprocess.run(
            [sys.executable, "-m", "tracer.cli", "trace", *seeds, *common, *asset, *extra]
            + ["--out", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    assert filecmp.cmp(
        tmp_path / "duckdb" / "flags.csv", tmp_path / "trongrid" / "flags.csv", False
    )
    assert _edges(tmp_path / "duckdb") == _edges(tmp_path / "trongrid")
    assert any(cache.rglob("*.json"))
