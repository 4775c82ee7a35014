"""JSON-RPC source: transfers of a whole frontier from any EVM node or provider.

``RpcSource(rpc_url, chain="ethereum", cache=None, rps=None, from_block=None, to_block=None,
traces="auto", ...)`` answers :meth:`transfers` / :meth:`degrees` for a frontier with a handful of
requests, whatever its size:

* **Tokens.** ``eth_getLogs`` with topic0 = ``Transfer`` and the frontier as an OR-list of topics,
  chunked (``chunk_size`` addresses per query), two queries per chunk: the frontier as topic 1
  (sender) and as topic 2 (receiver). All queries of a step go out in one JSON-RPC batch. Logs
  are decoded by slicing, never by ABI decoding: :func:`decode_transfer_records`, a batch fast
  path that gives exactly what :func:`tracer.sources.evm_logs.transfer_from_rpc_log` gives.
* **Provider limits.** Each query walks the block range with its own window. A range or result
  limit error (Alchemy, Infura -32005, QuickNode 413/-32614, Ankr, geth, reth, Erigon, …; see
  :func:`tracer.sources.http.classify_rpc_error`) shrinks the window to the range the provider
  suggests (``[0x.., 0x..]`` in the message or ``error.data.from/to``), to the limit it names
  ("… 10,000 range", "max range: 5000") or by half; a success grows it back (doubling, kept
  below the last window that failed until eight successes in a row). A limit on a single block
  splits the address chunk instead. Nothing here is a fixed provider constant.
* **Native ETH.** There is no index of a frontier's transactions in plain JSON-RPC. In order of
  preference (``traces="auto"`` probes the node once, and the probe is stored):

  1. ``trace_filter`` (Erigon, Nethermind, reth, anvil, OpenEthereum) with ``fromAddress`` and
     then ``toAddress`` as the frontier chunk (two queries per chunk, adaptive windows as for
     logs, ``after``/``count`` paging). It returns top-level calls (the transaction's own value)
     and internal calls. Whether an internal transfer really happened depends on its ancestors
     (a caught revert undoes a successful inner call), so every transaction with an internal
     transfer is fetched once with ``trace_transaction`` (batched, stored).
  2. ``trace_block`` over every block of the range (batched, stored, indexed in memory once).
  3. No traces: every block of the range is read with ``eth_getBlockByNumber(n, true)``
     (batched, stored) for top-level transactions, and the receipts of the matching ones give
     their status. Internal transfers cannot be seen: the source says so in :attr:`warnings`
     and marks native coverage ``top-level only`` in :meth:`fingerprint`.

  Block scans are capped at ``scan_limit`` blocks; beyond it native ETH is skipped with a
  warning (coverage ``none``): give ``from_block``/``to_block`` or use a node with traces.
* **Block times** come from the logs (``blockTimestamp``) when the node supplies them, else
  from block headers; **token decimals and symbols** from ``eth_call``; all batched and stored.
* **Block range.** ``from_block`` (default 0) .. ``to_block`` (default: the node's head when
  the source opens, pinned and stored so a re-run sees the same chain). The trace's ``until``
  maps to the last block at or before it by binary search on block timestamps (cached).

Every request goes through :class:`tracer.sources.http.JsonRpcClient`: the response store
(``cache=DIR``: re-runs are offline, a killed trace resumes without repeating finished requests),
retries with backoff and jitter, the request budget (``rps``; default 25/s for remote
providers, none on loopback). web3.py is the provider layer: :attr:`RpcSource.w3` is a ``Web3``
whose provider routes through that client (the chain id check, the head and the block lookups
of the time search go through it, and callers may use it for anything else, stored alike);
bulk queries are raw JSON-RPC batches on the same client. Without ``cache`` the store lives in
memory for the run.

Known costs: JSON-RPC has no cheap transfer count, so :meth:`degrees` (the fan-out guard)
fetches the histories it counts (:meth:`transfers` then reuses them); a busy unlabelled address
costs what its history costs. The head is pinned in the store: a re-run with the same cache
replays the same chain (use another cache, or ``to_block``, to see newer blocks).

Records follow the bulk source's conventions: lower-case addresses, ``asset`` = token contract or
``native``, kinds ``native``/``token``/``internal``, zero-value native and internal transfers
dropped (zero-value token transfers kept), failed ones with ``success=False``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from tracer.chains import CHAINS
from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.sources.evm_logs import TRANSFER_TOPIC, transfer_from_rpc_log
from tracer.sources.http import (
    JsonRpcClient,
    LiveSource,
    ResponseStore,
    RpcError,
    one_line,
    parse_endpoint,
    source_options,
)

_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.])")
_RESULTS = re.compile(r"results|too many logs|response size", re.I)
_UNSUPPORTED = re.compile(
    r"not (found|supported|available|enabled|exist)|does not exist|unsupported|unknown method|"
    r"disabled|not allowed|no such method|method .* not",
    re.I,
)
_DECIMALS = "0x313ce567"  # decimals()
_SYMBOL = "0x95d89b41"  # symbol()
_STEADY = 8  # successes at the cap before probing above a window that failed


def _hex(n: int) -> str:
    return hex(int(n))


def _int(value, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = str(value)
    try:
        return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
    except ValueError:
        return default


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_WORD = re.compile(r"0x[0-9a-fA-F]{64}").fullmatch
_LOG_FIELDS = itemgetter(
    "topics", "address", "data", "transactionHash", "logIndex", "blockNumber", "transactionIndex"
)


def decode_transfer_records(
    logs: Iterable,
    *,
    chain: str = "ethereum",
    source: str = "rpc",
    untimed: list | None = None,
) -> list[Transfer]:
    """The fungible ERC-20 ``Transfer`` logs of an ``eth_getLogs`` reply as :class:`Transfer` records.

    One record per log, in input order, exactly what
    :func:`tracer.sources.evm_logs.transfer_from_rpc_log` gives log by log (same rejections:
    ERC-721, malformed, ``removed``; a test holds them together), with ``decimals`` None. The
    block time is the log's ``blockTimestamp``; records of logs without one get 0 and are also
    appended to ``untimed``, for the caller to fill from block headers.

    This is the RPC source's hot path, so it is written for speed. Logs in canonical JSON-RPC
    form (hex strings, as nodes send them) are sliced and parsed with ``int(x, 16)``, with
    per-batch caches of decoded topics, addresses and quantities (in a frontier query one side
    of every log is a frontier address, and block numbers and log indexes repeat): a topic is
    validated once per batch, not once per log. Records are built in the loop by setting their
    slots on ``object.__new__(Transfer)``, which costs about half of the dataclass ``__init__``
    call (measured: bench/bench_decode.py). Anything else (bytes, upper-case prefixes, missing
    fields, ...) fails a check of the fast path (a bytes value never equals a ``str``; ints are
    not sliceable) and goes through ``transfer_from_rpc_log``.
    """
    out: list[Transfer] = []
    append = out.append
    later = (untimed if untimed is not None else []).append
    words: dict = {}  # topic -> address
    word_of = words.get
    contracts: dict = {}  # emitting address as given -> lower case
    contract_of = contracts.get
    nums: dict = {}
    num_of = nums.get
    fields = _LOG_FIELDS
    topic0 = TRANSFER_TOPIC
    is_word = _WORD
    new, record_type = object.__new__, Transfer
    for log in logs:
        try:
            if log.get("removed") is True:
                continue
            topics, token, data, tx, x_log, x_block, x_tx = fields(log)
            t0, t1, t2 = topics
            if t0 != topic0:
                raise ValueError
            sender = word_of(t1)
            if sender is None:
                if is_word(t1) is None:
                    raise ValueError
                sender = words[t1] = "0x" + t1[26:].lower()
            receiver = word_of(t2)
            if receiver is None:
                if is_word(t2) is None:
                    raise ValueError
                receiver = words[t2] = "0x" + t2[26:].lower()
            token_l = contract_of(token)
            if token_l is None:
                if len(token) != 42 or token[:2] != "0x":
                    raise ValueError
                token_l = contracts[token] = token.lower()
            # "0x" + 64 digits. int() takes the prefix itself: an "x" at index 1 can only be
            # the prefix's, and a leading "_" (which int(data[2:], 16) would refuse) is excluded
            if len(data) != 66 or data[1] != "x" or data[2] == "_":
                raise ValueError
            value = int(data, 16)
            tx = tx.lower()
            if tx[1] != "x" or tx[0] != "0":
                raise ValueError
            log_index = num_of(x_log)
            if log_index is None:
                if x_log[:2] != "0x":
                    raise ValueError
                log_index = nums[x_log] = int(x_log, 16)
            block = num_of(x_block)
            if block is None:
                if x_block[:2] != "0x":
                    raise ValueError
                block = nums[x_block] = int(x_block, 16)
            tx_index = num_of(x_tx)
            if tx_index is None:
                if x_tx[:2] != "0x":
                    raise ValueError
                tx_index = nums[x_tx] = int(x_tx, 16)
            x = log.get("blockTimestamp")
            ts = None if x is None else num_of(x)
            if ts is None and x is not None:
                if x[:2] != "0x":
                    raise ValueError
                ts = nums[x] = int(x, 16)
            # every slot of Transfer, in field order (a test checks none is missed)
            r = new(record_type)
            r.chain = chain
            r.asset = token_l
            r.from_address = sender
            r.to_address = receiver
            r.amount = value
            r.decimals = None
            r.tx_hash = tx
            r.log_index = log_index
            r.block_number = block
            r.tx_index = tx_index
            r.success = True
            r.source = source
            r.kind = "token"
            r.trace_address = None
            r._id = None
            append(r)
            if ts is None:
                r.timestamp = 0
                later(r)
            else:
                r.timestamp = ts
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            if not isinstance(log, Mapping):
                continue
            record = transfer_from_rpc_log(log, chain=chain, timestamp=0, source=source)
            if record is None:
                continue
            ts = _int(log.get("blockTimestamp"))
            if ts is None:
                later(record)
            else:
                record.timestamp = ts
            append(record)
    return out


def decode_transfer_logs(logs: Iterable) -> list[tuple]:
    """:func:`decode_transfer_records` as tuples: ``(token, from, to, value, tx_hash,
    log_index, block, tx_index, block_timestamp or None)`` per log, in input order."""
    untimed: list = []
    records = decode_transfer_records(logs, untimed=untimed)
    late = {id(r) for r in untimed}
    return [
        (
            r.asset,
            r.from_address,
            r.to_address,
            r.amount,
            r.tx_hash,
            r.log_index,
            r.block_number,
            r.tx_index,
            None if id(r) in late else r.timestamp,
        )
        for r in records
    ]


def _decode_symbol(result) -> str:
    """symbol() returns an ABI string (or bytes32 on old tokens); printable, 32 chars at most."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return ""
    body = result[2:]
    raw = b""
    try:
        if len(body) >= 128:
            length = int(body[64:128], 16)
            if length <= 256:
                raw = bytes.fromhex(body[128 : 128 + 2 * length])
        elif len(body) == 64:
            raw = bytes.fromhex(body).rstrip(b"\x00")
    except ValueError:
        return ""
    text = raw.decode("utf-8", errors="replace")
    return "".join(c for c in text if c.isprintable())[:32]


