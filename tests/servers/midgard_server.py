"""A loopback Midgard (THORChain indexer) server for ``/v2/actions`` (test-only).

Follows the shapes in API_NOTES 6.2 (a real refund response is the seed fixture):

* ``GET /v2/actions`` with ``txid`` (matched case-insensitively against every ``in``/``out``
  ``txID``), ``address``, ``type`` (comma list), ``limit`` (1..50, default 50) and
  ``nextPageToken``; actions newest first; every page carries ``meta.nextPageToken`` and
  ``meta.prevPageToken`` (also the last page, like the real fixture) and ``count`` as a string;
  a page shorter than ``limit`` is the last one;
* bad parameters answer HTTP 400 with a text/plain body (Midgard's ``http.Error``);
  an unknown path 404 text/plain;
* rate limiting: ``throttle(n)`` decides per request number ``n`` (from 1) to answer 429 with a
  text body and ``Retry-After: 0``; ``fail(n)`` to answer 503; ``garble(n)`` a truncated body.

Every request is recorded in ``requests`` as (path, query dict).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.servers.loopback import LoopbackServer

MAX_LIMIT = 50


def _token(action: dict, position: int) -> str:
    """Midgard-like page token (opaque to clients): height * 1e9 plus a count that falls
    along the newest-first order, so tokens strictly decrease down the list."""
    return str(int(action.get("height", "0")) * 10**9 + (10**9 - 1 - position))


class MidgardServer(LoopbackServer):
    def __init__(
        self,
        actions: Iterable[dict],
        *,
        throttle: Callable[[int], bool] | None = None,
        fail: Callable[[int], bool] | None = None,
        garble: Callable[[int], bool] | None = None,
        port: int = 0,
    ):
        self.actions = sorted(
            (dict(a) for a in actions), key=lambda a: int(a.get("date", "0")), reverse=True
        )
        self.throttle = throttle or (lambda n: False)
        self.fail = fail or (lambda n: False)
        self.garble = garble or (lambda n: False)
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def handler(self):
        return _handler(self)

    # ------------------------------------------------------------------ data

    def select(self, query: dict) -> list[tuple[int, dict]]:
        rows = list(enumerate(self.actions))
        txid = query.get("txid")
        if txid:
            want = txid.upper()
            rows = [
                (i, a)
                for i, a in rows
                if any(
                    str(leg.get("txID", "")).upper() == want
                    for leg in (*a.get("in", ()), *a.get("out", ()))
                )
            ]
        address = query.get("address")
        if address:
            wanted = {x.strip().lower() for x in address.split(",")}
            rows = [
                (i, a)
                for i, a in rows
                if any(
                    str(leg.get("address", "")).lower() in wanted
                    for leg in (*a.get("in", ()), *a.get("out", ()))
                )
            ]
        kinds = query.get("type")
        if kinds:
            wanted = set(kinds.split(","))
            rows = [(i, a) for i, a in rows if a.get("type") in wanted]
        return rows

    def page(self, query: dict) -> tuple[int, bytes]:
        limit_text = query.get("limit", str(MAX_LIMIT))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return 400, f"limit must be between 1 and {MAX_LIMIT}\n".encode()
        limit = int(limit_text)
        rows = self.select(query)
        token = query.get("nextPageToken")
        if token is not None:
            if not token.isdigit():
                return 400, b"invalid nextPageToken\n"
            rows = [(i, a) for i, a in rows if int(_token(a, i)) < int(token)]
        chosen = rows[:limit]
        last = chosen[-1] if chosen else None
        first = chosen[0] if chosen else None
        meta = {
            "nextPageToken": _token(last[1], last[0]) if last else (token or ""),
            "prevPageToken": _token(first[1], first[0]) if first else (token or ""),
        }
        body = {"actions": [a for _, a in chosen], "count": str(len(rows)), "meta": meta}
        return 200, json.dumps(body).encode()


def _handler(server: MidgardServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes, kind: str, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            with server._lock:
                server.requests.append((parts.path, query))
                n = len(server.requests)
            if server.throttle(n):
                self._send(429, b"Too Many Requests\n", "text/plain", {"Retry-After": "0"})
                return
            if server.fail(n):
                self._send(503, b"service unavailable\n", "text/plain")
                return
            if parts.path != "/v2/actions":
                self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
                return
            status, body = server.page(query)
            if status != 200:
                self._send(status, body, "text/plain; charset=utf-8")
                return
            if server.garble(n):
                body = body[: len(body) // 2]
            self._send(200, body, "application/json")

    return Handler
