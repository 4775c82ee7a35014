"""A loopback Esplora (Blockstream electrs) REST server over a list of transactions (test-only).

Follows the shapes in API_NOTES section 2 and its loopback checklist (section 8):

* ``/address/:a/txs/chain[/:last_seen_txid]``: 25 confirmed transactions per page, newest first,
  starting after ``last_seen_txid``; a malformed cursor is ignored (the first page again, like
  electrs' ``Txid::from_hex(..).ok()``); an unknown one gives an empty page;
* ``/address/:a/txs``: up to 50 mempool transactions, then the first 25 confirmed;
  ``/address/:a/txs/mempool``, ``/address/:a/utxo``, ``/address/:a`` (chain and mempool stats);
* ``/tx/:txid``, ``/tx/:txid/status``, ``/tx/:txid/outspends``, ``/blocks/tip/height``;
* unconfirmed status is just ``{"confirmed": false}``; a coinbase input has ``"prevout": null``;
  ``witness`` and ``scriptpubkey_address`` are omitted when empty;
* errors are text/plain with ``Cache-Control``: 400 ``Invalid Bitcoin address`` / ``Invalid hex
  string``, 404 ``Transaction not found`` / ``endpoint does not exist "/path"``, 405;
* rate limiting: ``throttle(n)`` decides per request number ``n`` (from 1) whether to answer 429
  with blockstream.info's JSON ``message`` and no ``Retry-After``.

Every request is recorded in ``requests`` (path) so tests can check paging.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.servers.loopback import LoopbackServer
from tracer.addresses import is_valid
from tracer.bitcoin.model import BtcTx, TxOut, esplora_status, to_esplora

PAGE = 25
MEMPOOL = 50
RATE_LIMIT_BODY = {
    "message": "Blockstream Explorer API NOTICE: Your request rate exceeds the current limit. "
    "Please reduce your request rate or contact us for higher limits (loopback test server)."
}
_TXID = re.compile(r"^[0-9a-f]{64}$")


class EsploraServer(LoopbackServer):
    def __init__(
        self,
        txs: Iterable[BtcTx],
        *,
        throttle: Callable[[int], bool] | None = None,
        page_size: int = PAGE,
        port: int = 0,
    ):
        self.txs: dict[str, BtcTx] = {}
        self.outputs: dict[str, TxOut] = {}
        self.spends: dict[str, tuple[str, int]] = {}
        self.by_address: dict[str, list[BtcTx]] = defaultdict(list)
        self.page_size = page_size
        self.throttle = throttle or (lambda n: False)
        self.requests: list[str] = []
        self.rate_limited = 0
        self._lock = threading.Lock()
        for tx in txs:
            self.txs[tx.txid] = tx
            for o in tx.outputs:
                self.outputs[f"{tx.txid}:{o.index}"] = o
            for k, i in enumerate(tx.inputs):
                self.spends[i.outpoint] = (tx.txid, k)
            for a in sorted(tx.addresses()):
                self.by_address[a].append(tx)
        self._order = {t: n for n, t in enumerate(self.txs)}
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    path = "/api"

    def handler(self):
        return _handler(self)

    # ------------------------------------------------------------------ data

    def _json(self, tx: BtcTx) -> dict:
        return to_esplora(tx, self.outputs)

    def confirmed(self, address: str) -> list[BtcTx]:
        txs = [t for t in self.by_address.get(address, []) if t.confirmed]
        return sorted(
            txs, key=lambda t: (t.block_height, t.index or 0, self._order[t.txid]), reverse=True
        )

    def mempool(self, address: str) -> list[BtcTx]:
        return [t for t in self.by_address.get(address, []) if not t.confirmed][:MEMPOOL]

    def stats(self, address: str) -> dict:
        out = {}
        for name, txs in (
            ("chain_stats", self.confirmed(address)),
            ("mempool_stats", self.mempool(address)),
        ):
            funded = [o for t in txs for o in t.outputs if o.address == address]
            spent = [i for t in txs for i in t.inputs if i.address == address]
            out[name] = {
                "funded_txo_count": len(funded),
                "funded_txo_sum": sum(o.value for o in funded),
                "spent_txo_count": len(spent),
                "spent_txo_sum": sum(i.value or 0 for i in spent),
                "tx_count": len(txs),
            }
        return {"address": address, **out}

    def route(self, path: str) -> tuple[int, object, str]:
        """(status, body, content type) for a GET path under /api."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["api"]:
            return 404, f'endpoint does not exist "{path}"', "text/plain"
        parts = parts[1:]
        if parts == ["blocks", "tip", "height"]:
            tip = max((t.block_height for t in self.txs.values() if t.confirmed), default=0)
            return 200, str(tip), "text/plain"
        if len(parts) >= 2 and parts[0] == "tx":
            txid = parts[1]
            if not _TXID.match(txid):
                return 400, "Invalid hex string", "text/plain"
            tx = self.txs.get(txid)
            if tx is None:
                return 404, "Transaction not found", "text/plain"
            if len(parts) == 2:
                return 200, self._json(tx), "application/json"
            if parts[2:] == ["status"]:
                return 200, esplora_status(tx), "application/json"
            if parts[2:] == ["outspends"]:
                spends = []
                for o in tx.outputs:
                    hit = self.spends.get(f"{txid}:{o.index}")
                    if hit is None:
                        spends.append({"spent": False})
                    else:
                        spender = self.txs[hit[0]]
                        spends.append(
                            {
                                "spent": True,
                                "txid": hit[0],
                                "vin": hit[1],
                                "status": esplora_status(spender),
                            }
                        )
                return 200, spends, "application/json"
        if len(parts) >= 2 and parts[0] == "address":
            address = parts[1]
            if not is_valid("bitcoin", address):
                return 400, "Invalid Bitcoin address", "text/plain"
            rest = parts[2:]
            if not rest:
                return 200, self.stats(address), "application/json"
            if rest == ["txs"]:
                txs = self.mempool(address) + self.confirmed(address)[: self.page_size]
                return 200, [self._json(t) for t in txs], "application/json"
            if rest == ["txs", "mempool"]:
                return 200, [self._json(t) for t in self.mempool(address)], "application/json"
            if rest == ["utxo"]:
                utxos = []
                for t in self.confirmed(address) + self.mempool(address):
                    for o in t.outputs:
                        if o.address == address and f"{t.txid}:{o.index}" not in self.spends:
                            utxos.append(
                                {
                                    "txid": t.txid,
                                    "vout": o.index,
                                    "status": esplora_status(t),
                                    "value": o.value,
                                }
                            )
                return 200, utxos, "application/json"
            if rest[:2] == ["txs", "chain"] and len(rest) <= 3:
                txs = self.confirmed(address)
                if len(rest) == 3 and _TXID.match(rest[2]):
                    ids = [t.txid for t in txs]
                    txs = txs[ids.index(rest[2]) + 1 :] if rest[2] in ids else []
                page = txs[: self.page_size]
                return 200, [self._json(t) for t in page], "application/json"
        return 404, f'endpoint does not exist "{path}"', "text/plain"


def _handler(server: EsploraServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: object, kind: str, cache: bool = True) -> None:
            data = (
                json.dumps(body, separators=(",", ":")).encode()
                if kind == "application/json"
                else str(body).encode()
            )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if cache and status >= 400:
                self.send_header("Cache-Control", "public, max-age=10")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            with server._lock:
                server.requests.append(path)
                number = len(server.requests)
            if server.throttle(number):
                with server._lock:
                    server.rate_limited += 1
                self._send(429, RATE_LIMIT_BODY, "application/json", cache=False)
                return
            status, body, kind = server.route(path)
            self._send(status, body, kind)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._send(405, "Invalid method", "text/plain")

    return Handler
