"""The default source: DuckDB over a directory of Ethereum exports (BigQuery or ethereum-etl).

The directory holds the tables as Google BigQuery's ``crypto_ethereum`` dataset or ethereum-etl's
CLI write them, in CSV (optionally gzipped) or Parquet, one file or many per table. Files are
found by table-name prefix, in the directory or below it: ``token_transfers.csv``,
``token_transfers_000.csv.gz``, ``token_transfers-000000000000.parquet``,
``token_transfers/start_block=0/part-1.parquet`` all belong to ``token_transfers``.

Tables read (any subset; at least one of the first four):

``token_transfers``  ERC-20 transfers (``value`` a decimal string: parsed exactly, never a float)
``transactions``     top-level native transfers; ``receipt_status`` (BigQuery) marks failures
``traces``           internal native transfers (and failure of pre-Byzantium transactions)
``logs``             Transfer events are decoded from logs when ``token_transfers`` is absent
``receipts``         ethereum-etl: ``status`` 0 marks a failed transaction (empty = pre-Byzantium)
``blocks``           block times when rows carry no ``block_timestamp``
``tokens``           token decimals

What becomes a :class:`~tracer.records.Transfer`:

* ``native``: every transaction with ``value`` > 0 (from ``transactions``; when that table is
  absent, from the top-level call/create trace instead). Failed ones come with ``success=False``.
  A contract creation (no ``to_address``) pays the new contract: ``receipt_contract_address``,
  ``receipts.contract_address``, the top-level create trace, or keccak(rlp([sender, nonce])).
* ``token``: every row of ``token_transfers`` (or Transfer log), zero values included (address
  poisoning sends zero-value transfers: the engine drops them and records it).
* ``internal``: traces that move value to another address: ``call`` (not ``delegatecall``,
  ``callcode``, ``staticcall``), ``create``/``create2`` and ``suicide``/``selfdestruct``, with
  value > 0, inside a transaction (block rewards, genesis and DAO-fork rows are not transfers), and
  **never the top-level trace** (empty/NULL ``trace_address``): its value is the transaction's
  ``value``, already yielded as ``native``. An internal transfer is ``success=False`` when its
  trace failed (``status`` 0 / ``error``) or its transaction failed.

Rows exported twice (overlapping files) are returned once. Zero-value native and internal rows
are dropped here (they are plain contract calls, most of all
rows); zero-value token transfers are returned.

A transaction is failed when ``transactions.receipt_status`` is 0, ``receipts.status`` is 0, or its
top-level trace failed. All its transfers come with ``success=False``.

Each call answers for a whole frontier at once. Without an index every call is one SQL query
that scans the export files (the frontier goes into a temp table): fine for small exports,
seconds per hop for millions of rows. :meth:`BulkSource.build_index` has DuckDB normalize all
transfers once into an index file (``<data_dir>/.tracer/`` or ``cache_dir``; layout in
:mod:`tracer.sources.bulk_index`): a sorted address dictionary, CSR offsets, and fixed-width
records sorted by sender and by receiver. A frontier is then a binary search plus one read per
address (no SQL), a degree a difference of offsets: a round of a few thousand addresses and tens of
thousands of rows takes milliseconds plus building the records. The index is keyed by the paths,
sizes and modification times of the export files; a source uses it when it matches and ignores it
(``index_status == "stale"``) when the files changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import numpy as np

from tracer.chains import CHAINS
from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.sources.bulk_index import (
    TS_NULL,
    BulkIndex,
    FrontierRows,
    IndexFormatError,
    select,
    write_index,
)
from tracer.sources.evm_logs import TRANSFER_TOPIC

TABLES = ("token_transfers", "transactions", "receipts", "blocks", "traces", "tokens", "logs")

#: Columns a table must have to be used. Anything else is optional.
REQUIRED = {
    "token_transfers": (
        "token_address",
        "from_address",
        "to_address",
        "value",
        "transaction_hash",
        "log_index",
        "block_number",
    ),
    "transactions": (
        "hash",
        "transaction_index",
        "from_address",
        "to_address",
        "value",
        "block_number",
    ),
    "receipts": ("transaction_hash", "status"),
    "blocks": ("number", "timestamp"),
    "traces": (
        "transaction_hash",
        "from_address",
        "to_address",
        "value",
        "trace_type",
        "call_type",
        "trace_address",
        "block_number",
    ),
    "tokens": ("address", "decimals"),
    "logs": ("address", "topics", "data", "transaction_hash", "log_index", "block_number"),
}

_TABLE_RE = re.compile(r"^(" + "|".join(TABLES) + r")(?:[-_.].*)?$")
_EXTENSIONS = (".csv.gz", ".csv.zst", ".csv", ".parquet")
_KINDS = ("native", "token", "internal")
INDEX_VERSION = 2
# chain order inside SQL: block, transaction, kind (native, token, internal), log index, then the
# trace path compared numerically (each step zero-padded to 6 digits); the hash breaks the ties
# left when an export lacks transaction indexes
_CHAIN_ORDER = (
    "block_number, coalesce(tx_index, 0), kind, coalesce(log_index, 0), "
    r"CASE WHEN trace_address IS NOT NULL THEN regexp_replace(regexp_replace(trace_address, "
    r"'(\d+)', '00000\1', 'g'), '0*(\d{6})', '\1', 'g') END NULLS FIRST, tx_hash"
)
_INT_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _strip_ext(name: str) -> str | None:
    lower = name.lower()
    for ext in _EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return None


def _table_of(rel: Path) -> str | None:
    """Which table a file belongs to: the first directory named after a table, else its name."""
    stem = _strip_ext(rel.name)
    if stem is None:
        return None
    # a directory named after the table, the file name, or its last dotted part
    # ("crypto_ethereum.token_transfers-000000000001.parquet")
    for part in (*rel.parts[:-1], stem, stem.rsplit(".", 1)[-1]):
        match = _TABLE_RE.match(part.lower())
        if match:
            return match.group(1)
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _parse_amount(text) -> int:
    """Exact integer from a decimal string ('123', '1.5e18'), a hex word ('0x..') or a number."""
    if isinstance(text, int):
        return text
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    value = str(text).strip()
    if value[:2] in ("0x", "0X"):
        return int(value, 16)
    number = Decimal(value)
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


def _create_address(sender: str, nonce: int) -> str:
    """Address of the contract created by ``sender`` with ``nonce``: keccak(rlp([sender, nonce]))."""
    from eth_hash.auto import keccak

    body = bytes.fromhex(sender[2:])
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + body + encoded_nonce
    return "0x" + keccak(bytes([0xC0 + len(payload)]) + payload)[12:].hex()


def _remove_orphans(path: Path) -> None:
    """Temporary index files left by builds whose process is gone (killed, crashed)."""
    if os.name != "posix":  # os.kill(pid, 0) is a probe on POSIX only
        return
    for leftover in path.parent.glob(f"{path.name}.tmp-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            leftover.unlink(missing_ok=True)
        except OSError:  # alive (another user's) or unknown: leave it
            pass


class _Table:
    """One logical table: its files, its DuckDB view and its columns (lower name -> (name, type))."""

    def __init__(self, name: str):
        self.name = name
        self.files: list[Path] = []
        self.columns: dict[str, tuple[str, str]] = {}

    def has(self, column: str) -> bool:
        return column in self.columns

    def col(self, column: str, alias: str = "") -> str:
        name = _q(self.columns[column][0])
        return f"{alias}.{name}" if alias else name

    def type(self, column: str) -> str:
        return self.columns[column][1].upper()


class BulkSource:
    """Transfers from a directory of BigQuery / ethereum-etl exports, read with DuckDB.

    ``BulkSource(data_dir, chain="ethereum", cache_dir=None)``. ``cache_dir`` is where
    :meth:`build_index` writes (and where an existing index is looked for); it defaults to
    ``<data_dir>/.tracer``. Raises :class:`SourceError` (one line) for a missing or empty
    directory, a table without its required columns, or an unreadable file.
    """

    name = "duckdb"

    def __init__(self, data_dir, chain: str = "ethereum", cache_dir=None):
        self.chain = chain.lower()
        known = CHAINS.get(self.chain)
        if known is not None and known.kind != "evm":
            raise SourceError(f"BulkSource reads EVM exports; {chain!r} is a {known.kind} chain")
        self.native_decimals = known.native_decimals if known is not None else 18
        self.data_dir = Path(data_dir).expanduser()
        if not self.data_dir.is_dir():
            what = "is not a directory" if self.data_dir.exists() else "does not exist"
            raise SourceError(f"data directory {self.data_dir} {what}")
        self.data_dir = self.data_dir.resolve()
        self.source = f"duckdb:{self.data_dir.name}"
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else self.data_dir / ".tracer"
        self.warnings: list[str] = []
        self.index_path: Path | None = None
        self.index_status = "none"  # none | used | stale | unreadable
        self._index: BulkIndex | None = None
        self._lock = threading.RLock()
        self._hashes: dict[tuple, str] = {}
        self._files: list[tuple[str, str, int, int]] = []  # (relpath, table, size, mtime_ns)
        self._tables: dict[str, _Table] = {}
        self._con = duckdb.connect()
        self._con.execute("SET enable_progress_bar = false")
        try:
            self._con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - builds without ICU are UTC anyway
            pass
        try:
            self._discover()
            self._open_tables()
            self._plan()
            self._attach_index()
        except SourceError:
            self._con.close()
            raise
        except (duckdb.Error, OSError) as error:
            self._con.close()
            raise SourceError(f"{self.data_dir}: {_one_line(error)}") from None

    # ------------------------------------------------------------------ discovery

    def _discover(self) -> None:
        found: dict[str, _Table] = {}
        for root, dirs, files in os.walk(self.data_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            for file_name in sorted(files):
                if file_name.startswith((".", "_")):
                    continue
                path = Path(root) / file_name
                rel = path.relative_to(self.data_dir)
                table = _table_of(rel)
                if table is None:
                    continue
                stat = path.stat()
                self._files.append((rel.as_posix(), table, stat.st_size, stat.st_mtime_ns))
                if stat.st_size > 0:
                    found.setdefault(table, _Table(table)).files.append(path)
        if not self._files:
            raise SourceError(
                f"no export tables in {self.data_dir} (expected CSV or Parquet files named "
                f"{', '.join(TABLES)})"
            )
        self._tables = found
        if not any(t in found for t in ("token_transfers", "transactions", "traces", "logs")):
            raise SourceError(
                f"{self.data_dir} has no transfer table with rows (token_transfers, transactions, "
                "traces or logs)"
            )

    @property
    def data_bytes(self) -> int:
        """Total size of the export files: worth :meth:`build_index` above a few hundred MB."""
        return sum(size for _, _, size, _ in self._files)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()

    def _reader(self, paths: list[Path], csv: bool) -> str:
        files = "[" + ", ".join(_lit(str(p)) for p in paths) + "]"
        if csv:
            return (
                f"read_csv({files}, header = true, all_varchar = true, union_by_name = true, "
                "hive_partitioning = false)"
            )
        return f"read_parquet({files}, union_by_name = true, hive_partitioning = false)"

    def _open_tables(self) -> None:
        con = self._con
        for table in self._tables.values():
            required = REQUIRED[table.name]
            for path in table.files:
                csv = not path.name.lower().endswith(".parquet")
                try:
                    described = con.execute(
                        f"DESCRIBE SELECT * FROM {self._reader([path], csv)}"
                    ).fetchall()
                except duckdb.Error as error:
                    raise SourceError(
                        f"cannot read {self._rel(path)} ({table.name}): {_one_line(error)}"
                    ) from None
                names = {row[0].lower() for row in described}
                missing = [c for c in required if c not in names]
                if table.name == "traces" and not names & {"status", "error"}:
                    missing.append("status (or error)")
                if missing:
                    raise SourceError(
                        f"{self._rel(path)} ({table.name}) lacks column(s) {', '.join(missing)}"
                    )
            csvs = [p for p in table.files if not p.name.lower().endswith(".parquet")]
            parquets = [p for p in table.files if p.name.lower().endswith(".parquet")]
            selects = [f"SELECT * FROM {self._reader(csvs, True)}"] if csvs else []
            if parquets:
                selects.append(f"SELECT * FROM {self._reader(parquets, False)}")
            view = f"src_{table.name}"
            try:
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {view} AS " + " UNION ALL BY NAME ".join(selects)
                )
                described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
            except duckdb.Error as error:
                raise SourceError(f"cannot read table {table.name}: {_one_line(error)}") from None
            table.columns = {row[0].lower(): (row[0], str(row[1])) for row in described}

    # ------------------------------------------------------------------ SQL building blocks

    @staticmethod
    def _int(t: _Table, column: str, alias: str = "") -> str:
        return f"TRY_CAST({t.col(column, alias)} AS BIGINT)"

    @staticmethod
    def _addr(t: _Table, column: str, alias: str = "") -> str:
        return f"nullif(lower({t.col(column, alias)}), '')"

    def _amount(self, t: _Table, column: str, alias: str = "") -> tuple[str, str]:
        """(exact decimal text, non-zero predicate) of a value column of any export type."""
        c, kind = t.col(column, alias), t.type(column)
        if kind in _INT_TYPES:
            return f"CAST({c} AS VARCHAR)", f"{c} <> 0"
        if kind.startswith("DECIMAL"):
            return f"CAST(CAST({c} AS HUGEINT) AS VARCHAR)", f"{c} <> 0"
        if kind in ("DOUBLE", "FLOAT", "REAL"):
            self.warnings.append(
                f"{t.name}.{column} is floating point: amounts may be off in the last digits"
            )
            return f"CAST(CAST(round({c}) AS HUGEINT) AS VARCHAR)", f"round({c}) <> 0"
        # text (CSV, BigQuery STRING): kept as text, parsed exactly in Python
        return f"trim({c})", f"coalesce(TRY_CAST({c} AS DOUBLE), 1) <> 0"

    @staticmethod
    def _ts(t: _Table, column: str, alias: str = "") -> str:
        c, kind = t.col(column, alias), t.type(column)
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return f"CAST(epoch({c}) AS BIGINT)"
        if kind in _INT_TYPES or kind.startswith("DECIMAL") or kind in ("DOUBLE", "FLOAT"):
            return f"CAST({c} AS BIGINT)"
        # unix seconds as text (ethereum-etl) or '2022-03-23 13:16:57 UTC' (BigQuery CSV)
        return (
            f"coalesce(TRY_CAST({c} AS BIGINT), "
            f"CAST(epoch(TRY_CAST({c} AS TIMESTAMPTZ)) AS BIGINT))"
        )

    @staticmethod
    def _trace_address(t: _Table) -> str:
        c = t.col("trace_address")
        if t.type("trace_address").endswith("[]"):
            return f"coalesce(array_to_string({c}, ','), '')"
        return f"coalesce(trim(CAST({c} AS VARCHAR)), '')"

    @staticmethod
    def _trace_ok(t: _Table) -> str:
        error = f"({t.col('error')} IS NULL OR {t.col('error')} = '')" if t.has("error") else "TRUE"
        if t.has("status"):
            return f"coalesce(TRY_CAST({t.col('status')} AS INTEGER) = 1, {error})"
        return error

    # ------------------------------------------------------------------ the plan

    def _plan(self) -> None:
        """Work out, once, how each transfer kind is read, dated, indexed and marked failed."""
        tables = self._tables
        tx = tables.get("transactions")
        tr = tables.get("traces")
        rc = tables.get("receipts")
        lg = tables.get("logs")
        parts: list[tuple[str, str, bool, bool]] = []  # (name, sql, has_ts, has_tx_index)

        if "token_transfers" in tables:
            t = tables["token_transfers"]
            amount, _ = self._amount(t, "value")
            has_ts, has_txi = t.has("block_timestamp"), t.has("transaction_index")
            parts.append(
                (
                    "token_transfers",
                    f"""SELECT 1 AS kind, {self._addr(t, "token_address")} AS asset,
                    {self._addr(t, "from_address")} AS from_address,
                    {self._addr(t, "to_address")} AS to_address, {amount} AS amount,
                    {self._addr(t, "transaction_hash")} AS tx_hash,
                    {self._int(t, "log_index")} AS log_index,
                    {self._int(t, "block_number")} AS block_number,
                    {self._ts(t, "block_timestamp") if has_ts else "NULL::BIGINT"} AS ts,
                    {self._int(t, "transaction_index") if has_txi else "NULL::BIGINT"} AS tx_index,
                    NULL::VARCHAR AS trace_address, TRUE AS ok
                FROM src_token_transfers""",
                    has_ts,
                    has_txi,
                )
            )
        elif lg is not None:
            t = lg
            if t.type("topics").endswith("[]"):
                topics = t.col("topics")
            else:
                topics = f"string_split(regexp_replace({t.col('topics')}, '[\\[\\]\"'' ]', '', 'g'), ',')"
            has_ts, has_txi = t.has("block_timestamp"), t.has("transaction_index")
            word = "'^0x[0-9a-fA-F]{64}$'"
            parts.append(
                (
                    "logs",
                    f"""SELECT 1 AS kind, {self._addr(t, "address", "l")} AS asset,
                    '0x' || lower(substr(tp[2], 27, 40)) AS from_address,
                    '0x' || lower(substr(tp[3], 27, 40)) AS to_address,
                    lower({t.col("data", "l")}) AS amount,
                    {self._addr(t, "transaction_hash", "l")} AS tx_hash,
                    {self._int(t, "log_index", "l")} AS log_index,
                    {self._int(t, "block_number", "l")} AS block_number,
                    {self._ts(t, "block_timestamp", "l") if has_ts else "NULL::BIGINT"} AS ts,
                    {self._int(t, "transaction_index", "l") if has_txi else "NULL::BIGINT"} AS tx_index,
                    NULL::VARCHAR AS trace_address, TRUE AS ok
                FROM (SELECT *, {topics} AS tp FROM src_logs) l
                WHERE len(tp) = 3 AND lower(tp[1]) = '{TRANSFER_TOPIC}'
                  AND regexp_matches(tp[2], {word}) AND regexp_matches(tp[3], {word})
                  AND regexp_matches({t.col("data", "l")}, {word})""",
                    has_ts,
                    has_txi,
                )
            )

        # contract creations: where a to-less transaction's value went
        creations = None
        if rc is not None and rc.has("contract_address"):
            creations = (
                f"SELECT {self._addr(rc, 'transaction_hash')} AS h, "
                f"{self._addr(rc, 'contract_address')} AS contract FROM src_receipts "
                f"WHERE {rc.col('contract_address')} IS NOT NULL AND {rc.col('contract_address')} <> ''"
            )
        elif tr is not None:
            creations = (
                f"SELECT {self._addr(tr, 'transaction_hash')} AS h, {self._addr(tr, 'to_address')} "
                f"AS contract FROM src_traces WHERE {self._trace_address(tr)} = '' "
                f"AND {tr.col('trace_type')} IN ('create', 'create2') "
                f"AND {tr.col('to_address')} IS NOT NULL"
            )

        if tx is not None:
            amount, nonzero = self._amount(tx, "value", "t")
            to_options = [self._addr(tx, "to_address", "t")]
            if tx.has("receipt_contract_address"):
                to_options.append(self._addr(tx, "receipt_contract_address", "t"))
            join = ""
            if creations:
                to_options.append("c.contract")
                join = (
                    f"LEFT JOIN ({creations}) c ON {to_options[0]} IS NULL "
                    f"AND c.h = {self._addr(tx, 'hash', 't')}"
                )
            has_ts = tx.has("block_timestamp")
            nonce = self._int(tx, "nonce", "t") if tx.has("nonce") else "NULL::BIGINT"
            parts.append(
                (
                    "transactions",
                    f"""SELECT 0 AS kind, 'native' AS asset, {self._addr(tx, "from_address", "t")} AS from_address,
                    coalesce({", ".join(to_options)}) AS to_address, {amount} AS amount,
                    {self._addr(tx, "hash", "t")} AS tx_hash, NULL::BIGINT AS log_index,
                    {self._int(tx, "block_number", "t")} AS block_number,
                    {self._ts(tx, "block_timestamp", "t") if has_ts else "NULL::BIGINT"} AS ts,
                    {self._int(tx, "transaction_index", "t")} AS tx_index,
                    CASE WHEN coalesce({", ".join(to_options)}) IS NULL
                         THEN CAST({nonce} AS VARCHAR) END AS trace_address,
                    TRUE AS ok
                FROM src_transactions t {join}
                WHERE {nonzero}""",
                    has_ts,
                    True,
                )
            )

        if tr is not None:
            amount, nonzero = self._amount(tr, "value")
            has_ts, has_txi = tr.has("block_timestamp"), tr.has("transaction_index")
            ta = self._trace_address(tr)
            ttype, ctype = tr.col("trace_type"), tr.col("call_type")
            common = f"""{self._addr(tr, "from_address")} AS from_address,
                    {self._addr(tr, "to_address")} AS to_address, {amount} AS amount,
                    {self._addr(tr, "transaction_hash")} AS tx_hash, NULL::BIGINT AS log_index,
                    {self._int(tr, "block_number")} AS block_number,
                    {self._ts(tr, "block_timestamp") if has_ts else "NULL::BIGINT"} AS ts,
                    {self._int(tr, "transaction_index") if has_txi else "NULL::BIGINT"} AS tx_index"""
            where = (
                f"{tr.col('transaction_hash')} IS NOT NULL AND {tr.col('from_address')} IS NOT NULL "
                f"AND {tr.col('to_address')} IS NOT NULL AND {nonzero}"
            )
            parts.append(
                (
                    "traces",
                    f"""SELECT 2 AS kind, 'native' AS asset, {common}, {ta} AS trace_address,
                    {self._trace_ok(tr)} AS ok
                FROM src_traces
                WHERE {where} AND {ta} <> ''
                  AND ((lower({ttype}) = 'call' AND lower(coalesce({ctype}, 'call')) = 'call')
                       OR lower({ttype}) IN ('create', 'create2', 'suicide', 'selfdestruct'))""",
                    has_ts,
                    has_txi,
                )
            )
            if tx is None:
                # no transactions table: the top-level trace is the transaction's value transfer
                parts.append(
                    (
                        "traces (top level)",
                        f"""SELECT 0 AS kind, 'native' AS asset, {common}, NULL::VARCHAR AS trace_address,
                        {self._trace_ok(tr)} AS ok
                    FROM src_traces
                    WHERE {where} AND {ta} = ''
                      AND lower({ttype}) IN ('call', 'create', 'create2')""",
                        has_ts,
                        has_txi,
                    )
                )

        # failed transactions
        failed = []
        if tx is not None and tx.has("receipt_status"):
            failed.append(
                f"SELECT {self._addr(tx, 'hash')} AS h FROM src_transactions "
                f"WHERE TRY_CAST({tx.col('receipt_status')} AS INTEGER) = 0"
            )
        if rc is not None:
            failed.append(
                f"SELECT {self._addr(rc, 'transaction_hash')} AS h FROM src_receipts "
                f"WHERE TRY_CAST({rc.col('status')} AS INTEGER) = 0"
            )
        if tr is not None:
            failed.append(
                f"SELECT {self._addr(tr, 'transaction_hash')} AS h FROM src_traces "
                f"WHERE {self._trace_address(tr)} = '' AND {tr.col('transaction_hash')} IS NOT NULL "
                f"AND NOT {self._trace_ok(tr)}"
            )
        failed_sql = " UNION ALL ".join(failed) or "SELECT NULL::VARCHAR AS h WHERE false"

        # block times
        blocks_sql = None
        if "blocks" in tables:
            b = tables["blocks"]
            blocks_sql = (
                f"SELECT {self._int(b, 'number')} AS bn, max({self._ts(b, 'timestamp')}) AS ts "
                f"FROM src_blocks GROUP BY 1"
            )

        # per-transaction lookup (tx index, time) for rows that lack them
        txm_sql = None
        if tx is not None:
            ts = self._ts(tx, "block_timestamp") if tx.has("block_timestamp") else "NULL::BIGINT"
            txm_sql = (
                f"SELECT {self._addr(tx, 'hash')} AS h, {self._int(tx, 'transaction_index')} "
                f"AS tx_index, {ts} AS ts FROM src_transactions"
            )
        elif rc is not None and rc.has("transaction_index"):
            txm_sql = (
                f"SELECT {self._addr(rc, 'transaction_hash')} AS h, "
                f"{self._int(rc, 'transaction_index')} AS tx_index, NULL::BIGINT AS ts FROM src_receipts"
            )
        elif lg is not None and lg.has("transaction_index") and "token_transfers" in tables:
            txm_sql = (
                f"SELECT DISTINCT {self._addr(lg, 'transaction_hash')} AS h, "
                f"{self._int(lg, 'transaction_index')} AS tx_index, NULL::BIGINT AS ts FROM src_logs"
            )
        txm_has_ts = tx is not None and tx.has("block_timestamp")
        need_txm = txm_sql is not None and any(
            not has_txi or (not has_ts and blocks_sql is None) for _, _, has_ts, has_txi in parts
        )

        decimals_sql = None
        if "tokens" in tables:
            k = tables["tokens"]
            decimals_sql = (
                f"SELECT {self._addr(k, 'address')} AS address, max(d) AS decimals FROM "
                f"(SELECT {k.col('address')}, TRY_CAST({k.col('decimals')} AS INTEGER) AS d "
                f"FROM src_tokens) WHERE d BETWEEN 0 AND 255 GROUP BY 1"
            )

        self._undated = [
            name
            for name, _, has_ts, _ in parts
            if not has_ts and blocks_sql is None and not (need_txm and txm_has_ts)
        ]
        if self._undated:
            self.warnings.append(
                f"no block times for {', '.join(self._undated)} (no block_timestamp column, no "
                "blocks table): timestamps are 0 and time windows cannot be applied"
            )
        for name, _, _, has_txi in parts:
            if not has_txi and not need_txm:
                self.warnings.append(f"no transaction index for {name}: tx_index is 0")

        self._parts = [sql for _, sql, _, _ in parts]
        self._ctes = {"failed": failed_sql}
        joins, ts_terms, txi_terms = [], ["u.ts"], ["u.tx_index"]
        if blocks_sql:
            self._ctes["bts"] = blocks_sql
            joins.append("LEFT JOIN bts b ON b.bn = u.block_number")
            ts_terms.append("b.ts")
        if need_txm:
            self._ctes["txm"] = txm_sql
            joins.append("LEFT JOIN txm x ON x.h = u.tx_hash")
            ts_terms.append("x.ts")
            txi_terms.append("x.tx_index")
        if decimals_sql:
            self._ctes["tokdec"] = decimals_sql
            joins.append("LEFT JOIN tokdec d ON d.address = u.asset")
        self._joins = " ".join(joins)
        self._ts_expr = f"coalesce({', '.join(ts_terms)})" if len(ts_terms) > 1 else "u.ts"
        self._txi_expr = f"coalesce({', '.join(txi_terms)})" if len(txi_terms) > 1 else "u.tx_index"
        self._dec_expr = "d.decimals" if decimals_sql else "NULL::INTEGER"

    def _normalized_sql(self, frontier: bool) -> str:
        """All transfers (or those touching the temp table ``_f``) in the normalized layout."""
        parts = self._parts
        if frontier:
            parts = [
                f"SELECT * FROM ({p}) WHERE from_address IN (SELECT a FROM _f) "
                "OR to_address IN (SELECT a FROM _f)"
                for p in parts
            ]
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in self._ctes.items())
        union = "\nUNION ALL\n".join(f"({p})" for p in parts)
        return f"""WITH {ctes},
        u AS ({union})
        SELECT u.kind::UTINYINT AS kind, u.asset, u.from_address, u.to_address, u.amount,
               {self._dec_expr} AS decimals, u.tx_hash, u.log_index, u.block_number,
               {self._ts_expr} AS ts, {self._txi_expr} AS tx_index,
               (u.ok AND NOT (u.tx_hash IN (SELECT h FROM failed WHERE h IS NOT NULL))) AS success,
               u.trace_address
        FROM u {self._joins}
        WHERE u.from_address IS NOT NULL AND u.tx_hash IS NOT NULL AND u.block_number IS NOT NULL"""

    # ------------------------------------------------------------------ index

    def _layout(self) -> str:
        tx = self._tables.get("transactions")
        tt = self._tables.get("token_transfers")
        tr = self._tables.get("traces")
        if (tx is not None and tx.has("receipt_status")) or any(
            t is not None and t.has("block_timestamp") for t in (tt, tr)
        ):
            return "bigquery"
        return "ethereum-etl"

    def _index_key(self) -> str:
        listing = [INDEX_VERSION, [list(f) for f in self._files]]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()

    def _default_index_path(self) -> Path:
        tag = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return self.cache_dir / f"bulk-index-{tag}.idx"

    def _attach_index(self, path: Path | None = None) -> None:
        path = path or self._default_index_path()
        if not path.is_file():
            return
        try:
            index = BulkIndex(path)
        except (IndexFormatError, OSError):
            self.index_status = "unreadable"
            return
        if index.meta.get("key") != self._index_key():
            index.close()
            self.index_status = "stale"
            return
        for entry in index.meta.get("files", []):
            self._hashes[(entry["path"], entry["bytes"], entry["mtime_ns"])] = entry["sha256"]
        self._index = index
        self.index_path = path
        self.index_status = "used"

    def _detach_index(self) -> None:
        if self._index is not None:
            self._index.close()
        self._index, self.index_status, self.index_path = None, "none", None

    def build_index(self, cache_dir=None, force: bool = False) -> Path:
        """Write all transfers, normalized, into an index file and use it from now on.

        DuckDB reads the exports once, resolves creation receivers, drops rows exported twice
        and sorts; the file (:mod:`tracer.sources.bulk_index`) holds the address dictionary, CSR
        offsets and fixed-width records sorted by sender and by receiver, so a frontier lookup
        is a binary search and one read per address, and a degree is a difference of offsets.
        The file is keyed by the paths, sizes and modification times of the export files and
        rebuilt when they change. Returns its path.
        """
        with self._lock:
            if cache_dir is not None:
                self.cache_dir = Path(cache_dir).expanduser()
            path = self._default_index_path()
            if self.index_status == "used" and self.index_path == path and not force:
                return path
            if self.index_status == "used":
                self._detach_index()
            elif path.is_file() and not force:
                self._attach_index(path)
                if self.index_status == "used":
                    return path
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            spill = path.parent / f"spill-{os.getpid()}"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _remove_orphans(path)
                tmp.unlink(missing_ok=True)
                self._write_index(tmp, spill)
                os.replace(tmp, path)
            except BaseException as error:
                tmp.unlink(missing_ok=True)
                if isinstance(error, (duckdb.Error, OSError)):
                    raise SourceError(f"cannot build index {path}: {_one_line(error)}") from None
                raise
            finally:
                try:
                    spill.rmdir()
                except OSError:
                    pass
            # the DuckDB-file index of earlier versions, if any, is superseded
            path.with_suffix(".duckdb").unlink(missing_ok=True)
            self._attach_index(path)
            if self.index_status != "used":  # pragma: no cover - just written
                raise SourceError(f"index {path} was written but cannot be used")
            return path

    def _write_index(self, tmp: Path, spill: Path) -> None:
        con = self._con
        files = [
            {
                "path": rel,
                "table": table,
                "bytes": size,
                "mtime_ns": mtime,
                "sha256": self._file_hash(rel, size, mtime),
            }
            for rel, table, size, mtime in self._files
        ]
        meta = {
            "key": self._index_key(),
            "version": INDEX_VERSION,
            "layout": self._layout(),
            "files": files,
            "warnings": list(self.warnings),
        }
        try:
            con.execute(f"SET temp_directory = {_lit(str(spill))}")
            write_index(con, self._normalized_sql(frontier=False), tmp, meta, _create_address)
        except (duckdb.Error, IndexFormatError) as error:
            raise SourceError(
                f"cannot build index from {self.data_dir}: {_one_line(error)}"
            ) from None
        finally:
            con.execute("RESET temp_directory")

    # ------------------------------------------------------------------ queries

    def _frontier(self, addresses: Collection[str]) -> list[str]:
        if isinstance(addresses, str):
            addresses = [addresses]
        return sorted({a.strip().lower() for a in addresses if a and a.strip()})

    def _load_frontier(self, addresses: list[str]) -> None:
        self._con.execute(
            "CREATE OR REPLACE TEMP TABLE _f AS SELECT a FROM (SELECT unnest($1::VARCHAR[]) AS a)",
            [addresses],
        )

    def _window(self, since, until, column: str) -> tuple[str, list]:
        if (since is not None or until is not None) and self._undated:
            raise SourceError(
                f"cannot apply a time window: no block times for {', '.join(self._undated)} "
                "(add block_timestamp or a blocks table)"
            )
        clauses, params = [], []
        if since is not None:
            clauses.append(f"{column} >= ?")
            params.append(int(since))
        if until is not None:
            clauses.append(f"{column} <= ?")
            params.append(int(until))
        return "".join(f" AND {c}" for c in clauses), params

    def _run(self, sql: str, params: list) -> list[tuple]:
        try:
            return self._con.execute(sql, params).fetchall()
        except duckdb.Error as error:
            raise SourceError(f"query on {self.data_dir} failed: {_one_line(error)}") from None

    def transfers(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
        max_degree: int | None = None,
    ) -> list[Transfer]:
        """Every transfer in or out of any of ``addresses`` with block time in [since, until],
        failed ones included with ``success=False``, in chain order. With ``max_degree``, an
        address with more transfers than that (as :meth:`degrees` counts them, same window)
        contributes no rows (a transfer between it and another, quieter address of the frontier
        is still returned). One index lookup, or one query, for the whole frontier."""
        frontier = self._frontier(addresses)
        if not frontier:
            return []
        with self._lock:
            window, params = self._window(since, until, "ts")
            if self._index is not None:
                return self._index_transfers(frontier, since, until, max_degree)
            if max_degree is not None:
                counts = self.degrees(frontier, since, until)
                frontier = [a for a in frontier if counts[a] <= max_degree]
                if not frontier:
                    return []
            rows_sql = f"SELECT * FROM ({self._normalized_sql(frontier=True)}) WHERE true {window}"
            sql = f"SELECT * FROM ({rows_sql}) ORDER BY {_CHAIN_ORDER}"
            self._load_frontier(frontier)
            rows = self._run(sql, params)
        return self._to_transfers(rows, set(frontier))

    def _in_window(self, recs, since, until):
        if since is None and until is None:
            return recs
        ts = recs["ts"]
        mask = ts != TS_NULL
        if since is not None:
            mask &= ts >= int(since)
        if until is not None:
            mask &= ts <= int(until)
        return select(recs, mask)

    def frontier_rows(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
        after: FrontierRows | None = None,
    ) -> FrontierRows | None:
        """What :meth:`transfers` returns, as columns (:class:`FrontierRows`: a history per
        address, records built only when read), or None without an index (then call
        :meth:`transfers`). ``after``: the previous round's rows of the same trace (its
        tainted outflows are found by chain rank)."""
        frontier = self._frontier(addresses)
        with self._lock:
            if self._index is None:
                return None
            self._window(since, until, "ts")  # raises when the data has no block times
            index = self._index
            found, ids = index.lookup(frontier)
            recs = self._in_window(index.rows(ids), since, until)
            make = (self.chain, self.source, self.native_decimals, self._amount_value)
            return FrontierRows(index, recs, found, ids, make, after)

    def _index_transfers(self, frontier, since, until, max_degree) -> list[Transfer]:
        index = self._index
        _, ids = index.lookup(frontier)
        windowed = since is not None or until is not None
        over = np.zeros(len(ids), dtype=bool)
        if max_degree is not None and len(ids):
            over = index.degrees_of(ids) > max_degree  # (in the window: at most this)
            if not windowed:
                ids, over = ids[~over], over[~over]  # busy: never read
        recs = self._in_window(index.rows(ids), since, until)
        if max_degree is not None and windowed and over.any():
            senders, receivers = index.owners(recs, ids)
            busy = self._counts(senders, receivers, len(ids)) > max_degree
            keep = (senders >= 0) & ~busy[senders]
            keep |= (receivers >= 0) & ~busy[receivers]
            recs = select(recs, keep)
        return index.transfers(
            recs, self.chain, self.source, self.native_decimals, self._amount_value
        )

    @staticmethod
    def _counts(senders, receivers, n: int):
        """Rows per frontier position: sent or received, a self-transfer once."""
        counts = np.bincount(senders[senders >= 0], minlength=n)
        received = receivers[(receivers >= 0) & (receivers != senders)]
        return counts + np.bincount(received, minlength=n)

    def _amount_value(self, amount, tx_hash: str) -> int:
        try:
            return int(amount)
        except (TypeError, ValueError):
            try:
                return _parse_amount(amount)
            except (TypeError, ValueError, InvalidOperation):
                raise SourceError(
                    f"{self.data_dir.name}: unparseable value {amount!r} in transaction {tx_hash}"
                ) from None

    def _to_transfers(self, rows: list[tuple], frontier: set[str]) -> list[Transfer]:
        """Rows (already in chain order) to records; exact address check; duplicates dropped."""
        chain, source, native_decimals = self.chain, self.source, self.native_decimals
        kinds, seen, out = _KINDS, set(), []
        append = out.append
        for row in rows:
            (
                kind,
                asset,
                sender,
                receiver,
                amount,
                decimals,
                tx_hash,
                log_index,
                block,
                ts,
                tx_index,
                success,
                trace_address,
            ) = row
            if receiver is None:
                if kind != 0 or trace_address is None:
                    continue  # destination unknown: a creation without receipt, trace or nonce
                receiver = _create_address(sender, int(trace_address))  # the nonce rode along
            if sender not in frontier and receiver not in frontier:
                continue  # the computed creation address
            if kind == 0:
                trace_address = None
            identity = (kind, tx_hash, log_index, trace_address)
            if identity in seen:
                continue  # the same row exported twice
            seen.add(identity)
            value = amount if type(amount) is int else self._amount_value(amount, tx_hash)
            append(
                Transfer(
                    chain,
                    asset,
                    sender,
                    receiver,
                    value,
                    native_decimals if kind != 1 else decimals,
                    tx_hash,
                    log_index,
                    block,
                    ts or 0,
                    tx_index or 0,
                    success,
                    source,
                    kinds[kind],
                    trace_address,
                )
            )
        return out

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Number of transfers touching each address, keyed by the lower-cased address. With
        the index it is exact (as :meth:`transfers` returns them) and, without a window, read off
        the offsets (no rows read); scanning, rows exported twice count twice (an upper bound
        for the fan-out guard)."""
        frontier = self._frontier(addresses)
        counts = dict.fromkeys(frontier, 0)
        if not frontier:
            return counts
        with self._lock:
            window, params = self._window(since, until, "ts")
            if self._index is not None:
                index = self._index
                found, ids = index.lookup(frontier)
                if since is None and until is None:
                    values = index.degrees_of(ids)
                else:
                    recs = self._in_window(index.rows(ids), since, until)
                    values = self._counts(*index.owners(recs, ids), len(ids))
                counts.update(zip(found, values.tolist(), strict=True))
                return counts
            sql = f"""WITH n AS ({self._normalized_sql(frontier=True)})
                SELECT a, count(*) FROM (
                    SELECT from_address AS a FROM n WHERE true {window}
                    UNION ALL
                    SELECT to_address FROM n WHERE to_address <> from_address {window}
                ) WHERE a IN (SELECT a FROM _f) GROUP BY a"""
            params = params + params
            self._load_frontier(frontier)
            for address, count in self._run(sql, params):
                if address in counts:
                    counts[address] = int(count)
        return counts

    # ------------------------------------------------------------------ provenance

    def _file_hash(self, rel: str, size: int, mtime: int) -> str:
        key = (rel, size, mtime)
        if key not in self._hashes:
            self._hashes[key] = _sha256(self.data_dir / rel)
        return self._hashes[key]

    def fingerprint(self) -> dict:
        """Every file read (path, table, size, sha256), the layout, the index used, warnings."""
        with self._lock:
            try:
                files = [
                    {
                        "path": rel,
                        "table": table,
                        "bytes": size,
                        "sha256": self._file_hash(rel, size, mtime),
                    }
                    for rel, table, size, mtime in self._files
                ]
            except OSError as error:
                raise SourceError(f"cannot hash {self.data_dir}: {_one_line(error)}") from None
            tables = {}
            for entry in files:
                tables.setdefault(entry["table"], []).append(entry["path"])
            return {
                "source": self.source,
                "kind": self.name,
                "chain": self.chain,
                "data_dir": str(self.data_dir),
                "layout": self._layout(),
                "tables": tables,
                "files": files,
                "index": (
                    {"path": str(self.index_path), "key": self._index_key()}
                    if self.index_status == "used"
                    else None
                ),
                "warnings": list(self.warnings),
            }

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None
            self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return (
            f"BulkSource({str(self.data_dir)!r}, chain={self.chain!r}, index={self.index_status})"
        )
