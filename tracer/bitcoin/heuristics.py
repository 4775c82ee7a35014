"""Bitcoin heuristics, each reporting its evidence and a confidence (0-1).

CoinJoin fingerprints (:func:`coinjoin`; DOMAIN section 5, after Dumplings), first match wins:

* **Whirlpool**: 5-10 inputs, as many outputs, every output the same pool size (0.001, 0.01,
  0.05 or 0.5 BTC), every output P2WPKH (inputs too when their type is known). 0.95.
* **Wasabi 2**: at least 50 inputs, inputs sorted by value (descending), more than 80% of the
  outputs standard denominations (1/2/5·10^n, 2^n, 3^n, 2·3^n satoshi, at least 5,000). 0.9.
* **Wasabi 1**: at least 10 equal outputs of about 0.1 BTC (0.08-0.12). 0.9.
* **JoinMarket-like (generic)**: the most common output value appears exactly ⌈outputs/2⌉ times,
  at least 3 times, and the inputs come from at least that many addresses. 0.7.

A trace stops at a CoinJoin (the equal outputs cannot be told apart) and flags a mixer.

Change detection (:func:`change_output`) scores each output of a 2+-output spend with these
signals and names the output that wins by a margin: address reuse (an output back to an input
address, 0.9), same script type as all inputs when the others differ (0.3), optimal change (the
only output smaller than every input, 0.3), non-round amount when the others are round (0.3),
first-seen address (the output's address had no history before, the others had, 0.2). Confidence
is the winner's score minus the runner-up's, capped at 0.95. A wrong change link is dangerous in
clustering (super-clusters), so tracer only reports change; it never clusters by it.

Peel chains (:func:`peel_chains`): a run of at least 3 transactions with one input address and
two outputs where one output (the change, the larger one unless the change heuristic says
otherwise) is spent by the next transaction of the run.

Multi-input clustering (the co-spend heuristic), CoinJoins skipped: :class:`UnionFind` grows
incrementally over integer ids in flat ``array`` storage (the engine's working set);
:func:`cluster_multi_input` clusters a whole export held as CSR arrays (``offsets``, ``ids``) with
numpy in O(log n) vectorized rounds of min-label hooking and pointer jumping, tens of millions of
transactions without one Python object per transaction. Each cluster is named by its smallest id,
so both give the same labels, and so does graphsense-clustering's Rust union-find.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tracer.bitcoin.model import BtcTx

POOL_SIZES = (100_000, 1_000_000, 5_000_000, 50_000_000)  # Whirlpool pools, satoshi
WASABI1_RANGE = (8_000_000, 12_000_000)
WASABI2_MIN_INPUTS = 50
MIN_DENOMINATION = 5_000
MAX_DENOMINATION = 137_438_953_472  # 2^37 satoshi, Wasabi 2's largest


def _standard_denominations() -> frozenset[int]:
    values: set[int] = set()
    p = 1
    while p <= MAX_DENOMINATION:
        values.add(p)
        p *= 2
    p = 1
    while p <= MAX_DENOMINATION:
        values.update((p, 2 * p))
        p *= 3
    p = 1
    while p <= MAX_DENOMINATION:
        values.update((p, 2 * p, 5 * p))
        p *= 10
    return frozenset(v for v in values if MIN_DENOMINATION <= v <= MAX_DENOMINATION)


STANDARD_DENOMINATIONS = _standard_denominations()


@dataclass(frozen=True)
class Finding:
    """One heuristic result, with what it rests on."""

    kind: str  # coinjoin, change, peel_chain, consolidation
    subject: str  # txid (or first txid of a chain)
    label: str  # e.g. "Whirlpool", "change output 1"
    confidence: float
    evidence: str
    txids: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "label": self.label,
            "confidence": round(self.confidence, 3),
            "evidence": self.evidence,
            "txids": list(self.txids),
            "addresses": list(self.addresses),
        }


def _btc(sat: int) -> str:
    whole, frac = divmod(sat, 10**8)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".") + " BTC"


# ------------------------------------------------------------------------------ CoinJoin


def coinjoin(tx: BtcTx) -> Finding | None:
    """The CoinJoin fingerprint ``tx`` matches, or None."""
    n_in, n_out = len(tx.inputs), len(tx.outputs)
    if tx.coinbase or n_in < 2 or n_out < 3:
        return None
    values = [o.value for o in tx.outputs]
    counts = Counter(values)
    common, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    in_addresses = {i.address for i in tx.inputs if i.address}

    if (
        5 <= n_in <= 10
        and n_in == n_out
        and count == n_out
        and common in POOL_SIZES
        and all(o.script_type == "witness_v0_keyhash" for o in tx.outputs)
        and all(i.script_type in (None, "witness_v0_keyhash") for i in tx.inputs)
    ):
        return Finding(
            "coinjoin",
            tx.txid,
            "Whirlpool",
            0.95,
            f"Whirlpool fingerprint: {n_in} P2WPKH inputs and {n_out} P2WPKH outputs of exactly "
            f"{_btc(common)} (a Whirlpool pool size)",
            (tx.txid,),
        )
    in_values = [i.value for i in tx.inputs]
    if n_in >= WASABI2_MIN_INPUTS and all(v is not None for v in in_values):
        standard = sum(1 for v in values if v in STANDARD_DENOMINATIONS)
        if in_values == sorted(in_values, reverse=True) and standard * 5 > n_out * 4:
            return Finding(
                "coinjoin",
                tx.txid,
                "Wasabi 2",
                0.9,
                f"Wasabi 2 fingerprint: {n_in} inputs sorted by value, {standard} of {n_out} "
                "outputs are standard denominations",
                (tx.txid,),
            )
    if count >= 10 and WASABI1_RANGE[0] <= common <= WASABI1_RANGE[1]:
        return Finding(
            "coinjoin",
            tx.txid,
            "Wasabi 1",
            0.9,
            f"Wasabi 1 fingerprint: {count} equal outputs of {_btc(common)} (about 0.1 BTC) "
            f"among {n_out} outputs, {n_in} inputs",
            (tx.txid,),
        )
    if count >= 3 and count == (n_out + 1) // 2 and len(in_addresses) >= count:
        return Finding(
            "coinjoin",
            tx.txid,
            "JoinMarket-like CoinJoin",
            0.7,
            f"equal-output CoinJoin: {count} of {n_out} outputs are {_btc(common)} "
            f"(the most common value appears ⌈outputs/2⌉ times), inputs from "
            f"{len(in_addresses)} addresses",
            (tx.txid,),
        )
    return None


# ------------------------------------------------------------------------------ change


def _round(value: int) -> bool:
    return value > 0 and value % 100_000 == 0  # a multiple of 0.001 BTC


def change_output(tx: BtcTx, first_seen: dict[str, int] | None = None) -> Finding | None:
    """The likely change output of ``tx`` with its signals, or None when nothing decides.

    ``first_seen`` maps addresses to the block height of their first known transaction (only
    addresses whose history is known); the first-seen signal is used only for those."""
    outs = [o for o in tx.outputs if o.address]
    if tx.coinbase or len(outs) < 2 or not tx.inputs:
        return None
    in_addresses = {i.address for i in tx.inputs if i.address}
    in_types = {i.script_type for i in tx.inputs}
    in_values = [i.value for i in tx.inputs if i.value is not None]
    scores: dict[int, float] = {o.index: 0.0 for o in outs}
    reasons: dict[int, list[str]] = {o.index: [] for o in outs}

    reused = [o for o in outs if o.address in in_addresses]
    if len(reused) == 1:
        o = reused[0]
        scores[o.index] += 0.9
        reasons[o.index].append("address reuse: pays back to an input address")
    if len(in_types) == 1 and None not in in_types:
        same = [o for o in outs if o.script_type in in_types]
        if len(same) == 1:
            scores[same[0].index] += 0.3
            reasons[same[0].index].append(f"same script type as the inputs ({same[0].script_type})")
    if in_values and len(in_values) == len(tx.inputs):
        smaller = [o for o in outs if o.value < min(in_values)]
        if len(smaller) == 1 and len(tx.inputs) > 1:
            scores[smaller[0].index] += 0.3
            reasons[smaller[0].index].append(
                "optimal change: the only output smaller than every input"
            )
    odd = [o for o in outs if not _round(o.value)]
    if len(odd) == 1:
        scores[odd[0].index] += 0.3
        reasons[odd[0].index].append(
            f"non-round amount {_btc(odd[0].value)} (the others are round)"
        )
    if first_seen is not None and tx.block_height is not None:
        fresh = [
            o for o in outs if o.address in first_seen and first_seen[o.address] >= tx.block_height
        ]
        old = [
            o for o in outs if o.address in first_seen and first_seen[o.address] < tx.block_height
        ]
        if len(fresh) == 1 and old:
            scores[fresh[0].index] += 0.2
            reasons[fresh[0].index].append("first-seen address (the others had history)")
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best, score = ranked[0]
    margin = score - (ranked[1][1] if len(ranked) > 1 else 0.0)
    if score <= 0 or margin <= 0:
        return None
    out = next(o for o in outs if o.index == best)
    return Finding(
        "change",
        tx.txid,
        f"change output {best}",
        min(0.95, margin),
        "; ".join(reasons[best]),
        (tx.txid,),
        (out.address,),
    )


# ------------------------------------------------------------------------------ peel chains


def peel_chains(txs: Iterable[BtcTx], min_length: int = 3) -> list[Finding]:
    """Runs of peel transactions (one input address, two outputs, the change spent next)."""
    txs = list(txs)
    spender: dict[str, BtcTx] = {}
    for t in txs:
        for i in t.inputs:
            spender[i.outpoint] = t

    def peel_change(t: BtcTx):
        addrs = {i.address for i in t.inputs}
        if t.coinbase or len(addrs) != 1 or None in addrs or len(t.outputs) != 2:
            return None
        change = change_output(t)
        if change is not None:
            index = int(change.label.rsplit(" ", 1)[1])
        else:
            index = max(t.outputs, key=lambda o: (o.value, -o.index)).index
        return next(o for o in t.outputs if o.index == index)

    nxt: dict[str, str] = {}
    for t in txs:
        change = peel_change(t)
        if change is None:
            continue
        follower = spender.get(f"{t.txid}:{change.index}")
        if follower is not None and peel_change(follower) is not None:
            nxt[t.txid] = follower.txid
    starts = set(nxt) - set(nxt.values())
    byid = {t.txid: t for t in txs}
    found = []
    for start in sorted(starts, key=lambda x: (byid[x].block_height or 0, x)):
        chain = [start]
        while chain[-1] in nxt and len(chain) < 100_000:
            chain.append(nxt[chain[-1]])
        if len(chain) < min_length:
            continue
        owners = [byid[x].inputs[0].address or "" for x in chain]
        peeled = sum(min(o.value for o in byid[x].outputs) for x in chain)
        found.append(
            Finding(
                "peel_chain",
                start,
                f"peel chain of {len(chain)} transactions",
                min(0.95, 0.5 + 0.1 * len(chain)),
                f"{len(chain)} consecutive one-input-address, two-output transactions, each "
                f"spending the previous one's change; about {_btc(peeled)} peeled off",
                tuple(chain),
                tuple(owners),
            )
        )
    return found


# ------------------------------------------------------------------------------ clustering


class UnionFind:
    """Incremental union-find over integer ids in flat arrays (path halving, union by min id)."""

    def __init__(self, size: int = 0):
        self.parent = array("q", range(size))

    def _grow(self, n: int) -> None:
        if n > len(self.parent):
            self.parent.extend(range(len(self.parent), n))

    def find(self, x: int) -> int:
        parent = self.parent
        if x >= len(parent):
            self._grow(x + 1)
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra

    def union_all(self, ids: Iterable[int]) -> None:
        it = iter(ids)
        first = next(it, None)
        if first is None:
            return
        for other in it:
            first = self.union(first, other)

    def labels(self, n: int | None = None) -> np.ndarray:
        n = len(self.parent) if n is None else n
        self._grow(n)
        return np.fromiter((self.find(i) for i in range(n)), dtype=np.int64, count=n)


class AddressClusters:
    """Multi-input clusters over the transactions a trace has seen (CoinJoins skipped)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.uf = UnionFind()
        self.evidence: dict[int, str] = {}  # root -> a txid that joined it (latest union)

    def id_of(self, address: str) -> int:
        i = self.ids.get(address)
        if i is None:
            i = self.ids[address] = len(self.names)
            self.names.append(address)
        return i

    def add(self, tx: BtcTx) -> None:
        addresses = sorted({i.address for i in tx.inputs if i.address})
        if len(addresses) < 2 or coinjoin(tx) is not None:
            for a in addresses:
                self.id_of(a)
            return
        self.uf.union_all(self.id_of(a) for a in addresses)

    def same(self, a: str, b: str) -> bool:
        if a not in self.ids or b not in self.ids:
            return a == b
        return self.uf.find(self.ids[a]) == self.uf.find(self.ids[b])

    def members(self, address: str) -> list[str]:
        if address not in self.ids:
            return [address]
        root = self.uf.find(self.ids[address])
        return sorted(n for i, n in enumerate(self.names) if self.uf.find(i) == root)


