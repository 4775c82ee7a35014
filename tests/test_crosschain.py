"""Issue 10: following stolen funds through bridges onto another chain.

The cross-chain sandbox (tracer/bridges/sandbox.py) traced under every rule must link the cBridge
deposit exactly and the swap-desk deposit by inference, never link the decoys, carry the tainted
share across in proportion to what was released (fee reported), keep unresolved deposits as
bridge stops with their reason, and end at the Tron freeze points; outputs are deterministic.
"""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys

import networkx as nx
import pytest

import tracer
from tracer.allocation import CONSERVING, Taint
from tracer.bridges import Registry
from tracer.bridges.base import BridgeDeposit, BridgeRelease, RawLog
from tracer.bridges.cbridge import RELAY_TOPIC, SEND_TOPIC, CBridge
from tracer.bridges.events import DuckDBLogs, MemoryLogs
from tracer.bridges.inferred import Evidence, InferredDecoder
from tracer.bridges.sandbox import (
    DATA_DIR,
    ETH_FILES,
    TOP_FILES,
    TRON_FILES,
    TRON_USDT,
    generate,
)
from tracer.crosschain import BRIDGE_COLUMNS, STOP_COLUMNS
from tracer.engine import TraceParams
from tracer.engine import trace as run_engine
from tracer.exports import EDGE_COLUMNS
from tracer.records import Transfer, parse_units
from tracer.sources.base import SourceError
from tracer.sources.memory import MemorySource

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
A = GT["addresses"]["ethereum"]
T = GT["addresses"]["tron"]
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
U = 10**6


@pytest.fixture(scope="module", params=POLICIES)
def result(request):
    return tracer.trace(case="sandbox-xchain", policy=request.param)


def _hop(result, bridge):
    found = [h for h in result.crosschain.hops if h.link.deposit.bridge == bridge]
    assert len(found) == 1, [h.link.deposit for h in result.crosschain.hops]
    return found[0]


def test_generator_reproduces_the_bundled_sandbox(tmp_path):
    generate(tmp_path)
    for name in TOP_FILES:
        assert filecmp.cmp(tmp_path / name, DATA_DIR / name, shallow=False), name
    for name in ETH_FILES:
        assert filecmp.cmp(tmp_path / "ethereum" / name, DATA_DIR / "ethereum" / name, False), name
    for name in TRON_FILES:
        assert filecmp.cmp(tmp_path / "tron" / name, DATA_DIR / "tron" / name, False), name


def test_exact_linkage_cbridge(result):
    policy = result.outcome.params.policy
    want = GT["hops"][0]
    hop = _hop(result, "cbridge")
    link = hop.link
    assert link.linkage == "exact" and link.confidence == 1.0
    assert link.deposit.sender == want["sender"] == A["a1"]
    assert [r.recipient for r in link.releases] == [want["recipient"]]
    assert link.deposit.amount == parse_units(want["deposited"], 6)
    assert link.released == parse_units(want["released"], 6)
    assert link.fee == parse_units(want["fee"], 6)
    assert hop.tainted == parse_units(want["tainted"][policy], 6)
    assert hop.carried == parse_units(want["carried"][policy], 6)
    assert any("srcTransferId" in e for e in link.evidence)
    assert any("recomputes" in e and "NOT" not in e for e in link.evidence)


def test_inferred_linkage_swap_desk(result):
    want = GT["hops"][1]
    hop = _hop(result, "swft")
    link = hop.link
    assert link.linkage == "inferred"
    assert 0.6 <= link.confidence < 1.0
    assert link.deposit.sender == want["sender"]
    assert [r.recipient for r in link.releases] == [want["recipient"]]
    assert link.fee == parse_units(want["fee"], 6)
    assert any("gas funder" in e for e in link.evidence)
    assert hop.carried == parse_units(want["carried"][result.outcome.params.policy], 6)


