"""A loopback Etherscan API v2 server over a directory of ethereum-etl exports.

It answers what :mod:`tracer.sources.etherscan` asks, in the documented shapes (API_NOTES 1 and
8): ``account`` ``txlist`` / ``txlistinternal`` / ``tokentx`` (every scalar a string, ``sort``,
``startblock``/``endblock`` inclusive, 1-based ``page`` × ``offset`` ≤ 10,000 else the
result-window error with its text in ``message`` and ``result: null``, an optional per-request
row cap like the 2026 free tier), ``"No transactions found"`` with ``[]`` for empty results,
``proxy`` ``eth_blockNumber`` / ``eth_getTransactionReceipt`` (JSON-RPC shaped), ``block``
``getblocknobytime``, the ``chainid`` and API-key checks with their exact error strings, and all
errors as HTTP 200. ``tokentx`` rows carry no ``logIndex`` (as on Etherscan) unless
``log_index=True`` (Blockscout's clone adds it).

``fault_rate`` injects faults into that share of requests with a seeded RNG: the rate-limit reply
(HTTP 200, status 0, "Max rate limit reached"), the query-timeout reply, HTTP 500, HTTP 429, a
truncated body and a reply slower than the client's timeout. Requests are counted by action,
and every answered request's (secret-free) parameters are recorded.
"""

from __future__ import annotations

import csv
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
CHAINID_ERROR = (
    "Missing or unsupported chainid parameter (required for v2 api), please see "
    "https://api.etherscan.io/v2/chainlist for the list of supported chainids"
)
WINDOW_ERROR = (
    "Result window is too large, PageNo x Offset size must be less than or equal to 10000"
)
FAULTS = ("rate", "query_timeout", "500", "429", "truncate", "slow")


def _read_csv(directory: Path, table: str) -> list[dict]:
    path = directory / f"{table}.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


