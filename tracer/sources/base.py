"""What every source offers the engine: whole-frontier batches of :class:`Transfer` records."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from tracer.records import Transfer


class SourceError(Exception):
    """A source cannot answer (missing files, broken columns, provider failure). One line."""


class Source(Protocol):
    """A chain data source. Implementations answer for a whole frontier in one call."""

    name: str  # "duckdb", "rpc", "etherscan", ...
    chain: str

    def transfers(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
    ) -> list[Transfer]:
        """Every transfer (any asset, in or out, failed ones included with ``success=False``)
        touching one of ``addresses`` with block time in [since, until] (epoch seconds), in
        chain order (``Transfer.position``), each transfer once. Optional keyword (sources
        that offer it, e.g. duckdb): ``max_degree``, above which an address contributes no rows."""
        ...

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Number of transfers touching each address, cheaply, for the fan-out guard."""
        ...

    def fingerprint(self) -> dict:
        """What the data is (files and their content hashes, endpoints): goes into the manifest."""
        ...
