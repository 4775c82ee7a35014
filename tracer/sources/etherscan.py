"""Etherscan API v2 source: one endpoint for every EVM chain Etherscan covers (``chainid``).

``EtherscanSource(chain="ethereum", api_url=None, cache=None, rps=None, api_key=None, ...)``.

For each frontier address (the API takes one address per request) and each action
(``txlist`` top-level transactions, ``txlistinternal`` internal transfers, ``tokentx`` ERC-20
transfers), rows are read with ``sort=asc`` in pages of ``page_size`` rows. Etherscan refuses
``page × offset > 10,000``, so after a full window of pages the next window starts at the last
block seen (not +1: a page can end inside a block), and the rows of that boundary block already
taken are dropped and read again whole (no content de-duplication, which would merge genuinely
repeated transfers). A window that ends in the block it started from cannot be paged past: a
one-line error says so.

Replies are HTTP 200 with ``status``/``message``/``result`` (API_NOTES 1.4): ``"No transactions
found"`` is an empty result; rate-limit replies (``"Max rate limit reached"``), query timeouts,
429, 5xx, dropped connections and malformed bodies are retried with exponential backoff and jitter
(bounded, then a one-line :class:`SourceError`); anything else (invalid key, unsupported chain,
free plan not covering the chain) is a one-line SourceError.

``tokentx`` rows carry no log index on Etherscan (Blockscout adds ``logIndex``; it is used when
present), and ``txlistinternal`` rows no transaction index. Both are needed for the transfer's
identity and chain order, so the receipt of each such transaction is read once through the API's
``proxy`` module (``eth_getTransactionReceipt``; stored like every response) and each token row is
matched to its ``Transfer`` log (token, from, to, value, in order). The receipt status also marks
internal transfers of failed transactions.

The API key comes from ``ETHERSCAN_API_KEY`` (or ``api_key=``) and is sent with each request
only: it is stripped from store keys, the fingerprint, error messages and logs. The request
budget defaults to 3 requests/s (Etherscan's free tier; ``rps=`` for paid plans), none against a
loopback server. The block range is pinned when the source opens (``to_block`` or the chain head
from ``proxy eth_blockNumber``, stored), and ``until`` maps to a block with ``getblocknobytime``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter

from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.sources.evm_logs import decode_transfer_log
from tracer.sources.http import (
    Fail,
    HttpClient,
    LiveSource,
    ResponseStore,
    Retry,
    Secrets,
    one_line,
    parse_endpoint,
    retry_after,
    source_options,
    strip_secrets,
)

DEFAULT_URL = "https://api.etherscan.io/v2/api"
ACTIONS = ("txlist", "txlistinternal", "tokentx")
_RATE = re.compile(
    r"rate limit|max calls|too many|please try again|busy|query timeout|timeout occured|"
    r"unexpected error|temporarily",
    re.I,
)
_EMPTY = ("No transactions found", "No records found", "No token transfers found")
_WINDOW = "Result window is too large"
_HIGH_BLOCK = 99_999_999


class _WindowFull(Exception):
    pass


def _num(value, default: int = 0) -> int:
    if value is None or value == "":
        return default
    text = str(value)
    try:
        return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
    except ValueError:
        return default


class EtherscanSource(LiveSource):
    """Transfers from an Etherscan-compatible v2 API, one request per address and action."""

    name = "etherscan"

    def __init__(
        self,
        chain: str = "ethereum",
        *,
        api_url: str | None = None,
        cache=None,
        rps: float | None = None,
        api_key: str | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        page_size: int = 1000,
        window: int = 10_000,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 1.0,
        node_chain_id: int | None = None,
    ):
        self._evm_chain("etherscan", chain, node_chain_id)  # node id: the ``chainid`` to ask for
        if not isinstance(page_size, int) or not 1 <= page_size <= window:
            raise SourceError(f"page_size must be between 1 and {window}")
        endpoint = parse_endpoint(api_url or DEFAULT_URL, "--api-url")
        self.endpoint = endpoint.public
        self.source = f"etherscan:{endpoint.host}"
        key = api_key if api_key is not None else os.environ.get("ETHERSCAN_API_KEY")
        self._key = key.strip() if key and key.strip() else None
        secrets = Secrets([self._key])
        if rps is None and not endpoint.loopback:
            rps = 3.0  # Etherscan free tier; paid plans: --rps 5..30
        self.store = ResponseStore(cache)
        self.http = HttpClient(
            f"etherscan ({endpoint.public})",
            endpoint,
            store=self.store,
            rps=rps,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            secrets=secrets,
        )
        self.page_size = page_size
        self.max_pages = max(1, window // page_size)
        self.warnings: list[str] = []
        self.actions: Counter = Counter()
        self._memo: dict[tuple[int, int, int | None], dict[str, list[Transfer]]] = {}
        self._receipts: dict[str, dict] = {}
        self._tokens: dict[str, tuple[str, int | None]] = {}
        self._until_block: dict[int, int] = {}
        self._open(from_block, to_block)

    # ------------------------------------------------------------------ requests

    def _get(self, params: dict, what: str):
        query = {"chainid": str(self.node_chain_id), **{k: str(v) for k, v in params.items()}}
        key = {"api": "etherscan-v2", "url": self.endpoint, "params": strip_secrets(query)}
        if self._key:
            query["apikey"] = self._key
        self.actions[params.get("action", "?")] += 1
        proxy = params.get("module") == "proxy"
        fetched = self.http.fetch(
            "GET",
            self.http.endpoint.url,
            key=key,
            parse=lambda s, b, h: self._parse(s, b, h, proxy),
            what=what,
            params=query,
        )
        return fetched.value

    @staticmethod
    def _parse(status: int, body: bytes, headers, proxy: bool):
        if status == 429 or status >= 500 or status == 408:
            raise Retry(f"HTTP {status}", retry_after(headers))
        if status >= 400:
            raise Fail(f"HTTP {status}")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Retry("malformed body") from None
        if not isinstance(data, dict):
            raise Retry("malformed body")
        if proxy and ("jsonrpc" in data or "error" in data) and "status" not in data:
            if isinstance(data.get("error"), dict):
                message = str(data["error"].get("message", ""))
                if _RATE.search(message):
                    raise Retry(one_line(message, 120))
                raise Fail(one_line(message))
            if "result" not in data:
                raise Retry("malformed body")
            return data["result"]
        if "result" not in data or "message" not in data and "status" not in data:
            raise Retry("malformed body")
        flag = str(data.get("status", ""))
        message = str(data.get("message", ""))
        result = data.get("result")
        if flag == "1":
            if result is None:
                raise Retry("malformed body")
            return result  # rows for account actions, a string for block lookups
        if message.startswith(_EMPTY) or (isinstance(result, str) and result.startswith(_EMPTY)):
            return []
        text = " ".join(x for x in (message, result if isinstance(result, str) else "") if x)
        if _WINDOW.lower() in text.lower():
            return {"window_full": True}
        if _RATE.search(text):
            after = 30.0 if "invalid api key attempts" in text.lower() else None
            raise Retry(one_line(text, 120), after)
        if flag == "0" and isinstance(result, list) and message.upper() == "OK":
            return result
        raise Fail(one_line(text or "status 0"))

    def _open(self, from_block, to_block) -> None:
        start = 0 if from_block is None else _num(from_block, -1)
        if to_block is None:
            head = self._get({"module": "proxy", "action": "eth_blockNumber"}, "eth_blockNumber")
            end = _num(head, -1)
            if end < 0:
                raise SourceError(f"etherscan ({self.endpoint}): no chain head in the reply")
        else:
            end = _num(to_block, -1)
        if start < 0 or end < 0:
            raise SourceError("from_block/to_block must be non-negative block numbers")
        if start > end:
            raise SourceError(f"from_block {start} is after to_block {end}")
        self.from_block, self.to_block = start, end

    # ------------------------------------------------------------------ public API

    def stats(self) -> dict:
        return {
            "http_requests": self.http.sent,
            "from_store": self.store.hits,
            "retries": self.http.retried,
            "actions": dict(sorted(self.actions.items())),
        }

    def fingerprint(self) -> dict:
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            **self._chain_ids(),
            "endpoint": self.endpoint,
            "api_key": "set" if self._key else "none",
            "blocks": {"from": self.from_block, "to": self.to_block},
            "actions": list(ACTIONS),
            "coverage": {
                "token": "complete (tokentx)",
                "native": "complete (txlist and txlistinternal)",
            },
            "store": self.store.summary(),
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return f"EtherscanSource({self.endpoint!r}, chain={self.chain!r})"

    # ------------------------------------------------------------------ histories

    def _block_before(self, until: int) -> int:
        if until not in self._until_block:
            result = self._get(
                {
                    "module": "block",
                    "action": "getblocknobytime",
                    "timestamp": int(until),
                    "closest": "before",
                },
                "getblocknobytime",
            )
            block = _num(result, -1) if not isinstance(result, list) else -1
            if block < 0:
                block = self.from_block - 1  # before the chain: nothing in range
            self._until_block[until] = block
        return self._until_block[until]

    def _histories(self, frontier, since, until) -> dict[str, list[Transfer]]:
        end = self.to_block if until is None else min(self.to_block, self._block_before(until))
        key = (self.from_block, end, since)
        memo = self._memo.setdefault(key, {})
        need = [a for a in frontier if a not in memo]
        for address in need:
            records: list[Transfer] = []
            if self.from_block <= end:
                rows = {action: self._rows(action, address, end) for action in ACTIONS}
                records = self._records(rows, address)
            if since is not None:
                records = [t for t in records if t.timestamp >= since]
            if until is not None:
                records = [t for t in records if t.timestamp <= until]
            memo[address] = sorted(records, key=lambda t: (t.position, t.transfer_id))
        return {a: memo[a] for a in frontier}

    def _rows(self, action: str, address: str, end: int) -> list[dict]:
        """All rows of one action for one address in [from_block, end], paging past the
        10,000-row window by sliding ``startblock``."""
        taken: list[dict] = []
        low = self.from_block
        while True:
            window: list[dict] = []
            full = True
            for page in range(1, self.max_pages + 1):
                rows = self._get(
                    {
                        "module": "account",
                        "action": action,
                        "address": address,
                        "startblock": low,
                        "endblock": end,
                        "page": page,
                        "offset": self.page_size,
                        "sort": "asc",
                    },
                    f"{action} {address}",
                )
                if isinstance(rows, dict):  # the provider's result window is smaller
                    break
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise SourceError(f"etherscan ({self.endpoint}) {action}: malformed rows")
                window.extend(rows)
                if len(rows) < self.page_size:
                    full = False
                    break
            if not full or not window:
                return taken + window
            last = _num(window[-1].get("blockNumber"), -1)
            if last <= low:
                raise SourceError(
                    f"etherscan ({self.endpoint}) {action} {address}: more than "
                    f"{len(window)} rows in block {low}; the API cannot page past them"
                )
            taken.extend(r for r in window if _num(r.get("blockNumber")) < last)
            low = last

    def _receipt(self, tx_hash: str) -> dict:
        if tx_hash not in self._receipts:
            result = self._get(
                {"module": "proxy", "action": "eth_getTransactionReceipt", "txhash": tx_hash},
                f"eth_getTransactionReceipt {tx_hash}",
            )
            if not isinstance(result, dict):
                raise SourceError(
                    f"etherscan ({self.endpoint}): no receipt for transaction {tx_hash}"
                )
            self._receipts[tx_hash] = result
        return self._receipts[tx_hash]

    def _records(self, rows: dict[str, list[dict]], address: str) -> list[Transfer]:
        out: list[Transfer] = []
        tx_index: dict[str, int] = {}
        for row in rows["txlist"]:
            tx = str(row.get("hash", "")).lower()
            tx_index[tx] = _num(row.get("transactionIndex"))
            value = _num(row.get("value"))
            sender = str(row.get("from", "")).lower()
            receiver = str(row.get("to") or row.get("contractAddress") or "").lower()
            if value <= 0 or not sender or not receiver or not tx:
                continue
            failed = str(row.get("isError", "0")) == "1" or str(row.get("txreceipt_status")) == "0"
            out.append(
                Transfer(
                    chain=self.chain,
                    asset="native",
                    from_address=sender,
                    to_address=receiver,
                    amount=value,
                    decimals=self.native_decimals,
                    tx_hash=tx,
                    log_index=None,
                    block_number=_num(row.get("blockNumber")),
                    timestamp=_num(row.get("timeStamp")),
                    tx_index=tx_index[tx],
                    success=not failed,
                    source=self.source,
                    kind="native",
                )
            )
        for row in rows["txlistinternal"]:
            tx = str(row.get("hash", "")).lower()
            value = _num(row.get("value"))
            sender = str(row.get("from", "")).lower()
            receiver = str(row.get("to") or row.get("contractAddress") or "").lower()
            if value <= 0 or not sender or not receiver or not tx:
                continue
            failed = str(row.get("isError", "0")) == "1"
            if tx in tx_index:
                index = tx_index[tx]
            else:
                receipt = self._receipt(tx)
                index = _num(receipt.get("transactionIndex"))
                failed = failed or _num(receipt.get("status"), 1) == 0
            trace = str(row.get("traceId") or "").replace("_", ",")
            if not trace or not all(p.isdigit() for p in trace.split(",")):
                trace = self._ordinal_trace(row, rows["txlistinternal"])
            out.append(
                Transfer(
                    chain=self.chain,
                    asset="native",
                    from_address=sender,
                    to_address=receiver,
                    amount=value,
                    decimals=self.native_decimals,
                    tx_hash=tx,
                    log_index=None,
                    block_number=_num(row.get("blockNumber")),
                    timestamp=_num(row.get("timeStamp")),
                    tx_index=index,
                    success=not failed,
                    source=self.source,
                    kind="internal",
                    trace_address=trace,
                )
            )
        out.extend(self._token_records(rows["tokentx"]))
        return out

    def _ordinal_trace(self, row: dict, rows: list[dict]) -> str:
        note = "txlistinternal rows without traceId: internal transfers numbered by row order"
        if note not in self.warnings:
            self.warnings.append(note)
        same = [r for r in rows if r.get("hash") == row.get("hash")]
        return str(same.index(row))

    def _token_records(self, rows: list[dict]) -> list[Transfer]:
        out = []
        by_tx: dict[str, list[dict]] = {}
        for row in rows:
            by_tx.setdefault(str(row.get("hash", "")).lower(), []).append(row)
        for tx, tx_rows in by_tx.items():
            indexes = self._log_indexes(tx, tx_rows)
            for row, log_index in zip(tx_rows, indexes, strict=True):
                token = str(row.get("contractAddress", "")).lower()
                decimals = row.get("tokenDecimal")
                decimals = _num(decimals) if str(decimals or "").isdigit() else None
                if token and token not in self._tokens:
                    symbol = "".join(c for c in str(row.get("tokenSymbol", "")) if c.isprintable())
                    self._tokens[token] = (symbol[:32], decimals)
                out.append(
                    Transfer(
                        chain=self.chain,
                        asset=token,
                        from_address=str(row.get("from", "")).lower(),
                        to_address=str(row.get("to", "")).lower(),
                        amount=_num(row.get("value")),
                        decimals=decimals,
                        tx_hash=tx,
                        log_index=log_index,
                        block_number=_num(row.get("blockNumber")),
                        timestamp=_num(row.get("timeStamp")),
                        tx_index=_num(row.get("transactionIndex")),
                        success=True,  # a Transfer log exists only in a successful transaction
                        source=self.source,
                        kind="token",
                    )
                )
        return out

    def _log_indexes(self, tx: str, rows: list[dict]) -> list[int]:
        """Log index of each token row: the row's own ``logIndex`` (Blockscout) or the matching
        Transfer log in the transaction's receipt."""
        if all(str(r.get("logIndex", "")).strip() != "" for r in rows):
            return [_num(r["logIndex"]) for r in rows]
        receipt = self._receipt(tx)
        logs = []
        for log in receipt.get("logs") or []:
            decoded = decode_transfer_log(log.get("address"), log.get("topics"), log.get("data"))
            if decoded is not None:
                logs.append(
                    (str(log.get("address", "")).lower(), *decoded, _num(log.get("logIndex")))
                )
        used: set[int] = set()
        out = []
        for ordinal, row in enumerate(rows):
            want = (
                str(row.get("contractAddress", "")).lower(),
                str(row.get("from", "")).lower(),
                str(row.get("to", "")).lower(),
                _num(row.get("value")),
            )
            match = next((log[4] for log in logs if log[:4] == want and log[4] not in used), None)
            if match is None:
                note = (
                    f"tokentx row without a matching Transfer log in {tx}: numbered after the "
                    "transaction's logs"
                )
                if note not in self.warnings:
                    self.warnings.append(note)
                match = 1_000_000 + ordinal
            used.add(match)
            out.append(match)
        return out


def factory(chain: str, api_url=None, cache=None, rps=None, data=None, rpc_url=None, **options):
    """``open_source("etherscan", chain, api_url=..., cache=..., rps=...)``."""
    from tracer.sources import _unused

    _unused("etherscan", {"data": data, "rpc_url": rpc_url})
    allowed = {
        "api_key",
        "from_block",
        "to_block",
        "page_size",
        "window",
        "timeout",
        "retries",
        "backoff",
        "node_chain_id",
    }
    options = source_options("etherscan", options, allowed)
    return EtherscanSource(chain, api_url=api_url, cache=cache, rps=rps, **options)


__all__ = ["EtherscanSource", "factory", "DEFAULT_URL", "ACTIONS"]
