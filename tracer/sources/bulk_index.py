"""The on-disk index of :class:`~tracer.sources.bulk.BulkSource`: a CSR adjacency file.

DuckDB reads the exports, normalizes, de-duplicates and sorts the transfers once
(:func:`write_index`); a lookup is then numpy and ``os.pread``, no SQL. One file, written to a
temporary name and moved into place:

``addr``     the address dictionary, sorted: ``S20`` (the 20 bytes) when every address is
             ``0x`` + 40 lower-case hex digits, else the UTF-8 text (``S<width>``). An address's
             id is its position. ``key`` (bytes mode) holds the first 8 bytes of each address as
             an integer: a frontier is found with ``np.searchsorted`` on it and confirmed on the
             20 bytes (addresses sharing their first 8 bytes, such as 0x0000..0000 and
             0x0000..dead, fall back to a search on the 20 bytes).
``offs``     ``(addresses + 1, 2)`` uint64: where each address's rows start in ``out`` and ``in``
             (CSR offsets); the degree of an address is a difference of two rows, no query.
``out``      one fixed-width record per transfer (:func:`record_dtype`), sorted by (sender id,
             chain rank): an address's outgoing rows are one contiguous byte range.
``in``       the same records sorted by (receiver id, chain rank), without self-transfers and
             without receivers computed from a creation nonce (the scanning path does not find
             those by receiver either).
``assets``   asset table (token address or ``native``) and ``asset_dec`` (its ``tokens``
             decimals, -1 when unknown); ``traces`` the distinct trace paths (id 0 = none).
``ovf_*``    amounts that are not a plain decimal below 2^128 (or NULL), by chain rank, as their
             text: parsed exactly (or refused) when a row is returned, as the scanning path does.

A record (106 bytes with a binary hash) holds the chain rank (position in chain order, so the rows
of several addresses are merged, de-duplicated and ordered with ``np.unique``), block, time
(``TS_NULL`` when unknown), transaction index, log index (``LOG_NULL`` = none), the amount as two
uint64 (hi, lo), sender and receiver ids, asset and trace ids, kind, flags (success, amount in
``ovf``, receiver computed) and the transaction hash (32 bytes, or its text when some hash is not
``0x`` + 64 hex digits). The rows of a frontier are read with one ``pread`` per address and side
(adjacent ranges merged), so a trace process holds only the rows it asked for (``addr``, ``key``
and ``offs`` are memory-mapped); Transfer objects are built column by column for those rows only.

The table of contents is a JSON trailer at the end of the file (its length and ``MAGIC`` last).
"""

from __future__ import annotations

import gc
import json
import mmap
import os
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np

from tracer.allocation import (
    IN,
    OUT,
    SELF,
    SHARE_POLICIES,
    LedgerResult,
    Segment,
    Taint,
    has_swap,
    replay_shares,
    run_ledgers,
)
from tracer.records import Transfer

MAGIC = b"TRACERIX"
FORMAT = 2
TS_NULL = np.iinfo(np.int64).min
LOG_NULL = np.iinfo(np.int64).min
F_SUCCESS = 1
F_OVERFLOW = 2
F_COMPUTED = 4  # the receiver was computed from a creation nonce: not indexed as a receiver
_ALIGN = 4096
_MAX_READ = 1 << 30
# rows are read with pread, not through the mapping: the pages stay in the OS cache without
# counting towards the process's resident memory
_PREAD = getattr(os, "pread", None)
_KIND_NAMES = np.array(["native", "token", "internal", "utxo"], dtype=object)
_MISSING = object()
_HEX_ADDRESS = r"0x[0-9a-f]{40}"
_HEX_HASH = r"0x[0-9a-f]{64}"


class IndexFormatError(Exception):
    """The file is not an index this code can read."""


def record_dtype(hash_width: int | None) -> np.dtype:
    """The fixed-width row: ``hash_width`` None = 32-byte binary hash, else its text width."""
    return np.dtype(
        [
            ("rank", "<u8"),
            ("block", "<i8"),
            ("ts", "<i8"),
            ("txi", "<i8"),
            ("logi", "<i8"),
            ("hi", "<u8"),
            ("lo", "<u8"),
            ("frm", "<u4"),
            ("to", "<u4"),
            ("asset", "<u4"),
            ("trace", "<u4"),
            ("kind", "u1"),
            ("flags", "u1"),
            ("h", (">u8", (4,)) if hash_width is None else f"S{max(1, hash_width)}"),
        ]
    )


# --------------------------------------------------------------------------- writing


