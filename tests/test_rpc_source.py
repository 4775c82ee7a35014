"""The JSON-RPC source against a real anvil node (real contracts, real signed-by-node
transactions), directly and through a loopback proxy that behaves like a hosted provider."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servers.chain import (
    BLOCK_INTERVAL,
    GENESIS_TIME,
    Chain,
    build_case,
    build_tree,
    fresh,
    record_key,
)
from servers.rpc_proxy import RpcProxy

import tracer
from tracer.records import Transfer
from tracer.sandbox.node import find_anvil, start_anvil
from tracer.sources import open_source
from tracer.sources.base import SourceError
from tracer.sources.evm_logs import TRANSFER_TOPIC, transfer_from_rpc_log
from tracer.sources.rpc import (
    RpcSource,
    decode_transfer_logs,
    decode_transfer_records,
    next_window,
)

OUTPUTS = (
    "graph.graphml",
    "graph.gexf",
    "graph.json",
    "edges.csv",
    "nodes.csv",
    "flags.csv",
    "pruned.csv",
    "manifest.json",
)


needs_anvil = pytest.mark.skipif(
    find_anvil() is None, reason="anvil not installed (scripts/install-anvil.sh)"
)


@pytest.fixture(scope="module")
def net():
    if find_anvil() is None:
        pytest.skip("anvil not installed (scripts/install-anvil.sh)")
    node = start_anvil(chain_id=1, timestamp=GENESIS_TIME)
    try:
        chain = Chain(node.url)
        case = build_case(chain)
        case["tree"] = build_tree(chain, case["token"], fanout=4, depth=3)
        yield node, chain, case
    finally:
        node.stop()


def expected_for(chain: Chain, addresses) -> set:
    wanted = set(addresses)
    return {e.key() for e in chain.expected if e.sender in wanted or e.receiver in wanted}


def test_every_transfer_of_a_frontier_is_found(net):
    node, chain, case = net
    src = RpcSource(node.url, "ethereum")
    assert src.traces == "trace_filter"  # anvil serves trace_filter
    names = ("seed", "y1", "y2", "z1", "z2", "z3", "v", "w")
    frontier = [case[n] for n in names]
    got = src.transfers(frontier)
    assert {record_key(t) for t in got} == expected_for(chain, frontier)
    assert len(got) == len({t.transfer_id for t in got})
    for name in names:  # each address alone gives its own history (served from memory)
        alone = src.transfers([case[name]])
        assert {record_key(t) for t in alone} == expected_for(chain, [case[name]])


def test_record_conventions(net):
    node, chain, case = net
    src = RpcSource(node.url, "ethereum")
    got = src.transfers([case["seed"]])
    assert [t.position for t in got] == sorted(t.position for t in got)
    for t in got:
        assert t.chain == "ethereum" and t.source == "rpc:127.0.0.1"
        assert t.from_address == t.from_address.lower() and t.to_address == t.to_address.lower()
        assert t.tx_hash == t.tx_hash.lower() and len(t.tx_hash) == 66
        block = node.rpc("eth_getBlockByNumber", [hex(t.block_number), False])
        assert t.timestamp == int(block["timestamp"], 16)
        if t.kind == "token":
            assert t.asset == case["token"] and t.decimals == 6 and t.log_index is not None
        else:
            assert t.asset == "native" and t.decimals == 18 and t.log_index is None
    assert src.token_symbols() == {case["token"]: ("TUSD", 6)}
    # the caught inner revert: the transaction succeeded, the inner payment did not happen
    paid_z3 = [t for t in src.transfers([case["z3"]]) if t.kind == "internal"]
    assert len(paid_z3) == 1 and not paid_z3[0].success and paid_z3[0].trace_address == "0,0"
    failed = [t for t in got if not t.success]
    assert {(t.kind, t.amount) for t in failed} == {("native", 1)}
    z1 = src.transfers([case["z1"]])
    assert any(t.kind == "internal" and not t.success and t.amount == 10**30 for t in z1)


def test_a_frontier_costs_a_handful_of_requests(net):
    node, chain, case = net
    frontier = [case[n] for n in ("seed", "y1", "y2", "z1", "z2", "z3", "v", "w")]
    src = RpcSource(node.url, "ethereum")
    src.transfers(frontier)
    assert src.methods["eth_getLogs"] == 2 and src.methods["trace_filter"] == 2
    chunked = RpcSource(node.url, "ethereum", chunk_size=3)
    assert {record_key(t) for t in chunked.transfers(frontier)} == expected_for(chain, frontier)
    assert chunked.methods["eth_getLogs"] == 2 * 3 and chunked.methods["trace_filter"] == 2 * 3
    # degrees() then transfers() for the same frontier: the second costs nothing
    again = RpcSource(node.url, "ethereum")
    degrees = again.degrees(frontier)
    sent = again.client.calls
    assert sum(degrees.values()) >= len(again.transfers(frontier))
    assert again.client.calls == sent


def test_nodes_without_trace_filter(net):
    node, chain, case = net
    frontier = [case[n] for n in ("seed", "y1", "z1", "z3")]
    full = {record_key(t) for t in RpcSource(node.url, "ethereum").transfers(frontier)}
    with RpcProxy(node.url, block_methods=("trace_filter",)) as proxy:
        src = RpcSource(proxy.url, "ethereum")
        assert src.traces == "trace_block" and src.warnings == []
        assert {record_key(t) for t in src.transfers(frontier)} == full
        assert "complete" in src.fingerprint()["coverage"]["native"]
    with RpcProxy(node.url, block_methods=("trace_filter", "trace_block")) as proxy:
        src = RpcSource(proxy.url, "ethereum")
        assert src.traces == "none"
        got = {record_key(t) for t in src.transfers(frontier)}
        assert got == {k for k in full if k[0] != "internal"}  # top-level only
        assert len(src.warnings) == 1 and "no traces" in src.warnings[0]
        assert src.fingerprint()["coverage"]["native"].startswith("top-level only")
        small = RpcSource(proxy.url, "ethereum", scan_limit=3)
        assert {record_key(t) for t in small.transfers(frontier)} == {
            k for k in full if k[0] == "token"
        }
        assert any("native ETH not traced" in w for w in small.warnings)
        assert small.fingerprint()["coverage"]["native"].startswith("none")


@pytest.mark.parametrize(
    "limits",
    [
        {"max_range": 3, "style": "alchemy"},
        {"max_range": 2, "style": "infura"},
        {"max_range": 4, "style": "quicknode"},
        {"max_range": 5, "style": "geth"},
        {"max_results": 1, "style": "rotate"},
    ],
)
def test_provider_limits_split_ranges_and_grow_back(net, limits):
    node, chain, case = net
    frontier = [case[n] for n in ("seed", "y1", "y2", "z1", "z3", "v")]
    reference = RpcSource(node.url, "ethereum").transfers(frontier)
    with RpcProxy(node.url, **limits) as proxy:
        src = RpcSource(proxy.url, "ethereum", chunk_size=2)
        assert src.transfers(frontier) == reference
        assert proxy.limit_errors > 0
        if "max_range" in limits:  # learned: the windows settle at the provider's limit
            assert src._window["logs"] <= limits["max_range"]


def test_until_maps_to_the_last_block_at_or_before(net):
    node, chain, case = net
    src = RpcSource(node.url, "ethereum")
    head = src.to_block
    times = {n: src._block_time(n) for n in range(head + 1)}
    for n in range(1, head + 1):
        assert src._last_block_at_or_before(times[n]) == n
        assert src._last_block_at_or_before(times[n] + BLOCK_INTERVAL - 1) == n
    assert src._last_block_at_or_before(times[0] - 1) == -1
    cut = times[7]
    got = src.transfers([case["seed"]], until=cut)
    assert got and all(t.block_number <= 7 and t.timestamp <= cut for t in got)
    everything = src.transfers([case["seed"]])
    assert [t for t in everything if t.timestamp <= cut] == got


def test_block_range_options(net):
    node, chain, case = net
    src = RpcSource(node.url, "ethereum", from_block=5, to_block=8)
    got = src.transfers([case["seed"]])
    assert got and all(5 <= t.block_number <= 8 for t in got)
    assert src.fingerprint()["blocks"] == {"from": 5, "to": 8}
    with pytest.raises(SourceError, match="beyond the node's head"):
        RpcSource(node.url, "ethereum", to_block=10**9)
    with pytest.raises(SourceError, match="after to_block"):
        RpcSource(node.url, "ethereum", from_block=9, to_block=8)


def test_bad_input_is_a_one_line_source_error(net):
    node, chain, case = net
    cases = [
        (lambda: RpcSource(node.url, "avalanche"), "serves chain id 1 (ethereum), not avalanche"),
        (lambda: RpcSource("http://127.0.0.1:9", "ethereum"), "cannot connect"),
        (lambda: RpcSource("htp:/nowhere", "ethereum"), "not an http(s) URL"),
        (lambda: RpcSource(node.url, "tron"), "EVM chains"),
        (lambda: open_source("rpc", "ethereum"), "--rpc-url URL is required"),
        (lambda: open_source("rpc", "ethereum", rpc_url=node.url, data="x"), "does not take"),
        (lambda: RpcSource(node.url, "ethereum", traces="debug"), "traces="),
        (lambda: RpcSource(node.url, "ethereum").transfers(["0x1234"]), "not an EVM address"),
    ]
    for build, text in cases:
        with pytest.raises(SourceError) as info:
            build()
        assert text in str(info.value) and "\n" not in str(info.value)


def test_store_makes_a_rerun_offline(net, tmp_path):
    node, chain, case = net
    frontier = [case[n] for n in ("seed", "y1", "z1")]
    proxy = RpcProxy(node.url)
    url = proxy.start()
    try:
        first = RpcSource(url, "ethereum", cache=tmp_path)
        records = first.transfers(frontier)
        fingerprint = first.fingerprint()
    finally:
        proxy.stop()  # the endpoint is gone: nothing answers on that port any more
    second = RpcSource(url, "ethereum", cache=tmp_path)
    assert second.transfers(frontier) == records
    assert second.client.calls == 0 and second.client.served > 0
    assert second.fingerprint() == fingerprint
    store = fingerprint["store"]
    assert store["path"] == str(tmp_path.resolve()) and store["responses"] > 0
    assert (tmp_path / "runs" / f"{store['responses_sha256']}.json").is_file()


def _outputs_equal(a: Path, b: Path, skip_fingerprint: bool = False) -> None:
    """Every output file byte for byte (the manifest without its data fingerprint if asked)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert {str(f) for f in files} >= set(OUTPUTS)
    for name in files:
        if str(name) == "manifest.json" and skip_fingerprint:
            ma = json.loads((a / name).read_text())
            mb = json.loads((b / name).read_text())
            ma.pop("data_fingerprint"), mb.pop("data_fingerprint")
            assert ma == mb
        else:
            assert filecmp.cmp(a / name, b / name, shallow=False), name


