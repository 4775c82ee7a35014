"""A source over transfers already in memory (a list of records or a pandas DataFrame).

For notebooks that built their own transfer table, and for small hand-made examples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from tracer.records import Transfer


class MemorySource:
    name = "memory"

    def __init__(self, transfers: Iterable[Transfer], chain: str = "ethereum"):
        self.chain = chain
        self._all = sorted(transfers, key=lambda t: t.position)
        self._by_address: dict[str, list[Transfer]] = defaultdict(list)
        for t in self._all:
            self._by_address[t.from_address].append(t)
            if t.to_address != t.from_address:
                self._by_address[t.to_address].append(t)

    @classmethod
    def from_frame(cls, frame, chain: str = "ethereum") -> MemorySource:
        """Columns named like :class:`Transfer` fields; ``chain`` and ``source`` are filled in."""
        fields = Transfer.__dataclass_fields__
        records = []
        for row in frame.to_dict("records"):
            values = {k: v for k, v in row.items() if k in fields}
            values.setdefault("chain", chain)
            values.setdefault("source", "memory")
            values["amount"] = int(values["amount"])
            records.append(Transfer(**values))
        return cls(records, chain)

    def _window(self, t: Transfer, since: int | None, until: int | None) -> bool:
        return (since is None or t.timestamp >= since) and (until is None or t.timestamp <= until)

    def transfers(self, addresses: Collection[str], since=None, until=None) -> list[Transfer]:
        seen: dict[str, Transfer] = {}
        for a in addresses:
            for t in self._by_address.get(a, ()):
                if self._window(t, since, until):
                    seen[t.transfer_id] = t
        return sorted(seen.values(), key=lambda t: t.position)

    def degrees(self, addresses: Collection[str], since=None, until=None) -> dict[str, int]:
        return {
            a: sum(1 for t in self._by_address.get(a, ()) if self._window(t, since, until))
            for a in addresses
        }

    def fingerprint(self) -> dict:
        return {"source": "memory", "transfers": len(self._all)}
