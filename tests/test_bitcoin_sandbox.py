"""The Bitcoin sandbox traced under every rule matches its hand-derived ground truth, through the
bitcoin-etl export (DuckDB), the loopback Esplora server and the loopback Bitcoin Core RPC."""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys

import networkx as nx
import pytest
from servers.bitcoin_core_server import CoreServer
from servers.esplora_server import EsploraServer

import tracer
from tracer.bitcoin.core import CoreSource
from tracer.bitcoin.esplora import EsploraSource
from tracer.bitcoin.sandbox import DATA_DIR, DATA_FILES, H0, generate, transactions

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
CONSERVING = ("haircut", "fifo", "lifo", "tiho")


@pytest.fixture(scope="module")
def esplora():
    with EsploraServer(transactions(include_mempool=True), throttle=lambda n: n % 9 == 0) as s:
        yield s


@pytest.fixture(scope="module")
def core():
    with CoreServer(txs=[t for t in transactions() if t.confirmed]) as s:
        yield s


@pytest.fixture(scope="module", params=POLICIES)
def result(request):
    return tracer.trace(case="sandbox-bitcoin", policy=request.param)


def _flags(result) -> dict:
    return {(f.address, f.kind): f for f in result.flag_list}


def test_generator_reproduces_the_bundled_data(tmp_path):
    generate(tmp_path)
    for name in DATA_FILES:
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), name


def test_every_expected_flag_with_its_amount_and_nothing_else(result):
    policy = result.outcome.params.policy
    got = _flags(result)
    expected = {(e["address"], e["kind"]): e for e in GT["flags"] if policy in e["amounts"]}
    assert set(got) == set(expected), policy
    for key, exp in expected.items():
        flag = got[key]
        assert str(flag.tainted) == exp["amounts"][policy], (policy, exp["name"])
        assert flag.entity == exp["entity"], (policy, exp["name"])
        assert flag.chain == "bitcoin" and flag.symbol == "BTC" and flag.asset == "native"


def test_held_and_received(result):
    policy = result.outcome.params.policy
    G = result.graph
    for name, exp in GT["held"].items():
        node = G.nodes[f"bitcoin:{exp['address']}"]
        assert node["tainted_held"] == {"native": int(exp["amounts"][policy])}, name
    for name, exp in GT["received"].items():
        key = f"bitcoin:{exp['address']}"
        if policy not in exp["amounts"]:
            assert key not in G, name
            continue
        assert G.nodes[key]["tainted_received"] == {"native": int(exp["amounts"][policy])}, name


def test_conservation(result):
    """Seed taint = held on unspent outputs + reached services and stops + fees + below floor."""
    policy = result.outcome.params.policy
    if policy not in CONSERVING:
        pytest.skip("poison creates taint")
    out = result.outcome
    total = out.fee_tainted + sum(out.below_floor.values())
    for address, node in out.nodes.items():
        if node.result is not None:
            total += node.result.held.get("native", 0)
        else:
            total += sum(e[1].tainted for e in out.edges.values() if e[0].to_address == address)
    assert total == int(GT["seed_taint"])
    for st in out.states.values():  # per transaction as well
        if st.alloc is not None:
            assert st.alloc.tainted_in == sum(st.alloc.out_tainted) + st.alloc.fee_tainted


def test_graph_schema(result):
    G = result.graph
    a = GT["addresses"]
    for _, _, key, d in G.edges(keys=True, data=True):
        assert d["kind"] == "utxo" and d["chain"] == "bitcoin" and d["decimals"] == 8
        assert "#" not in key
        if d["log_index"] >= 0:
            assert key == f"{d['tx_hash']}:{d['log_index']}"
        else:
            assert key == f"{d['tx_hash']}:coinjoin"
        assert 0 < d["tainted"] <= d["amount"]
    assert G.nodes[f"bitcoin:{a['thief']}"]["role"] == "seed"
    assert G.nodes[f"bitcoin:{a['dep_a1']}"]["role"] == "deposit"
    assert G.nodes[f"bitcoin:{a['dep_b1']}"]["role"] == "deposit"
    assert G.nodes[f"bitcoin:{a['hot_b']}"]["role"] == "exchange"
    assert G.nodes[f"bitcoin:{a['peel5']}"]["role"] == "holder"
    wp = f"bitcoin:coinjoin:{GT['txids']['WP']}"
    assert G.nodes[wp]["role"] == "mixer" and G.nodes[wp]["entity"] == "Whirlpool"
    addresses = {d["address"] for _, d in G.nodes(data=True)}
    for name, address in GT["never_in_graph"].items():
        assert address not in addresses, name
    # the sweep into hot_a has one edge per tainted deposit, both keyed by the output
    sweep = [k for _, _, k in G.edges(keys=True) if k.startswith(GT["txids"]["SWEEP_A"])]
    policy = result.outcome.params.policy
    assert len(sweep) == (1 if policy == "fifo" else 2)
    assert set(sweep) == {GT["txids"]["SWEEP_A"] + ":0"}


