"""Freeze points: which flags can still be acted on, in what order, and with what evidence.

Two jobs, both over the files a trace wrote (``graph.json``, ``flags.csv``, ``manifest.json``),
so they work on any output directory, long after the trace ran:

**Issuer freezability.** Tether and Circle can blacklist any address holding USDT/USDC. For every
tainted stablecoin balance still held (``freezable_balance`` flags) :func:`check_freeze` asks one
or more :class:`FreezeStatusProvider` objects whether the address is already blacklisted, and
whether the funds are still there, and settles on one status:

* ``freezable``: not blacklisted (or not checked: ``certainty`` says which), funds still held;
* ``frozen``: already blacklisted (``DestroyedBlackFunds`` noted: the issuer burnt them);
* ``moved``: a live check found the tainted balance gone (balance below the tainted amount
  counts as partly moved: the rest stays ``freezable`` with a smaller recoverable amount).

Providers (strongest first; the first strong answer decides, weaker ones become notes):

* :class:`RpcProvider`: ``isBlackListed(address)`` (Tether) / ``isBlacklisted(address)`` (Circle)
  and ``balanceOf`` by ``eth_call`` at one pinned block of a JSON-RPC node (``live``);
* :class:`EventsProvider`: blacklist events (``AddedBlackList``, ``RemovedBlackList``,
  ``DestroyedBlackFunds``, ``Blacklisted``, ``UnBlacklisted``; topic0 values are keccak-256 of the
  signatures, :func:`blacklist_topics`) read from the ``logs`` table of bulk exports
  (:meth:`EventsProvider.from_logs`) or from a CSV the user supplies
  (:meth:`EventsProvider.from_csv`); answers as of the end of that data (``data``);
* :class:`TagPackProvider`: GraphSense TagPacks with category ``black_list`` (``usdt_blacklist``,
  with the freeze transaction in each tag's context): a weak signal (``weak``), never "not listed".

**Ranking.** :func:`rank_flags` orders every flag by what a recovery team can still get back:
first the flags with a recoverable amount (exchange deposit addresses and exchange wallets:
the tainted amount; stablecoin balances: what the freeze check leaves), largest share of the
stolen amount in that asset first (or value, with ``prices``), most recent first on ties; then
the leads that need more work (bridges, mixers, busy unlabelled addresses); then the closed ones
(already frozen, moved on, dismissed in review). Each ranked flag carries its full evidence path
read off the graph (:func:`tracer.engine.path_to` over the edges' ``parents``): every hop with its
transaction hash, block, UTC time, amount and tainted amount under the trace's rule, explorer
links, the deposit's onward sweep, and every label (with its source) of the addresses involved.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import click
from eth_hash.auto import keccak as _keccak

from tracer.records import format_units

if TYPE_CHECKING:  # the CLI imports this module: networkx and the engine load on first use
    import networkx as nx

__all__ = [
    "blacklist_topics",
    "Answer",
    "BlacklistEvent",
    "EventsProvider",
    "FreezeCheck",
    "FreezeStatusProvider",
    "Holding",
    "RpcProvider",
    "TagPackProvider",
    "TraceData",
    "check_freeze",
    "decode_blacklist_log",
    "evidence_path",
    "explorer_url",
    "holdings",
    "load_freeze",
    "load_trace",
    "rank_flags",
    "write_freeze",
]

FREEZE_FILE = "freeze.json"

# ----------------------------------------------------------------------------- trace outputs


def unguard(text: str) -> str:
    """Undo :func:`tracer.exports.safe_cell`'s formula guard on a cell read back from a CSV."""
    if text.startswith("'"):
        rest = text[1:]
        stripped = rest.lstrip(" ")
        if stripped.startswith(("=", "+", "-", "@", "\t", "\r")) and not re.fullmatch(
            r"[+-]?\d+(\.\d+)?", stripped
        ):
            return rest
    return text


