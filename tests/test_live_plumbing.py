"""Shared live-source plumbing (tracer/sources/http.py) against real loopback HTTP servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servers.scripted import ScriptedServer

from tracer.sources.base import SourceError
from tracer.sources.http import (
    HttpClient,
    JsonRpcClient,
    RateBudget,
    ResponseStore,
    Retry,
    RpcError,
    classify_rpc_error,
    parse_endpoint,
)

INFURA_KEY = "9aa3d95b3bc440fa88ea12eaa4456161"
ALCHEMY_KEY = "Zx7Kq2PvB8nL4mT9wR3yH6cJ1dF5gS0a"


def _json_parse(status, body, headers):
    if status == 429 or status >= 500:
        raise Retry(f"HTTP {status}")
    try:
        return json.loads(body)
    except ValueError:
        raise Retry("malformed body") from None


def _files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(path)
    return hits


# ------------------------------------------------------------------ endpoints and secrets


@pytest.mark.parametrize(
    "url, public, secret",
    [
        (
            f"https://mainnet.infura.io/v3/{INFURA_KEY}",
            "https://mainnet.infura.io/v3/***",
            INFURA_KEY,
        ),
        (
            f"https://eth-mainnet.g.alchemy.com/v2/{ALCHEMY_KEY}",
            "https://eth-mainnet.g.alchemy.com/v2/***",
            ALCHEMY_KEY,
        ),
        ("https://user:hunter22@node.example:8545/", "https://***@node.example:8545/", "hunter22"),
        (
            "https://api.etherscan.io/v2/api?apikey=ABCDEF1234567890XYZ",
            "https://api.etherscan.io/v2/api?apikey=***",
            "ABCDEF1234567890XYZ",
        ),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545", None),
        ("https://api.avax.network/ext/bc/C/rpc", "https://api.avax.network/ext/bc/C/rpc", None),
    ],
)
def test_endpoint_secrets_are_found_and_redacted(url, public, secret):
    endpoint = parse_endpoint(url)
    assert endpoint.public == public
    assert endpoint.url == url
    if secret:
        assert secret in endpoint.secrets
        assert secret not in endpoint.public


@pytest.mark.parametrize(
    "url", ["ftp://x.example/", "not a url", "", "http://", "https://[::1", 12345, "127.0.0.1:8545"]
)
def test_malformed_urls_are_one_line_errors(url):
    with pytest.raises(SourceError) as info:
        parse_endpoint(url, "--rpc-url")
    message = str(info.value)
    assert message.startswith("--rpc-url") and "\n" not in message


def test_secret_never_in_error_message_or_store(tmp_path):
    with ScriptedServer(default=(500, b"boom")) as server:
        url = f"{server.url}/v3/{INFURA_KEY}"
        client = JsonRpcClient(url, store=ResponseStore(tmp_path), retries=2, backoff=0)
        with pytest.raises(SourceError) as info:
            client.call("eth_chainId")
        assert INFURA_KEY not in str(info.value)
        assert "***" in str(info.value) and "\n" not in str(info.value)
        # the key did reach the server (it is part of the real URL) ...
        assert server.requests[0]["path"].endswith(INFURA_KEY)
    # ... but nothing on disk mentions it
    assert _files_containing(tmp_path, INFURA_KEY) == []


# ------------------------------------------------------------------ the response store


def test_store_round_trip_content_addressing_and_digest(tmp_path):
    store = ResponseStore(tmp_path)
    k1 = store.key({"method": "a", "params": [1]})
    k2 = store.key({"params": [1], "method": "a"})
    assert k1 == k2  # canonical: key order does not matter
    k3 = store.key({"method": "b"})
    sha = store.put(k1, {"method": "a", "params": [1]}, b'{"result":1}')
    assert store.put(k3, {"method": "b"}, b'{"result":1}') == sha  # same body, one blob
    assert len(list((tmp_path / "blobs").rglob("*"))) == 2  # one shard directory + one blob
    assert store.get(k1) == b'{"result":1}'
    summary = store.summary()
    assert summary["responses"] == 2 and summary["path"] == str(tmp_path.resolve())
    run = json.loads((tmp_path / "runs" / f"{summary['responses_sha256']}.json").read_text())
    assert run["responses"] == {k1: sha, k3: sha}
    # a second store over the same directory reads what the first wrote; same digest
    again = ResponseStore(tmp_path)
    assert again.get(k3) == b'{"result":1}' and again.get(k1) == b'{"result":1}'
    assert again.summary()["responses_sha256"] == summary["responses_sha256"]


def test_store_detects_a_damaged_blob(tmp_path):
    store = ResponseStore(tmp_path)
    key = store.key({"x": 1})
    sha = store.put(key, {"x": 1}, b"original")
    (tmp_path / "blobs" / sha[:2] / sha).write_bytes(b"tampered")
    assert ResponseStore(tmp_path).get(key) is None  # refetched by the client, never trusted


_WRITER = """
import sys, itertools
from tracer.sources.http import ResponseStore
store = ResponseStore(sys.argv[1])
for i in itertools.count():
    body = (str(i) * 5000).encode()
    store.put(store.key({"i": i}), {"i": i}, body)
    print(i, flush=True)
