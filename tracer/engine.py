"""Hop-by-hop frontier expansion.

Each round asks the source for the histories of every new frontier address in one batch, replays
the ledgers of every address whose tainted inflows changed, and hands the tainted outflows to
their receivers, who form the next frontier. Taint only moves forward in chain order, so
re-running a ledger when a later round discovers another tainted inflow converges.

Stops: labelled services (exchange, mixer, bridge, issuer, swap contracts; a labelled deposit
address is expanded so its sweep can confirm it), the hop cap,
the fan-out guard for unlabelled busy addresses, and the minimum tainted amount.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial, wraps
from typing import ParamSpec, TypeVar

from tracer.allocation import POLICIES, LedgerResult, Taint, run_ledgers
from tracer.records import Transfer, parse_units
from tracer.sources.base import Source

#: Label roles at which the trace stops (the funds reached a service: flag, never expand).
STOP_ROLES = ("exchange", "mixer", "bridge", "issuer", "swap")


class TraceInputError(ValueError):
    """Bad trace parameters (one line, shown to the user)."""


@dataclass(frozen=True)
class TraceParams:
    policy: str = "haircut"
    hops: int = 6
    since: int | None = None  # taint starts here: a seed's earlier outflows are not followed
    until: int | None = None
    min_amount: str | None = None  # minimum tainted amount followed, in token units
    fan_out: int = 1000  # transfers above which an unlabelled address is not expanded (0 = off)
    seed_assets: frozenset[str] | None = None  # assets a seed's holdings are tainted in

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise TraceInputError(f"unknown policy {self.policy!r}; choose {', '.join(POLICIES)}")
        if self.hops < 1:
            raise TraceInputError("--hops must be at least 1")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise TraceInputError("--since is after --until")

        if self.min_amount is not None:
            try:
                parse_units(self.min_amount, 30)
            except ValueError as e:
                raise TraceInputError(f"--min-amount: {e}") from None

    def floor(self, t: Transfer) -> int:
        """Smallest tainted amount of ``t``'s asset that is followed, in base units."""
        if not self.min_amount:
            return 1
        decimals = t.decimals or 0
        try:
            return max(1, parse_units(self.min_amount, decimals))
        except ValueError:  # more precision than the asset has: round up to one base unit
            whole, _, frac = self.min_amount.partition(".")
            return max(
                1, parse_units(f"{whole}.{frac[:decimals]}" if decimals else whole, decimals)
            )


@dataclass
class NodeState:
    address: str
    hop: int
    seed: bool = False
    stop_reason: str = ""
    degree: int = 0
    result: LedgerResult | None = None


@dataclass
class TraceOutcome:
    """Everything a trace found, before it becomes a graph."""

    chain: str
    params: TraceParams
    seeds: list[str]
    nodes: dict[str, NodeState]
    edges: dict[str, tuple[Transfer, Taint, str]]  # tid -> (transfer, taint, swap: ""|"out"|"in")
    histories: dict[str, Sequence[Transfer]]
    pruned: list[tuple[Transfer, str]]
    below_floor: dict[str, int]  # asset -> tainted base units not followed
    rounds: int = 0
    queries: int = 0

    def inflows(self) -> dict[str, list[str]]:
        """Receiver address -> tids of its tainted inflow edges."""
        into: dict[str, list[str]] = defaultdict(list)
        for tid, (t, _, _) in self.edges.items():
            into[t.to_address].append(tid)
        return into


@dataclass(frozen=True)
class LedgerJob:
    """One address's ledger replay: everything :func:`run_ledgers` needs, nothing shared."""

    address: str
    history: Sequence[Transfer]  # a list, or a columnar history that can replay itself
    tainted_in: dict[str, Taint]
    seed: bool
    hop: int


LedgerRunner = Callable[[list[LedgerJob], TraceParams], dict[str, LedgerResult]]


def run_jobs(jobs: list[LedgerJob], params: TraceParams) -> dict[str, LedgerResult]:
    """Replay ledgers in this process (the default runner)."""
    results = {}
    for j in jobs:
        # a columnar history (bulk index) replays itself, over arrays where the rule allows
        replay = getattr(j.history, "replay", None) or partial(run_ledgers, j.address, j.history)
        results[j.address] = replay(
            j.tainted_in,
            params.policy,
            seed=j.seed,
            seed_assets=params.seed_assets,
            hop=j.hop,
        )
    return results


RoleLookup = Callable[[str], "str | None"]  # address -> engine role from labels, or None
Progress = Callable[[int, int, int], None]  # (round, frontier size, edges so far)
Prefetch = Callable[[list[str]], object]  # warm role lookups for a whole frontier at once