def _epoch(iso: str) -> int:
    if not iso:
        return 0
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _int(text: Any, default: int = 0) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def read_flags_csv(path: Path) -> list[dict]:
    """``flags.csv`` rows with typed fields (``tainted`` int, ``path`` list, ``first_ts`` epoch)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row = {k: unguard(v or "") for k, v in raw.items() if k is not None}
            row["tainted"] = _int(row.get("tainted_base_units"))
            row["hops"] = _int(row.get("hops"))
            try:
                row["confidence"] = float(row.get("confidence") or 0)
            except ValueError:
                row["confidence"] = 0.0
            row["path"] = [h for h in (row.get("path") or "").split(";") if h]
            row["first_ts"] = _epoch(row.get("first_tainted_at", ""))
            rows.append(row)
    return rows


@dataclass
class TraceData:
    """What a trace wrote, read back: the graph, the flag rows and the manifest."""

    graph: nx.MultiDiGraph
    flags: list[dict]
    manifest: dict
    directory: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def cached(self, name: str, build):
        """A value derived from the graph, built once (edge index, decimals, ...)."""
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    @property
    def policy(self) -> str:
        return str(
            self.manifest.get("parameters", {}).get("policy") or self.graph.graph.get("policy", "")
        )

    @property
    def chain(self) -> str:
        return str(
            self.manifest.get("inputs", {}).get("chain") or self.graph.graph.get("chain", "")
        )

    def flag(self, flag_id: str) -> dict | None:
        return next((f for f in self.flags if f["flag_id"] == flag_id), None)


def load_trace(directory: str | os.PathLike) -> TraceData:
    """Read ``graph.json``, ``flags.csv`` and ``manifest.json`` from a trace output directory.

    Raises :class:`tracer.engine.TraceInputError` (one line) when a file is missing or unreadable.
    """
    from tracer.engine import TraceInputError
    from tracer.exports import read_node_link_json

    directory = Path(directory)
    missing = [
        n for n in ("graph.json", "flags.csv", "manifest.json") if not (directory / n).is_file()
    ]
    if missing:
        raise TraceInputError(
            f"{directory} is not a complete trace output (missing {', '.join(missing)}): "
            "run `tracer trace ... --out DIR` first"
        )
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        graph = read_node_link_json(directory / "graph.json")
        flags = read_flags_csv(directory / "flags.csv")
    except (ValueError, KeyError, OSError) as error:
        raise TraceInputError(f"cannot read the trace in {directory}: {error}") from None
    return trace_data(graph, flags, manifest, directory)


def trace_data(graph, flags, manifest, directory=None) -> TraceData:
    manifest = {k: v for k, v in manifest.items() if k != "outputs"}
    return TraceData(graph, flags, manifest, Path(directory) if directory else None)


# ----------------------------------------------------------------------------- explorer links


def explorer_url(chain: str, kind: str, value: str) -> str:
    """Explorer link for an address (``kind="address"``) or a transaction (``"tx"``), or ``""``.

    Templates come from :mod:`tracer.chains`; only https templates are used, and the value is
    percent-encoded, so a hostile value can never become another URL or leave the attribute.
    """
    from tracer.chains import CHAINS

    info = CHAINS.get(chain)
    if info is None or not value:
        return ""
    template = info.explorer_address_url if kind == "address" else info.explorer_tx_url
    if not template.startswith("https://") or template.count("{}") != 1:
        return ""
    if kind == "address" and value.startswith("coinjoin:"):  # Bitcoin CoinJoin pseudo-address
        return explorer_url(chain, "tx", value.split(":", 1)[1])
    return template.format(quote(value, safe=""))


# ----------------------------------------------------------------------------- evidence


def _edge_index(G: nx.MultiDiGraph) -> dict[str, tuple[str, str, dict]]:
    index = {}
    for u, v, k, d in G.edges(keys=True, data=True):
        index.setdefault(str(k), (u, v, d))
    return index


def _path_edges(edges: dict[str, tuple[str, str, dict]]) -> dict[str, tuple]:
    """The graph's edges in the shape :func:`tracer.engine.path_to` walks (parents, hop)."""
    return {
        k: (None, SimpleNamespace(parents=list(d.get("parents") or []), hop=_int(d.get("hop"))), "")
        for k, (_u, _v, d) in edges.items()
    }


def _hashes(keys: list[str], edges) -> list[str]:
    out: list[str] = []
    for k in keys:
        h = str(edges[k][2].get("tx_hash", ""))
        if not out or out[-1] != h:
            out.append(h)
    return out


def _node(G: nx.MultiDiGraph, chain: str, address: str) -> str:
    return f"{chain}:{address}"


def _hop_record(G, chain, key, u, v, d) -> dict:
    chain = str(d.get("chain") or chain)  # a cross-chain path (issue 10) changes chain midway
    decimals = d.get("decimals")
    dec = decimals if isinstance(decimals, int) and decimals >= 0 else None
    amount, tainted = _int(d.get("amount")), _int(d.get("tainted"))
    frm = str(G.nodes[u].get("address", u))
    to = str(G.nodes[v].get("address", v))
    tx = str(d.get("tx_hash", ""))
    return {
        "key": str(key),
        "hop": _int(d.get("hop")),
        "tx_hash": tx,
        "tx_url": explorer_url(chain, "tx", tx),
        "block": _int(d.get("block")),
        "time": str(d.get("time", "")),
        "timestamp": _int(d.get("timestamp")),
        "from": frm,
        "from_url": explorer_url(chain, "address", frm),
        "to": to,
        "to_url": explorer_url(chain, "address", to),
        "asset": str(d.get("asset", "")),
        "symbol": str(d.get("symbol", "")),
        "amount": str(amount),
        "amount_display": format_units(amount, dec) if dec is not None else str(amount),
        "tainted": str(tainted),
        "tainted_display": format_units(tainted, dec) if dec is not None else str(tainted),
        "kind": str(d.get("kind", "")),
        "swap": str(d.get("swap", "")),
    }


def evidence_path(data: TraceData, flag: dict) -> tuple[list[dict], str]:
    """Every hop from the theft to the flagged address, and a note if it had to be guessed.

    The flagged address's tainted inflows in the flag's asset are the candidates (for an
    ``exchange`` flag, those not from a flagged deposit address); the fewest-hop one is walked
    back through its ``parents`` with :func:`tracer.engine.path_to`, as the flag itself was. When
    the flag names its path (``flags.csv`` ``path``), the candidate whose path has those
    transaction hashes is taken.
    """
    from tracer.engine import path_to

    G = data.graph
    chain = flag["chain"]
    edges = data.cached("edges", lambda: _edge_index(G))
    node = _node(G, chain, flag["address"])
    if node not in G or (flag["kind"] == "freezable_balance" and not flag["path"]):
        return [], ""  # a seed: the funds start here
    deposits = data.cached(
        "deposits", lambda: {f["address"] for f in data.flags if f["kind"] == "exchange_deposit"}
    )
    candidates = []
    for u, _v, k, d in G.in_edges(node, keys=True, data=True):
        if str(d.get("asset")) != flag["asset"]:
            continue
        if flag["kind"] == "exchange" and G.nodes[u].get("address") in deposits:
            continue
        candidates.append(str(k))
    if not candidates:
        return [], "no tainted inflow of this asset in the graph"
    walk = data.cached("walk", lambda: _path_edges(edges))
    candidates.sort(key=lambda k: (_int(edges[k][2].get("hop")), k))
    chosen, note = None, ""
    for k in candidates:
        keys = path_to(k, walk)
        if not flag["path"] or _hashes(keys, edges) == flag["path"]:
            chosen = keys
            break
    if chosen is None:
        chosen = path_to(candidates[0], walk)
        note = "path rebuilt from the graph; it differs from the flag's recorded path"
    return [_hop_record(G, chain, k, *edges[k]) for k in chosen], note