class ExplorerData:
    """Per-address rows in Etherscan's shapes, built from ethereum-etl exports."""

    def __init__(
        self,
        directory: str | Path | None = None,
        chain_id: int = 1,
        tables: dict[str, list[dict]] | None = None,
    ):
        """From a directory of exports, or from ``tables`` of the same rows (a node's chain read
        by :func:`servers.node_tables.node_tables`)."""

        def read(table: str) -> list[dict]:
            return tables.get(table, []) if tables is not None else _read_csv(directory, table)

        directory = Path(directory) if directory is not None else None
        self.chain_id = chain_id
        blocks = {int(b["number"]): b for b in read("blocks")}
        receipts = {r["transaction_hash"]: r for r in read("receipts")}
        tokens = {t["address"]: t for t in read("tokens")}
        transactions = {t["hash"]: t for t in read("transactions")}
        self.times = {n: int(b["timestamp"]) for n, b in blocks.items()}
        self.head = max(self.times) if self.times else 0
        self.txlist: dict[str, list[dict]] = defaultdict(list)
        self.internal: dict[str, list[dict]] = defaultdict(list)
        self.tokentx: dict[str, list[dict]] = defaultdict(list)
        self.receipts: dict[str, dict] = {}

        def when(tx: dict) -> str:
            return str(tx.get("block_timestamp") or self.times.get(int(tx["block_number"]), 0))

        failed = set()
        for h, tx in transactions.items():
            receipt = receipts.get(h, {})
            status = receipt.get("status", "1")
            if status == "0":
                failed.add(h)
            row = {
                "blockNumber": tx["block_number"],
                "timeStamp": when(tx),
                "hash": h,
                "nonce": tx.get("nonce", "0"),
                "blockHash": tx.get("block_hash", ""),
                "transactionIndex": tx["transaction_index"],
                "from": tx["from_address"],
                "to": tx.get("to_address") or "",
                "value": tx["value"],
                "gas": tx.get("gas", "0"),
                "gasPrice": tx.get("gas_price", "0"),
                "isError": "1" if status == "0" else "0",
                "txreceipt_status": status,
                "input": tx.get("input") or "0x",
                "contractAddress": receipt.get("contract_address") or "",
                "cumulativeGasUsed": receipt.get("cumulative_gas_used", "0"),
                "gasUsed": receipt.get("gas_used", "0"),
                "confirmations": str(self.head - int(tx["block_number"]) + 1),
                "methodId": (tx.get("input") or "0x")[:10],
                "functionName": "",
            }
            for party in {row["from"], row["to"], row["contractAddress"]} - {""}:
                self.txlist[party].append(row)
            self.receipts[h] = {
                "transactionHash": h,
                "transactionIndex": hex(int(tx["transaction_index"])),
                "blockHash": tx.get("block_hash", ""),
                "blockNumber": hex(int(tx["block_number"])),
                "from": tx["from_address"],
                "to": tx.get("to_address") or None,
                "status": "0x0" if status == "0" else "0x1",
                "contractAddress": receipt.get("contract_address") or None,
                "gasUsed": hex(int(receipt.get("gas_used") or 0)),
                "logs": [],
            }
        for trace in read("traces"):
            value = int(trace.get("value") or 0)
            kind, call_type = trace.get("trace_type"), trace.get("call_type")
            if not trace.get("trace_address") or value <= 0:
                continue
            if kind == "call" and call_type not in ("call", ""):
                continue
            if kind not in ("call", "create", "create2", "suicide", "selfdestruct"):
                continue
            h = trace["transaction_hash"]
            tx = transactions.get(h, {})
            error = trace.get("status") == "0" or bool(trace.get("error"))
            creates = kind in ("create", "create2")
            row = {
                "blockNumber": trace["block_number"],
                "timeStamp": when(tx) if tx else str(self.times.get(int(trace["block_number"]))),
                "hash": h,
                "from": trace["from_address"],
                "to": "" if creates else trace["to_address"],
                "value": str(value),
                "contractAddress": trace["to_address"] if creates else "",
                "input": "",
                "type": "create" if creates else "call",
                "gas": trace.get("gas") or "0",
                "gasUsed": trace.get("gas_used") or "0",
                "traceId": trace["trace_address"].replace(",", "_"),
                "isError": "1" if error else "0",
                "errCode": trace.get("error") or "",
            }
            for party in {trace["from_address"], trace["to_address"]} - {""}:
                self.internal[party].append(row)
        for transfer in read("token_transfers"):
            h = transfer["transaction_hash"]
            if h in failed:
                continue  # a failed transaction emits no logs on a real chain
            tx = transactions.get(h, {})
            token = tokens.get(transfer["token_address"], {})
            row = {
                "blockNumber": transfer["block_number"],
                "timeStamp": when(tx) if tx else str(self.times[int(transfer["block_number"])]),
                "hash": h,
                "nonce": tx.get("nonce", "0"),
                "blockHash": tx.get("block_hash", ""),
                "from": transfer["from_address"],
                "contractAddress": transfer["token_address"],
                "to": transfer["to_address"],
                "value": transfer["value"],
                "tokenName": token.get("name", ""),
                "tokenSymbol": token.get("symbol", ""),
                "tokenDecimal": token.get("decimals", ""),
                "transactionIndex": tx.get("transaction_index", "0"),
                "gas": tx.get("gas", "0"),
                "gasPrice": tx.get("gas_price", "0"),
                "gasUsed": "0",
                "cumulativeGasUsed": "0",
                "input": "deprecated",
                "confirmations": str(self.head - int(transfer["block_number"]) + 1),
                "_logIndex": transfer["log_index"],
            }
            for party in {transfer["from_address"], transfer["to_address"]}:
                self.tokentx[party].append(row)
            if h in self.receipts:
                self.receipts[h]["logs"].append(
                    {
                        "address": transfer["token_address"],
                        "topics": [
                            TRANSFER_TOPIC,
                            _topic(transfer["from_address"]),
                            _topic(transfer["to_address"]),
                        ],
                        "data": "0x" + format(int(transfer["value"]), "064x"),
                        "blockNumber": hex(int(transfer["block_number"])),
                        "transactionHash": h,
                        "transactionIndex": hex(int(tx.get("transaction_index", 0))),
                        "logIndex": hex(int(transfer["log_index"])),
                        "removed": False,
                    }
                )
        for table, key in (
            (self.txlist, lambda r: (int(r["blockNumber"]), int(r["transactionIndex"]))),
            (self.internal, lambda r: (int(r["blockNumber"]), r["hash"], r["traceId"])),
            (
                self.tokentx,
                lambda r: (int(r["blockNumber"]), int(r["transactionIndex"]), int(r["_logIndex"])),
            ),
        ):
            for rows in table.values():
                rows.sort(key=key)
        for receipt in self.receipts.values():
            receipt["logs"].sort(key=lambda log: int(log["logIndex"], 16))


