"""Esplora REST (Blockstream electrs, mempool.space, a self-hosted electrs) as a Bitcoin source.

Endpoints used (API_NOTES section 2):

* ``GET /address/:a/txs/chain`` then ``/address/:a/txs/chain/:last_seen_txid``: confirmed
  transactions, 25 per page, newest first; the cursor is the last (oldest) txid of the previous
  page. Paging stops at a short or empty page. electrs silently ignores a malformed cursor and
  serves the first page again: a page that repeats a transaction already seen stops the paging
  with an error instead of looping.
* ``GET /address/:a``: ``chain_stats.tx_count``, the fan-out guard's cheap degree.

Mempool transactions are never read (the chain endpoint has none): a trace follows confirmed
spends only. Addresses that are not valid mainnet addresses (bitcoin-etl's ``nonstandard…``
stand-ins) have no Esplora history and are answered empty.

HTTP goes through :mod:`tracer.sources.http`: every response is kept in the case store keyed by
its URL (replay offline, resume after a kill), requests are spaced by ``--rps`` (about 4/s is
what public instances tolerate), and 429 (blockstream.info sends it with a JSON ``message`` and no
``Retry-After``), 5xx, timeouts and dropped connections are retried with exponential backoff and
jitter. 400/404 bodies (text/plain) become a one-line :class:`SourceError`.
"""

from __future__ import annotations

from collections.abc import Collection

from tracer.addresses import is_valid
from tracer.bitcoin.model import BtcTx, chain_order, from_esplora, loads
from tracer.sources.base import SourceError
from tracer.sources.http import (
    Fail,
    HttpClient,
    ResponseStore,
    Retry,
    one_line,
    parse_endpoint,
    retry_after,
)

PAGE_SIZE = 25  # electrs CHAIN_TXS_PER_PAGE


def _parse(status: int, body: bytes, headers) -> object:
    if status == 429:
        raise Retry("HTTP 429 (rate limited)", retry_after(headers))
    if status in (408, 425) or status >= 500:
        raise Retry(f"HTTP {status}")
    if status != 200:
        text = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
        raise Fail(f"HTTP {status}: {one_line(text, 120)}")
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Retry("malformed body") from None


class EsploraSource:
    """``EsploraSource(api_url, cache=None, rps=None)``: see the module docstring."""

    name = "esplora"

    def __init__(
        self,
        api_url: str,
        chain: str = "bitcoin",
        cache=None,
        rps: float | None = None,
        *,
        store: ResponseStore | None = None,
        retries: int = 6,
        backoff: float = 0.5,
        timeout: float = 30.0,
    ):
        if chain != "bitcoin":
            raise SourceError(f"--source esplora serves bitcoin, not {chain!r}")
        self.chain = chain
        self.endpoint = parse_endpoint(api_url, "--api-url")
        self.store = store if store is not None else ResponseStore(cache)
        self.http = HttpClient(
            "esplora",
            self.endpoint,
            store=self.store,
            rps=rps,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
        )
        self.source = f"esplora:{self.endpoint.host}"
        self.pages = 0

    def _get(self, path: str, what: str):
        url = self.endpoint.url.rstrip("/") + path
        key = {"api": "esplora", "url": self.endpoint.public.rstrip("/") + path}
        return self.http.fetch("GET", url, key=key, parse=_parse, what=what).value

    # ------------------------------------------------------------------ queries

    def address_history(self, address: str) -> list[BtcTx]:
        """Every confirmed transaction of ``address``, following the 25-per-page chain cursor."""
        if not is_valid("bitcoin", address):
            return []
        seen: dict[str, BtcTx] = {}
        path = f"/address/{address}/txs/chain"
        while True:
            page = self._get(path, f"history of {address}")
            self.pages += 1
            if not isinstance(page, list):
                raise SourceError(f"esplora history of {address}: expected a JSON list")
            fresh = 0
            for obj in page:
                tx = from_esplora(obj)
                if tx.txid in seen:
                    raise SourceError(
                        f"esplora history of {address}: page after {path.rsplit('/', 1)[-1]} "
                        "repeats a transaction (cursor ignored by the server?)"
                    )
                if tx.confirmed:
                    seen[tx.txid] = tx
                    fresh += 1
            if len(page) < PAGE_SIZE or not fresh:
                break
            path = f"/address/{address}/txs/chain/{page[-1]['txid']}"
        return list(seen.values())

    def address_txs(
        self, addresses: Collection[str], until: int | None = None, since: int | None = None
    ) -> list[BtcTx]:
        found: dict[str, BtcTx] = {}
        for address in sorted(set(addresses)):
            for tx in self.address_history(address):
                if until is not None and (tx.block_time or 0) > until:
                    continue
                if since is not None and (tx.block_time or 0) < since:
                    continue
                found[tx.txid] = tx
        return chain_order(found.values())

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Confirmed transaction count per address (``chain_stats.tx_count``; whole history)."""
        out = {}
        for address in sorted(set(addresses)):
            if not is_valid("bitcoin", address):
                out[address] = 0
                continue
            info = self._get(f"/address/{address}", f"address {address}")
            try:
                out[address] = int(info["chain_stats"]["tx_count"])
            except (TypeError, KeyError, ValueError):
                raise SourceError(f"esplora address {address}: no chain_stats.tx_count") from None
        return out

    def transaction(self, txid: str) -> BtcTx:
        return from_esplora(self._get(f"/tx/{txid}", f"transaction {txid}"))

    def fingerprint(self) -> dict:
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "endpoint": self.endpoint.public,
            "store": self.store.summary(),
        }
