"""Rows read from one label file, before and after address validation.

Every reader turns its format into a :class:`RawBatch`: one Arrow table with the columns of
:data:`RAW_SCHEMA` (one row per address claim, with the 1-based line it was read from) plus the
warnings about rows it could not even read. :func:`finish` then validates every address at once
(:func:`tracer.importers._normalize.normalize_column`), reports each bad row as
``"path:line: reason, skipped"``, drops exact duplicates within the file and sorts the rows by
lookup key, ready for the label store or for :class:`tracer.labels.Label` objects.

Strings from third-party files are kept as data (never evaluated); overlong fields are cut to
:data:`MAX_FIELD` characters with one warning per file, so one hostile row cannot bloat a store.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracer.importers._normalize import normalize_column

__all__ = [
    "MAX_FIELD",
    "MAX_ROW_WARNINGS",
    "RAW_SCHEMA",
    "STORE_SCHEMA",
    "Batch",
    "RawBatch",
    "RowBuilder",
    "finish",
    "line_finder",
]

#: Columns every reader produces. ``concepts`` is ``;``-joined; ``line`` may be null.
RAW_SCHEMA = pa.schema(
    [
        ("chain", pa.string()),
        ("address", pa.string()),
        ("line", pa.int64()),
        ("label", pa.string()),
        ("category", pa.string()),
        ("entity", pa.string()),
        ("role", pa.string()),
        ("source", pa.string()),
        ("confidence", pa.uint8()),
        ("lastmod", pa.string()),
        ("concepts", pa.string()),
    ]
)

#: Columns after :func:`finish`: the canonical address and its 64-bit lookup key first.
STORE_SCHEMA = pa.schema([("k", pa.uint64())] + list(RAW_SCHEMA))

MAX_FIELD = {"label": 500, "entity": 200, "category": 100, "source": 2000, "concepts": 500}
#: Per file, at most this many bad-row messages are kept (a count of the rest follows).
MAX_ROW_WARNINGS = 10_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def clean_text(value: object) -> str | None:
    """A one-line text with control/format characters removed, or None when empty."""
    if value is None:
        return None
    text = _CONTROL.sub(" ", str(value)).strip()
    return " ".join(text.split()) or None


@dataclass
class RawBatch:
    """What a reader returns for one file."""

    path: str
    format: str
    table: pa.Table
    warnings: list[str] = field(default_factory=list)
    dropped: int = 0  # rows the reader could not use (reported in warnings)


@dataclass
class Batch:
    """Validated rows of one file (:data:`STORE_SCHEMA`), sorted by key, with all warnings."""

    path: str
    format: str
    table: pa.Table
    warnings: list[str]
    read: int  # rows in the file
    skipped: int  # rows not imported (bad address, duplicate, unreadable), each reported


class RowBuilder:
    """Column lists for :data:`RAW_SCHEMA`, filled row by row by the small-file readers."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {name: [] for name in RAW_SCHEMA.names}

    def add(
        self,
        chain: str | None,
        address: str | None,
        line: int | None,
        label: str,
        category: str,
        role: str,
        source: str,
        confidence: int,
        entity: str | None = None,
        lastmod: str | None = None,
        concepts: Iterable[str] = (),
    ) -> None:
        c = self.cols
        c["chain"].append(chain)
        c["address"].append(address)
        c["line"].append(line)
        c["label"].append(label)
        c["category"].append(category)
        c["entity"].append(entity)
        c["role"].append(role)
        c["source"].append(source)
        c["confidence"].append(confidence)
        c["lastmod"].append(lastmod)
        c["concepts"].append(";".join(dict.fromkeys(x for x in concepts if x)) or None)

    def __len__(self) -> int:
        return len(self.cols["chain"])

    def table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [pa.array(self.cols[f.name], type=f.type) for f in RAW_SCHEMA], schema=RAW_SCHEMA
        )