def test_faults_change_nothing(net, tmp_path):
    """20% of requests fail (429, 500, timeouts, truncated bodies, provider-limit errors, rate
    errors inside batches): the trace equals the fault-free one."""
    node, chain, case = net
    options = {"timeout": 0.5, "backoff": 0.01, "retries": 12, "chunk_size": 3, "batch_size": 4}

    def run(url, out):
        result = tracer.trace(
            [case["seed"], case["tree"][0][0]],
            chain="ethereum",
            source="rpc",
            hops=4,
            assets=[case["token"], "native"],
            source_options={"rpc_url": url, **options},
        )
        result.export(out)
        return result

    clean = run(node.url, tmp_path / "clean")
    with RpcProxy(node.url, fault_rate=0.2, seed=7, hang=1.0) as proxy:
        run(proxy.url, tmp_path / "faulty")
        injected = dict(proxy.injected)
    assert len(injected) >= 4 and sum(injected.values()) >= 10, injected
    assert len(clean.graph.edges) > 80
    _outputs_equal(tmp_path / "clean", tmp_path / "faulty", skip_fingerprint=True)


def _cli(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", "trace", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_cli_trace_resumes_after_kill_9(net, tmp_path):
    """kill -9 mid-trace, same command again: same bytes out, finished requests not repeated."""
    node, chain, case = net
    cache, out = tmp_path / "cache", tmp_path / "out"
    with RpcProxy(node.url, shuffle=False) as proxy:
        args = [
            case["seed"],
            "--chain",
            "ethereum",
            "--source",
            "rpc",
            "--rpc-url",
            proxy.url,
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--quiet",
        ]
        # reference: one uninterrupted run
        ref = _cli(*args)
        assert ref.wait(300) == 0, ref.stderr.read()
        reference = list(proxy.forwarded)
        shutil.move(out, tmp_path / "reference")
        shutil.move(cache, tmp_path / "reference-cache")
        # interrupted: the proxy holds the request after half of the calls; kill -9 there
        proxy.reset(pause_after=len(reference) // 2)
        victim = _cli(*args)
        assert proxy.paused.wait(120)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(60)
        proxy.release(drop=True)
        done_before = list(proxy.forwarded)
        assert 0 < len(done_before) < len(reference) and not out.exists()
        # resumed: the same command
        proxy.reset()
        resumed = _cli(*args)
        assert resumed.wait(300) == 0, resumed.stderr.read()
        done_after = list(proxy.forwarded)
    _outputs_equal(tmp_path / "reference", out)
    assert set(done_before).isdisjoint(done_after)  # nothing finished was asked again
    assert sorted(done_before + done_after) == sorted(reference)


@needs_anvil
def test_cli_on_any_evm_chain(tmp_path):
    """--chain avalanche against a node whose chain id is 43114 (the registry by chain id)."""
    node = start_anvil(chain_id=43114, timestamp=GENESIS_TIME)
    try:
        chain = Chain(node.url)
        case = build_case(chain)
        out = tmp_path / "out"
        r = _cli(
            case["seed"],
            "--chain",
            "avalanche",
            "--source",
            "rpc",
            "--rpc-url",
            node.url,
            "--asset",
            case["token"],
            "--asset",
            "native",
            "--out",
            str(out),
            "--quiet",
        )
        assert r.wait(300) == 0, r.stderr.read()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["data_fingerprint"]["chain_id"] == 43114
        assert manifest["inputs"]["chain"] == "avalanche"
        edges = (out / "edges.csv").read_text()
        assert case["y1"] in edges and "avalanche" in edges
        wrong = _cli(
            case["seed"],
            "--chain",
            "ethereum",
            "--source",
            "rpc",
            "--rpc-url",
            node.url,
            "--out",
            str(tmp_path / "x"),
        )
        assert wrong.wait(300) == 2
        err = wrong.stderr.read().strip()
        assert err.count("\n") == 0 and "serves chain id 43114 (avalanche)" in err
    finally:
        node.stop()


def _reference(logs) -> list[tuple]:
    out = []
    for log in logs:
        if not isinstance(log, dict):
            continue
        r = transfer_from_rpc_log(log, timestamp=0)
        if r is not None:
            ts = log.get("blockTimestamp")
            ts = (
                int(ts, 16)
                if isinstance(ts, str) and ts[:2] in ("0x", "0X")
                else (int(ts) if isinstance(ts, (int, str)) and str(ts).isdigit() else None)
            )
            out.append(
                (
                    r.asset,
                    r.from_address,
                    r.to_address,
                    r.amount,
                    r.tx_hash,
                    r.log_index,
                    r.block_number,
                    r.tx_index,
                    ts,
                )
            )
    return out


def test_batch_decoder_equals_the_one_log_decoder():
    """decode_transfer_logs (the RPC source's fast path) == evm_logs.transfer_from_rpc_log,
    log for log, on canonical logs mixed with every odd shape a provider could send."""
    import random

    from hexbytes import HexBytes

    rng = random.Random(5)
    token = "0x" + "Ab" * 20

    def topic(a):
        return "0x" + "0" * 24 + a

    def canonical(i):
        return {
            "address": token if i % 3 else "0x" + "cd" * 20,
            "topics": [TRANSFER_TOPIC, topic(f"{rng.getrandbits(160):040x}"), topic("ef" * 20)],
            "data": "0x" + f"{rng.getrandbits(200):064x}",
            "blockNumber": hex(100 + i // 4),
            "transactionHash": "0x" + f"{rng.getrandbits(256):064X}",
            "transactionIndex": hex(i % 4),
            "logIndex": hex(i),
            "blockTimestamp": hex(1_700_000_000 + i // 4 * 12) if i % 5 else None,
            "removed": False,
        }

    def odd(i):
        log = canonical(i)
        kind = i % 16
        if kind == 0:
            log["topics"] = [TRANSFER_TOPIC.upper().replace("0X", "0x"), *log["topics"][1:]]
        elif kind == 1:
            log["topics"] = [HexBytes(x) for x in log["topics"]]
        elif kind == 2:
            log["topics"] = tuple(log["topics"])
        elif kind == 3:
            log["topics"] = log["topics"] + [topic("01" * 20)]  # ERC-721: four topics
            log["data"] = "0x"
        elif kind == 4:
            log["data"] = log["data"][:-2]
        elif kind == 5:
            log["data"] = log["data"][2:]  # no 0x prefix
        elif kind == 6:
            log["removed"] = True
        elif kind == 7:
            log["blockTimestamp"] = 1_700_000_000
        elif kind == 8:
            log["blockNumber"] = str(100 + i)
        elif kind == 9:
            log["logIndex"] = i
        elif kind == 10:
            del log["transactionIndex"]
        elif kind == 11:
            log["address"] = log["address"][2:]  # 40 hex digits without 0x
        elif kind == 12:
            log["topics"][1] = "0x" + " " * 2 + log["topics"][1][4:]
        elif kind == 13:
            log["topics"][2] = token  # 42 characters: not a topic even if it is an address
        elif kind == 14:
            log["topics"][1] = "0X" + log["topics"][1][2:]
        elif kind == 15:
            log["data"] = HexBytes(log["data"])
        return log

    logs = [canonical(i) for i in range(300)] + [odd(i) for i in range(300)]
    logs += [None, [], {"topics": None}, {}]
    # values int(x, 16) reads differently with and without the prefix, and odd hash prefixes
    edges = {
        "data": ["0x_" + "1" * 63, "0x" + "1" * 62 + "  ", "0x0x" + "1" * 62, "0X" + "1" * 64],
        "transactionHash": ["0X" + "Ab" * 32, "ab" * 33, "0x", "x0" + "ab" * 32, 7],
    }
    for key, values in edges.items():
        for n, value in enumerate(values):
            logs.append({**canonical(600 + n), key: value})
    rng.shuffle(logs)
    expected = _reference(logs)
    assert 300 < len(expected) < 600
    assert decode_transfer_logs(logs) == expected
    canonical_only = [canonical(i) for i in range(200)]
    assert decode_transfer_logs(canonical_only) == _reference(canonical_only)

    # the record path (what the source builds): the same records as the one-log decoder, every
    # slot set, and the logs without a block time handed back for the caller to fill
    for batch in (logs, canonical_only):
        untimed: list = []
        records = decode_transfer_records(batch, chain="avalanche", source="rpc:x", untimed=untimed)
        reference = []
        for log in batch:
            r = (
                transfer_from_rpc_log(log, chain="avalanche", source="rpc:x")
                if isinstance(log, dict)
                else None
            )
            if r is not None:
                reference.append(r)
        assert records == reference
        assert [r.timestamp for r in records] == [r.timestamp for r in reference]
        for r in records:
            assert all(hasattr(r, slot) for slot in Transfer.__slots__)
            assert repr(r) == repr(r) and r.transfer_id == f"{r.tx_hash}:{r.log_index}"
        missing = {(r[4], r[5]) for r in _reference(batch) if r[8] is None}
        assert {(r.tx_hash, r.log_index) for r in untimed} == missing
        assert len(untimed) == len(missing) and all(r.timestamp == 0 for r in untimed)


def test_next_window_follows_the_provider():
    # the range the provider suggests, the limit it names, else half: always smaller
    assert next_window("this block range should work: [0x10, 0x1f]", None, 16, 1000) == 16
    assert next_window("too many", {"from": "0x10", "to": "0x2f"}, 16, 1000) == 32
    assert next_window("eth_getLogs is limited to a 10,000 range", None, 0, 99_999) == 10_000
    assert next_window("range 1000000 exceeds limit of 10000", None, 0, 10**6 - 1) == 10_000
    assert next_window("query returned more than 10000 results", None, 0, 99) == 50
    assert next_window("block range is too wide (maximum 1024)", None, 0, 500) == 250
    assert next_window("anything", None, 7, 7) == 1


@needs_anvil
def test_cli_named_case_over_rpc(tmp_path):
    """``tracer trace --case deribit-2022 --source rpc --rpc-url URL``: the case's real seed
    addresses, replayed on a local chain (anvil impersonates them), traced over JSON-RPC."""
    root = Path(__file__).resolve().parents[1]
    needed = ("cases/deribit-2022.yaml", "entities/mixers.yaml")
    if not all((root / "addresses" / name).is_file() for name in needed):
        pytest.skip("addresses/cases/deribit-2022.yaml or entities/mixers.yaml not there yet")
    thief = "0x8d08aad4b2bac2bb761ac4781cf62468c9ec47b4"  # first recipient (DOJ 24-cv-02828)
    tornado = "0xa160cdab225685da1d56aa342ad8841c3b53f291"  # Tornado Cash 100 ETH pool
    node = start_anvil(chain_id=1, timestamp=1_667_300_000)  # after the case's "since"
    try:
        chain = Chain(node.url)
        hop1, hop2 = fresh(2, "deribit")
        chain.eth(chain.accounts[0], thief, 900 * 10**18)
        chain.eth(thief, hop1, 600 * 10**18)
        chain.eth(thief, hop2, 300 * 10**18)
        for _ in range(3):
            chain.eth(hop1, tornado, 100 * 10**18)
        out = tmp_path / "out"
        r = _cli(
            "--case",
            "deribit-2022",
            "--source",
            "rpc",
            "--rpc-url",
            node.url,
            "--labels",
            str(root / "addresses" / "entities" / "mixers.yaml"),
            "--out",
            str(out),
            "--quiet",
        )
        assert r.wait(300) == 0, r.stderr.read()
        edges = (out / "edges.csv").read_text()
        assert hop1 in edges and hop2 in edges and tornado in edges
        flags = (out / "flags.csv").read_text()
        assert tornado in flags and "mixer" in flags
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["inputs"]["case"] == "deribit-2022"
        assert manifest["data_fingerprint"]["kind"] == "rpc"
    finally:
        node.stop()


def test_cli_bad_live_input_exits_2_with_one_line(tmp_path):
    seed = "0x" + "11" * 20
    for extra, text in (
        (["--source", "rpc", "--rpc-url", "http://127.0.0.1:9"], "cannot connect"),
        (["--source", "rpc", "--rpc-url", "localhost:8545"], "not an http(s) URL"),
        (["--source", "etherscan", "--api-url", "http://127.0.0.1:9/v2/api"], "cannot connect"),
    ):
        r = _cli(seed, "--chain", "ethereum", *extra, "--out", str(tmp_path / "o"))
        assert r.wait(120) == 2
        err = r.stderr.read().strip()
        assert err.count("\n") == 0 and text in err and "Traceback" not in err, err


def test_a_key_in_the_url_stays_out_of_store_and_manifest(net, tmp_path):
    node, chain, case = net
    key = "9aa3d95b3bc440fa88ea12eaa4456161"
    with RpcProxy(node.url) as proxy:
        result = tracer.trace(
            [case["seed"]],
            chain="ethereum",
            source="rpc",
            hops=2,
            source_options={"rpc_url": f"{proxy.url}/v3/{key}", "cache": tmp_path / "c"},
        )
        result.export(tmp_path / "out")
    assert result.manifest["data_fingerprint"]["endpoint"].endswith("/v3/***")
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or key.encode() not in path.read_bytes(), path


def test_no_trace_warning_reaches_the_api(net):
    node, chain, case = net
    with RpcProxy(node.url, block_methods=("trace_filter", "trace_block")) as proxy:
        result = tracer.trace(
            [case["seed"]],
            chain="ethereum",
            source="rpc",
            hops=1,
            source_options={"rpc_url": proxy.url},
        )
    assert any("no traces" in w for w in result.warnings)
    coverage = result.manifest["data_fingerprint"]["coverage"]["native"]
    assert coverage.startswith("top-level only")


def test_evm_chain_registry():
    from eth_utils import to_checksum_address

    from tracer.addresses import normalize
    from tracer.chains import CHAINS
    from tracer.evm_chains import EVM_CHAINS, by_id, resolve

    for chain_id, name in (
        (1, "ethereum"),
        (43114, "avalanche"),
        (56, "bsc"),
        (137, "polygon"),
        (42161, "arbitrum"),
        (8453, "base"),
        (10, "optimism"),
    ):
        assert by_id(chain_id).name == name and CHAINS[name].chain_id == chain_id
        assert CHAINS[name].kind == "evm" and CHAINS[name].explorer_tx_url.endswith("/tx/{}")
    for evm in EVM_CHAINS:
        for token in evm.tokens:  # published EIP-55 forms: a typo fails the checksum
            lower = normalize(evm.name, token.address)
            assert to_checksum_address(lower) == token.address
            asset = CHAINS[evm.name].assets[lower]
            assert (asset.symbol, asset.decimals) == (token.symbol, token.decimals)
    assert resolve("avax").name == resolve("0xa86a").name == resolve(43114).name == "avalanche"
    btcb = CHAINS["avalanche"].assets["0x152b9d0fdc40c096757f570a51e494bd4b943e50"]
    assert (btcb.symbol, btcb.decimals) == ("BTC.b", 8)
    assert (
        CHAINS["ethereum"].assets["0xdac17f958d2ee523a2206206994597c13d831ec7"].issuer == "Tether"
    )
    assert [t.symbol for t in by_id(1).bridged_btc] == ["WBTC"]


def test_fixture_bytecode_matches_its_source():
    import hashlib

    fixtures = Path(__file__).resolve().parent / "fixtures"
    built = json.loads((fixtures / "TestContracts.json").read_text())
    source = (fixtures / built["source"]).read_bytes()
    assert hashlib.sha256(source).hexdigest() == built["source_sha256"]
    for contract in built["contracts"].values():
        assert contract["bytecode"].startswith("0x6080") and contract["abi"]