class EtherscanServer:
    def __init__(
        self,
        data: ExplorerData,
        *,
        api_key: str | None = None,
        max_rows: int | None = None,
        log_index: bool = False,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        slow: float = 2.0,
    ):
        self.data = data
        self.api_key = api_key
        self.max_rows = max_rows
        self.log_index = log_index
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.faults = faults
        self.slow = slow
        self.lock = threading.Lock()
        self.requests = 0
        self.by_action: Counter = Counter()
        self.answered: list[tuple] = []  # secret-free params of every request answered normally
        self.injected: Counter = Counter()
        self.keys_seen: Counter = Counter()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                server._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/api"

    def stop(self) -> None:
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
    def _send(handler, status: int, body: bytes, declared: int | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body) if declared is None else declared))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            pass

    @staticmethod
    def _notok(text: str) -> dict:
        return {"status": "0", "message": "NOTOK", "result": text}

    def _handle(self, handler) -> None:
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self.lock:
            self.requests += 1
            self.by_action[params.get("action", "")] += 1
            self.keys_seen[params.get("apikey", "")] += 1
            fault = None
            if self.fault_rate and self.rng.random() < self.fault_rate:
                fault = self.rng.choice(self.faults)
            if fault:
                self.injected[fault] += 1
        if parts.path != "/v2/api":
            self._send(handler, 404, b"<html>Not Found</html>")
            return
        if fault == "rate":
            self._send(handler, 200, json.dumps(self._notok("Max rate limit reached")).encode())
            return
        if fault == "query_timeout":
            body = {
                "status": "0",
                "message": "Query Timeout occured. Please select a smaller result dataset",
                "result": None,
            }
            self._send(handler, 200, json.dumps(body).encode())
            return
        if fault == "500":
            self._send(handler, 500, b"<html>500 Internal Server Error</html>")
            return
        if fault == "429":
            self._send(handler, 429, b"Too Many Requests")
            return
        if fault == "slow":
            time.sleep(self.slow)
        reply = self._answer(params)
        body = json.dumps(reply).encode()
        if fault == "truncate":
            body = body[: max(1, len(body) // 2)]
        elif fault != "slow":
            with self.lock:
                self.answered.append(
                    tuple(sorted((k, v) for k, v in params.items() if k != "apikey"))
                )
        self._send(handler, 200, body)

    def _answer(self, params: dict) -> dict:
        if self.api_key is not None and params.get("apikey") != self.api_key:
            return self._notok("Invalid API Key")
        if params.get("chainid") != str(self.data.chain_id):
            return self._notok(CHAINID_ERROR)
        module, action = params.get("module"), params.get("action")
        if module == "proxy":
            if action == "eth_blockNumber":
                return {"jsonrpc": "2.0", "id": 83, "result": hex(self.data.head)}
            if action == "eth_getTransactionReceipt":
                receipt = self.data.receipts.get(str(params.get("txhash", "")).lower())
                return {"jsonrpc": "2.0", "id": 1, "result": receipt}
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "not found"}}
        if module == "block" and action == "getblocknobytime":
            ts = int(params.get("timestamp", "0"))
            before = [n for n, t in self.data.times.items() if t <= ts]
            if not before:
                return self._notok("Error! No closest block found")
            return {"status": "1", "message": "OK", "result": str(max(before))}
        if module != "account" or action not in ("txlist", "txlistinternal", "tokentx"):
            return self._notok("Error! Missing Or invalid Action name")
        address = str(params.get("address", "")).lower()
        if len(address) != 42 or not address.startswith("0x"):
            return self._notok("Error! Invalid address format")
        try:
            start = int(params.get("startblock", "0"))
            end = int(params.get("endblock", "99999999"))
            page = int(params.get("page", "1"))
            offset = int(params.get("offset", "10000"))
        except ValueError:
            return self._notok("Error! Invalid parameter")
        if page < 1 or offset < 1:
            return self._notok("Error! Invalid parameter")
        if page * offset > 10000:
            return {"status": "0", "message": WINDOW_ERROR, "result": None}
        table = {
            "txlist": self.data.txlist,
            "txlistinternal": self.data.internal,
            "tokentx": self.data.tokentx,
        }[action]
        rows = [r for r in table.get(address, []) if start <= int(r["blockNumber"]) <= end]
        if params.get("sort") == "desc":
            rows = rows[::-1]
        size = min(offset, self.max_rows) if self.max_rows else offset
        chosen = rows[(page - 1) * size : page * size]
        if not chosen:
            return {"status": "0", "message": "No transactions found", "result": []}
        out = []
        for row in chosen:
            row = dict(row)
            index = row.pop("_logIndex", None)
            if self.log_index and index is not None:
                row["logIndex"] = index
            out.append(row)
        return {"status": "1", "message": "OK", "result": out}
