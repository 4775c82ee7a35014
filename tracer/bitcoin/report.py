"""Graph and flags of a Bitcoin trace, in the schema and Flag rows every other chain uses.

Flags (``tracer.flags.Flag``, same columns, ids and order as :func:`tracer.flags.detect_flags`):

* ``exchange_deposit``: an address whose traced coins were **swept as one input of a
  consolidation** (at least two input addresses, at most two outputs, not a CoinJoin) into an
  exchange: the consolidation pays a labelled exchange wallet, or an address the trace stopped at
  because its multi-input cluster holds a labelled exchange address, or a co-input is a labelled
  exchange address. An address the trace stopped at because it was co-spent with a labelled
  exchange address, in the transaction that swept its traced coins, is one too. A labelled
  deposit address is flagged from its label. ``entity`` is the exchange. The deposit address is
  the freeze target (it names the customer account), not the hot wallet behind it.
* ``exchange``: traced coins paid straight into an exchange wallet (labelled, or in a labelled
  exchange's cluster) other than through a flagged deposit address.
* ``mixer``: a CoinJoin the trace stopped at (address ``coinjoin:<txid>``, entity the
  fingerprint: Whirlpool, Wasabi 1/2, JoinMarket-like; confidence of the fingerprint), or a
  labelled mixer.
* ``bridge`` / ``issuer``: labelled services; ``high_degree``: an unlabelled address the fan-out
  guard did not expand. ``freezable_balance`` does not exist on Bitcoin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import networkx as nx

from tracer.bitcoin.engine import COINJOIN_PREFIX, BitcoinOutcome
from tracer.chains import get_chain
from tracer.engine import path_to
from tracer.flags import Flag, flag_id
from tracer.graph import build_graph as _build_graph
from tracer.graph import node_key
from tracer.records import format_units

FlagRole = Callable[[str], "tuple[str, str, str] | None"]  # address -> (role, entity, source)
LabelsOf = Callable[[str], list]

SYMBOL = "BTC"
DECIMALS = 8
ORDER = {
    "exchange_deposit": 0,
    "freezable_balance": 1,
    "exchange": 2,
    "bridge": 3,
    "mixer": 4,
    "issuer": 5,
    "high_degree": 6,
}


def _btc(sat: int) -> str:
    return format_units(sat, DECIMALS) + " " + SYMBOL


def heuristic_labels(outcome: BitcoinOutcome, flag_role: FlagRole) -> dict[str, list[dict]]:
    """Labels tracer infers (CoinJoin nodes, cluster members of labelled exchanges)."""
    out: dict[str, list[dict]] = {}
    for txid, st in outcome.states.items():
        if st.coinjoin is None:
            continue
        f = st.coinjoin
        out[COINJOIN_PREFIX + txid] = [
            {
                "label": f"{f.label} (CoinJoin fingerprint)",
                "category": "coinjoin",
                "entity": f.label,
                "role": "mixer",
                "source": "tracer heuristic: CoinJoin fingerprint; " + f.evidence,
                "confidence": int(round(f.confidence * 100)),
                "tier": "heuristic",
                "origin": txid,
            }
        ]
    for address, (exchange, txid) in outcome.cluster_stops.items():
        role = flag_role(exchange)
        entity = role[1] if role else ""
        out[address] = [
            {
                "label": f"{entity or 'exchange'} (multi-input cluster with {exchange})",
                "category": "exchange",
                "entity": entity,
                "role": "exchange",
                "source": f"tracer heuristic: co-spent with labelled {exchange} in tx {txid}",
                "confidence": 70,
                "tier": "heuristic",
                "origin": txid,
            }
        ]
    return out


def build_graph(outcome: BitcoinOutcome, labels_of: LabelsOf, deposits=()) -> nx.MultiDiGraph:
    """:func:`tracer.graph.build_graph` plus the Bitcoin specifics: every edge keyed
    ``{txid}:{vout}`` (several senders of one output share the key), flagged deposit addresses
    with role ``deposit``."""
    G = _build_graph(outcome, dict(get_chain("bitcoin").assets), labels_of)
    for u, v, k, d in list(G.edges(keys=True, data=True)):
        if "#" in k:
            G.remove_edge(u, v, k)
            G.add_edge(u, v, key=k.split("#", 1)[0], **d)
    for address in deposits:
        key = node_key("bitcoin", address)
        if key in G:
            G.nodes[key]["role"] = "deposit"
    return G


def _consolidation(tx) -> bool:
    ins = {i.address for i in tx.inputs if i.address}
    return len(ins) >= 2 and 1 <= len(tx.outputs) <= 2


def detect_flags(outcome: BitcoinOutcome, flag_role: FlagRole) -> list[Flag]:
    """Every flag of a Bitcoin trace (see the module docstring)."""
    policy = outcome.params.policy
    edges = outcome.edges
    into: dict[str, list[str]] = defaultdict(list)
    for key, (t, _, _) in edges.items():
        into[t.to_address].append(key)

    def make(address, kind, entity, tids, confidence, evidence) -> Flag:
        tainted = sum(edges[x][1].tainted for x in tids)
        best = min(tids, key=lambda x: (edges[x][1].hop, x))
        path = path_to(best, edges)
        hashes: list[str] = []
        for x in path:
            h = edges[x][0].tx_hash
            if not hashes or hashes[-1] != h:
                hashes.append(h)
        return Flag(
            flag_id("bitcoin", address, kind, "native"),
            "bitcoin",
            address,
            kind,
            entity,
            "native",
            SYMBOL,
            DECIMALS,
            tainted,
            min(edges[x][0].timestamp for x in tids),
            len(path),
            tuple(hashes),
            policy,
            min(1.0, confidence),
            evidence,
        )

    def exchange_of(address: str) -> tuple[str, str] | None:
        """(entity, how) when ``address`` is an exchange wallet by label or by cluster."""
        role = flag_role(address)
        if role is not None and role[0] == "exchange":
            return role[1], f"labelled {role[1] or 'exchange'} wallet {address} ({role[2]})"
        hit = outcome.cluster_stops.get(address)
        if hit is not None:
            r = flag_role(hit[0])
            entity = r[1] if r else ""
            return entity, (
                f"{address}, in the multi-input cluster of labelled {entity or 'exchange'} "
                f"wallet {hit[0]}"
            )
        return None

    spent_in: dict[str, dict] = defaultdict(dict)  # address -> txid -> state spending its taint
    for st in outcome.states.values():
        if st.alloc is None:
            continue
        for i, t in zip(st.tx.inputs, st.inputs, strict=True):
            if t.tainted and i.address:
                spent_in[i.address][st.tx.txid] = st

    flags: list[Flag] = []
    deposits: set[str] = set()
    for address, node in sorted(outcome.nodes.items()):
        if node.seed or address.startswith(COINJOIN_PREFIX) or not into.get(address):
            continue
        own = flag_role(address)
        labelled = own is not None and own[0] == "deposit"
        parts: list[str] = []
        conf = 0.0
        entity = own[1] if labelled else ""
        for st in sorted(
            spent_in.get(address, {}).values(), key=lambda s: (s.tx.block_height, s.tx.txid)
        ):
            tx = st.tx
            if not _consolidation(tx):
                continue
            in_addrs = sorted({i.address for i in tx.inputs if i.address})
            target = None
            for o in tx.outputs:
                if o.address and (hit := exchange_of(o.address)) is not None:
                    target = (hit[0], f"into {hit[1]}")
                    break
            if target is None:
                for a in in_addrs:
                    if a != address and (hit := exchange_of(a)) is not None:
                        target = (hit[0], f"together with {hit[1]}")
                        break
            if target is None:
                continue
            entity = entity or target[0]
            c = 0.75 + (0.1 if len(in_addrs) >= 3 else 0.0)
            conf = max(conf, c)
            parts.append(
                f"behaviour: its traced coins were swept as one of {len(tx.inputs)} inputs "
                f"({len(in_addrs)} addresses) of consolidation tx {tx.txid} {target[1]}"
            )
            break
        hit = outcome.cluster_stops.get(address)
        if not parts and hit is not None and hit[1]:
            tx = outcome.txs.get(hit[1])
            spends_taint = tx is not None and any(
                i.address == address and i.outpoint in _tainted_outputs(outcome, address)
                for i in tx.inputs
            )
            if spends_taint and _consolidation(tx):
                r = flag_role(hit[0])
                entity = entity or (r[1] if r else "")
                conf = max(conf, 0.7)
                parts.append(
                    f"behaviour: its traced coins were swept as one of {len(tx.inputs)} inputs "
                    f"of consolidation tx {tx.txid} together with labelled "
                    f"{(r[1] if r else '') or 'exchange'} wallet {hit[0]} (multi-input cluster)"
                )
        if labelled:
            conf = max(conf + 0.1, 0.8) if parts else 0.8
            parts.append(f"label: {own[2]}")
        if not parts:
            continue
        flags.append(
            make(address, "exchange_deposit", entity, into[address], conf, "; ".join(parts))
        )
        deposits.add(address)

    kinds = {"exchange": "exchange", "mixer": "mixer", "bridge": "bridge", "issuer": "issuer"}
    for address, node in sorted(outcome.nodes.items()):
        kind = kinds.get(node.stop_reason)
        if kind is None and node.stop_reason == "fan_out":
            kind = "high_degree"
        if kind is None or address in deposits:
            continue
        tids = [
            x
            for x in into.get(address, ())
            if not (kind == "exchange" and edges[x][0].from_address in deposits)
        ]
        if not tids:
            continue
        tainted = sum(edges[x][1].tainted for x in tids)
        role = flag_role(address)
        entity = role[1] if role else ""
        if kind == "high_degree":
            conf, evidence = (
                0.3,
                (
                    f"unlabelled address with {node.degree} transactions (fan-out guard "
                    f"{outcome.params.fan_out}) received {_btc(tainted)}; not expanded: identify "
                    "the service behind it"
                ),
            )
        elif kind == "mixer" and address.startswith(COINJOIN_PREFIX):
            f = outcome.states[address[len(COINJOIN_PREFIX) :]].coinjoin
            entity = f.label
            conf = f.confidence
            evidence = (
                f"{_btc(tainted)} tainted entered CoinJoin tx {f.subject}; the trace stops: "
                f"{f.evidence}"
            )
        else:
            conf = 0.9
            how = f"label: {role[2]}" if role else ""
            if kind == "exchange" and role is None and (ex := exchange_of(address)):
                entity, how, conf = ex[0], "cluster: " + ex[1], 0.7
            evidence = f"received {_btc(tainted)} tainted in {len(tids)} transfer(s); {how}"
            if kind == "exchange":
                evidence = "direct deposit into an exchange wallet; " + evidence
        flags.append(make(address, kind, entity, tids, conf, evidence))
    flags.sort(key=lambda f: (ORDER.get(f.kind, 9), f.chain, f.asset, -f.tainted, f.address))
    return flags


def _tainted_outputs(outcome: BitcoinOutcome, address: str) -> set[str]:
    """Outpoints paying ``address`` that carry a traced edge."""
    return {
        f"{t.tx_hash}:{t.log_index}"
        for t, _, _ in outcome.edges.values()
        if t.to_address == address and t.log_index is not None
    }