def onward(data: TraceData, flag: dict) -> list[dict]:
    """Transfers out of a flagged deposit address into labelled exchange wallets (its sweeps)."""
    G = data.graph
    node = _node(G, flag["chain"], flag["address"])
    if flag["kind"] != "exchange_deposit" or node not in G:
        return []
    out = []
    for _u, v, k, d in sorted(G.out_edges(node, keys=True, data=True), key=lambda e: str(e[2])):
        if G.nodes[v].get("role") == "exchange" and str(d.get("asset")) == flag["asset"]:
            out.append(_hop_record(G, flag["chain"], k, node, v, d))
    out.sort(key=lambda h: (h["block"], h["key"]))
    return out


def label_sources(data: TraceData, flag: dict, hops: Sequence[dict] = ()) -> list[dict]:
    """Every label behind a flag: the flagged address's own, then those of the wallets it
    forwarded to, each with its source, origin and confidence (sources never merged)."""
    G = data.graph
    chain = flag["chain"]
    addresses = [flag["address"]] + [h["to"] for h in hops if h["to"] != flag["address"]]
    out, seen = [], set()
    for address in addresses:
        node = _node(G, chain, address)
        if node not in G:
            continue
        for lab in G.nodes[node].get("labels") or []:
            record = {
                "address": address,
                "label": str(lab.get("label", "")),
                "category": str(lab.get("category", "")),
                "entity": str(lab.get("entity", "")),
                "source": str(lab.get("source", "")),
                "origin": str(lab.get("origin", "")),
                "confidence": lab.get("confidence", ""),
                "tier": str(lab.get("tier", "")),
            }
            key = json.dumps(record, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(record)
    return out


# ----------------------------------------------------------------------------- blacklist events


def keccak(text: str) -> bytes:
    return _keccak(text.encode("utf-8"))


def _topic(signature: str) -> str:
    return "0x" + keccak(signature).hex()


_SIGNATURES = (
    ("AddedBlackList(address)", "AddedBlackList", "added"),  # Tether
    ("RemovedBlackList(address)", "RemovedBlackList", "removed"),
    ("DestroyedBlackFunds(address,uint256)", "DestroyedBlackFunds", "destroyed"),
    ("Blacklisted(address)", "Blacklisted", "added"),  # Circle
    ("UnBlacklisted(address)", "UnBlacklisted", "removed"),
)
_EVENT_ACTIONS = {name.lower(): action for _, name, action in _SIGNATURES}
_EVENT_ACTIONS.update({"added": "added", "removed": "removed", "destroyed": "destroyed"})


@functools.cache
def _constants() -> dict:
    """keccak-256 topics and selectors, computed on first use (the CLI imports this module)."""
    return {
        "topics": {_topic(sig): (name, action) for sig, name, action in _SIGNATURES},
        "tether": keccak("isBlackListed(address)")[:4].hex(),
        "circle": keccak("isBlacklisted(address)")[:4].hex(),
        "balance": keccak("balanceOf(address)")[:4].hex(),
    }


def blacklist_topics() -> dict[str, tuple[str, str]]:
    """topic0 (keccak-256 of the event signature) -> (event name, action) of every blacklist
    event: Tether's AddedBlackList/RemovedBlackList/DestroyedBlackFunds, Circle's
    Blacklisted/UnBlacklisted. Also readable as ``tracer.freeze.BLACKLIST_TOPICS``."""
    return dict(_constants()["topics"])


def __getattr__(name: str):
    if name == "BLACKLIST_TOPICS":
        return blacklist_topics()
    raise AttributeError(name)


_WORD = re.compile(r"^[0-9a-fA-F]{64}$")
_EVM_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


@dataclass(frozen=True)
class BlacklistEvent:
    chain: str
    token: str  # contract, canonical
    address: str  # the blacklisted (or cleared) address
    event: str  # AddedBlackList, RemovedBlackList, DestroyedBlackFunds, Blacklisted, UnBlacklisted
    action: str  # added, removed, destroyed
    tx_hash: str
    block: int
    log_index: int = 0
    amount: int | None = None  # DestroyedBlackFunds: the balance burnt
    source: str = ""

    def sort_key(self) -> tuple:
        return (self.block, self.log_index, self.tx_hash)


def _topics_list(topics) -> list[str]:
    if topics is None:
        return []
    if isinstance(topics, str):
        text = topics.strip().strip("[]")
        return [t.strip().strip("'\" ") for t in text.split(",") if t.strip()]
    return [str(t) for t in topics]


def _word(text: str, index: int) -> str | None:
    body = text[2:] if text[:2] in ("0x", "0X") else text
    chunk = body[index * 64 : (index + 1) * 64]
    return chunk if _WORD.match(chunk) else None


def decode_blacklist_log(topics, data) -> tuple[str, str, str, int | None] | None:
    """``(event, action, address, amount)`` of a blacklist log, or None for anything else.

    Tether's events do not index the address (it is the first data word; ``DestroyedBlackFunds``
    adds the burnt balance as the second); Circle's index it (topic 1). Both forms are accepted
    for every event. ``topics`` is a list or ethereum-etl's comma-joined string.
    """
    parts = _topics_list(topics)
    if not parts:
        return None
    known = _constants()["topics"].get(parts[0].lower())
    if known is None:
        return None
    event, action = known
    data = str(data or "")
    amount = None
    if len(parts) >= 2:
        word = _word(parts[1], 0)
        value_index = 0
    else:
        word = _word(data, 0)
        value_index = 1
    if word is None or int(word[:24], 16) != 0:
        return None
    if action == "destroyed":
        value = _word(data, value_index)
        amount = int(value, 16) if value is not None else None
    return event, action, "0x" + word[24:].lower(), amount


class FreezeStatusProvider(Protocol):
    """Answers "is this address blacklisted by the token's issuer, and are the funds there?"."""

    name: str  # shown as the answer's source (no secrets)
    strength: str  # "live", "data" or "weak" (decides precedence)

    def check(self, holdings: Sequence[Holding]) -> list[Answer | None]:
        """One answer per holding (None: this provider knows nothing about it)."""


@dataclass(frozen=True)
class Holding:
    """A tainted stablecoin balance still held at the end of the trace's data."""

    flag_id: str
    chain: str
    address: str
    token: str
    symbol: str
    issuer: str
    tainted: int
    decimals: int | None


@dataclass
class Answer:
    provider: str
    strength: str  # live | data | weak
    listed: bool | None  # None: could not tell
    balance: int | None = None  # current balance of the token at the address (live only)
    destroyed: int | None = None  # DestroyedBlackFunds amount, if the issuer burnt the funds
    as_of: str = ""  # "block 123" / "end of data" / the label file's lastmod
    detail: str = ""
    events: list[dict] = field(default_factory=list)


_STRENGTH_RANK = {"live": 0, "data": 1, "weak": 2}


class EventsProvider:
    """Blacklist status from events: the last ``added``/``removed`` event of an address wins.

    ``complete`` says for which tokens the events are the whole story (an address without events
    is then "not listed"): ``None`` means every token (a chain's ``logs`` table), otherwise the
    set of token contracts named in the events (a user's list).
    """

    strength = "data"

    def __init__(self, events: Iterable[BlacklistEvent], name: str, complete=None):
        self.name = name
        self.events = sorted(events, key=BlacklistEvent.sort_key)
        self._by_key: dict[tuple[str, str, str], list[BlacklistEvent]] = defaultdict(list)
        for e in self.events:
            self._by_key[(e.chain, e.token, e.address)].append(e)
        self.complete = complete

    @classmethod
    def from_logs(
        cls, data_dir: str | os.PathLike, chain: str = "ethereum", tokens: Iterable[str] = ()
    ) -> EventsProvider | None:
        """Blacklist events from the ``logs`` table of a bulk export directory (BigQuery or
        ethereum-etl layout, CSV or Parquet), or None when it has no ``logs`` table.

        One DuckDB query keeps the rows whose first topic is a blacklist topic (and whose
        contract is in ``tokens``, when given); they are decoded here.
        """
        import duckdb

        files = _log_files(Path(data_dir))
        if not files:
            return None
        token_list = sorted({t.lower() for t in tokens})
        con = duckdb.connect()
        try:
            selects = []
            csvs = [str(p) for p in files if not p.name.lower().endswith(".parquet")]
            parquets = [str(p) for p in files if p.name.lower().endswith(".parquet")]
            if csvs:
                selects.append(
                    "SELECT address, CAST(topics AS VARCHAR) AS topics, data, transaction_hash, "
                    "block_number, log_index FROM read_csv(?, header = true, all_varchar = true, "
                    "union_by_name = true)"
                )
            if parquets:
                selects.append(
                    "SELECT address, CAST(topics AS VARCHAR) AS topics, data, transaction_hash, "
                    "block_number, log_index FROM read_parquet(?, union_by_name = true)"
                )
            pattern = "|".join(t[2:] for t in _constants()["topics"])
            where = f"regexp_matches(lower(topics), '{pattern}')"
            params: list = [x for x in (csvs, parquets) if x]
            if token_list:
                where += " AND lower(address) IN (SELECT unnest(?))"
                params.append(token_list)
            sql = f"SELECT * FROM ({' UNION ALL '.join(selects)}) WHERE {where}"
            rows = con.execute(sql, params).fetchall()
        except duckdb.Error as error:
            from tracer.sources.base import SourceError

            raise SourceError(f"cannot read the logs table in {data_dir}: {error}") from None
        finally:
            con.close()
        events = []
        source = f"logs table in {Path(data_dir).name}"
        for address, topics, data, tx_hash, block, log_index in rows:
            decoded = decode_blacklist_log(topics, data)
            if decoded is None:
                continue
            event, action, who, amount = decoded
            events.append(
                BlacklistEvent(
                    chain,
                    str(address).lower(),
                    who,
                    event,
                    action,
                    str(tx_hash).lower(),
                    _int(block),
                    _int(log_index),
                    amount,
                    source,
                )
            )
        return cls(events, name=source, complete=None)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, chain: str = "ethereum") -> EventsProvider:
        """Blacklist events from a CSV: ``token`` (or ``token_address``/``contract``), ``address``,
        ``event`` (an event name or added/removed/destroyed), ``tx_hash`` (or
        ``transaction_hash``), ``block_number`` (or ``block``), optional ``log_index``,
        ``amount``, ``chain``. A ``logs``-shaped CSV (``address``, ``topics``, ``data``) works too.
        Rows that cannot be read are skipped and counted in :attr:`skipped`.
        """
        from tracer.addresses import InvalidAddress, normalize
        from tracer.engine import TraceInputError

        path = Path(path)
        events, skipped = [], 0
        try:
            handle = open(path, newline="", encoding="utf-8-sig")
        except OSError as error:
            raise TraceInputError(f"cannot read {path}: {error.strerror or error}") from None
        with handle:
            for row in csv.DictReader(handle):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                row_chain = row.get("chain") or chain
                tx = row.get("tx_hash") or row.get("transaction_hash") or ""
                block = _int(row.get("block_number") or row.get("block"), -1)
                log_index = _int(row.get("log_index"))
                if "topics" in row and not row.get("event"):
                    decoded = decode_blacklist_log(row.get("topics"), row.get("data"))
                    if decoded is None:
                        skipped += 1
                        continue
                    event, action, who, amount = decoded
                    token = row.get("address", "")
                else:
                    event = row.get("event", "")
                    action = _EVENT_ACTIONS.get(event.lower())
                    who = row.get("address", "")
                    token = (
                        row.get("token") or row.get("token_address") or row.get("contract") or ""
                    )
                    amount = _int(row["amount"]) if row.get("amount") else None
                try:
                    who = normalize(row_chain, who)
                    token = normalize(row_chain, token)
                except (InvalidAddress, ValueError):
                    skipped += 1
                    continue
                if action is None or block < 0:
                    skipped += 1
                    continue
                events.append(
                    BlacklistEvent(
                        row_chain,
                        token,
                        who,
                        event,
                        action,
                        tx.lower(),
                        block,
                        log_index,
                        amount,
                        f"events file {path.name}",
                    )
                )
        provider = cls(events, name=f"events file {path.name}", complete={e.token for e in events})
        provider.skipped = skipped
        return provider

    def check(self, holdings: Sequence[Holding]) -> list[Answer | None]:
        answers: list[Answer | None] = []
        for h in holdings:
            events = self._by_key.get((h.chain, h.token, h.address), [])
            if not events:
                if self.complete is None or h.token in self.complete:
                    answers.append(
                        Answer(
                            self.name,
                            self.strength,
                            False,
                            as_of="end of the data",
                            detail=f"no blacklist event for this address in the {self.name}",
                        )
                    )
                else:
                    answers.append(None)
                continue
            listed, destroyed = False, None
            for e in events:
                if e.action == "added":
                    listed, destroyed = True, None
                elif e.action == "removed":
                    listed, destroyed = False, None
                elif e.action == "destroyed":
                    listed, destroyed = True, (destroyed or 0) + (e.amount or 0)
            last = events[-1]
            detail = f"{last.event} in tx {last.tx_hash} (block {last.block})" + (
                f"; {len(events)} blacklist events in all" if len(events) > 1 else ""
            )
            answers.append(
                Answer(
                    self.name,
                    self.strength,
                    listed,
                    destroyed=destroyed,
                    as_of="end of the data",
                    detail=detail,
                    events=[asdict(e) for e in events],
                )
            )
        return answers