def line_finder(text: str):
    """``(needle, start) -> (line, next start)``: 1-based line of the next occurrence in text."""
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)

    def find(needle: str, start: int) -> tuple[int | None, int]:
        at = text.find(needle, start)
        if at == -1:
            return None, start
        return bisect.bisect_right(starts, at), at + len(needle)

    return find


def _truncate(table: pa.Table, where: str, warnings: list[str]) -> pa.Table:
    cut = []
    for name, limit in MAX_FIELD.items():
        col = table.column(name)
        lengths = pc.utf8_length(col)
        too_long = pc.greater(lengths, limit)
        if pc.any(too_long).as_py():
            cut.append(name)
            idx = table.schema.get_field_index(name)
            table = table.set_column(
                idx,
                name,
                pc.if_else(too_long, pc.utf8_slice_codeunits(col, 0, limit), col),
            )
    if cut:
        warnings.append(
            f"{where}: overlong {', '.join(cut)} cut to "
            + ", ".join(f"{MAX_FIELD[n]}" for n in cut)
            + " characters"
        )
    return table


def _line_text(line) -> str:
    return str(line) if line is not None else "?"


_SMALL = 512  # below this many rows a plain Python pass is faster than Arrow compute calls


def _finish_small(raw: RawBatch) -> Batch:
    """:func:`finish` for small files, row by row (same results)."""
    from tracer.addresses import InvalidAddress, chain_kind
    from tracer.chains import UnknownChain
    from tracer.importers._normalize import address_key, fast_normalize

    where = raw.path
    warnings = list(raw.warnings)
    cols = {name: raw.table.column(name).to_pylist() for name in RAW_SCHEMA.names}
    read = raw.table.num_rows
    cut: set[str] = set()
    kinds: dict[str, str | None] = {}
    rows = []
    bad = 0
    seen: set[tuple] = set()
    dups, first_dup = 0, None
    for i in range(read):
        chain = (cols["chain"][i] or "").lower()
        text = cols["address"][i]
        line = cols["line"][i]
        if chain not in kinds:
            try:
                kinds[chain] = chain_kind(chain) if chain else None
            except UnknownChain:
                kinds[chain] = None
        kind = kinds[chain]
        reason = None
        if kind is None:
            reason = f"unknown chain {chain!r}" if chain else "missing chain"
        elif text is None or not text.strip():
            reason = f"{chain} address is empty"
        else:
            try:
                canonical = fast_normalize(chain, kind, text.strip())
            except InvalidAddress as e:
                reason = str(e)
        if reason is not None:
            bad += 1
            if bad <= MAX_ROW_WARNINGS:
                warnings.append(f"{where}:{_line_text(line)}: invalid address: {reason}, skipped")
            continue
        values = {}
        for name in ("label", "category", "entity", "source", "concepts"):
            v = cols[name][i]
            limit = MAX_FIELD[name]
            if v is not None and len(v) > limit:
                v = v[:limit]
                cut.add(name)
            values[name] = v
        ident = (chain, canonical, values["label"], values["category"], values["source"])
        if ident in seen:
            dups += 1
            first_dup = first_dup if first_dup is not None else line
            continue
        seen.add(ident)
        rows.append(
            (
                address_key(chain, canonical, kind),
                line if line is not None else float("inf"),
                chain,
                canonical,
                line,
                values,
                i,
            )
        )
    if bad > MAX_ROW_WARNINGS:
        warnings.append(
            f"{where}: {bad - MAX_ROW_WARNINGS} more invalid addresses skipped (not listed)"
        )
    if cut:
        names = sorted(cut, key=list(MAX_FIELD).index)
        warnings.append(
            f"{where}: overlong {', '.join(names)} cut to "
            + ", ".join(f"{MAX_FIELD[n]}" for n in names)
            + " characters"
        )
    if dups:
        warnings.append(
            f"{where}:{_line_text(first_dup)}: {dups} duplicate row(s) "
            "(same chain, address, label, category and source) skipped"
        )
    rows.sort(key=lambda r: (r[0], r[6]))
    out = {
        "k": [r[0] for r in rows],
        "chain": [r[2] for r in rows],
        "address": [r[3] for r in rows],
        "line": [r[4] for r in rows],
        "label": [r[5]["label"] for r in rows],
        "category": [r[5]["category"] for r in rows],
        "entity": [r[5]["entity"] for r in rows],
        "role": [cols["role"][r[6]] for r in rows],
        "source": [r[5]["source"] for r in rows],
        "confidence": [cols["confidence"][r[6]] for r in rows],
        "lastmod": [cols["lastmod"][r[6]] for r in rows],
        "concepts": [r[5]["concepts"] for r in rows],
    }
    table = pa.Table.from_arrays(
        [pa.array(out[f.name], type=f.type) for f in STORE_SCHEMA], schema=STORE_SCHEMA
    )
    return Batch(
        where, raw.format, table, warnings, read + raw.dropped, read - table.num_rows + raw.dropped
    )


