"""The bundled sandbox traced under every rule must match its hand-derived ground truth."""

from __future__ import annotations

import filecmp
import json

import pytest

import tracer
from tracer.records import parse_units
from tracer.sandbox import SANDBOX_DIR
from tracer.sandbox.generator import EXPORT_FILES, generate

GROUND_TRUTH = json.loads((SANDBOX_DIR / "ground_truth.json").read_text())
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


@pytest.fixture(scope="module", params=POLICIES)
def result(request):
    return tracer.trace(case="sandbox", policy=request.param)


def test_generator_reproduces_the_bundled_sandbox(tmp_path):
    generate(tmp_path)
    for name in EXPORT_FILES + ("labels.yaml", "case.json", "ground_truth.json"):
        assert filecmp.cmp(tmp_path / name, SANDBOX_DIR / name, shallow=False), name


def test_every_expected_flag_with_its_amount(result):
    policy = result.outcome.params.policy
    decimals = {"native": 18}
    got = {(f.address, f.kind, f.asset): f for f in result.flag_list}
    for exp in GROUND_TRUTH["flags"]:
        key = (exp["address"], exp["kind"], exp["asset"])
        assert key in got, f"{policy}: missing flag {exp['name']} {exp['kind']}"
        flag = got[key]
        d = decimals.get(exp["asset"], 6)
        assert flag.tainted == parse_units(exp["amounts"][policy], d), (policy, exp["name"])
        if exp["entity"]:
            assert flag.entity == exp["entity"], (policy, exp["name"], flag.entity)


def test_no_unexpected_flags(result):
    expected = {(e["address"], e["kind"], e["asset"]) for e in GROUND_TRUTH["flags"]}
    got = {(f.address, f.kind, f.asset) for f in result.flag_list}
    assert got == expected


def test_noise_never_in_graph(result):
    addresses = {d["address"] for _, d in result.graph.nodes(data=True)}
    for name, address in GROUND_TRUTH["never_in_graph"].items():
        assert address not in addresses, name
    assets = {d["asset"] for *_, d in result.graph.edges(data=True)}
    assert GROUND_TRUTH["never_in_graph"]["fake_usdt"] not in assets


def test_pruned_records_failed_and_zero_value(result):
    reasons = set(result.pruned["reason"])
    assert {"failed_transaction", "zero_value"} <= reasons


def test_deposit_flags_carry_evidence_and_path(result):
    a = GROUND_TRUTH["addresses"]
    flags = {f.address: f for f in result.flag_list if f.kind == "exchange_deposit"}
    dep = flags[a["dep_a3"]]
    assert "gas top-up" in dep.evidence and "forwarded" in dep.evidence
    assert dep.confidence > 0.9
    assert len(dep.path) == dep.hops == 1
    labelled = flags[a["dep_a1"]]
    assert "label:" in labelled.evidence and "behaviour:" in labelled.evidence
    assert flags[a["dep_a2"]].hops == 3


def test_swap_continues_in_the_other_asset(result):
    a = GROUND_TRUTH["addresses"]
    G = result.graph
    swap_edges = [d for *_, d in G.edges(data=True) if d["swap"]]
    assert {d["swap"] for d in swap_edges} == {"in", "out"}
    assert G.nodes[f"ethereum:{a['dex_pool']}"]["role"] == "swap"


def test_deterministic_outputs(tmp_path):
    r1 = tracer.trace(case="sandbox", policy="fifo")
    r2 = tracer.trace(case="sandbox", policy="fifo")
    r1.export(tmp_path / "a")
    r2.export(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_file())
    assert "manifest.json" in names and "flags.csv" in names
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name