def test_findings(result):
    findings = result.outcome.findings
    chains = [f for f in findings if f.kind == "peel_chain"]
    assert [list(f.txids) for f in chains] == [GT["peel_chain"]]
    joins = {f.subject: f.label for f in findings if f.kind == "coinjoin"}
    policy = result.outcome.params.policy
    expected = dict(GT["coinjoins"])
    if policy in ("lifo", "tiho"):
        expected.pop(GT["txids"]["CJ"])
    assert joins == expected
    change = {f.subject: f for f in findings if f.kind == "change"}
    assert change[GT["txids"]["P1"]].addresses == (GT["addresses"]["peel1"],)
    assert result.manifest["bitcoin"]["findings"]
    deposits = {f.address: f for f in result.flag_list if f.kind == "exchange_deposit"}
    dep = deposits[GT["addresses"]["dep_a1"]]
    assert "consolidation" in dep.evidence and "label:" in dep.evidence and dep.confidence >= 0.9
    assert dep.hops == 1 and dep.path == (GT["txids"]["P1"],)
    assert "multi-input cluster" in deposits[GT["addresses"]["dep_b1"]].evidence


def _same(a, b) -> None:
    fa = sorted((f.address, f.kind, f.tainted, f.entity, f.path, f.evidence) for f in a.flag_list)
    fb = sorted((f.address, f.kind, f.tainted, f.entity, f.path, f.evidence) for f in b.flag_list)
    assert fa == fb

    def edges(r):
        return sorted(
            (u, v, k, json.dumps({x: y for x, y in d.items() if x != "source"}, sort_keys=True))
            for u, v, k, d in r.graph.edges(keys=True, data=True)
        )

    def nodes(r):
        return sorted((n, json.dumps(d, sort_keys=True)) for n, d in r.graph.nodes(data=True))

    assert edges(a) == edges(b)
    assert nodes(a) == nodes(b)


@pytest.mark.parametrize("policy", POLICIES)
def test_esplora_loopback_parity_with_the_export(esplora, policy):
    src = EsploraSource(esplora.url, backoff=0.001)
    live = tracer.trace(case="sandbox-bitcoin", policy=policy, source=src)
    bulk = tracer.trace(case="sandbox-bitcoin", policy=policy)
    _same(live, bulk)
    assert live.manifest["data_fingerprint"]["kind"] == "esplora"


def test_esplora_ignores_the_mempool_and_pages(esplora):
    src = EsploraSource(esplora.url, backoff=0.001)
    peel5 = GT["addresses"]["peel5"]
    assert [t.confirmed for t in src.address_history(peel5)] == [True]
    busy = GT["addresses"]["busy"]
    assert len(src.address_history(busy)) == 1011  # 41 pages of 25
    assert esplora.rate_limited > 0


@pytest.mark.parametrize("policy", ("haircut", "lifo"))
def test_bitcoin_core_loopback_parity(core, policy):
    src = CoreSource(core.url, start_height=H0 - 200, backoff=0.001)
    live = tracer.trace(case="sandbox-bitcoin", policy=policy, source=src)
    _same(live, tracer.trace(case="sandbox-bitcoin", policy=policy))


def test_bitcoin_core_time_window(core):
    """Heights from --since by bisection: the busy address's old history is outside the scan,
    so it is expanded instead of stopped (Core sees only the window), the rest is the same."""
    src = CoreSource(core.url, backoff=0.001)
    live = tracer.trace(case="sandbox-bitcoin", policy="haircut", source=src)
    start, end = live.manifest["data_fingerprint"]["blocks"]
    assert start == H0 - 12 and end == H0 + 199
    kinds = {(f.address, f.kind) for f in live.flag_list}
    assert (GT["addresses"]["busy"], "high_degree") not in kinds
    assert len(kinds) == len([e for e in GT["flags"] if "haircut" in e["amounts"]]) - 1


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_runs_the_bitcoin_sandbox_offline(tmp_path):
    r = run("trace", "--case", "sandbox-bitcoin", "--out", str(tmp_path / "a"), "--policy", "fifo")
    assert r.returncode == 0, r.stderr
    r = run(
        "trace",
        "--case",
        "sandbox",
        "--chain",
        "bitcoin",
        "--out",
        str(tmp_path / "b"),
        "--policy",
        "fifo",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    for name in (
        "flags.csv",
        "graph.graphml",
        "edges.csv",
        "nodes.csv",
        "manifest.json",
        "graph.gexf",
        "graph.json",
    ):
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name
    with (tmp_path / "a" / "flags.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} == {"exchange_deposit", "exchange", "mixer", "high_degree"}
    G = nx.read_graphml(tmp_path / "a" / "graph.graphml")
    assert G.number_of_edges() > 10
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["inputs"]["chain"] == "bitcoin" and manifest["bitcoin"]["coinjoins"] == 2


def test_cli_bad_bitcoin_input_exits_2(tmp_path):
    for args, needle in (
        (("--source", "esplora"), "--api-url is required"),
        (("--data", str(tmp_path / "nope")), "does not exist"),
        (("--source", "bitcoin-core", "--rpc-url", "ftp://x"), "not an http(s) URL"),
    ):
        r = run("trace", GT["seeds"][0], "--chain", "bitcoin", *args, "--out", str(tmp_path / "o"))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    r = run("trace", "bc1qnotvalid", "--chain", "bitcoin", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_deterministic_outputs(tmp_path):
    a = tracer.trace(case="sandbox-bitcoin", policy="haircut")
    b = tracer.trace(case="sandbox-bitcoin", policy="haircut")
    a.export(tmp_path / "a")
    b.export(tmp_path / "b")
    for p in sorted((tmp_path / "a").rglob("*")):
        if p.is_file():
            q = tmp_path / "b" / p.relative_to(tmp_path / "a")
            assert filecmp.cmp(p, q, shallow=False), p.name
