"""``report.html``: one self-contained page per trace, readable offline by anyone.

Every trace writes it next to its other outputs (:mod:`tracer.outputs`). It holds:

* the case at a glance (seeds, chain, rule, counts);
* an interactive graph: one column per hop (a deterministic layered layout computed here), pan
  by dragging, zoom with the wheel or the buttons, click an address to see its labels (with
  their sources), amounts, flags and the evidence path of each flag, highlighted in the graph;
* the flags table, ranked by what can still be recovered (:func:`tracer.freeze.rank_flags`);
* the method: allocation rule, parameters, data fingerprint, label files, tool versions, and
  the command that reproduces the trace.

The page is built only from the files a trace wrote (``graph.json``, ``flags.csv``,
``manifest.json``), so ``tracer report OUT`` rebuilds it at any time, then also with the case
workspace: review statuses and history (``reviews.jsonl``) and issuer blacklist checks
(``freeze.json``); that version goes to ``case-report.html`` by default, leaving the trace's own
``report.html`` (listed with its hash in ``manifest.json``) untouched.

Safety and determinism:

* No network: the JavaScript and CSS (``tracer/report_assets/``, hand-written) are inlined, no
  font, image or script is fetched, and a Content-Security-Policy allows only the page's own
  inline script and style (by hash) and no connections at all.
* Labels, entity names and token symbols come from strangers. Server-side text is cleaned
  (:func:`tracer.packets.visible`: control and bidi characters become visible ``[U+202E]``
  markers) and HTML-escaped; the data for the graph is JSON inside
  ``<script type="application/json">`` with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped (so
  ``</script>`` and ``<!--`` cannot end or confuse the block), and the script inserts every
  string with ``textContent``.
* The same trace gives a byte-identical page: no time of the run, sorted everything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections import defaultdict
from pathlib import Path

import click

from tracer.freeze import TraceData, explorer_url, rank_flags
from tracer.packets import reproduce_command, visible
from tracer.records import format_units

__all__ = ["MAX_GRAPH_NODES", "render_report", "report_command", "write_report"]

REPORT_FILE = "report.html"
CASE_REPORT_FILE = "case-report.html"
#: Above this many addresses the graph shows only the evidence: seeds, flagged addresses and
#: every address on a flag's path (the tables still list every flag).
MAX_GRAPH_NODES = 1500
_ASSETS = Path(__file__).parent / "report_assets"
_X_GAP, _Y_GAP = 230, 64


def _esc(text: object, limit: int | None = None) -> str:
    return html.escape(visible(text, limit), quote=True)


def _clean(value):
    """Every string of the page's data made visible-safe (see :func:`tracer.packets.visible`)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def script_json(value) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>``, ``&``, U+2028/2029 or
    non-ASCII character appears literally (``\\u`` escapes), so nothing in it can close the
    element, open a comment or break a JavaScript parser."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


# ----------------------------------------------------------------------------- graph data


def _asset_book(G) -> dict[str, tuple[str, int | None]]:
    book: dict[str, tuple[str, int | None]] = {}
    for _u, _v, d in sorted(G.edges(data=True), key=lambda e: str(e[2].get("tx_hash", ""))):
        asset = str(d.get("asset", ""))
        dec = d.get("decimals")
        if asset not in book or book[asset][1] is None:
            book[asset] = (
                str(d.get("symbol", "")),
                dec if isinstance(dec, int) and dec >= 0 else None,
            )
    return book


def _shown(amounts: dict, book) -> dict[str, str]:
    out = {}
    for asset, value in sorted((amounts or {}).items()):
        symbol, dec = book.get(str(asset), (str(asset)[:10], None))
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number:
            out[str(asset)] = f"{format_units(number, dec) if dec is not None else number} {symbol}"
    return out


def _drawn_nodes(data: TraceData, ranked: list[dict], limit: int) -> tuple[list, bool]:
    G = data.graph
    if G.number_of_nodes() <= limit:
        return sorted(G.nodes, key=str), False
    keep = {n for n, d in G.nodes(data=True) if d.get("role") == "seed"}
    for r in ranked:
        keep.add(f"{r['chain']}:{r['address']}")
        for h in r["evidence_path"] + r.get("onward", []):
            keep.add(f"{r['chain']}:{h['from']}")
            keep.add(f"{r['chain']}:{h['to']}")
    return sorted((n for n in keep if n in G), key=str), True


