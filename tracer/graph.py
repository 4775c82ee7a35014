"""Turn a trace outcome into the ``networkx.MultiDiGraph`` described in docs/graph-schema.md."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from tracer import __version__
from tracer.chains import Asset
from tracer.engine import TraceOutcome
from tracer.records import iso_utc

LabelLookup = Callable[
    [str], list[dict]
]  # address -> label dicts (label, category, entity, role, source, confidence)


def node_key(chain: str, address: str) -> str:
    return f"{chain}:{address}"


def build_graph(
    outcome: TraceOutcome,
    assets: dict[str, Asset],
    labels_of: LabelLookup,
    token_symbols: dict[str, tuple[str, int | None]] | None = None,
) -> nx.MultiDiGraph:
    """One node per address reached, one edge per tainted transfer (with its provenance)."""
    chain = outcome.chain
    token_symbols = token_symbols or {}
    G = nx.MultiDiGraph()
    p = outcome.params
    G.graph.update(
        chain=chain,
        policy=p.policy,
        seeds=list(outcome.seeds),
        tracer_version=__version__,
        parameters={
            "policy": p.policy,
            "hops": p.hops,
            "since": p.since,
            "until": p.until,
            "fan_out": p.fan_out,
            "min_amount": p.min_amount,
        },
    )
    received: dict[str, dict[str, int]] = {}
    for t, taint, _ in outcome.edges.values():
        r = received.setdefault(t.to_address, {})
        r[t.asset] = r.get(t.asset, 0) + taint.tainted
    for address in sorted(outcome.nodes):
        n = outcome.nodes[address]
        labels = labels_of(address)
        res = n.result
        if res is not None:
            held = {a: v for a, v in sorted(res.held.items()) if v}
        elif n.stop_reason:
            held = {a: v for a, v in sorted(received.get(address, {}).items()) if v}
        else:
            held = {}
        G.add_node(
            node_key(chain, address),
            address=address,
            chain=chain,
            role=_role(n, labels, held),
            entity=_entity(labels),
            labels=labels,
            hop=n.hop,
            tainted_held=held,
            tainted_received=dict(sorted(received.get(address, {}).items())),
            stop_reason=n.stop_reason,
            degree_seen=n.degree,
        )
    for tid, (t, taint, swap) in outcome.edges.items():
        asset = assets.get(t.asset)
        symbol, decimals = _symbol(t, asset, token_symbols)
        G.add_edge(
            node_key(chain, t.from_address),
            node_key(chain, t.to_address),
            key=tid,
            chain=chain,
            asset=t.asset,
            symbol=symbol,
            decimals=decimals,
            amount=t.amount,
            tainted=taint.tainted,
            tx_hash=t.tx_hash,
            log_index=-1 if t.log_index is None else t.log_index,
            trace_address=t.trace_address or "",
            block=t.block_number,
            timestamp=t.timestamp,
            time=iso_utc(t.timestamp),
            hop=taint.hop,
            kind=t.kind,
            swap=swap,
            source=t.source,
            parents=list(taint.parents),
        )
    return G


def _symbol(t, asset: Asset | None, token_symbols) -> tuple[str, int]:
    if asset is not None:
        return asset.symbol, asset.decimals
    symbol, decimals = token_symbols.get(t.asset, ("", t.decimals))
    decimals = decimals if decimals is not None else t.decimals
    return symbol or t.asset[:10], -1 if decimals is None else decimals


_LABEL_ROLES = ("exchange", "mixer", "bridge", "issuer", "swap", "deposit")


def _role(node, labels: list[dict], held: dict[str, int]) -> str:
    if node.seed:
        return "seed"
    if node.stop_reason in ("exchange", "mixer", "bridge", "issuer", "swap"):
        return node.stop_reason
    for lab in labels:
        if lab.get("role") == "deposit":
            return "deposit"
    if node.result is not None and any(held.values()):
        return "holder"
    return "intermediate"


def _entity(labels: list[dict]) -> str:
    for lab in labels:  # labels arrive sorted by precedence
        if lab.get("entity"):
            return lab["entity"]
    return ""
