"""Taint allocation inside one Bitcoin transaction: inputs -> outputs, the fee explicit.

Taint lives on outputs (UTXOs). An address is a ledger of the outputs it holds, like an account
chain's ledger, except that each output keeps its own taint: an address that holds a tainted and
a clean output and spends only the clean one moves no taint (address reuse does not mix coins).
Spending a tainted output as an input carries its taint into the spending transaction, where one
of the rules below splits it over the outputs and the fee. Every amount is integer satoshi.

The transaction's value is ``Σinputs = Σoutputs + fee``; the fee is a sink like an output, the
*last* one, so FIFO and LIFO pay it with whatever satoshi come last. ``T`` is the tainted satoshi
of the inputs. For each rule, output *i* (value ``v_i``) receives:

``poison``
    any tainted input taints every output in full (``v_i``) and the fee. Creates taint.
``haircut``
    BlockSci's rule: ``min(v_i / (Σoutputs + fee) · T, v_i)``. Integer shares by the
    largest-remainder method: each sink gets ``floor(v_i · T / Σinputs)``, and the satoshi left
    over by the floors go one each to the sinks with the largest remainders (ties: lower index,
    the fee last). Σ shares = ``T`` exactly and no share exceeds ``v_i``.
``fifo``
    the inputs' satoshi in input order (each input's own tainted/clean pieces in the order it
    received them) pay the outputs in output order, then the fee (first in, first out).
``lifo``
    the same queue reversed: the last input's last satoshi pays the first output first.
``tiho``
    taint-in, highest-out (Tironsakkul et al.): the tainted satoshi go first, into the largest
    outputs (value descending; ties: lower index), the fee only if the outputs cannot take them
    all; clean satoshi then fill what is left in output order, the fee last.

haircut, fifo, lifo and tiho conserve taint: ``T = Σ tainted outputs + tainted fee``.

Besides each output's tainted amount and ordered (amount, tainted) pieces, :func:`allocate`
reports which input every tainted satoshi came from (``sources``): exact for fifo, lifo and tiho;
for haircut and poison an output's taint is split over the tainted inputs in proportion to their
taint (largest remainder). The engine uses it to draw one edge per (sending address, output).
"""

from __future__ import annotations

from dataclasses import dataclass, field

POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
CONSERVING = ("haircut", "fifo", "lifo", "tiho")

Segments = tuple  # tuple[tuple[int, bool], ...]


class AllocationError(ValueError):
    """Inputs and outputs that cannot be allocated (outputs exceed inputs, bad pieces)."""


@dataclass(frozen=True, slots=True)
class InputTaint:
    value: int
    segments: Segments  # (amount, tainted) pieces in order; sum == value

    @property
    def tainted(self) -> int:
        return sum(a for a, t in self.segments if t)

    @staticmethod
    def clean(value: int) -> InputTaint:
        return InputTaint(value, ((value, False),) if value else ())

    @staticmethod
    def full(value: int) -> InputTaint:
        return InputTaint(value, ((value, True),) if value else ())


