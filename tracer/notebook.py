"""Helpers for Jupyter notebooks (issue 8): tables, a flow (Sankey), a timeline, the graph.

Everything here reads a :class:`tracer.api.TraceResult` and works offline:

* :func:`edges_frame` / :func:`flags_frame`: the edges and flags with amounts in token units
  (``float64``, display only; the exact base units stay in ``tracer.edges`` / ``flags``).
* :func:`sankey`: a plotly Sankey from the seeds to the endpoints (tainted amounts per asset).
* :func:`timeline`: a matplotlib chart of every tainted hop over time.
* :func:`graph_view`: the interactive graph of ``report.html`` (self-contained, its own CSP)
  inside the notebook, in an ``<iframe srcdoc>``.
* :func:`show`: a plotly figure as HTML with plotly.js inlined (no CDN, works offline).
* :func:`compare_policies`: the same trace under several allocation rules, one table.
* :func:`env_source`: the live source configured by environment variables, or ``None``.

Optional dependencies: ``pip install tracer[notebooks]`` (plotly, matplotlib, IPython).
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from tracer.engine import TraceInputError

#: Sankey/timeline colours per symbol (fallback: a stable pick from the palette).
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
ROLE_COLOURS = {
    "seed": "#d62728",
    "deposit": "#2ca02c",
    "exchange": "#1b7837",
    "mixer": "#7b3294",
    "bridge": "#e08214",
    "holder": "#b2182b",
    "swap": "#4393c3",
    "intermediate": "#969696",
}


def _need(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{module} is needed for this notebook helper: pip install 'tracer[notebooks]'"
        ) from None


def _units(amount, decimals) -> float:
    value = int(amount)
    d = int(decimals) if decimals is not None else -1
    return value / 10**d if d > 0 else float(value)


def short(address: str, n: int = 6) -> str:
    """``0xa0215f…068118``: an address shortened for a chart label."""
    a = str(address)
    return a if len(a) <= 2 * n + 3 else f"{a[:n]}…{a[-n:]}"


def node_label(graph, node: str) -> str:
    """``Exchange A deposit 0xd76f…``: entity and role (if any) with the short address."""
    d = graph.nodes[node]
    role = d.get("role") or ""
    entity = d.get("entity") or ""
    bits = [b for b in (entity, role if role != "intermediate" else "") if b]
    return f"{' '.join(bits)} {short(d.get('address', node))}".strip()


def edges_frame(result) -> pd.DataFrame:
    """One row per traced transfer, typed: ``time`` as UTC datetime, amounts in token units.

    Columns: from, to, from_label, to_label, symbol, asset, hop, time, block, amount,
    tainted (float64 token units, display only), amount_base, tainted_base (exact Python ints),
    tx_hash, kind, swap.
    """
    G = result.graph
    rows = []
    for u, v, _k, d in G.edges(keys=True, data=True):
        rows.append(
            {
                "from": G.nodes[u].get("address", u),
                "to": G.nodes[v].get("address", v),
                "from_label": node_label(G, u),
                "to_label": node_label(G, v),
                "symbol": str(d.get("symbol", "")),
                "asset": str(d.get("asset", "")),
                "hop": int(d.get("hop", 0)),
                "time": pd.Timestamp(int(d.get("timestamp", 0)), unit="s", tz="UTC"),
                "block": int(d.get("block", 0)),
                "amount": _units(d.get("amount", 0), d.get("decimals")),
                "tainted": _units(d.get("tainted", 0), d.get("decimals")),
                "amount_base": int(d.get("amount", 0)),
                "tainted_base": int(d.get("tainted", 0)),
                "tx_hash": str(d.get("tx_hash", "")),
                "kind": str(d.get("kind", "")),
                "swap": str(d.get("swap", "")),
            }
        )
    columns = [
        "from",
        "to",
        "from_label",
        "to_label",
        "symbol",
        "asset",
        "hop",
        "time",
        "block",
        "amount",
        "tainted",
        "amount_base",
        "tainted_base",
        "tx_hash",
        "kind",
        "swap",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame = frame.astype(
        {"hop": "int64", "block": "int64", "amount": "float64", "tainted": "float64"}
    )
    return frame.sort_values(["time", "hop", "tx_hash"], kind="stable").reset_index(drop=True)


def flags_frame(result) -> pd.DataFrame:
    """``result.flags`` with ``amount`` (float64 token units) and ``first_tainted_at`` as a
    UTC datetime, kind as a category; the original columns are kept."""
    frame = result.flags.copy()
    if frame.empty:
        frame["amount"] = pd.Series(dtype="float64")
        return frame
    frame["amount"] = pd.to_numeric(frame["tainted_amount"], errors="coerce").astype("float64")
    frame["first_tainted_at"] = pd.to_datetime(frame["first_tainted_at"], utc=True, errors="coerce")
    frame["kind"] = frame["kind"].astype("category")
    return frame


def _colour(symbol: str, order: dict[str, int]) -> str:
    if symbol not in order:
        order[symbol] = len(order)
    return PALETTE[order[symbol] % len(PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def sankey(
    result,
    symbol: str | None = None,
    min_share: float = 0.0,
    title: str | None = None,
    relative: bool | None = None,
):
    """A plotly Sankey of the tainted flow, from the seeds (left) to the endpoints (right).

    One link per (sender, receiver, asset), coloured by asset, its width the tainted amount in
    token units; with several assets (``relative``, the default then) the width is the share
    (%) of that asset's largest flow out of the seeds, so that 100 ETH and 1,000,000 USDT both
    show (hover gives the amount). ``symbol`` draws one asset only. ``min_share`` drops links
    below that share of the largest link of their asset.
    """
    go = _need("plotly.graph_objects")
    G = result.graph
    flows: dict[tuple[str, str, str], float] = defaultdict(float)
    for u, v, d in G.edges(data=True):
        sym = str(d.get("symbol", ""))
        if symbol is not None and sym != symbol:
            continue
        t = _units(d.get("tainted", 0), d.get("decimals"))
        if t > 0:
            flows[(u, v, sym)] += t
    if not flows:
        raise TraceInputError(
            "nothing to draw: no tainted transfer"
            + (f" in {symbol!r} (symbols here: {sorted(symbols(result))})" if symbol else "")
        )
    top: dict[str, float] = defaultdict(float)
    for (_u, _v, sym), t in flows.items():
        top[sym] = max(top[sym], t)
    flows = {k: v for k, v in flows.items() if v >= min_share * top[k[2]]}
    if relative is None:
        relative = len(top) > 1
    scale: dict[str, float] = defaultdict(float)
    seeds = {n for n, d in G.nodes(data=True) if d.get("role") == "seed"}
    for (u, _v, sym), t in flows.items():
        if u in seeds:
            scale[sym] += t
    for sym in top:
        scale[sym] = scale[sym] or top[sym]
    nodes = sorted({n for u, v, _ in flows for n in (u, v)}, key=lambda n: (_hop(G, n), n))
    index = {n: i for i, n in enumerate(nodes)}
    order: dict[str, int] = {}
    links = sorted(flows.items(), key=lambda kv: (kv[0][2], index[kv[0][0]], index[kv[0][1]]))
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [node_label(G, n) for n in nodes],
                "color": [ROLE_COLOURS.get(G.nodes[n].get("role", ""), "#969696") for n in nodes],
                "pad": 12,
                "thickness": 14,
                "customdata": [G.nodes[n].get("address", n) for n in nodes],
                "hovertemplate": "%{customdata}<extra></extra>",
            },
            link={
                "source": [index[u] for (u, _v, _s), _t in links],
                "target": [index[v] for (_u, v, _s), _t in links],
                "value": [100 * t / scale[k[2]] if relative else t for k, t in links],
                "label": [s for (_u, _v, s), _t in links],
                "customdata": [f"{t:,.8g} {k[2]}" for k, t in links],
                "hovertemplate": "%{customdata}<extra></extra>",
                "color": [_rgba(_colour(s, order), 0.45) for (_u, _v, s), _t in links],
            },
        )
    )
    policy = result.graph.graph.get("policy", "")
    fig.update_layout(
        title=title
        or f"Tainted flow, seeds → endpoints ({policy}; colour = asset"
        + ("; width = % of the asset's outflow from the seeds)" if relative else ")"),
        height=max(400, 28 * len(nodes)),
        font_size=11,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _hop(G, node) -> int:
    hop = G.nodes[node].get("hop")
    return int(hop) if hop is not None else 99


def symbols(result) -> set[str]:
    return {str(d.get("symbol", "")) for _u, _v, d in result.graph.edges(data=True)}


def timeline(result, ax=None, title: str | None = None, annotate: bool = True):
    """A matplotlib chart of every tainted transfer: time (x) against hop (y), one colour per
    asset, marker area by the share of that asset's largest tainted transfer, flagged
    addresses annotated (``annotate=False`` to leave them out). Returns the matplotlib Figure."""
    plt = _need("matplotlib.pyplot")
    frame = edges_frame(result)
    frame = frame[frame["tainted_base"] > 0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.5))
    else:
        fig = ax.figure
    order: dict[str, int] = {}
    for sym, part in frame.groupby("symbol", sort=True):
        biggest = part["tainted"].max() or 1.0
        ax.scatter(
            part["time"].dt.tz_localize(None),
            part["hop"],
            s=30 + 270 * (part["tainted"] / biggest),
            color=_colour(str(sym), order),
            alpha=0.7,
            label=str(sym),
            edgecolors="black",
            linewidths=0.4,
        )
    if annotate and len(result.flags):
        names: dict[str, str] = {}
        for f in result.flags.itertuples():
            names.setdefault(f.address, f"{f.entity or f.kind} {short(f.address, 4)}")
        hits = frame[frame["to"].isin(names)].drop_duplicates("to")
        for i, (_, row) in enumerate(hits.iterrows()):
            ax.annotate(
                names[row["to"]],
                (row["time"].tz_localize(None), row["hop"]),
                fontsize=7,
                xytext=(4, 6 + 9 * (i % 3)),
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"},
            )
    ax.set_xlabel("block time (UTC)")
    ax.set_ylabel("hop from the seed")
    ax.set_yticks(sorted(frame["hop"].unique()) if len(frame) else [])
    ax.grid(True, alpha=0.3)
    ax.legend(title="asset", loc="best", fontsize=8)
    policy = result.graph.graph.get("policy", "")
    ax.set_title(title or f"Timeline of tainted hops ({policy})")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def report_html(result, freeze: dict | None = None, history: dict | None = None) -> str:
    """The self-contained HTML report (:mod:`tracer.report`) of a result, as a string."""
    import tempfile
    from pathlib import Path

    from tracer.freeze import read_flags_csv, trace_data
    from tracer.outputs import write_flags_csv
    from tracer.report import render_report

    with tempfile.TemporaryDirectory() as tmp:  # the flags exactly as flags.csv gives them back
        path = Path(tmp) / "flags.csv"
        write_flags_csv(result.flag_list, path)
        flags = read_flags_csv(path)
    return render_report(trace_data(result.graph, flags, result.manifest), freeze, history)


@dataclass
class _Frame:
    """An ``<iframe srcdoc>`` holding a whole page; displays in Jupyter via ``_repr_html_``."""

    page: str
    height: int

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.page, quote=True)}" '
            f'style="width:100%;height:{int(self.height)}px;border:1px solid #ccc" '
            'sandbox="allow-scripts allow-same-origin"></iframe>'
        )


def graph_view(result, height: int = 650, freeze: dict | None = None, history: dict | None = None):
    """The interactive graph of the HTML report inside the notebook (pan, zoom, click an
    address for its labels, flags and evidence path). Offline: the report inlines its own
    script and style and allows no network request (its Content-Security-Policy)."""
    return _Frame(report_html(result, freeze, history), height)


@dataclass
class _Html:
    text: str

    def _repr_html_(self) -> str:
        return self.text


def show(fig):
    """A plotly figure as HTML with plotly.js inlined (offline: no CDN). Display it as the
    last expression of a cell, or with ``IPython.display.display``."""
    return _Html(fig.to_html(include_plotlyjs=True, full_html=False))


POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


def compare_policies(
    policies: Sequence[str] = POLICIES, kinds: Sequence[str] | None = None, **trace_kwargs
) -> tuple[pd.DataFrame, dict]:
    """Trace the same case/seeds under each rule; returns (table, results).

    The table has one row per flagged place (kind, entity, symbol, address) and one float64
    column per rule: the tainted amount flagged there in token units (0 when that rule raises
    no such flag). ``trace_kwargs`` go to :func:`tracer.trace` (``case=``, ``seeds=``, ...).
    """
    import tracer

    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise TraceInputError(f"unknown rule(s) {unknown} (use {', '.join(POLICIES)})")
    results = {p: tracer.trace(policy=p, **trace_kwargs) for p in policies}
    keys = ["kind", "entity", "symbol", "address"]
    parts = []
    for p, r in results.items():
        f = flags_frame(r)
        if kinds is not None:
            f = f[f["kind"].isin(list(kinds))]
        f = f.assign(kind=f["kind"].astype(str))
        parts.append(f[keys + ["amount"]].groupby(keys, sort=False)["amount"].sum().rename(p))
    table = pd.concat(parts, axis=1).fillna(0.0).astype("float64").reset_index()
    table = table.sort_values(["symbol", "kind", "entity", "address"], kind="stable")
    return table.reset_index(drop=True), results


# ----------------------------------------------------------------------------- live sources

#: Environment variables a notebook reads to run on a live source instead of the sandbox.
LIVE_ENV = {
    "ethereum": ("TRACER_ETH_RPC_URL", "rpc", "rpc_url"),
    "tron": ("TRACER_TRONGRID_URL", "trongrid", "api_url"),
    "bitcoin": ("TRACER_ESPLORA_URL", "esplora", "api_url"),
}


def env_source(chain: str, cache: str | os.PathLike | None = None) -> dict | None:
    """``{"source": ..., "source_options": {...}}`` for :func:`tracer.trace` when the chain's
    environment variable is set (see ``LIVE_ENV``), else ``None`` (the notebook skips the cell).

    Ethereum: ``TRACER_ETH_RPC_URL`` (a JSON-RPC node with ``trace_*`` or an archive node);
    Tron: ``TRACER_TRONGRID_URL`` (``https://api.trongrid.io``; ``TRONGRID_API_KEY`` is read by
    the source); Bitcoin: ``TRACER_ESPLORA_URL`` (``https://mempool.space/api``).
    """
    if chain not in LIVE_ENV:
        raise TraceInputError(f"no live source for {chain!r} (use {', '.join(LIVE_ENV)})")
    var, source, option = LIVE_ENV[chain]
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    options = {option: value}
    if cache is not None:
        options["cache"] = str(cache)
    return {"source": source, "source_options": options}


__all__ = [
    "edges_frame",
    "flags_frame",
    "sankey",
    "timeline",
    "graph_view",
    "report_html",
    "show",
    "compare_policies",
    "env_source",
    "node_label",
    "short",
    "POLICIES",
    "LIVE_ENV",
]
