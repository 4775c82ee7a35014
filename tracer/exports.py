"""Write a trace graph to the formats investigators open: GraphML, GEXF, node-link JSON, CSV, Neo4j.

Every writer is a plain function over the ``networkx.MultiDiGraph`` described in
``docs/graph-schema.md``. The rules they share:

* Amounts (``amount``, ``tainted`` and the values of ``tainted_held`` / ``tainted_received``) are
  written as decimal strings of base units: they can exceed 64 bits, which no GraphML/GEXF/Neo4j
  numeric type nor a JavaScript JSON parser holds exactly. A ``*_display`` companion renders them
  in token units when the decimals are known (empty when ``decimals`` is ``-1``).
* Lists and dicts (``labels``, ``parents``, ``tainted_*``) become JSON strings (``sort_keys``) in
  the flat formats (GraphML, GEXF, CSV).
* Symbols, labels and entity names are attacker-controlled: XML outputs pass every string through
  :func:`xml_safe`, CSV outputs pass every text cell through :func:`safe_cell`.
* Output is deterministic: nodes sorted by key, edges by (block, tx_hash, log_index, key), fixed
  attribute and column order, UTF-8 with ``\\n`` line ends, no timestamps of the export itself.
  The same graph (whatever its insertion order) gives byte-identical files.

Node-link JSON uses ``"from"``/``"to"`` for the edge endpoints, because the schema's edge
attribute ``source`` (where the record came from) would otherwise be overwritten by networkx's
default ``"source"`` endpoint key. :func:`read_node_link_json` loads such a file back.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
from networkx.readwrite import json_graph
from networkx.readwrite.gexf import GEXFWriter

from tracer.records import format_units

__all__ = [
    "EDGE_COLUMNS",
    "FORMATS",
    "NEO4J_NODE_COLUMNS",
    "NEO4J_RELATIONSHIP_COLUMNS",
    "NODE_COLUMNS",
    "export_all",
    "node_link_dict",
    "read_node_link_json",
    "safe_cell",
    "write_edges_csv",
    "write_gexf",
    "write_graphml",
    "write_neo4j",
    "write_node_link_json",
    "write_nodes_csv",
    "xml_safe",
]

PathLike = str | os.PathLike

#: ``export_all`` format names, in the order they are written, with their file names.
FORMATS: dict[str, str] = {
    "graphml": "graph.graphml",
    "gexf": "graph.gexf",
    "json": "graph.json",
    "edges_csv": "edges.csv",
    "nodes_csv": "nodes.csv",
    "neo4j": "neo4j",
}

#: Column order of ``edges.csv``. ``from_node``/``to_node`` are node keys (join on ``nodes.csv``
#: ``node``); amounts are base units, ``*_display`` token units.
EDGE_COLUMNS = (
    "key",
    "from_node",
    "to_node",
    "from_address",
    "to_address",
    "chain",
    "kind",
    "asset",
    "symbol",
    "decimals",
    "amount",
    "amount_display",
    "tainted",
    "tainted_display",
    "tx_hash",
    "log_index",
    "trace_address",
    "block",
    "timestamp",
    "time",
    "hop",
    "swap",
    "source",
    "parents",
    # issue 10: bridge edges (kind "bridge"); empty on every other edge
    "bridge",
    "linkage",
    "confidence",
    "src_chain",
    "src_tx_hash",
    "dest_chain",
    "dest_tx_hash",
    "fee",
)

#: Column order of ``nodes.csv``. ``tainted_*`` are JSON objects asset -> base units (strings),
#: ``tainted_*_display`` the same in token units, ``labels`` the JSON list of label records.
NODE_COLUMNS = (
    "node",
    "chain",
    "address",
    "role",
    "entity",
    "hop",
    "stop_reason",
    "degree_seen",
    "tainted_received",
    "tainted_received_display",
    "tainted_held",
    "tainted_held_display",
    "labels",
)

#: Neo4j header of ``neo4j/nodes.csv``: (header field, source column of :func:`_node_record`).
#: The ID is the node key (``chain:address``): one EVM address can exist on several chains.
NEO4J_NODE_COLUMNS = (
    ("key:ID(Address)", "node"),
    ("address", "address"),
    ("chain", "chain"),
    ("role", "role"),
    ("entity", "entity"),
    ("hop:int", "hop"),
    ("stop_reason", "stop_reason"),
    ("degree_seen:int", "degree_seen"),
    ("tainted_received", "tainted_received"),
    ("tainted_received_display", "tainted_received_display"),
    ("tainted_held", "tainted_held"),
    ("tainted_held_display", "tainted_held_display"),
    ("labels", "labels"),
    (":LABEL", ":LABEL"),
)

#: Neo4j header of ``neo4j/relationships.csv``. Amounts stay strings (they exceed ``long``).
NEO4J_RELATIONSHIP_COLUMNS = (
    (":START_ID(Address)", "from_node"),
    (":END_ID(Address)", "to_node"),
    (":TYPE", ":TYPE"),
    ("key", "key"),
    ("chain", "chain"),
    ("kind", "kind"),
    ("asset", "asset"),
    ("symbol", "symbol"),
    ("decimals:int", "decimals"),
    ("amount", "amount"),
    ("amount_display", "amount_display"),
    ("tainted", "tainted"),
    ("tainted_display", "tainted_display"),
    ("tx_hash", "tx_hash"),
    ("log_index:int", "log_index"),
    ("trace_address", "trace_address"),
    ("block:long", "block"),
    ("timestamp:long", "timestamp"),
    ("time:datetime", "time"),
    ("hop:int", "hop"),
    ("swap", "swap"),
    ("source", "source"),
    ("parents:string[]", "parents"),
)

#: Neo4j label added next to ``Address`` for each role (``:LABEL`` column, e.g. ``Address;Exchange``).
NEO4J_ROLE_LABELS = {
    "seed": "Seed",
    "intermediate": "Intermediate",
    "deposit": "Deposit",
    "exchange": "Exchange",
    "mixer": "Mixer",
    "bridge": "Bridge",
    "swap": "Swap",
    "holder": "Holder",
    "victim": "Victim",
    "sanctioned": "Sanctioned",
    "issuer": "Issuer",
}

# Schema attribute order (docs/graph-schema.md); attributes outside the schema follow, sorted.
_NODE_ORDER = (
    "address",
    "chain",
    "role",
    "entity",
    "labels",
    "hop",
    "tainted_held",
    "tainted_received",
    "stop_reason",
    "degree_seen",
)
_EDGE_ORDER = (
    "chain",
    "asset",
    "symbol",
    "decimals",
    "amount",
    "tainted",
    "tx_hash",
    "log_index",
    "trace_address",
    "block",
    "timestamp",
    "time",
    "hop",
    "kind",
    "swap",
    "source",
    "parents",
)
_AMOUNT_KEYS = frozenset({"amount", "tainted"})
_AMOUNT_MAP_KEYS = frozenset({"tainted_held", "tainted_received"})
_DISPLAY_KEYS = frozenset(
    {"amount_display", "tainted_display", "tainted_held_display", "tainted_received_display"}
)

# Names the writers give a meaning of their own; attributes outside the schema that use them are
# written as ``attr_<name>`` instead of silently clobbering (or being clobbered by) the writer.
_GRAPHML_RESERVED = {"graph": {"id", "node_default", "edge_default"}, "node": set(), "edge": set()}
_GEXF_RESERVED = {
    "graph": set(),
    "node": {"id", "label", "pid", "start", "end", "viz", "parents", "slices", "spells"},
    "edge": {"id", "label", "weight", "type", "start", "end", "viz", "slices", "spells", "key"},
}
_JSON_RESERVED = {"graph": set(), "node": {"id"}, "edge": {"from", "to", "key"}}

_INT64 = (-(2**63), 2**63 - 1)

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# CSV: line breaks and tabs become a space (one record per line for every tool), other C0/C1
# controls and DEL are dropped, lone surrogates (unencodable in UTF-8) become U+FFFD.
_CSV_SPACE = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]")
_CSV_DROP = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_INT_TEXT = re.compile(r"-?\d+")


# --------------------------------------------------------------------------- string guards


def safe_cell(value: Any) -> str:
    """Render one CSV cell so spreadsheets cannot run it as a formula and no tool splits on it.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR (also after leading spaces) gets a
    leading ``'`` (OWASP CSV-injection advice): token symbols and labels are attacker-chosen.
    Plain numbers (``-1``, ``+2.5``) cannot be formulas and are left alone, as are non-string
    values (``int``/``float``), so numeric columns are never mangled. Line breaks and tabs become
    spaces, other control characters are removed, lone surrogates become U+FFFD.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    text = _SURROGATE.sub("\ufffd", text)
    text = _CSV_DROP.sub("", _CSV_SPACE.sub(" ", text))
    stripped = text.lstrip(" ")
    if stripped.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(stripped):
        return "'" + text
    return text


