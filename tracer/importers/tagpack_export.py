"""Findings back out: the traced and flagged addresses of a trace as a GraphSense TagPack.

A TagPack is the field's open label format, so a trace's results can be shared with other
investigators and loaded into GraphSense, or back into tracer (``--labels findings.yaml``).

* header: ``title``, ``creator``, ``description`` (case, seeds, policy, data), ``source`` (the
  trace: ``tracer <version> trace manifest sha256:<digest>``), ``confidence: forensic``,
  ``lastmod`` (the export date unless given), ``is_public: false``;
* one tag per address: ``address``, ``currency``/``network`` of the chain, ``label`` (flag kinds
  with amounts, or the node's role and hop), ``category`` from the node role where GraphSense's
  taxonomy has one (``perpetrator`` for seeds, ``exchange`` for exchanges and their deposit
  addresses, ``mixing_service``, ``defi_bridge``, ``defi_dex``, ``defi_token``), and ``context``
  (valid JSON text) with tracer's exact role, hop, flags and tainted amounts.

:func:`tracer.labels.load_tagpack` reads ``context.tracer_role``, so an exported pack loads back
with the roles it was written with (a deposit address stays ``deposit`` although GraphSense only
knows ``exchange``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from tracer import __version__

__all__ = [
    "CHAIN_CURRENCY",
    "NODE_CATEGORIES",
    "tagpack_from_output",
    "tagpack_from_result",
    "write_tagpack",
]

#: tracer chain -> TagPack currency/network.
CHAIN_CURRENCY = {
    "ethereum": "ETH",
    "tron": "TRX",
    "bitcoin": "BTC",
    "bsc": "BSC",
    "polygon": "MATIC",
    "arbitrum": "ARB",
    "optimism": "OP",
    "base": "BASE",
    "avalanche": "AVAX",
}

#: node role -> (GraphSense category or None, tracer role carried in context).
NODE_CATEGORIES: dict[str, tuple[str | None, str]] = {
    "seed": ("perpetrator", "thief"),
    "deposit": ("exchange", "deposit"),
    "exchange": ("exchange", "exchange"),
    "mixer": ("mixing_service", "mixer"),
    "bridge": ("defi_bridge", "bridge"),
    "swap": ("defi_dex", "swap"),
    "issuer": ("defi_token", "issuer"),
    "holder": (None, "other"),
    "intermediate": (None, "other"),
}


def _flag_text(flags: list[dict]) -> str:
    parts = []
    for f in flags:
        amount = f.get("tainted_amount") or ""
        symbol = f.get("symbol") or ""
        parts.append(f"{f['kind']} {amount} {symbol}".strip())
    return "; ".join(parts)


def _build(
    nodes: Iterable[dict],
    flags: Iterable[dict],
    manifest: dict,
    manifest_sha: str,
    *,
    title: str | None,
    creator: str,
    lastmod: str | None,
    flagged_only: bool,
) -> dict:
    flags_by = {}
    for f in flags:
        flags_by.setdefault((f["chain"], f["address"]), []).append(f)
    inputs = manifest.get("inputs", {})
    params = manifest.get("parameters", {})
    policy = params.get("policy", "")
    case = inputs.get("case")
    seeds = inputs.get("seeds", [])
    description = (
        f"Addresses reached by a tracer trace ({policy}, {params.get('hops')} hops"
        + (f", case {case}" if case else "")
        + f", {len(seeds)} seed(s) on {inputs.get('chain')}). Flags mark freeze points and "
        "service stops; every amount is the tainted amount under the stated policy. Evidence "
        "(transaction paths) is in the trace outputs whose manifest is cited as source."
    )
    tags = []
    for node in sorted(nodes, key=lambda n: (n.get("chain", ""), n.get("address", ""))):
        chain, address = node["chain"], node["address"]
        node_flags = flags_by.get((chain, address), [])
        if flagged_only and not node_flags:
            continue
        role = node.get("role") or "intermediate"
        if any(f["kind"] == "exchange_deposit" for f in node_flags):
            role = "deposit"
        category, tracer_role = NODE_CATEGORIES.get(role, (None, "other"))
        hop = node.get("hop")
        if node_flags:
            label = f"tracer {policy}: {_flag_text(node_flags)} (hop {hop})"
        else:
            label = f"tracer {policy}: traced {role} (hop {hop})"
        context = {
            "tracer_role": tracer_role,
            "node_role": role,
            "hop": hop,
            "flags": [
                {
                    k: f.get(k)
                    for k in ("flag_id", "kind", "asset", "symbol", "tainted_amount", "confidence")
                }
                for f in node_flags
            ],
        }
        if node.get("tainted_held"):
            context["tainted_held"] = node["tainted_held"]
        if node.get("entity"):
            context["entity"] = node["entity"]
        currency = CHAIN_CURRENCY.get(chain, chain.upper())
        tag = {"address": address, "currency": currency, "network": currency, "label": label}
        if category:
            tag["category"] = category
        tag["context"] = json.dumps(context, sort_keys=True, separators=(",", ":"))
        tags.append(tag)
    return {
        "title": title or f"tracer findings{' for ' + case if case else ''} ({policy})",
        "creator": creator,
        "description": description,
        "source": f"tracer {manifest.get('tool', {}).get('version', __version__)} trace, "
        f"manifest sha256:{manifest_sha}",
        "confidence": "forensic",
        "lastmod": lastmod or _dt.datetime.now(_dt.timezone.utc).date().isoformat(),
        "is_public": False,
        "tags": tags,
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def tagpack_from_result(
    result,
    *,
    title: str | None = None,
    creator: str = "tracer",
    lastmod: str | None = None,
    flagged_only: bool = False,
) -> dict:
    """TagPack (a dict) for a :class:`tracer.api.TraceResult`."""
    manifest = result.manifest
    sha = hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()
    nodes = []
    for _, d in result.graph.nodes(data=True):
        nodes.append(
            {
                "chain": d.get("chain"),
                "address": d.get("address"),
                "role": d.get("role"),
                "hop": d.get("hop"),
                "entity": d.get("entity"),
                "tainted_held": _jsonable(d.get("tainted_held") or {}),
            }
        )
    flags = [f.row() for f in result.flag_list]
    return _build(
        nodes,
        flags,
        manifest,
        sha,
        title=title,
        creator=creator,
        lastmod=lastmod,
        flagged_only=flagged_only,
    )


def tagpack_from_output(
    directory: str | os.PathLike,
    *,
    title: str | None = None,
    creator: str = "tracer",
    lastmod: str | None = None,
    flagged_only: bool = False,
) -> dict:
    """TagPack (a dict) for a trace output directory (``graph.json``, ``flags.csv``, manifest)."""
    from tracer.labels import LabelFileError

    d = Path(directory)
    manifest_path = d / "manifest.json"
    if not manifest_path.is_file():
        raise LabelFileError(f"{d}: no manifest.json: not a complete trace output directory")
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    sha = hashlib.sha256(raw).hexdigest()
    graph_path = d / "graph.json"
    if not graph_path.is_file():
        raise LabelFileError(f"{d}: no graph.json in the trace output")
    graph = json.loads(graph_path.read_text(encoding="utf-8"))
    nodes = [
        {
            "chain": n.get("chain"),
            "address": n.get("address"),
            "role": n.get("role"),
            "hop": n.get("hop"),
            "entity": n.get("entity"),
            "tainted_held": n.get("tainted_held") or {},
        }
        for n in graph.get("nodes", [])
    ]
    flags = []
    flags_path = d / "flags.csv"
    if flags_path.is_file():
        with flags_path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                row = {k: _unescape(v) for k, v in row.items()}
                flags.append(row)
    return _build(
        nodes,
        flags,
        manifest,
        sha,
        title=title,
        creator=creator,
        lastmod=lastmod,
        flagged_only=flagged_only,
    )


def _unescape(value: str | None) -> str | None:
    """Undo the spreadsheet-injection guard of tracer's CSV writer (a leading apostrophe)."""
    if value and value[0] == "'" and len(value) > 1 and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def write_tagpack(doc: dict, path: str | os.PathLike) -> Path:
    """Write a TagPack dict as YAML (atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    return p
