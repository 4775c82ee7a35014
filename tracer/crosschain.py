"""Follow stolen funds through bridges and swap services onto other chains (issue 10).

A trace on chain A stops at bridge contracts (labelled ``bridge``, or known to a decoder in
:mod:`tracer.bridges`). For every tainted transfer into one of them this module

1. finds the deposit: the decoder's event in the same transaction (``logs`` table of the chain's
   exports), or the transfer itself for services without events (inferred decoders);
2. links it to its release(s) on the destination chain: exactly, by the protocol's identifier,
   or by inference (amount, time, recipient, shared gas funder) with a confidence;
3. carries the tainted share across in proportion to what was released
   (``released * tainted // deposited``; the fee is reported, never invented), and seeds chain
   B's trace with the release transfers as *entries* (:func:`tracer.engine.trace`);
4. repeats for every new leg (a chain traced again only for new entries), at most
   :data:`MAX_LEGS` legs.

A deposit that cannot be followed stays a **bridge stop** with its reason (``no_decoder``,
``undecoded``, ``no_destination_data``, ``no_release``, ``ambiguous``, ``low_confidence``).
The legs' graphs are merged (node keys are ``chain:address``) and joined by edges of kind
``bridge`` from the source bridge contract to the destination payout address.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from tracer.allocation import Taint
from tracer.bridges import BridgeFileError, Registry, default_registry, load_bridge_file
from tracer.bridges.base import BridgeDeposit, BridgeLink, BridgeRelease, BridgeStop, carried
from tracer.bridges.events import DuckDBLogs
from tracer.bridges.inferred import Evidence
from tracer.chains import Asset, UnknownChain, get_chain
from tracer.engine import TraceInputError
from tracer.graph import node_key
from tracer.records import Transfer, iso_utc
from tracer.sources.base import SourceError

MAX_LEGS = 8
#: How far after a deposit exact decoders look for its release (seconds).
EXACT_WINDOW = 7 * 24 * 3600
#: A gas funder that funded more addresses than this is a service, not the launderer.
FUNDER_MAX_FUNDED = 50

BRIDGE_COLUMNS = [
    "bridge",
    "linkage",
    "confidence",
    "src_chain",
    "src_contract",
    "src_tx_hash",
    "src_log_index",
    "deposit_transfer_id",
    "sender",
    "src_asset",
    "deposited",
    "tainted",
    "dest_chain",
    "dest_contract",
    "dest_tx_hash",
    "dest_log_index",
    "recipient",
    "dest_asset",
    "released",
    "carried",
    "fee",
    "kind",
    "link_key",
    "src_time",
    "dest_time",
    "evidence",
]
STOP_COLUMNS = [
    "chain",
    "contract",
    "bridge",
    "tx_hash",
    "transfer_id",
    "asset",
    "amount",
    "tainted",
    "reason",
    "dest_chain",
    "detail",
]


@dataclass(frozen=True)
class Hop:
    """One followed bridge hop: the link, the tainted deposit transfer and what was carried."""

    link: BridgeLink
    deposit_transfer: Transfer
    tainted: int  # tainted base units of the deposit transfer
    entries: tuple[tuple[Transfer, Taint], ...]  # the release transfers and their taint

    @property
    def carried(self) -> int:
        return sum(taint.tainted for _, taint in self.entries)


@dataclass
class CrossChain:
    """Everything the cross-chain orchestration found (written as bridges.csv etc.)."""

    hops: list[Hop] = field(default_factory=list)
    stops: list[BridgeStop] = field(default_factory=list)
    legs: list[dict] = field(default_factory=list)
    registry: dict[str, dict[str, str]] = field(default_factory=dict)  # chain -> contract -> name

    def report(self) -> dict:
        """The manifest's ``crosschain`` section."""
        by_reason: dict[str, int] = defaultdict(int)
        for s in self.stops:
            by_reason[s.reason] += 1
        return {
            "legs": self.legs,
            "hops": [
                {
                    "bridge": h.link.deposit.bridge,
                    "linkage": h.link.linkage,
                    "confidence": h.link.confidence,
                    "src": f"{h.link.deposit.chain}:{h.link.deposit.tx_hash}",
                    "dest": [f"{r.chain}:{r.tx_hash}" for r in h.link.releases],
                    "tainted": str(h.tainted),
                    "carried": str(h.carried),
                    "fee": None if h.link.fee is None else str(h.link.fee),
                }
                for h in self.hops
            ],
            "stops": dict(sorted(by_reason.items())),
            "stop_list": [
                {
                    "chain": s.chain,
                    "contract": s.contract,
                    "bridge": s.bridge,
                    "tx_hash": s.tx_hash,
                    "reason": s.reason,
                    "tainted": str(s.tainted),
                    "dest_chain": s.dest_chain,
                    "detail": s.detail,
                }
                for s in sorted(self.stops, key=lambda s: (s.chain, s.tx_hash, s.transfer_id))
            ],
            "bridge_contracts": {
                c: dict(sorted(m.items())) for c, m in sorted(self.registry.items())
            },
        }