def test_decoys_never_linked(result):
    decoys = set(GT["decoys"].values())
    for h in result.crosschain.hops:
        assert h.link.deposit.sender not in decoys
        assert not {r.recipient for r in h.link.releases} & decoys
    in_graph = {d["address"] for _, d in result.graph.nodes(data=True)}
    assert not in_graph & decoys
    assert len(result.crosschain.hops) == 2


def test_tainted_amount_conserved_across_the_bridge(result):
    policy = result.outcome.params.policy
    total = 0
    for h in result.crosschain.hops:
        d = h.link.deposit
        assert h.deposit_transfer.amount == d.amount
        released = h.link.released
        assert h.carried == released * h.tainted // d.amount  # proportional, floor
        assert h.link.fee == d.amount - released  # reported, never invented
        assert h.carried <= h.tainted
        total += h.carried
    # what crossed equals what the Tron leg ends in (deposit, frozen and freezable balances)
    tron_flags = [f for f in result.flag_list if f.chain == "tron"]
    if policy in CONSERVING:
        assert sum(f.tainted for f in tron_flags) == total
    bridge_edges = [d for _, _, d in result.graph.edges(data=True) if d["kind"] == "bridge"]
    assert sum(d["tainted"] for d in bridge_edges) == total


def test_unresolved_deposits_stay_bridge_stops(result):
    stops = {(s.contract, s.reason) for s in result.crosschain.stops}
    for want in GT["stops"]:
        assert (want["contract"], want["reason"]) in stops, want
    senders = {h.link.deposit.sender for h in result.crosschain.hops}
    assert A["a3"] not in senders and A["a4"] not in senders and A["a5"] not in senders
    no_decoder = [s for s in result.crosschain.stops if s.reason == "no_decoder"]
    assert [s.contract for s in no_decoder] == [A["other_bridge"]]
    assert no_decoder[0].tainted == 200_000 * U
    flags = {(f.address, f.kind): f for f in result.flag_list}
    assert "bridge stop: no_decoder" in flags[(A["other_bridge"], "bridge")].evidence


def test_flags_match_ground_truth_on_both_chains(result):
    policy = result.outcome.params.policy
    got = {(f.chain, f.address, f.kind, f.asset): f for f in result.flag_list}
    for want in GT["flags"]:
        amount = parse_units(want["amounts"][policy], 6)
        key = (want["chain"], want["address"], want["kind"], want["asset"])
        if amount == 0:
            assert key not in got, want["name"]
            continue
        assert key in got, want["name"]
        assert got[key].tainted == amount, (want["name"], got[key].tainted)
        assert got[key].entity == want["entity"], want["name"]
    assert {f.chain for f in result.flag_list} == {"ethereum", "tron"}


