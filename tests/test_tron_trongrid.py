"""The TronGrid source against a loopback TronGrid serving the Tron sandbox in the documented
shapes: paging, windows, the ban, faults, the API key, the response store (replay, resume)."""

from __future__ import annotations

import json
import time

import pytest
from servers.scripted import ScriptedServer
from servers.trongrid_server import TronData, TronGridServer

from tracer.sources import open_source
from tracer.sources.base import SourceError
from tracer.tron.bulk import TronBulkSource
from tracer.tron.sandbox import DATA_DIR
from tracer.tron.trongrid import KEY_ENV, KEY_HEADER, TronGridSource

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
A = GT["addresses"]
TOKEN = GT["token"]
SECRET = "tr0n-K3Y-9f8e7d6c5b4a-secret"
STORY = sorted({A[n] for n in ("w1", "w2", "w3", "cons", "dep_x1", "dep_y1", "cons3", "h3")})


@pytest.fixture(scope="module")
def data():
    return TronData(DATA_DIR)


@pytest.fixture(scope="module")
def bulk():
    return TronBulkSource(DATA_DIR)


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


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


def test_records_match_the_bulk_export(data, bulk):
    with TronGridServer(data) as server:
        source = open_source("trongrid", "tron", api_url=server.url)
        got = source.transfers(STORY)
    want = bulk.transfers(STORY)
    assert [_key(t) for t in got] == [_key(t) for t in want]
    assert all(t.source.startswith("trongrid:127.0.0.1") for t in got)
    kinds = {(t.kind, t.asset) for t in got}
    assert ("native", "native") in kinds and ("token", TOKEN) in kinds
    failed = [t for t in got if not t.success]
    assert [t.from_address for t in failed] == [A["w3"]]  # the failed TRX transfer (REVERT)
    tokens = [t for t in got if t.kind == "token"]
    assert all(t.block_number > 0 and t.log_index is not None for t in tokens)


def test_paging_follows_the_fingerprint(data, bulk):
    busy = A["busy"]
    with TronGridServer(data) as server:
        whole = TronGridSource(api_url=server.url).degrees([busy])
        assert server.by_kind["trc20"] + server.by_kind["transactions"] >= 4  # 200 rows a page
        server.by_kind.clear()
        before = len(server.requests)
        small = TronGridSource(api_url=server.url, page_size=7)
        assert small.degrees([busy]) == whole == bulk.degrees([busy])
        pages = server.by_kind["trc20"] + server.by_kind["transactions"]
        assert pages > 150
        requests = server.requests[before:]
        cursors = [r["query"].get("fingerprint") for r in requests]
        assert len({c for c in cursors if c}) == pages - 2  # every page but the first two
        # every page repeats the filters unchanged
        trc20 = [r["query"] for r in requests if r["path"].endswith("/trc20")]
        assert {
            (q["limit"], q["order_by"], q["only_confirmed"], q["max_timestamp"]) for q in trc20
        } == {("7", "block_timestamp,asc", "true", str(small.max_ts))}


def test_links_next_on_another_host_is_not_followed(data):
    """TronGrid's links name api.trongrid.io: the client re-sends its own query instead."""
    with TronGridServer(data, links_host="https://api.trongrid.io") as server:
        source = TronGridSource(api_url=server.url, page_size=50)
        assert source.degrees([A["busy"]])[A["busy"]] > 1000
        assert all(
            r["path"].startswith("/v1/") or r["path"].startswith("/wallet/")
            for r in server.requests
        )


def test_cursor_only_in_links_next_and_a_repeating_cursor():
    first = {
        "data": [],
        "success": True,
        "meta": {
            "at": 1,
            "page_size": 0,
            "links": {"next": "https://x/v1/a?limit=1&fingerprint=abc"},
        },
    }
    last = {"data": [], "success": True, "meta": {"at": 1, "page_size": 0}}
    head = {"block_header": {"raw_data": {"number": 10, "timestamp": 30_000}}}
    with ScriptedServer([(200, head), (200, first), (200, last), (200, first), (200, last)]) as s:
        source = TronGridSource(api_url=s.url)
        assert source.transfers([A["w1"]]) == []
        assert s.requests[2]["query"]["fingerprint"] == "abc"
    loop = {"data": [], "success": True, "meta": {"at": 1, "page_size": 0, "fingerprint": "same"}}
    with ScriptedServer([(200, head)], default=(200, loop)) as s:
        source = TronGridSource(api_url=s.url)
        with pytest.raises(SourceError, match="paging cursor repeats"):
            source.transfers([A["w1"]])