# ------------------------------------------------------------------------------------------
# orchestration


def trace_crosschain(
    *,
    src,
    chain_info,
    seeds,
    params,
    index,
    asset_book: dict[str, Asset],
    extra_assets: list[Asset],
    follow: dict[str, str | Path],
    bridges,
    case,
    case_info: dict,
    label_paths: list[str],
    data,
    store,
    warnings: list[str],
    progress=None,
):
    """Trace ``seeds`` on ``chain_info`` and follow bridges onto the ``follow`` chains."""
    from tracer.api import TraceResult, _manifest, trace_leg

    registry = _registry(case_info, bridges)
    chains = _follow_chains(follow, chain_info.name)
    books: dict[str, dict[str, Asset]] = {chain_info.name: asset_book}
    for name in chains:
        book = dict(get_chain(name).assets)
        book.update({a.address: a for a in extra_assets if a.chain == name})
        books[name] = book
    sources = {chain_info.name: src}
    logs: dict[str, DuckDBLogs | None] = {}
    data_dirs = {chain_info.name: data, **{k: str(v) for k, v in chains.items()}}

    def source_of(chain: str):
        if chain not in sources:
            from tracer.sources import open_source

            try:
                if get_chain(chain).kind == "utxo":  # bitcoin-etl exports (tracer/bitcoin)
                    from tracer.bitcoin.pipeline import open_bitcoin_source

                    sources[chain] = open_bitcoin_source("bitcoin-etl", data=str(chains[chain]))
                else:
                    sources[chain] = open_source("duckdb", chain, data=str(chains[chain]))
            except SourceError as e:
                raise TraceInputError(f"--follow {chain}: {e}") from None
        return sources[chain]

    def logs_of(chain: str) -> DuckDBLogs | None:
        if chain not in logs:
            where = data_dirs.get(chain)
            logs[chain] = None
            if where is not None and Path(where).is_dir():
                try:
                    logs[chain] = DuckDBLogs(where, chain)
                except SourceError as e:
                    raise TraceInputError(f"{chain} logs: {e}") from None
        return logs[chain]

    def lookup(chain: str, asset: str):
        return books.get(chain, {}).get(asset)

    result = CrossChain(
        registry={c: registry.contracts(c) for c in sorted({chain_info.name, *chains})}
    )
    legs = []
    used_entries: set[tuple[str, str]] = set()
    queue: deque = deque([(chain_info.name, list(seeds), [])])
    tainted_on: dict[str, set[str]] = defaultdict(set)
    while queue and len(legs) < MAX_LEGS:
        chain, leg_seeds, entries = queue.popleft()
        info = get_chain(chain)
        roles = {
            c: ("bridge", name, f"{name} bridge contract (tracer.bridges)")
            for c, name in registry.contracts(chain).items()
        }
        if info.kind == "utxo":  # a Bitcoin leg: the UTXO engine (only entries, no seeds)
            from tracer.api import Leg
            from tracer.bitcoin.pipeline import trace_bitcoin

            outcome, graph, flags, bsrc = trace_bitcoin(
                leg_seeds,
                params,
                index,
                source_of(chain),
                None,
                None,
                progress,
                entries=entries,
                extra_roles=roles,
            )
            leg = Leg(outcome, graph, flags, bsrc)
        else:
            leg = trace_leg(
                source_of(chain),
                info,
                leg_seeds,
                params,
                index,
                books[chain],
                progress=progress,
                entries=entries,
                extra_roles=roles,
            )
        legs.append(leg)
        tainted_on[chain].update(leg.outcome.nodes)
        result.legs.append(
            {
                "leg": len(legs),
                "chain": chain,
                "seeds": list(leg.outcome.seeds),
                "entries": len(entries),
                "data": None if data_dirs.get(chain) is None else str(data_dirs[chain]),
                "data_fingerprint": leg.source.fingerprint(),
                "rounds": leg.outcome.rounds,
                "source_queries": leg.outcome.queries,
                "nodes": leg.graph.number_of_nodes(),
                "edges": leg.graph.number_of_edges(),
            }
        )
        hops, stops = _follow_bridges(
            leg.outcome, registry, chains, source_of, logs_of, lookup, tainted_on
        )
        result.stops.extend(stops)
        new: dict[str, list] = defaultdict(list)
        for hop in hops:
            result.hops.append(hop)
            for t, taint in hop.entries:
                key = (t.chain, t.transfer_id)
                if t.chain not in chains and t.chain != chain_info.name:
                    continue  # reported in bridges.csv; no data to trace it on
                if not t.to_address:
                    continue  # a release that names no recipient (NTT): nothing to follow
                if key not in used_entries:
                    used_entries.add(key)
                    new[t.chain].append((t, taint))
        for dest in sorted(new):
            queue.append((dest, [], new[dest]))
    if queue:
        warnings = [*warnings, f"cross-chain: stopped after {MAX_LEGS} legs"]

    graph = _merge_graphs(legs, result.hops, books)
    flags = _merge_flags(legs, result)
    first = legs[0].outcome
    pruned = [p for leg in legs for p in leg.outcome.pruned]
    outcome = dataclasses.replace(first, pruned=pruned)
    manifest = _manifest(first, src, case, label_paths, graph, flags, data)
    manifest["stats"]["pruned"] = dict(sorted(_count(reason for _, reason in pruned).items()))
    if store is not None:
        manifest["inputs"]["label_store"] = store.describe()
    manifest["inputs"]["follow"] = {c: str(p) for c, p in sorted(chains.items())}
    if bridges is not None:
        import hashlib

        manifest["inputs"]["bridges"] = {
            "path": str(bridges),
            "sha256": hashlib.sha256(Path(bridges).read_bytes()).hexdigest(),
        }
    manifest["crosschain"] = result.report()
    for leg in legs:
        if hasattr(leg.outcome, "report") and "bitcoin" not in manifest:
            manifest["bitcoin"] = leg.outcome.report()  # a Bitcoin leg's UTXO findings
        if leg.chain_context is not None and "tron" not in manifest:
            manifest["tron"] = leg.chain_context.report(leg.flags)
    for source in {id(leg.source): leg.source for leg in legs}.values():
        warnings = [*warnings, *getattr(source, "warnings", [])]
    return TraceResult(graph, flags, outcome, manifest, warnings, crosschain=result)