def _log_files(root: Path) -> list[Path]:
    """Files of the ``logs`` table under an export directory (same naming as the bulk source)."""
    if not root.is_dir():
        return []
    pattern = re.compile(r"^logs(?:[-_.].*)?$")
    found = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            lower = name.lower()
            ext = next((e for e in (".csv.gz", ".csv", ".parquet") if lower.endswith(e)), None)
            if ext is None or name.startswith((".", "_")):
                continue
            rel = (Path(dirpath) / name).relative_to(root)
            stem = name[: -len(ext)]
            parts = [*rel.parts[:-1], stem, stem.rsplit(".", 1)[-1]]
            if (
                any(pattern.match(p.lower()) for p in parts)
                and (Path(dirpath) / name).stat().st_size
            ):
                found.append(Path(dirpath) / name)
    return found


class RpcProvider:
    """Live status from a JSON-RPC node: ``isBlackListed``/``isBlacklisted`` and ``balanceOf`` by
    ``eth_call``, all at one block (``latest`` is pinned to a number first)."""

    strength = "live"

    def __init__(
        self,
        rpc_url: str,
        block: int | str = "latest",
        rps: float | None = None,
        timeout: float = 30.0,
    ):
        from tracer.sources.http import JsonRpcClient

        self.client = JsonRpcClient(rpc_url, rps=rps, timeout=timeout, retries=3)
        self.name = f"rpc {self.client.endpoint.public}"
        self.block = block

    def _block(self) -> int:
        if isinstance(self.block, int):
            return self.block
        if str(self.block).isdigit():
            return int(self.block)
        return int(self.client.call("eth_blockNumber", [], cache=False), 16)

    def check(self, holdings: Sequence[Holding]) -> list[Answer | None]:
        from tracer.sources.http import RpcError

        evm = [h for h in holdings if _EVM_ADDRESS.match(h.address) and _EVM_ADDRESS.match(h.token)]
        if not evm:
            return [None] * len(holdings)
        block = self._block()
        tag = hex(block)
        calls = []
        for h in evm:
            arg = h.address[2:].rjust(64, "0")
            c = _constants()
            for selector in (c["tether"], c["circle"], c["balance"]):
                calls.append(("eth_call", [{"to": h.token, "data": "0x" + selector + arg}, tag]))
        results = self.client.batch(calls, cache=False)

        def word(value) -> int | None:
            if isinstance(value, RpcError) or not isinstance(value, str):
                return None
            body = value[2:] if value.startswith("0x") else value
            return int(body[:64], 16) if len(body) >= 64 and _WORD.match(body[:64]) else None

        by_holding = {}
        for i, h in enumerate(evm):
            tether, circle, balance = (word(r) for r in results[3 * i : 3 * i + 3])
            order = (circle, tether) if "circle" in h.issuer.lower() else (tether, circle)
            names = (
                ("isBlacklisted", "isBlackListed")
                if "circle" in h.issuer.lower()
                else ("isBlackListed", "isBlacklisted")
            )
            listed, used = None, ""
            for value, name in zip(order, names, strict=True):
                if value is not None and value in (0, 1):
                    listed, used = bool(value), name
                    break
            if listed is None:
                detail = "the token answers neither isBlackListed nor isBlacklisted"
            else:
                detail = f"{used}({h.address}) = {str(listed).lower()}"
            if balance is not None:
                detail += f"; balanceOf = {format_units(balance, h.decimals)} {h.symbol}"
            by_holding[id(h)] = Answer(
                self.name,
                self.strength,
                listed,
                balance=balance,
                as_of=f"block {block}",
                detail=detail,
            )
        return [by_holding.get(id(h)) for h in holdings]