def test_graph_holds_the_cross_chain_hops(result):
    G = result.graph
    bridge = [(u, v, d) for u, v, d in G.edges(data=True) if d["kind"] == "bridge"]
    assert len(bridge) == 2
    for u, v, d in bridge:
        assert G.nodes[u]["chain"] == "ethereum" and G.nodes[v]["chain"] == "tron"
        assert d["src_chain"] == "ethereum" and d["dest_chain"] == "tron"
        assert d["src_tx_hash"].startswith("0x") and len(d["dest_tx_hash"]) == 64
        assert d["linkage"] in ("exact", "inferred") and d["fee"]
    # a path from the seed to the Tron deposit address through the bridge
    assert nx.has_path(G, f"ethereum:{A['thief']}", f"tron:{T['dep_x']}")
    assert G.nodes[f"tron:{T['w1']}"]["chain"] == "tron"
    assert result.manifest["crosschain"]["stops"] == {
        "ambiguous": 1,
        "no_decoder": 1,
        "no_destination_data": 1,
    }
    assert [leg["chain"] for leg in result.manifest["crosschain"]["legs"]] == ["ethereum", "tron"]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_end_to_end_is_byte_identical(tmp_path):
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        r = run("trace", "--case", "sandbox-xchain", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert "cross-chain: 2 leg(s), 1 exact and 1 inferred" in " ".join(r.stderr.split())
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert {"bridges.csv", "bridge_stops.csv", "report.html", "edges.csv"} <= {
        str(p) for p in files
    }
    for rel in files:
        assert filecmp.cmp(outs[0] / rel, outs[1] / rel, shallow=False), rel
    with (outs[0] / "bridges.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == BRIDGE_COLUMNS
    assert sorted(r["linkage"] for r in rows) == ["exact", "inferred"]
    assert {r["recipient"] for r in rows} == {T["w1"], T["w2"]}
    with (outs[0] / "bridge_stops.csv").open() as f:
        stops = list(csv.DictReader(f))
    assert list(stops[0]) == STOP_COLUMNS
    assert sorted(s["reason"] for s in stops) == ["ambiguous", "no_decoder", "no_destination_data"]
    with (outs[0] / "edges.csv").open() as f:
        edges = list(csv.DictReader(f))
    assert tuple(edges[0]) == EDGE_COLUMNS and EDGE_COLUMNS[-1] == "fee"
    assert sum(1 for e in edges if e["kind"] == "bridge") == 2
    report = (outs[0] / "report.html").read_text()
    assert "Cross-chain hops" in report and "no_destination_data" in report
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    assert manifest["crosschain"]["hops"][0]["linkage"] in ("exact", "inferred")
    assert set(manifest["inputs"]["follow"]) == {"tron"}


def test_cli_follow_and_bridges_options(tmp_path):
    """The same trace from explicit seeds, data, labels, --follow and a --bridges file.

    Without the case its sandbox tokens are unregistered: cBridge still links on the id, but the
    desk's USDT -> USDT match is refused (an unknown token is never "the same value")."""
    bridges = tmp_path / "bridges.csv"
    case = json.loads((DATA_DIR / "case.json").read_text())
    bridges.write_text(
        "chain,contract,bridge\n"
        + "".join(f"{b['chain']},{b['contract']},{b['bridge']}\n" for b in case["bridges"])
    )
    out = tmp_path / "o"
    r = run(
        "trace",
        A["thief"],
        "--chain",
        "ethereum",
        "--data",
        str(DATA_DIR / "ethereum"),
        "--labels",
        str(DATA_DIR / "labels_ethereum.yaml"),
        "--labels",
        str(DATA_DIR / "labels_tron.yaml"),
        "--since",
        str(case["since"]),
        "--asset",
        GT["tokens"]["ethereum"],
        "--follow",
        f"tron={DATA_DIR / 'tron'}",
        "--bridges",
        str(bridges),
        "--out",
        str(out),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    with (out / "bridges.csv").open() as f:
        assert [row["bridge"] for row in csv.DictReader(f)] == ["cbridge"]
    with (out / "bridge_stops.csv").open() as f:
        stops = {(row["bridge"], row["reason"]) for row in csv.DictReader(f)}
    assert ("swft", "no_release") in stops
    from tracer.packets import reproduce_command

    manifest = json.loads((out / "manifest.json").read_text())
    command = reproduce_command(manifest)
    assert f"--follow tron={DATA_DIR / 'tron'}" in command and f"--bridges {bridges}" in command
    assert len(manifest["inputs"]["bridges"]["sha256"]) == 64


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--follow", "tron"], "expected CHAIN=DIR"),
        (["--follow", "solana=/tmp"], "unknown chain"),
        (["--follow", "tron=/nonexistent/dir"], "not a directory"),
        (["--follow", "tron={tmp}"], "--follow tron:"),  # a directory without Tron exports
        (["--follow", "ethereum=/tmp"], "chain being traced"),
        (["--bridges", "/nonexistent/bridges.csv"], "cannot read"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{tmp}", str(empty)) for a in args]
    r = run("trace", "--case", "sandbox-xchain", *args, "--out", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert needle in r.stderr


def test_cli_bad_bridges_file_names_the_line(tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text("chain,contract,bridge\nethereum,0xnot-an-address,cbridge\n")
    r = run(
        "trace", "--case", "sandbox-xchain", "--bridges", str(bad), "--out", str(tmp_path / "o")
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "line 2" in r.stderr


# ---------------------------------------------------------------------------------- units


def _log(chain, address, topic, words, tx="0x" + "ab" * 32, index=1, time=100):
    data = "0x" + "".join(
        w[2:].rjust(64, "0") if isinstance(w, str) else f"{w:064x}" for w in words
    )
    return RawLog(chain, address, (topic,), data, tx, index, 10, time)


def test_cbridge_ignores_forged_contracts_and_other_ids():
    bridge = "0x" + "11" * 20
    dec = CBridge(contracts={"ethereum": frozenset({bridge}), "bsc": frozenset({bridge})})
    user, token = "0x" + "22" * 20, "0x" + "33" * 20
    tid = "0x" + "44" * 32
    send = [tid, user, user, token, 1000, 56, 1, 5000]
    assert dec.decode_deposit(_log("ethereum", bridge, SEND_TOPIC, send)) is not None
    forged = _log("ethereum", "0x" + "99" * 20, SEND_TOPIC, send)  # same event, other contract
    assert dec.decode_deposit(forged) is None
    assert dec.decode_deposit(_log("ethereum", bridge, SEND_TOPIC, send[:7])) is None
    d = dec.decode_deposit(_log("ethereum", bridge, SEND_TOPIC, send))
    assert d.dest_chain == "bsc" and d.link_key == tid
    other = [tid.replace("44", "45"), user, user, token, 990, 1, "0x" + "55" * 32]
    same_amount_other_id = dec.decode_release(_log("bsc", bridge, RELAY_TOPIC, other))
    assert dec.link([d], [same_amount_other_id]) == []
    right = [tid.replace("44", "46"), user, user, token, 990, 1, tid]
    release = dec.decode_release(_log("bsc", bridge, RELAY_TOPIC, right))
    (link,) = dec.link([d], [release])
    assert link.released == 990 and any("does NOT recompute" in e for e in link.evidence)


def _dep(amount, time=1000, recipient=None):
    return BridgeDeposit(
        "swft",
        "ethereum",
        "0x" + "11" * 20,
        "0x" + "aa" * 32,
        0,
        1,
        time,
        "0x" + "22" * 20,
        "usdt-eth",
        amount,
        None,
        recipient,
    )


def _rel(amount, time, recipient, asset="usdt-tron", n=0):
    return BridgeRelease(
        "swft", "tron", "Tpayout", f"{n:064x}", 0, 1, time, recipient, asset, amount
    )


class _Asset:
    def __init__(self, symbol):
        self.symbol, self.decimals = symbol, 6


ASSETS = {"usdt-eth": _Asset("USDT"), "usdt-tron": _Asset("USDT"), "other": _Asset("XYZ")}
EVIDENCE = Evidence(asset_of=lambda chain, asset: ASSETS.get(asset))


def test_inferred_never_links_on_amount_and_time_alone():
    dec = InferredDecoder()
    links, left = dec.match([_dep(1000 * U)], [_rel(995 * U, 1600, "R1")], EVIDENCE)
    assert links == [] and left[0].reason == "low_confidence"
    # the declared destination lifts it over the threshold
    links, _ = dec.match([_dep(1000 * U, recipient="R1")], [_rel(995 * U, 1600, "R1")], EVIDENCE)
    assert len(links) == 1 and links[0].fee == 5 * U and links[0].confidence >= 0.6


def test_inferred_rejects_more_than_deposited_late_other_asset_and_ambiguity():
    dec = InferredDecoder()
    dep = _dep(1000 * U, recipient="R1")
    for bad in (
        _rel(1001 * U, 1600, "R1"),  # more than deposited
        _rel(960 * U, 1600, "R1"),  # 4% below: outside the 3% tolerance
        _rel(995 * U, 1000 + 3 * 3600, "R1"),  # after the 2 h window
        _rel(995 * U, 900, "R1"),  # before the deposit
        _rel(995 * U, 1600, "R1", asset="other"),  # another asset
    ):
        links, left = dec.match([dep], [bad], EVIDENCE)
        assert links == [] and left[0].reason == "no_release", bad
    funded = Evidence(
        shared_funder=lambda chain, who, before: ("F", "T") if who in ("R2", "R3") else None,
        asset_of=EVIDENCE.asset_of,
    )
    two = [_rel(995 * U, 1600, "R2", n=1), _rel(995 * U, 1620, "R3", n=2)]
    links, left = dec.match([_dep(1000 * U)], two, funded)
    assert links == [] and left[0].reason == "ambiguous"


def test_engine_entries_carry_taint_into_a_leg():
    """A release the destination data lacks still brings its taint (engine entries hook)."""
    a, b, c = "T" + "a" * 33, "T" + "b" * 33, "T" + "c" * 33
    release = Transfer("tron", "usdt", "Tbridge", a, 100, 6, "11" * 32, 0, 5, 50)
    onward = Transfer("tron", "usdt", a, b, 60, 6, "22" * 32, 0, 6, 60)
    onward2 = Transfer("tron", "usdt", b, c, 60, 6, "33" * 32, 0, 7, 70)
    src = MemorySource([onward, onward2], chain="tron")
    taint = Taint(50, ((50, True), (50, False)), ("ethereum-deposit",), 3)
    out = run_engine(src, [], TraceParams(policy="haircut"), entries=[(release, taint)])
    assert out.edges[release.transfer_id][1].tainted == 50
    assert out.edges[onward.transfer_id][1].tainted == 30  # 60 x 50/100
    assert out.nodes["Tbridge"].stop_reason == "bridge"
    assert out.nodes[a].hop == 3


def test_logs_providers_read_the_sandbox_events(tmp_path):
    eth = DuckDBLogs(DATA_DIR / "ethereum", "ethereum")
    sends = eth.logs([A["cbridge"]], topic0s=[SEND_TOPIC])
    assert sends and all(log.topic0 == SEND_TOPIC for log in sends) and eth.skipped == 0
    tron = DuckDBLogs(DATA_DIR / "tron", "tron")
    relays = tron.logs([T["cbridge_tron"]], topic0s=[RELAY_TOPIC])
    assert relays and relays[0].address == T["cbridge_tron"] and len(relays[0].tx_hash) == 64
    assert {log.tx_from for log in relays} == {T["relayer"]}  # joined from transactions.csv
    mem = MemoryLogs("tron", relays)
    assert mem.logs([T["cbridge_tron"]], tx_hashes=[relays[0].tx_hash]) == [relays[0]]
    (tmp_path / "token_transfers.csv").write_text("token_address\n")
    assert not DuckDBLogs(tmp_path, "ethereum").available  # no logs table: no events, no error
    (tmp_path / "logs.csv").write_text("address,data\n0x00,0x\n")
    with pytest.raises(SourceError, match="lack column"):
        DuckDBLogs(tmp_path, "ethereum")
    dec = CBridge(contracts={"tron": frozenset({T["cbridge_tron"]})})
    released = [dec.decode_release(log) for log in relays]
    assert all(r is not None and r.asset == TRON_USDT for r in released)
    # the sandbox's forged Relay (a1's transfer id, from a look-alike contract) is not decoded
    (forged,) = tron.logs([T["forger"]], topic0s=[RELAY_TOPIC])
    a1_id = {r.link_key for r in released if r.recipient == T["w1"]}
    assert forged.data.endswith(next(iter(a1_id))[2:]) and dec.decode_release(forged) is None


def test_registry_keeps_a_bridge_without_decoder_unknown():
    reg = Registry([CBridge(contracts={"ethereum": frozenset({A["cbridge"]})})])
    assert reg.decoder_for("ethereum", A["cbridge"]).name == "cbridge"
    assert reg.decoder_for("ethereum", A["other_bridge"]) is None


def test_report_shows_the_cross_chain_hops_in_chromium(tmp_path):
    """report.html of the cross-chain trace in a real headless Chromium (tests/test_report.py)."""
    from test_report import HAVE_CHROMIUM, Chromium, _node_center

    if not HAVE_CHROMIUM:
        pytest.skip("Chromium not installed (apt-get install chromium; scripts/test.sh)")
    from tracer.freeze import load_trace

    out = tmp_path / "out"
    r = run("trace", "--case", "sandbox-xchain", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    data = load_trace(out)
    b = Chromium(tmp_path / "chromium")
    try:
        b.open(out / "report.html")
        assert b.problems() == []
        assert b.requests() == [(out / "report.html").resolve().as_uri()]
        nodes = b.eval("document.querySelectorAll('#graph g.node').length")
        assert nodes == data.graph.number_of_nodes()
        assert b.eval("document.querySelectorAll('#bridge-hops tbody tr').length") == 2
        assert b.eval("document.querySelectorAll('#graph path.edge.bridge').length") == 2
        titles = b.eval(
            "[...document.querySelectorAll('#graph path.edge.bridge title')].map(t => t.textContent)"
        )
        assert sorted(t.split(")")[0] for t in titles) == [
            "bridge hop (cbridge, exact",
            "bridge hop (swft, inferred",
        ]
        assert b.eval("document.querySelectorAll('#bridge-stops tbody tr').length") == 3
        text = b.eval("document.getElementById('crosschain').innerText")
        assert "exact" in text and "inferred" in text and "no_decoder" in text
        b.click(*_node_center(b, f"tron:{T['dep_x']}"))
        panel = b.eval("document.getElementById('panel').innerText")
        assert T["dep_x"] in panel and "exchange_deposit" in panel
        b.screenshot(tmp_path / "xchain-report.png")
    finally:
        b.close()


@pytest.mark.parametrize("mint_row", [True, False])
def test_cctp_hop_through_the_orchestration(tmp_path, mint_row):
    """An XB decoder end to end: USDC burnt on Ethereum (paid to the TokenMinter, event from the
    TokenMessenger) and minted on Avalanche is followed exactly by (sourceDomain, nonce).
    Without the mint's Transfer row in the Avalanche data (only its event) the release is
    built from the event and still brings the taint (engine entries over the bulk index)."""
    from eth_abi import encode

    from tracer.bridges.cctp import (
        DEPOSIT_FOR_BURN_V1,
        MESSAGE_RECEIVED_V1,
        USDC,
        V1_CONTRACTS,
    )
    from tracer.sandbox import generator as g

    def pad(address: str) -> bytes:
        return bytes(12) + bytes.fromhex(address[2:])

    def word(value) -> str:
        return "0x" + (value.to_bytes(32, "big") if isinstance(value, int) else pad(value)).hex()

    eth_c, av_c = V1_CONTRACTS["ethereum"], V1_CONTRACTS["avalanche"]
    thief, victim, dest, onward = (g.address(f"cctp:{n}") for n in ("thief", "victim", "d", "o"))
    amount, nonce = 700_000 * U, 4242
    e = g._ChainBuilder(prefix="cctp-eth")
    e.token(g.B0, USDC["ethereum"], victim, thief, amount)
    burn = e.token(g.B0 + 5, USDC["ethereum"], thief, eth_c["minter"], amount)
    data = encode(
        ["uint256", "bytes32", "uint32", "bytes32", "bytes32"],
        [amount, pad(dest), 1, pad(av_c["messenger"]), bytes(32)],
    )
    topics = [DEPOSIT_FOR_BURN_V1, word(nonce), word(USDC["ethereum"]), word(thief)]
    burn.logs.append((eth_c["messenger"], topics, "0x" + data.hex()))
    a = g._ChainBuilder(prefix="cctp-avax")
    zero = "0x" + "00" * 20
    if mint_row:
        mint = a.token(g.B0 + 40, USDC["avalanche"], zero, dest, amount)
    else:
        mint = a.tx(g.B0 + 40, g.address("cctp:relayer"), av_c["transmitter"])
    body = (
        (0).to_bytes(4, "big")
        + pad(USDC["ethereum"])
        + pad(dest)
        + amount.to_bytes(32, "big")
        + pad(thief)
    )
    data = encode(["uint32", "bytes32", "bytes"], [0, pad(eth_c["messenger"]), body])
    mint.logs.append(
        (av_c["transmitter"], [MESSAGE_RECEIVED_V1, word(dest), word(nonce)], "0x" + data.hex())
    )
    a.token(g.B0 + 50, USDC["avalanche"], dest, onward, 300_000 * U)
    tokens = [[USDC["ethereum"], "USDC", "USD Coin", 6, 10**15, 1]]
    (tmp_path / "eth").mkdir()
    (tmp_path / "avax").mkdir()
    g.write_exports(e, tmp_path / "eth", tokens)
    g.write_exports(a, tmp_path / "avax", [[USDC["avalanche"], "USDC", "USD Coin", 6, 10**15, 1]])

    r = tracer.trace(
        [thief], chain="ethereum", data=tmp_path / "eth", follow={"avalanche": tmp_path / "avax"}
    )
    (hop,) = r.crosschain.hops
    assert (hop.link.deposit.bridge, hop.link.linkage) == ("cctp", "exact")
    assert hop.link.deposit.contract == eth_c["messenger"] and hop.carried == amount
    assert hop.link.fee == 0 and r.crosschain.stops == []
    onward_edges = [d for u, v, d in r.graph.edges(data=True) if v == f"avalanche:{onward}"]
    assert [d["tainted"] for d in onward_edges] == [300_000 * U]
    held = {(f.chain, f.address): f.tainted for f in r.flag_list if f.kind == "freezable_balance"}
    assert held[("avalanche", dest)] == 400_000 * U  # Circle can freeze native USDC


def test_freeze_packet_path_crosses_the_bridge(tmp_path):
    """The exchange packet's path from the theft starts on Ethereum and ends on Tron, each
    transaction linked on its own chain's explorer."""
    out = tmp_path / "out"
    assert run("trace", "--case", "sandbox-xchain", "--out", str(out), "--quiet").returncode == 0
    r = run("packets", str(out), "--out", str(tmp_path / "packets"))
    assert r.returncode == 0, r.stderr
    (packet,) = (tmp_path / "packets").glob("exchange-*.md")
    text = packet.read_text()
    path = text[text.index("Path from the theft") :]
    assert "https://etherscan.io/tx/0x" in path and "https://tronscan.org/#/transaction/" in path
    assert "tronscan.org/#/transaction/0x" not in path


def test_thorchain_hop_continues_on_bitcoin(tmp_path):
    """Ethereum -> THORChain -> Bitcoin (the Bybit pattern): the router Deposit's memo names a
    BTC address, a listed vault pays it with ``OUT:<inbound txid>``; the UTXO engine carries on
    from that output. A forged ``OUT:`` from a non-vault address is never linked."""
    from eth_abi import encode

    from tracer.bitcoin import sandbox as bs
    from tracer.bitcoin.etl import write_etl_json
    from tracer.bridges.thorchain import DEPOSIT
    from tracer.bridges.thormemo import outbound_memo
    from tracer.sandbox import generator as g

    router = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146"  # a mainnet THORChain router
    eth_vault = g.address("thor:eth-vault")
    thief, victim = g.address("thor:thief"), g.address("thor:victim")
    btc_user, btc_exchange = bs.address("thor-btc-user"), bs.address("thor-btc-exchange")
    vault, decoy = bs.address("thor-btc-vault"), bs.address("thor-btc-decoy")

    def topic(address: str) -> str:
        return "0x" + "00" * 12 + address[2:]

    e = g._ChainBuilder(prefix="thor-eth")
    e.eth(g.B0, victim, thief, 10 * g.ETH)
    dep = e.eth(g.B0 + 5, thief, router, 10 * g.ETH)
    dep.internal.append((router, eth_vault, 10 * g.ETH, "call"))
    data = encode(["uint256", "string"], [10 * g.ETH, f"=:b:{btc_user}"])
    dep.logs.append(
        (router, [DEPOSIT, topic(eth_vault), topic("0x" + "00" * 20)], "0x" + data.hex())
    )
    (tmp_path / "eth").mkdir()
    g.write_exports(e, tmp_path / "eth", [])

    def op_return(text: str) -> str:
        return "6a" + bytes([len(text)]).hex() + text.encode().hex()

    memo = outbound_memo("out", dep.hash)
    c = bs._Chain()
    height = 762_170  # a few minutes after the Ethereum deposit
    release = c.tx(
        "thor-release",
        height,
        [c.external("thor-btc-vault", 100_000_000)],
        [("thor-btc-user", 40_000_000), ("thor-btc-vault", 59_990_000), (None, 0, op_return(memo))],
    )
    c.tx(
        "thor-forged",
        height,
        [c.external("thor-btc-forger", 50_000_000)],
        [("thor-btc-decoy", 40_000_000), (None, 0, op_return(memo))],
    )
    c.tx("thor-onward", height + 1, [(release, 0)], [("thor-btc-exchange", 39_990_000)])
    (tmp_path / "btc").mkdir()
    write_etl_json(c.txs, tmp_path / "btc" / "transactions.json")
    labels = tmp_path / "labels.yaml"
    labels.write_text(
        "title: t\ncreator: tracer\nsource: 'synthetic'\ncurrency: BTC\nnetwork: BTC\n"
        "confidence: ownership\ntags:\n"
        f"- address: '{btc_exchange}'\n  label: 'Exchange B (synthetic)'\n  category: exchange\n"
    )
    bridges = tmp_path / "bridges.csv"
    bridges.write_text(f"chain,contract,bridge,role\nbitcoin,{vault},thorchain,vault\n")

    r = tracer.trace(
        [thief],
        chain="ethereum",
        data=tmp_path / "eth",
        labels=[labels],
        follow={"bitcoin": tmp_path / "btc"},
        bridges=bridges,
    )
    (hop,) = r.crosschain.hops
    assert (hop.link.deposit.bridge, hop.link.linkage) == ("thorchain", "exact")
    assert [(x.chain, x.recipient, x.amount) for x in hop.link.releases] == [
        ("bitcoin", btc_user, 40_000_000)
    ]
    assert hop.carried == 40_000_000 and hop.link.fee is None  # ETH in, BTC out: no fee claimed
    nodes = {d["address"] for _, d in r.graph.nodes(data=True)}
    assert decoy not in nodes
    onward = [d for u, v, d in r.graph.edges(data=True) if v == f"bitcoin:{btc_exchange}"]
    assert [d["tainted"] for d in onward] == [39_990_000]
    flags = {(f.chain, f.address, f.kind): f.tainted for f in r.flag_list}
    assert flags[("bitcoin", btc_exchange, "exchange")] == 39_990_000
    assert [leg["chain"] for leg in r.manifest["crosschain"]["legs"]] == ["ethereum", "bitcoin"]
    assert "bitcoin" in r.manifest


def test_bridge_csvs_guard_untrusted_text(tmp_path):
    """Stop details can quote untrusted data (a memo a decoder rejected): CSV-injection safe."""
    from tracer.bridges.base import BridgeStop
    from tracer.crosschain import CrossChain, write_bridge_csvs

    stop = BridgeStop(
        "ethereum",
        A["cbridge"],
        "0x" + "ab" * 32,
        "0xab:1",
        "usdt",
        5,
        5,
        "undecoded",
        "cbridge",
        None,
        '=HYPERLINK("http://evil")\nsecond line',
    )
    paths = write_bridge_csvs(CrossChain(stops=[stop]), tmp_path)
    with paths["bridge_stops"].open() as f:
        (row,) = list(csv.DictReader(f))
    assert not row["detail"].startswith("=") and "\n" not in row["detail"]
    assert paths["bridges"].read_text().splitlines() == [",".join(BRIDGE_COLUMNS)]