def _count(items) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in items:
        out[x] += 1
    return out


def _registry(case_info: dict, bridges) -> Registry:
    registry = default_registry()
    for row in case_info.get("bridges") or []:
        try:
            if row.get("role") == "vault":
                registry.add_vault(row["bridge"], row["chain"], row["contract"])
            else:
                registry.add_contract(row["bridge"], row["chain"], row["contract"])
        except (KeyError, ValueError) as e:
            raise TraceInputError(f"case bridges: {e.args[0] if e.args else e}") from None
    if bridges is not None:
        try:
            load_bridge_file(bridges, registry)
        except BridgeFileError as e:
            raise TraceInputError(str(e)) from None
    return registry


def _follow_chains(follow: dict, primary: str) -> dict[str, Path]:
    chains: dict[str, Path] = {}
    for name, path in sorted(follow.items()):
        try:
            info = get_chain(str(name))
        except UnknownChain as e:
            raise TraceInputError(f"--follow: {e}") from None
        if info.name == primary:
            raise TraceInputError(f"--follow {info.name}: that is the chain being traced")
        where = Path(path).expanduser()
        if not where.is_dir():
            raise TraceInputError(f"--follow {info.name}={str(path)[:80]}: not a directory")
        chains[info.name] = where
    return chains


def _follow_bridges(outcome, registry, chains, source_of, logs_of, lookup, tainted_on):
    """Hops and stops for every tainted transfer into a bridge in one leg's outcome."""
    chain = outcome.chain
    stops: list[BridgeStop] = []
    by_decoder: dict[str, list[tuple[str, Transfer, Taint]]] = defaultdict(list)
    for tid, (t, taint, _) in outcome.edges.items():
        node = outcome.nodes.get(t.to_address)
        if node is None or node.stop_reason != "bridge" or node.result is not None:
            continue
        decoder = registry.decoder_for(chain, t.to_address)
        if decoder is None:
            stops.append(_stop(t, taint, "no_decoder", "", None, "labelled bridge; no decoder"))
            continue
        by_decoder[decoder.name].append((tid, t, taint))
    found: list[tuple[BridgeDeposit, Transfer, Taint]] = []
    provider = logs_of(chain)
    tx_logs: dict[str, list] = defaultdict(list)  # every deposit transaction's logs, one query
    if provider is not None and provider.available and by_decoder:
        hashes = sorted({t.tx_hash for items in by_decoder.values() for _, t, _ in items})
        for log in provider.logs(None, tx_hashes=hashes):
            tx_logs[log.tx_hash].append(log)
    for name in sorted(by_decoder):
        decoder = registry.get(name)
        for _tid, t, taint in by_decoder[name]:
            mark = len(getattr(decoder, "skipped", ()))
            deposit = decoder.deposit_from_transfer(t)
            if deposit is None:
                deposit = _event_deposit(decoder, t, tx_logs.get(t.tx_hash, ()))
            if deposit is None:
                why = "no deposit event in the transaction"
                if logs_of(chain) is None or not logs_of(chain).available:
                    why = f"no logs table for {chain}"
                notes = [r for _, r in getattr(decoder, "skipped", [])[mark:]]
                if notes:  # the decoder saw something and said why it was not used
                    why = "; ".join(sorted(set(notes)))[:300]
                stops.append(_stop(t, taint, "undecoded", name, None, why))
                continue
            found.append((deposit, t, taint))
    hops: list[Hop] = []
    # exact decoders first: their recipients are tainted evidence for inferred matches
    found.sort(key=lambda x: (registry.get(x[0].bridge).linkage != "exact", x[0].key))
    for linkage in ("exact", "inferred"):
        group = [x for x in found if registry.get(x[0].bridge).linkage == linkage]
        for name in sorted({d.bridge for d, _, _ in group}):
            decoder = registry.get(name)
            items = [x for x in group if x[0].bridge == name]
            hops_, stops_ = _link(
                decoder, items, chains, source_of, logs_of, lookup, tainted_on, registry
            )
            hops.extend(hops_)
            stops.extend(stops_)
            for hop in hops_:
                for t, _ in hop.entries:
                    tainted_on[t.chain].add(t.to_address)
    return hops, stops