class TagPackProvider:
    """A weak signal from GraphSense TagPacks with category ``black_list`` (e.g.
    ``usdt_blacklist.yaml``, 774 Ethereum addresses with the freeze transaction): it can say
    "listed by this source", never "not listed". A tag applies to a holding when its token
    (context ``token``, else ``USDT``/``USDC`` in its label) matches the holding's symbol."""

    strength = "weak"

    def __init__(self, paths: Iterable[str | os.PathLike]):
        self.paths = [Path(p) for p in paths]
        self.name = "TagPack " + ", ".join(p.name for p in self.paths)
        self.entries: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for path in self.paths:
            self._load(path)

    def _load(self, path: Path) -> None:
        import yaml

        from tracer.addresses import InvalidAddress, normalize
        from tracer.engine import TraceInputError
        from tracer.labels import NETWORK_CHAINS

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
        except (OSError, yaml.YAMLError) as error:
            raise TraceInputError(f"cannot read TagPack {path}: {error}") from None
        if not isinstance(doc, dict):
            raise TraceInputError(f"{path} is not a TagPack (no header)")
        header = {k: v for k, v in doc.items() if k != "tags"}
        for tag in doc.get("tags") or []:
            if not isinstance(tag, dict):
                continue
            merged = {**header, **tag}
            concepts = {str(merged.get(k, "")).lower() for k in ("category", "abuse")}
            concepts |= {str(c).lower() for c in merged.get("concepts") or []}
            if not concepts & {"black_list", "blacklist"}:
                continue
            network = str(merged.get("network") or merged.get("currency") or "").upper()
            chain = NETWORK_CHAINS.get(network)
            if chain is None:
                continue
            try:
                address = normalize(chain, str(merged.get("address", "")))
            except (InvalidAddress, ValueError):
                continue
            context = merged.get("context")
            ctx = {}
            if isinstance(context, str):
                try:
                    ctx = json.loads(context)
                except ValueError:
                    ctx = {}
            elif isinstance(context, dict):
                ctx = context
            label = str(merged.get("label", ""))
            token = str(ctx.get("token") or "").upper() if isinstance(ctx, dict) else ""
            if not token:
                token = next((s for s in ("USDT", "USDC") if s in label.upper()), "")
            self.entries[(chain, address)].append(
                {
                    "label": label,
                    "token": token,
                    "transaction": str(ctx.get("transaction", "")) if isinstance(ctx, dict) else "",
                    "source": str(merged.get("source", "")),
                    "lastmod": str(merged.get("lastmod", "")),
                    "file": path.name,
                }
            )

    def check(self, holdings: Sequence[Holding]) -> list[Answer | None]:
        answers: list[Answer | None] = []
        for h in holdings:
            hits = [
                e
                for e in self.entries.get((h.chain, h.address), [])
                if not e["token"] or e["token"] == h.symbol.upper()
            ]
            if not hits:
                answers.append(None)
                continue
            e = hits[0]
            tx = f", freeze tx {e['transaction']}" if e["transaction"] else ""
            answers.append(
                Answer(
                    self.name,
                    self.strength,
                    True,
                    as_of=e["lastmod"],
                    detail=f"{e['file']}: {e['label']} (source {e['source']}{tx})",
                )
            )
        return answers