def xml_safe(text: Any) -> str:
    """Drop every character XML 1.0 cannot carry (controls but tab/LF/CR, lone surrogates,
    U+FFFE/U+FFFF), so GraphML/GEXF stay parseable whatever a chain or a label file contains."""
    if text is None:
        return ""
    return _XML_ILLEGAL.sub("", text if isinstance(text, str) else str(text))


def _unicode_safe(text: str) -> str:
    """Replace lone surrogates (which UTF-8 cannot encode) by U+FFFD; everything else is kept."""
    return _SURROGATE.sub("\ufffd", text)


# --------------------------------------------------------------------------- value helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _display(amount: Any, decimals: Any) -> str:
    """Token-unit rendering of a base-unit amount, or ``""`` when the decimals are unknown."""
    if not _is_int(amount) or not _is_int(decimals) or decimals < 0:
        return ""
    return format_units(amount, decimals)


def _jsonable(value: Any, key: str | None = None) -> Any:
    """JSON-ready copy: amounts as decimal strings, containers normalised, strings UTF-8-safe."""
    if value is None or isinstance(value, bool):
        return value
    if _is_int(value):
        return str(value) if key in _AMOUNT_KEYS else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _unicode_safe(value)
    if isinstance(value, dict):
        inner = "amount" if key in _AMOUNT_MAP_KEYS else None
        return {_unicode_safe(str(k)): _jsonable(v, inner) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return _unicode_safe(str(value))


def _json_text(value: Any, key: str | None = None) -> str:
    """Compact, key-sorted JSON of one attribute value (a CSV cell or an XML attribute)."""
    return json.dumps(
        _jsonable(value, key), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


def _ordered(data: dict, order: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Attributes in schema order, then the others sorted by name: a stable attribute order."""
    for name in order:
        if name in data:
            yield name, data[name]
    for name in sorted((k for k in data if k not in order), key=str):
        yield name, data[name]


def _asset_decimals(G: nx.MultiDiGraph) -> dict[tuple[str, str], int]:
    """(chain, asset) -> decimals, learnt from the edges, to display node ``tainted_*`` maps."""
    found: dict[tuple[str, str], int] = {}
    for _u, _v, _k, d in _sorted_edges(G):
        decimals = d.get("decimals")
        if _is_int(decimals) and decimals >= 0:
            found.setdefault((str(d.get("chain", "")), str(d.get("asset", ""))), decimals)
    return found


def _map_display(decimals: dict, chain: Any, amounts: Any) -> dict[str, str] | None:
    if not isinstance(amounts, dict):
        return None
    return {
        str(asset): _display(amount, decimals.get((str(chain), str(asset))))
        for asset, amount in amounts.items()
    }


def _node_address(G: nx.MultiDiGraph, node: Any) -> str:
    address = G.nodes[node].get("address")
    if address is None:
        address = str(node).partition(":")[2] or str(node)
    return str(address)


def _edge_sort_key(u: Any, v: Any, k: Any, d: dict) -> tuple:
    block = d.get("block")
    log_index = d.get("log_index")
    return (
        block if _is_int(block) else -1,
        str(d.get("tx_hash", "")),
        log_index if _is_int(log_index) else -1,
        str(k),
        str(u),
        str(v),
    )


def _sorted_nodes(G: nx.MultiDiGraph) -> list[tuple[Any, dict]]:
    return sorted(G.nodes(data=True), key=lambda item: str(item[0]))


def _sorted_edges(G: nx.MultiDiGraph) -> list[tuple[Any, Any, Any, dict]]:
    return sorted(G.edges(keys=True, data=True), key=lambda e: _edge_sort_key(*e))


def _rename(name: Any, reserved: set[str]) -> str:
    name = str(name)
    return f"attr_{name}" if name in reserved else name


# --------------------------------------------------------------------------- GraphML / GEXF


def _xml_value(key: str, value: Any) -> Any:
    """One attribute value as a GraphML/GEXF-writable scalar (``None`` = leave the value out)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if _is_int(value):
        if key in _AMOUNT_KEYS or not _INT64[0] <= value <= _INT64[1]:
            return str(value)
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        return xml_safe(_json_text(value, key))
    return xml_safe(str(value))


def _xml_attrs(data: dict, order: tuple[str, ...], reserved: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in _ordered(data, order):
        if name in _DISPLAY_KEYS:
            continue  # recomputed below from the amounts
        flat = _xml_value(str(name), value)
        if flat is not None:
            out[xml_safe(_rename(name, reserved))] = flat
        if name in ("amount", "tainted"):
            out[f"{name}_display"] = xml_safe(_display(value, data.get("decimals")))
    return out


def _unify_types(items: Iterable[dict]) -> None:
    """GraphML/GEXF declare one type per attribute: write mixed-type attributes as strings."""
    items = list(items)
    types: dict[str, set[type]] = {}
    for data in items:
        for name, value in data.items():
            types.setdefault(name, set()).add(type(value))
    mixed = {name for name, seen in types.items() if len(seen) > 1}
    for data in items:
        for name in mixed & data.keys():
            value = data[name]
            if isinstance(value, bool):
                data[name] = "true" if value else "false"
            elif not isinstance(value, str):
                data[name] = str(value)


def _flat_graph(G: nx.MultiDiGraph, *, gexf: bool) -> nx.MultiDiGraph:
    """Copy of ``G`` holding only XML-writable scalars, in a content-determined order."""
    reserved = _GEXF_RESERVED if gexf else _GRAPHML_RESERVED
    H = nx.MultiDiGraph()
    if not gexf:  # GEXF has no graph attributes
        for name, value in _ordered(G.graph, ()):
            flat = _xml_value(str(name), value)
            if flat is not None:
                H.graph[xml_safe(_rename(name, reserved["graph"]))] = flat

    decimals = _asset_decimals(G)
    ids: dict[Any, str] = {}
    taken: set[str] = set()
    for node, data in _sorted_nodes(G):
        node_id = xml_safe(str(node))
        if node_id in taken:
            raise ValueError(f"node keys collide once made XML-safe: {node_id!r}")
        taken.add(node_id)
        ids[node] = node_id
        attrs = _xml_attrs(data, _NODE_ORDER, reserved["node"])
        for name in ("tainted_received", "tainted_held"):
            shown = _map_display(decimals, data.get("chain"), data.get(name))
            if shown is not None:
                attrs[f"{name}_display"] = xml_safe(_json_text(shown))
        if gexf:
            address, entity = _node_address(G, node), data.get("entity") or ""
            attrs["label"] = xml_safe(f"{address} ({entity})" if entity else address)
        H.add_node(node_id)
        H.nodes[node_id].update(attrs)

    edges = _sorted_edges(G)
    key_count = Counter(xml_safe(str(k)) for _u, _v, k, _d in edges)
    for u, v, k, data in edges:
        edge_id = xml_safe(str(k))
        if key_count[edge_id] > 1:  # the same transfer id on several pairs: keep ids unique
            edge_id = f"{edge_id}|{ids[u]}>{ids[v]}"
        attrs = _xml_attrs(data, _EDGE_ORDER, reserved["edge"])
        if gexf:
            attrs["id"] = edge_id
            amount = attrs.get("amount_display") or attrs.get("amount") or ""
            attrs["label"] = f"{amount} {attrs.get('symbol', '')}".strip()
        H.add_edge(ids[u], ids[v], key=edge_id)
        H.edges[ids[u], ids[v], edge_id].update(attrs)

    _unify_types(d for _n, d in H.nodes(data=True))
    _unify_types(d for _u, _v, d in H.edges(data=True))
    return H


def write_graphml(G: nx.MultiDiGraph, path: PathLike) -> Path:
    """GraphML for yEd/Cytoscape/networkx: amounts as strings, lists/dicts as JSON strings.

    Uses networkx's pure-Python writer (not the lxml one) so the bytes do not depend on whether
    lxml is installed.
    """
    buffer = io.BytesIO()
    nx.write_graphml_xml(_flat_graph(G, gexf=False), buffer, encoding="utf-8")
    return _write_bytes(path, buffer.getvalue())


def write_gexf(G: nx.MultiDiGraph, path: PathLike) -> Path:
    """GEXF 1.2 for Gephi: node ``label`` is the address (with the entity), edge ids the keys.

    networkx stamps ``lastmodifieddate`` (today) into the header; it is removed so the file only
    depends on the graph.
    """
    writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
    writer.add_graph(_flat_graph(G, gexf=True))
    meta = writer.xml.find("meta")
    if meta is not None:
        meta.attrib.pop("lastmodifieddate", None)
    buffer = io.BytesIO()
    writer.write(buffer)
    return _write_bytes(path, buffer.getvalue())


# --------------------------------------------------------------------------- node-link JSON


def _node_link_kwargs(function: Any) -> dict[str, str]:
    """``edges=`` on networkx >= 3.4, ``link=`` before; endpoints named ``from``/``to``."""
    kwargs = {"source": "from", "target": "to"}
    if "edges" in inspect.signature(function).parameters:
        kwargs["edges"] = "edges"
    else:  # networkx 3.2 / 3.3
        kwargs["link"] = "edges"
    return kwargs


def _json_attrs(data: dict, order: tuple[str, ...], reserved: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in _ordered(data, order):
        if name in _DISPLAY_KEYS:
            continue
        out[_unicode_safe(_rename(name, reserved))] = _jsonable(value, str(name))
        if name in ("amount", "tainted"):
            out[f"{name}_display"] = _display(value, data.get("decimals"))
    return out


def node_link_dict(G: nx.MultiDiGraph) -> dict[str, Any]:
    """The node-link document :func:`write_node_link_json` writes (amounts as strings)."""
    H = nx.MultiDiGraph()
    H.graph.update({_unicode_safe(str(k)): _jsonable(v, str(k)) for k, v in _ordered(G.graph, ())})
    decimals = _asset_decimals(G)
    ids: dict[Any, Any] = {}
    for node, data in _sorted_nodes(G):
        node_id = _unicode_safe(node) if isinstance(node, str) else node
        if node_id in H:
            raise ValueError(f"node keys collide once made UTF-8-safe: {node_id!r}")
        ids[node] = node_id
        attrs = _json_attrs(data, _NODE_ORDER, _JSON_RESERVED["node"])
        for name in ("tainted_received", "tainted_held"):
            shown = _map_display(decimals, data.get("chain"), data.get(name))
            if shown is not None:
                attrs[f"{name}_display"] = _jsonable(shown)
        H.add_node(node_id)
        H.nodes[node_id].update(attrs)
    for u, v, k, data in _sorted_edges(G):
        key = _unicode_safe(k) if isinstance(k, str) else k
        H.add_edge(ids[u], ids[v], key=key)
        H.edges[ids[u], ids[v], key].update(_json_attrs(data, _EDGE_ORDER, _JSON_RESERVED["edge"]))

    document = json_graph.node_link_data(H, **_node_link_kwargs(json_graph.node_link_data))
    # networkx lists edges grouped by source node; list them in chain order instead.
    document["edges"].sort(
        key=lambda e: _edge_sort_key(e.get("from"), e.get("to"), e.get("key"), e)
    )
    return document


def write_node_link_json(G: nx.MultiDiGraph, path: PathLike) -> Path:
    """networkx node-link JSON (``edges`` list, endpoints ``from``/``to``), amounts as strings."""
    text = json.dumps(node_link_dict(G), sort_keys=True, ensure_ascii=False, indent=1)
    return _write_text(path, text + "\n")


def read_node_link_json(path: PathLike) -> nx.MultiDiGraph:
    """Load a :func:`write_node_link_json` file back into the schema (amounts as ``int``)."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    kwargs = _node_link_kwargs(json_graph.node_link_graph)
    G = json_graph.node_link_graph(document, directed=True, multigraph=True, **kwargs)
    for _node, data in G.nodes(data=True):
        for name in _DISPLAY_KEYS & data.keys():
            del data[name]
        for name in _AMOUNT_MAP_KEYS & data.keys():
            if isinstance(data[name], dict):
                data[name] = {a: _to_int(x) for a, x in data[name].items()}
    for _u, _v, data in G.edges(data=True):
        for name in _DISPLAY_KEYS & data.keys():
            del data[name]
        for name in _AMOUNT_KEYS & data.keys():
            data[name] = _to_int(data[name])
    return G


def _to_int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and _INT_TEXT.fullmatch(value) else value


# --------------------------------------------------------------------------- CSV


def _text(value: Any) -> str:
    """A text cell: containers as JSON, everything through :func:`safe_cell`."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple | set | frozenset):
        return safe_cell(_json_text(value))
    return safe_cell(value if isinstance(value, str) else str(value))


def _number(value: Any) -> int | float | str:
    """A numeric cell: written as the number itself, never formula-guarded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return _text(value)  # not a number after all: treat as untrusted text


def _edge_record(G: nx.MultiDiGraph, u: Any, v: Any, k: Any, d: dict) -> dict[str, Any]:
    amount, tainted, decimals = d.get("amount"), d.get("tainted"), d.get("decimals")
    return {
        "key": _text(k),
        "from_node": _text(u),
        "to_node": _text(v),
        "from_address": _text(_node_address(G, u)),
        "to_address": _text(_node_address(G, v)),
        "chain": _text(d.get("chain")),
        "kind": _text(d.get("kind")),
        "asset": _text(d.get("asset")),
        "symbol": _text(d.get("symbol")),
        "decimals": _number(decimals),
        "amount": _number(amount),
        "amount_display": _display(amount, decimals),
        "tainted": _number(tainted),
        "tainted_display": _display(tainted, decimals),
        "tx_hash": _text(d.get("tx_hash")),
        "log_index": _number(d.get("log_index")),
        "trace_address": _text(d.get("trace_address")),
        "block": _number(d.get("block")),
        "timestamp": _number(d.get("timestamp")),
        "time": _text(d.get("time")),
        "hop": _number(d.get("hop")),
        "swap": _text(d.get("swap")),
        "source": _text(d.get("source")),
        "parents": _text(d.get("parents")),
        "bridge": _text(d.get("bridge")),
        "linkage": _text(d.get("linkage")),
        "confidence": _number(d.get("confidence")),
        "src_chain": _text(d.get("src_chain")),
        "src_tx_hash": _text(d.get("src_tx_hash")),
        "dest_chain": _text(d.get("dest_chain")),
        "dest_tx_hash": _text(d.get("dest_tx_hash")),
        "fee": _number(d.get("fee")),
    }


def _node_record(node: Any, d: dict, G: nx.MultiDiGraph, decimals: dict) -> dict[str, Any]:
    chain = d.get("chain")
    record = {
        "node": _text(node),
        "chain": _text(chain),
        "address": _text(_node_address(G, node)),
        "role": _text(d.get("role")),
        "entity": _text(d.get("entity")),
        "hop": _number(d.get("hop")),
        "stop_reason": _text(d.get("stop_reason")),
        "degree_seen": _number(d.get("degree_seen")),
        "labels": _text(d.get("labels")),
    }
    for name in ("tainted_received", "tainted_held"):
        amounts = d.get(name)
        record[name] = safe_cell(_json_text(amounts, name)) if amounts is not None else ""
        shown = _map_display(decimals, chain, amounts)
        record[f"{name}_display"] = safe_cell(_json_text(shown)) if shown is not None else ""
    return record


def _write_csv(path: PathLike, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(header))
    writer.writerows(rows)
    return _write_text(path, buffer.getvalue())


def write_edges_csv(G: nx.MultiDiGraph, path: PathLike) -> Path:
    """One row per transfer in chain order, columns :data:`EDGE_COLUMNS`, text cells guarded."""
    rows = (
        [record[c] for c in EDGE_COLUMNS]
        for record in (_edge_record(G, *edge) for edge in _sorted_edges(G))
    )
    return _write_csv(path, EDGE_COLUMNS, rows)


def write_nodes_csv(G: nx.MultiDiGraph, path: PathLike) -> Path:
    """One row per address sorted by node key, columns :data:`NODE_COLUMNS`, text cells guarded."""
    decimals = _asset_decimals(G)
    rows = (
        [record[c] for c in NODE_COLUMNS]
        for record in (_node_record(n, d, G, decimals) for n, d in _sorted_nodes(G))
    )
    return _write_csv(path, NODE_COLUMNS, rows)


# --------------------------------------------------------------------------- Neo4j


def _neo4j_labels(role: Any) -> str:
    """``Address`` plus one label per known role; unknown roles only get a sanitised label."""
    label = NEO4J_ROLE_LABELS.get(str(role or ""))
    if label is None and role:
        label = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", str(role)) if p)
        if not label or not label[0].isalpha():
            label = None
    return "Address" if label is None else f"Address;{label}"


NEO4J_IMPORT_SCRIPT = """\
#!/bin/sh
# Load this trace into Neo4j 5 with the offline bulk importer (the database must be stopped).
#   ./import.sh [database] [extra neo4j-admin options...]     (database defaults to "neo4j")
# Add --overwrite-destination to replace an existing database.
# Neo4j 4.x: neo4j-admin import --database=neo4j --nodes=Address=nodes.csv \\
#            --relationships=TRANSFER=relationships.csv
# Amounts (amount, tainted, tainted_*) are decimal strings of base units: they exceed 64 bits.
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
DATABASE=${1:-neo4j}
[ "$#" -gt 0 ] && shift
exec neo4j-admin database import full \\
  --nodes=Address="$DIR/nodes.csv" \\
  --relationships=TRANSFER="$DIR/relationships.csv" \\
  "$@" "$DATABASE"
"""


def write_neo4j(G: nx.MultiDiGraph, directory: PathLike) -> Path:
    """``nodes.csv``, ``relationships.csv`` and ``import.sh`` for ``neo4j-admin database import``.

    Command: ``neo4j-admin database import full --nodes=Address=nodes.csv
    --relationships=TRANSFER=relationships.csv <database>``. Node IDs are node keys
    (``chain:address``), numeric columns are typed (``hop:int``, ``block:long``, ...), amounts
    are strings, ``parents`` a ``string[]`` (``;``-separated), ``:LABEL`` e.g. ``Address;Exchange``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    decimals = _asset_decimals(G)

    node_rows = []
    for node, data in _sorted_nodes(G):
        record = _node_record(node, data, G, decimals)
        record[":LABEL"] = _neo4j_labels(data.get("role"))
        node_rows.append([record[c] for _h, c in NEO4J_NODE_COLUMNS])
    _write_csv(directory / "nodes.csv", (h for h, _c in NEO4J_NODE_COLUMNS), node_rows)

    rel_rows = []
    for u, v, k, data in _sorted_edges(G):
        record = _edge_record(G, u, v, k, data)
        record[":TYPE"] = "TRANSFER"
        parents = data.get("parents")
        if isinstance(parents, list | tuple):
            record["parents"] = ";".join(_text(p).replace(";", ",") for p in parents)
        rel_rows.append([record[c] for _h, c in NEO4J_RELATIONSHIP_COLUMNS])
    _write_csv(
        directory / "relationships.csv", (h for h, _c in NEO4J_RELATIONSHIP_COLUMNS), rel_rows
    )

    script = _write_text(directory / "import.sh", NEO4J_IMPORT_SCRIPT)
    script.chmod(0o755)
    return directory


# --------------------------------------------------------------------------- all at once

_WRITERS = {
    "graphml": write_graphml,
    "gexf": write_gexf,
    "json": write_node_link_json,
    "edges_csv": write_edges_csv,
    "nodes_csv": write_nodes_csv,
    "neo4j": write_neo4j,
}


def export_all(
    G: nx.MultiDiGraph, directory: PathLike, formats: Iterable[str] | None = None
) -> dict[str, Path]:
    """Write every format (or those named in ``formats``, see :data:`FORMATS`) into ``directory``.

    Returns format name -> written path (the ``neo4j`` entry is a folder).
    """
    wanted = list(FORMATS) if formats is None else list(dict.fromkeys(formats))
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; choose from {list(FORMATS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {
        name: _WRITERS[name](G, directory / FORMATS[name]) for name in FORMATS if name in wanted
    }


# --------------------------------------------------------------------------- files


def _write_bytes(path: PathLike, data: bytes) -> Path:
    path = Path(path)
    path.write_bytes(data)
    return path


def _write_text(path: PathLike, text: str) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path
