"""The command line: the main job, and bad input giving exit 2 with one line and no traceback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import networkx as nx
import pytest

from tracer.sandbox import SANDBOX_DIR

GT = json.loads((SANDBOX_DIR / "ground_truth.json").read_text())


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_main_job_on_the_sandbox(tmp_path):
    out = tmp_path / "out"
    r = run("trace", "--case", "sandbox", "--out", str(out))
    assert r.returncode == 0, r.stderr
    for name in (
        "graph.graphml",
        "graph.json",
        "flags.csv",
        "manifest.json",
        "graph.gexf",
        "edges.csv",
        "nodes.csv",
        "pruned.csv",
    ):
        assert (out / name).is_file(), name
    assert (out / "neo4j" / "nodes.csv").is_file()
    G = nx.read_graphml(out / "graph.graphml")
    assert G.number_of_edges() > 10
    with (out / "flags.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} >= {"exchange_deposit", "freezable_balance", "mixer", "bridge"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["policy"] == "haircut"
    assert manifest["data_fingerprint"]
    assert set(manifest["outputs"]) >= {"flags.csv", "graph.graphml"}
    assert "flags" in r.stderr  # the summary table


def test_explicit_seed_data_and_labels(tmp_path):
    out = tmp_path / "o"
    seed = GT["seeds"][0]
    r = run(
        "trace",
        seed,
        "--chain",
        "ethereum",
        "--data",
        str(SANDBOX_DIR),
        "--labels",
        str(SANDBOX_DIR / "labels.yaml"),
        "--policy",
        "fifo",
        "--hops",
        "3",
        "--min-amount",
        "0.5",
        "--since",
        "2022-11-01T00:00:00Z",
        "--out",
        str(out),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    G = nx.read_graphml(out / "graph.graphml")
    assert max(int(d["hop"]) for *_, d in G.edges(data=True)) <= 3


def _bad(*args, cwd=None):
    r = run(*args, cwd=cwd)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(
    "seed,needle",
    [
        ("0x58f56615180a8eea4c462235d9e215f72484b4a", "length"),  # one digit short
        ("0x58F56615180a8eea4c462235d9e215f72484b4a3", "checksum"),  # wrong mixed case
        ("TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBnbS", "tron"),  # Tron address on ethereum
        ("bc1qw5g8lw4kzltpdcraehy2dt6dqda8080xd6vhl4kg4wwsypwerg9s3x6pvk", "bitcoin"),
        ("not-an-address", "ethereum"),
    ],
)
def test_bad_seed(tmp_path, seed, needle):
    line = _bad(
        "trace",
        seed,
        "--chain",
        "ethereum",
        "--data",
        str(SANDBOX_DIR),
        "--out",
        str(tmp_path / "o"),
    )
    assert needle in line.lower()


def test_unknown_case(tmp_path):
    assert "unknown case" in _bad("trace", "--case", "nope", "--out", str(tmp_path / "o"))


def test_unknown_chain(tmp_path):
    assert "unknown chain" in _bad(
        "trace",
        GT["seeds"][0],
        "--chain",
        "dogecoin",
        "--data",
        str(SANDBOX_DIR),
        "--out",
        str(tmp_path / "o"),
    )


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    line = _bad(
        "trace",
        GT["seeds"][0],
        "--chain",
        "ethereum",
        "--data",
        str(tmp_path / "empty"),
        "--out",
        str(tmp_path / "o"),
    )
    assert "empty" in line or "no " in line


def test_missing_directory(tmp_path):
    _bad("trace", GT["seeds"][0], "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))


def test_missing_columns(tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "token_transfers.csv").write_text("token_address,from_address,to_address\n0x1,0x2,0x3\n")
    line = _bad("trace", GT["seeds"][0], "--data", str(d), "--out", str(tmp_path / "o"))
    assert "token_transfers" in line


def test_bad_policy_and_time(tmp_path):
    _bad("trace", "--case", "sandbox", "--policy", "magic", "--out", str(tmp_path / "o"))
    line = _bad("trace", "--case", "sandbox", "--since", "yesterday", "--out", str(tmp_path / "o"))
    assert "yesterday" in line
    _bad("trace", "--case", "sandbox", "--min-amount", "lots", "--out", str(tmp_path / "o"))


def test_broken_label_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ncreator: y\ntags: [\n")
    line = _bad("trace", "--case", "sandbox", "--labels", str(bad), "--out", str(tmp_path / "o"))
    assert "bad.yaml" in line


def test_no_seed(tmp_path):
    _bad("trace", "--data", str(SANDBOX_DIR), "--out", str(tmp_path / "o"))