@dataclass
class Allocation:
    """Result for one transaction. Sink ``len(outputs)`` is the fee."""

    policy: str
    tainted_in: int
    out_tainted: list[int]
    out_segments: list[Segments]
    sources: list[dict[int, int]]  # per output: input index -> tainted satoshi from it
    fee: int
    fee_tainted: int
    fee_sources: dict[int, int] = field(default_factory=dict)

    @property
    def tainted_out(self) -> int:
        return sum(self.out_tainted)


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` over ``weights`` by the largest-remainder method (exact integers).

    ``floor(total · w / Σw)`` each, then one more satoshi to the largest remainders, ties to the
    lower index. Σ result == total when Σweights > 0."""
    denominator = sum(weights)
    if total == 0 or denominator == 0:
        return [0] * len(weights)
    shares = []
    remainders = []
    for i, w in enumerate(weights):
        q, r = divmod(total * w, denominator)
        shares.append(q)
        remainders.append((-r, i))
    left = total - sum(shares)
    for _, i in sorted(remainders)[:left]:
        shares[i] += 1
    return shares


def _pieces_from(segments: Segments) -> Segments:
    merged: list[list] = []
    for amount, tainted in segments:
        if amount <= 0:
            continue
        if merged and merged[-1][1] == tainted:
            merged[-1][0] += amount
        else:
            merged.append([amount, tainted])
    return tuple((a, t) for a, t in merged)


def allocate(policy: str, inputs: list[InputTaint], outputs: list[int]) -> Allocation:
    """Allocate the inputs' taint to ``outputs`` (values in output order) and the fee."""
    if policy not in POLICIES:
        raise AllocationError(f"unknown policy {policy!r} (choose from {', '.join(POLICIES)})")
    for k, inp in enumerate(inputs):
        if inp.value < 0 or sum(a for a, _ in inp.segments) != inp.value:
            raise AllocationError(f"input {k}: pieces do not add up to its value")
    if any(v < 0 for v in outputs):
        raise AllocationError("negative output value")
    total_in = sum(i.value for i in inputs)
    fee = total_in - sum(outputs)
    if fee < 0:
        raise AllocationError(f"outputs exceed inputs by {-fee} satoshi")
    taint = [i.tainted for i in inputs]
    tainted_in = sum(taint)
    n = len(outputs)
    sinks = list(outputs) + [fee]
    if policy in ("poison", "haircut"):
        if policy == "poison":
            shares = [v if tainted_in else 0 for v in sinks]
        else:
            shares = apportion(tainted_in, sinks)
        sources = [{k: s for k, s in enumerate(apportion(share, taint)) if s} for share in shares]
        segments = [
            _pieces_from(((s, True), (v - s, False))) for s, v in zip(shares, sinks, strict=True)
        ]
        return Allocation(
            policy, tainted_in, shares[:n], segments[:n], sources[:n], fee, shares[n], sources[n]
        )

    # lot rules: a queue of (amount, tainted, input index) pieces
    queue: list[tuple[int, bool, int]] = [
        (a, t, k) for k, inp in enumerate(inputs) for a, t in inp.segments if a > 0
    ]
    filled: list[list[tuple[int, bool, int]]] = [[] for _ in sinks]
    capacity = list(sinks)
    if policy == "lifo":
        queue.reverse()
    if policy == "tiho":
        order = sorted(range(n), key=lambda i: (-outputs[i], i)) + [n]
        _fill([p for p in queue if p[1]], order, capacity, filled)
        _fill([p for p in queue if not p[1]], list(range(n + 1)), capacity, filled)
    else:
        _fill(queue, list(range(n + 1)), capacity, filled)
    out_tainted, out_segments, sources = [], [], []
    for pieces in filled:
        out_tainted.append(sum(a for a, t, _ in pieces if t))
        out_segments.append(_pieces_from(tuple((a, t) for a, t, _ in pieces)))
        src: dict[int, int] = {}
        for a, t, k in pieces:
            if t:
                src[k] = src.get(k, 0) + a
        sources.append(src)
    return Allocation(
        policy,
        tainted_in,
        out_tainted[:n],
        out_segments[:n],
        sources[:n],
        fee,
        out_tainted[n],
        sources[n],
    )


def _fill(pieces, order: list[int], capacity: list[int], filled) -> None:
    """Pour ``pieces`` into the sinks in ``order``, each up to its remaining capacity."""
    j = 0
    for amount, tainted, k in pieces:
        while amount:
            while j < len(order) and capacity[order[j]] == 0:
                j += 1
            if j == len(order):
                raise AllocationError("inputs exceed outputs plus fee")  # pragma: no cover
            sink = order[j]
            used = min(amount, capacity[sink])
            capacity[sink] -= used
            amount -= used
            filled[sink].append((used, tainted, k))
