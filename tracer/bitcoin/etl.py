"""bitcoin-etl / BigQuery ``crypto_bitcoin.transactions`` exports as a Bitcoin source (DuckDB).

One table is read: ``transactions``, one row per transaction with nested ``inputs`` and
``outputs`` (each with ``addresses`` and ``value``), as bitcoin-etl's
``export_blocks_and_transactions`` + ``enrich_transactions`` write it (JSON lines) or as
BigQuery exports it (JSON lines with ``block_timestamp`` as text and NUMERIC values as strings,
or Parquet with TIMESTAMP / NUMERIC columns). Files are found like the Ethereum exports
(:mod:`tracer.sources.bulk`): by table-name prefix, in the directory or below it:
``transactions.json``, ``transactions_000.json.gz``, ``transactions-000000000000.parquet``,
``transactions/date=2022-01-01/part-0.parquet``; ``--data`` may also name one file.

The export must be *enriched* (inputs carry the spent output's ``addresses`` and ``value``);
an input without a value makes the transaction unusable and the trace says so.

The files are read once into DuckDB: a normalized table ``tx`` (satoshi values as exact decimal
text, block time as epoch seconds) and an index ``ix(address, hash)`` over every input and output
address, so a whole frontier is answered with one query. Without ``--cache`` the database lives in
memory for the run; with it, it is a file ``btc-etl-<key>.duckdb`` reused while the export files
(paths, sizes, modification times) are unchanged. Bad input (missing directory, no transactions
table, unreadable file, missing columns) raises a one-line :class:`SourceError`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

import duckdb

from tracer.bitcoin.model import BtcTx, chain_order, from_etl, to_etl
from tracer.sources.base import SourceError

INDEX_VERSION = 1
_EXTENSIONS = (".json.gz", ".jsonl.gz", ".ndjson.gz", ".json", ".jsonl", ".ndjson", ".parquet")
_TABLE_RE = re.compile(r"^transactions(?:[-_.].*)?$")

_INPUT_FIELDS = {
    "index": "BIGINT",
    "spent_transaction_hash": "VARCHAR",
    "spent_output_index": "BIGINT",
    "script_asm": "VARCHAR",
    "script_hex": "VARCHAR",
    "sequence": "BIGINT",
    "required_signatures": "BIGINT",
    "type": "VARCHAR",
    "addresses": "VARCHAR[]",
    "value": "VARCHAR",
}
_OUTPUT_FIELDS = {
    "index": "BIGINT",
    "script_asm": "VARCHAR",
    "script_hex": "VARCHAR",
    "required_signatures": "BIGINT",
    "type": "VARCHAR",
    "addresses": "VARCHAR[]",
    "value": "VARCHAR",
}
_TX_FIELDS = {
    "hash": "VARCHAR",
    "size": "BIGINT",
    "virtual_size": "BIGINT",
    "version": "BIGINT",
    "lock_time": "BIGINT",
    "block_number": "BIGINT",
    "block_hash": "VARCHAR",
    "block_timestamp": "VARCHAR",
    "is_coinbase": "BOOLEAN",
    "index": "BIGINT",
}
REQUIRED = ("hash", "block_number", "block_timestamp", "inputs", "outputs")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct_type(fields: dict[str, str]) -> str:
    return "STRUCT(" + ", ".join(f"{_q(k)} {v}" for k, v in fields.items()) + ")[]"


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strip_ext(name: str) -> str | None:
    lower = name.lower()
    for ext in _EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return None


class EtlSource:
    """``EtlSource(data, cache=None)``: see the module docstring."""

    name = "bitcoin-etl"

    def __init__(self, data, chain: str = "bitcoin", cache=None):
        if chain != "bitcoin":
            raise SourceError(f"--source bitcoin-etl serves bitcoin, not {chain!r}")
        self.chain = chain
        path = Path(data).expanduser()
        if not path.exists():
            raise SourceError(f"data {path} does not exist")
        self.data = path.resolve()
        self.base = self.data if self.data.is_dir() else self.data.parent
        self.source = f"bitcoin-etl:{self.data.name}"
        self.files = self._discover()
        self._lock = threading.RLock()
        self.cache_dir = Path(cache).expanduser() if cache else None
        self.db_path: Path | None = None
        self.rows = 0
        try:
            self._open()
        except SourceError:
            raise
        except (duckdb.Error, OSError, UnicodeDecodeError) as error:
            raise SourceError(f"{self.data}: {_one_line(error)}") from None

    # ------------------------------------------------------------------ discovery

    def _discover(self) -> list[tuple[Path, int, int]]:
        candidates: list[Path] = []
        if self.data.is_file():
            if _strip_ext(self.data.name) is None:
                raise SourceError(
                    f"{self.data.name}: not a JSON lines or Parquet file (.json, .json.gz, "
                    ".parquet)"
                )
            candidates = [self.data]
        else:
            for root, dirs, files in os.walk(self.data):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                for name in sorted(files):
                    if name.startswith((".", "_")):
                        continue
                    rel = (Path(root) / name).relative_to(self.data)
                    stem = _strip_ext(name)
                    if stem is None:
                        continue
                    if any(_TABLE_RE.match(p.lower()) for p in (*rel.parts[:-1], stem)):
                        candidates.append(Path(root) / name)
        files = []
        for p in candidates:
            st = p.stat()
            if st.st_size > 0:
                files.append((p, st.st_size, st.st_mtime_ns))
        if not files:
            raise SourceError(
                f"no bitcoin-etl transactions export in {self.data} (expected files named "
                "transactions*.json[.gz] or transactions*.parquet)"
            )
        return files

    def _key(self) -> str:
        listing = [INDEX_VERSION] + [
            [str(p.relative_to(self.base)), size, mtime] for p, size, mtime in self.files
        ]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()

    # ------------------------------------------------------------------ loading

    def _open(self) -> None:
        key = self._key()
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            self.db_path = self.cache_dir / f"btc-etl-{key[:16]}.duckdb"
            if self.db_path.is_file():
                try:
                    self._con = duckdb.connect(str(self.db_path), read_only=True)
                    meta = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
                    if meta.get("key") == key:
                        self.rows = int(meta.get("rows", 0))
                        return
                    self._con.close()
                except duckdb.Error:
                    pass
            tmp = self.db_path.with_name(self.db_path.name + f".tmp-{os.getpid()}")
            tmp.unlink(missing_ok=True)
            self._con = duckdb.connect(str(tmp))
            self._load(key)
            self._con.close()
            os.replace(tmp, self.db_path)
            self._con = duckdb.connect(str(self.db_path), read_only=True)
        else:
            self._con = duckdb.connect()
            self._load(key)

    def _reader(self, path: Path) -> str:
        if path.name.lower().endswith(".parquet"):
            return f"read_parquet({_lit(str(path))}, hive_partitioning = false)"
        cols = dict(_TX_FIELDS)
        cols["inputs"] = _struct_type(_INPUT_FIELDS)
        cols["outputs"] = _struct_type(_OUTPUT_FIELDS)
        cols["input_value"] = "VARCHAR"
        cols["output_value"] = "VARCHAR"
        cols["fee"] = "VARCHAR"
        spec = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in cols.items()) + "}"
        return (
            f"read_json({_lit(str(path))}, format = 'newline_delimited', columns = {spec}, "
            "maximum_object_size = 1073741824)"
        )

    def _normalized(self, path: Path) -> str:
        """SELECT of one file in the normalized shape (exact values, epoch block time)."""
        con = self._con
        reader = self._reader(path)
        rel = path.relative_to(self.base).as_posix()
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
        except duckdb.Error as error:
            raise SourceError(f"cannot read {rel}: {_one_line(error)}") from None
        types = {row[0].lower(): (row[0], str(row[1]).upper()) for row in described}
        missing = [c for c in REQUIRED if c not in types]
        if missing:
            raise SourceError(f"{rel} (transactions) lacks column(s) {', '.join(missing)}")

        def col(name: str, sql_type: str) -> str:
            if name not in types:
                return f"CAST(NULL AS {sql_type}) AS {_q(name)}"
            return f"TRY_CAST({_q(types[name][0])} AS {sql_type}) AS {_q(name)}"

        ts_name, ts_type = types["block_timestamp"]
        if ts_type.startswith("TIMESTAMP"):
            ts = f"CAST(epoch({_q(ts_name)}) AS BIGINT)"
        elif ts_type in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT"):
            ts = f"CAST({_q(ts_name)} AS BIGINT)"
        else:
            text = f"CAST({_q(ts_name)} AS VARCHAR)"
            ts = (
                f"CASE WHEN regexp_full_match({text}, '[0-9]+') THEN CAST({text} AS BIGINT) "
                f"ELSE CAST(epoch(TRY_CAST(replace({text}, ' UTC', '+00') AS TIMESTAMPTZ)) "
                "AS BIGINT) END"
            )

        def nested(name: str, fields: dict[str, str]) -> str:
            kind = types[name][1]
            inner = kind[:-2] if kind.endswith("[]") else kind
            present = {
                m.group(1).strip('"').lower()
                for m in re.finditer(r'(?:\(|, )("?[A-Za-z_]+"?) ', inner)
            }
            parts = []
            for field, sql_type in fields.items():
                if field not in present:
                    parts.append(f"{_lit(field)}: CAST(NULL AS {sql_type})")
                elif field == "value":
                    parts.append(f"'value': CAST(x.{_q(field)} AS VARCHAR)")
                elif field == "addresses":
                    parts.append(f"'addresses': CAST(x.{_q(field)} AS VARCHAR[])")
                else:
                    parts.append(f"{_lit(field)}: TRY_CAST(x.{_q(field)} AS {sql_type})")
            return (
                f"list_transform(coalesce({_q(types[name][0])}, []), "
                f"lambda x: {{{', '.join(parts)}}}) AS {_q(name)}"
            )

        columns = [col(n, t) for n, t in _TX_FIELDS.items() if n != "block_timestamp"]
        columns.append(f"{ts} AS block_ts")
        columns.append(nested("inputs", _INPUT_FIELDS))
        columns.append(nested("outputs", _OUTPUT_FIELDS))
        return f"SELECT {', '.join(columns)} FROM {reader}"

    def _load(self, key: str) -> None:
        con = self._con
        selects = [self._normalized(p) for p, _, _ in self.files]
        try:
            con.execute(
                "CREATE TABLE tx AS SELECT * FROM ("
                + " UNION ALL BY NAME ".join(selects)
                + ") WHERE hash IS NOT NULL AND block_number IS NOT NULL "
                'ORDER BY block_number, coalesce("index", 0), hash'
            )
            con.execute(
                """CREATE TABLE ix AS
                SELECT DISTINCT address, rid FROM (
                    SELECT unnest(list_concat(flatten(list_transform(inputs, lambda x: x.addresses)),
                                              flatten(list_transform(outputs, lambda x: x.addresses))))
                           AS address, rowid AS rid
                    FROM tx)
                WHERE address IS NOT NULL ORDER BY address, rid"""
            )
            self.rows = con.execute("SELECT count(*) FROM tx").fetchone()[0]
            bad = con.execute("SELECT hash FROM tx WHERE block_ts IS NULL LIMIT 1").fetchone()
        except duckdb.Error as error:
            raise SourceError(f"cannot read {self.data.name}: {_one_line(error)}") from None
        if bad:
            raise SourceError(f"{self.data.name}: transaction {bad[0]} has no block_timestamp")
        con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
        con.executemany("INSERT INTO meta VALUES (?, ?)", [("key", key), ("rows", str(self.rows))])

    # ------------------------------------------------------------------ queries

    _COLUMNS = (
        "hash, size, virtual_size, version, lock_time, block_number, block_hash, block_ts, "
        'is_coinbase, "index", inputs, outputs'
    )

    def _rows_to_txs(self, rows: list[tuple]) -> list[BtcTx]:
        out = []
        for row in rows:
            (h, size, vsize, version, lock, block, bhash, ts, coinbase, index, ins, outs) = row
            out.append(
                from_etl(
                    {
                        "hash": h,
                        "size": size,
                        "virtual_size": vsize,
                        "version": version,
                        "lock_time": lock,
                        "block_number": block,
                        "block_hash": bhash,
                        "block_timestamp": ts,
                        "is_coinbase": coinbase,
                        "index": index,
                        "inputs": ins,
                        "outputs": outs,
                    }
                )
            )
        return out

    def address_txs(
        self, addresses: Collection[str], until: int | None = None, since: int | None = None
    ) -> list[BtcTx]:
        frontier = sorted({a for a in addresses if a})
        if not frontier:
            return []
        where, params = "", [frontier]
        if until is not None:
            where += " AND block_ts <= ?"
            params.append(int(until))
        if since is not None:
            where += " AND block_ts >= ?"
            params.append(int(since))
        sql = f"""SELECT {self._COLUMNS} FROM tx
            WHERE rowid IN (SELECT rid FROM ix WHERE address IN (SELECT unnest(?::VARCHAR[])))
            {where} ORDER BY block_number, coalesce("index", 0), hash"""
        with self._lock:
            try:
                rows = self._con.execute(sql, params).fetchall()
            except duckdb.Error as error:
                raise SourceError(f"query on {self.data.name} failed: {_one_line(error)}") from None
        return chain_order(self._rows_to_txs(rows))

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        frontier = sorted({a for a in addresses if a})
        counts = dict.fromkeys(frontier, 0)
        if not frontier:
            return counts
        where, params = "", [frontier]
        if until is not None:
            where += " AND t.block_ts <= ?"
            params.append(int(until))
        if since is not None:
            where += " AND t.block_ts >= ?"
            params.append(int(since))
        sql = f"""SELECT i.address, count(*) FROM ix i JOIN tx t ON t.rowid = i.rid
            WHERE i.address IN (SELECT unnest(?::VARCHAR[])) {where} GROUP BY i.address"""
        with self._lock:
            try:
                for address, count in self._con.execute(sql, params).fetchall():
                    counts[address] = int(count)
            except duckdb.Error as error:
                raise SourceError(f"query on {self.data.name} failed: {_one_line(error)}") from None
        return counts

    def fingerprint(self) -> dict:
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "data": str(self.data),
            "rows": self.rows,
            "files": [
                {
                    "path": p.relative_to(self.base).as_posix(),
                    "table": "transactions",
                    "bytes": size,
                    "sha256": _sha256(p),
                }
                for p, size, _ in self.files
            ],
            "index": str(self.db_path) if self.db_path else None,
        }

    def close(self) -> None:
        with self._lock:
            self._con.close()


# ------------------------------------------------------------------------------ writing


def write_etl_json(txs: Iterable[BtcTx], path: str | os.PathLike) -> Path:
    """bitcoin-etl JSON lines (``.json`` or ``.json.gz``), one :func:`to_etl` row per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(to_etl(t), separators=(", ", ": ")) + "\n" for t in txs)
    if path.name.endswith(".gz"):
        with gzip.GzipFile(path, "wb", mtime=0) as handle:
            handle.write(lines.encode())
    else:
        path.write_text(lines, encoding="utf-8")
    return path


