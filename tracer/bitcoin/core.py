"""Bitcoin Core JSON-RPC as a Bitcoin source: a block scan over a height or time window.

Bitcoin Core has no address index, so a trace cannot ask it "what did this address do". The
source scans the blocks of the trace window once (``getblockhash`` + ``getblock <hash> 3``) and
answers address queries from them (:class:`~tracer.bitcoin.memory.MemoryBtcSource`). Verbosity 3
carries each input's ``prevout`` (value, script, address) when the node has undo data; an older
node answers verbosity 3 like 2 (no prevouts), and then inputs are resolved from the scanned
blocks or with ``getrawtransaction <txid> true``, which needs ``-txindex`` (its error is reported
as the configuration problem it is, API_NOTES 3.4).

The window is given as heights (``start_height``/``end_height``) or as times: ``--since`` /
``--until`` are turned into heights by bisecting block header times (``getblockheader``), with a
margin of 12 blocks for header times that run out of order; transactions outside the window are
then dropped by time. Without ``--since`` the scan has no start: that is an error.

Every call is one HTTP request through :mod:`tracer.sources.http` (store keyed by method and
params, replay offline, resume after a kill, budget, retries with backoff on 429/5xx/transient
RPC errors). Amounts are parsed from the raw response text as decimals, so 8-decimal BTC values
stay exact. Both reply styles are understood: legacy (HTTP 500 with an ``error`` object) and
JSON-RPC 2.0 (HTTP 200).
"""

from __future__ import annotations

from collections.abc import Collection

from tracer.bitcoin.memory import MemoryBtcSource
from tracer.bitcoin.model import BtcTx, TxOut, block_from_core, from_core, loads
from tracer.sources.base import SourceError
from tracer.sources.http import (
    Fail,
    HttpClient,
    ResponseStore,
    Retry,
    canonical_json,
    one_line,
    parse_endpoint,
    retry_after,
)

#: How far past a bisected height the scan reaches (block times may run out of order by ~2 h).
TIME_MARGIN_BLOCKS = 12

_TXINDEX_HINTS = ("Use -txindex", "still in the process of being indexed")


class CoreRpcError(SourceError):
    def __init__(self, method: str, code, message: str):
        super().__init__(one_line(f"bitcoin-core {method}: error {code}: {message}"))
        self.code = code
        self.rpc_message = message


def _parse(status: int, body: bytes, headers) -> dict:
    if status == 429:
        raise Retry("HTTP 429 (rate limited)", retry_after(headers))
    try:
        reply = loads(body)
    except (ValueError, UnicodeDecodeError):
        if status in (408, 425) or status >= 500:
            raise Retry(f"HTTP {status}") from None
        if status in (401, 403):
            raise Fail(f"HTTP {status}: check the RPC user and password") from None
        raise Fail(f"HTTP {status}: not a JSON-RPC reply") from None
    if not isinstance(reply, dict):
        raise Retry("malformed reply")
    error = reply.get("error")
    if isinstance(error, dict):
        message = str(error.get("message", ""))
        if error.get("code") == -28 or "warming up" in message.lower():
            raise Retry("node warming up")
        if "rate" in message.lower() and "limit" in message.lower():
            raise Retry("rate limited")
    elif "result" not in reply:
        raise Retry("malformed reply")
    return reply


class CoreRpc:
    """Single JSON-RPC calls to bitcoind, each stored by (method, params)."""

    def __init__(
        self,
        rpc_url: str,
        cache=None,
        rps: float | None = None,
        *,
        store: ResponseStore | None = None,
        retries: int = 6,
        backoff: float = 0.5,
        timeout: float = 60.0,
    ):
        self.endpoint = parse_endpoint(rpc_url, "--rpc-url")
        self.store = store if store is not None else ResponseStore(cache)
        self.http = HttpClient(
            "bitcoin-core",
            self.endpoint,
            store=self.store,
            rps=rps,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            headers={"Content-Type": "application/json"},
        )
        self.calls = 0

    def call(self, method: str, params: list):
        key = {
            "api": "bitcoin-core",
            "url": self.endpoint.public,
            "method": method,
            "params": params,
        }
        payload = {"jsonrpc": "1.0", "id": "tracer", "method": method, "params": params}
        self.calls += 1
        reply = self.http.fetch(
            "POST",
            self.endpoint.url,
            key=key,
            parse=_parse,
            what=method,
            data=canonical_json(payload),
        ).value
        error = reply.get("error")
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            if any(h in message for h in _TXINDEX_HINTS):
                raise SourceError(
                    f"bitcoin-core {method}: the node cannot look up confirmed transactions "
                    "(start bitcoind with -txindex and let it finish indexing)"
                )
            raise CoreRpcError(method, error.get("code"), message)
        return reply.get("result")


