"""A Bitcoin source over transactions held in memory (tests, Bitcoin Core block scans).

Every Bitcoin source offers the UTXO engine the same three calls:

``address_txs(addresses, until=None) -> list[BtcTx]``
    every confirmed transaction in which one of ``addresses`` spends (input) or receives
    (output), each once, in chain order (:func:`tracer.bitcoin.model.chain_order`);
``degrees(addresses, since=None, until=None) -> dict[str, int]``
    the number of such transactions per address, cheaply (the fan-out guard);
``fingerprint() -> dict``
    what the data is, for the manifest.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable

from tracer.bitcoin.model import BtcTx, chain_order, to_etl
from tracer.sources.base import SourceError


class MemoryBtcSource:
    name = "memory"

    def __init__(self, txs: Iterable[BtcTx], chain: str = "bitcoin", source: str = "memory"):
        if chain != "bitcoin":
            raise SourceError(f"the Bitcoin sources serve chain 'bitcoin', not {chain!r}")
        self.chain = chain
        self.source = source
        self.txs: dict[str, BtcTx] = {}
        self.by_address: dict[str, list[str]] = defaultdict(list)
        self.add(txs)

    def add(self, txs: Iterable[BtcTx]) -> None:
        for tx in txs:
            if not tx.confirmed or tx.txid in self.txs:
                continue
            self.txs[tx.txid] = tx
            for address in sorted(tx.addresses()):
                self.by_address[address].append(tx.txid)

    def address_txs(
        self, addresses: Collection[str], until: int | None = None, since: int | None = None
    ) -> list[BtcTx]:
        found: dict[str, BtcTx] = {}
        for a in addresses:
            for txid in self.by_address.get(a, ()):
                tx = self.txs[txid]
                if until is not None and (tx.block_time or 0) > until:
                    continue
                if since is not None and (tx.block_time or 0) < since:
                    continue
                found[txid] = tx
        return chain_order(found.values())

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        return {a: len(self.address_txs([a], until, since)) for a in addresses}

    def fingerprint(self) -> dict:
        digest = hashlib.sha256()
        for txid in sorted(self.txs):
            digest.update(repr(to_etl(self.txs[txid])).encode())
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "transactions": len(self.txs),
            "sha256": digest.hexdigest(),
        }