# ----------------------------------------------------------------------------- freeze checks


@dataclass
class FreezeCheck:
    flag_id: str
    chain: str
    address: str
    token: str
    symbol: str
    issuer: str
    tainted: int
    decimals: int | None
    status: str  # freezable | frozen | moved
    certainty: str  # live | data | weak | unchecked
    recoverable: int  # what a freeze request can still cover
    summary: str
    answers: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tainted"] = str(self.tainted)
        d["recoverable"] = str(self.recoverable)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FreezeCheck:
        values = dict(d)
        values["tainted"] = _int(values.get("tainted"))
        values["recoverable"] = _int(values.get("recoverable"))
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


def holdings(data: TraceData) -> list[Holding]:
    """The tainted stablecoin balances of a trace: one per ``freezable_balance`` flag."""
    out = []
    for f in data.flags:
        if f["kind"] != "freezable_balance":
            continue
        out.append(
            Holding(
                f["flag_id"],
                f["chain"],
                f["address"],
                f["asset"],
                f["symbol"],
                f["entity"],
                f["tainted"],
                _decimals(data, f["chain"], f["asset"]),
            )
        )
    return out


def _edge_decimals(G) -> dict[str, int]:
    found: dict[str, int] = {}
    for _u, _v, d in G.edges(data=True):
        dec = d.get("decimals")
        if isinstance(dec, int) and not isinstance(dec, bool) and dec >= 0:
            found.setdefault(str(d.get("asset")), dec)
    return found


def _decimals(data: TraceData, chain: str, asset: str) -> int | None:
    known = data.cached("decimals", lambda: _edge_decimals(data.graph))
    if asset in known:
        return known[asset]
    from tracer.chains import asset_info

    info = asset_info(chain, asset)
    return info.decimals if info else None