def write_etl_parquet(txs: Iterable[BtcTx], path: str | os.PathLike) -> Path:
    """The same rows as Parquet (values as int64 satoshi), for BigQuery-style exports."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [to_etl(t) for t in txs]
    addr = pa.list_(pa.string())
    inp = pa.struct(
        [
            ("index", pa.int64()),
            ("spent_transaction_hash", pa.string()),
            ("spent_output_index", pa.int64()),
            ("script_asm", pa.string()),
            ("script_hex", pa.string()),
            ("sequence", pa.int64()),
            ("required_signatures", pa.int64()),
            ("type", pa.string()),
            ("addresses", addr),
            ("value", pa.int64()),
        ]
    )
    out = pa.struct(
        [
            ("index", pa.int64()),
            ("script_asm", pa.string()),
            ("script_hex", pa.string()),
            ("required_signatures", pa.int64()),
            ("type", pa.string()),
            ("addresses", addr),
            ("value", pa.int64()),
        ]
    )
    schema = pa.schema(
        [
            ("hash", pa.string()),
            ("size", pa.int64()),
            ("virtual_size", pa.int64()),
            ("version", pa.int64()),
            ("lock_time", pa.int64()),
            ("block_number", pa.int64()),
            ("block_hash", pa.string()),
            ("block_timestamp", pa.int64()),
            ("is_coinbase", pa.bool_()),
            ("index", pa.int64()),
            ("inputs", pa.list_(inp)),
            ("outputs", pa.list_(out)),
            ("input_count", pa.int64()),
            ("output_count", pa.int64()),
            ("input_value", pa.int64()),
            ("output_value", pa.int64()),
            ("fee", pa.int64()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path