def _stop(t: Transfer, taint: Taint, reason, bridge, dest, detail) -> BridgeStop:
    return BridgeStop(
        chain=t.chain,
        contract=t.to_address,
        tx_hash=t.tx_hash,
        transfer_id=t.transfer_id,
        asset=t.asset,
        amount=t.amount,
        tainted=taint.tainted,
        reason=reason,
        bridge=bridge,
        dest_chain=dest,
        detail=detail,
    )


def _event_deposit(decoder, t: Transfer, logs) -> BridgeDeposit | None:
    """The decoder's deposit event among ``logs`` (all of ``t``'s transaction) for ``t``.

    Every log of the transaction is offered (CCTP's and Wormhole's events come from another
    contract than the one paid; decoders ignore contracts they do not know). The event with
    ``t``'s asset and amount wins; else the only one with its asset; else the only one.
    """
    decoded = []
    for log in logs:
        d = decoder.decode_deposit(log)
        if d is not None:
            decoded.append(d)
    exact = [d for d in decoded if d.asset == t.asset and d.amount == t.amount]
    if exact:
        after = [d for d in exact if t.log_index is None or d.log_index > t.log_index]
        return min(after or exact, key=lambda d: d.log_index)
    same_asset = [d for d in decoded if d.asset == t.asset]
    if len(same_asset) == 1:
        return same_asset[0]
    if len(decoded) == 1:
        return decoded[0]
    return None  # several events and none matches the transfer: do not guess  # several events and none matches the transfer: do not guess
    return None


