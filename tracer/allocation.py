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

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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


class Segment(NamedTuple):
    """One asset's rows of one address in chain order, ``rows[start:end]`` with their
    ``directions`` (``IN`` or ``OUT``; self-transfers left out), and the balance the address
    would hold before each of them, and after the last, were nothing tainted (a running sum
    floored at zero: opening lots cover any shortfall). A share rule's ledger only needs to
    run from the first tainted inflow on: before it, the balance is all it keeps."""

    asset: str
    rows: Sequence[int]
    directions: Sequence[int]
    clean_before: Sequence[int]
    start: int
    end: int
    clean_final: int


def segments(
    rows: Sequence[int],
    directions: Sequence[int],
    assets: Sequence[str],
    amounts: Sequence[int],
) -> list[Segment]:
    """The :class:`Segment` of each asset of one address's rows (``directions[i]`` for row
    ``rows[i]``; ``assets`` and ``amounts`` indexed by row)."""
    by_asset: dict[str, tuple[list[int], list[int], list[int]]] = {}
    balance: dict[str, int] = {}
    for row, d in zip(rows, directions, strict=True):
        if d == SELF:
            continue
        asset = assets[row]
        if asset not in by_asset:
            by_asset[asset] = ([], [], [])
        seg_rows, seg_dirs, before = by_asset[asset]
        b = balance.get(asset, 0)
        seg_rows.append(row)
        seg_dirs.append(d)
        before.append(b)
        b = b + amounts[row] if d == IN else b - amounts[row]
        balance[asset] = b if b > 0 else 0
    return [
        Segment(asset, r, d, before, 0, len(r), balance[asset])
        for asset, (r, d, before) in by_asset.items()
    ]


def replay_shares(
    segs: Iterable[Segment],
    amounts: Sequence[int],
    times: Sequence[int],
    taints: Mapping[int, tuple[str, Taint]],
    tid_of: Callable[[int], str],
    policy: str,
    *,
    hop: int = 0,
) -> LedgerResult:
    """:func:`run_ledgers` for a non-seed address under haircut or poison, in a history with
    no swap (see :func:`has_swap`), over columns instead of
    :class:`~tracer.records.Transfer` objects. Why: a round reads ~100k rows; this replays
    only the rows from each asset's first tainted inflow on, and names (``tid_of``) only the
    tainted outflows.

    ``segs`` are the address's :func:`segments`; ``amounts`` and ``times`` are indexed by
    row; ``taints`` maps an inflow row to its transfer id and the taint its sender computed.
    From the first tainted inflow on, a ledger does what :class:`Ledger` does on the exact path
    (inlined here: a third of the trace's ledger time was method calls), started with the clean
    balance, so the results are identical."""
    if policy not in SHARE_POLICIES:
        raise ValueError(f"replay_shares replays {', '.join(SHARE_POLICIES)}, not {policy!r}")
    result = LedgerResult()
    haircut = policy == "haircut"
    segs = sorted(segs, key=lambda s: s.asset)
    marked: dict[str, dict[int, tuple[str, Taint]]] = {}  # asset -> position -> taint
    for row, hit in taints.items():
        if not hit[1].tainted:
            continue  # a zero share is a clean inflow
        for seg in segs:  # rows are in chain order: a binary search per asset
            k = bisect_left(seg.rows, row, seg.start, seg.end)
            if k < seg.end and seg.rows[k] == row and seg.directions[k] == IN:
                marked.setdefault(seg.asset, {})[k] = hit
                break
    outs: list[tuple[int, str, Taint]] = []
    for seg in segs:
        hits = marked.get(seg.asset)
        if not hits:
            result.held[seg.asset] = 0
            result.balance[seg.asset] = seg.clean_final
            continue
        # the Ledger of the exact path, inlined (a non-seed ledger: opening lots are clean)
        first = min(hits)
        balance, tainted, poisoned = seg.clean_before[first], 0, False
        contributors: dict[str, int] = {}
        ranked: tuple[str, ...] | None = None
        rows, dirs = seg.rows, seg.directions
        received = 0
        for k in range(first, seg.end):
            row = rows[k]
            amount = amounts[row]
            if dirs[k] == IN:
                balance += amount
                hit = hits.get(k)
                if hit is None:
                    continue
                tid, taint = hit
                tainted += taint.tainted
                if tid not in contributors:
                    contributors[tid] = taint.hop
                    ranked = None
                poisoned = True
                received += taint.tainted
                ts = times[row]
                if result.first_tainted is None or ts < result.first_tainted:
                    result.first_tainted = ts
                continue
            if amount > balance:
                balance = amount  # an opening lot, clean
            if haircut:
                share = amount * tainted // balance if balance else 0
            else:
                share = amount if poisoned else 0
            balance -= amount
            if share:
                tainted -= share if haircut else min(share, tainted)
                if ranked is None:  # stable: fewest hops first, then arrival order
                    order = sorted(contributors.items(), key=_hop_of)
                    ranked = tuple(p for p, _ in order[:MAX_PARENTS])
                if amount != share:
                    pieces: Segments = ((share, True), (amount - share, False))
                else:
                    pieces = ((share, True),)
                outs.append((row, tid_of(row), Taint(share, pieces, ranked, hop + 1)))
        result.received[seg.asset] = received
        result.held[seg.asset] = tainted if haircut else (balance if poisoned else 0)
        result.balance[seg.asset] = balance
    outs.sort(key=lambda o: o[0])  # chain order, as the exact path fills it
    result.out.update((tid, taint) for _, tid, taint in outs)
    return result


def _hop_of(item: tuple[str, int]) -> int:
    return item[1]


def has_swap(
    rows: Sequence[int],
    directions: Sequence[int],
    assets: Sequence[str],
    txs: Sequence[Hashable],
) -> bool:
    """Whether a transaction of these rows (``txs``: its hash, by row) both sends the address
    an asset and takes another from it: what :func:`run_ledgers` treats as a swap, and
    :func:`replay_shares` does not replay."""
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
