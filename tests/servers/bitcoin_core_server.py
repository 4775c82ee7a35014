"""A loopback Bitcoin Core JSON-RPC server (test-only).

Two ways to feed it:

* ``fixtures=DIR``: bitcoin-etl's recorded responses, ``rpc_response_<method>_<params>.json``
  (e.g. ``rpc_response_getblock_<hash>_2.json``), served verbatim (their number text is kept,
  so BTC amounts arrive exactly as the node wrote them). A ``getblock <hash> 3`` without a
  ``_3`` file is answered with the ``_2`` one, like a node older than verbosity 3 (no prevouts).
* ``txs=[BtcTx, ...]``: blocks built from transactions (``getblockcount``, ``getblockhash``,
  ``getblockheader``, ``getblock <hash> 0-3`` with ``prevout`` at 3 when ``prevouts`` is true,
  ``getrawtransaction <txid> true`` when ``txindex`` is true).

Errors follow API_NOTES 3.4: -5 with the "-txindex" hint for an unknown transaction on a node
without txindex, ``Block not found``, -8 for a bad parameter; legacy style (HTTP 500 with the
error object) unless ``jsonrpc_2`` (HTTP 200). ``throttle(n)`` answers request ``n`` with 429.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.servers.loopback import LoopbackServer
from tracer.bitcoin.model import SATOSHI, BtcTx, core_json

TXINDEX_HINT = (
    "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain "
    "transaction queries. Use gettransaction for wallet transactions."
)
NOT_FOUND = "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."


def _dumps(value) -> str:
    """JSON with Decimal amounts written as plain numbers (exact, like bitcoind)."""
    marked = json.dumps(value, default=lambda d: f"@@{d}@@")
    return re.sub(r'"@@(-?[0-9.]+)@@"', r"\1", marked)


class CoreServer(LoopbackServer):
    def __init__(
        self,
        *,
        fixtures: str | Path | None = None,
        txs: Iterable[BtcTx] = (),
        txindex: bool = True,
        prevouts: bool = True,
        jsonrpc_2: bool = False,
        throttle: Callable[[int], bool] | None = None,
    ):
        self.fixtures = Path(fixtures) if fixtures else None
        self.txindex = txindex
        self.prevouts = prevouts
        self.jsonrpc_2 = jsonrpc_2
        self.throttle = throttle or (lambda n: False)
        self.calls: list[tuple[str, list]] = []
        self._lock = threading.Lock()
        self.txs = {t.txid: t for t in txs if t.confirmed}
        self.blocks: dict[int, list[BtcTx]] = {}
        for t in sorted(self.txs.values(), key=lambda t: (t.block_height, t.index or 0)):
            self.blocks.setdefault(t.block_height, []).append(t)
        self.hashes = {h: txs[0].block_hash for h, txs in self.blocks.items()}
        if self.blocks:  # empty blocks in between (and before): a chain without gaps
            first = min(self.blocks)
            t0 = self.blocks[first][0].block_time
            for h in range(first, max(self.blocks)):
                self.hashes.setdefault(h, f"{h:064x}")
            self._time = lambda h: (
                self.blocks[h][0].block_time if h in self.blocks else (t0 + (h - first) * 600)
            )
        self.heights = {v: k for k, v in self.hashes.items()}
        self.server: ThreadingHTTPServer | None = None

    def handler(self):
        return _handler(self)

    @property
    def url(self) -> str:  # with the RPC credentials the source must pass on
        assert self.server is not None
        return f"http://user:secretpassword@127.0.0.1:{self.server.server_address[1]}/"

    # ------------------------------------------------------------------ answers

    def answer(self, method: str, params: list) -> tuple[str | None, dict | None]:
        """(result JSON text, error object)."""
        if self.fixtures is not None:
            names = [f"rpc_response_{method}_" + "_".join(str(p) for p in params) + ".json"]
            if method == "getblock" and len(params) > 1 and params[1] == 3:
                names.append(f"rpc_response_getblock_{params[0]}_2.json")
            if method == "getrawtransaction":
                names.append(f"rpc_response_getrawtransaction_{params[0]}.json")
            for name in names:
                path = self.fixtures / name
                if path.is_file():
                    return path.read_text(encoding="utf-8"), None
            if method == "getrawtransaction":
                return None, {"code": -5, "message": TXINDEX_HINT}
            if method == "getblock":
                return None, {"code": -5, "message": "Block not found"}
            return None, {"code": -32601, "message": "Method not found"}
        if method == "getblockcount":
            return str(max(self.blocks, default=0)), None
        if method == "getblockhash":
            h = params[0] if params else None
            if not isinstance(h, int) or not 0 <= h <= max(self.blocks, default=-1):
                return None, {"code": -8, "message": "Block height out of range"}
            return json.dumps(self.hashes.get(h, f"{h:064x}")), None
        if method in ("getblockheader", "getblock"):
            key = params[0] if params else None
            height = self.heights.get(key)
            if height is None and isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key):
                height = int(key, 16) if int(key, 16) <= max(self.blocks, default=-1) else None
            if height is None:
                return None, {"code": -5, "message": "Block not found"}
            txs = self.blocks.get(height, [])
            header = {
                "hash": self.hashes.get(height, f"{height:064x}"),
                "height": height,
                "time": self._time(height),
                "mediantime": self._time(height),
                "nTx": len(txs),
            }
            if method == "getblockheader":
                return _dumps(header), None
            verbosity = params[1] if len(params) > 1 else 1
            if verbosity == 1:
                return _dumps({**header, "tx": [t.txid for t in txs]}), None
            body = []
            for t in txs:
                j = core_json(t)
                if verbosity >= 3 and self.prevouts:
                    for vin, i in zip(j["vin"][1 if t.coinbase else 0 :], t.inputs, strict=False):
                        spk = {"hex": "", "type": i.script_type or "nonstandard"}
                        if i.address:
                            spk["address"] = i.address
                        vin["prevout"] = {
                            "generated": False,
                            "height": height - 1,
                            "value": Decimal(i.value) / SATOSHI,
                            "scriptPubKey": spk,
                        }
                body.append(j)
            return _dumps({**header, "tx": body}), None
        if method == "getrawtransaction":
            tx = self.txs.get(params[0] if params else None)
            if tx is None or not self.txindex:
                return None, {
                    "code": -5,
                    "message": TXINDEX_HINT if not self.txindex else NOT_FOUND,
                }
            j = core_json(tx)
            j.update(blockhash=tx.block_hash, blocktime=tx.block_time, time=tx.block_time)
            return _dumps(j), None
        return None, {"code": -32601, "message": "Method not found"}


def _handler(server: CoreServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with server._lock:
                number = len(server.calls) + 1
            if server.throttle(number):
                with server._lock:
                    server.calls.append(("429", []))
                self._send(429, json.dumps({"error": "rate limited"}))
                return
            try:
                request = json.loads(body)
            except ValueError:
                self._send(
                    500,
                    json.dumps(
                        {
                            "result": None,
                            "error": {"code": -32700, "message": "Parse error"},
                            "id": None,
                        }
                    ),
                )
                return
            method, params = request.get("method", ""), request.get("params") or []
            with server._lock:
                server.calls.append((method, params))
            result, error = server.answer(method, params)
            rid = json.dumps(request.get("id"))
            if error is not None:
                status = 200 if server.jsonrpc_2 else (404 if error["code"] == -32601 else 500)
                self._send(status, f'{{"result": null, "error": {json.dumps(error)}, "id": {rid}}}')
            else:
                self._send(200, f'{{"result": {result}, "error": null, "id": {rid}}}')

    return Handler
