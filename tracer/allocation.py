"""Allocation (taint) rules over one address's ledger, in chain order.

An address's transfers of one asset form a ledger: inflows add to the balance, outflows take from
it. The rule decides how much of each outflow is stolen:

- ``poison``: once any tainted unit arrives, every later outflow is tainted in full (creates taint).
- ``haircut``: an outflow carries the tainted fraction of the balance at that moment,
  ``tainted_out = amount * tainted_balance // balance`` (floor; the remainder stays, so nothing
  is created or lost).
- ``fifo``: inflows are lots in a queue; an outflow consumes the oldest lots first.
- ``lifo``: the newest lot is spent first (a stack).
- ``tiho``: taint goes out first (on account chains each transfer has one output, so
  "taint-in, highest-out" reduces to tainted lots before clean ones).

All amounts are integers in base units. An outflow bigger than the known balance means the
address held funds from before the data window: the missing part is an *opening* lot, clean for
ordinary addresses and tainted for seeds (a seed is asserted to hold only stolen funds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
CONSERVING = ("haircut", "fifo", "lifo", "tiho")

#: How many parent edges an outflow remembers under poison/haircut (best hop first).
MAX_PARENTS = 16

Segments = tuple  # tuple[tuple[int, bool], ...]: (amount, tainted) pieces of one transfer, in order


@dataclass(frozen=True, slots=True)
class Taint:
    """The stolen part of one transfer as computed at its sender."""

    tainted: int
    segments: Segments  # ordered (amount, tainted) pieces; used by fifo/lifo/tiho receivers
    parents: tuple[str, ...]  # transfer ids of the tainted inflows it came from
    hop: int  # hop number of the transfer (the seed's own outflows are hop 1)


@dataclass(slots=True)
class _Lot:
    amount: int
    tainted: bool
    parent: str | None
    hop: int


class Ledger:
    """Balance of one (address, asset) under one rule."""

    def __init__(self, policy: str, opening_tainted: bool):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (choose from {', '.join(POLICIES)})")
        self.policy = policy
        self.opening_tainted = opening_tainted
        self.balance = 0
        self.tainted = 0
        self.created = 0  # taint introduced by opening lots (seeds only)
        self.lots: deque[_Lot] = deque()
        self.contributors: dict[str, int] = {}  # parent id -> hop (haircut/poison)
        self._ranked: tuple[tuple[str, ...], int] | None = None
        self.poisoned = False

    # -- inflows -------------------------------------------------------------------------
    def add(self, amount: int, tainted: int, segments: Segments, parent: str, hop: int) -> None:
        self.balance += amount
        self.tainted += tainted
        if tainted:
            if parent not in self.contributors:
                self.contributors[parent] = hop
                self._ranked = None
            self.poisoned = True
        if self.policy in ("fifo", "lifo", "tiho"):
            for a, t in segments:
                if a > 0:
                    self.lots.append(_Lot(a, t, parent if t else None, hop))

    def _open(self, missing: int) -> None:
        """Funds held before the data window: the oldest lot."""
        self.balance += missing
        if self.opening_tainted:
            self.tainted += missing
            self.created += missing
            self.poisoned = True
        if self.policy in ("fifo", "lifo", "tiho"):
            self.lots.appendleft(_Lot(missing, self.opening_tainted, None, 0))

    # -- outflows ------------------------------------------------------------------------
    def take(self, amount: int) -> tuple[int, Segments, tuple[str, ...], int]:
        """Spend ``amount``; returns (tainted, segments, parents, parent hop)."""
        if amount > self.balance:
            self._open(amount - self.balance)
        if self.policy in ("fifo", "lifo", "tiho"):
            result = self._take_lots(amount)
        else:
            result = self._take_share(amount)
        self.balance -= amount
        self.tainted -= result[0] if self.policy != "poison" else min(result[0], self.tainted)
        return result

    def _take_share(self, amount: int):
        if self.policy == "poison":
            tainted = amount if self.poisoned else 0
        else:
            tainted = amount * self.tainted // self.balance if self.balance else 0
        parents, hop = self._best_contributors() if tainted else ((), 0)
        segments = ((tainted, True), (amount - tainted, False)) if tainted else ((amount, False),)
        return tainted, tuple(s for s in segments if s[0]), parents, hop

    def _best_contributors(self) -> tuple[tuple[str, ...], int]:
        if not self.contributors:
            return (), 0
        if self._ranked is None:  # stable sort: fewest hops first, then arrival order
            ranked = sorted(self.contributors.items(), key=lambda kv: kv[1])
            self._ranked = (tuple(p for p, _ in ranked[:MAX_PARENTS]), ranked[0][1])
        return self._ranked

    def _take_lots(self, amount: int):
        pieces: list[list] = []  # [amount, tainted]
        parents: dict[str, None] = {}
        min_hop: int | None = None
        remaining = amount
        while remaining:
            lot = self._next_lot()
            used = min(lot.amount, remaining)
            lot.amount -= used
            remaining -= used
            if lot.amount == 0:
                self._drop_lot(lot)
            if pieces and pieces[-1][1] == lot.tainted:
                pieces[-1][0] += used
            else:
                pieces.append([used, lot.tainted])
            if lot.tainted:
                if lot.parent is not None:
                    parents.setdefault(lot.parent, None)
                min_hop = lot.hop if min_hop is None else min(min_hop, lot.hop)
        tainted = sum(a for a, t in pieces if t)
        return tainted, tuple((a, t) for a, t in pieces), tuple(parents), min_hop or 0

    def _next_lot(self) -> _Lot:
        if self.policy == "fifo":
            return self.lots[0]
        if self.policy == "lifo":
            return self.lots[-1]
        for lot in self.lots:  # tiho: oldest tainted lot first, then oldest clean
            if lot.tainted:
                return lot
        return self.lots[0]

    def _drop_lot(self, lot: _Lot) -> None:
        if self.policy == "fifo" or (self.lots and self.lots[0] is lot):
            self.lots.popleft()
        elif self.policy == "lifo" or self.lots[-1] is lot:
            self.lots.pop()
        else:
            self.lots.remove(lot)

    @property
    def tainted_held(self) -> int:
        if self.policy == "poison":
            return self.balance if self.poisoned else 0
        return self.tainted


@dataclass
class LedgerResult:
    """What running one address's ledgers produced."""

    out: dict[str, Taint] = field(default_factory=dict)  # tainted outflows by transfer id
    swap_in: dict[str, Taint] = field(default_factory=dict)  # swap proceeds tainted at this address
    swap_out: set[str] = field(default_factory=set)  # outflows that paid for a swap
    held: dict[str, int] = field(default_factory=dict)  # asset -> tainted still held
    balance: dict[str, int] = field(default_factory=dict)  # asset -> balance seen in the data
    received: dict[str, int] = field(default_factory=dict)  # asset -> tainted received
    created: dict[str, int] = field(default_factory=dict)  # asset -> taint from opening lots
    first_tainted: int | None = None  # timestamp of the first tainted inflow


