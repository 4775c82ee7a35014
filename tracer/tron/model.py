"""Tron facts that are not transfers but matter to the signals: resource delegations and
issuer blacklist events. Both Tron sources (TronGrid and bulk exports) produce these records."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.records import iso_utc

#: Issuer events of Tether's USDT contract (same names on Ethereum and Tron).
BLACKLIST_EVENTS = ("AddedBlackList", "RemovedBlackList", "DestroyedBlackFunds")


@dataclass(frozen=True)
class Delegation:
    """Energy or bandwidth lent by ``from_address`` to ``to_address`` (DelegateResourceContract,
    or the older FreezeBalanceContract with a receiver). ``balance`` is the TRX staked, in sun."""

    from_address: str
    to_address: str
    resource: str  # "ENERGY" or "BANDWIDTH"
    balance: int
    tx_hash: str
    block_number: int
    timestamp: int
    contract_type: str = "DelegateResourceContract"

    @property
    def position(self) -> tuple:
        return (self.block_number, 0, 0, 0, ())


@dataclass(frozen=True)
class BlacklistEvent:
    """One issuer event about ``address`` on a token contract."""

    contract: str
    event: str  # one of BLACKLIST_EVENTS
    address: str
    tx_hash: str
    block_number: int
    timestamp: int
    event_index: int = 0
    amount: int | None = None  # DestroyedBlackFunds: the balance destroyed

    @property
    def order(self) -> tuple:
        return (self.block_number, self.tx_hash, self.event_index)

    def describe(self) -> str:
        return f"{self.event} (tx {self.tx_hash}, block {self.block_number}, {iso_utc(self.timestamp)})"


@dataclass(frozen=True)
class BlacklistState:
    """Whether ``address`` is blacklisted on ``contract`` at the end of the data, and why."""

    contract: str
    address: str
    blacklisted: bool
    events: tuple[BlacklistEvent, ...]

    @property
    def last_added(self) -> BlacklistEvent | None:
        return next((e for e in reversed(self.events) if e.event == "AddedBlackList"), None)

    @property
    def last_removed(self) -> BlacklistEvent | None:
        return next((e for e in reversed(self.events) if e.event == "RemovedBlackList"), None)

    @property
    def destroyed(self) -> tuple[BlacklistEvent, ...]:
        return tuple(e for e in self.events if e.event == "DestroyedBlackFunds")


def blacklist_states(events: list[BlacklistEvent]) -> dict[tuple[str, str], BlacklistState]:
    """(contract, address) -> state after replaying the events in chain order."""
    by_key: dict[tuple[str, str], list[BlacklistEvent]] = {}
    for e in sorted(events, key=lambda e: e.order):
        by_key.setdefault((e.contract, e.address), []).append(e)
    out = {}
    for key, seq in by_key.items():
        listed = False
        for e in seq:
            if e.event == "AddedBlackList":
                listed = True
            elif e.event == "RemovedBlackList":
                listed = False
        out[key] = BlacklistState(key[0], key[1], listed, tuple(seq))
    return out


__all__ = ["BLACKLIST_EVENTS", "BlacklistEvent", "BlacklistState", "Delegation", "blacklist_states"]