P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic garbage collector off, restoring its state after. Why: a
    trace allocates ~10^5 objects that all live until it ends; collection passes in between
    walk them again and again and free nothing."""

    @wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@gc_paused
def trace(
    source: Source,
    seeds: Iterable[str],
    params: TraceParams,
    role_of: RoleLookup = lambda a: None,
    progress: Progress | None = None,
    ledger_runner: LedgerRunner | None = None,
    prefetch: Prefetch | None = None,
    entries: Iterable[tuple[Transfer, Taint]] | None = None,
) -> TraceOutcome:
    """Trace forward from ``seeds`` (canonical addresses on ``source.chain``).

    ``ledger_runner`` replays a round's ledgers somewhere else (e.g. as a Spark job); by
    default they run in this process with :func:`run_jobs`. ``prefetch`` is called once per
    round with the round's new addresses before ``role_of`` is asked about any of them, so a
    label store answers a whole frontier with one query instead of one per address.
    ``entries`` are tainted inflows from outside this chain's trace (a bridge's release on the
    destination chain, :mod:`tracer.crosschain`): each becomes an edge, its receiver starts
    pending like a seed's receiver, and its sender a node stopped as ``bridge``.
    """
    seeds = sorted(set(seeds))
    entry_list = sorted(entries or (), key=lambda e: (e[0].position, e[0].transfer_id))
    if not seeds and not entry_list:
        raise TraceInputError("no seed addresses")
    nodes: dict[str, NodeState] = {s: NodeState(s, 0, seed=True) for s in seeds}
    tainted_in: dict[str, dict[str, Taint]] = defaultdict(dict)
    swap_paid: dict[str, set[str]] = defaultdict(set)  # receiver -> tids that paid for a swap
    histories: dict[str, Sequence[Transfer]] = {}
    by_id: dict[str, Transfer] = {}
    pruned: list[tuple[Transfer, str]] = []
    pruned_ids: set[str] = set()
    queries = 0
    rounds = 0
    pending = set(seeds)
    entry_into: dict[str, list[Transfer]] = defaultdict(list)
    for t, taint in entry_list:
        tid = t.transfer_id
        by_id[tid] = t
        tainted_in[t.to_address][tid] = taint
        entry_into[t.to_address].append(t)
        node = nodes.get(t.to_address)
        if node is None:
            nodes[t.to_address] = NodeState(t.to_address, taint.hop)
        else:
            node.hop = min(node.hop, taint.hop)
        pending.add(t.to_address)
    last_rows = None  # the previous round's columnar rows, if the source has them

    while pending:
        rounds += 1
        if prefetch:
            prefetch(sorted(pending))
        expand: list[str] = []
        for address in sorted(pending):
            node = nodes[address]
            reason = _stop_reason(node, params, role_of, tainted_in, swap_paid)
            node.stop_reason = reason
            if not reason:
                expand.append(address)
        need = [a for a in expand if a not in histories]
        if need and params.fan_out:
            unlabelled = [a for a in need if not nodes[a].seed]
            if unlabelled:
                degrees = source.degrees(unlabelled, None, params.until)
                queries += 1
                for a in unlabelled:
                    nodes[a].degree = degrees.get(a, 0)
                    if nodes[a].degree > params.fan_out:
                        nodes[a].stop_reason = "fan_out"
                busy = {a for a in unlabelled if nodes[a].stop_reason}
                need = [a for a in need if a not in busy]
                expand = [a for a in expand if a not in busy]
        columnar = getattr(source, "frontier_rows", None)
        rows = columnar(need, None, params.until, after=last_rows) if need and columnar else None
        if rows is not None:  # columns: records are built only for the rows read
            last_rows = rows
            queries += 1
            for t, reason in rows.pruned():
                tid = t.transfer_id
                if tid not in pruned_ids:
                    pruned_ids.add(tid)
                    pruned.append((t, reason))
            for a in need:
                histories[a] = rows.history(a)
                if a in entry_into:  # an entry the data lacks: replay a plain list instead
                    full = list(histories[a])
                    known = {t.transfer_id for t in full}
                    missing = [t for t in entry_into[a] if t.transfer_id not in known]
                    if missing:
                        for t in full:
                            by_id.setdefault(t.transfer_id, t)
                        histories[a] = sorted(full + missing, key=lambda t: t.position)
                nodes[a].degree = max(nodes[a].degree, len(histories[a]))
        elif need:
            fetched = source.transfers(need, None, params.until)
            queries += 1
            wanted = set(need)
            for a in need:
                histories[a] = []
            for t in fetched:
                tid = t.transfer_id
                reason = _prune_reason(t)
                if reason:
                    if tid not in pruned_ids:
                        pruned_ids.add(tid)
                        pruned.append((t, reason))
                    continue
                by_id[tid] = t
                if t.from_address in wanted:
                    histories[t.from_address].append(t)
                if t.to_address in wanted and t.to_address != t.from_address:
                    histories[t.to_address].append(t)
            for a in need:  # sources answer in chain order, so each history is in order
                if a in entry_into:  # an entry the source did not return still counts
                    known = {t.transfer_id for t in histories[a]}
                    missing = [t for t in entry_into[a] if t.transfer_id not in known]
                    if missing:
                        histories[a] = sorted(histories[a] + missing, key=lambda t: t.position)
                nodes[a].degree = max(nodes[a].degree, len(histories[a]))

        next_pending: set[str] = set()
        jobs = [
            LedgerJob(
                a,
                list(histories[a]) if ledger_runner else histories[a],  # runners pickle lists
                dict(tainted_in[a]),
                nodes[a].seed,
                nodes[a].hop,
            )
            for a in expand
        ]
        results = ledger_runner(jobs, params) if ledger_runner else run_jobs(jobs, params)
        for address in expand:
            node = nodes[address]
            old = node.result
            res = results[address]
            node.result = res
            lookup = getattr(histories[address], "transfers_by_id", None)
            if lookup is not None:  # columnar history: records of the tainted rows only
                by_id.update(lookup([*res.out, *res.swap_in]))
            old_out = old.out if old else {}
            for tid in sorted(set(old_out) | set(res.out)):
                new = res.out.get(tid)
                if new is not None and not _followed(by_id[tid], new, params):
                    new = None
                if old_out.get(tid) == new and old is not None:
                    continue
                t = by_id[tid]
                receiver = t.to_address
                if new is None:
                    if tainted_in[receiver].pop(tid, None) is None:
                        continue
                else:
                    tainted_in[receiver][tid] = new
                    if tid in res.swap_out:
                        swap_paid[receiver].add(tid)
                rnode = nodes.get(receiver)
                if rnode is None:
                    rnode = nodes[receiver] = NodeState(receiver, node.hop + 1)
                else:
                    rnode.hop = min(rnode.hop, node.hop + 1)
                next_pending.add(receiver)
        if progress:
            progress(rounds, len(expand), sum(len(v) for v in tainted_in.values()))
        pending = next_pending

    edges: dict[str, tuple[Transfer, Taint, str]] = {}
    below: dict[str, int] = defaultdict(int)
    for address in sorted(nodes):
        res = nodes[address].result
        if res is None:
            continue
        for tid, taint in res.out.items():
            t = by_id[tid]
            if params.since is not None and t.timestamp < params.since:
                continue
            if taint.tainted < params.floor(t):
                below[t.asset] += taint.tainted
                continue
            edges[tid] = (t, taint, "out" if tid in res.swap_out else "")
        for tid, taint in res.swap_in.items():
            t = by_id[tid]
            edges[tid] = (t, taint, "in")
            if t.from_address not in nodes:
                nodes[t.from_address] = NodeState(
                    t.from_address, nodes[address].hop + 1, stop_reason="swap"
                )
    for t, taint in entry_list:  # inflows from a bridge: edges from a stopped bridge node
        edges[t.transfer_id] = (t, taint, "")
        if t.from_address not in nodes:
            nodes[t.from_address] = NodeState(
                t.from_address, max(taint.hop - 1, 0), stop_reason="bridge"
            )
    # the seeds' own tainted inflows from outside the trace are not edges; drop stale nodes
    reached = (
        set(seeds)
        | {t.to_address for t, _, _ in edges.values()}
        | {t.from_address for t, _, _ in edges.values()}
    )
    nodes = {a: n for a, n in nodes.items() if a in reached}
    return TraceOutcome(
        chain=source.chain,
        params=params,
        seeds=seeds,
        nodes=nodes,
        edges=dict(sorted(edges.items(), key=lambda kv: kv[1][0].position)),
        histories=histories,
        pruned=pruned,
        below_floor=dict(below),
        rounds=rounds,
        queries=queries,
    )


def _followed(t: Transfer, taint: Taint, params: TraceParams) -> bool:
    """Whether a tainted outflow is handed on: inside the window and above the floor."""
    if params.since is not None and t.timestamp < params.since:
        return False
    return taint.tainted >= params.floor(t)


def _prune_reason(t: Transfer) -> str:
    if not t.success:
        return "failed_transaction"
    if t.amount <= 0:
        return "zero_value"
    return ""


def _stop_reason(node, params, role_of, tainted_in, swap_paid) -> str:
    if node.seed:
        return ""
    if node.stop_reason == "fan_out":
        return "fan_out"
    role = role_of(node.address)
    if role in STOP_ROLES:
        return role
    inflows = tainted_in.get(node.address)
    if inflows and all(tid in swap_paid.get(node.address, ()) for tid in inflows):
        return "swap"
    if node.hop >= params.hops:
        return "hop_cap"
    return ""


def path_to(edge_id: str, edges: dict[str, tuple[Transfer, Taint, str]]) -> list[str]:
    """Edge ids from a seed's outflow to ``edge_id``, following the best (fewest-hop) parents."""
    chain = [edge_id]
    seen = {edge_id}
    current = edge_id
    while True:
        parents = [p for p in edges[current][1].parents if p in edges and p not in seen]
        if not parents:
            break
        current = min(parents, key=lambda p: (edges[p][1].hop, p))
        seen.add(current)
        chain.append(current)
    return chain[::-1]