def _link(decoder, items, chains, source_of, logs_of, lookup, tainted_on, registry):
    hops: list[Hop] = []
    stops: list[BridgeStop] = []
    origin = {d.key: (t, taint) for d, t, taint in items}
    deposits = []
    src_chain = items[0][0].chain
    anyway = bool(getattr(decoder, "resolves_without_destination", False))
    for d, t, taint in items:
        if d.dest_chain is not None and d.dest_chain not in chains and not anyway:
            detail = f"deposit to {d.dest_chain}: no --follow {d.dest_chain}=DIR"
            stops.append(_stop(t, taint, "no_destination_data", d.bridge, d.dest_chain, detail))
            continue
        deposits.append(d)
    if not deposits:
        return hops, stops
    dests = sorted(
        {d.dest_chain for d in deposits if d.dest_chain in chains}
        | (
            {c for c in chains if c != src_chain and decoder.contracts.get(c)}
            if any(d.dest_chain is None for d in deposits)
            else set()
        )
    )
    if not dests and not anyway:
        for d in deposits:
            t, taint = origin[d.key]
            stops.append(
                _stop(t, taint, "no_destination_data", d.bridge, None, "no followed chain")
            )
        return hops, stops
    since = min(d.time for d in deposits)
    window = getattr(decoder, "window", EXACT_WINDOW)
    until = max(d.time for d in deposits) + window
    releases: list[BridgeRelease] = []
    for dest in dests:
        contracts = sorted(decoder.contracts.get(dest, ()))
        if not contracts and not hasattr(decoder, "releases"):
            continue
        provider = logs_of(dest)
        if provider is not None and provider.available:
            for log in provider.logs(contracts, since=since, until=until):
                r = decoder.decode_release(log)
                if r is not None:
                    releases.append(r)
        if hasattr(decoder, "utxo_sources") and get_chain(dest).kind == "utxo":
            decoder.utxo_sources.setdefault(dest, source_of(dest))  # THORChain's vault outbounds
        wants_transfers = decoder.linkage == "inferred" or _overrides(
            decoder, "release_from_transfer"
        )
        if wants_transfers and hasattr(source_of(dest), "transfers"):
            for t in source_of(dest).transfers(contracts, since, until):
                r = decoder.release_from_transfer(t)
                if r is not None:
                    releases.append(r)
        if hasattr(decoder, "releases"):  # releases read without logs (THORChain UTXO vaults)
            releases.extend(decoder.releases(dest, since, until))
    unresolved: dict[str, tuple[str, str]] = {}
    if hasattr(decoder, "match"):
        evidence = Evidence(
            shared_funder=_funder_check(source_of, tainted_on, registry, chains),
            asset_of=lookup,
        )
        links, left = decoder.match(deposits, releases, evidence)
        unresolved = {u.deposit.key: (u.reason, u.detail) for u in left}
    else:
        links = [
            dataclasses.replace(link, fee=_fee(link, lookup))
            for link in decoder.link(deposits, releases)
        ]
    linked = {link.deposit.key for link in links}
    for d in deposits:
        if d.key in linked:
            continue
        t, taint = origin[d.key]
        reason, detail = unresolved.get(
            d.key, ("no_release", f"no {d.bridge} release found on {', '.join(dests)}")
        )
        stops.append(_stop(t, taint, reason, d.bridge, d.dest_chain, detail))
    for link in sorted(links, key=lambda x: x.deposit.key):
        t, taint = origin[link.deposit.key]
        entries = []
        for r in link.releases:
            # a release on a chain without data (an index such as Midgard answered) is
            # reported and carried, but its receiver is not traced further
            followed = r.chain in chains or r.chain == src_chain
            rt = _release_transfer(source_of(r.chain) if followed else None, r, lookup)
            share = carried(taint.tainted, t.amount, rt.amount)
            segments = tuple(s for s in ((share, True), (rt.amount - share, False)) if s[0])
            entries.append((rt, Taint(share, segments, (t.transfer_id,), taint.hop + 1)))
        hops.append(Hop(link, t, taint.tainted, tuple(entries)))
    return hops, stops


def _overrides(decoder, method: str) -> bool:
    """Whether ``decoder`` implements ``method`` itself (not :class:`BaseDecoder`'s no-op)."""
    from tracer.bridges.base import BaseDecoder

    own = getattr(type(decoder), method, None)
    return own is not None and own is not getattr(BaseDecoder, method, None)


def _fee(link: BridgeLink, lookup) -> int | None:
    from tracer.bridges.base import fee_of

    return fee_of(link.deposit, link.releases, lookup)