def check_freeze(
    items: Sequence[Holding], providers: Sequence[FreezeStatusProvider]
) -> list[FreezeCheck]:
    """Ask every provider about every holding and settle each on one status (see module doc)."""
    per_provider = [list(p.check(items)) for p in providers]
    checks = []
    for i, h in enumerate(items):
        answers = [a[i] for a in per_provider if a[i] is not None]
        answers.sort(key=lambda a: _STRENGTH_RANK.get(a.strength, 9))

        def units(x: int, h: Holding = h) -> str:
            return f"{format_units(x, h.decimals)} {h.symbol}"

        deciding = next((a for a in answers if a.strength != "weak" and a.listed is not None), None)
        weak = next((a for a in answers if a.strength == "weak" and a.listed), None)
        notes = []
        if deciding is not None:
            certainty = deciding.strength
            others = {a.listed for a in answers if a.strength != "weak" and a.listed is not None}
            if len(others) > 1:
                notes.append("sources disagree; the live check (if any) decides")
            if deciding.listed:
                status, recoverable = "frozen", 0
                summary = f"already blacklisted by {h.issuer or 'the issuer'} ({deciding.detail})"
                if deciding.destroyed:
                    summary += f"; {units(deciding.destroyed)} destroyed by the issuer"
            else:
                balance = deciding.balance
                if balance is None or balance >= h.tainted:
                    status, recoverable = "freezable", h.tainted
                    summary = f"not blacklisted ({deciding.detail}): {h.issuer or 'the issuer'} can freeze {units(h.tainted)}"
                elif balance == 0:
                    status, recoverable = "moved", 0
                    summary = f"not blacklisted and the balance is gone ({deciding.detail})"
                else:
                    status, recoverable = "freezable", balance
                    summary = (
                        f"not blacklisted; {units(h.tainted - balance)} of the tainted "
                        f"{units(h.tainted)} moved on, {units(balance)} still there ({deciding.detail})"
                    )
            if weak is not None and not deciding.listed:
                notes.append(f"weak signal says blacklisted: {weak.detail}")
        elif weak is not None:
            status, recoverable, certainty = "frozen", 0, "weak"
            summary = f"listed as blacklisted by {weak.detail} (weak signal: confirm live)"
        elif providers:
            status, recoverable, certainty = "freezable", h.tainted, "unchecked"
            summary = (
                f"held at the end of the data; no source answered for this address "
                f"({', '.join(p.name for p in providers)}; a label list only reports "
                "listings): check live with --rpc-url"
            )
        else:
            status, recoverable, certainty = "freezable", h.tainted, "unchecked"
            summary = (
                "held at the end of the data; blacklist status not checked "
                "(run `tracer freeze` with --rpc-url, --events or --tagpack)"
            )
        if notes:
            summary += "; " + "; ".join(notes)
        checks.append(
            FreezeCheck(
                h.flag_id,
                h.chain,
                h.address,
                h.token,
                h.symbol,
                h.issuer,
                h.tainted,
                h.decimals,
                status,
                certainty,
                recoverable,
                summary,
                [asdict(a) for a in answers],
            )
        )
    return checks


def write_freeze(path: Path, checks: Sequence[FreezeCheck], providers: Sequence, now=None) -> Path:
    """``freeze.json``: when the check ran (UTC), with which providers, and every check."""
    now = now or datetime.now(timezone.utc)
    doc = {
        "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "providers": [{"name": p.name, "strength": p.strength} for p in providers],
        "checks": [c.to_dict() for c in checks],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)
    return path


def load_freeze(path: Path) -> dict[str, FreezeCheck]:
    """flag id -> check from a ``freeze.json`` (empty when there is none)."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {c["flag_id"]: FreezeCheck.from_dict(c) for c in doc.get("checks", [])}
    except (ValueError, KeyError, TypeError):
        return {}


# ----------------------------------------------------------------------------- ranking

#: What each flag kind lets a recovery team do.
ACTIONS = {
    "exchange_deposit": "ask the exchange to freeze the customer account behind this deposit address",
    "exchange": "ask the exchange to freeze the credited account (direct deposit to its wallet)",
    "freezable_balance": "ask the issuer to blacklist the address (freezes the balance)",
    "bridge": "continue the trace on the destination chain; ask the bridge operator",
    "mixer": "funds entered a mixer: watch its withdrawals",
    "high_degree": "identify the service behind this busy address, then ask it",
    "issuer": "funds reached the issuer's contract",
    "frozen_balance": "already frozen by the issuer: a dead end worth reporting",
}
_RECOVERABLE_KINDS = ("exchange_deposit", "exchange", "freezable_balance")
_CLOSED_REVIEWS = ("dismissed", "frozen")


def _stolen_totals(data: TraceData) -> dict[str, int]:
    """Asset -> tainted amount that entered the graph: seeds' outflows and holdings, swaps in."""
    G = data.graph
    seeds = {n for n, d in G.nodes(data=True) if d.get("role") == "seed"}
    totals: dict[str, int] = defaultdict(int)
    for u, _v, d in G.edges(data=True):
        if u in seeds or d.get("swap") == "in":
            totals[str(d.get("asset"))] += _int(d.get("tainted"))
    for n in seeds:
        for asset, held in (G.nodes[n].get("tainted_held") or {}).items():
            totals[str(asset)] += _int(held)
    return dict(totals)