class _FileWriter:
    """Sections appended at aligned offsets, a JSON table of contents at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "wb")
        self.sections: dict[str, dict] = {}

    def _align(self) -> int:
        pos = self.handle.tell()
        pad = -pos % _ALIGN
        if pad:
            self.handle.write(b"\0" * pad)
        return pos + pad

    def array(self, name: str, array: np.ndarray) -> None:
        offset = self._align()
        array = np.ascontiguousarray(array)
        self.handle.write(array.tobytes())
        self.sections[name] = {
            "offset": offset,
            "dtype": np.lib.format.dtype_to_descr(array.dtype),
            "shape": list(array.shape),
        }

    def stream(self, name: str, dtype: np.dtype, chunks: Iterable[np.ndarray]) -> int:
        offset = self._align()
        rows = 0
        for chunk in chunks:
            self.handle.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())
            rows += len(chunk)
        self.sections[name] = {
            "offset": offset,
            "dtype": np.lib.format.dtype_to_descr(dtype),
            "shape": [rows],
        }
        return rows

    def finish(self, meta: dict) -> None:
        trailer = json.dumps({"format": FORMAT, "meta": meta, "sections": self.sections}).encode()
        self.handle.write(trailer)
        self.handle.write(len(trailer).to_bytes(8, "little") + MAGIC)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def abort(self) -> None:
        self.handle.close()


def _strings(values: list, width: int | None = None) -> np.ndarray:
    encoded = [("" if v is None else v).encode() for v in values]
    width = width or max((len(v) for v in encoded), default=1)
    return np.array(encoded, dtype=f"S{max(1, width)}")


def _col(batch, name: str) -> np.ndarray:
    return batch.column(name).to_numpy(zero_copy_only=False)


def write_index(
    con,
    rows_sql: str,
    path: Path,
    meta: dict,
    create_address: Callable[[str, int], str],
    batch_rows: int = 1 << 20,
) -> int:
    """Build the index file at ``path`` from ``rows_sql`` (the normalized transfers, as
    :meth:`BulkSource._normalized_sql` writes them) on the DuckDB connection ``con``.
    Returns the number of transfers. Raises duckdb errors and OSError to the caller."""
    try:
        return _write(con, rows_sql, path, meta, create_address, batch_rows)
    finally:
        for table in ("_ix_create", "_ix_r", "_ix_a", "_ix_assets", "_ix_traces", "_ix_rows"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _register(con, name: str, columns: dict) -> None:
    import pyarrow as pa

    con.register(f"{name}_arrow", pa.table(columns))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _write(con, rows_sql: str, path: Path, meta: dict, create_address, batch_rows: int) -> int:
    import pyarrow as pa

    # contract creations without a known receiver: keccak(rlp([sender, nonce])), once per pair
    pairs = con.execute(
        f"SELECT DISTINCT from_address, trace_address FROM ({rows_sql}) "
        "WHERE to_address IS NULL AND kind = 0 AND trace_address IS NOT NULL"
    ).fetchall()
    created = []
    for sender, nonce in pairs:
        try:
            created.append((sender, nonce, create_address(sender, int(nonce))))
        except (TypeError, ValueError, OverflowError):
            continue  # not an address or not a nonce: destination unknown, dropped
    _register(
        con,
        "_ix_create",
        {
            "f": pa.array([c[0] for c in created], pa.string()),
            "n": pa.array([c[1] for c in created], pa.string()),
            "a": pa.array([c[2] for c in created], pa.string()),
        },
    )

    trace_key = (
        r"CASE WHEN trace_address IS NOT NULL THEN regexp_replace(regexp_replace(trace_address, "
        r"'(\d+)', '00000\1', 'g'), '0*(\d{6})', '\1', 'g') END"
    )
    order = (
        f"block_number, coalesce(tx_index, 0), kind, coalesce(log_index, 0), "
        f"{trace_key} NULLS FIRST, tx_hash, from_address, to_address, amount"
    )
    # receivers resolved, rows without one dropped, amounts that fit 128 bits cast, sorted in
    # chain order: the row id is the chain rank (insertion order is kept)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ix_r AS
        SELECT kind, asset, from_address, to_address, computed,
               CASE WHEN regexp_full_match(amount, '[0-9]{{1,38}}')
                    THEN TRY_CAST(amount AS UHUGEINT) END AS amt,
               amount, decimals, tx_hash, log_index, block_number, ts, tx_index, success,
               trace_address, regexp_full_match(tx_hash, '{_HEX_HASH}') AS hex_hash
        FROM (
            SELECT n.kind, n.asset, n.from_address, coalesce(n.to_address, c.a) AS to_address,
                   n.to_address IS NULL AS computed, n.amount, n.decimals, n.tx_hash,
                   n.log_index, n.block_number, n.ts, n.tx_index, n.success,
                   CASE WHEN n.kind <> 0 THEN n.trace_address END AS trace_address
            FROM ({rows_sql}) n LEFT JOIN _ix_create c
              ON n.to_address IS NULL AND n.kind = 0 AND c.f = n.from_address
             AND c.n = n.trace_address
            WHERE coalesce(n.to_address, c.a) IS NOT NULL
        )
        ORDER BY {order}"""
    )
    # rows exported twice: the first in chain order stays, as the scanning path keeps it
    identity = "kind, tx_hash, log_index, trace_address"
    twice = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM _ix_r GROUP BY {identity} HAVING count(*) > 1)"
    ).fetchall()[0][0]
    if twice:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _ix_r AS
            SELECT * EXCLUDE (rid) FROM (SELECT *, rowid AS rid FROM _ix_r)
            QUALIFY rid = min(rid) OVER (PARTITION BY {identity}) ORDER BY rid"""
        )
    rows, hex_hashes, hash_width = con.execute(
        "SELECT count(*), coalesce(bool_and(hex_hash), true), "
        "coalesce(max(octet_length(encode(tx_hash))), 1) FROM _ix_r"
    ).fetchall()[0]

    # dictionaries: addresses (sorted: id = position), assets, trace paths
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ix_a AS
        SELECT a FROM (SELECT from_address AS a FROM _ix_r UNION SELECT to_address FROM _ix_r)
        ORDER BY a"""
    )
    hex_addresses, n_addr = con.execute(
        f"SELECT coalesce(bool_and(regexp_full_match(a, '{_HEX_ADDRESS}')), true), count(*) "
        "FROM _ix_a"
    ).fetchall()[0]
    if hex_addresses:
        parts = con.execute(
            "SELECT TRY_CAST('0x' || substr(a, 3, 16) AS UBIGINT) AS p0, "
            "TRY_CAST('0x' || substr(a, 19, 16) AS UBIGINT) AS p1, "
            "TRY_CAST('0x' || substr(a, 35, 8) AS UINTEGER) AS p2 FROM _ix_a ORDER BY rowid"
        ).fetchnumpy()
        addr = np.empty(n_addr, dtype=[("p0", ">u8"), ("p1", ">u8"), ("p2", ">u4")])
        for name in ("p0", "p1", "p2"):
            addr[name] = np.asarray(parts[name])
        key = np.asarray(parts["p0"], dtype="<u8")
        addr = addr.view("S20")
    else:
        texts = [r[0] for r in con.execute("SELECT a FROM _ix_a ORDER BY rowid").fetchall()]
        addr = _strings(texts)
        key = np.zeros(0, dtype="<u8")
    if n_addr > 1 and not bool(np.all(addr[:-1] < addr[1:])):
        raise IndexFormatError("addresses do not sort byte-wise (NUL characters?)")

    assets = con.execute(
        "SELECT asset, max(decimals) FILTER (WHERE kind = 1) FROM _ix_r GROUP BY asset "
        "ORDER BY asset NULLS FIRST"
    ).fetchall()
    asset_null = next((i for i, (a, _) in enumerate(assets) if a is None), -1)
    asset_dec = np.array([-1 if d is None else int(d) for _, d in assets], dtype="<i2")
    traces = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT trace_address FROM _ix_r WHERE trace_address IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    dtype = record_dtype(None if hex_hashes else hash_width)
    overflow = con.execute(
        "SELECT rowid, amount FROM _ix_r WHERE amt IS NULL ORDER BY rowid"
    ).fetchall()

    # the records, every string replaced by its id
    _register(
        con,
        "_ix_assets",
        {
            "asset": pa.array([a for a, _ in assets], pa.string()),
            "id": pa.array(range(len(assets)), pa.uint32()),
        },
    )
    _register(
        con,
        "_ix_traces",
        {
            "trace": pa.array(traces, pa.string()),
            "id": pa.array(range(1, len(traces) + 1), pa.uint32()),
        },
    )
    hash_cols = (
        ", ".join(
            f"TRY_CAST('0x' || substr(r.tx_hash, {3 + 16 * i}, 16) AS UBIGINT) AS h{i}"
            for i in range(4)
        )
        if hex_hashes
        else "r.tx_hash AS h"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ix_rows AS
        SELECT r.rowid::UBIGINT AS rank, r.block_number AS block,
               coalesce(r.ts, {TS_NULL}) AS ts, coalesce(r.tx_index, 0) AS txi,
               coalesce(r.log_index, {LOG_NULL}) AS logi,
               coalesce((r.amt >> 64)::UBIGINT, 0) AS hi,
               coalesce((r.amt & 18446744073709551615::UHUGEINT)::UBIGINT, 0) AS lo,
               f.rowid::UINTEGER AS frm, t.rowid::UINTEGER AS "to", a.id AS asset_id,
               coalesce(x.id, 0) AS trace_id, r.kind::UTINYINT AS kind,
               ((CASE WHEN r.success THEN {F_SUCCESS} ELSE 0 END)
                + (CASE WHEN r.amt IS NULL THEN {F_OVERFLOW} ELSE 0 END)
                + (CASE WHEN r.computed THEN {F_COMPUTED} ELSE 0 END))::UTINYINT AS flags,
               {hash_cols}
        FROM _ix_r r JOIN _ix_a f ON f.a = r.from_address JOIN _ix_a t ON t.a = r.to_address
        JOIN _ix_assets a ON a.asset IS NOT DISTINCT FROM r.asset
        LEFT JOIN _ix_traces x ON x.trace = r.trace_address"""
    )
    for table in ("_ix_r", "_ix_a", "_ix_assets", "_ix_traces", "_ix_create"):
        con.execute(f"DROP TABLE {table}")

    writer = _FileWriter(path)
    try:
        writer.array("addr", addr)
        writer.array("key", key)
        out_counts = np.zeros(n_addr, dtype=np.int64)
        in_counts = np.zeros(n_addr, dtype=np.int64)

        def records(where: str, key: str, counts: np.ndarray):
            reader = con.sql(
                f'SELECT * FROM _ix_rows {where} ORDER BY "{key}", rank'
            ).to_arrow_reader(batch_rows)
            try:
                for batch in reader:
                    chunk = np.zeros(batch.num_rows, dtype=dtype)
                    for name in (
                        "rank",
                        "block",
                        "ts",
                        "txi",
                        "logi",
                        "hi",
                        "lo",
                        "frm",
                        "to",
                        "kind",
                        "flags",
                    ):
                        chunk[name] = _col(batch, name)
                    chunk["asset"] = _col(batch, "asset_id")
                    chunk["trace"] = _col(batch, "trace_id")
                    if hex_hashes:
                        chunk["h"] = np.column_stack([_col(batch, f"h{i}") for i in range(4)])
                    else:
                        chunk["h"] = _strings(batch.column("h").to_pylist(), hash_width)
                    counts += np.bincount(chunk[key], minlength=n_addr)
                    yield chunk
            finally:
                reader.close()

        writer.stream("out", dtype, records("", "frm", out_counts))
        writer.stream(
            "in", dtype, records(f'WHERE flags & {F_COMPUTED} = 0 AND frm <> "to"', "to", in_counts)
        )
        offs = np.zeros((n_addr + 1, 2), dtype="<u8")
        offs[1:, 0] = np.cumsum(out_counts)
        offs[1:, 1] = np.cumsum(in_counts)
        writer.array("offs", offs)
        writer.array("assets", _strings([a for a, _ in assets]))
        writer.array("asset_dec", asset_dec)
        writer.array("traces", _strings(traces))
        writer.array("ovf_rank", np.array([r for r, _ in overflow], dtype="<u8"))
        writer.array("ovf_text", _strings([t for _, t in overflow]))
        writer.array("ovf_null", np.array([t is None for _, t in overflow], dtype="u1"))
        writer.finish(
            {
                **meta,
                "rows": int(rows),
                "addresses": int(n_addr),
                "address_mode": "bytes20" if hex_addresses else "text",
                "hash_mode": "bytes32" if hex_hashes else "text",
                "asset_null": asset_null,
            }
        )
    except BaseException:
        writer.abort()
        raise
    return int(rows)


# --------------------------------------------------------------------------- reading


def read_trailer(handle) -> dict:
    """The table of contents of an open index file (raises IndexFormatError)."""
    size = os.fstat(handle.fileno()).st_size
    if size < 16:
        raise IndexFormatError("too short")
    handle.seek(size - 16)
    tail = handle.read(16)
    if tail[8:] != MAGIC:
        raise IndexFormatError("not a tracer index")
    length = int.from_bytes(tail[:8], "little")
    if length > size - 16:
        raise IndexFormatError("broken trailer")
    try:
        handle.seek(size - 16 - length)
        toc = json.loads(handle.read(length))
    except ValueError:
        raise IndexFormatError("broken trailer") from None
    if not isinstance(toc, dict) or toc.get("format") != FORMAT:
        raise IndexFormatError(f"format {toc.get('format') if isinstance(toc, dict) else '?'}")
    return toc


class BulkIndex:
    """A read-only open index file. Thread-safe for reads (``pread``; arrays are immutable)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle = open(self.path, "rb")
        try:
            toc = read_trailer(self._handle)
            self.meta: dict = toc["meta"]
            self._sections: dict = toc["sections"]
            self._fd = self._handle.fileno()
            self._mm = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            self.addr = self._array("addr")
            self.key = self._array("key")
            self.offs = self._array("offs")
            self.assets = self._array("assets")
            self.asset_dec = self._array("asset_dec")
            self.traces = self._array("traces")
            self.ovf_rank = self._array("ovf_rank")
            self.ovf_text = self._array("ovf_text")
            self.ovf_null = self._array("ovf_null")
            self.dtype = np.lib.format.descr_to_dtype(_tuples(self._sections["out"]["dtype"]))
        except (KeyError, TypeError, ValueError) as error:
            self.close()
            raise IndexFormatError(f"broken table of contents: {error}") from None
        except BaseException:
            self.close()
            raise
        self._binary = self.meta.get("address_mode") == "bytes20"
        self._hash_bytes = self.meta.get("hash_mode") == "bytes32"
        self._asset_table = self._trace_table = None  # object arrays of small tables

    def _array(self, name: str) -> np.ndarray:
        section = self._sections[name]
        dtype = np.lib.format.descr_to_dtype(_tuples(section["dtype"]))
        shape = tuple(section["shape"])
        count = int(np.prod(shape)) if shape else 1
        end = section["offset"] + count * dtype.itemsize
        if end > len(self._mm):
            raise IndexFormatError(f"section {name} runs past the end of the file")
        flat = np.frombuffer(self._mm, dtype=dtype, count=count, offset=section["offset"])
        return flat.reshape(shape)

    def close(self) -> None:
        for name in (
            "addr",
            "key",
            "offs",
            "assets",
            "asset_dec",
            "traces",
            "ovf_rank",
            "ovf_text",
            "ovf_null",
        ):
            self.__dict__.pop(name, None)
        mm = self.__dict__.pop("_mm", None)
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # an array view is still referenced somewhere: leave it to GC
                pass
        self._handle.close()

    # ------------------------------------------------------------------ lookups

    def lookup(self, addresses: list[str]) -> tuple[list[str], np.ndarray]:
        """(addresses found, their ids), in the order given."""
        if self._binary:
            names = [a for a in addresses if len(a) == 42 and a[:2] == "0x"]
            try:
                raw = bytes.fromhex("".join([a[2:] for a in names]))
            except ValueError:
                raw = b""
            if len(raw) != 20 * len(names):  # some are not 40 hex digits: one by one
                names = [a for a in names if _is_hex(a[2:])]
                raw = bytes.fromhex("".join([a[2:] for a in names]))
            query = np.frombuffer(raw, dtype="S20")
        else:
            width = self.addr.dtype.itemsize
            pairs = [(a, a.encode()) for a in addresses]
            pairs = [(a, b) for a, b in pairs if 0 < len(b) <= width and b"\0" not in b]
            names = [a for a, _ in pairs]
            query = np.array([b for _, b in pairs], dtype=f"S{width}")
        n = len(self.addr)
        if not names or not n:
            return [], np.zeros(0, dtype=np.int64)
        if self._binary:
            # the first 8 bytes as an integer find the place; the 20 bytes confirm it
            prefix = _prefix(raw, len(names))
            pos = np.searchsorted(self.key, prefix)
            pos_c = np.minimum(pos, n - 1)
            hit = self.addr[pos_c] == query
            shared = ~hit & (self.key[pos_c] == prefix)  # same first 8 bytes, e.g. 0x000000..
            if shared.any():
                pos_c[shared] = np.minimum(np.searchsorted(self.addr, query[shared]), n - 1)
                hit = self.addr[pos_c] == query
        else:
            pos_c = np.minimum(np.searchsorted(self.addr, query), n - 1)
            hit = self.addr[pos_c] == query
        found = [a for a, h in zip(names, hit.tolist(), strict=True) if h]
        return found, pos_c[hit].astype(np.int64)

    def degrees_of(self, ids: np.ndarray) -> np.ndarray:
        """Transfers touching each id (sent + received, a self-transfer once), no window."""
        lo, hi = self.offs[ids], self.offs[ids + 1]
        return (hi - lo).sum(axis=1).astype(np.int64)

    def _read(self, section: str, starts: np.ndarray, stops: np.ndarray) -> list[bytes]:
        base = self._sections[section]["offset"]
        size = self.dtype.itemsize
        keep = stops > starts
        starts, stops = starts[keep], stops[keep]
        if not len(starts):
            return []
        order = np.argsort(starts, kind="stable")
        starts, stops = starts[order], stops[order]
        # adjacent ranges (neighbouring ids) become one read
        cut = np.flatnonzero(starts[1:] != stops[:-1]) + 1
        first = np.concatenate(([0], cut))
        last = np.concatenate((cut, [len(starts)])) - 1
        chunks = []
        fd, mm = self._fd, self._mm
        for a, b in zip(starts[first].tolist(), stops[last].tolist(), strict=True):
            offset, length = base + a * size, (b - a) * size
            if _PREAD is None:  # no pread (Windows): a copy out of the mapping
                chunks.append(mm[offset : offset + length])
                continue
            while length > 0:
                data = _PREAD(fd, min(length, _MAX_READ), offset)
                if not data:
                    raise IndexFormatError("index file truncated")
                chunks.append(data)
                offset += len(data)
                length -= len(data)
        return chunks

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Every record touching any of ``ids``, once, in chain order."""
        if not len(ids):
            return np.zeros(0, dtype=self.dtype)
        lo, hi = self.offs[ids], self.offs[ids + 1]
        chunks = self._read("out", lo[:, 0], hi[:, 0]) + self._read("in", lo[:, 1], hi[:, 1])
        if not chunks:
            return np.zeros(0, dtype=self.dtype)
        recs = np.frombuffer(b"".join(chunks), dtype=self.dtype)
        # a transfer between two frontier addresses was read from both sides
        _, first = np.unique(recs["rank"], return_index=True)
        return select(recs, first)

    def owners(self, recs: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each record: position in ``ids`` of its sender and of its receiver (-1: none, or
        a receiver computed from a creation nonce, which is not found by receiver)."""
        sorter = np.argsort(ids, kind="stable")
        sorted_ids = ids[sorter]

        def where(column):
            pos = np.searchsorted(sorted_ids, column)
            pos_c = np.minimum(pos, len(ids) - 1)
            hit = sorted_ids[pos_c] == column
            return np.where(hit, sorter[pos_c], -1)

        receivers = where(recs["to"].astype(np.int64))
        receivers[(recs["flags"] & F_COMPUTED) != 0] = -1
        return where(recs["frm"].astype(np.int64)), receivers

    # ------------------------------------------------------------------ records

    def _small_table(self, name: str) -> np.ndarray | None:
        """All of a small string table (assets, trace paths) as an object array, or None."""
        table = self.__dict__[name]
        if len(table) > 1 << 16:
            return None
        text = [b.decode() for b in table.tolist()]
        if name == "assets":
            null = self.meta.get("asset_null", -1)
            return np.array([None if i == null else t for i, t in enumerate(text)], dtype=object)
        return np.array([None, *text], dtype=object)

    def _assets(self, ids: np.ndarray) -> list:
        if self._asset_table is None:
            self._asset_table = self._small_table("assets")
        if self._asset_table is not None:
            return self._asset_table[ids].tolist()
        uniq, inverse = np.unique(ids, return_inverse=True)
        null = self.meta.get("asset_null", -1)
        names = [None if i == null else self.assets[i].decode() for i in uniq.tolist()]
        return np.array(names, dtype=object)[inverse].tolist()

    def _traces(self, ids: np.ndarray) -> list:
        if not ids.any():
            return [None] * len(ids)
        if self._trace_table is None:
            self._trace_table = self._small_table("traces")
        if self._trace_table is not None:
            return self._trace_table[ids].tolist()
        uniq, inverse = np.unique(ids, return_inverse=True)
        names = [None if i == 0 else self.traces[i - 1].decode() for i in uniq.tolist()]
        return np.array(names, dtype=object)[inverse].tolist()

    def _decimals(self, recs: np.ndarray, native_decimals: int) -> list:
        """Token rows: the token's decimals (None when unknown); other rows: the chain's."""
        kinds = recs["kind"]
        if not (kinds == 1).any():
            return [native_decimals] * len(recs)
        table = np.append(self.asset_dec.astype(object), native_decimals)
        table[np.flatnonzero(self.asset_dec < 0)] = None
        return table[np.where(kinds == 1, recs["asset"], len(self.asset_dec))].tolist()

    def address_strings(self, ids: np.ndarray) -> list[str]:
        if not len(ids):
            return []
        if self._binary:
            return _hex_list(self.addr[ids].tobytes(), 20)
        return [b.decode() for b in self.addr[ids].tolist()]

    def hashes(self, recs: np.ndarray) -> list[str]:
        """Each record's transaction hash as text."""
        if self._hash_bytes:
            return _hex_list(np.ascontiguousarray(recs["h"]).tobytes(), 32)
        return [b.decode() for b in recs["h"].tolist()]

    def amounts(self, recs: np.ndarray, hashes, parse) -> list[int]:
        """Exact Python ints: (hi << 64) + lo, or the overflow text parsed by ``parse``
        (``hashes[i]``, the row's hash, goes into its error message)."""
        values = recs["lo"].tolist()
        hi = recs["hi"]
        big = np.flatnonzero(hi)
        for i, h in zip(big.tolist(), hi[big].tolist(), strict=True):
            values[i] += h << 64
        over = np.flatnonzero(recs["flags"] & F_OVERFLOW)
        if len(over):
            if callable(hashes):
                hashes = hashes()
            pos = np.searchsorted(self.ovf_rank, recs["rank"][over])
            texts = self.ovf_text[pos].tolist()
            nulls = self.ovf_null[pos].tolist()
            for i, text, null in zip(over.tolist(), texts, nulls, strict=True):
                values[i] = parse(None if null else text.decode(), hashes[i])
        return values

    def transfers(
        self,
        recs: np.ndarray,
        chain: str,
        source: str,
        native_decimals: int,
        parse_amount: Callable[[object, str], int],
    ) -> list[Transfer]:
        """Records (in chain order) to :class:`Transfer` objects, column by column; each
        address string is made once per call and shared by the rows that name it."""
        n = len(recs)
        if not n:
            return []
        ids = np.concatenate((recs["frm"], recs["to"]))
        uniq, inverse = np.unique(ids, return_inverse=True)
        people = np.array(self.address_strings(uniq), dtype=object)[inverse]
        senders, receivers = people[:n].tolist(), people[n:].tolist()
        hashes = self.hashes(recs)
        logi = recs["logi"]
        empty = logi == LOG_NULL
        if empty.any():
            log_index = logi.astype(object)
            log_index[empty] = None
            log_index = log_index.tolist()
        else:
            log_index = logi.tolist()
        ts = recs["ts"]
        times = np.where(ts == TS_NULL, 0, ts).tolist()
        columns = (
            repeat(chain, n),
            self._assets(recs["asset"]),
            senders,
            receivers,
            self.amounts(recs, hashes, parse_amount),
            self._decimals(recs, native_decimals),
            hashes,
            log_index,
            recs["block"].tolist(),
            times,
            recs["txi"].tolist(),
            (recs["flags"] & F_SUCCESS).astype(bool).tolist(),
            repeat(source, n),
            _KIND_NAMES[recs["kind"]].tolist(),
            self._traces(recs["trace"]),
        )
        enabled = gc.isenabled()
        gc.disable()  # tens of thousands of new objects: no collection passes in between
        try:
            return list(map(Transfer, *columns))
        finally:
            if enabled:
                gc.enable()


class FrontierRows:
    """One round's rows for a frontier, kept as columns: each address's history is a slice of
    them (:class:`RowHistory`), and :class:`Transfer` objects are built only for the rows that
    are read (why: a round reads ~100k rows; a trace needs records for a few thousand).

    Failed and zero-value rows are left out of the histories (see :meth:`pruned`), as the
    engine prunes them; a row between two frontier addresses is in both histories."""

    def __init__(
        self,
        index: BulkIndex,
        recs: np.ndarray,
        found: list[str],
        ids: np.ndarray,
        make: tuple[str, str, int, Callable[[object, str], int]],
        after: FrontierRows | None = None,
    ):
        self.index = index
        self.recs = recs
        # transfer id -> chain rank of every outflow named so far in this trace (shared with
        # the rounds ``after`` which this one comes): later rounds find the tainted inflows by it
        self._known: dict[str, int] = after._known if after is not None else {}
        self._make = make  # chain, source, native decimals, amount parser
        self._hashes: list[str] | None = None
        self._asset_names: dict[int, str | None] = {}
        self._trace_names: dict[int, str] = {}
        self._hash_raw: bytes | list[str] | None = None
        self._names: dict[int, str] = {}
        self._tid_rows: dict[str, list[int]] | None = None
        self._contiguous: dict[str, np.ndarray] = {}
        self._values: dict[str, list] = {}
        self._tx_index: tuple[list[int], list[int]] | None = None
        self._built: dict[int, Transfer] = {}
        self.amounts = index.amounts(recs, self.hash_list, make[3])
        flags = recs["flags"]
        overflow = (flags & F_OVERFLOW) != 0
        zero = (recs["hi"] == 0) & (recs["lo"] == 0) & ~overflow
        for i in np.flatnonzero(overflow).tolist():
            zero[i] = self.amounts[i] <= 0
        failed = (flags & F_SUCCESS) == 0
        self._failed = failed
        self._pruned = np.flatnonzero(failed | zero)
        keep = ~(failed | zero)

        sorter = np.argsort(ids, kind="stable")
        sorted_ids = ids[sorter]

        def owner(column: np.ndarray) -> np.ndarray:
            if not len(ids):
                return np.full(len(column), -1, dtype=np.int64)
            pos = np.minimum(np.searchsorted(sorted_ids, column), len(ids) - 1)
            return np.where(sorted_ids[pos] == column, sorter[pos], -1)

        # a receiver computed from a creation nonce counts here (as the records path does)
        frm, to = recs["frm"].astype(np.int64), recs["to"].astype(np.int64)
        senders, receivers = owner(frm), owner(to)
        out_rows = np.flatnonzero(keep & (senders >= 0))
        in_rows = np.flatnonzero(keep & (receivers >= 0) & (frm != to))
        owners = np.concatenate((senders[out_rows], receivers[in_rows]))
        rows = np.concatenate((out_rows, in_rows))
        dirs = np.concatenate(
            (np.where(frm[out_rows] == to[out_rows], SELF, OUT), np.full(len(in_rows), IN))
        )
        order = np.lexsort((rows, owners))  # by address, then chain order
        owners, rows, dirs = owners[order], rows[order], dirs[order]
        self._entries = (owners, rows, dirs)
        self._row_list = rows.tolist()
        self._dir_list = dirs.tolist()
        starts = np.searchsorted(owners, np.arange(len(ids) + 1)).tolist()
        self._slices = {
            a: (starts[i], starts[i + 1], i) for i, a in enumerate(found)
        }  # address -> its entries, its position
        self._segment_table: tuple | None = None
        # addresses with consecutive rows that may share a transaction (the first 8 bytes of the
        # hash match): checked for a swap on replay, by the whole hash
        keys = np.ascontiguousarray(self._tx_array())[rows]
        same = (owners[1:] == owners[:-1]) & (keys[1:] == keys[:-1])
        grouped = set(owners[1:][same].tolist())
        self._grouped = {a for i, a in enumerate(found) if i in grouped}

    # ------------------------------------------------------------------ columns

    def column(self, name: str) -> np.ndarray:
        """One field of the rows as a contiguous array (gathers from the 106-byte records
        are ~10x slower), made once per round."""
        array = self._contiguous.get(name)
        if array is None:
            array = self._contiguous[name] = np.ascontiguousarray(self.recs[name])
        return array

    def hash_list(self) -> list[str]:
        if self._hashes is None:
            self._hashes = self.index.hashes(self.recs)
        return self._hashes

    def _tx_array(self) -> np.ndarray:
        """A transaction key per row: the hash's first 8 bytes (binary hashes) or the hash."""
        h = self.recs["h"]
        return h[:, 0] if h.ndim == 2 else h

    def asset_of(self, row: int) -> str | None:
        """Row ``row``'s asset (token address or ``native``)."""
        return self._asset_name(int(self.column("asset")[row]))

    def _asset_name(self, asset_id: int) -> str | None:
        name = self._asset_names.get(asset_id, _MISSING)
        if name is _MISSING:
            name = self._asset_names[asset_id] = self.index._assets(
                np.array([asset_id], dtype=np.int64)
            )[0]
        return name

    def time_of(self, row: int) -> int:
        ts = int(self.column("ts")[row])
        return 0 if ts == TS_NULL else ts

    def hash_of(self, row: int) -> str:
        """Row ``row``'s transaction hash as text (made per row: most rows never need it)."""
        if self._hash_raw is None:
            if self.recs["h"].ndim == 2:
                self._hash_raw = np.ascontiguousarray(self.recs["h"]).tobytes()
            else:
                self._hash_raw = self.hash_list()
        if isinstance(self._hash_raw, list):
            return self._hash_raw[row]
        return "0x" + self._hash_raw[32 * row : 32 * row + 32].hex()

    def address_of(self, address_id: int) -> str:
        """An address id's text, made once per round."""
        text = self._names.get(address_id)
        if text is None:
            index = self.index
            if index._binary:
                text = "0x" + index.addr[address_id : address_id + 1].tobytes().hex()
            else:
                text = index.addr[address_id].decode()
            self._names[address_id] = text
        return text

    def _trace_name(self, trace_id: int) -> str | None:
        if not trace_id:
            return None
        name = self._trace_names.get(trace_id)
        if name is None:
            name = self._trace_names[trace_id] = self.index._traces(
                np.array([trace_id], dtype=np.int64)
            )[0]
        return name

    def values(self, name: str) -> list:
        """One field of the rows as a Python list, made once per round (reading a list is
        several times cheaper than a numpy scalar)."""
        values = self._values.get(name)
        if values is None:
            values = self._values[name] = self.column(name).tolist()
        return values

    def tid_of(self, row: int) -> str:
        """Row ``row``'s ``Transfer.transfer_id``, without building the record."""
        kind = self.values("kind")[row]
        if kind == 1 or kind == 3:  # token, utxo
            log = self.values("logi")[row]
            return f"{self.hash_of(row)}:{None if log == LOG_NULL else log}"
        if kind == 2:  # internal
            return f"{self.hash_of(row)}:trace:{self._trace_name(int(self.column('trace')[row])) or ''}"
        return f"{self.hash_of(row)}:tx"

    def remember(self, tid: str, row: int) -> None:
        """Row ``row`` is named ``tid``: later rounds find it by its chain rank."""
        self._known[tid] = self.values("rank")[row]

    def rows_of_transfer(self, tid: str) -> list[int]:
        """Rows whose transfer id is ``tid``: by its chain rank when an earlier round named
        it, else by its transaction hash."""
        rank = self._known.get(tid)
        if rank is not None:
            ranks = self.values("rank")  # rows are in chain order: ranks ascend
            i = bisect_left(ranks, rank)
            return [i] if i < len(ranks) and ranks[i] == rank else []
        if self.recs["h"].ndim != 2:  # text hashes: every row's id, once per round
            if self._tid_rows is None:
                self._tid_rows = {}
                for r in range(len(self.recs)):
                    self._tid_rows.setdefault(self.tid_of(r), []).append(r)
            return list(self._tid_rows.get(tid, ()))
        try:
            key = int(tid[2:18], 16) if tid[:2] == "0x" and tid[18:19] != "" else None
        except ValueError:
            key = None
        if key is None:
            return []
        if self._tx_index is None:
            keys = self._tx_array()
            order = np.argsort(keys, kind="stable")
            self._tx_index = (keys[order].tolist(), order.tolist())
        keys, order = self._tx_index
        lo, hi = bisect_left(keys, key), bisect_right(keys, key)
        return [r for r in order[lo:hi] if self.tid_of(r) == tid]

    # ------------------------------------------------------------------ records

    def transfers_at(self, rows: Iterable[int]) -> list[Transfer]:
        """The records of ``rows`` (each built once per round, then shared), a row at a time:
        records are asked for address by address, a few at a time."""
        built = self._built
        missing = [r for r in rows if r not in built]
        if missing:
            chain, source, native_decimals, _ = self._make
            recs, amounts, dec = self.recs, self.amounts, self.index.asset_dec
            name, hash_of, asset_name = self.address_of, self.hash_of, self._asset_name
            for r in missing:
                (_, block, ts, txi, logi, _, _, frm, to, asset, trace, kind, flags, _) = recs[
                    r
                ].item()
                if kind == 1:
                    decimals = int(dec[asset])
                    decimals = None if decimals < 0 else decimals
                else:
                    decimals = native_decimals
                built[r] = Transfer(
                    chain,
                    asset_name(asset),
                    name(frm),
                    name(to),
                    amounts[r],
                    decimals,
                    hash_of(r),
                    None if logi == LOG_NULL else logi,
                    block,
                    0 if ts == TS_NULL else ts,
                    txi,
                    bool(flags & F_SUCCESS),
                    source,
                    _KIND_NAMES[kind],
                    self._trace_name(trace),
                )
        return [built[r] for r in rows]

    def pruned(self) -> list[tuple[Transfer, str]]:
        """Failed and zero-value rows (not followed), in chain order, with the reason."""
        rows = self._pruned.tolist()
        if not rows:
            return []
        reasons = ["failed_transaction" if self._failed[r] else "zero_value" for r in rows]
        return list(zip(self.transfers_at(rows), reasons, strict=True))

    def receivers(self, rows: Iterable[int]) -> Iterator[str]:
        """The receiving address of each row, without building the records."""
        column, name = self.column("to"), self.address_of
        return (name(int(column[r])) for r in rows)

    def _segments(self) -> tuple:
        """Every address's rows grouped by asset (self-transfers left out), with the clean
        balance before each row (:class:`~tracer.allocation.Segment`), for the whole round in
        one pass."""
        if self._segment_table is None:
            owners, rows, dirs = self._entries
            pos = np.flatnonzero(dirs != SELF)
            asset = self.column("asset")
            asset_ids = asset[rows[pos]]
            order = pos[np.lexsort((pos, asset_ids, owners[pos]))]  # address, asset, chain
            s_owner, s_rows = owners[order], rows[order]
            s_asset = asset[s_rows]
            n = len(order)
            new = np.ones(n, dtype=bool)
            new[1:] = (s_owner[1:] != s_owner[:-1]) | (s_asset[1:] != s_asset[:-1])
            row_list, dir_list = s_rows.tolist(), dirs[order].tolist()
            seg_start = np.flatnonzero(new)
            seg_end = np.append(seg_start[1:], n)
            clean = _clean_balances(self, s_rows, dirs[order] == IN, new, seg_start)
            if clean is None:  # amounts too large for 64-bit sums: exact Python integers
                clean = _clean_balances_exact(self.amounts, row_list, dir_list, new, seg_end)
            before, finals = clean
            seg_owner = s_owner[seg_start]
            ids = np.arange(len(self._slices))
            asset_name = self._asset_name
            self._segment_table = (
                row_list,
                dir_list,
                before,
                seg_start.tolist(),
                seg_end.tolist(),
                [asset_name(a) for a in s_asset[seg_start].tolist()],
                finals,
                np.searchsorted(seg_owner, ids, "left").tolist(),
                np.searchsorted(seg_owner, ids, "right").tolist(),
            )
        return self._segment_table

    def segments_of(self, position: int) -> list[Segment]:
        """The segments of the address at ``position`` (in the order the round found them)."""
        rows, dirs, before, starts, ends, assets, finals, first, last = self._segments()
        return [
            Segment(assets[i], rows, dirs, before, starts[i], ends[i], finals[i])
            for i in range(first[position], last[position])
        ]

    def history(self, address: str) -> RowHistory:
        start, stop, position = self._slices.get(address, (0, 0, -1))
        return RowHistory(self, address, start, stop, position, address in self._grouped)


class RowHistory(Sequence):
    """One address's transfers in chain order, as a slice of a :class:`FrontierRows`. Reads
    like a list of :class:`Transfer` (built on first read); :meth:`replay` runs the ledgers
    over the columns when the rule allows it."""

    def __init__(
        self,
        frontier: FrontierRows,
        address: str,
        start: int,
        stop: int,
        position: int,
        grouped: bool,
    ):
        self.frontier = frontier
        self.address = address
        self._start, self._stop = start, stop
        self._position = position
        self._grouped = grouped
        self._list: list[Transfer] | None = None
        self._row_of: dict[str, int] = {}  # transfer id -> row, for ids handed out by replay

    def __len__(self) -> int:
        return self._stop - self._start

    def rows(self) -> list[int]:
        return self.frontier._row_list[self._start : self._stop]

    def out_receivers(self) -> Iterator[str]:
        """Where each outflow went (self-transfers left out), in chain order, lazily: what a
        deposit check needs without building the records."""
        if self._list is not None:
            return (
                t.to_address
                for t in self._list
                if t.from_address == self.address and t.to_address != self.address
            )
        dirs = self.frontier._dir_list[self._start : self._stop]
        outs = [r for r, d in zip(self.rows(), dirs, strict=True) if d == OUT]
        return self.frontier.receivers(outs)

    def _transfers(self) -> list[Transfer]:
        if self._list is None:
            self._list = self.frontier.transfers_at(self.rows())
        return self._list

    def __getitem__(self, i):
        return self._transfers()[i]

    def __iter__(self):
        return iter(self._transfers())

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RowHistory({self.address!r}, {len(self)} transfers)"

    def replay(
        self,
        tainted_in: dict[str, Taint],
        policy: str,
        *,
        seed: bool = False,
        seed_assets: frozenset[str] | None = None,
        hop: int = 0,
    ) -> LedgerResult:
        """:func:`run_ledgers` on this history: over the columns for a non-seed address under
        a share rule (:func:`replay_shares`), else over the records."""
        fr = self.frontier
        if (
            not seed
            and policy in SHARE_POLICIES
            and not (
                self._grouped
                and has_swap(
                    self.rows(),
                    fr._dir_list[self._start : self._stop],
                    _ByRow(fr.asset_of),
                    _ByRow(fr.hash_of),
                )
            )
        ):
            taints = {}  # only this history's inflow rows are looked up
            for tid, taint in tainted_in.items():
                for r in fr.rows_of_transfer(tid):
                    taints[r] = (tid, taint)
            row_of = self._row_of

            def tid_of(row: int) -> str:  # an outflow's id: its record may be asked for
                tid = fr.tid_of(row)
                row_of[tid] = row
                fr.remember(tid, row)
                return tid

            segments = fr.segments_of(self._position) if self._position >= 0 else []
            return replay_shares(
                segments, fr.amounts, _ByRow(fr.time_of), taints, tid_of, policy, hop=hop
            )
        return run_ledgers(
            self.address,
            self._transfers(),
            tainted_in,
            policy,
            seed=seed,
            seed_assets=seed_assets,
            hop=hop,
        )

    def transfers_by_id(self, tids: Iterable[str]) -> dict[str, Transfer]:
        """The records of this history with these transfer ids."""
        wanted = set(tids)
        if not wanted:
            return {}
        known = [(t, self._row_of[t]) for t in sorted(wanted) if t in self._row_of]
        records = self.frontier.transfers_at([r for _, r in known])
        out = {t: rec for (t, _), rec in zip(known, records, strict=True)}
        if len(out) < len(wanted):  # ids the exact path handed out
            for rec in self._transfers():
                if rec.transfer_id in wanted:
                    out.setdefault(rec.transfer_id, rec)
        return out


def _clean_balances(frontier, rows, incoming, new, seg_start) -> tuple[list, list] | None:
    """Per segment (``new`` marks each first row): the running balance before each row and
    after the last, floored at zero, as :func:`_clean_balances_exact` computes it, in 64-bit
    numpy; None when the amounts are too large for that. The floor is the reflected sum:
    balance_k = S_k - min(0, min_{j<=k} S_j) over the segment's prefix sums S."""
    n = len(rows)
    if not n:
        return [], []
    if frontier.column("hi")[rows].any() or (frontier.column("flags")[rows] & F_OVERFLOW).any():
        return None
    amount = frontier.column("lo")[rows]
    if int(amount.max()) >= 1 << 62:
        return None
    amount = amount.astype(np.int64)
    seg_id = np.cumsum(new) - 1
    bound = np.add.reduceat(amount, seg_start)  # |S| within a segment is at most this
    big = 2 * int(bound.max()) + 1
    if int(bound.sum()) >= 1 << 62 or len(seg_start) * big >= 1 << 62:
        return None
    delta = np.where(incoming, amount, -amount)
    total = np.cumsum(delta)
    prefix = total - (total[seg_start] - delta[seg_start])[seg_id]  # S_k, per segment
    # a running minimum that restarts per segment: shift each segment far below the last
    shift = seg_id * big
    low = np.minimum(np.minimum.accumulate(prefix - shift) + shift, 0)
    after = prefix - low
    before = np.zeros(n, dtype=np.int64)
    before[1:] = after[:-1]
    before[new] = 0
    seg_end = np.append(seg_start[1:], n)
    return before.tolist(), after[seg_end - 1].tolist()


def _clean_balances_exact(amounts, rows, dirs, new, seg_end) -> tuple[list, list]:
    """:func:`_clean_balances` with Python integers, row by row (any amount)."""
    before: list[int] = []
    b = 0
    for first, r, d in zip(new.tolist(), rows, dirs, strict=True):
        if first:
            b = 0
        before.append(b)
        b = b + amounts[r] if d == IN else b - amounts[r]
        if b < 0:
            b = 0
    finals = []
    for e in seg_end.tolist():
        r, b = rows[e - 1], before[e - 1]
        b = b + amounts[r] if dirs[e - 1] == IN else b - amounts[r]
        finals.append(b if b > 0 else 0)
    return before, finals


class _ByRow:
    """``f(row)`` read as ``seq[row]``: a column made only for the rows that are read."""

    __slots__ = ("_f",)

    def __init__(self, f: Callable[[int], object]):
        self._f = f

    def __getitem__(self, row: int) -> object:
        return self._f(row)


def select(recs: np.ndarray, which: np.ndarray) -> np.ndarray:
    """``recs[which]`` (positions or a mask), gathering whole records as opaque bytes: 4x
    faster than numpy's field-by-field copy of a structured array."""
    if which.dtype == bool:
        which = np.flatnonzero(which)
    whole = np.dtype((np.void, recs.dtype.itemsize))
    return np.take(np.ascontiguousarray(recs).view(whole), which).view(recs.dtype)


def _hex_list(raw: bytes, width: int) -> list[str]:
    """``0x``-prefixed lower-case hex of each ``width``-byte piece of ``raw``, in C loops."""
    return ("0x" + raw.hex(" ", width).replace(" ", " 0x")).split(" ")


def _prefix(raw: bytes, count: int) -> np.ndarray:
    """First 8 bytes of each 20-byte address in ``raw`` as big-endian integers."""
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, 20)[:, :8].copy().view(">u8")[:, 0]


def _is_hex(text: str) -> bool:
    """40 hex digits and nothing else (``bytes.fromhex`` skips spaces)."""
    try:
        return len(bytes.fromhex(text)) == 20
    except ValueError:
        return False


def _tuples(descr):
    """JSON turned the dtype description's tuples into lists: turn them back."""
    if isinstance(descr, str):
        return descr
    out = []
    for field in descr:
        name, kind, *shape = field
        kind = _tuples(kind) if isinstance(kind, list) else kind
        out.append((name, kind, *(tuple(s) for s in shape)))
    return out