def cluster_multi_input(
    offsets: np.ndarray,
    ids: np.ndarray,
    n_addresses: int | None = None,
    skip: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster label (smallest member id) of every address id, by the co-spend heuristic.

    Transaction ``t`` spends the address ids ``ids[offsets[t]:offsets[t+1]]``; ``skip[t]`` true
    leaves it out (CoinJoins). Vectorized: each transaction's inputs become edges to its first
    input; rounds of hooking every root under the smallest root it touches (``np.minimum.at``)
    and pointer jumping until no edge crosses two clusters. Memory: a few arrays of the size of
    ``ids`` and ``n_addresses``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    ids = np.asarray(ids)
    n_tx = len(offsets) - 1
    if n_addresses is None:
        n_addresses = int(ids.max()) + 1 if len(ids) else 0
    label = np.arange(n_addresses, dtype=np.int64 if n_addresses > 2**31 - 1 else np.int32)
    if n_tx <= 0 or len(ids) == 0:
        return label
    counts = np.diff(offsets)
    keep = counts > 1
    if skip is not None:
        keep &= ~np.asarray(skip, dtype=bool)
    tx_of = np.repeat(np.arange(n_tx, dtype=np.int64), counts)
    member = keep[tx_of]
    first = ids[offsets[:-1][tx_of[member]]]
    u = first.astype(label.dtype, copy=False)
    v = ids[member].astype(label.dtype, copy=False)
    nontrivial = u != v
    u, v = u[nontrivial], v[nontrivial]
    del tx_of, member, first, counts, keep
    while len(u):
        lu, lv = label[u], label[v]
        crossing = lu != lv
        if not crossing.any():
            break
        u, v, lu, lv = u[crossing], v[crossing], lu[crossing], lv[crossing]
        hi = np.maximum(lu, lv)
        lo = np.minimum(lu, lv)
        np.minimum.at(label, hi, lo)
        while True:  # pointer jumping: every id points at its root
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
    return label


def cluster_python(offsets, ids, n_addresses: int, skip=None) -> list[int]:
    """The same clustering with a plain Python union-find (the benchmark's baseline)."""
    parent = list(range(n_addresses))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    offsets = [int(x) for x in offsets]
    ids = [int(x) for x in ids]
    for t in range(len(offsets) - 1):
        a, b = offsets[t], offsets[t + 1]
        if b - a < 2 or (skip is not None and skip[t]):
            continue
        root = find(ids[a])
        for k in range(a + 1, b):
            other = find(ids[k])
            if other != root:
                if other < root:
                    root, other = other, root
                parent[other] = root
    return [find(i) for i in range(n_addresses)]
