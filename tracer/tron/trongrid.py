"""TronGrid v1 source: TRC-20 and TRX transfers of Tron addresses (``--source trongrid``).

``TronGridSource(api_url=None, cache=None, rps=None, api_key=None, contracts=None, ...)``.

For each frontier address the API takes one address per request, so one round is one request
chain per address and endpoint (API_NOTES 4):

``GET /v1/accounts/{address}/transactions/trc20``
    TRC-20 transfers, ``limit`` ≤ 200, ``order_by=block_timestamp,asc``, ``only_confirmed``,
    ``max_timestamp`` (and ``min_timestamp`` for ``since``), ``contract_address`` when the source
    is limited to some tokens (``contracts=``). Rows carry no block number and no log index, so
    each token transaction's events are read once (``GET /v1/transactions/{id}/events``, stored
    like every response, shared by every address that sees the transaction) and each row is
    matched to its ``Transfer`` event (token, from, to, value, in order): the transfer then has
    the same identity (``txid:event_index``) and block as in a bulk export.
``GET /v1/accounts/{address}/transactions``
    TRX: ``TransferContract`` (``raw_data.contract[0].parameter.value``: ``amount`` in sun,
    ``owner_address``/``to_address`` in hex ``41...``) and TRX sent with a contract call
    (``TriggerSmartContract`` ``call_value``); ``ret[0].contractRet`` other than ``SUCCESS``
    marks a failed transaction (kept with ``success=False``). ``DelegateResourceContract`` (and
    the older ``FreezeBalanceContract`` with a receiver) become :class:`~tracer.tron.model.Delegation`
    records for the deposit signal (:meth:`TronGridSource.delegations`), not transfers.

Paging follows ``meta.fingerprint`` (or the ``fingerprint`` in ``meta.links.next``), re-sending
the same query with ``fingerprint=`` (the host in ``links.next`` is the provider's public one);
a repeated cursor is an error. Every response goes into the shared
:class:`~tracer.sources.http.ResponseStore` (``cache=``): a re-run is served from it, a killed
run resumes from the pages already stored. The time range is pinned when the source opens
(``until`` or the head block from ``/wallet/getnowblock``, stored), so a replay asks the same
questions.

The API key comes from ``TRONGRID_API_KEY`` (or ``api_key=``) and travels in the
``TRON-PRO-API-KEY`` header only: never in URLs, store keys, the fingerprint or messages.
Rate limits: 429 and 5xx are retried with backoff and jitter; the temporary ban (HTTP 403 "...
the query server is suspended for 30s") is waited out (the seconds are read from the message)
and retried; 401 (``{"Error": "ApiKey not exists"}``), 400 and other errors are one-line
:class:`~tracer.sources.base.SourceError`. The request budget (``rps=``) defaults to 10/s with a
key, 3/s without, none against a loopback server.

Also: :meth:`~TronGridSource.blacklist_events` (``/v1/contracts/{token}/events`` for
``AddedBlackList``, ``RemovedBlackList``, ``DestroyedBlackFunds``), :meth:`~TronGridSource.
is_blacklisted` (``/wallet/triggerconstantcontract`` ``isBlackListed(address)``) and
:meth:`~TronGridSource.account` (``/v1/accounts/{address}``: TRX and TRC-20 balances now).

Not covered: TRX moved by contracts (internal transactions) and TRC-10 tokens.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from tracer.addresses import InvalidAddress, tron_to_evm
from tracer.chains import get_chain
from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.sources.http import (
    Fail,
    HttpClient,
    LiveSource,
    ResponseStore,
    Retry,
    Secrets,
    canonical_json,
    one_line,
    parse_endpoint,
    retry_after,
    source_options,
    strip_secrets,
)
from tracer.tron import CHAIN, AddressBook, tx_id
from tracer.tron.model import BLACKLIST_EVENTS, BlacklistEvent, Delegation

DEFAULT_URL = "https://api.trongrid.io"
KEY_HEADER = "TRON-PRO-API-KEY"
KEY_ENV = "TRONGRID_API_KEY"
MAX_LIMIT = 200
BLOCK_MS = 3000  # one Tron block every 3 seconds
_BAN = re.compile(r"suspended for (\d+(?:\.\d+)?)\s*s", re.I)
_RATE = re.compile(r"frequency limit|rate limit|too many requests|exceeds the|suspended", re.I)
_FALLBACK_INDEX = 1_000_000


def _int(value, default: int | None = None) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return default
    try:
        return int(str(value), 16) if str(value)[:2] in ("0x", "0X") else int(str(value))
    except ValueError:
        return default


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return one_line(body[:200].decode("utf-8", "replace"), 160)
    if isinstance(data, dict):
        for key in ("error", "Error", "message"):
            if data.get(key):
                return one_line(data[key], 160)
    return one_line(str(data)[:200], 160)


def _next_fingerprint(meta) -> str | None:
    if not isinstance(meta, dict):
        return None
    fp = meta.get("fingerprint")
    if isinstance(fp, str) and fp:
        return fp
    nxt = (meta.get("links") or {}).get("next") if isinstance(meta.get("links"), dict) else None
    if isinstance(nxt, str) and nxt:
        found = parse_qs(urlsplit(nxt).query).get("fingerprint")
        if found and found[0]:
            return found[0]
    return None


class _TokenRow:
    __slots__ = ("tx", "token", "sender", "receiver", "value", "ts_ms", "decimals", "symbol")

    def __init__(self, tx, token, sender, receiver, value, ts_ms, decimals, symbol):
        self.tx, self.token, self.sender, self.receiver = tx, token, sender, receiver
        self.value, self.ts_ms, self.decimals, self.symbol = value, ts_ms, decimals, symbol

    @property
    def match_key(self) -> tuple:
        return (self.token, self.sender, self.receiver, self.value)


class TronGridSource(LiveSource):
    """Transfers of Tron addresses from a TronGrid-compatible v1 API."""

    name = "trongrid"

    def __init__(
        self,
        chain: str = CHAIN,
        *,
        api_url: str | None = None,
        cache=None,
        rps: float | None = None,
        api_key: str | None = None,
        contracts: Collection[str] | None = None,
        only_confirmed: bool = True,
        page_size: int = MAX_LIMIT,
        until: int | None = None,
        max_pages: int = 10_000,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ):
        if str(chain).lower() != CHAIN:
            raise SourceError(f"--source trongrid reads the tron chain, not {chain!r}")
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_LIMIT:
            raise SourceError(f"page_size must be between 1 and {MAX_LIMIT}")
        self.chain = CHAIN
        self.native_decimals = get_chain(CHAIN).native_decimals
        endpoint = parse_endpoint(api_url or DEFAULT_URL, "--api-url")
        if urlsplit(endpoint.url).query:
            raise SourceError("--api-url: give the TronGrid base URL without a query string")
        self._base = self._strip(endpoint.url)
        self.endpoint = self._strip(endpoint.public)
        self.source = f"trongrid:{endpoint.host}"
        key = api_key if api_key is not None else os.environ.get(KEY_ENV)
        self._key = key.strip() if key and key.strip() else None
        if self._key and not self._key.isprintable():
            raise SourceError(f"{KEY_ENV}: the API key holds non-printable characters")
        if rps is None and not endpoint.loopback:
            rps = 10.0 if self._key else 3.0
        self.store = ResponseStore(cache)
        self.http = HttpClient(
            f"trongrid ({self.endpoint})",
            endpoint,
            store=self.store,
            rps=rps,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            headers={KEY_HEADER: self._key} if self._key else None,
            secrets=Secrets([self._key]),
        )
        self.book = AddressBook()
        self.contracts = (
            tuple(sorted({self._address(c, "contract") for c in contracts})) if contracts else None
        )
        self.only_confirmed = bool(only_confirmed)
        self.page_size = page_size
        self.max_pages = int(max_pages)
        self.warnings: list[str] = []
        self.requests: Counter = Counter()
        self._raw: dict[tuple, tuple[list[_TokenRow], list, list[Delegation]]] = {}
        self._records: dict[tuple, list[Transfer]] = {}
        self._events: dict[str, list[dict]] = {}
        self._tokens: dict[str, tuple[str, int | None]] = {}
        self._anchor: tuple[int, int] | None = None  # (block, ms) seen, for estimates
        self.head_block: int | None = None
        self._open(until)

    @staticmethod
    def _strip(url: str) -> str:
        url = url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    def _address(self, text, what: str = "address") -> str:
        try:
            return self.book(text)
        except InvalidAddress as error:
            raise SourceError(f"trongrid: {what}: {error}") from None

    # ------------------------------------------------------------------ requests

    def _parse_v1(self, status: int, body: bytes, headers) -> dict:
        self._check_status(status, body, headers)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Retry("malformed body") from None
        if not isinstance(data, dict):
            raise Retry("malformed body")
        if data.get("success") is False:
            text = _error_text(body)
            if _RATE.search(text):
                raise Retry(text, self._ban_seconds(text))
            raise Fail(text)
        if not isinstance(data.get("data"), list):
            raise Retry("malformed body")
        return data

    def _parse_wallet(self, status: int, body: bytes, headers) -> dict:
        self._check_status(status, body, headers)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Retry("malformed body") from None
        if not isinstance(data, dict):
            raise Retry("malformed body")
        if data.get("Error"):
            text = one_line(data["Error"], 160)
            if _RATE.search(text):
                raise Retry(text, self._ban_seconds(text))
            raise Fail(text)
        return data

    def _check_status(self, status: int, body: bytes, headers) -> None:
        if status < 400:
            return
        text = _error_text(body)
        if status == 403 and _RATE.search(text):
            raise Retry(f"HTTP 403 ({text})", self._ban_seconds(text))
        if status in (408, 429) or status >= 500:
            raise Retry(f"HTTP {status}", retry_after(headers))
        if status == 401:
            raise Fail(f"HTTP 401: API key rejected ({text}); check {KEY_ENV}")
        raise Fail(f"HTTP {status}: {text}")

    @staticmethod
    def _ban_seconds(text: str) -> float:
        match = _BAN.search(text)
        return float(match.group(1)) if match else 30.0

    def _get(self, path: str, params: dict, what: str, kind: str) -> dict:
        query = {k: str(v) for k, v in params.items() if v is not None}
        key = {"api": "trongrid-v1", "url": self.endpoint + path, "params": strip_secrets(query)}
        self.requests[kind] += 1
        return self.http.fetch(
            "GET",
            self._base + path,
            key=key,
            parse=self._parse_v1,
            what=what,
            params=query,
        ).value

    def _post(self, path: str, payload: dict, what: str, kind: str) -> dict:
        key = {"api": "trongrid-wallet", "url": self.endpoint + path, "body": payload}
        self.requests[kind] += 1
        return self.http.fetch(
            "POST",
            self._base + path,
            key=key,
            parse=self._parse_wallet,
            what=what,
            data=canonical_json(payload),
            headers={"Content-Type": "application/json"},
        ).value

    def _pages(self, path: str, params: dict, what: str, kind: str) -> list[dict]:
        rows: list[dict] = []
        seen: set[str] = set()
        fingerprint = None
        for _ in range(self.max_pages):
            query = dict(params)
            if fingerprint:
                query["fingerprint"] = fingerprint
            page = self._get(path, query, what, kind)
            rows.extend(r for r in page["data"] if isinstance(r, dict))
            fingerprint = _next_fingerprint(page.get("meta"))
            if not fingerprint:
                return rows
            if fingerprint in seen:
                raise SourceError(f"trongrid ({self.endpoint}) {what}: the paging cursor repeats")
            seen.add(fingerprint)
        raise SourceError(
            f"trongrid ({self.endpoint}) {what}: more than {self.max_pages} pages; "
            "narrow the time window (--since/--until)"
        )

    def _open(self, until: int | None) -> None:
        if until is not None:
            if isinstance(until, bool) or not isinstance(until, int) or until < 0:
                raise SourceError(f"until must be epoch seconds, not {until!r}")
            self.max_ts = until * 1000 + 999
            return
        block = self._post("/wallet/getnowblock", {}, "getnowblock", "getnowblock")
        raw = ((block.get("block_header") or {}).get("raw_data")) or {}
        number, ts = _int(raw.get("number")), _int(raw.get("timestamp"))
        if number is None or ts is None:
            raise SourceError(f"trongrid ({self.endpoint}): no head block in the getnowblock reply")
        self.head_block, self.max_ts = number, ts
        self._anchor = (number, ts)

    # ------------------------------------------------------------------ public API

    def _window(self, since, until) -> dict:
        top = self.max_ts if until is None else min(self.max_ts, int(until) * 1000 + 999)
        params = {
            "limit": self.page_size,
            "order_by": "block_timestamp,asc",
            "max_timestamp": top,
        }
        if self.only_confirmed:
            params["only_confirmed"] = "true"
        if since is not None:
            params["min_timestamp"] = int(since) * 1000
        return params

    def _histories(self, frontier: list[str], since, until) -> dict[str, list[Transfer]]:
        """Every TRX and TRC-20 transfer of each address in [since, until], failed TRX transfers
        included (``success=False``), in chain order (for :meth:`LiveSource.transfers`)."""
        return {address: self._history(address, since, until) for address in frontier}

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Transfers per address, from the listed rows alone (no per-transaction lookups)."""
        out = {}
        for address in self._frontier(addresses):
            tokens, natives, _ = self._rows(address, since, until)
            out[address] = len(tokens) + len(natives)
        return out

    def delegations(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> list[Delegation]:
        """Resource delegations to or from ``addresses`` (from the same listing as TRX)."""
        found = {}
        for address in self._frontier(addresses):
            for d in self._rows(address, since, until)[2]:
                found[(d.tx_hash, d.from_address, d.to_address)] = d
        return sorted(found.values(), key=lambda d: (d.position, d.tx_hash))

    def blacklist_events(self, contract: str, until: int | None = None) -> list[BlacklistEvent]:
        """The token issuer's blacklist events up to ``until`` (all addresses, chain order)."""
        token = self._address(contract, "contract")
        params = self._window(None, until)
        out: list[BlacklistEvent] = []
        for event in BLACKLIST_EVENTS:
            rows = self._pages(
                f"/v1/contracts/{token}/events",
                {**params, "event_name": event},
                f"{event} events of {token}",
                "contract_events",
            )
            for row in rows:
                parsed = self._blacklist_row(token, event, row)
                if parsed is not None:
                    out.append(parsed)
        return sorted(set(out), key=lambda e: e.order)

    def is_blacklisted(self, contract: str, address: str) -> bool:
        """``isBlackListed(address)`` on the token now (a view call, stored like the rest)."""
        token = self._address(contract, "contract")
        who = self._address(address)
        word = "0" * 24 + tron_to_evm(who)[2:]
        reply = self._post(
            "/wallet/triggerconstantcontract",
            {
                "owner_address": who,
                "contract_address": token,
                "function_selector": "isBlackListed(address)",
                "parameter": word,
                "visible": True,
            },
            f"isBlackListed {who}",
            "triggerconstantcontract",
        )
        result = reply.get("result") if isinstance(reply.get("result"), dict) else {}
        values = reply.get("constant_result")
        if result.get("result") is not True or not isinstance(values, list) or not values:
            message = result.get("message") or result.get("code") or "no constant_result"
            raise SourceError(
                f"trongrid ({self.endpoint}) isBlackListed {who}: {one_line(message, 120)}"
            )
        return (_int("0x" + str(values[0]), 0) or 0) != 0

    def account(self, address: str) -> dict:
        """TRX balance (sun) and TRC-20 balances of an account now: ``{"balance", "trc20"}``."""
        who = self._address(address)
        page = self._get(f"/v1/accounts/{who}", {}, f"account {who}", "account")
        data = page["data"][0] if page["data"] and isinstance(page["data"][0], dict) else {}
        tokens: dict[str, int] = {}
        for entry in data.get("trc20") or []:
            if isinstance(entry, dict):
                for token, value in entry.items():
                    canon = self.book.get(token)
                    if canon is not None and _int(value) is not None:
                        tokens[canon] = _int(value)
        return {"address": who, "balance": _int(data.get("balance"), 0), "trc20": tokens}

    def stats(self) -> dict:
        return {
            "http_requests": self.http.sent,
            "from_store": self.store.hits,
            "retries": self.http.retried,
            "requests": dict(sorted(self.requests.items())),
        }

    def fingerprint(self) -> dict:
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "endpoint": self.endpoint,
            "api_key": "set" if self._key else "none",
            "head_block": self.head_block,
            "max_timestamp_ms": self.max_ts,
            "only_confirmed": self.only_confirmed,
            "contracts": list(self.contracts) if self.contracts else "all",
            "coverage": {
                "token": "TRC-20 Transfer events (transactions/trc20, events per transaction)",
                "native": "TRX TransferContract and call_value; not TRX moved by contracts",
            },
            "store": self.store.summary(),
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return f"TronGridSource({self.endpoint!r})"

    # ------------------------------------------------------------------ histories

    def _rows(self, address: str, since, until):
        """(token rows, native transfers, delegations) of one address, fetched once."""
        key = (address, since, until)
        if key not in self._raw:
            params = self._window(since, until)
            trc20: list[dict] = []
            path = f"/v1/accounts/{address}/transactions/trc20"
            for contract in self.contracts or (None,):
                query = dict(params)
                if contract:
                    query["contract_address"] = contract
                trc20.extend(self._pages(path, query, f"trc20 transfers of {address}", "trc20"))
            txs = self._pages(
                f"/v1/accounts/{address}/transactions",
                params,
                f"transactions of {address}",
                "transactions",
            )
            tokens = [r for r in (self._token_row(row) for row in trc20) if r is not None]
            natives, delegations = self._native(txs)
            self._raw[key] = (tokens, natives, delegations)
        return self._raw[key]

    def _token_row(self, row: dict) -> _TokenRow | None:
        if row.get("type", "Transfer") != "Transfer":
            return None  # Approval rows
        info = row.get("token_info") if isinstance(row.get("token_info"), dict) else {}
        tx = tx_id(row.get("transaction_id"))
        value, ts = _int(row.get("value")), _int(row.get("block_timestamp"))
        token = self.book.get(info.get("address"))
        sender, receiver = self.book.get(row.get("from")), self.book.get(row.get("to"))
        if len(tx) != 64 or None in (value, ts, token, sender, receiver):
            note = f"malformed trc20 row skipped (transaction {one_line(tx, 70) or '?'})"
            if note not in self.warnings:
                self.warnings.append(note)  # the fingerprint lists it: the gap is on record
            return None
        if self.contracts and token not in self.contracts:
            return None
        decimals = _int(info.get("decimals"))
        symbol = "".join(c for c in str(info.get("symbol") or "") if c.isprintable())[:32]
        if token not in self._tokens:
            self._tokens[token] = (symbol, decimals)
        return _TokenRow(tx, token, sender, receiver, value, ts, decimals, symbol)

    def _native(self, rows: list[dict]) -> tuple[list[Transfer], list[Delegation]]:
        natives: list[Transfer] = []
        delegations: list[Delegation] = []
        for row in rows:
            raw = row.get("raw_data") if isinstance(row.get("raw_data"), dict) else {}
            contracts = raw.get("contract") if isinstance(raw.get("contract"), list) else []
            block, ts = _int(row.get("blockNumber")), _int(row.get("block_timestamp"))
            tx = tx_id(row.get("txID"))
            if not contracts or block is None or ts is None or len(tx) != 64:
                continue  # unconfirmed or not a transaction row
            self._anchor = self._anchor or (block, ts)
            contract = contracts[0] if isinstance(contracts[0], dict) else {}
            kind = contract.get("type")
            value = (contract.get("parameter") or {}).get("value") or {}
            ret = row.get("ret") if isinstance(row.get("ret"), list) else []
            status = (ret[0] or {}).get("contractRet") if ret and isinstance(ret[0], dict) else None
            success = status in (None, "", "SUCCESS")
            owner = self.book.get(value.get("owner_address"))
            if kind == "TransferContract":
                to, amount = self.book.get(value.get("to_address")), _int(value.get("amount"), 0)
            elif kind == "TriggerSmartContract":
                to, amount = (
                    self.book.get(value.get("contract_address")),
                    _int(value.get("call_value"), 0),
                )
            elif kind in ("DelegateResourceContract", "FreezeBalanceContract"):
                receiver = self.book.get(value.get("receiver_address"))
                balance = _int(value.get("balance", value.get("frozen_balance")), 0)
                if owner and receiver and success:
                    delegations.append(
                        Delegation(
                            owner,
                            receiver,
                            str(value.get("resource") or "BANDWIDTH"),
                            balance,
                            tx,
                            block,
                            ts // 1000,
                            kind,
                        )
                    )
                continue
            else:
                continue
            if not owner or not to or amount <= 0:
                continue
            natives.append(
                Transfer(
                    chain=self.chain,
                    asset="native",
                    from_address=owner,
                    to_address=to,
                    amount=amount,
                    decimals=self.native_decimals,
                    tx_hash=tx,
                    log_index=None,
                    block_number=block,
                    timestamp=ts // 1000,
                    tx_index=0,
                    success=success,
                    source=self.source,
                    kind="native",
                )
            )
        return natives, delegations

    def _history(self, address: str, since, until) -> list[Transfer]:
        key = (address, since, until)
        if key not in self._records:
            tokens, natives, _ = self._rows(address, since, until)
            records = list(natives) + self._token_transfers(tokens)
            records = [
                t
                for t in records
                if (since is None or t.timestamp >= since)
                and (until is None or t.timestamp <= until)
            ]
            self._records[key] = sorted(records, key=lambda t: (t.position, t.transfer_id))
        return self._records[key]

    def _tx_events(self, tx: str) -> list[dict]:
        if tx not in self._events:
            params = {"only_confirmed": "true"} if self.only_confirmed else {}
            rows = self._pages(f"/v1/transactions/{tx}/events", params, f"events of {tx}", "events")
            events = []
            for ordinal, ev in enumerate(rows):
                if ev.get("event_name") != "Transfer":
                    continue
                result = ev.get("result") if isinstance(ev.get("result"), dict) else {}
                token = self.book.get(ev.get("contract_address"))
                sender = self.book.get(_pick(result, "from", "_from", "0"))
                receiver = self.book.get(_pick(result, "to", "_to", "1"))
                value = _int(_pick(result, "value", "_value", "2"))
                block = _int(ev.get("block_number"))
                if None in (token, sender, receiver, value, block):
                    continue
                events.append(
                    {
                        "key": (token, sender, receiver, value),
                        "index": _int(ev.get("event_index"), ordinal),
                        "block": block,
                        "ts": _int(ev.get("block_timestamp")),
                    }
                )
            self._events[tx] = events
        return self._events[tx]

    def _token_transfers(self, rows: list[_TokenRow]) -> list[Transfer]:
        by_tx: dict[str, list[_TokenRow]] = {}
        for row in rows:
            by_tx.setdefault(row.tx, []).append(row)
        out = []
        for tx, tx_rows in by_tx.items():
            events = self._tx_events(tx)
            used: set[int] = set()
            for ordinal, row in enumerate(tx_rows):
                match = next(
                    (e for e in events if e["key"] == row.match_key and e["index"] not in used),
                    None,
                )
                if match is not None:
                    used.add(match["index"])
                    index, block = match["index"], match["block"]
                    self._anchor = self._anchor or (block, match["ts"] or row.ts_ms)
                else:
                    index, block = _FALLBACK_INDEX + ordinal, self._estimate_block(tx, row.ts_ms)
                out.append(
                    Transfer(
                        chain=self.chain,
                        asset=row.token,
                        from_address=row.sender,
                        to_address=row.receiver,
                        amount=row.value,
                        decimals=row.decimals,
                        tx_hash=tx,
                        log_index=index,
                        block_number=block,
                        timestamp=row.ts_ms // 1000,
                        tx_index=0,
                        success=True,  # a Transfer event exists only in a successful call
                        source=self.source,
                        kind="token",
                    )
                )
        return out

    def _estimate_block(self, tx: str, ts_ms: int) -> int:
        note = (
            f"transaction {tx}: no matching Transfer event; block estimated from its time "
            "(3 s per block) and the transfer numbered after the transaction's events"
        )
        if self._anchor is None:
            raise SourceError(
                f"trongrid ({self.endpoint}): transaction {tx} has no matching Transfer event "
                "and no block is known to place it"
            )
        if note not in self.warnings:
            self.warnings.append(note)
        block, at = self._anchor
        return block + (ts_ms - at) // BLOCK_MS

    def _blacklist_row(self, token: str, event: str, row: dict) -> BlacklistEvent | None:
        if row.get("event_name", event) != event:
            return None
        result = row.get("result") if isinstance(row.get("result"), dict) else {}
        if event == "DestroyedBlackFunds":
            who = self.book.get(_pick(result, "_blackListedUser", "blackListedUser", "0"))
            amount = _int(_pick(result, "_balance", "balance", "1"))
        else:
            who = self.book.get(_pick(result, "_user", "user", "0"))
            amount = None
        block, ts = _int(row.get("block_number")), _int(row.get("block_timestamp"))
        tx = tx_id(row.get("transaction_id"))
        if who is None or block is None or ts is None or len(tx) != 64:
            return None
        return BlacklistEvent(
            token, event, who, tx, block, ts // 1000, _int(row.get("event_index"), 0), amount
        )


def _pick(mapping: dict, *names):
    for name in names:
        if mapping.get(name) not in (None, ""):
            return mapping[name]
    return None


def factory(chain: str, api_url=None, cache=None, rps=None, data=None, rpc_url=None, **options):
    """``open_source("trongrid", "tron", api_url=..., cache=..., rps=...)``."""
    from tracer.sources import _unused

    _unused("trongrid", {"data": data, "rpc_url": rpc_url})
    allowed = {
        "api_key",
        "contracts",
        "only_confirmed",
        "page_size",
        "until",
        "max_pages",
        "timeout",
        "retries",
        "backoff",
        "max_backoff",
    }
    options = source_options("trongrid", options, allowed)
    return TronGridSource(chain, api_url=api_url, cache=cache, rps=rps, **options)


__all__ = ["TronGridSource", "factory", "DEFAULT_URL", "KEY_HEADER", "KEY_ENV"]