def finish(raw: RawBatch) -> Batch:
    """Validate addresses, drop bad rows and in-file duplicates, sort by key (see module doc)."""
    where = raw.path
    table = raw.table
    warnings = list(raw.warnings)
    read = table.num_rows
    if read == 0:
        return Batch(
            where, raw.format, STORE_SCHEMA.empty_table(), warnings, raw.dropped, raw.dropped
        )
    if read < _SMALL:
        return _finish_small(raw)
    table = _truncate(table, where, warnings)
    chains = pc.utf8_lower(pc.fill_null(table.column("chain"), "")).combine_chunks()
    canonical, keys, errors = normalize_column(chains, table.column("address").combine_chunks())
    lines = table.column("line").to_pylist() if errors else None
    if errors:
        bad = sorted(errors)
        for i in bad[:MAX_ROW_WARNINGS]:
            warnings.append(
                f"{where}:{_line_text(lines[i])}: invalid address: {errors[i]}, skipped"
            )
        if len(bad) > MAX_ROW_WARNINGS:
            warnings.append(
                f"{where}: {len(bad) - MAX_ROW_WARNINGS} more invalid addresses skipped "
                "(not listed)"
            )
    table = table.set_column(0, "chain", chains)
    table = table.set_column(1, "address", canonical)
    table = table.add_column(0, "k", pa.array(keys, type=pa.uint64()))
    keep = np.ones(read, dtype=bool)
    if errors:
        keep[np.fromiter(errors, dtype=np.int64, count=len(errors))] = False

    # sort by key (file order within a key), then drop rows repeating (chain, address, label,
    # category, source): only rows sharing a key can be duplicates, so only those are compared
    order = np.argsort(keys, kind="stable")
    order = order[keep[order]]
    n_dup = 0
    if len(order) > 1:
        s_keys = keys[order]
        same_key = np.flatnonzero(s_keys[1:] == s_keys[:-1])
        if len(same_key):
            cand = np.unique(np.concatenate([same_key, same_key + 1]))
            rows = order[cand]
            sub = table.select(["chain", "address", "label", "category", "source", "line"]).take(
                pa.array(rows)
            )
            cols = [sub.column(c).to_pylist() for c in sub.column_names]
            seen: dict[tuple, int] = {}
            drop = []
            first_line = None
            for j, row in enumerate(zip(*cols, strict=True)):
                ident = row[:5]
                if ident in seen:
                    drop.append(cand[j])
                    if first_line is None:
                        first_line = row[5]
                else:
                    seen[ident] = j
            if drop:
                n_dup = len(drop)
                mask = np.ones(len(order), dtype=bool)
                mask[np.array(drop)] = False
                order = order[mask]
                warnings.append(
                    f"{where}:{_line_text(first_line)}: {n_dup} duplicate row(s) "
                    "(same chain, address, label, category and source) skipped"
                )
    table = table.take(pa.array(order))
    return Batch(
        where, raw.format, table, warnings, read + raw.dropped, read - table.num_rows + raw.dropped
    )


def iter_batches(raws: Iterable[RawBatch]) -> Iterator[Batch]:
    for raw in raws:
        yield finish(raw)