def test_time_window_and_contract_filter(data, bulk):
    until = GT and (1_668_000_000 + 25 * 3)  # block B0 + 25
    with TronGridServer(data) as server:
        source = TronGridSource(api_url=server.url, contracts=[TOKEN])
        got = source.transfers([A["cons"], A["w2"]], None, until)
        queries = [r["query"] for r in server.requests if r["path"].endswith("/trc20")]
        assert queries and all(q["contract_address"] == TOKEN for q in queries)
        assert all(q["max_timestamp"] == str(until * 1000 + 999) for q in queries)
    want = bulk.transfers([A["cons"], A["w2"]], None, until)
    assert got and max(t.timestamp for t in got) <= until
    assert [_key(t) for t in got] == [_key(t) for t in want]


def test_the_temporary_ban_is_waited_out(data, bulk):
    with TronGridServer(data, qps=5, ban_seconds=1) as server:
        source = TronGridSource(api_url=server.url, backoff=0.05)
        start = time.monotonic()
        got = source.transfers(STORY[:3])
        elapsed = time.monotonic() - start
        assert server.bans >= 1 and server.banned_replies >= 1
    assert elapsed >= 1.0  # waited for the "suspended for 1s" to pass
    assert source.stats()["retries"] >= 1
    assert [_key(t) for t in got] == [_key(t) for t in bulk.transfers(STORY[:3])]


def test_a_request_budget_avoids_the_ban(data):
    with TronGridServer(data, qps=12, ban_seconds=30) as server:
        source = TronGridSource(api_url=server.url, rps=8)
        source.transfers(STORY[:2])
        assert server.bans == 0 and source.http.budget.waited > 0


def test_faults_are_retried(data, bulk):
    with TronGridServer(
        data, fault_rate=0.3, seed=7, faults=("429", "500", "503", "truncate"), slow=0
    ) as server:
        source = TronGridSource(api_url=server.url, backoff=0.01, retries=8)
        got = source.transfers(STORY)
        assert sum(server.injected.values()) > 5
    assert [_key(t) for t in got] == [_key(t) for t in bulk.transfers(STORY)]


def test_api_key_in_the_header_only(data, monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, SECRET)
    with TronGridServer(data, api_key=SECRET, require_key=True) as server:
        source = TronGridSource(api_url=server.url, cache=tmp_path / "store")
        source.transfers([A["w1"]])
        assert set(server.keys_seen) == {SECRET}
        assert all(SECRET not in r["raw"] for r in server.requests)
    dump = json.dumps(source.fingerprint())
    assert SECRET not in dump and '"api_key": "set"' in dump
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert KEY_HEADER == "TRON-PRO-API-KEY"


def test_a_wrong_key_is_one_line_without_the_key(data):
    with TronGridServer(data, api_key="the-right-key-123") as server:
        with pytest.raises(SourceError) as error:
            TronGridSource(api_url=server.url, api_key=SECRET)
    message = str(error.value)
    assert "401" in message and "ApiKey not exists" in message and KEY_ENV in message
    assert SECRET not in message and "\n" not in message


def test_bad_input_is_one_line():
    with pytest.raises(SourceError, match="reads the tron chain"):
        TronGridSource("ethereum", api_url="http://127.0.0.1:9")
    with pytest.raises(SourceError, match="does not take --data"):
        open_source("trongrid", "tron", api_url="http://127.0.0.1:9", data="x")
    with pytest.raises(SourceError, match="not an http"):
        TronGridSource(api_url="ftp://example.org")
    with pytest.raises(SourceError, match="cannot connect"):
        TronGridSource(api_url="http://127.0.0.1:9", retries=2, backoff=0)
    with pytest.raises(SourceError, match="checksum"):
        TronGridSource(api_url="http://127.0.0.1:9", until=1).transfers(
            ["TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2"]
        )


def test_server_errors_are_one_line():
    head = {"block_header": {"raw_data": {"number": 10, "timestamp": 30_000}}}
    bad = {"success": False, "error": "A valid account address is required.", "statusCode": 400}
    with ScriptedServer([(200, head), (400, bad)]) as s:
        with pytest.raises(SourceError) as error:
            TronGridSource(api_url=s.url).transfers([A["w1"]])
    assert "HTTP 400: A valid account address is required." in str(error.value)
    with ScriptedServer([(200, {"Error": "class org.tron.core.exception.BadItemException"})]) as s:
        with pytest.raises(SourceError, match="BadItemException"):
            TronGridSource(api_url=s.url)