def run_ledgers(
    address: str,
    history: list,
    tainted_in: dict[str, Taint],
    policy: str,
    *,
    seed: bool = False,
    seed_assets: frozenset[str] | None = None,
    hop: int = 0,
) -> LedgerResult:
    """Replay an address's history (successful, non-zero transfers in chain order).

    ``tainted_in`` maps inflow transfer ids to the taint their senders computed. For a seed,
    every inflow and any opening balance in ``seed_assets`` is tainted.
    A transaction in which the address sends asset X and receives another asset Y back is a
    swap: Y arrives carrying X's tainted share by value (the largest share when several assets
    were given), so the trace continues in Y.
    """
    ledgers: dict[str, Ledger] = {}
    result = LedgerResult()

    def ledger(asset: str) -> Ledger:
        led = ledgers.get(asset)
        if led is None:
            opening = seed and (seed_assets is None or asset in seed_assets)
            led = ledgers[asset] = Ledger(policy, opening)
        return led

    def receive(t, taint: Taint | None) -> None:
        led = ledger(t.asset)
        if taint is None and seed and led.opening_tainted:
            taint = Taint(t.amount, ((t.amount, True),), (), 0)
            led.created += t.amount
        if taint is None or taint.tainted == 0:
            led.add(t.amount, 0, ((t.amount, False),), t.transfer_id, 0)
            return
        led.add(t.amount, taint.tainted, taint.segments, t.transfer_id, taint.hop)
        result.received[t.asset] = result.received.get(t.asset, 0) + taint.tainted
        if result.first_tainted is None or t.timestamp < result.first_tainted:
            result.first_tainted = t.timestamp

    def send(t) -> tuple[int, int]:
        tainted, segments, parents, _ = ledger(t.asset).take(t.amount)
        if tainted:
            result.out[t.transfer_id] = Taint(tainted, segments, parents, hop + 1)
        return tainted, t.amount

    i, n = 0, len(history)
    while i < n:
        first = history[i]
        j = i + 1
        if j < n and history[j].tx_hash == first.tx_hash:  # several transfers in one transaction
            while j < n and history[j].tx_hash == first.tx_hash:
                j += 1
        else:  # the common case: one transfer, no swap possible
            i = j
            if first.from_address == first.to_address:
                continue
            if first.to_address == address:
                receive(first, tainted_in.get(first.transfer_id))
            else:
                send(first)
            continue
        group = history[i:j]
        i = j
        outs = [t for t in group if t.from_address == address and t.to_address != address]
        out_assets = {t.asset for t in outs}
        proceeds = (
            [
                t
                for t in group
                if t.to_address == address
                and t.from_address != address
                and t.asset not in out_assets
            ]
            if outs
            else []
        )
        proceed_ids = {t.transfer_id for t in proceeds}
        given: dict[str, list[int]] = {}  # asset -> [tainted, amount] given in this tx
        for t in group:
            if t.from_address == t.to_address or t.transfer_id in proceed_ids:
                continue
            if t.to_address == address:
                receive(t, tainted_in.get(t.transfer_id))
            else:
                tainted, amount = send(t)
                acc = given.setdefault(t.asset, [0, 0])
                acc[0] += tainted
                acc[1] += amount
        if not proceeds:
            continue
        result.swap_out.update(t.transfer_id for t in outs)
        best_t, best_a = max(given.values(), key=_Share)
        parents = tuple(t.transfer_id for t in outs if t.transfer_id in result.out)
        for t in proceeds:
            if policy == "poison":
                tainted = t.amount if best_t else 0
            else:
                tainted = t.amount * best_t // best_a if best_a else 0
            segs = tuple(s for s in ((tainted, True), (t.amount - tainted, False)) if s[0])
            taint = Taint(tainted, segs, parents, hop + 1)
            if tainted:
                result.swap_in[t.transfer_id] = taint
            receive(t, taint)

    for asset, led in sorted(ledgers.items()):
        result.held[asset] = led.tainted_held
        result.balance[asset] = led.balance
        if led.created:
            result.created[asset] = led.created
    return result