def next_window(message: str, data, lo: int, hi: int) -> int:
    """The block window to try after a range/result-limit error on [lo, hi]: the range the
    provider suggests (``[0x.., 0x..]`` in the message, or ``data.from``/``data.to``), else the
    smallest limit it names ("limited to a 10,000 range", "range 1000000 exceeds limit of 10000";
    not when the message is about a result count), else
    half. Always smaller than the failed window, at least 1."""
    size = hi - lo + 1
    new = None
    match = _SUGGESTED.search(message)
    data = data if isinstance(data, dict) else {}
    if match:
        s_lo, s_hi = int(match.group(1), 16), int(match.group(2), 16)
        if s_lo == lo and lo <= s_hi < hi:
            new = s_hi - lo + 1
        elif s_hi >= s_lo and s_hi - s_lo + 1 < size:
            new = s_hi - s_lo + 1
    elif _int(data.get("from")) is not None and _int(data.get("to")) is not None:
        d_lo, d_hi = _int(data["from"]), _int(data["to"])
        if d_lo == lo and lo <= d_hi < hi:
            new = d_hi - lo + 1
    if new is None and not _RESULTS.search(message):
        named = [int(n.replace(",", "")) for n in _NUMBER.findall(message)]
        named = [n for n in named if 0 < n < size]
        if named:
            new = min(named)
    if new is None or new >= size:
        new = max(1, size // 2)
    return new


@dataclass
class _Scan:
    """One range query walking [cursor, end] with an adaptive window."""

    family: str  # "logs" or "traces"
    addresses: list[str]
    position: str  # "from" or "to"
    cursor: int
    end: int
    window: int
    after: int = 0
    hi: int = 0
    extra: dict = field(default_factory=dict)


class RpcSource(LiveSource):
    """Transfers from an EVM JSON-RPC endpoint, for a whole frontier per request batch."""

    name = "rpc"

    def __init__(
        self,
        rpc_url: str,
        chain: str = "ethereum",
        *,
        cache=None,
        rps: float | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        traces: str = "auto",
        chunk_size: int = 500,
        batch_size: int = 100,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 0.5,
        scan_limit: int = 20_000,
        trace_page: int = 10_000,
        node_chain_id: int | None = None,
    ):
        self._evm_chain("rpc", chain, node_chain_id)
        if traces not in ("auto", "trace_filter", "trace_block", "none"):
            raise SourceError(f"traces={traces!r}: choose auto, trace_filter, trace_block or none")
        for label, value in (("chunk_size", chunk_size), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise SourceError(f"{label} must be a positive integer")
        endpoint = parse_endpoint(rpc_url, "--rpc-url")
        self.endpoint = endpoint.public
        self.source = f"rpc:{endpoint.host}"
        if rps is None and not endpoint.loopback:
            rps = 25.0  # a polite default for public providers; --rps overrides
        self.store = ResponseStore(cache)
        self.client = JsonRpcClient(
            endpoint,
            name=f"rpc ({endpoint.public})",
            store=self.store,
            rps=rps,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            batch_size=batch_size,
        )
        self.http = self.client.http
        self.chunk_size = chunk_size
        self.scan_limit = int(scan_limit)
        self.trace_page = int(trace_page) if trace_page else 0
        self.warnings: list[str] = []
        self.methods: Counter = Counter()  # calls asked of the client, by method
        self._times: dict[int, int] = {}
        self._tokens: dict[str, tuple[str, int | None]] = {}
        self._memo: dict[tuple[int, int], dict[str, list[Transfer]]] = {}
        self._scanned: dict[tuple[int, int], dict[str, list[dict]]] = {}
        self._tx_frames: dict[str, list[dict]] = {}
        self._window: dict[str, int] = {}
        self._ceiling: dict[str, int] = {}
        self._steady: Counter = Counter()
        self.w3 = self._make_web3()
        self._open(from_block, to_block, traces)

    # ------------------------------------------------------------------ opening

    def _make_web3(self):
        """A web3.py ``Web3`` whose provider is this source's client (store, retries, budget)."""
        from web3 import Web3
        from web3.providers.base import JSONBaseProvider

        client = self.client

        class _StoreProvider(JSONBaseProvider):
            def make_request(self, method, params):
                try:
                    result = client.call(str(method), list(params or []))
                except RpcError as error:
                    return {
                        "jsonrpc": "2.0",
                        "id": 0,
                        "error": {"code": error.code, "message": error.message},
                    }
                return {"jsonrpc": "2.0", "id": 0, "result": result}

            def make_batch_request(self, requests):
                outcomes = client.batch([(str(m), list(p or [])) for m, p in requests])
                replies = []
                for i, outcome in enumerate(outcomes):
                    if isinstance(outcome, RpcError):
                        error = {"code": outcome.code, "message": outcome.message}
                        replies.append({"jsonrpc": "2.0", "id": i, "error": error})
                    else:
                        replies.append({"jsonrpc": "2.0", "id": i, "result": outcome})
                return replies

            def is_connected(self, show_traceback: bool = False) -> bool:
                return True

        return Web3(_StoreProvider(), middleware=[])

    def _web3(self, what: str, fn):
        """Run a web3 call; its RPC errors become one-line SourceErrors."""
        try:
            return fn()
        except SourceError:
            raise
        except Exception as error:  # web3 raises its own exception tree for RPC errors
            message = error.args[0] if error.args else error
            if isinstance(message, dict):
                message = message.get("message", message)
            raise SourceError(
                one_line(f"rpc ({self.endpoint}) {what}: {self.client.http.secrets.scrub(message)}")
            ) from None

    def _open(self, from_block, to_block, traces: str) -> None:
        node_id = self._web3("eth_chainId", lambda: self.w3.eth.chain_id)
        if node_id != self.node_chain_id:
            from tracer.evm_chains import by_id

            other = by_id(node_id)
            named = f" ({other.name})" if other else ""
            raise SourceError(
                f"--rpc-url {self.endpoint} serves chain id {node_id}{named}, not {self.chain} "
                f"({self.node_chain_id}); pass --chain {other.name if other else '...'}, "
                "--node-chain-id for a local node of this chain, or another URL"
            )
        head = self._web3("eth_blockNumber", lambda: self.w3.eth.block_number)
        try:  # some providers disable web3_clientVersion; transport failures still raise
            self.client_version = str(self.client.call("web3_clientVersion"))
        except RpcError:
            self.client_version = ""
        start = self._first_block(head) if from_block is None else _int(from_block)
        end = head if to_block is None else _int(to_block)
        if start is None or end is None or start < 0 or end < 0:
            raise SourceError("from_block/to_block must be non-negative block numbers")
        if end > head:
            raise SourceError(f"to_block {end} is beyond the node's head {head}")
        if start > end:
            raise SourceError(f"from_block {start} is after to_block {end}")
        self.from_block, self.to_block = start, end
        self.traces = traces if traces != "auto" else self._probe_traces()
        if self.traces == "none":
            why = "the node serves no traces (trace_filter, trace_block)"
            if traces == "none":
                why = "traces are off (traces='none')"
            self.warnings.append(
                f"rpc {self.endpoint}: {why}; internal ETH transfers are not covered, "
                "top-level transactions are found by scanning blocks"
            )

    def _first_block(self, head: int) -> int:
        """The node's first block: 0 on a chain's own nodes; N on a node started at block N (anvil
        ``--number``, a fork), which may still answer for a lone block 0 ("earliest") and have
        nothing from 1 to N-1. Scans and the time search must not start in that gap."""

        def exists(number: int) -> bool:
            block = self._web3("eth_getBlockByNumber", lambda: self._get_block(number))
            return block is not None

        earliest = self._web3("eth_getBlockByNumber", lambda: self._get_block("earliest"))
        first = int(earliest["number"]) if earliest else 0
        if first + 1 > head or exists(first + 1):
            return first
        lo, hi = first + 1, head  # lo missing, hi (the head) present; present blocks are a suffix
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if exists(mid) else (mid, hi)
        return hi

    def _get_block(self, number):
        """A block header, or None where the node has no such block (web3 raises instead)."""
        from web3.exceptions import BlockNotFound

        try:
            return self.w3.eth.get_block(number)
        except BlockNotFound:
            return None

    def _probe_traces(self) -> str:
        zero = "0x" + "0" * 40
        probes = (
            (
                "trace_filter",
                [
                    {
                        "fromBlock": _hex(self.to_block),
                        "toBlock": _hex(self.to_block),
                        "fromAddress": [zero],
                    }
                ],
            ),
            ("trace_block", [_hex(self.to_block)]),
        )
        for method, params in probes:
            try:
                result = self.client.call(method, params)
            except RpcError as error:
                if error.code == -32601 or _UNSUPPORTED.search(error.message):
                    continue
                return method  # served, but limited: the scans adapt
            except SourceError as error:
                if "HTTP 4" in str(error):  # a gateway refusing the method (403, 405, ...)
                    continue
                raise  # a transport failure is not an answer: never guess the mode
            if isinstance(result, list):
                return method
        return "none"

    # ------------------------------------------------------------------ public API

    def stats(self) -> dict:
        """Request counters of this run (not in the fingerprint: they differ on a re-run)."""
        return {
            "jsonrpc_calls_sent": self.client.calls,
            "jsonrpc_calls_from_store": self.client.served,
            "http_requests": self.client.http.sent,
            "retries": self.client.http.retried,
            "methods": dict(sorted(self.methods.items())),
        }

    def fingerprint(self) -> dict:
        native = {
            "trace_filter": "complete (trace_filter: top-level and internal)",
            "trace_block": "complete (trace_block over the range)",
            "none": "top-level only (no traces: internal transfers not covered)",
        }[self.traces]
        if any("native ETH not traced" in w for w in self.warnings):
            native = "none (block scan over the range exceeds scan_limit)"
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            **self._chain_ids(),
            "endpoint": self.endpoint,
            "client_version": self.client_version,
            "blocks": {"from": self.from_block, "to": self.to_block},
            "traces": self.traces,
            "coverage": {"token": "complete (eth_getLogs Transfer events)", "native": native},
            "store": self.store.summary(),
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return f"RpcSource({self.endpoint!r}, chain={self.chain!r}, traces={self.traces})"

    # ------------------------------------------------------------------ block range

    def _block_time(self, number: int) -> int:
        if number not in self._times:
            block = self._web3("eth_getBlockByNumber", lambda: self.w3.eth.get_block(number))
            if block is None:
                raise SourceError(f"rpc ({self.endpoint}): block {number} not found")
            self._times[number] = int(block["timestamp"])
        return self._times[number]

    def _last_block_at_or_before(self, ts: int) -> int:
        """Largest block in the range with time <= ts (from_block - 1 if none)."""
        lo, hi = self.from_block, self.to_block
        if self._block_time(hi) <= ts:
            return hi
        if self._block_time(lo) > ts:
            return lo - 1
        while hi - lo > 1:  # time(lo) <= ts < time(hi)
            mid = (lo + hi) // 2
            if self._block_time(mid) <= ts:
                lo = mid
            else:
                hi = mid
        return lo

    def _first_block_at_or_after(self, ts: int) -> int:
        return self._last_block_at_or_before(ts - 1) + 1

    def _range(self, since, until) -> tuple[int, int]:
        start, end = self.from_block, self.to_block
        if until is not None:
            end = min(end, self._last_block_at_or_before(int(until)))
        if since is not None:
            start = max(start, self._first_block_at_or_after(int(since)))
        return start, end

    # ------------------------------------------------------------------ histories

    def _batch(self, calls: list[tuple[str, list]]) -> list:
        for method, _ in calls:
            self.methods[method] += 1
        return self.client.batch(calls)

    def _histories(self, frontier: list[str], since, until) -> dict[str, list[Transfer]]:
        start, end = self._range(since, until)
        memo = self._memo.setdefault((start, end), {})
        need = [a for a in frontier if a not in memo]
        if need:
            found: dict[str, list[Transfer]] = {a: [] for a in need}
            if start <= end:
                wanted = set(need)
                records = self._token_transfers(need, start, end)
                records += self._native_transfers(need, wanted, start, end)
                seen = set()
                for t in records:
                    tid = t.transfer_id
                    if tid in seen:
                        continue
                    seen.add(tid)
                    if t.from_address in wanted:
                        found[t.from_address].append(t)
                    if t.to_address in wanted and t.to_address != t.from_address:
                        found[t.to_address].append(t)
            for a in need:
                memo[a] = sorted(found[a], key=lambda t: (t.position, t.transfer_id))
        return {a: memo[a] for a in frontier}

    # ------------------------------------------------------------------ adaptive range scans

    def _scan_call(self, scan: _Scan, lo: int, hi: int) -> tuple[str, list]:
        if scan.family == "logs":
            topics = [_topic(a) for a in scan.addresses]
            position = (
                [TRANSFER_TOPIC, topics]
                if scan.position == "from"
                else [TRANSFER_TOPIC, None, topics]
            )
            return "eth_getLogs", [{"fromBlock": _hex(lo), "toBlock": _hex(hi), "topics": position}]
        query = {
            "fromBlock": _hex(lo),
            "toBlock": _hex(hi),
            ("fromAddress" if scan.position == "from" else "toAddress"): scan.addresses,
        }
        if self.trace_page:
            query["after"] = scan.after
            query["count"] = self.trace_page
        return "trace_filter", [query]

    def _run_scans(self, family: str, frontier: list[str], start: int, end: int) -> list[dict]:
        window = self._window.get(family, end - start + 1)
        scans = [
            _Scan(family, chunk, position, start, end, window)
            for chunk in _chunks(frontier, self.chunk_size)
            for position in ("from", "to")
        ]
        items: list[dict] = []
        active = scans
        while active:
            calls = []
            for scan in active:
                scan.hi = min(scan.end, scan.cursor + scan.window - 1)
                calls.append(self._scan_call(scan, scan.cursor, scan.hi))
            outcomes = self._batch(calls)
            following: list[_Scan] = []
            for scan, (method, _), outcome in zip(active, calls, outcomes, strict=True):
                if isinstance(outcome, RpcError):
                    if not outcome.is_limit:
                        raise SourceError(one_line(f"rpc ({self.endpoint}) {method}: {outcome}"))
                    following.extend(self._on_limit(scan, outcome, method))
                    continue
                if outcome is None:
                    outcome = []
                if not isinstance(outcome, list):
                    raise SourceError(f"rpc ({self.endpoint}) {method}: reply is not a list")
                items.extend(outcome)
                if family == "traces" and self.trace_page and len(outcome) >= self.trace_page:
                    scan.after += len(outcome)  # same window, next page
                    following.append(scan)
                    continue
                scan.after = 0
                self._on_success(scan)
                if scan.cursor <= scan.end:
                    following.append(scan)
            active = following
        return items

    def _on_success(self, scan: _Scan) -> None:
        family = scan.family
        if scan.hi - scan.cursor + 1 == scan.window:  # a full window (not the range's tail)
            self._window[family] = scan.window
        scan.cursor = scan.hi + 1
        ceiling = self._ceiling.get(family)
        if ceiling is not None and scan.window * 2 >= ceiling:
            self._steady[family] += 1
            if self._steady[family] >= _STEADY:
                self._ceiling.pop(family, None)  # probe above the old failure again
                self._steady[family] = 0
            else:
                scan.window = max(scan.window, ceiling - 1)
                return
        scan.window = scan.window * 2

    def _on_limit(self, scan: _Scan, error: RpcError, method: str) -> list[_Scan]:
        """A range/result limit: a smaller window (what the provider suggests, else half), or on
        a single block, two scans over halves of the address chunk."""
        family, lo, hi = scan.family, scan.cursor, scan.hi
        size = hi - lo + 1
        self._ceiling[family] = min(self._ceiling.get(family, size), size)
        self._steady[family] = 0
        if scan.after:
            raise SourceError(
                one_line(f"rpc ({self.endpoint}) {method}: limit hit while paging: {error}")
            )
        if size == 1:
            if len(scan.addresses) == 1:
                raise SourceError(
                    one_line(
                        f"rpc ({self.endpoint}) {method}: provider limit hit on the single "
                        f"block {lo} for one address: {error}"
                    )
                )
            half = len(scan.addresses) // 2
            return [
                _Scan(family, scan.addresses[:half], scan.position, lo, scan.end, 1),
                _Scan(family, scan.addresses[half:], scan.position, lo, scan.end, 1),
            ]
        new = next_window(error.message, error.data, lo, hi)
        scan.window = new
        self._window[family] = new
        return [scan]

    # ------------------------------------------------------------------ tokens

    def _token_transfers(self, frontier: list[str], start: int, end: int) -> list[Transfer]:
        untimed: list[Transfer] = []
        logs = self._run_scans("logs", frontier, start, end)
        records = decode_transfer_records(
            logs, chain=self.chain, source=self.source, untimed=untimed
        )
        # a log matching both queries comes twice: keep it once, where it first came
        records = list({(r.tx_hash, r.log_index): r for r in records}.values())
        self._fill_times(r.block_number for r in untimed)
        assets = {r.asset for r in records}
        self._fill_tokens(sorted(a for a in assets if _ADDRESS.match(a)))
        times, tokens = self._times, self._tokens
        for r in untimed:
            r.timestamp = times.get(r.block_number, 0)
        decimals = {a: tokens[a][1] for a in assets if a in tokens and tokens[a][1] is not None}
        if decimals:
            for r in records:
                d = decimals.get(r.asset)
                if d is not None:
                    r.decimals = d
        return records

    def _fill_times(self, blocks: Iterable[int | None]) -> None:
        missing = sorted({b for b in blocks if b is not None and b not in self._times})
        if not missing:
            return
        calls = [("eth_getBlockByNumber", [_hex(b), False]) for b in missing]
        for number, outcome in zip(missing, self._batch(calls), strict=True):
            if isinstance(outcome, RpcError) or not isinstance(outcome, dict):
                raise SourceError(
                    one_line(f"rpc ({self.endpoint}) eth_getBlockByNumber {number}: {outcome}")
                )
            self._times[number] = _int(outcome.get("timestamp"), 0)

    def _fill_tokens(self, tokens: list[str]) -> None:
        missing = [t for t in tokens if t not in self._tokens]
        if not missing:
            return
        known = CHAINS[self.chain].assets
        ask = []
        for token in missing:
            asset = known.get(token)
            if asset is not None:
                self._tokens[token] = (asset.symbol, asset.decimals)
            else:
                ask.append(token)
        calls = []
        for token in ask:
            calls.append(("eth_call", [{"to": token, "data": _DECIMALS}, "latest"]))
            calls.append(("eth_call", [{"to": token, "data": _SYMBOL}, "latest"]))
        outcomes = self._batch(calls) if calls else []
        for i, token in enumerate(ask):
            dec, sym = outcomes[2 * i], outcomes[2 * i + 1]
            decimals = None
            if isinstance(dec, str) and len(dec) == 66:
                value = _int(dec)
                decimals = value if value is not None and value <= 255 else None
            symbol = _decode_symbol(sym) if not isinstance(sym, RpcError) else ""
            self._tokens[token] = (symbol, decimals)

    # ------------------------------------------------------------------ native

    def _native_transfers(
        self, frontier: list[str], wanted: set[str], start: int, end: int
    ) -> list[Transfer]:
        if self.traces == "trace_filter":
            frames = self._run_scans("traces", frontier, start, end)
            return self._from_frames(frames, wanted, need_ancestors=True)
        if end - start + 1 > self.scan_limit:
            note = (
                f"native ETH not traced: the node serves no trace_filter and blocks {start}.."
                f"{end} exceed scan_limit={self.scan_limit}; give from_block/to_block or a node "
                "with trace_filter"
            )
            if note not in self.warnings:
                self.warnings.append(note)
            return []
        index = self._scan_blocks(start, end)
        if self.traces == "trace_block":
            frames = [f for a in frontier for f in index.get(a, ())]
            return self._from_frames(frames, wanted, need_ancestors=False)
        txs = {}
        for a in frontier:
            for tx in index.get(a, ()):
                txs[str(tx["hash"]).lower()] = tx
        return self._from_transactions(list(txs.values()), wanted)

    def _scan_blocks(self, start: int, end: int) -> dict[str, list[dict]]:
        """Every block of the range once (trace_block, or full blocks without traces), batched
        and stored; an in-memory index by address answers every later frontier."""
        if (start, end) in self._scanned:
            return self._scanned[(start, end)]
        index: dict[str, list[dict]] = {}
        blocks = list(range(start, end + 1))
        step = max(1, self.client.batch_size)
        for part in _chunks(blocks, step):
            if self.traces == "trace_block":
                calls = [("trace_block", [_hex(b)]) for b in part]
            else:
                calls = [("eth_getBlockByNumber", [_hex(b), True]) for b in part]
            for number, outcome in zip(part, self._batch(calls), strict=True):
                if isinstance(outcome, RpcError):
                    raise SourceError(
                        one_line(f"rpc ({self.endpoint}) {calls[0][0]} {number}: {outcome}")
                    )
                if self.traces == "trace_block":
                    frames = outcome or []
                    by_tx: dict[str, list[dict]] = {}
                    for frame in frames:
                        tx = frame.get("transactionHash")
                        if tx:
                            by_tx.setdefault(str(tx).lower(), []).append(frame)
                    self._tx_frames.update(by_tx)
                    for frame in frames:
                        for a in self._frame_parties(frame):
                            index.setdefault(a, []).append(frame)
                else:
                    if not isinstance(outcome, dict):
                        raise SourceError(f"rpc ({self.endpoint}) block {number} not found")
                    self._times[number] = _int(outcome.get("timestamp"), 0)
                    for tx in outcome.get("transactions") or []:
                        if not isinstance(tx, dict) or not _int(tx.get("value"), 0):
                            continue
                        for a in (tx.get("from"), tx.get("to")):
                            if a:
                                index.setdefault(str(a).lower(), []).append(tx)
        self._scanned[(start, end)] = index
        return index

    @staticmethod
    def _frame_parties(frame: dict) -> tuple[str, ...]:
        action = frame.get("action") or {}
        kind = frame.get("type")
        if kind == "suicide":
            parties = (action.get("address"), action.get("refundAddress"))
        elif kind == "create":
            parties = (action.get("from"), (frame.get("result") or {}).get("address"))
        else:
            parties = (action.get("from"), action.get("to"))
        return tuple(str(p).lower() for p in parties if p)

    @staticmethod
    def _frame_value(frame: dict) -> tuple[str, str, int] | None:
        """(from, to, value) of a frame that moves native value, else None (API_NOTES 5.4)."""
        action = frame.get("action") or {}
        kind = frame.get("type")
        if kind == "call":
            if action.get("callType", "call") != "call":
                return None
            sender, receiver, value = action.get("from"), action.get("to"), action.get("value")
        elif kind == "create":
            sender = action.get("from")
            receiver = (frame.get("result") or {}).get("address")
            value = action.get("value")
        elif kind == "suicide":
            sender, receiver = action.get("address"), action.get("refundAddress")
            value = action.get("balance")
        else:
            return None  # rewards and unknown frame types are not transfers
        amount = _int(value, 0) or 0
        if amount <= 0 or not sender or not receiver:
            return None
        return str(sender).lower(), str(receiver).lower(), amount

    def _from_frames(self, frames: list[dict], wanted: set[str], need_ancestors: bool):
        moving = []
        seen = set()
        for frame in frames:
            if not isinstance(frame, dict) or not frame.get("transactionHash"):
                continue
            moved = self._frame_value(frame)
            if moved is None or (moved[0] not in wanted and moved[1] not in wanted):
                continue
            tx = str(frame["transactionHash"]).lower()
            path = tuple(int(p) for p in frame.get("traceAddress") or [])
            if (tx, path) in seen:
                continue
            seen.add((tx, path))
            moving.append((frame, tx, path, moved))
        if need_ancestors:
            nested = sorted(
                {tx for frame, tx, path, _ in moving if path and not frame.get("error")}
                - set(self._tx_frames)
            )
            if nested:
                calls = [("trace_transaction", [tx]) for tx in nested]
                for tx, outcome in zip(nested, self._batch(calls), strict=True):
                    if isinstance(outcome, RpcError) or not isinstance(outcome, list):
                        raise SourceError(
                            one_line(f"rpc ({self.endpoint}) trace_transaction {tx}: {outcome}")
                        )
                    self._tx_frames[tx] = outcome
        self._fill_times(_int(frame.get("blockNumber")) for frame, *_ in moving)
        out = []
        for frame, tx, path, (sender, receiver, amount) in moving:
            failed = bool(frame.get("error"))
            if not failed and path:
                for other in self._tx_frames.get(tx, ()):
                    other_path = tuple(int(p) for p in other.get("traceAddress") or [])
                    if other.get("error") and path[: len(other_path)] == other_path:
                        failed = True
                        break
            block = _int(frame.get("blockNumber"), 0)
            out.append(
                Transfer(
                    chain=self.chain,
                    asset="native",
                    from_address=sender,
                    to_address=receiver,
                    amount=amount,
                    decimals=self.native_decimals,
                    tx_hash=tx,
                    log_index=None,
                    block_number=block,
                    timestamp=self._times.get(block, 0),
                    tx_index=_int(frame.get("transactionPosition"), 0) or 0,
                    success=not failed,
                    source=self.source,
                    kind="internal" if path else "native",
                    trace_address=",".join(str(p) for p in path) if path else None,
                )
            )
        return out

    def _from_transactions(self, txs: list[dict], wanted: set[str]) -> list[Transfer]:
        """Top-level value transfers from full blocks; status and creations from receipts."""
        hashes = sorted(str(tx["hash"]).lower() for tx in txs)
        receipts = {}
        if hashes:
            calls = [("eth_getTransactionReceipt", [h]) for h in hashes]
            for h, outcome in zip(hashes, self._batch(calls), strict=True):
                if isinstance(outcome, RpcError) or not isinstance(outcome, dict):
                    raise SourceError(
                        one_line(f"rpc ({self.endpoint}) eth_getTransactionReceipt {h}: {outcome}")
                    )
                receipts[h] = outcome
        out = []
        for tx in txs:
            h = str(tx["hash"]).lower()
            receipt = receipts.get(h, {})
            sender = str(tx.get("from") or "").lower()
            receiver = str(tx.get("to") or receipt.get("contractAddress") or "").lower()
            if not sender or not receiver or (sender not in wanted and receiver not in wanted):
                continue
            block = _int(tx.get("blockNumber"), 0)
            status = receipt.get("status")
            out.append(
                Transfer(
                    chain=self.chain,
                    asset="native",
                    from_address=sender,
                    to_address=receiver,
                    amount=_int(tx.get("value"), 0),
                    decimals=self.native_decimals,
                    tx_hash=h,
                    log_index=None,
                    block_number=block,
                    timestamp=self._times.get(block, 0),
                    tx_index=_int(tx.get("transactionIndex"), 0) or 0,
                    success=status is None or _int(status, 1) == 1,
                    source=self.source,
                    kind="native",
                )
            )
        return out


def factory(chain: str, rpc_url=None, cache=None, rps=None, data=None, api_url=None, **options):
    """``open_source("rpc", chain, rpc_url=..., cache=..., rps=..., from_block=..., ...)``."""
    from tracer.sources import _unused

    _unused("rpc", {"data": data, "api_url": api_url})
    allowed = {
        "from_block",
        "to_block",
        "traces",
        "chunk_size",
        "batch_size",
        "timeout",
        "retries",
        "backoff",
        "scan_limit",
        "trace_page",
        "node_chain_id",
    }
    options = source_options("rpc", options, allowed)
    if not rpc_url:
        raise SourceError("--rpc-url URL is required with --source rpc")
    return RpcSource(rpc_url, chain, cache=cache, rps=rps, **options)


__all__ = ["RpcSource", "factory"]