def test_replay_from_the_store_without_the_network(data, tmp_path):
    store = tmp_path / "store"
    with TronGridServer(data) as server:
        first = TronGridSource(api_url=server.url, cache=store)
        got = first.transfers(STORY)
        events = first.blacklist_events(TOKEN)
        sent = first.stats()["http_requests"]
        url = server.url
    assert sent > 0
    # the server is gone: everything comes from the store, same records
    again = TronGridSource(api_url=url, cache=store)
    assert [_key(t) for t in again.transfers(STORY)] == [_key(t) for t in got]
    assert again.blacklist_events(TOKEN) == events
    assert again.stats()["http_requests"] == 0 and again.stats()["from_store"] >= sent
    assert (
        first.fingerprint()["store"]["responses_sha256"]
        == again.fingerprint()["store"]["responses_sha256"]
    )


def test_resume_after_the_provider_went_away(data, tmp_path):
    """Store keys name the provider's URL: the provider comes back on the same address."""
    store = tmp_path / "store"
    with TronGridServer(data) as server:
        full = TronGridSource(api_url=server.url)
        want = full.transfers(STORY)
        total = full.stats()["http_requests"]
    with TronGridServer(data, fail_after=total // 2) as server:
        port = server.bound_port
        crashed = TronGridSource(api_url=server.url, cache=store, retries=2, backoff=0)
        with pytest.raises(SourceError, match="503"):
            crashed.transfers(STORY)
    with TronGridServer(data, port=port) as server:
        resumed = TronGridSource(api_url=server.url, cache=store)
        assert [_key(t) for t in resumed.transfers(STORY)] == [_key(t) for t in want]
        stats = resumed.stats()
    assert stats["from_store"] >= total // 2 - 1
    assert stats["http_requests"] <= total - (total // 2 - 1)


def test_delegations_blacklist_and_account(data, bulk):
    with TronGridServer(data) as server:
        source = TronGridSource(api_url=server.url)
        delegations = source.delegations([A["dep_y1"]])
        assert delegations == bulk.delegations([A["dep_y1"]])
        (d,) = delegations
        assert (d.from_address, d.resource, d.balance) == (A["energy_y"], "ENERGY", 1000 * 10**6)
        events = source.blacklist_events(TOKEN)
        assert events == bulk.blacklist_events(TOKEN)
        assert [(e.event, e.address) for e in events] == [
            ("AddedBlackList", A["h1"]),
            ("AddedBlackList", A["h3"]),
            ("AddedBlackList", A["blacklisted_other"]),
            ("RemovedBlackList", A["h3"]),
        ]
        assert source.is_blacklisted(TOKEN, A["h1"]) is True
        assert source.is_blacklisted(TOKEN, A["h3"]) is False
        account = source.account(A["h2"])
        assert account["trc20"] == {TOKEN: 500_000 * 10**6}
        assert source.account(A["failed_rcpt"]) == {
            "address": A["failed_rcpt"],
            "balance": 0,
            "trc20": {},
        }  # never credited (its only transfer failed): TronGrid answers data: []


def test_one_request_chain_per_address_per_round(data):
    """A trace opens one request chain (first page, then cursors) per address and endpoint."""
    import tracer

    with TronGridServer(data) as server:
        source = TronGridSource(api_url=server.url)
        tracer.trace(case="sandbox-tron", source=source)
        per_address: dict[tuple, int] = {}
        for r in server.requests:
            parts = r["path"].split("/")
            if len(parts) > 4 and parts[2] == "accounts" and "fingerprint" not in r["query"]:
                endpoint = "/".join(parts[4:])
                per_address[(parts[3], endpoint)] = per_address.get((parts[3], endpoint), 0) + 1
    assert per_address and set(per_address.values()) == {1}
    assert (A["hot_x"], "transactions/trc20") not in per_address  # labelled: never expanded


def test_a_malformed_row_is_skipped_on_record():
    head = {"block_header": {"raw_data": {"number": 10, "timestamp": 30_000}}}
    row = {
        "transaction_id": "ab" * 32,
        "token_info": {"symbol": "USDT", "address": TOKEN, "decimals": 6, "name": "x"},
        "block_timestamp": 30_000,
        "from": "TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2",  # fails its checksum
        "to": A["w1"],
        "type": "Transfer",
        "value": "5",
    }
    empty = {"data": [], "success": True, "meta": {"at": 1, "page_size": 0}}
    page = {"data": [row], "success": True, "meta": {"at": 1, "page_size": 1}}
    with ScriptedServer([(200, head), (200, page), (200, empty)]) as s:
        source = TronGridSource(api_url=s.url)
        assert source.transfers([A["w1"]]) == []
    assert any("malformed trc20 row" in w for w in source.fingerprint()["warnings"])