def _release_transfer(source, r: BridgeRelease, lookup) -> Transfer:
    """The transfer on the destination chain that paid the release out (from the chain's data).

    Found in the recipient's history (same transaction, asset, amount); when the data lacks it,
    built from the release itself so the taint still arrives.
    """
    found = []
    if source is not None and r.recipient and hasattr(source, "transfers"):
        try:
            found = source.transfers([r.recipient], max(r.time - 1, 0), r.time + 1)
        except SourceError:
            found = []
    matches = [
        t
        for t in found
        if t.tx_hash == r.tx_hash
        and t.to_address == r.recipient
        and t.asset == r.asset
        and t.amount == r.amount
        and t.success
    ]
    if matches:
        return min(matches, key=lambda t: t.position)
    asset = lookup(r.chain, r.asset)
    utxo = get_chain(r.chain).kind == "utxo" if r.chain in _known_chains() else False
    return Transfer(
        chain=r.chain,
        asset=r.asset,
        from_address=r.contract,
        to_address=r.recipient,
        amount=r.amount,
        decimals=asset.decimals if asset else None,
        tx_hash=r.tx_hash,
        log_index=r.log_index,
        block_number=r.block,
        timestamp=r.time,
        source=f"bridge:{r.bridge}",
        kind="utxo" if utxo else ("token" if r.asset != "native" else "native"),
    )


def _known_chains() -> set[str]:
    from tracer.chains import CHAINS

    return set(CHAINS)


def _funder_check(source_of, tainted_on, registry, chains):
    """``shared_funder(chain, recipient, before)`` for the inferred matcher."""
    memo: dict[tuple[str, str], list[Transfer]] = {}

    def history(chain: str, address: str) -> list[Transfer]:
        key = (chain, address)
        if key not in memo:
            src = source_of(chain)
            try:
                memo[key] = src.transfers([address]) if hasattr(src, "transfers") else []
            except SourceError:
                memo[key] = []
        return memo[key]

    def shared(chain: str, recipient: str, before: int):
        if chain not in chains:
            return None
        service = set(registry.contracts(chain))
        funders = sorted(
            {
                t.from_address
                for t in history(chain, recipient)
                if t.to_address == recipient
                and t.asset == "native"
                and t.success
                and t.timestamp <= before
                and t.from_address not in service
            }
        )
        tainted = tainted_on.get(chain, set()) - {recipient}
        for f in funders:
            funded = {
                t.to_address
                for t in history(chain, f)
                if t.from_address == f and t.asset == "native" and t.success
            }
            if len(funded) > FUNDER_MAX_FUNDED:
                continue
            hit = sorted(funded & tainted)
            if hit:
                return f, hit[0]
        return None

    return shared


# ------------------------------------------------------------------------------------------
# merging


def _merge_graphs(legs, hops: list[Hop], books) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph()
    G.graph.update(legs[0].graph.graph)
    G.graph["chains"] = sorted({leg.outcome.chain for leg in legs})
    for leg in legs:
        for n, d in leg.graph.nodes(data=True):
            if n in G and G.nodes[n].get("role") not in ("bridge", "intermediate"):
                continue  # the first leg that reached it keeps its role
            G.add_node(n, **d)
        for u, v, k, d in leg.graph.edges(keys=True, data=True):
            G.add_edge(u, v, key=k, **d)
    for hop in hops:
        d = hop.link.deposit
        for (t, taint), r in zip(hop.entries, hop.link.releases, strict=True):
            u, v = node_key(d.chain, d.contract), node_key(t.chain, t.from_address)
            for n, chain, address in ((u, d.chain, d.contract), (v, t.chain, t.from_address)):
                if n not in G:
                    G.add_node(
                        n,
                        address=address,
                        chain=chain,
                        role="bridge",
                        entity=d.bridge,
                        labels=[],
                        hop=taint.hop,
                        tainted_held={},
                        tainted_received={},
                        stop_reason="bridge",
                        degree_seen=0,
                    )
            asset = books.get(t.chain, {}).get(t.asset)
            G.add_edge(
                u,
                v,
                key=bridge_edge_key(d, r),
                chain=t.chain,
                asset=t.asset,
                symbol=asset.symbol if asset else t.asset[:10],
                decimals=asset.decimals if asset else -1,
                amount=t.amount,
                tainted=taint.tainted,
                tx_hash=r.tx_hash,
                log_index=r.log_index,
                trace_address="",
                block=r.block,
                timestamp=r.time,
                time=iso_utc(r.time),
                hop=taint.hop,
                kind="bridge",
                swap="",
                source=f"bridge:{d.bridge}",
                parents=[hop.deposit_transfer.transfer_id],
                bridge=d.bridge,
                linkage=hop.link.linkage,
                confidence=hop.link.confidence,
                src_chain=d.chain,
                src_tx_hash=d.tx_hash,
                dest_chain=r.chain,
                dest_tx_hash=r.tx_hash,
                fee="" if hop.link.fee is None else str(hop.link.fee),
            )
    return G