class _Share:
    """Sort key comparing tainted fractions t/a exactly (no floats)."""

    __slots__ = ("t", "a")

    def __init__(self, pair: list[int]):
        self.t, self.a = pair

    def __lt__(self, other: _Share) -> bool:
        return self.t * other.a < other.t * self.a


#: Rules :func:`replay_shares` replays (the share rules: no lots to keep per transfer).
SHARE_POLICIES = ("haircut", "poison")

# row directions seen from the replayed address
SELF, IN, OUT = 0, 1, 2


def replay_shares(
    rows: Sequence[int],
    directions: Sequence[int],
    assets: Sequence[str],
    amounts: Sequence[int],
    times: Sequence[int],
    taints: Mapping[int, tuple[str, Taint]],
    tid_of: Callable[[int], str],
    policy: str,
    *,
    txs: Sequence[Hashable] | None = None,
    hop: int = 0,
) -> LedgerResult | None:
    """:func:`run_ledgers` for a non-seed address under haircut or poison, over columns instead
    of :class:`~tracer.records.Transfer` objects (why: a round reads ~100k rows and needs a
    record for only the few thousand tainted ones).

    ``rows`` are the address's rows in chain order and ``directions[i]`` says how row
    ``rows[i]`` touches it (``SELF``, ``IN``, ``OUT``); ``assets``, ``amounts`` and ``times``
    are indexed by row. ``taints`` maps an inflow row to its transfer id and the taint its
    sender computed; ``tid_of`` names a tainted outflow row. A ledger stays a plain balance
    until its first tainted inflow, then runs in the same :class:`Ledger` as the exact path,
    so the results are identical. ``txs`` (the transaction hash per row) lets it detect a
    swap: then it returns None and the caller replays the exact path; without it the caller
    asserts that no two consecutive rows share a transaction."""
    if policy not in SHARE_POLICIES:
        raise ValueError(f"replay_shares replays {', '.join(SHARE_POLICIES)}, not {policy!r}")
    if txs is not None and _has_swap(rows, directions, assets, txs):
        return None
    result = LedgerResult()
    out = result.out
    clean: dict[str, int] = {}  # asset -> balance while no tainted unit has arrived
    ledgers: dict[str, Ledger] = {}
    get_taint = taints.get
    for row, d in zip(rows, directions, strict=True):
        if d == SELF:
            continue
        asset = assets[row]
        amount = amounts[row]
        led = ledgers.get(asset)
        if d == IN:
            hit = get_taint(row) if taints else None
            if hit is None or hit[1].tainted == 0:
                if led is None:
                    clean[asset] = clean.get(asset, 0) + amount
                else:
                    led.add(amount, 0, ((amount, False),), "", 0)
                continue
            tid, taint = hit
            if led is None:
                led = ledgers[asset] = Ledger(policy, False)
                led.balance = clean.pop(asset, 0)
            led.add(amount, taint.tainted, taint.segments, tid, taint.hop)
            result.received[asset] = result.received.get(asset, 0) + taint.tainted
            ts = times[row]
            if result.first_tainted is None or ts < result.first_tainted:
                result.first_tainted = ts
        elif led is None:  # a clean outflow: an opening lot covers any shortfall
            left = clean.get(asset, 0) - amount
            clean[asset] = left if left > 0 else 0
        else:
            tainted, segments, parents, _ = led.take(amount)
            if tainted:
                out[tid_of(row)] = Taint(tainted, segments, parents, hop + 1)
    for asset in sorted({*clean, *ledgers}):
        led = ledgers.get(asset)
        if led is None:
            result.held[asset] = 0
            result.balance[asset] = clean[asset]
        else:
            result.held[asset] = led.tainted_held
            result.balance[asset] = led.balance
    return result


def _has_swap(rows, directions, assets, txs) -> bool:
    """Whether a transaction of these rows both sends the address an asset and takes another
    from it (what :func:`run_ledgers` treats as a swap)."""
    n = len(rows)
    i = 0
    while i < n:
        key = txs[rows[i]]
        j = i + 1
        while j < n and txs[rows[j]] == key:
            j += 1
        if j - i > 1:
            group = range(i, j)
            sent = {assets[rows[k]] for k in group if directions[k] == OUT}
            if sent and any(directions[k] == IN and assets[rows[k]] not in sent for k in group):
                return True
        i = j
    return False