def rank_flags(
    data: TraceData,
    freeze: dict[str, FreezeCheck] | None = None,
    reviews: dict[str, str] | None = None,
    prices: dict[str, Decimal] | None = None,
) -> list[dict]:
    """Every flag with what can still be recovered and its evidence, best lead first.

    ``freeze``: flag id -> :class:`FreezeCheck` (from :func:`check_freeze` / ``freeze.json``);
    ``reviews``: flag id -> review status (:mod:`tracer.review`); ``prices``: asset -> price of
    one token unit, to order by value instead of by share of the stolen amount (it is used only
    when every recoverable flag's asset has a price).
    """
    freeze = freeze or {}
    reviews = reviews or {}
    totals = _stolen_totals(data)
    ranked = []
    for f in data.flags:
        decimals = _decimals(data, f["chain"], f["asset"])
        review = reviews.get(f["flag_id"], "open")
        check = freeze.get(f["flag_id"])
        recoverable = f["tainted"] if f["kind"] in _RECOVERABLE_KINDS else 0
        state = "act" if recoverable else "investigate"
        if f["kind"] == "frozen_balance":  # Tron: the issuer blacklisted it already
            state = "closed"
        reason = ACTIONS.get(f["kind"], "")
        if check is not None:
            recoverable = min(recoverable, check.recoverable)
            if check.status != "freezable":
                state, reason = "closed", check.summary
        if review in _CLOSED_REVIEWS:
            state, recoverable = "closed", 0
            reason = f"review: {review}"
        hops, note = evidence_path(data, f)
        sweeps = onward(data, f)
        total = totals.get(f["asset"], 0)
        share = recoverable / total if total else 0.0
        tainted_share = f["tainted"] / total if total else 0.0
        value = None
        if prices and f["asset"] in prices and decimals is not None:
            value = Decimal(recoverable) / (Decimal(10) ** decimals) * Decimal(prices[f["asset"]])
        ranked.append(
            {
                **{k: v for k, v in f.items() if k not in ("path",)},
                "path": list(f["path"]),
                "tainted": str(f["tainted"]),
                "decimals": decimals,
                "recoverable": str(recoverable),
                "recoverable_display": format_units(recoverable, decimals)
                if decimals is not None
                else str(recoverable),
                "share": round(share, 6),
                "tainted_share": round(tainted_share, 6),
                "value": str(value.quantize(Decimal("0.01"))) if value is not None else "",
                "state": state,
                "action": reason,
                "review": review,
                "freeze": check.to_dict() if check is not None else None,
                "address_url": explorer_url(f["chain"], "address", f["address"]),
                "evidence_path": hops,
                "path_note": note,
                "onward": sweeps,
                "labels": label_sources(data, f, sweeps),
            }
        )
    order = {"act": 0, "investigate": 1, "closed": 2}
    priced = bool(prices) and all(r["value"] for r in ranked if r["state"] == "act")

    def key(r):
        if r["state"] == "act":
            size = Decimal(r["value"]) if priced else Decimal(str(r["share"]))
        else:
            size = Decimal(str(r["tainted_share"]))
        return (order[r["state"]], -size, -r["first_ts"], r["flag_id"])

    ranked.sort(key=key)
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    return ranked


# ----------------------------------------------------------------------------- command line


@click.command("freeze")
@click.argument("trace_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--rpc-url", help="JSON-RPC node: isBlackListed/isBlacklisted and balanceOf now.")
@click.option("--block", help="With --rpc-url: block number to check at (default: latest).")
@click.option(
    "--events",
    "events",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV of blacklist events (token,address,event,tx_hash,block_number); repeatable.",
)
@click.option(
    "--tagpack",
    "tagpacks",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="GraphSense TagPack with black_list tags (weak signal); repeatable.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    help="Bulk export directory whose logs table to read (default: the trace's --data).",
)
@click.option("--no-data", is_flag=True, help="Do not read the logs table of the trace's data.")
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Case workspace to write freeze.json into (default: TRACE_DIR).",
)
def freeze_command(trace_dir, rpc_url, block, events, tagpacks, data, no_data, workspace) -> None:
    """Check the issuer blacklist status of every tainted USDT/USDC balance a trace found.

    Writes freeze.json (status per freezable_balance flag: freezable, frozen or moved, with the
    evidence of each source) into the workspace; `tracer packets` and `tracer report` use it."""
    from tracer.labels import display_text
    from tracer.review import workspace_dir

    trace = load_trace(trace_dir)
    items = holdings(trace)
    providers: list = []
    if rpc_url:
        providers.append(RpcProvider(rpc_url, block=block or "latest"))
    data_dir = data or (None if no_data else trace.manifest.get("inputs", {}).get("data"))
    if data_dir and Path(data_dir).is_dir():
        logs = EventsProvider.from_logs(
            data_dir, trace.chain or "ethereum", [h.token for h in items]
        )
        if logs is not None:
            providers.append(logs)
        elif data:
            click.echo(f"note: no logs table in {data_dir}", err=True)
    for path in events:
        providers.append(EventsProvider.from_csv(path, trace.chain or "ethereum"))
    if tagpacks:
        providers.append(TagPackProvider(tagpacks))
    checks = check_freeze(items, providers)
    folder = workspace_dir(trace_dir, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    out = write_freeze(folder / FREEZE_FILE, checks, providers)
    if not providers:
        click.echo(
            "note: no source to check against (give --rpc-url, --events or --tagpack)", err=True
        )
    for c in checks:
        click.echo(
            f"{c.flag_id} {c.status:<9} {c.certainty:<9} {c.address} "
            f"{format_units(c.recoverable, c.decimals)}/{format_units(c.tainted, c.decimals)} "
            f"{display_text(c.symbol, 12)}: {display_text(c.summary, 300)}"
        )
    click.echo(f"{len(checks)} balance(s) checked with {len(providers)} source(s) -> {out}")