class CoreSource:
    """Bitcoin Core block scan (see the module docstring)."""

    name = "bitcoin-core"

    def __init__(
        self,
        rpc_url: str,
        chain: str = "bitcoin",
        cache=None,
        rps: float | None = None,
        *,
        start_height: int | None = None,
        end_height: int | None = None,
        store: ResponseStore | None = None,
        retries: int = 6,
        backoff: float = 0.5,
    ):
        if chain != "bitcoin":
            raise SourceError(f"--source bitcoin-core serves bitcoin, not {chain!r}")
        self.chain = chain
        self.rpc = CoreRpc(rpc_url, cache, rps, store=store, retries=retries, backoff=backoff)
        self.source = f"bitcoin-core:{self.rpc.endpoint.host}"
        self.start_height = start_height
        self.end_height = end_height
        self.since: int | None = None
        self.until: int | None = None
        self._memory: MemoryBtcSource | None = None
        self._raw: dict[str, BtcTx] = {}

    # ------------------------------------------------------------------ window

    def set_window(self, since: int | None, until: int | None) -> None:
        """Time window of the trace; the scan heights are derived from it unless given."""
        self.since, self.until = since, until

    def _header_time(self, height: int) -> int:
        block_hash = self.rpc.call("getblockhash", [height])
        header = self.rpc.call("getblockheader", [block_hash])
        return int(header["time"])

    def _first_height_at(self, when: int, tip: int) -> int:
        lo, hi = 0, tip + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._header_time(mid) < when:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def heights(self) -> tuple[int, int]:
        tip = int(self.rpc.call("getblockcount", []))
        start, end = self.start_height, self.end_height
        if start is None:
            if self.since is None:
                raise SourceError(
                    "bitcoin-core: Bitcoin Core has no address index; give --since (and "
                    "--until) so the source can scan the blocks of the trace window"
                )
            start = max(0, self._first_height_at(self.since, tip) - TIME_MARGIN_BLOCKS)
        if end is None:
            end = tip
            if self.until is not None:
                end = min(tip, self._first_height_at(self.until + 1, tip) - 1 + TIME_MARGIN_BLOCKS)
        if start > end:
            raise SourceError(f"bitcoin-core: empty block range {start}..{end}")
        return start, end

    # ------------------------------------------------------------------ scan

    def block(self, height: int) -> list[BtcTx]:
        """The transactions of one block, prevouts resolved."""
        block_hash = self.rpc.call("getblockhash", [height])
        block = self.rpc.call("getblock", [block_hash, 3])
        if not isinstance(block, dict):
            raise SourceError(f"bitcoin-core getblock {block_hash}: not a block object")
        return self._resolve(block_from_core(block))

    def _resolve(self, txs: list[BtcTx]) -> list[BtcTx]:
        missing = {i.outpoint for t in txs for i in t.inputs if i.value is None}
        if not missing:
            return txs
        prevouts: dict[str, TxOut] = {}
        for t in txs:
            for o in t.outputs:
                prevouts[f"{t.txid}:{o.index}"] = o
        for outpoint in sorted(missing - prevouts.keys()):
            txid, vout = outpoint.rsplit(":", 1)
            prev = self.raw_transaction(txid)
            for o in prev.outputs:
                prevouts[f"{prev.txid}:{o.index}"] = o
            if outpoint not in prevouts:
                raise SourceError(f"bitcoin-core: transaction {txid} has no output {vout}")
        out = []
        for t in txs:
            if any(i.value is None for i in t.inputs):
                t = _with_prevouts(t, prevouts)
            out.append(t)
        return out

    def raw_transaction(self, txid: str) -> BtcTx:
        """``getrawtransaction <txid> true`` (needs -txindex for confirmed transactions)."""
        tx = self._raw.get(txid)
        if tx is None:
            result = self.rpc.call("getrawtransaction", [txid, True])
            if not isinstance(result, dict):
                raise SourceError(f"bitcoin-core getrawtransaction {txid}: not an object")
            tx = self._raw[txid] = from_core(result)
        return tx

    def transaction(self, txid: str) -> BtcTx:
        return self._resolve([self.raw_transaction(txid)])[0]

    def _scan(self) -> MemoryBtcSource:
        if self._memory is None:
            start, end = self.heights()
            txs: list[BtcTx] = []
            for height in range(start, end + 1):
                txs.extend(self.block(height))
            self._memory = MemoryBtcSource(txs, source=self.source)
            self.scanned = (start, end)
        return self._memory

    # ------------------------------------------------------------------ source protocol

    def address_txs(
        self, addresses: Collection[str], until: int | None = None, since: int | None = None
    ) -> list[BtcTx]:
        return self._scan().address_txs(addresses, until, since)

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        return self._scan().degrees(addresses, since, until)

    def fingerprint(self) -> dict:
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "endpoint": self.rpc.endpoint.public,
            "blocks": list(getattr(self, "scanned", ())),
            "store": self.rpc.store.summary(),
        }


def _with_prevouts(tx: BtcTx, prevouts: dict[str, TxOut]) -> BtcTx:
    from dataclasses import replace

    inputs = []
    for i in tx.inputs:
        if i.value is None:
            o = prevouts[i.outpoint]
            i = replace(
                i,
                address=o.address,
                value=o.value,
                script_type=o.script_type,
                required_signatures=o.required_signatures,
            )
        inputs.append(i)
    return replace(tx, inputs=tuple(inputs))
