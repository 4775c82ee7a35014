"""UTXO tracing: hop-by-hop frontier expansion over Bitcoin transactions.

Taint lives on outputs. Each round the engine asks the source once for the histories (every
confirmed transaction spending from or paying to) of the new frontier addresses, then
(re)allocates every transaction that spends a tainted output held by an expanded address,
in chain order, with one rule of :mod:`tracer.bitcoin.allocation`. Tainted outputs make their
addresses the next frontier; when a later round finds another tainted input of a transaction
already allocated (another address of the same owner was expanded later), the transaction is
allocated again and only the outputs whose taint changed are passed on. Taint only moves forward
in chain order, so this settles.

Seeds are fully tainted: every output paying a seed is stolen (as on account chains), and a
seed's spends before ``--since`` are not followed.

Where the trace stops (``stop_reason``):

* ``exchange``, ``mixer``, ``bridge``, ``issuer``, ``swap``: a labelled service (a labelled
  exchange *deposit* address is expanded, so its sweep can confirm it);
* ``exchange`` also for an unlabelled address whose multi-input cluster (over the transactions
  fetched so far, CoinJoins skipped) contains a labelled exchange address: it was co-spent with
  the exchange's own coins (typically a deposit address swept in a consolidation);
* ``mixer`` for a **CoinJoin** (:func:`tracer.bitcoin.heuristics.coinjoin`): the taint entering
  it is not allocated to its outputs; the transaction becomes a node ``coinjoin:<txid>`` that the
  tainted senders pay into (edge key ``<txid>:coinjoin``, ``log_index`` -1);
* ``hop_cap``, ``fan_out`` (unlabelled address with more transactions than ``--fan-out``), as on
  account chains; outputs whose taint is below ``--min-amount`` are not followed.

The outcome is a :class:`tracer.engine.TraceOutcome` (so graph, flags and exports work
unchanged): one edge per (sending address with taint -> receiving output), keyed
``{txid}:{vout}``, ``kind`` ``utxo``, ``log_index`` the output index; when several tainted
addresses fund one output, each gets an edge with the same key (the outcome's dict keys add
``#<sender>`` to all but the largest contributor; :func:`tracer.bitcoin.report.build_graph`
restores the plain key). An edge's ``amount`` is the output value, its ``tainted`` the part of the
output's taint that came from that sender's inputs, its ``parents`` the tainted outputs those
inputs spent. Node ledgers (``NodeState.result``) hold, per address, the taint still sitting on
unspent outputs, so ``tainted_held`` works like on account chains.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracer.allocation import LedgerResult, Taint
from tracer.bitcoin.allocation import Allocation, AllocationError, InputTaint, allocate
from tracer.bitcoin.heuristics import (
    AddressClusters,
    Finding,
    change_output,
    coinjoin,
    peel_chains,
)
from tracer.bitcoin.model import COIN_DECIMALS, BtcTx, chain_order
from tracer.engine import STOP_ROLES, NodeState, TraceInputError, TraceOutcome, TraceParams
from tracer.records import Transfer
from tracer.sources.base import SourceError

ASSET = "native"
COINJOIN_PREFIX = "coinjoin:"


class _Unit:
    decimals = COIN_DECIMALS


@dataclass
class TxState:
    """A transaction the trace allocated (or stopped at, for a CoinJoin)."""

    tx: BtcTx
    inputs: list[InputTaint]
    alloc: Allocation | None  # None for a CoinJoin
    coinjoin: Finding | None = None

    def out_taint(self, floor: int) -> dict[int, InputTaint]:
        """vout -> taint of each followed output (tainted at or above the floor, has an owner)."""
        if self.alloc is None:
            return {}
        out = {}
        for k, o in enumerate(self.tx.outputs):
            t = self.alloc.out_tainted[k]
            if t and t >= floor and o.address:
                out[o.index] = InputTaint(o.value, self.alloc.out_segments[k])
        return out


@dataclass
class BitcoinOutcome(TraceOutcome):
    """A :class:`TraceOutcome` plus what only a UTXO trace knows."""

    states: dict[str, TxState] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cluster_stops: dict[str, tuple[str, str]] = field(default_factory=dict)  # addr -> (exch, txid)
    fee_tainted: int = 0
    txs: dict[str, BtcTx] = field(default_factory=dict)
    spender: dict[str, tuple[str, int]] = field(default_factory=dict)  # outpoint -> (txid, vin)

    def report(self) -> dict:
        """Heuristic findings and UTXO totals for the manifest."""
        return {
            "fee_tainted_sat": str(self.fee_tainted),
            "transactions_allocated": sum(1 for s in self.states.values() if s.alloc),
            "coinjoins": sum(1 for s in self.states.values() if s.coinjoin),
            "cluster_stops": {
                a: {"exchange_address": e, "txid": t}
                for a, (e, t) in sorted(self.cluster_stops.items())
            },
            "findings": [f.as_dict() for f in self.findings],
        }


RoleLookup = Callable[[str], "str | None"]
Progress = Callable[[int, int, int], None]


def trace(
    source,
    seeds: Iterable[str],
    params: TraceParams,
    role_of: RoleLookup = lambda a: None,
    progress: Progress | None = None,
    entries: Iterable[tuple[Transfer, Taint]] | None = None,
) -> BitcoinOutcome:
    """Trace forward from ``seeds`` (canonical Bitcoin addresses) over a Bitcoin source.

    ``entries`` (issue 10, :mod:`tracer.crosschain`): tainted outputs paid by a bridge (kind
    ``utxo`` transfers: txid, output index, receiver, value); each taints its output and becomes
    an edge from the paying address (a node stopped as ``bridge``), its receiver starts pending.
    """
    return _Tracer(source, params, role_of, progress).run(seeds, entries or ())


class _Tracer:
    def __init__(self, source, params: TraceParams, role_of, progress):
        self.source = source
        self.params = params
        self.role_of = role_of
        self.progress = progress
        self.floor = params.floor(_Unit())  # type: ignore[arg-type]
        self.nodes: dict[str, NodeState] = {}
        self.txs: dict[str, BtcTx] = {}
        self.depth: dict[str, int] = {}
        self.spender: dict[str, tuple[str, int]] = {}
        self.history: dict[str, list[str]] = {}
        self.first_seen: dict[str, int] = {}
        self.expanded: set[str] = set()
        self.taint: dict[str, InputTaint] = {}  # outpoint -> taint of a followed output
        self.owned: dict[str, set[str]] = defaultdict(set)  # address -> tainted outpoints
        self.states: dict[str, TxState] = {}
        self.clusters = AddressClusters()
        self.exchange_ids: set[int] = set()
        self.cluster_stops: dict[str, tuple[str, str]] = {}
        self.queries = 0
        self.rounds = 0

    # ------------------------------------------------------------------ the loop

    def run(self, seeds: Iterable[str], entries=()) -> BitcoinOutcome:
        seeds = sorted(set(seeds))
        self.entries = sorted(entries, key=lambda e: (e[0].tx_hash, e[0].log_index or 0))
        if not seeds and not self.entries:
            raise TraceInputError("no seed addresses")
        self.seeds = seeds
        for s in seeds:
            self.nodes[s] = NodeState(s, 0, seed=True)
        pending = set(seeds)
        for t, taint in self.entries:  # bridge releases: tainted outputs to start from
            op = f"{t.tx_hash}:{t.log_index}"
            self.taint[op] = InputTaint(t.amount, taint.segments)
            self.owned[t.to_address].add(op)
            node = self.nodes.get(t.to_address)
            if node is None:
                self.nodes[t.to_address] = NodeState(t.to_address, taint.hop)
            else:
                node.hop = min(node.hop, taint.hop)
            pending.add(t.to_address)
        while pending:
            self.rounds += 1
            expand = self._decide(pending)
            self._fetch(expand)
            expand = [a for a in expand if not self.nodes[a].stop_reason]
            for s in expand:
                if self.nodes[s].seed:
                    self._taint_seed(s)
            self.expanded.update(expand)
            heap: list[tuple] = []
            queued: set[str] = set()
            for a in expand:
                for op in sorted(self.owned.get(a, ())):
                    self._push_spender(op, heap, queued)
            pending = self._drain(heap, queued)
            if self.progress:
                self.progress(self.rounds, len(expand), len(self.taint))
        return self._outcome()

    def _decide(self, pending: set[str]) -> list[str]:
        expand = []
        for address in sorted(pending):
            node = self.nodes[address]
            if node.seed:
                node.stop_reason = ""
            elif node.stop_reason not in ("fan_out", "exchange", "mixer"):
                node.stop_reason = ""
                role = self.role_of(address)
                if role in STOP_ROLES:
                    node.stop_reason = role
                elif node.hop >= self.params.hops:
                    node.stop_reason = "hop_cap"
            if not node.stop_reason and address not in self.expanded:
                expand.append(address)
        return expand

    def _fetch(self, expand: list[str]) -> None:
        need = [a for a in expand if a not in self.history]
        p = self.params
        if need and p.fan_out:
            unlabelled = [a for a in need if not self.nodes[a].seed and self.role_of(a) is None]
            if unlabelled:
                degrees = self.source.degrees(unlabelled, None, p.until)
                self.queries += 1
                for a in unlabelled:
                    self.nodes[a].degree = degrees.get(a, 0)
                    if self.nodes[a].degree > p.fan_out:
                        self.nodes[a].stop_reason = "fan_out"
                need = [a for a in need if not self.nodes[a].stop_reason]
        if not need:
            return
        fetched = self.source.address_txs(need, p.until)
        self.queries += 1
        wanted = set(need)
        for a in need:
            self.history[a] = []
        for tx in chain_order(fetched):
            for k, i in enumerate(tx.inputs):
                if i.value is None:
                    raise SourceError(
                        f"transaction {tx.txid} input {k} has no value: the data is not enriched "
                        "with the spent outputs (bitcoin-etl: run enrich_transactions)"
                    )
            if tx.txid not in self.txs:
                self._add_tx(tx)
            for a in tx.addresses() & wanted:
                self.history[a].append(tx.txid)
        for a in need:
            node = self.nodes[a]
            node.degree = max(node.degree, len(self.history[a]))
            heights = [self.txs[t].block_height for t in self.history[a]]
            if heights:
                self.first_seen[a] = min(heights)
            if not node.seed and self.role_of(a) is None:
                hit = self._cluster_exchange(a)
                if hit is not None:
                    node.stop_reason = "exchange"
                    self.cluster_stops[a] = hit

    def _add_tx(self, tx: BtcTx) -> None:
        self.txs[tx.txid] = tx
        depth = 0
        for k, i in enumerate(tx.inputs):
            self.spender[i.outpoint] = (tx.txid, k)
            parent = self.txs.get(i.prev_txid)
            if parent is not None and parent.block_height == tx.block_height:
                depth = max(depth, self.depth.get(parent.txid, 0) + 1)
        self.depth[tx.txid] = depth
        for i in tx.inputs:
            if i.address and i.address not in self.clusters.ids:
                ident = self.clusters.id_of(i.address)
                if self.role_of(i.address) == "exchange":
                    self.exchange_ids.add(ident)
        self.clusters.add(tx)

    def _cluster_exchange(self, address: str) -> tuple[str, str] | None:
        """(labelled exchange address, linking txid) if ``address`` is in an exchange's cluster."""
        ident = self.clusters.ids.get(address)
        if ident is None or not self.exchange_ids:
            return None
        root = self.clusters.uf.find(ident)
        members = sorted(
            self.clusters.names[e] for e in self.exchange_ids if self.clusters.uf.find(e) == root
        )
        if not members:
            return None
        for txid in self.history.get(address, ()):
            tx = self.txs[txid]
            ins = {i.address for i in tx.inputs if i.address}
            if address in ins and len(ins) > 1 and coinjoin(tx) is None:
                return members[0], txid
        return members[0], ""

    def _taint_seed(self, seed: str) -> None:
        for txid in self.history.get(seed, ()):
            for o in self.txs[txid].outputs:
                if o.address == seed and o.value > 0:
                    op = f"{txid}:{o.index}"
                    self.taint[op] = InputTaint.full(o.value)
                    self.owned[seed].add(op)

    def _push_spender(self, outpoint: str, heap: list, queued: set[str]) -> None:
        spent = self.spender.get(outpoint)
        if spent is None:
            return
        txid = spent[0]
        if txid not in queued:
            queued.add(txid)
            tx = self.txs[txid]
            heapq.heappush(heap, (tx.block_height, self.depth.get(txid, 0), txid))

    def _drain(self, heap: list, queued: set[str]) -> set[str]:
        next_pending: set[str] = set()
        while heap:
            _, _, txid = heapq.heappop(heap)
            queued.discard(txid)
            self._compute(txid, heap, queued, next_pending)
        return next_pending

    # ------------------------------------------------------------------ one transaction

    def _compute(self, txid: str, heap, queued, next_pending: set[str]) -> None:
        tx = self.txs[txid]
        p = self.params
        new: TxState | None = None
        if p.since is None or (tx.block_time or 0) >= p.since:
            inputs, tainted = [], False
            for k, i in enumerate(tx.inputs):
                t = self.taint.get(i.outpoint)
                followed = t is not None and i.address in self.expanded
                if i.value is None:
                    if followed or tainted:
                        raise SourceError(
                            f"transaction {txid} input {k} has no value (the export is not "
                            "enriched with the spent outputs)"
                        )
                    inputs.append(InputTaint.clean(0))
                    continue
                if followed:
                    inputs.append(t)  # type: ignore[arg-type]
                    tainted = tainted or t.tainted > 0  # type: ignore[union-attr]
                else:
                    inputs.append(InputTaint.clean(i.value))
            if tainted and any(i.value is None for i in tx.inputs):
                raise SourceError(f"transaction {txid} has an input without value")
            if tainted:
                cj = coinjoin(tx)
                if cj is not None:
                    new = TxState(tx, inputs, None, cj)
                else:
                    try:
                        alloc = allocate(p.policy, inputs, [o.value for o in tx.outputs])
                    except AllocationError as e:
                        raise SourceError(f"transaction {txid}: {e}") from None
                    new = TxState(tx, inputs, alloc)
        old = self.states.get(txid)
        if new is None:
            self.states.pop(txid, None)
        else:
            self.states[txid] = new
        old_out = old.out_taint(self.floor) if old else {}
        new_out = new.out_taint(self.floor) if new else {}
        hop = self._tx_hop(new) if new else None
        for vout in sorted(set(old_out) | set(new_out)):
            before, after = old_out.get(vout), new_out.get(vout)
            out = tx.outputs[vout]
            op = f"{txid}:{vout}"
            if before == after:
                continue
            receiver = out.address
            if after is None:
                self.taint.pop(op, None)
                self.owned[receiver].discard(op)
            else:
                self.taint[op] = after
                self.owned[receiver].add(op)
                self._reach(receiver, hop, next_pending)
            if receiver in self.expanded:
                self._push_spender(op, heap, queued)
        if new is not None and new.coinjoin is not None:
            self._reach(COINJOIN_PREFIX + txid, hop, set(), stop="mixer")

    def _tx_hop(self, state: TxState) -> int:
        hops = [
            self.nodes[i.address].hop
            for i, t in zip(state.tx.inputs, state.inputs, strict=True)
            if t.tainted and i.address in self.nodes
        ]
        return (min(hops) if hops else 0) + 1

    def _reach(self, address: str, hop: int | None, next_pending: set[str], stop="") -> None:
        hop = 1 if hop is None else hop
        node = self.nodes.get(address)
        if node is None:
            node = self.nodes[address] = NodeState(address, hop, stop_reason=stop)
            if not stop:
                next_pending.add(address)
            return
        if hop < node.hop:
            node.hop = hop
            if node.stop_reason == "hop_cap" and hop < self.params.hops:
                node.stop_reason = ""
                next_pending.add(address)
        if address not in self.expanded and not node.stop_reason and not node.seed:
            next_pending.add(address)

    # ------------------------------------------------------------------ outcome

    def _outcome(self) -> BitcoinOutcome:
        p = self.params
        source_name = getattr(self.source, "source", getattr(self.source, "name", "bitcoin"))
        edges: dict[str, tuple[Transfer, Taint, str]] = {}
        below = 0
        fee_tainted = 0
        pruned: list[tuple[Transfer, str]] = []
        order = sorted(
            self.states.values(),
            key=lambda s: (s.tx.block_height, self.depth.get(s.tx.txid, 0), s.tx.txid),
        )

        def transfer(tx: BtcTx, sender: str, receiver: str, amount: int, vout) -> Transfer:
            return Transfer(
                "bitcoin",
                ASSET,
                sender,
                receiver,
                amount,
                COIN_DECIMALS,
                tx.txid,
                vout,
                tx.block_height or 0,
                tx.block_time or 0,
                0,
                True,
                source_name,
                "utxo",
            )

        for st in order:
            tx = st.tx
            if st.alloc is None:  # CoinJoin: the senders pay into the CoinJoin node
                by_sender: dict[str, list] = {}
                for i, t in zip(tx.inputs, st.inputs, strict=True):
                    if t.tainted:
                        acc = by_sender.setdefault(i.address or "", [0, 0, set()])
                        acc[0] += t.tainted
                        acc[1] += t.value
                        acc[2].add(i.outpoint)
                ranked = sorted(by_sender.items(), key=lambda kv: (-kv[1][0], kv[0]))
                pseudo = COINJOIN_PREFIX + tx.txid
                for j, (sender, (tainted, amount, parents)) in enumerate(ranked):
                    key = f"{tx.txid}:coinjoin" + ("" if j == 0 else f"#{sender}")
                    hop = self.nodes[sender].hop + 1 if sender in self.nodes else 1
                    segs = tuple(s for s in ((tainted, True), (amount - tainted, False)) if s[0])
                    edges[key] = (
                        transfer(tx, sender, pseudo, amount, None),
                        Taint(tainted, segs, tuple(sorted(parents)), hop),
                        "",
                    )
                for o in tx.outputs:
                    if o.address:
                        pruned.append(
                            (transfer(tx, pseudo, o.address, o.value, o.index), "coinjoin")
                        )
                continue
            fee_tainted += st.alloc.fee_tainted
            for k, o in enumerate(tx.outputs):
                tainted = st.alloc.out_tainted[k]
                if not tainted:
                    continue
                contributions: dict[str, list] = {}
                for idx, sat in st.alloc.sources[k].items():
                    i = tx.inputs[idx]
                    acc = contributions.setdefault(i.address or "", [0, set()])
                    acc[0] += sat
                    acc[1].add(i.outpoint)
                ranked = sorted(contributions.items(), key=lambda kv: (-kv[1][0], kv[0]))
                if not o.address:
                    t = transfer(tx, ranked[0][0], o.script_type, o.value, o.index)
                    pruned.append((t, "no_address"))
                    continue
                if tainted < self.floor or (p.since is not None and (tx.block_time or 0) < p.since):
                    below += tainted
                    continue
                for j, (sender, (sat, parents)) in enumerate(ranked):
                    key = f"{tx.txid}:{o.index}" + ("" if j == 0 else f"#{sender}")
                    if len(ranked) == 1:
                        segs = st.alloc.out_segments[k]
                    else:
                        segs = tuple(s for s in ((sat, True), (o.value - sat, False)) if s[0])
                    hop = self.nodes[sender].hop + 1 if sender in self.nodes else 1
                    edges[key] = (
                        transfer(tx, sender, o.address, o.value, o.index),
                        Taint(sat, segs, tuple(sorted(parents)), hop),
                        "",
                    )
        for t, taint in self.entries:  # bridge releases: edges from a stopped bridge node
            edges[t.transfer_id] = (t, taint, "")
            if t.from_address not in self.nodes:
                self.nodes[t.from_address] = NodeState(
                    t.from_address, max(taint.hop - 1, 0), stop_reason="bridge"
                )
        # parents name the tainted outputs spent; keep those that are edges (primary keys)
        for key, (t, taint, swap) in list(edges.items()):
            parents = tuple(x for x in taint.parents if x in edges)
            if parents != taint.parents:
                edges[key] = (t, Taint(taint.tainted, taint.segments, parents, taint.hop), swap)

        reached = set(self.seeds)
        for t, _, _ in edges.values():
            reached.add(t.from_address)
            reached.add(t.to_address)
        nodes = {a: n for a, n in self.nodes.items() if a in reached}
        into: dict[str, list] = defaultdict(list)
        out_of: dict[str, dict[str, Taint]] = defaultdict(dict)
        for key, (t, taint, _) in edges.items():
            into[t.to_address].append((t, taint))
            out_of[t.from_address][key] = taint
        for address, node in nodes.items():
            if address not in self.expanded:
                node.result = None
                continue
            held = 0
            balance = 0
            for txid in self.history.get(address, ()):
                tx = self.txs[txid]
                for o in tx.outputs:
                    op = f"{txid}:{o.index}"
                    if o.address != address:
                        continue
                    spent = self.spender.get(op)
                    followed = spent is not None and spent[0] in self.states
                    if spent is None:
                        balance += o.value
                    if op in self.taint and not followed:
                        held += self.taint[op].tainted
            received = sum(taint.tainted for _, taint in into.get(address, ()))
            if node.seed:
                received = sum(
                    self.taint[op].tainted for op in self.owned.get(address, ()) if op in self.taint
                )
            times = [t.timestamp for t, taint in into.get(address, ()) if taint.tainted]
            node.result = LedgerResult(
                out=dict(out_of.get(address, {})),
                held={ASSET: held},
                balance={ASSET: balance},
                received={ASSET: received} if received else {},
                first_tainted=min(times) if times else None,
            )
        findings: list[Finding] = []
        for st in order:
            if st.coinjoin is not None:
                findings.append(st.coinjoin)
        allocated = [st.tx for st in order if st.alloc is not None]
        for tx in allocated:
            change = change_output(tx, self.first_seen)
            if change is not None:
                findings.append(change)
        findings.extend(peel_chains(allocated))
        return BitcoinOutcome(
            chain="bitcoin",
            params=p,
            seeds=list(self.seeds),
            nodes=dict(sorted(nodes.items())),
            edges=dict(
                sorted(
                    edges.items(),
                    key=lambda kv: (
                        kv[1][0].block_number,
                        self.depth.get(kv[1][0].tx_hash, 0),
                        kv[1][0].tx_hash,
                        -1 if kv[1][0].log_index is None else kv[1][0].log_index,
                        kv[0],
                    ),
                )
            ),
            histories={},
            pruned=pruned,
            below_floor={ASSET: below} if below else {},
            rounds=self.rounds,
            queries=self.queries,
            states=self.states,
            findings=findings,
            cluster_stops=dict(self.cluster_stops),
            fee_tainted=fee_tainted,
            txs=self.txs,
            spender=self.spender,
        )
