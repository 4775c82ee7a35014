"""The Etherscan v2 source against a loopback Etherscan-compatible server serving the sandbox's
ethereum-etl exports in Etherscan's documented shapes (pagination, windows, errors, faults)."""

from __future__ import annotations

import csv
import filecmp
import json
import logging
from pathlib import Path

import pytest
from servers.etherscan_server import EtherscanServer, ExplorerData

import tracer
import tracer.api as api
from tracer.sandbox import SANDBOX_DIR
from tracer.sources import open_source
from tracer.sources.base import SourceError
from tracer.sources.etherscan import EtherscanSource

BUSY = "0x4880abad0624337700d9506f54ee3e6024a6478e"  # 1,201 transactions in 1,043 blocks
SECRET = "K3Y9ETHERSCAN7TEST4SECRET2VALUE"


@pytest.fixture(scope="module")
def data():
    return ExplorerData(SANDBOX_DIR)


@pytest.fixture
def case_without_data(monkeypatch):
    """The sandbox case as a live-source user would give it: seeds, labels, assets, no --data."""
    original = api.load_case
    monkeypatch.setattr(
        api, "load_case", lambda name: {k: v for k, v in original(name).items() if k != "data"}
    )


def _key(t):
    return (
        t.transfer_id,
        t.kind,
        t.asset,
        t.from_address,
        t.to_address,
        t.amount,
        t.success,
        t.block_number,
        t.timestamp,
        t.tx_index,
        t.decimals,
    )