def bridge_edge_key(d: BridgeDeposit, r: BridgeRelease) -> str:
    return f"bridge:{d.chain}:{d.tx_hash}:{d.log_index}>{r.chain}:{r.tx_hash}:{r.log_index}"


def _merge_flags(legs, result: CrossChain):
    """Every leg's flags; a bridge flag says whether its deposits were followed or stopped."""
    followed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for h in result.hops:
        d = h.link.deposit
        dests = ", ".join(sorted({r.chain for r in h.link.releases}))
        followed[(d.chain, d.contract)].append(f"followed to {dests} ({h.link.linkage})")
    for s in result.stops:
        followed[(s.chain, s.contract)].append(f"bridge stop: {s.reason}")
    flags = []
    for leg in legs:
        for f in leg.flags:
            notes = followed.get((f.chain, f.address))
            if f.kind == "bridge" and notes:
                f = dataclasses.replace(
                    f, evidence=f"{f.evidence}; {'; '.join(sorted(set(notes)))}"
                )
            flags.append(f)
    order = {
        "exchange_deposit": 0,
        "freezable_balance": 1,
        "frozen_balance": 1,
        "exchange": 2,
        "bridge": 3,
        "mixer": 4,
        "issuer": 5,
        "high_degree": 6,
    }
    flags.sort(key=lambda f: (order.get(f.kind, 9), f.chain, f.asset, -f.tainted, f.address))
    return flags


# ------------------------------------------------------------------------------------------
# outputs


def write_bridge_csvs(cross: CrossChain, directory: Path) -> dict[str, Path]:
    """``bridges.csv`` (one row per followed release) and ``bridge_stops.csv``."""
    from tracer.exports import safe_cell

    rows = []
    for h in cross.hops:
        d = h.link.deposit
        for (_t, taint), r in zip(h.entries, h.link.releases, strict=True):
            rows.append(
                [
                    safe_cell(d.bridge),
                    h.link.linkage,
                    f"{h.link.confidence:.3f}",
                    d.chain,
                    safe_cell(d.contract),
                    safe_cell(d.tx_hash),
                    d.log_index,
                    safe_cell(h.deposit_transfer.transfer_id),
                    safe_cell(d.sender),
                    safe_cell(d.asset),
                    str(d.amount),
                    str(h.tainted),
                    r.chain,
                    safe_cell(r.contract),
                    safe_cell(r.tx_hash),
                    r.log_index,
                    safe_cell(r.recipient),
                    safe_cell(r.asset),
                    str(r.amount),
                    str(taint.tainted),
                    "" if h.link.fee is None else str(h.link.fee),
                    r.kind,
                    safe_cell(d.link_key or ""),
                    iso_utc(d.time),
                    iso_utc(r.time),
                    safe_cell("; ".join(h.link.evidence)),
                ]
            )
    rows.sort(key=lambda row: (row[3], row[5], row[6], row[12], row[14], row[15]))
    stops = sorted(
        (
            [
                s.chain,
                safe_cell(s.contract),
                safe_cell(s.bridge),
                safe_cell(s.tx_hash),
                safe_cell(s.transfer_id),
                safe_cell(s.asset),
                str(s.amount),
                str(s.tainted),
                s.reason,
                s.dest_chain or "",
                safe_cell(s.detail),
            ]
            for s in cross.stops
        ),
        key=lambda row: (row[0], row[3], row[4]),
    )
    out = {}
    for name, header, body in (
        ("bridges", BRIDGE_COLUMNS, rows),
        ("bridge_stops", STOP_COLUMNS, stops),
    ):
        path = directory / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(body)
        out[name] = path
    return out


__all__ = [
    "BRIDGE_COLUMNS",
    "MAX_LEGS",
    "STOP_COLUMNS",
    "CrossChain",
    "Hop",
    "bridge_edge_key",
    "trace_crosschain",
    "write_bridge_csvs",
]