def layout(G, nodes: list) -> dict:
    """Deterministic layered layout: x by hop, y by the mean position of each node's
    predecessors (barycentre, one sweep), ties by node key; columns centred on y = 0."""
    layers: dict[int, list] = defaultdict(list)
    for n in nodes:
        hop = G.nodes[n].get("hop")
        layers[hop if isinstance(hop, int) and hop >= 0 else 0].append(n)
    pos: dict = {}
    for col, hop in enumerate(sorted(layers)):
        members = layers[hop]

        def key(n):
            ys = sorted(pos[p][1] for p in G.predecessors(n) if p in pos)
            return (sum(ys) / len(ys) if ys else float("inf"), str(n))

        members.sort(key=key)
        offset = (len(members) - 1) * _Y_GAP / 2
        for i, n in enumerate(members):
            pos[n] = (col * _X_GAP, round(i * _Y_GAP - offset))
    return pos


def _transfers(G, node, book, out: bool, limit: int = 60) -> list[dict]:
    edges = (
        G.out_edges(node, keys=True, data=True) if out else G.in_edges(node, keys=True, data=True)
    )
    rows = []
    for u, v, k, d in edges:
        other = v if out else u
        dec = d.get("decimals")
        dec = dec if isinstance(dec, int) and dec >= 0 else None
        rows.append(
            {
                "key": str(k),
                "time": str(d.get("time", "")),
                "block": d.get("block", 0),
                "tx_hash": str(d.get("tx_hash", "")),
                "other": str(G.nodes[other].get("address", other)),
                "other_url": explorer_url(
                    str(G.nodes[other].get("chain", "")),
                    "address",
                    str(G.nodes[other].get("address", "")),
                ),
                "amount": format_units(int(d.get("amount") or 0), dec),
                "tainted": format_units(int(d.get("tainted") or 0), dec),
                "symbol": str(d.get("symbol", "")),
            }
        )
    rows.sort(key=lambda r: (r["block"] if isinstance(r["block"], int) else 0, r["key"]))
    return rows[:limit]


def report_payload(data: TraceData, ranked: list[dict], max_nodes: int = MAX_GRAPH_NODES) -> dict:
    """Everything the page's script needs: drawn nodes (with positions), edges, flags."""
    G = data.graph
    book = _asset_book(G)
    drawn, truncated = _drawn_nodes(data, ranked, max_nodes)
    pos = layout(G, drawn)
    flags_at: dict[str, list[str]] = defaultdict(list)
    for r in ranked:
        flags_at[f"{r['chain']}:{r['address']}"].append(r["flag_id"])
    nodes = []
    for n in drawn:
        d = G.nodes[n]
        chain = str(d.get("chain", ""))
        address = str(d.get("address", n))
        nodes.append(
            {
                "id": str(n),
                "x": pos[n][0],
                "y": pos[n][1],
                "address": address,
                "chain": chain,
                "url": explorer_url(chain, "address", address),
                "role": str(d.get("role", "")),
                "entity": str(d.get("entity", "")),
                "hop": d.get("hop", 0),
                "stop_reason": str(d.get("stop_reason", "")),
                "degree_seen": d.get("degree_seen", 0),
                "labels": [
                    {
                        k: lab.get(k, "")
                        for k in ("label", "category", "entity", "source", "confidence", "origin")
                    }
                    for lab in d.get("labels") or []
                    if isinstance(lab, dict)
                ],
                "received": _shown(d.get("tainted_received"), book),
                "held": _shown(d.get("tainted_held"), book),
                "flags": flags_at.get(str(n), []),
                "inflows": _transfers(G, n, book, out=False),
                "outflows": _transfers(G, n, book, out=True),
            }
        )
    drawn_set = set(drawn)
    pairs: dict[tuple, list] = defaultdict(list)
    for u, v, k, d in G.edges(keys=True, data=True):
        if u in drawn_set and v in drawn_set:
            pairs[(str(u), str(v))].append((str(k), d))
    edges = []
    for (u, v), items in sorted(pairs.items()):
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _k, d in items:
            t = totals[str(d.get("asset", ""))]
            t[0] += int(d.get("amount") or 0)
            t[1] += int(d.get("tainted") or 0)
        parts = []
        for asset, (amount, tainted) in sorted(totals.items()):
            symbol, dec = book.get(asset, (asset[:10], None))
            parts.append(
                f"{format_units(amount, dec)} {symbol} (tainted {format_units(tainted, dec)})"
            )
        text = f"{len(items)} transfer(s): " + "; ".join(parts)
        edge = {"from": u, "to": v, "keys": sorted(k for k, _ in items), "text": text}
        hops = sorted(  # issue 10: a cross-chain hop is drawn dashed and says how it was linked
            {
                (str(d.get("bridge", "")), str(d.get("linkage", "")))
                for _k, d in items
                if d.get("kind") == "bridge"
            }
        )
        if hops:
            edge["bridge"] = True
            edge["text"] = "bridge hop (" + ", ".join(f"{b}, {lk}" for b, lk in hops) + "): " + text
        edges.append(edge)
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    bounds = {
        "x": min(xs) - 100,
        "y": min(ys) - 30,
        "w": max(xs) - min(xs) + 200,
        "h": max(ys) - min(ys) + 70,
    }
    flags = {}
    for r in ranked:
        flags[r["flag_id"]] = {
            k: r.get(k)
            for k in (
                "rank",
                "flag_id",
                "kind",
                "chain",
                "address",
                "entity",
                "symbol",
                "tainted_amount",
                "recoverable_display",
                "first_tainted_at",
                "hops",
                "policy",
                "confidence",
                "evidence",
                "state",
                "action",
                "review",
                "review_history",
                "freeze",
                "evidence_path",
                "onward",
                "path_note",
            )
        }
    return _clean(
        {
            "nodes": nodes,
            "edges": edges,
            "flags": flags,
            "bounds": bounds,
            "truncated": truncated,
            "total_nodes": G.number_of_nodes(),
        }
    )


