"""The Python API: ``tracer.trace(...)`` wires source, labels, engine, graph and flags together."""

from __future__ import annotations

import hashlib
import html
import json
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx
import pandas as pd

from tracer import __version__
from tracer.addresses import InvalidAddress, detect_chain, normalize
from tracer.chains import Asset, UnknownChain, get_chain
from tracer.engine import TraceInputError, TraceOutcome, TraceParams, gc_paused
from tracer.engine import trace as run_engine
from tracer.flags import FLAG_COLUMNS, Flag, detect_flags
from tracer.graph import build_graph
from tracer.labels import LabelFileError, LabelIndex, load_labels
from tracer.sandbox import SANDBOX_DIR
from tracer.sources import open_source
from tracer.sources.base import SourceError


@dataclass
class TraceResult:
    """What a trace returns: the graph, the flags and everything needed to reproduce it."""

    graph: nx.MultiDiGraph
    flag_list: list[Flag]
    outcome: TraceOutcome
    manifest: dict
    warnings: list[str] = field(default_factory=list)
    crosschain: object = None  # issue 10: tracer.crosschain.CrossChain (bridge hops and stops)

    @property
    def flags(self) -> pd.DataFrame:
        """One row per flag (see tracer.flags), typed columns."""
        rows = [f.row() for f in self.flag_list]
        frame = pd.DataFrame(rows, columns=FLAG_COLUMNS)
        return frame.astype({"hops": "int64", "confidence": "float64"})

    @property
    def edges(self) -> pd.DataFrame:
        """The graph's edges as a DataFrame (amounts as Python ints, exact)."""
        rows = [
            {
                "from": self.graph.nodes[u]["address"],
                "to": self.graph.nodes[v]["address"],
                "key": k,
                **{a: d[a] for a in d if a != "parents"},
            }
            for u, v, k, d in self.graph.edges(keys=True, data=True)
        ]
        return pd.DataFrame(rows)

    @property
    def pruned(self) -> pd.DataFrame:
        """Transfers touching traced addresses that were not followed, and why."""
        rows = [
            {
                "tx_hash": t.tx_hash,
                "transfer_id": t.transfer_id,
                "from": t.from_address,
                "to": t.to_address,
                "asset": t.asset,
                "amount": str(t.amount),
                "block": t.block_number,
                "reason": reason,
            }
            for t, reason in self.outcome.pruned
        ]
        return pd.DataFrame(
            rows,
            columns=["tx_hash", "transfer_id", "from", "to", "asset", "amount", "block", "reason"],
        )

    def export(self, directory: str | Path) -> dict[str, Path]:
        """Write graph files, flags.csv, pruned.csv and manifest.json into ``directory``."""
        from tracer.outputs import write_outputs

        return write_outputs(self, Path(directory))

    def summary(self) -> dict:
        return self.manifest["stats"]

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in s.items()
            if not isinstance(v, dict)
        )
        return (
            f"<b>tracer result</b> ({html.escape(self.outcome.params.policy)}, "
            f"{len(self.outcome.seeds)} seed(s))<table>{rows}</table>"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: Sources that read exports from files (a case's bundled ``data`` goes only to these).
FILE_SOURCES = frozenset({"duckdb", "spark", "bitcoin-etl", "etl"})


def load_case(name: str) -> dict:
    """A case by name: the bundled sandboxes, or a real case from ``addresses/cases`` (issue 3).

    Real cases return the same dict shape without ``data`` (they need a live source or the
    user's exports) and with ``labels`` = the case file (tier case) and the curated entity files
    (tier curated); see :func:`tracer.cases.case_dict`.
    """
    if name == "sandbox":
        case = json.loads((SANDBOX_DIR / "case.json").read_text(encoding="utf-8"))
        case["data"] = str(SANDBOX_DIR)
        case["labels"] = [str(SANDBOX_DIR / "labels.yaml")]
        return case
    if name == "sandbox-bitcoin":  # Bitcoin sandbox (tracer/bitcoin/sandbox.py, issue 6)
        from tracer.bitcoin.sandbox import load_case as load_bitcoin_case

        return load_bitcoin_case()
    if (
        name == "sandbox-xchain"
    ):  # Ethereum -> bridges -> Tron (tracer/bridges/sandbox.py, issue 10)
        from tracer.bridges.sandbox import load_case as load_xchain_case

        return load_xchain_case()
    if name == "sandbox-tron":  # Tron sandbox (tracer/tron/sandbox.py, issue 5)
        from tracer.tron.sandbox import load_case as load_tron_case

        return load_tron_case()
    # --- named real cases in addresses/cases (issue 3) ---
    from tracer.cases import CaseError, case_dict, case_names

    if name in case_names():
        try:
            return case_dict(name)
        except CaseError as e:
            raise TraceInputError(str(e)) from None
    known = ", ".join(
        ["sandbox", "sandbox-bitcoin", "sandbox-tron", "sandbox-xchain", *case_names()]
    )
    raise TraceInputError(f"unknown case {name!r} (known: {known})")


def parse_time(text: str | int | None) -> int | None:
    """--since/--until: ISO-8601 date or datetime (UTC unless an offset is given) or epoch."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    s = str(text).strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise TraceInputError(
            f"not a date or time: {s[:40]!r} (use e.g. 2022-11-01T00:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def _normalize_seeds(chain: str, seeds: Iterable[str]) -> list[str]:
    out = []
    for s in seeds:
        try:
            out.append(normalize(chain, s))
        except InvalidAddress as e:
            raise TraceInputError(f"seed: {e}") from None
    return out


@gc_paused
def trace(
    seeds: Sequence[str] | str | None = None,
    *,
    case: str | None = None,
    chain: str | None = None,
    source: str | object = "duckdb",
    data: str | Path | None = None,
    labels: Sequence[str | Path] = (),
    policy: str = "haircut",
    hops: int = 6,
    min_amount: str | float | None = None,
    since: str | int | None = None,
    until: str | int | None = None,
    fan_out: int = 1000,
    assets: Sequence[str] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    source_options: dict | None = None,
    label_store: str | Path | None = None,
    follow: dict[str, str | Path] | None = None,
    bridges: str | Path | None = None,
) -> TraceResult:
    """Trace stolen funds forward from seed addresses (or a named case) and flag freeze points.

    ``source`` is a source name (``"duckdb"`` over ``data``; see :mod:`tracer.sources`) with
    ``source_options`` (``rpc_url``, ``api_url``, ``cache``, ``rps``), or a source object with
    ``transfers``/``degrees``/``fingerprint``. ``assets`` limits which assets a seed's holdings
    are followed in (contract addresses or ``native``); by default the chain's registered assets.
    ``label_store`` is a label store file (:mod:`tracer.label_store`) whose labels are merged
    with those of ``labels`` and the case (same precedence rules).
    ``follow`` maps other chains to their bulk export directories: deposits into bridges are
    then linked and traced on (issue 10, :mod:`tracer.crosschain`); ``bridges`` is a CSV of
    extra bridge contracts (``chain,contract,bridge``).
    """
    if isinstance(seeds, str):
        seeds = [seeds]
    seeds = list(seeds or [])
    case_info: dict = {}
    extra_assets: list[Asset] = []
    label_paths = [str(p) for p in labels]
    if case == "sandbox" and chain == "bitcoin":  # Bitcoin: --case sandbox --chain bitcoin
        case = "sandbox-bitcoin"
    if case == "sandbox" and chain == "tron":  # Tron: --case sandbox --chain tron (issue 5)
        case = "sandbox-tron"
    if case:
        case_info = load_case(case)
        chain = chain or case_info["seeds"][0]["chain"]
        if not seeds:
            seeds = [s["address"] for s in case_info["seeds"] if s["chain"] == chain]
        if data is None and source in FILE_SOURCES:  # bundled case data: files, never to a
            data = case_info.get("data")  # live source (it reads the chain itself)
        if data is None and source == "duckdb" and not case_info.get("synthetic", True):
            raise TraceInputError(  # issue 3: real cases ship no transfer data
                f"case {case!r} ships no transfer data: pass --data DIR with your exports, "
                "or a live --source"
            )
        label_paths = case_info.get("labels", []) + label_paths
        if since is None:
            since = case_info.get("since")
        extra_assets = [
            Asset(
                a["chain"],
                a["address"],
                a["symbol"],
                a["decimals"],
                a.get("issuer"),
                stablecoin=bool(a.get("issuer")),
            )
            for a in case_info.get("assets", [])
        ]
    if not seeds:
        raise TraceInputError("give seed addresses or --case NAME")
    if chain is None:
        chain = detect_chain(seeds[0]) or "ethereum"
    try:
        chain_info = get_chain(chain)
    except UnknownChain as e:
        raise TraceInputError(str(e)) from None
    chain = chain_info.name
    seeds = _normalize_seeds(chain, seeds)
    asset_book = dict(chain_info.assets)
    asset_book.update({a.address: a for a in extra_assets if a.chain == chain})
    seed_assets = None
    if assets:
        seed_assets = frozenset(_asset_id(chain, a, asset_book) for a in assets)
    else:
        seed_assets = frozenset(asset_book)
    params = TraceParams(
        policy=policy,
        hops=int(hops),
        since=parse_time(since),
        until=parse_time(until),
        min_amount=None if min_amount in (None, "") else str(min_amount),
        fan_out=int(fan_out),
        seed_assets=seed_assets,
    )
    try:
        index, warnings = load_labels(label_paths) if label_paths else (LabelIndex(), [])
    except LabelFileError as e:
        raise TraceInputError(str(e)) from None
    store = None
    if label_store is not None:  # issue 3: labels of a local label store, merged in
        from tracer.label_store import LabelStore, MergedLabels

        store = LabelStore(label_store, read_only=True)
        index = MergedLabels(index, store)
    if chain_info.kind == "utxo" and (follow or bridges is not None):  # issue 10
        raise TraceInputError("--follow/--bridges: cross-chain traces start on an account chain")
    # --- Bitcoin (issue 6): the UTXO engine of tracer/bitcoin, same TraceResult -------------
    if chain_info.kind == "utxo":
        from tracer.bitcoin.pipeline import trace_bitcoin

        outcome, graph, flags, src = trace_bitcoin(
            seeds, params, index, source, data, source_options, progress
        )
        manifest = _manifest(outcome, src, case, label_paths, graph, flags, data)
        if store is not None:  # issue 3
            manifest["inputs"]["label_store"] = store.describe()
        manifest["bitcoin"] = outcome.report()
        return TraceResult(graph, flags, outcome, manifest, warnings)
    # --- end Bitcoin ----------------------------------------------------------------------
    if isinstance(source, str):
        src = open_source(source, chain, data=data, **(source_options or {}))
    else:
        src = source
    # --- issue 10 (tracer/crosschain.py): follow bridges onto other chains' data ------------
    follow = dict(follow or {})
    for name, path in (case_info.get("follow") or {}).items():
        follow.setdefault(name, path)
    if follow or bridges is not None or case_info.get("bridges"):
        from tracer.crosschain import trace_crosschain

        return trace_crosschain(
            src=src,
            chain_info=chain_info,
            seeds=seeds,
            params=params,
            index=index,
            asset_book=asset_book,
            extra_assets=extra_assets,
            follow=follow,
            bridges=bridges,
            case=case,
            case_info=case_info,
            label_paths=label_paths,
            data=data,
            store=store,
            warnings=warnings,
            progress=progress,
        )
    # --- end issue 10
    leg = trace_leg(src, chain_info, seeds, params, index, asset_book, progress=progress)
    outcome, graph, flags, chain_context = leg.outcome, leg.graph, leg.flags, leg.chain_context
    manifest = _manifest(outcome, src, case, label_paths, graph, flags, data)
    if store is not None:  # issue 3
        manifest["inputs"]["label_store"] = store.describe()
    if chain_context is not None:  # Tron (issue 5): links, blacklist states, delegations
        manifest["tron"] = chain_context.report(flags)
    warnings = [*warnings, *getattr(src, "warnings", [])]  # issue 4: live-source coverage notes
    return TraceResult(graph, flags, outcome, manifest, warnings)


@dataclass
class Leg:
    """One chain's part of a trace: what the engine found, as graph and flags."""

    outcome: TraceOutcome
    graph: nx.MultiDiGraph
    flags: list[Flag]
    source: object
    chain_context: object = None
    symbols: dict = field(default_factory=dict)


def trace_leg(
    src,
    chain_info,
    seeds: list[str],
    params: TraceParams,
    index,
    asset_book: dict[str, Asset],
    *,
    progress: Callable[[int, int, int], None] | None = None,
    entries=None,
    extra_roles: dict[str, tuple[str, str, str]] | None = None,
) -> Leg:
    """Run the engine on one account chain and build its graph and flags.

    ``entries`` are tainted inflows carried over a bridge (see :func:`tracer.engine.trace`);
    ``extra_roles`` gives unlabelled addresses a role (address -> (role, entity, label text)),
    e.g. bridge contracts a decoder knows, so the engine stops there.
    """
    chain = chain_info.name
    extra_roles = extra_roles or {}

    matches: dict[str, object] = {}  # address -> label match: the engine, graph and flags ask

    def match_of(address: str):
        if address not in matches:
            matches[address] = index.role_of(chain, address)
        return matches[address]

    def role_of(address: str):
        match = match_of(address)
        if match is None and address in extra_roles:
            return extra_roles[address][0]
        return match.role if match else None

    # issue 9 (tracer/spark): a source may replay each round's ledgers elsewhere (Spark executors)
    ledger_runner = getattr(src, "ledger_runner", None)
    warm = getattr(index, "prefetch", None)  # a label store answers a frontier in one query
    outcome = run_engine(
        src,
        seeds,
        params,
        role_of=role_of,
        progress=progress,
        ledger_runner=ledger_runner,
        prefetch=(lambda frontier: warm(chain, frontier)) if warm else None,
        entries=entries,
    )
    symbols = getattr(src, "token_symbols", lambda: {})()

    def labels_of(address: str) -> list[dict]:
        return [
            {
                "label": lab.label,
                "category": lab.category,
                "entity": lab.entity or "",
                "role": lab.role,
                "source": lab.source,
                "confidence": lab.confidence,
                "tier": lab.tier,
                "origin": lab.origin,
            }
            for lab in index.lookup(chain, address)
        ]

    def flag_role(address: str):
        match = match_of(address)
        if match is None:
            return extra_roles.get(address)
        lab = match.label
        return match.role, lab.entity or "", f"{lab.label} [{lab.source}]"

    graph = build_graph(outcome, asset_book, labels_of, symbols)
    # --- Tron (issue 5): delegations, issuer blacklist and links for the flags (tracer/tron) ---
    chain_context = None
    if chain_info.kind == "tron":
        from tracer.tron.signals import build_context

        chain_context = build_context(src, outcome, asset_book, flag_role, symbols)
    # --- end Tron
    flags = detect_flags(outcome, asset_book, flag_role, symbols, chain_context=chain_context)
    return Leg(outcome, graph, flags, src, chain_context, symbols)


def _asset_id(chain: str, text: str, book: dict[str, Asset]) -> str:
    if text.lower() in ("native", get_chain(chain).native_symbol.lower()):
        return "native"
    try:
        return normalize(chain, text)
    except InvalidAddress:
        raise TraceInputError(
            f"--asset {text[:50]!r}: give a contract address or 'native' (symbols are ambiguous: "
            "spam tokens reuse them)"
        ) from None


def _manifest(outcome, src, case, label_paths, graph, flags, data) -> dict:
    import duckdb

    pruned = Counter(reason for _, reason in outcome.pruned)
    p = outcome.params
    return {
        "tool": {"name": "tracer", "version": __version__},
        "versions": {
            "python": platform.python_version(),
            "networkx": nx.__version__,
            "duckdb": duckdb.__version__,
            "pandas": pd.__version__,
        },
        "inputs": {
            "case": case,
            "chain": outcome.chain,
            "seeds": outcome.seeds,
            "data": str(data) if data is not None else None,
            "labels": [{"path": str(x), "sha256": _sha256(Path(x))} for x in label_paths],
        },
        "parameters": {
            "policy": p.policy,
            "hops": p.hops,
            "since": p.since,
            "until": p.until,
            "min_amount": p.min_amount,
            "fan_out": p.fan_out,
            "seed_assets": sorted(p.seed_assets) if p.seed_assets is not None else None,
        },
        "data_fingerprint": src.fingerprint(),
        "stats": {
            "rounds": outcome.rounds,
            "source_queries": outcome.queries,
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "flags": len(flags),
            "pruned": dict(sorted(pruned.items())),
            "below_min_amount": {k: str(v) for k, v in sorted(outcome.below_floor.items())},
            "stopped": dict(
                sorted(
                    Counter(n.stop_reason for n in outcome.nodes.values() if n.stop_reason).items()
                )
            ),
        },
        "allocation_note": (
            "poison taints every outflow after a tainted inflow and does not conserve amounts"
            if p.policy == "poison"
            else f"{p.policy}: integer base units; tainted in = tainted out + tainted held at every address"
        ),
    }


__all__ = ["trace", "TraceResult", "TraceInputError", "SourceError", "load_case", "parse_time"]
