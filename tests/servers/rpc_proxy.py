"""A loopback JSON-RPC proxy in front of a real node (anvil) that behaves like a hosted provider.

* counts HTTP requests and JSON-RPC calls (by method), and records every call it forwarded;
* enforces provider limits deterministically: ``max_range`` blocks per ``eth_getLogs`` /
  ``trace_filter`` and ``max_results`` results, answered with the providers' exact error bodies
  (API_NOTES 5.2: Alchemy -32602 with a suggested range, Infura -32005 with ``data.from/to``,
  QuickNode HTTP 413 with -32614, geth's "exceed maximum block range");
* injects faults into a share of requests with a seeded RNG (``fault_rate``): HTTP 429 with
  Alchemy's body, HTTP 500, a timeout (no reply before the client gives up), a truncated body, a
  provider-limit error on range queries, a per-item rate-limit error inside a batch;
* answers batches in shuffled order (API_NOTES 5.6);
* can hide methods (``block_methods``: -32601, like a node without traces);
* can pause after N forwarded calls (requests then wait until :meth:`release`), to kill a client
  mid-trace at a known point.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

RANGE_METHODS = ("eth_getLogs", "trace_filter")
FAULTS = ("429", "500", "timeout", "truncate", "limit", "item_rate")


def _int(value) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return None


class RpcProxy:
    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        hang: float = 3.0,
        max_range: int | None = None,
        max_results: int | None = None,
        style: str = "alchemy",
        block_methods: tuple[str, ...] = (),
        shuffle: bool = True,
        pause_after: int | None = None,
    ):
        self.upstream = upstream
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.faults = faults
        self.hang = hang
        self.max_range = max_range
        self.max_results = max_results
        self.style = style
        self.block_methods = set(block_methods)
        self.shuffle = shuffle
        self.pause_after = pause_after
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.paused = threading.Event()
        self.dropping = False
        self.http_requests = 0
        self.calls: Counter = Counter()  # JSON-RPC calls received, by method
        self.forwarded: list[tuple[str, str]] = []  # (method, params json) answered upstream
        self.injected: Counter = Counter()
        self.limit_errors = 0
        self.session = requests.Session()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                proxy._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def release(self, drop: bool = False) -> None:
        """Let paused requests go on (``drop``: answer them 503 without forwarding)."""
        self.dropping = drop
        self.pause_after = None
        self.released.set()

    def reset(self, pause_after: int | None = None) -> None:
        """Zero the counters (between runs against the same proxy)."""
        with self.lock:
            self.http_requests = 0
            self.calls = Counter()
            self.forwarded = []
            self.injected = Counter()
            self.pause_after = pause_after
            self.dropping = False
            self.released = threading.Event()
            self.paused = threading.Event()

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ replies

    @staticmethod
    def _reply(handler, status: int, body: bytes, declared: int | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body) if declared is None else declared))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            pass

    def _limit_error(self, call: dict, lo: int, hi: int) -> tuple[int, dict]:
        """(HTTP status, error object) a provider answers for a too-wide range."""
        suggested_hi = lo + (self.max_range or max(1, (hi - lo + 1) // 2)) - 1
        style = self.style
        if style == "rotate":
            style = ("alchemy", "infura", "quicknode", "geth")[self.limit_errors % 4]
        self.limit_errors += 1
        if style == "infura":
            return 200, {
                "code": -32005,
                "data": {"from": hex(lo), "limit": 10000, "to": hex(suggested_hi)},
                "message": f"query returned more than 10000 results. Try with this block range "
                f"[{hex(lo)}, {hex(suggested_hi)}].",
            }
        if style == "quicknode":
            return 413, {
                "code": -32614,
                "message": f"eth_getLogs is limited to a {self.max_range or 10000:,} range",
            }
        if style == "geth":
            return 200, {
                "code": -32000,
                "message": f"exceed maximum block range: {self.max_range or 5000}",
            }
        return 200, {
            "code": -32602,
            "message": "Log response size exceeded. You can make eth_getLogs requests with up to "
            "a 2K block range and no limit on the response size, or you can request any block "
            "range with a cap of 10K logs in the response. Based on your parameters and the "
            f"response size limit, this block range should work: [{hex(lo)}, {hex(suggested_hi)}]",
        }

    def _range(self, call: dict) -> tuple[int, int] | None:
        if call.get("method") not in RANGE_METHODS:
            return None
        params = call.get("params") or [{}]
        query = params[0] if params and isinstance(params[0], dict) else {}
        lo, hi = _int(query.get("fromBlock")), _int(query.get("toBlock"))
        if lo is None or hi is None:
            return None
        return lo, hi

    def _handle(self, handler, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            err = {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32700, "message": "Parse error"},
            }
            self._reply(handler, 200, json.dumps(err).encode())
            return
        single = isinstance(payload, dict)
        calls = [payload] if single else list(payload)
        with self.lock:
            self.http_requests += 1
            for c in calls:
                self.calls[c.get("method")] += 1
            pause = self.pause_after is not None and len(self.forwarded) >= self.pause_after
        if pause:
            released = self.released
            self.paused.set()
            released.wait(timeout=120)
            if self.dropping or released is not self.released:
                # the client was killed while it waited (or the proxy was reset): forward nothing
                self._reply(handler, 503, b"")
                return
        with self.lock:
            fault = None
            if self.fault_rate and self.rng.random() < self.fault_rate:
                fault = self.rng.choice(self.faults)
            item_fault = self.rng.randrange(len(calls)) if fault == "item_rate" else None
            order = list(range(len(calls)))
            if self.shuffle:
                self.rng.shuffle(order)
        if fault == "429":
            self.injected[fault] += 1
            err = {
                "jsonrpc": "2.0",
                "id": calls[0].get("id"),
                "error": {
                    "code": 429,
                    "message": "Your app has exceeded its compute units per second capacity. "
                    "If you have retries enabled, you can safely ignore this message. If not, "
                    "check out https://docs.alchemy.com/reference/throughput",
                },
            }
            self._reply(handler, 429, json.dumps(err).encode())
            return
        if fault == "500":
            self.injected[fault] += 1
            self._reply(handler, 500, b"<html><body>502 Bad Gateway</body></html>")
            return
        if fault == "timeout":
            self.injected[fault] += 1
            time.sleep(self.hang)
            self._reply(handler, 504, b"")
            return
        answers: dict[int, dict] = {}
        forward: list[dict] = []
        http_status = 200
        for position, call in enumerate(calls):
            method = call.get("method")
            span = self._range(call)
            if method in self.block_methods:
                answers[position] = {
                    "jsonrpc": "2.0",
                    "id": call.get("id"),
                    "error": {
                        "code": -32601,
                        "message": f"the method {method} does not exist/is not available",
                    },
                }
            elif span and (
                (self.max_range and span[1] - span[0] + 1 > self.max_range)
                or (fault == "limit" and span[1] > span[0])
            ):
                if fault == "limit":
                    self.injected["limit"] += 1
                    fault = "limit-done"
                status, error = self._limit_error(call, *span)
                if single:
                    http_status = status
                answers[position] = {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
            elif item_fault == position:
                self.injected["item_rate"] += 1
                answers[position] = {
                    "jsonrpc": "2.0",
                    "id": call.get("id"),
                    "error": {"code": -32005, "message": "project ID request rate exceeded"},
                }
            else:
                forward.append((position, call))
        if forward:
            upstream_payload = [c for _, c in forward]
            try:
                reply = self.session.post(self.upstream, json=upstream_payload, timeout=60).json()
            except (requests.RequestException, ValueError):
                self._reply(handler, 502, b"upstream failed")
                return
            by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
            for position, call in forward:
                item = by_id.get(call.get("id"))
                if item is None:
                    continue
                span = self._range(call)
                result = item.get("result")
                if (
                    span
                    and self.max_results is not None
                    and isinstance(result, list)
                    and len(result) > self.max_results
                    and span[1] > span[0]
                ):
                    status, error = self._limit_error(call, *span)
                    item = {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
                else:
                    with self.lock:
                        self.forwarded.append(
                            (call.get("method"), json.dumps(call.get("params"), sort_keys=True))
                        )
                answers[position] = item
        items = [answers[p] for p in order if p in answers]
        out = json.dumps(items[0] if single and items else items).encode()
        if fault == "truncate":
            self.injected[fault] += 1
            out = out[: max(1, len(out) // 2)]
        self._reply(handler, http_status, out)