def _edges(path: Path) -> list[dict]:
    with open(path / "edges.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row.pop("source")
    return rows


def test_sandbox_trace_matches_the_bulk_source(data, tmp_path, case_without_data):
    """Same chain data, two sources: the same graph and the same flags."""
    reference = tracer.trace(case="sandbox", source="duckdb", data=SANDBOX_DIR)
    reference.export(tmp_path / "duckdb")
    with EtherscanServer(data) as server:
        result = tracer.trace(
            case="sandbox", source="etherscan", source_options={"api_url": server.url}
        )
    result.export(tmp_path / "etherscan")
    for name in ("flags.csv", "nodes.csv"):
        assert filecmp.cmp(tmp_path / "duckdb" / name, tmp_path / "etherscan" / name, False)
    assert _edges(tmp_path / "duckdb") == _edges(tmp_path / "etherscan")
    assert reference.manifest["stats"]["flags"] == result.manifest["stats"]["flags"] > 0
    # the one difference: the sandbox export holds a token transfer inside a failed
    # transaction (pruned by the bulk source); a real chain, hence Etherscan, has no such log
    assert reference.manifest["stats"]["pruned"]["failed_transaction"] == 2
    assert result.manifest["stats"]["pruned"]["failed_transaction"] == 1


def test_paging_slides_startblock_past_the_window(data):
    with EtherscanServer(data) as server:
        whole = EtherscanSource(api_url=server.url).transfers([BUSY])
        assert server.by_action["txlist"] == 2  # 1,000 rows, then 201
        server.by_action.clear()
        paged = EtherscanSource(api_url=server.url, page_size=7, window=21)
        assert paged.transfers([BUSY]) == whole
        starts = {
            dict(p).get("startblock") for p in server.answered if dict(p).get("action") == "txlist"
        }
        assert len(starts) > 40  # the window slid many times
    expected = [r for r in data.txlist[BUSY] if int(r["value"]) > 0]
    assert len([t for t in whole if t.kind == "native"]) == len(expected)


def test_result_window_error_and_row_cap(data):
    with EtherscanServer(data) as server:
        whole = EtherscanSource(api_url=server.url).transfers([BUSY])
    # the client asks for page 3 of 5,000: Etherscan answers "Result window is too large"
    with EtherscanServer(data) as server:
        wide = EtherscanSource(api_url=server.url, page_size=500, window=20_000)
        assert wide.transfers([BUSY]) == whole
    # a server capping every reply at 1,000 rows (the 2026 free tier), pages of 1,000
    with EtherscanServer(data, max_rows=1000) as server:
        assert EtherscanSource(api_url=server.url).transfers([BUSY]) == whole


def test_receipts_give_log_indexes_unless_rows_carry_them(data):
    with EtherscanServer(data) as server:
        plain = EtherscanSource(api_url=server.url)
        records = plain.transfers(["0x5729c69f9969e89ae40b4cb8fe83fcf89c0ad595"])
        assert server.by_action["eth_getTransactionReceipt"] > 0
    with EtherscanServer(data, log_index=True) as server:
        blockscout = EtherscanSource(api_url=server.url)
        assert blockscout.transfers(["0x5729c69f9969e89ae40b4cb8fe83fcf89c0ad595"]) == records
        assert server.by_action["eth_getTransactionReceipt"] == 0
    tokens = [t for t in records if t.kind == "token"]
    assert tokens and all(t.log_index is not None and t.log_index < 1_000_000 for t in tokens)
    assert plain.token_symbols()


def test_faults_change_nothing(data, tmp_path, case_without_data):
    """20% of requests: rate-limit replies, query timeouts, 500, 429, truncated and slow bodies."""
    options = {"timeout": 0.5, "backoff": 0.01, "retries": 12}
    with EtherscanServer(data) as server:
        clean = tracer.trace(
            case="sandbox", source="etherscan", source_options={"api_url": server.url, **options}
        )
    with EtherscanServer(data, fault_rate=0.2, seed=7, slow=1.0) as server:
        faulty = tracer.trace(
            case="sandbox", source="etherscan", source_options={"api_url": server.url, **options}
        )
        injected = dict(server.injected)
    assert len(injected) == 6 and sum(injected.values()) >= 10, injected
    clean.export(tmp_path / "a")
    faulty.export(tmp_path / "b")
    for path in sorted((tmp_path / "a").rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            assert filecmp.cmp(path, tmp_path / "b" / path.relative_to(tmp_path / "a"), False)
    ma, mb = clean.manifest, faulty.manifest
    # as many responses (the digests differ: store keys name the endpoint, and ports differ)
    assert (
        ma["data_fingerprint"]["store"]["responses"] == mb["data_fingerprint"]["store"]["responses"]
    )
    assert {k: v for k, v in ma.items() if k != "data_fingerprint"} == {
        k: v for k, v in mb.items() if k != "data_fingerprint"
    }


def test_api_key_from_the_environment_never_leaves(data, tmp_path, monkeypatch):
    monkeypatch.setenv("ETHERSCAN_API_KEY", SECRET)
    with EtherscanServer(data, api_key=SECRET) as server:
        src = open_source("etherscan", "ethereum", api_url=server.url, cache=tmp_path)
        src.transfers([BUSY])
        assert set(server.keys_seen) == {SECRET}  # sent with every request ...
        fingerprint = json.dumps(src.fingerprint())
    assert SECRET not in fingerprint and '"api_key": "set"' in fingerprint
    for path in tmp_path.rglob("*"):  # ... but never stored
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()
    monkeypatch.setenv("ETHERSCAN_API_KEY", "WRONG" + SECRET)
    with EtherscanServer(data, api_key=SECRET) as server:
        with pytest.raises(SourceError) as info:
            EtherscanSource(api_url=server.url)
    message = str(info.value)
    assert "Invalid API Key" in message and SECRET not in message and "\n" not in message


def test_api_key_scrubbed_from_http_library_logs(data, monkeypatch, caplog):
    monkeypatch.setenv("ETHERSCAN_API_KEY", SECRET)
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        with EtherscanServer(data, api_key=SECRET) as server:
            EtherscanSource(api_url=server.url).transfers([BUSY])
    requests_logged = [r for r in caplog.records if "/v2/api?" in r.getMessage()]
    assert requests_logged  # urllib3 logs every request line, query string included ...
    assert all(SECRET not in r.getMessage() for r in caplog.records)  # ... without the key
    assert any("apikey=***" in r.getMessage() for r in requests_logged)


def test_chains_by_id_and_unsupported_chains(data):
    with EtherscanServer(ExplorerData(SANDBOX_DIR, chain_id=43114)) as server:
        src = EtherscanSource("avalanche", api_url=server.url)
        records = src.transfers([BUSY])
        assert records and {t.chain for t in records} == {"avalanche"}
        assert {dict(p)["chainid"] for p in server.answered} == {"43114"}
        with pytest.raises(SourceError) as info:
            EtherscanSource("base", api_url=server.url)
    assert "Missing or unsupported chainid" in str(info.value)
    with pytest.raises(SourceError, match="EVM chains"):
        EtherscanSource("bitcoin")
    with pytest.raises(SourceError, match="does not take --rpc-url"):
        open_source("etherscan", "ethereum", rpc_url="http://127.0.0.1:8545")


def test_empty_results_and_time_window(data):
    with EtherscanServer(data) as server:
        src = EtherscanSource(api_url=server.url)
        assert src.transfers(["0x" + "12" * 20]) == []
        everything = src.transfers([BUSY])
        cut = sorted(t.timestamp for t in everything)[len(everything) // 2]
        early = src.transfers([BUSY], until=cut)
        assert early == [t for t in everything if t.timestamp <= cut]
        assert server.by_action["getblocknobytime"] == 1
        degrees = src.degrees([BUSY, "0x" + "12" * 20])
        assert degrees == {BUSY: len(everything), "0x" + "12" * 20: 0}


def test_store_makes_a_rerun_offline(data, tmp_path):
    server = EtherscanServer(data)
    server.start()
    try:
        first = EtherscanSource(api_url=server.url, cache=tmp_path)
        records = first.transfers([BUSY, "0x5729c69f9969e89ae40b4cb8fe83fcf89c0ad595"])
        fingerprint = first.fingerprint()
    finally:
        server.stop()
    second = EtherscanSource(api_url=server.url, cache=tmp_path)
    assert second.transfers([BUSY, "0x5729c69f9969e89ae40b4cb8fe83fcf89c0ad595"]) == records
    assert second.http.sent == 0 and second.fingerprint() == fingerprint
    assert [_key(t) for t in records] == [
        _key(t) for t in second.transfers([BUSY, "0x5729c69f9969e89ae40b4cb8fe83fcf89c0ad595"])
    ]