"""


def test_store_survives_kill_9_mid_write(tmp_path):
    """kill -9 a process writing the store, many times: every entry left is whole and verified."""
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(40):  # let it write some entries, then kill it mid-stream
            proc.stdout.readline()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = ResponseStore(tmp_path)
    entries = list((tmp_path / "responses").rglob("*.json"))
    assert len(entries) >= 40
    for path in entries:
        entry = json.loads(path.read_bytes())  # never half a file
        i = entry["request"]["i"]
        assert store.get(path.stem) == (str(i) * 5000).encode()


# ------------------------------------------------------------------ retries and the budget


def test_retries_on_429_5xx_malformed_truncated_and_timeout_then_stores(tmp_path):
    script = [
        (429, b"Too Many Requests", {"Retry-After": "0"}),
        (502, b"<html>bad gateway</html>"),
        (200, b'{"ok": tru'),  # malformed
        (200, b'{"ok": true}', {"X-Declared-Length": "400"}),  # connection drops mid-body
        ("hang", 1.0),  # slower than the client's timeout
        (200, b'{"ok": true}'),
    ]
    with ScriptedServer(script) as server:
        endpoint = parse_endpoint(server.url)
        client = HttpClient(
            "test", endpoint, store=ResponseStore(tmp_path), timeout=0.3, retries=8, backoff=0
        )
        fetched = client.fetch("GET", server.url, key={"q": 1}, parse=_json_parse)
        assert fetched.value == {"ok": True} and not fetched.from_store
        assert len(server.requests) == 6
        again = client.fetch("GET", server.url, key={"q": 1}, parse=_json_parse)
        assert again.from_store and again.value == {"ok": True}
        assert len(server.requests) == 6  # served from the store: no request


def test_bounded_attempts_end_in_one_line_error():
    with ScriptedServer(default=(503, b"down")) as server:
        client = HttpClient("svc", parse_endpoint(server.url), retries=3, backoff=0)
        with pytest.raises(SourceError) as info:
            client.fetch("GET", server.url, key=None, parse=_json_parse, what="ping")
        assert len(server.requests) == 3
        assert str(info.value) == "svc ping: failed after 3 attempts (HTTP 503)"


def test_unreachable_endpoint_fails_fast():
    port_closed = "http://127.0.0.1:9"  # discard port: nothing listens on loopback
    client = JsonRpcClient(port_closed, retries=6, backoff=5)
    with pytest.raises(SourceError) as info:
        client.call("eth_chainId")
    assert "cannot connect" in str(info.value) and "\n" not in str(info.value)


def test_budget_spaces_requests_evenly():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    budget = RateBudget(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        budget.acquire()
    assert slept == pytest.approx([0.25, 0.25, 0.25, 0.25])
    assert RateBudget(None).rps is None
    with pytest.raises(SourceError):
        RateBudget(-1)


# ------------------------------------------------------------------ JSON-RPC


def _rpc_reply(request):
    """Echo server: result = method name; shuffled batch order."""
    payload = json.loads(request["body"])
    items = payload if isinstance(payload, list) else [payload]
    out = [
        {"jsonrpc": "2.0", "id": c["id"], "result": c["method"] + ":" + json.dumps(c["params"])}
        for c in items
    ]
    out.reverse()
    return (200, out if isinstance(payload, list) else out[0])


def test_batch_replies_matched_by_id_and_calls_stored_one_by_one(tmp_path):
    with ScriptedServer(default=_rpc_reply) as server:
        client = JsonRpcClient(server.url, store=ResponseStore(tmp_path), backoff=0)
        calls = [("m", [i]) for i in range(7)]
        assert client.batch(calls) == [f"m:[{i}]" for i in range(7)]
        assert len(server.requests) == 1
        # a batch of another shape still hits the store call by call
        assert client.batch([("m", [3]), ("m", [9])]) == ["m:[3]", "m:[9]"]
        sent = json.loads(server.requests[1]["body"])
        assert isinstance(sent, dict) and sent["params"] == [9]  # only the miss went out


def test_batch_per_item_errors_missing_items_and_batch_limits():
    state = {"n": 0}

    def reply(request):
        state["n"] += 1
        payload = json.loads(request["body"])
        items = payload if isinstance(payload, list) else [payload]
        if isinstance(payload, list) and len(items) > 2:  # Erigon's batch limit
            return (
                200,
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32000,
                        "message": f"batch limit 2 exceeded: {len(items)} requests given",
                    },
                },
            )
        out = []
        for c in items:
            p = c["params"][0]
            if p == "final":
                out.append(
                    {
                        "jsonrpc": "2.0",
                        "id": c["id"],
                        "error": {"code": 3, "message": "execution reverted"},
                    }
                )
            elif p == "rate" and state["n"] < 4:
                out.append(
                    {
                        "jsonrpc": "2.0",
                        "id": c["id"],
                        "error": {"code": -32005, "message": "project ID request rate exceeded"},
                    }
                )
            elif p == "missing" and state["n"] < 5:
                continue  # dropped from the batch reply
            elif p == "big" and state["n"] < 6:
                out.append(
                    {
                        "jsonrpc": "2.0",
                        "id": c["id"],
                        "error": {"code": -32003, "message": "response too large"},
                    }
                )
            else:
                out.append({"jsonrpc": "2.0", "id": c["id"], "result": p})
        return (200, out if isinstance(payload, list) else out[0])

    with ScriptedServer(default=reply) as server:
        client = JsonRpcClient(server.url, backoff=0, batch_size=10)
        outcomes = client.batch([("m", [p]) for p in ("a", "final", "rate", "missing", "big", "b")])
    assert outcomes[0] == "a" and outcomes[2] == "rate" and outcomes[3] == "missing"
    assert outcomes[4] == "big" and outcomes[5] == "b"
    assert isinstance(outcomes[1], RpcError) and outcomes[1].message == "execution reverted"
    assert client.batch_size <= 2


# exact bodies from API_NOTES 5.2 / 5.3
LIMIT_BODIES = [
    {
        "code": -32005,
        "data": {"from": "0xBDE5F8", "limit": 10000, "to": "0x102DBCC"},
        "message": "query returned more than 10000 results. Try with this block range [0xBDE5F8, 0x102DBCC].",
    },
    {"code": -32005, "message": "query returned more than 10000 results"},
    {"code": -32602, "message": "range 1000000 exceeds limit of 10000"},
    {
        "code": -32602,
        "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters and the response size limit, this block range should work: [0x0, 0xd043b8]",
    },
    {
        "code": -32600,
        "message": "You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, this block range should work: [0x123c9b2, 0x123cba5]",
    },
    {"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"},
    {"code": -32602, "message": "Details: maximum [from, to] blocks distance: 10000"},
    {"code": -32000, "message": "exceed maximum block range: 50000"},
    {"code": -32602, "message": "query exceeds max block range 5000"},
    {"code": -32602, "message": "query block range exceeds server limit, narrow your filter: 1000"},
    {"code": -32000, "message": "query returns too many logs, narrow your filter: 20000"},
    {"code": -32005, "message": "block range too large, max range: 3000"},
    {
        "code": -32602,
        "message": "Query returned more than 10000 results. Try with this block range [0x118dc91, 0x1198cc3].",
    },
    {"code": -32000, "message": "block range is too wide (maximum 1024)"},
]
RATE_BODIES = [
    {
        "code": 429,
        "message": "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message. If not, check out https://docs.alchemy.com/reference/throughput",
    },
    {
        "code": -32000,
        "message": "Monthly capacity limit exceeded. Visit https://dashboard.alchemyapi.io/settings/billing to upgrade your scaling policy for continued service.",
    },
    {"code": -32005, "message": "project ID request rate exceeded"},
    {"code": -32005, "message": "daily request count exceeded, request rate limited"},
]


@pytest.mark.parametrize("error", LIMIT_BODIES)
def test_provider_limit_bodies_are_limits(error):
    assert classify_rpc_error(error, 200, "eth_getLogs") == "limit"
    assert classify_rpc_error(error, 200, "trace_filter") == "limit"


@pytest.mark.parametrize("error", RATE_BODIES)
def test_rate_limit_bodies_are_rate_limits(error):
    assert classify_rpc_error(error, 200, "eth_getLogs") == "rate"


def test_other_errors():
    assert (
        classify_rpc_error(
            {"code": -32601, "message": "the method trace_filter does not exist/is not available"},
            200,
            "trace_filter",
        )
        == "final"
    )
    assert (
        classify_rpc_error({"code": 3, "message": "execution reverted"}, 200, "eth_call") == "final"
    )
    assert (
        classify_rpc_error(
            {"code": -32000, "message": "request timed out"}, 200, "eth_getBlockByNumber"
        )
        == "transient"
    )
    assert (
        classify_rpc_error(
            {"code": -32000, "message": "batch limit 100 exceeded: 142 requests given"}
        )
        == "batch"
    )
    assert classify_rpc_error({"code": -32603, "message": "internal"}, 500) == "transient"


def test_limit_errors_are_stored_timeouts_are_not(tmp_path):
    replies = iter(
        [
            {"code": -32005, "message": "query returned more than 10000 results"},
            {"code": -32000, "message": "query timeout exceeded"},
        ]
    )

    def reply(request):
        c = json.loads(request["body"])
        return (200, {"jsonrpc": "2.0", "id": c["id"], "error": next(replies)})

    with ScriptedServer(default=reply) as server:
        client = JsonRpcClient(server.url, store=ResponseStore(tmp_path), backoff=0)
        first = client.batch([("eth_getLogs", [{"fromBlock": "0x0"}])])[0]
        second = client.batch([("eth_getLogs", [{"fromBlock": "0x1"}])])[0]
        assert first.is_limit and second.is_limit
        # replay: the limit error comes from the store, the timeout would be asked again
        assert client.batch([("eth_getLogs", [{"fromBlock": "0x0"}])])[0].is_limit
        assert len(server.requests) == 2
    assert len(list((tmp_path / "responses").rglob("*.json"))) == 1