# ----------------------------------------------------------------------------- page


def _flags_table(ranked: list[dict]) -> str:
    head = (
        "<tr><th class=num>#</th><th>flag</th><th>kind</th><th>state</th><th>address</th>"
        "<th>entity</th><th class=num>tainted</th><th class=num>recoverable</th>"
        "<th>first tainted (UTC)</th><th class=num>hops</th><th class=num>conf.</th>"
        "<th>review</th><th>issuer status</th></tr>"
    )
    rows = []
    for r in ranked:
        freeze = r.get("freeze") or {}
        rows.append(
            f'<tr data-flag="{_esc(r["flag_id"])}" data-node="{_esc(r["chain"] + ":" + r["address"])}">'
            f"<td class=num>{r['rank']}</td><td class='mono nowrap'>{_esc(r['flag_id'])}</td>"
            f'<td>{_esc(r["kind"])}</td><td><span class="badge {_esc(r["state"])}">{_esc(r["state"])}</span></td>'
            f'<td class="mono addr">{_esc(r["address"])}</td>'
            f"<td>{_esc(r['entity'], 80)}</td>"
            f"<td class=num>{_esc(r['tainted_amount'])} {_esc(r['symbol'], 16)}</td>"
            f"<td class=num>{_esc(r['recoverable_display'])} {_esc(r['symbol'], 16)}</td>"
            f"<td>{_esc(r['first_tainted_at'])}</td><td class=num>{_esc(r['hops'])}</td>"
            f"<td class=num>{_esc(r['confidence'])}</td><td>{_esc(r['review'])}</td>"
            f"<td>{_esc(freeze.get('status', ''))}</td></tr>"
        )
    body = "\n".join(rows) if rows else "<tr><td colspan=13>No flags.</td></tr>"
    return f"<table id=flags-table><thead>{head}</thead><tbody>\n{body}\n</tbody></table>"


