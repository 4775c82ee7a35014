"""A loopback TronGrid server (v1 API and the few FullNode ``/wallet`` calls tracer uses) over a
directory of Tron exports (the layout :mod:`tracer.tron.bulk` reads). Test-only.

Shapes follow API_NOTES 4 and 8:

* ``GET /v1/accounts/{address}/transactions/trc20``: rows ``transaction_id``, ``token_info``
  (``symbol``, ``address``, ``decimals`` as an integer, ``name``), ``block_timestamp`` in ms,
  ``from``/``to`` in base58, ``type`` ``Transfer``, ``value`` a decimal string; no block number, no
  log index. Filters ``contract_address``, ``only_to``/``only_from``, ``min_timestamp``/
  ``max_timestamp`` (ms, inclusive), ``only_confirmed``, ``order_by=block_timestamp,asc|desc``
  (default desc), ``limit`` (default 20, at most 200), ``fingerprint``.
* ``GET /v1/accounts/{address}/transactions``: ``txID``, ``blockNumber``, ``block_timestamp``,
  ``ret[0].contractRet``, ``raw_data.contract[0]`` with ``TransferContract`` (``amount``,
  ``owner_address``, ``to_address`` in hex ``41...``), ``TriggerSmartContract`` (``data``,
  ``contract_address``, ``call_value``) or ``DelegateResourceContract`` (``receiver_address``,
  ``balance``, ``resource``), listed under the owner and the receiver.
* ``GET /v1/transactions/{id}/events`` and ``GET /v1/contracts/{address}/events`` (``event_name``,
  the time filters, paging): ``block_number``, ``event_index``, ``event_name``, ``result`` with the
  addresses as 20-byte ``0x...`` hex, as TronGrid serves TRC-20 logs.
* ``GET /v1/accounts/{address}``: ``balance`` (sun) and ``trc20`` balances, ``data: []`` for an
  account never seen.
* ``POST /wallet/getnowblock`` and ``POST /wallet/triggerconstantcontract``
  (``isBlackListed(address)`` on a token with blacklist events).
* Paging: while more rows remain, ``meta.fingerprint`` and ``meta.links.next`` (on
  ``links_host``, by default this server; TronGrid's own links name ``api.trongrid.io``); the last
  page's meta has neither. A fingerprint from another query is a 400.
* Errors: 400 ``{"success":false,"error":"A valid account address is required.",
  "statusCode":400}``; 401 ``{"Error":"ApiKey not exists"}`` for a wrong ``TRON-PRO-API-KEY``;
  over ``qps`` requests in one second the caller is banned for ``ban_seconds``: every request
  then gets 403 ``{"success":false,"error":"The key exceeds the frequency limit(15), and the query
  server is suspended for Ns","statusCode":403}``. ``fault_rate`` injects (seeded) 429, 500, 503,
  truncated bodies, slow replies and one-off bans; ``fail_after`` answers 503 to everything after
that many requests (a provider going away mid-trace).

``meta.at`` is a fixed clock (``now_ms``) so stored responses are byte-identical run to run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from tracer.addresses import InvalidAddress
from tracer.tron import canonical

FAULTS = ("429", "500", "503", "truncate", "slow", "ban")
TRANSFER_SIG = "Transfer(address indexed from, address indexed to, uint256 value)"
BLACKLIST_SIG = {
    "AddedBlackList": "AddedBlackList(address _user)",
    "RemovedBlackList": "RemovedBlackList(address _user)",
    "DestroyedBlackFunds": "DestroyedBlackFunds(address _blackListedUser, uint256 _balance)",
}
BAD_ADDRESS = {"success": False, "error": "A valid account address is required.", "statusCode": 400}
CONFIRMATIONS = 19


def _read(directory: Path, name: str) -> list[dict]:
    path = directory / f"{name}.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _hex41(address: str) -> str:
    import base58

    return base58.b58decode_check(address).hex()


def _evm(address: str) -> str:
    return "0x" + _hex41(address)[2:]


def _ms(value: str) -> int:
    number = int(value)
    return number if number >= 100_000_000_000 else number * 1000


class TronData:
    """Per-address TronGrid rows built from Tron exports."""

    def __init__(self, directory: str | Path):
        directory = Path(directory)
        self.tokens = {}
        for row in _read(directory, "tokens"):
            self.tokens[canonical(row["address"])] = {
                "symbol": row.get("symbol", ""),
                "address": canonical(row["address"]),
                "decimals": int(row.get("decimals") or 0),
                "name": row.get("name", ""),
            }
        self.trc20: dict[str, list[dict]] = defaultdict(list)
        self.txs: dict[str, list[dict]] = defaultdict(list)
        self.tx_events: dict[str, list[dict]] = defaultdict(list)
        self.contract_events: dict[str, list[dict]] = defaultdict(list)
        self.trx_balance: Counter = Counter()
        self.token_balance: dict[str, Counter] = defaultdict(Counter)
        self.known: set[str] = set()
        blocks = []
        for row in _read(directory, "transactions"):
            self._transaction(row)
            blocks.append((int(row["block_number"]), _ms(row["block_timestamp"])))
        for row in _read(directory, "token_transfers"):
            self._token_transfer(row)
            blocks.append((int(row["block_number"]), _ms(row["block_timestamp"])))
        for row in _read(directory, "blacklist_events"):
            self._blacklist(row)
        last_block, last_ms = max(blocks) if blocks else (0, 0)
        self.head = last_block + 100
        self.head_ms = last_ms + 100 * 3000
        for table in (self.trc20, self.txs):
            for rows in table.values():
                rows.sort(key=lambda r: (r["block_timestamp"], r["_order"]))
        for table in (self.tx_events, self.contract_events):
            for rows in table.values():
                rows.sort(key=lambda r: (r["block_timestamp"], r["block_number"], r["_order"]))

    def _transaction(self, row: dict) -> None:
        h, block, ms = row["hash"], int(row["block_number"]), _ms(row["block_timestamp"])
        owner, to = canonical(row["from_address"]), canonical(row["to_address"])
        value, ctype = int(row["value"] or 0), row.get("contract_type") or "TransferContract"
        ret = row.get("contract_ret") or "SUCCESS"
        if ctype == "TransferContract":
            body = {"amount": value, "owner_address": _hex41(owner), "to_address": _hex41(to)}
        elif ctype == "TriggerSmartContract":
            body = {
                "data": "a9059cbb" + "0" * 128,
                "owner_address": _hex41(owner),
                "contract_address": _hex41(to),
            }
            if value:
                body["call_value"] = value
        elif ctype == "DelegateResourceContract":
            body = {
                "owner_address": _hex41(owner),
                "receiver_address": _hex41(to),
                "balance": value,
            }
            if (row.get("resource") or "BANDWIDTH") != "BANDWIDTH":
                body["resource"] = row["resource"]
        else:
            return
        item = {
            "ret": [{"contractRet": ret, "fee": 0}],
            "signature": [hashlib.sha256(("sig" + h).encode()).hexdigest() * 2 + "1b"],
            "txID": h,
            "net_usage": 268,
            "raw_data_hex": "0a02" + h[:60],
            "net_fee": 0,
            "energy_usage": 0,
            "blockNumber": block,
            "block_timestamp": ms,
            "energy_fee": 0,
            "energy_usage_total": 0,
            "raw_data": {
                "contract": [
                    {
                        "parameter": {
                            "value": body,
                            "type_url": f"type.googleapis.com/protocol.{ctype}",
                        },
                        "type": ctype,
                    }
                ],
                "ref_block_bytes": h[:4],
                "ref_block_hash": h[4:20],
                "expiration": ms + 60_000,
                "timestamp": ms - 1_500,
            },
            "internal_transactions": [],
            "_order": (block, h),
        }
        for party in {owner, to}:
            self.txs[party].append(item)
            self.known.add(party)
        if ret == "SUCCESS" and ctype in ("TransferContract", "TriggerSmartContract") and value:
            self.trx_balance[owner] -= value
            self.trx_balance[to] += value

    def _token_transfer(self, row: dict) -> None:
        h, block, ms = (
            row["transaction_hash"],
            int(row["block_number"]),
            _ms(row["block_timestamp"]),
        )
        token = canonical(row["token_address"])
        sender, receiver = canonical(row["from_address"]), canonical(row["to_address"])
        value, index = int(row["value"]), int(row["log_index"])
        info = self.tokens.get(token, {"symbol": "", "address": token, "decimals": 0, "name": ""})
        item = {
            "transaction_id": h,
            "token_info": dict(info),
            "block_timestamp": ms,
            "from": sender,
            "to": receiver,
            "type": "Transfer",
            "value": str(value),
            "_order": (block, h, index),
        }
        for party in {sender, receiver}:
            self.trc20[party].append(item)
            self.known.add(party)
        self.token_balance[sender][token] -= value
        self.token_balance[receiver][token] += value
        event = {
            "block_number": block,
            "block_timestamp": ms,
            "caller_contract_address": token,
            "contract_address": token,
            "event_index": index,
            "event_name": "Transfer",
            "result": {
                "0": _evm(sender),
                "1": _evm(receiver),
                "2": str(value),
                "from": _evm(sender),
                "to": _evm(receiver),
                "value": str(value),
            },
            "result_type": {"from": "address", "to": "address", "value": "uint256"},
            "event": TRANSFER_SIG,
            "transaction_id": h,
            "_order": (index,),
        }
        self.tx_events[h].append(event)
        self.contract_events[token].append(event)

    def _blacklist(self, row: dict) -> None:
        token, name = canonical(row["contract_address"]), row["event_name"]
        who, h = canonical(row["address"]), row["transaction_hash"]
        index = int(row.get("event_index") or 0)
        if name == "DestroyedBlackFunds":
            amount = str(row.get("amount") or "0")
            result = {
                "0": _evm(who),
                "1": amount,
                "_blackListedUser": _evm(who),
                "_balance": amount,
            }
            types = {"_blackListedUser": "address", "_balance": "uint256"}
        else:
            result = {"0": _evm(who), "_user": _evm(who)}
            types = {"_user": "address"}
        event = {
            "block_number": int(row["block_number"]),
            "block_timestamp": _ms(row["block_timestamp"]),
            "caller_contract_address": token,
            "contract_address": token,
            "event_index": index,
            "event_name": name,
            "result": result,
            "result_type": types,
            "event": BLACKLIST_SIG.get(name, name),
            "transaction_id": h,
            "_order": (index,),
        }
        self.tx_events[h].append(event)
        self.contract_events[token].append(event)

    def blacklisted(self, token: str, who: str) -> bool:
        state = False
        for e in self.contract_events.get(token, []):
            if e["event_name"] in ("AddedBlackList", "RemovedBlackList"):
                if canonical(e["result"]["_user"]) == who:
                    state = e["event_name"] == "AddedBlackList"
        return state


class TronGridServer:
    def __init__(
        self,
        data: TronData,
        *,
        api_key: str | None = None,
        require_key: bool = False,
        qps: float | None = None,
        ban_seconds: int = 30,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        slow: float = 2.0,
        links_host: str | None = None,
        now_ms: int | None = None,
        fail_after: int | None = None,
        port: int = 0,
    ):
        self.data = data
        self.api_key = api_key
        self.require_key = require_key
        self.qps = qps
        self.ban_seconds = ban_seconds
        self.fault_rate = fault_rate
        self.faults = faults
        self.rng = random.Random(seed)
        self.slow = slow
        self.links_host = links_host
        self.now_ms = now_ms if now_ms is not None else data.head_ms + 60_000
        self.fail_after = fail_after  # answer 503 to every request after this many (a crash)
        self.port = port  # 0: any free port; a fixed one to play "the same provider" again
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.by_kind: Counter = Counter()
        self.injected: Counter = Counter()
        self.keys_seen: Counter = Counter()
        self.bans = 0
        self.banned_replies = 0
        self._recent: list[float] = []
        self._banned_until = 0.0
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
                server._handle(self, None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                server._handle(self, self.rfile.read(length) if length else b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _send(handler, status: int, body: bytes, declared: int | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(body) if declared is None else declared))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            pass

    def _ban_body(self) -> bytes:
        return json.dumps(
            {
                "success": False,
                "error": "The key exceeds the frequency limit(15), and the query server is "
                f"suspended for {self.ban_seconds}s",
                "statusCode": 403,
            }
        ).encode()

    def _handle(self, handler, body: bytes | None) -> None:
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        key = handler.headers.get("TRON-PRO-API-KEY")
        now = time.monotonic()
        with self.lock:
            self.requests.append(
                {"method": handler.command, "path": parts.path, "query": query, "raw": handler.path}
            )
            self.keys_seen[key or ""] += 1
            fault = None
            if self.fault_rate and self.rng.random() < self.fault_rate:
                fault = self.rng.choice(self.faults)
                self.injected[fault] += 1
            if self.fail_after is not None and len(self.requests) > self.fail_after:
                fault = "503"
            banned = now < self._banned_until
            if not banned and self.qps:
                self._recent = [t for t in self._recent if now - t < 1.0] + [now]
                if len(self._recent) > self.qps:
                    self._banned_until = now + self.ban_seconds
                    self.bans += 1
                    banned = True
            if banned:
                self.banned_replies += 1
        if self.api_key is not None and (key is not None or self.require_key):
            if key != self.api_key:
                self._send(handler, 401, json.dumps({"Error": "ApiKey not exists"}).encode())
                return
        if banned or fault == "ban":
            self._send(handler, 403, self._ban_body())
            return
        if fault in ("429", "500", "503"):
            status = int(fault)
            text = {
                429: "Too Many Requests",
                500: "Internal Server Error",
                503: "Service Unavailable",
            }
            self._send(handler, status, f"<html><body>{text[status]}</body></html>".encode())
            return
        if fault == "slow":
            time.sleep(self.slow)
        status, reply = self._answer(handler.command, parts.path, query, body)
        payload = json.dumps(reply, separators=(",", ":")).encode()
        if fault == "truncate":
            payload = payload[: max(1, len(payload) // 2)]
        self._send(handler, status, payload)

    # ------------------------------------------------------------------ answers

    def _meta(self, size: int, fingerprint: str | None, path: str, query: dict) -> dict:
        meta = {"at": self.now_ms, "page_size": size}
        if fingerprint:
            meta["fingerprint"] = fingerprint
            nxt = {k: v for k, v in query.items() if k != "fingerprint"}
            nxt["fingerprint"] = fingerprint
            host = self.links_host or self.url
            meta["links"] = {"next": f"{host}{path}?{urlencode(nxt)}"}
        return meta

    @staticmethod
    def _query_tag(path: str, query: dict) -> str:
        fixed = sorted((k, v) for k, v in query.items() if k not in ("fingerprint",))
        return hashlib.sha256(json.dumps([path, fixed]).encode()).hexdigest()[:12]

    def _page(self, path: str, query: dict, rows: list[dict], kind: str) -> tuple[int, dict]:
        try:
            limit = min(200, max(1, int(query.get("limit", "20"))))
        except ValueError:
            limit = 20
        offset = 0
        if query.get("fingerprint"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["fingerprint"] + "=="))
                if token["q"] != self._query_tag(path, query):
                    raise ValueError
                offset = int(token["o"])
            except (ValueError, KeyError, TypeError):
                return 400, {"success": False, "error": "Invalid fingerprint", "statusCode": 400}
        chosen = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        fingerprint = None
        if more:
            raw = json.dumps({"o": offset + limit, "q": self._query_tag(path, query)}).encode()
            fingerprint = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        with self.lock:
            self.by_kind[kind] += 1
        data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in chosen]
        return 200, {
            "data": data,
            "success": True,
            "meta": self._meta(len(data), fingerprint, path, query),
        }

    def _window(self, rows: list[dict], query: dict, ts_key: str = "block_timestamp") -> list[dict]:
        low = int(query.get("min_timestamp") or query.get("min_block_timestamp") or 0)
        high = query.get("max_timestamp") or query.get("max_block_timestamp")
        high = int(high) if high else None
        confirmed = self.data.head - CONFIRMATIONS
        out = []
        for r in rows:
            block = r.get("blockNumber", r.get("block_number", r["_order"][0]))
            if query.get("only_confirmed") == "true" and block > confirmed:
                continue
            if r[ts_key] < low or (high is not None and r[ts_key] > high):
                continue
            out.append(r)
        if query.get("order_by", "block_timestamp,desc").endswith(",desc"):
            out = out[::-1]
        return out

    def _address(self, text: str) -> str | None:
        try:
            return canonical(text)
        except InvalidAddress:
            return None

    def _answer(self, method: str, path: str, query: dict, body: bytes | None):
        parts = [p for p in path.split("/") if p]
        if method == "POST" or path.startswith("/wallet/"):
            return self._wallet(path, body)
        if len(parts) >= 3 and parts[:2] == ["v1", "accounts"]:
            who = self._address(parts[2])
            if who is None:
                return 400, BAD_ADDRESS
            if len(parts) == 3:
                return self._account(who)
            if parts[3:] == ["transactions", "trc20"]:
                rows = self.data.trc20.get(who, [])
                token = query.get("contract_address")
                if token:
                    token = self._address(token)
                    rows = [r for r in rows if r["token_info"]["address"] == token]
                if query.get("only_to") == "true":
                    rows = [r for r in rows if r["to"] == who]
                if query.get("only_from") == "true":
                    rows = [r for r in rows if r["from"] == who]
                return self._page(path, query, self._window(rows, query), "trc20")
            if parts[3:] == ["transactions"]:
                rows = self.data.txs.get(who, [])
                return self._page(path, query, self._window(rows, query), "transactions")
        if len(parts) == 4 and parts[:2] == ["v1", "transactions"] and parts[3] == "events":
            rows = self.data.tx_events.get(parts[2].lower().removeprefix("0x"), [])
            return self._page(path, {**query, "limit": "200"}, rows, "tx_events")
        if len(parts) == 4 and parts[:2] == ["v1", "contracts"] and parts[3] == "events":
            token = self._address(parts[2])
            if token is None:
                return 400, {
                    "success": False,
                    "error": "Invalid contract address",
                    "statusCode": 400,
                }
            rows = self.data.contract_events.get(token, [])
            if query.get("event_name"):
                rows = [r for r in rows if r["event_name"] == query["event_name"]]
            return self._page(path, query, self._window(rows, query), "contract_events")
        return 404, {"success": False, "error": "Not Found", "statusCode": 404}

    def _account(self, who: str):
        if who not in self.data.known:
            return 200, {"data": [], "success": True, "meta": {"at": self.now_ms, "page_size": 0}}
        tokens = [
            {token: str(value)}
            for token, value in sorted(self.data.token_balance[who].items())
            if value > 0
        ]
        account = {
            "address": _hex41(who),
            "balance": max(0, self.data.trx_balance[who]),
            "create_time": self.now_ms - 86_400_000,
            "trc20": tokens,
            "account_resource": {},
        }
        with self.lock:
            self.by_kind["account"] += 1
        return 200, {
            "data": [account],
            "success": True,
            "meta": {"at": self.now_ms, "page_size": 1},
        }

    def _wallet(self, path: str, body: bytes | None):
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 200, {"Error": "invalid json request"}
        with self.lock:
            self.by_kind[path] += 1
        if path == "/wallet/getnowblock":
            return 200, {
                "blockID": format(self.data.head, "016x") + "0" * 48,
                "block_header": {
                    "raw_data": {
                        "number": self.data.head,
                        "txTrieRoot": "0" * 64,
                        "witness_address": "41" + "0" * 40,
                        "parentHash": format(self.data.head - 1, "016x") + "0" * 48,
                        "version": 26,
                        "timestamp": self.data.head_ms,
                    },
                    "witness_signature": "00",
                },
            }
        if path == "/wallet/triggerconstantcontract":
            token = self._address(str(payload.get("contract_address", "")))
            selector = payload.get("function_selector")
            word = str(payload.get("parameter", ""))
            if token is None or selector != "isBlackListed(address)" or len(word) != 64:
                return 200, {
                    "result": {
                        "code": "CONTRACT_VALIDATE_ERROR",
                        "message": "Smart contract is not exist or selector unknown",
                    }
                }
            who = self._address("0x" + word[24:])
            listed = who is not None and self.data.blacklisted(token, who)
            return 200, {
                "result": {"result": True},
                "energy_used": 583,
                "constant_result": [format(1 if listed else 0, "064x")],
                "transaction": {"ret": [{}], "visible": True, "txID": "0" * 64},
            }
        return 404, {"Error": f"{path} not served here"}
