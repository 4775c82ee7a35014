"""The Tron sandbox traced under every rule must match its hand-derived ground truth: flags and
amounts, deposit evidence, issuer freezes, links; and the outputs are deterministic."""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys

import pytest

import tracer
from tracer.records import parse_units
from tracer.tron.sandbox import DATA_DIR, DATA_FILES, generate
from tracer.tron.signals import LINK_COLUMNS, write_links_csv

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
A = GT["addresses"]
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


@pytest.fixture(scope="module", params=POLICIES)
def result(request):
    return tracer.trace(case="sandbox-tron", policy=request.param)


def test_generator_reproduces_the_bundled_sandbox(tmp_path):
    generate(tmp_path)
    for name in DATA_FILES:
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), name


def test_every_address_is_synthetic_and_valid():
    from tracer.tron import canonical

    for name, address in A.items():
        assert canonical(address) == address, name
    labels = (DATA_DIR / "labels.yaml").read_text()
    assert "synthetic" in labels and "Every address here is synthetic" in labels
    assert json.loads((DATA_DIR / "case.json").read_text())["synthetic"] is True


def test_every_expected_flag_with_its_amount(result):
    policy = result.outcome.params.policy
    got = {(f.address, f.kind, f.asset): f for f in result.flag_list}
    for exp in GT["flags"]:
        key = (exp["address"], exp["kind"], exp["asset"])
        assert key in got, f"{policy}: missing flag {exp['name']} {exp['kind']}"
        flag = got[key]
        assert flag.tainted == parse_units(exp["amounts"][policy], 6), (policy, exp["name"])
        assert flag.entity == exp["entity"], (policy, exp["name"], flag.entity)


def test_no_unexpected_flags(result):
    expected = {(e["address"], e["kind"], e["asset"]) for e in GT["flags"]}
    assert {(f.address, f.kind, f.asset) for f in result.flag_list} == expected


def test_noise_never_in_graph(result):
    addresses = {d["address"] for _, d in result.graph.nodes(data=True)}
    for name, address in GT["never_in_graph"].items():
        assert address not in addresses, name
    assets = {d["asset"] for *_, d in result.graph.edges(data=True)}
    assert GT["never_in_graph"]["fake_token"] not in assets
    assert {"failed_transaction", "zero_value"} <= set(result.pruned["reason"])


def test_node_ids_are_base58(result):
    for key, data in result.graph.nodes(data=True):
        assert key == f"tron:{data['address']}" and data["address"].startswith("T")


def test_deposit_sweeps_carry_their_evidence(result):
    flags = {f.address: f for f in result.flag_list if f.kind == "exchange_deposit"}
    x1, y1, x2 = flags[A["dep_x1"]], flags[A["dep_y1"]], flags[A["dep_x2"]]
    assert "swept its full balance" in x1.evidence and "TRX top-up of 5 TRX" in x1.evidence
    assert A["hot_x"] in x1.evidence and x1.confidence > 0.95
    assert "energy delegation (1000 TRX staked)" in y1.evidence and A["energy_y"] in y1.evidence
    assert "label: Exchange X: deposit address" in x2.evidence and x2.symbol == "TRX"
    assert x1.path and x1.hops == len(x1.path) == 2  # w1 -> cons -> dep_x1


def test_issuer_freezes(result):
    flags = {(f.address, f.kind): f for f in result.flag_list}
    frozen = flags[(A["h1"], "frozen_balance")]
    assert frozen.evidence.startswith("already frozen: Tether (sandbox) blacklisted")
    assert "AddedBlackList (tx" in frozen.evidence and "can freeze it" not in frozen.evidence
    assert frozen.flag_id.startswith("FRO-")
    lifted = flags[(A["h3"], "freezable_balance")]
    assert "RemovedBlackList" in lifted.evidence and "not frozen" in lifted.evidence
    assert "not blacklisted" in flags[(A["h2"], "freezable_balance")].evidence
    report = {e["address"]: e for e in result.manifest["tron"]["blacklist"]}
    assert report[A["h1"]]["blacklisted"] is True
    assert [e["event"] for e in report[A["h3"]]["events"]] == ["AddedBlackList", "RemovedBlackList"]


def test_links_are_reported(result, tmp_path):
    links = result.manifest["tron"]["links"]
    got = [
        {
            "kind": link["kind"],
            "address": link["address"],
            "members": link["members"],
            "also_funded": [tx["to"] for tx in link["also_funded"]],
        }
        for link in links
    ]
    assert got == GT["links"]
    gas = links[0]
    assert len(gas["txs"]) == 3 and all(tx["asset"] == "native" for tx in gas["txs"])
    cons = next(f for f in result.flag_list if f.address == A["cons"])
    assert f"link: consolidation address {A['cons']}" in cons.evidence
    path = write_links_csv(result.manifest["tron"], tmp_path / "links.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == LINK_COLUMNS
    assert {r["member"] for r in rows if r["relation"] == "also_funded"} == {A["w6"]}
    assert len(rows) == 3 + 1 + len(links[1]["txs"])


def test_deterministic_outputs(tmp_path):
    r1 = tracer.trace(case="sandbox-tron", policy="haircut")
    r2 = tracer.trace(case="sandbox-tron", policy="haircut")
    r1.export(tmp_path / "a")
    r2.export(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_file())
    assert "manifest.json" in names and "flags.csv" in names
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_runs_the_tron_sandbox(tmp_path):
    r = _cli("trace", "--case", "sandbox", "--chain", "tron", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "o" / "flags.csv", newline="") as handle:
        kinds = {row["kind"] for row in csv.DictReader(handle)}
    assert {"exchange_deposit", "frozen_balance", "freezable_balance", "bridge"} <= kinds
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["inputs"]["chain"] == "tron" and manifest["tron"]["links"]


def test_cli_bad_tron_seed_is_one_line(tmp_path):
    r = _cli(
        "trace",
        "TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2",
        "--chain",
        "tron",
        "--data",
        str(DATA_DIR),
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "checksum" in r.stderr and "Traceback" not in r.stderr
