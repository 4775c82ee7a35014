"""What ``tracer.trace(..., chain="bitcoin")`` runs: source, UTXO engine, graph, flags.

Called from the Bitcoin branch of :func:`tracer.api.trace`, which builds the manifest and the
:class:`tracer.api.TraceResult` exactly as for the other chains.
"""

from __future__ import annotations

from tracer.addresses import InvalidAddress
from tracer.bitcoin import engine, report
from tracer.engine import TraceParams
from tracer.sources import open_source
from tracer.sources.base import SourceError

#: ``--source`` names on Bitcoin; ``duckdb`` (the CLI default) reads bitcoin-etl exports.
SOURCE_ALIASES = {"duckdb": "bitcoin-etl", "etl": "bitcoin-etl", "core": "bitcoin-core"}


def open_bitcoin_source(source, data=None, source_options: dict | None = None):
    if not isinstance(source, str):
        return source
    kind = SOURCE_ALIASES.get(source, source)
    options = {k: v for k, v in (source_options or {}).items() if v is not None}
    if kind == "bitcoin-etl":
        options["data"] = data
    elif data is not None:
        raise SourceError(f"--source {kind} does not take --data")
    return open_source(kind, "bitcoin", **options)


def trace_bitcoin(
    seeds,
    params: TraceParams,
    index,
    source,
    data,
    source_options,
    progress,
    entries=None,
    extra_roles: dict[str, tuple[str, str, str]] | None = None,
):
    """(outcome, graph, flags, source) of a Bitcoin trace; ``index`` is a LabelIndex.

    ``entries`` and ``extra_roles`` serve cross-chain legs (issue 10): tainted outputs a bridge
    paid, and roles for unlabelled bridge addresses (address -> (role, entity, label text)).
    """
    src = open_bitcoin_source(source, data, source_options)
    if hasattr(src, "set_window"):
        src.set_window(params.since, params.until)
    extra_roles = extra_roles or {}

    def role_of(address: str):
        try:
            match = index.role_of("bitcoin", address)
        except InvalidAddress:
            return None
        if match is None and address in extra_roles:
            return extra_roles[address][0]
        return match.role if match else None

    def flag_role(address: str):
        try:
            match = index.role_of("bitcoin", address)
        except InvalidAddress:
            return None
        if match is None:
            return extra_roles.get(address)
        lab = match.label
        return match.role, lab.entity or "", f"{lab.label} [{lab.source}]"

    outcome = engine.trace(src, seeds, params, role_of=role_of, progress=progress, entries=entries)
    inferred = report.heuristic_labels(outcome, flag_role)

    def labels_of(address: str) -> list[dict]:
        try:
            found = index.lookup("bitcoin", address)
        except InvalidAddress:
            found = []
        own = [
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
            for lab in found
        ]
        return own + inferred.get(address, [])

    flags = report.detect_flags(outcome, flag_role)
    deposits = {f.address for f in flags if f.kind == "exchange_deposit"}
    graph = report.build_graph(outcome, labels_of, deposits)
    return outcome, graph, flags, src