def _method(data: TraceData) -> str:
    m = data.manifest
    p = m.get("parameters", {})
    inputs = m.get("inputs", {})
    fp = m.get("data_fingerprint") or {}
    items = [
        (
            "Allocation rule",
            f"<b>{_esc(p.get('policy', data.policy))}</b>: {_esc(m.get('allocation_note', ''))}",
        ),
        ("Hops", _esc(p.get("hops", ""))),
        ("Minimum amount", _esc(p.get("min_amount") or "none")),
        (
            "Time window",
            f"{_esc(p.get('since') or 'start of data')} .. {_esc(p.get('until') or 'end of data')} (epoch seconds)",
        ),
        ("Fan-out guard", _esc(p.get("fan_out", ""))),
        (
            "Assets followed from the seeds",
            _esc(", ".join(p.get("seed_assets") or []) or "the chain's registered assets"),
        ),
        ("Seeds", "<br>".join(f"<code>{_esc(s)}</code>" for s in inputs.get("seeds", []))),
        ("Chain", _esc(inputs.get("chain", data.chain))),
        ("Case", _esc(inputs.get("case") or "")),
        (
            "Data source",
            _esc(fp.get("source", ""))
            + (f" ({_esc(fp.get('layout', ''))})" if fp.get("layout") else ""),
        ),
        (
            "Data files",
            "<br>".join(
                f"{_esc(f.get('path', ''))} <code>sha256 {_esc(f.get('sha256', ''))}</code>"
                for f in fp.get("files", [])
            )
            or "–",
        ),
        (
            "Label files",
            "<br>".join(
                f"{_esc(Path(str(lab.get('path', ''))).name)} <code>sha256 {_esc(lab.get('sha256', ''))}</code>"
                for lab in inputs.get("labels", [])
            )
            or "none",
        ),
        (
            "Tool",
            f"tracer {_esc(m.get('tool', {}).get('version', ''))}; "
            + ", ".join(
                f"{_esc(k)} {_esc(v)}" for k, v in sorted((m.get("versions") or {}).items())
            ),
        ),
        ("Reproduce", f"<code>{_esc(reproduce_command(m))}</code>"),
        (
            "Ranking",
            "Flags with something to recover first (exchange deposit addresses and wallets: the "
            "tainted amount; stablecoin balances: what the issuer check leaves), largest share "
            "of the stolen amount in that asset first, most recent on ties; then leads that need "
            "more work (bridges, mixers, busy unlabelled addresses); then closed ones (already "
            "frozen, moved on, dismissed in review).",
        ),
        (
            "Deposit detection",
            "Behaviour (Victor, FC 2020): an address that forwards the same token amount, or the "
            "same ETH amount less at most 0.01 ETH of gas, to a labelled exchange wallet within "
            "10,000 blocks; a gas top-up from the exchange's funder adds confidence. Labels "
            "confirm; both are reported.",
        ),
    ]
    rows = "\n".join(f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f"<dl class=method>\n{rows}\n</dl>"


def _chains(data: TraceData) -> str:
    """The traced chain, or every leg's chain in order for a cross-chain trace (issue 10)."""
    legs = (data.manifest.get("crosschain") or {}).get("legs") or []
    names: list[str] = []
    for leg in legs:
        if leg.get("chain") not in names:
            names.append(str(leg.get("chain")))
    if len(names) > 1:
        return " &rarr; ".join(_esc(n) for n in names)
    return _esc(data.manifest.get("inputs", {}).get("chain", data.chain))


def _crosschain(data: TraceData) -> str:
    """Issue 10: the "Cross-chain hops" section (bridge edges of the graph, bridge stops of the
    manifest), or "" for a single-chain trace."""
    cross = data.manifest.get("crosschain")
    hops = sorted(
        (d for _, _, d in data.graph.edges(data=True) if d.get("kind") == "bridge"),
        key=lambda d: (str(d.get("src_chain")), str(d.get("src_tx_hash")), str(d.get("tx_hash"))),
    )
    if cross is None and not hops:
        return ""

    def tx(chain, value) -> str:
        url = explorer_url(str(chain or ""), "tx", str(value or ""))
        text = f"<code>{_esc(chain)}:{_esc(value)}</code>"
        return f'<a href="{_esc(url)}" rel="noreferrer">{text}</a>' if url else text

    def units(value, decimals) -> str:
        try:
            return format_units(int(value), None if decimals in (None, -1) else int(decimals))
        except (TypeError, ValueError):
            return _esc(value)

    rows = []
    for d in hops:
        fee = d.get("fee")
        rows.append(
            f"<tr><td>{_esc(d.get('bridge'), 40)}</td><td>{_esc(d.get('linkage'))}</td>"
            f"<td class=num>{_esc(d.get('confidence'))}</td>"
            f"<td>{tx(d.get('src_chain'), d.get('src_tx_hash'))}</td>"
            f"<td>{tx(d.get('dest_chain'), d.get('dest_tx_hash'))}</td>"
            f"<td class=num>{units(d.get('amount'), d.get('decimals'))} {_esc(d.get('symbol'), 16)}</td>"
            f"<td class=num>{units(d.get('tainted'), d.get('decimals'))}</td>"
            f"<td class=num>{units(fee, d.get('decimals')) if fee not in (None, '') else 'n/a'}</td></tr>"
        )
    stops = []
    for st in (cross or {}).get("stop_list", []):
        stops.append(
            f"<tr><td><code>{_esc(st.get('chain'))}:{_esc(st.get('contract'))}</code></td>"
            f"<td>{_esc(st.get('bridge') or '-', 40)}</td><td>{_esc(st.get('reason'))}</td>"
            f"<td>{tx(st.get('chain'), st.get('tx_hash'))}</td>"
            f"<td class=num>{_esc(st.get('tainted'))}</td><td>{_esc(st.get('detail'), 200)}</td></tr>"
        )
    legs = ", ".join(
        f"{_esc(leg.get('chain'))} ({_esc(leg.get('nodes'))} addresses)"
        for leg in (cross or {}).get("legs", [])
    )
    hop_table = (
        "<table id=bridge-hops><thead><tr><th>bridge</th><th>linkage</th><th class=num>conf.</th>"
        "<th>deposit</th><th>release</th><th class=num>released</th>"
        "<th class=num>tainted carried</th><th class=num>fee</th></tr></thead><tbody>\n"
        + ("\n".join(rows) or "<tr><td colspan=8>No bridge hop was followed.</td></tr>")
        + "\n</tbody></table>"
    )
    stop_table = (
        "<h3>Bridge stops (not followed)</h3><table id=bridge-stops><thead><tr><th>bridge "
        "address</th><th>decoder</th><th>reason</th><th>deposit</th><th class=num>tainted "
        "(base units)</th><th>detail</th></tr></thead><tbody>\n"
        + "\n".join(stops)
        + "\n</tbody></table>"
        if stops
        else ""
    )
    return (
        "<section id=crosschain>\n<h2>Cross-chain hops</h2>\n"
        f"<p class=note>Legs traced: {legs or '-'}. Exact hops are linked by the protocol's "
        "identifier; inferred hops by amount, time, recipient and shared gas funder, with the "
        "confidence shown (bridges.csv has the evidence). The tainted share is carried across "
        "in proportion to what was released.</p>\n"
        f"{hop_table}\n{stop_table}\n</section>"
    )


_LEGEND = "".join(
    f'<span><i class="role-{r}"></i>{r}</span>'
    for r in ("seed", "deposit", "exchange", "holder", "mixer", "bridge", "swap", "other")
)


def render_report(
    data: TraceData,
    freeze: dict | None = None,
    history: dict[str, list] | None = None,
    max_nodes: int = MAX_GRAPH_NODES,
) -> str:
    """The HTML page (a str) for a trace, with review history and freeze checks if given."""
    history = history or {}
    statuses = {k: v[-1].status for k, v in history.items() if v}
    ranked = rank_flags(data, freeze, statuses)
    for r in ranked:
        r["review_history"] = [
            {
                "at": x.at,
                "reviewer": x.reviewer,
                "previous": x.previous,
                "status": x.status,
                "note": x.note,
            }
            for x in history.get(r["flag_id"], [])
        ]
    payload = report_payload(data, ranked, max_nodes)
    script = (_ASSETS / "report.js").read_text(encoding="utf-8")
    style = (_ASSETS / "report.css").read_text(encoding="utf-8")
    csp = (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "img-src 'none'; connect-src 'none'; font-src 'none'; base-uri 'none'; form-action 'none'"
    )
    m = data.manifest
    inputs = m.get("inputs", {})
    stats = m.get("stats", {})
    title = f"tracer report: {inputs.get('case') or ', '.join(inputs.get('seeds', [])[:2])}"
    counts = defaultdict(int)
    for r in ranked:
        counts[r["state"]] += 1
    truncated = (
        f"<p class=note>The graph has {payload['total_nodes']} addresses; it shows the "
        f"{len(payload['nodes'])} on the evidence paths (seeds, flagged addresses, every hop of "
        "each flag's path). graph.json holds them all.</p>"
        if payload["truncated"]
        else ""
    )
    workspace = ""
    if freeze is not None or history:
        workspace = (
            "<p>Includes the case workspace: "
            f"{sum(len(v) for v in history.values())} review entries, "
            f"{len(freeze or {})} issuer check(s).</p>"
        )
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title, 120)}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{_esc(title, 120)}</h1>
<p>Chain {_chains(data)}; rule <b>{_esc(data.policy)}</b>; seeds {", ".join(f"<code>{_esc(s)}</code>" for s in inputs.get("seeds", []))}</p>
<ul class=stats>
<li><b>{_esc(stats.get("nodes", data.graph.number_of_nodes()))}</b> addresses</li>
<li><b>{_esc(stats.get("edges", data.graph.number_of_edges()))}</b> tainted transfers</li>
<li><b>{len(ranked)}</b> flags</li>
<li><b>{counts["act"]}</b> to act on</li>
<li><b>{counts["investigate"]}</b> to investigate</li>
<li><b>{counts["closed"]}</b> closed</li>
</ul>
{workspace}
</header>
<main>
<section>
<h2>Graph</h2>
<p class=note>Drag to pan, scroll or use the buttons to zoom, click an address for its labels, flags and evidence; click a flag to highlight its path from the theft.</p>
{truncated}
<div id=explorer>
<div id=graph-box>
<svg id=graph xmlns="http://www.w3.org/2000/svg" role="img" aria-label="trace graph">
<defs><marker id=arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>
<g id=viewport></g>
</svg>
<div id=controls><button id=zoom-in type=button title="zoom in">+</button><button id=zoom-out type=button title="zoom out">&minus;</button><button id=zoom-fit type=button title="fit">&#9633;</button></div>
<div id=legend>{_LEGEND}</div>
</div>
<aside id=panel><p class=hint>Click an address in the graph, or a row of the flags table.</p>
<noscript><p>The interactive graph needs JavaScript; the tables below do not.</p></noscript></aside>
</div>
</section>
<section>
<h2>Flags, best lead first</h2>
{_flags_table(ranked)}
</section>
{_crosschain(data)}
<section>
<h2>Method and parameters</h2>
{_method(data)}
</section>
</main>
<footer>Written by tracer {_esc(m.get("tool", {}).get("version", ""))} from graph.json, flags.csv and manifest.json. Self-contained: this page loads nothing from the network.</footer>
<script type="application/json" id="tracer-data">{script_json(payload)}</script>
<script>{script}</script>
</body>
</html>
"""
    return body


def write_report(
    data: TraceData,
    path: str | os.PathLike,
    freeze: dict | None = None,
    history: dict[str, list] | None = None,
) -> Path:
    path = Path(path)
    text = render_report(data, freeze, history)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def write_trace_report(directory: str | os.PathLike, manifest: dict) -> Path:
    """``report.html`` of the trace whose ``graph.json`` and ``flags.csv`` are in ``directory``
    (called by :func:`tracer.outputs.write_outputs` before the manifest is written)."""
    from tracer.exports import read_node_link_json
    from tracer.freeze import read_flags_csv, trace_data

    directory = Path(directory)
    data = trace_data(
        read_node_link_json(directory / "graph.json"),
        read_flags_csv(directory / "flags.csv"),
        manifest,
        directory,
    )
    return write_report(data, directory / REPORT_FILE)


@click.command("report")
@click.argument("trace_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Where to write (default: WORKSPACE/{CASE_REPORT_FILE}).",
)
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Case workspace with reviews.jsonl and freeze.json (default: TRACE_DIR).",
)
@click.option("--no-workspace", is_flag=True, help="Leave out reviews and freeze checks.")
def report_command(trace_dir, out, workspace, no_workspace) -> None:
    """Rebuild the HTML report of a trace, with the case's reviews and issuer checks."""
    from tracer.freeze import FREEZE_FILE, load_freeze, load_trace
    from tracer.review import ReviewLog, workspace_dir

    data = load_trace(trace_dir)
    ws = workspace_dir(trace_dir, workspace)
    freeze, history = None, {}
    if not no_workspace:
        freeze = load_freeze(ws / FREEZE_FILE) or None
        for r in ReviewLog(ws).entries():
            history.setdefault(r.flag_id, []).append(r)
    target = out or (
        ws / CASE_REPORT_FILE if not no_workspace else Path(trace_dir) / CASE_REPORT_FILE
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    click.echo(str(write_report(data, target, freeze, history)))
