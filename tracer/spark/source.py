"""``--source spark``: the DuckDB source's rules as Spark jobs, for exports too big for one machine.

:class:`SparkSource` reads the same directory layouts as :class:`tracer.sources.bulk.BulkSource`
(BigQuery ``crypto_ethereum`` or ethereum-etl tables, CSV, CSV.gz or Parquet, one file or many
per table) and normalizes them with the same rules, in Spark SQL:

* ``native`` from ``transactions`` (value > 0; contract creations pay the new contract), or from
  the top-level trace when there is no ``transactions`` table;
* ``token`` from ``token_transfers`` (zero values kept), or decoded from Transfer ``logs``;
* ``internal`` from ``traces``: value-moving ``call``/``create``/``suicide`` rows inside a
  transaction, **never the top-level trace**;
* a transaction is failed when ``transactions.receipt_status`` or ``receipts.status`` is 0 or
  its top-level trace failed; all its transfers come with ``success=False``;
* block times from ``block_timestamp`` or the ``blocks`` table, transaction indexes from the
  transactions (or receipts / logs), decimals from ``tokens``.

On first use the normalized rows become an address index kept on the executors
(:meth:`SparkSource.index`: each row filed under its sender and its receiver, partitioned by
address, with every address's transfer count). A round is then one Spark job with no shuffle:
:meth:`SparkSource.degrees` filters the index on the frontier (a literal hash set, or a broadcast
semi-join for large frontiers) and brings back every address's count together with the rows of
the addresses the fan-out guard lets through, so the round's :meth:`SparkSource.transfers` is
answered on the driver. The rows become the same :class:`~tracer.records.Transfer` records, in
the same order, as the DuckDB source gives.

``data`` may also be ``bigquery:PROJECT.DATASET`` (read through the Spark BigQuery connector,
see docs/spark.md). Bad input raises a one-line :class:`~tracer.sources.base.SourceError`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import threading
from collections.abc import Collection
from decimal import InvalidOperation
from functools import reduce
from pathlib import Path
from urllib.parse import parse_qs

from tracer.chains import CHAINS
from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.sources.bulk import REQUIRED, TABLES, _create_address, _parse_amount, _sha256, _table_of
from tracer.sources.evm_logs import TRANSFER_TOPIC

_EXTENSIONS = (".csv.gz", ".csv.zst", ".csv", ".parquet")
_KINDS = ("native", "token", "internal")
_COLUMNS = (
    "kind",
    "asset",
    "from_address",
    "to_address",
    "amount",
    "decimals",
    "tx_hash",
    "log_index",
    "block_number",
    "ts",
    "tx_index",
    "success",
    "trace_address",
)
#: tables worth reading from BigQuery's crypto_ethereum by default (blocks and logs are not
#: needed there: every table carries block_timestamp and token_transfers is decoded already)
BIGQUERY_TABLES = ("token_transfers", "transactions", "traces", "tokens")
#: frontiers up to this size are matched as a literal hash set, larger ones by a broadcast join
INLINE_FRONTIER = 2000
#: degrees() brings back the rows of addresses with at most this many transfers (the engine's
#: default fan-out guard): the round's transfers() then runs no job
PREFETCH_LIMIT = 1000
_DIGITS = re.compile(r"(\d+)")
_SIX = re.compile(r"0*(\d{6})")


def _q(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _lit(text: str) -> str:
    """A Spark SQL string literal (backslash escapes, the parser's default)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    # py4j errors carry a Java stack trace; keep the first meaningful line
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("An error occurred while calling", "Traceback")):
            return line[:300]
    return type(error).__name__


def _trace_key(trace_address: str | None) -> tuple:
    """The DuckDB source's ordering of trace paths: each number zero-padded to six digits,
    compared as text; NULL first."""
    if trace_address is None:
        return (0, "")
    padded = _SIX.sub(r"\1", _DIGITS.sub(r"00000\1", trace_address))
    return (1, padded)


def _identity():
    """A row's identity as text: kind, transaction, log index and (not for kind 0) trace path.
    Rows with the same identity are one transfer exported twice (as ``_to_transfers`` drops)."""
    from pyspark.sql import functions as F

    return F.concat_ws(
        "|",
        F.col("kind").cast("string"),
        F.col("tx_hash"),
        F.coalesce(F.col("log_index").cast("string"), F.lit("")),
        F.when(F.col("kind") != 0, F.coalesce(F.col("trace_address"), F.lit(""))),
    )


def _chain_order(row: tuple) -> tuple:
    # block, tx index, kind, log index, trace path, tx hash (as BulkSource's _CHAIN_ORDER),
    # then every other column so that the order of full ties is fixed too
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
        txi,
        ok,
        ta,
    ) = row
    return (
        block,
        txi or 0,
        kind,
        log_index or 0,
        _trace_key(ta),
        tx_hash,
        sender,
        receiver or "",
        asset or "",
        str(amount),
        -1 if decimals is None else decimals,
        ts or 0,
        ok,
    )


class _Table:
    """One logical table: its files (or BigQuery name) and its columns (lower name -> type)."""

    def __init__(self, name: str):
        self.name = name
        self.files: list[Path] = []
        self.columns: dict[str, object] = {}  # lower name -> pyspark DataType

    def has(self, column: str) -> bool:
        return column in self.columns

    def col(self, column: str, alias: str = "") -> str:
        return f"{alias}.{_q(column)}" if alias else _q(column)

    def kind(self, column: str) -> str:
        """int | decimal | float | time | array | text."""
        from pyspark.sql import types as T

        dtype = self.columns[column]
        if isinstance(dtype, T.IntegralType):
            return "int"
        if isinstance(dtype, T.DecimalType):
            return "decimal"
        if isinstance(dtype, (T.DoubleType, T.FloatType)):
            return "float"
        if isinstance(dtype, (T.TimestampType, T.DateType)) or type(dtype).__name__ == (
            "TimestampNTZType"
        ):
            return "time"
        if isinstance(dtype, T.ArrayType):
            return "array"
        return "text"


class SparkSource:
    """Transfers from BigQuery / ethereum-etl exports, normalized and looked up by Spark jobs.

    ``SparkSource(data, chain="ethereum", master=None, spark=None, ledger_min_transfers=None,
    persist=True, prefetch_limit=None)``. ``spark`` reuses a running SparkSession; otherwise one is started on
    ``master`` (default ``local[2]``, see :mod:`tracer.spark.session`). ``ledger_min_transfers``:
    a round whose ledgers replay fewer transfers than this runs them on the driver (shipping
    them costs more); ``0`` sends every round to the executors. ``persist`` keeps the address
    index on the executors between rounds (memory, spilling to disk). ``prefetch_limit``: a
    degree count also brings back the rows of addresses with at most this many transfers (the
    engine's default fan-out guard, 1,000), so that the round's transfers need no second job.
    """

    name = "spark"

    def __init__(
        self,
        data,
        chain: str = "ethereum",
        master: str | None = None,
        spark=None,
        ledger_min_transfers: int | None = None,
        persist: bool = True,
        prefetch_limit: int | None = None,
    ):
        self.chain = chain.lower()
        known = CHAINS.get(self.chain)
        if known is not None and known.kind != "evm":
            raise SourceError(f"SparkSource reads EVM exports; {chain!r} is a {known.kind} chain")
        self.native_decimals = known.native_decimals if known is not None else 18
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._files: list[tuple[str, str, int, int]] = []
        self._hashes: dict[tuple, str] = {}
        self._tables: dict[str, _Table] = {}
        self.bigquery: str | None = None
        self._bq_options: dict[str, str] = {}
        if spark is None and master:
            from tracer.spark.session import check_master

            master = check_master(master)  # a bad URL fails before any file is read
        text = str(data)
        if text.startswith(("bigquery:", "bq:")):
            self._parse_bigquery(text)
            self.data_dir = None
            self.source = f"spark:{self.bigquery}"
        else:
            self.data_dir = Path(data).expanduser()
            if not self.data_dir.is_dir():
                what = "is not a directory" if self.data_dir.exists() else "does not exist"
                raise SourceError(f"data directory {self.data_dir} {what}")
            self.data_dir = self.data_dir.resolve()
            self.source = f"spark:{self.data_dir.name}"
            self._discover()
            self._check_files()
        from tracer.spark.session import get_session

        self.spark = spark if spark is not None else get_session(master)
        self.master = self.spark.sparkContext.master
        if master and master != self.master:
            self.warnings.append(
                f"Spark is already running on {self.master}: --spark-master {master} not used"
            )
        try:
            self._open_tables()
            self._plan()
        except SourceError:
            raise
        except Exception as error:  # AnalysisException, Py4JJavaError: one line
            where = self.bigquery or self.data_dir
            raise SourceError(f"{where}: {_one_line(error)}") from None
        self._persist = persist
        self._index = None  # the address index (index()), built on first use
        self._kept: dict[str, list[tuple]] | None = None  # rows degrees() brought back
        self.prefetch_limit = PREFETCH_LIMIT if prefetch_limit is None else int(prefetch_limit)
        from tracer.spark.runner import SparkLedgerRunner

        if ledger_min_transfers is None:
            conf = self.spark.conf.get("spark.tracer.ledgers.minTransfers", None)
            ledger_min_transfers = int(conf) if conf else None
        self.ledger_runner = SparkLedgerRunner(self.spark, min_transfers=ledger_min_transfers)

    # ------------------------------------------------------------------ discovery

    def _parse_bigquery(self, text: str) -> None:
        body = text.split(":", 1)[1].lstrip("/")
        dataset, _, query = body.partition("?")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_]+", dataset):
            raise SourceError(
                f"--data {text[:80]!r}: give bigquery:PROJECT.DATASET "
                "(e.g. bigquery:bigquery-public-data.crypto_ethereum)"
            )
        self.bigquery = dataset
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        tables = [t.strip() for t in params.pop("tables", ",".join(BIGQUERY_TABLES)).split(",")]
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise SourceError(f"--data {text[:80]!r}: unknown table(s) {', '.join(unknown)}")
        self._bq_tables = [t for t in tables if t]
        self._bq_options = params  # e.g. filter=..., materializationDataset=...

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

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()

    def _header(self, path: Path) -> list[str]:
        """Column names of a CSV file (first line), or SourceError naming the file."""
        lower = path.name.lower()
        try:
            if lower.endswith(".gz"):
                handle = gzip.open(path, "rt", encoding="utf-8", newline="")
            elif lower.endswith(".zst"):
                import zstandard

                raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
                handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            else:
                handle = open(path, encoding="utf-8", newline="")
            with handle:
                header = next(csv.reader(handle), [])
        except ImportError:
            raise SourceError(
                f"cannot read {self._rel(path)}: .csv.zst needs the zstandard package"
            ) from None
        except (OSError, UnicodeDecodeError, csv.Error, EOFError) as error:
            raise SourceError(f"cannot read {self._rel(path)}: {_one_line(error)}") from None
        if any("\x00" in name for name in header):
            raise SourceError(f"cannot read {self._rel(path)}: not a CSV file")
        return [name.strip() for name in header]

    def _check_files(self) -> None:
        """Every file readable and with its table's required columns (before Spark starts)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._groups: dict[str, list[tuple[str, tuple, list[Path]]]] = {}
        for table in self._tables.values():
            groups: dict[tuple, list[Path]] = {}
            for path in table.files:
                if path.name.lower().endswith(".parquet"):
                    try:
                        schema = pq.read_schema(path)
                    except (OSError, pa.ArrowException) as error:
                        raise SourceError(
                            f"cannot read {self._rel(path)} ({table.name}): {_one_line(error)}"
                        ) from None
                    names = list(schema.names)
                    key = ("parquet", tuple((f.name.lower(), str(f.type)) for f in schema))
                else:
                    names = self._header(path)
                    key = ("csv", tuple(names))
                lowered = {n.lower() for n in names}
                missing = [c for c in REQUIRED[table.name] if c not in lowered]
                if table.name == "traces" and not lowered & {"status", "error"}:
                    missing.append("status (or error)")
                if missing:
                    raise SourceError(
                        f"{self._rel(path)} ({table.name}) lacks column(s) {', '.join(missing)}"
                    )
                groups.setdefault(key, []).append(path)
            self._groups[table.name] = [(k[0], k[1], paths) for k, paths in groups.items()]

    # ------------------------------------------------------------------ reading

    def _read_group(self, fmt: str, header: tuple, paths: list[Path]):
        reader = self.spark.read.option("recursiveFileLookup", "true")
        # file:// so that a cluster whose default file system is HDFS or DBFS reads the shared
        # mount the driver listed, not a path of the same name there
        files = ["file://" + p.as_posix() for p in paths]
        if fmt == "parquet":
            df = reader.parquet(*files)
            return df.toDF(*[c.lower() for c in df.columns])
        # every CSV column is text (as DuckDB's all_varchar); the header is known already, so
        # Spark need not run a job to read it
        schema = ", ".join(f"{_q(c.lower())} STRING" for c in header)
        df = reader.options(header="true", escape='"', multiLine="false", mode="PERMISSIVE")
        return df.schema(schema).csv(files)

    def _open_tables(self) -> None:
        if self.bigquery:
            self._open_bigquery()
            return
        for table in self._tables.values():
            frames = [
                self._read_group(fmt, key, paths) for fmt, key, paths in self._groups[table.name]
            ]
            df = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
            df.createOrReplaceTempView(f"src_{table.name}")
            table.columns = {f.name.lower(): f.dataType for f in df.schema.fields}

    def _open_bigquery(self) -> None:
        for name in self._bq_tables:
            reader = self.spark.read.format("bigquery").option("table", f"{self.bigquery}.{name}")
            for key, value in self._bq_options.items():
                reader = reader.option(key, value)
            try:
                df = reader.load()
            except Exception as error:
                message = _one_line(error)
                if "bigquery" in message.lower() and (
                    "data source" in message.lower() or "classnotfound" in message.lower()
                ):
                    raise SourceError(
                        "the Spark BigQuery connector is not on the classpath (add "
                        "--packages com.google.cloud.spark:spark-bigquery-with-dependencies_2.13:"
                        "VERSION, see docs/spark.md)"
                    ) from None
                raise SourceError(f"bigquery {self.bigquery}.{name}: {message}") from None
            df = df.toDF(*[c.lower() for c in df.columns])
            table = _Table(name)
            table.columns = {f.name.lower(): f.dataType for f in df.schema.fields}
            missing = [c for c in REQUIRED[name] if c not in table.columns]
            if missing:
                raise SourceError(f"bigquery {self.bigquery}.{name} lacks {', '.join(missing)}")
            df.createOrReplaceTempView(f"src_{name}")
            self._tables[name] = table
            self._files.append((f"{self.bigquery}.{name}", name, 0, 0))

    # ------------------------------------------------------------------ SQL building blocks
    # Each mirrors the method of the same name in tracer/sources/bulk.py, in Spark SQL.

    @staticmethod
    def _int(t: _Table, column: str, alias: str = "") -> str:
        c = t.col(column, alias)
        if t.kind(column) in ("decimal", "float"):  # DuckDB rounds these when casting
            return f"try_cast(round({c}) AS BIGINT)"
        return f"try_cast({c} AS BIGINT)"

    @staticmethod
    def _addr(t: _Table, column: str, alias: str = "") -> str:
        return f"nullif(lower(CAST({t.col(column, alias)} AS STRING)), '')"

    def _amount(self, t: _Table, column: str, alias: str = "") -> tuple[str, str]:
        """(exact decimal text, non-zero predicate) of a value column of any export type."""
        c, kind = t.col(column, alias), t.kind(column)
        if kind == "int":
            return f"CAST({c} AS STRING)", f"{c} <> 0"
        if kind == "decimal":
            return f"CAST(CAST({c} AS DECIMAL(38, 0)) AS STRING)", f"{c} <> 0"
        if kind == "float":
            self.warnings.append(
                f"{t.name}.{column} is floating point: amounts may be off in the last digits"
            )
            return f"CAST(CAST(round({c}) AS DECIMAL(38, 0)) AS STRING)", f"round({c}) <> 0"
        return f"trim(CAST({c} AS STRING))", f"coalesce(try_cast({c} AS DOUBLE), 1D) <> 0"

    @staticmethod
    def _ts(t: _Table, column: str, alias: str = "") -> str:
        c, kind = t.col(column, alias), t.kind(column)
        epoch = "CAST(round(unix_micros(CAST({0} AS TIMESTAMP)) / 1000000D) AS BIGINT)"
        if kind == "time":
            return epoch.format(c)
        if kind == "int":
            return f"CAST({c} AS BIGINT)"
        if kind in ("decimal", "float"):
            return f"CAST(round({c}) AS BIGINT)"
        # unix seconds as text (ethereum-etl) or '2022-03-23 13:16:57 UTC' (BigQuery CSV)
        return f"coalesce(try_cast({c} AS BIGINT), {epoch.format(f'try_cast({c} AS TIMESTAMP)')})"

    @staticmethod
    def _trace_address(t: _Table) -> str:
        c = t.col("trace_address")
        if t.kind("trace_address") == "array":
            return f"coalesce(array_join({c}, ','), '')"
        return f"coalesce(trim(CAST({c} AS STRING)), '')"

    @staticmethod
    def _trace_ok(t: _Table) -> str:
        error = f"({t.col('error')} IS NULL OR {t.col('error')} = '')" if t.has("error") else "TRUE"
        if t.has("status"):
            return f"coalesce(try_cast({t.col('status')} AS INT) = 1, {error})"
        return error

    # ------------------------------------------------------------------ the plan

    def _plan(self) -> None:  # noqa: C901 - one rule per table, as in bulk.py
        """Work out, once, how each transfer kind is read, dated, indexed and marked failed."""
        tables = self._tables
        tx = tables.get("transactions")
        tr = tables.get("traces")
        rc = tables.get("receipts")
        lg = tables.get("logs")
        parts: list[tuple[str, str, bool, bool]] = []  # (name, sql, has_ts, has_tx_index)
        null_int = "CAST(NULL AS BIGINT)"
        null_str = "CAST(NULL AS STRING)"

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
                    {self._ts(t, "block_timestamp") if has_ts else null_int} AS ts,
                    {self._int(t, "transaction_index") if has_txi else null_int} AS tx_index,
                    {null_str} AS trace_address, TRUE AS ok
                FROM src_token_transfers""",
                    has_ts,
                    has_txi,
                )
            )
        elif lg is not None:
            t = lg
            if t.kind("topics") == "array":
                topics = t.col("topics")
            else:
                strip = _lit("[]\"' ")  # what DuckDB's regexp_replace removes
                topics = f"split(translate({t.col('topics')}, {strip}, ''), ',')"
            has_ts, has_txi = t.has("block_timestamp"), t.has("transaction_index")
            word = "'^0x[0-9a-fA-F]{64}$'"
            data = t.col("data", "l")
            parts.append(
                (
                    "logs",
                    f"""SELECT 1 AS kind, {self._addr(t, "address", "l")} AS asset,
                    '0x' || lower(substr(try_element_at(tp, 2), 27, 40)) AS from_address,
                    '0x' || lower(substr(try_element_at(tp, 3), 27, 40)) AS to_address,
                    lower({data}) AS amount,
                    {self._addr(t, "transaction_hash", "l")} AS tx_hash,
                    {self._int(t, "log_index", "l")} AS log_index,
                    {self._int(t, "block_number", "l")} AS block_number,
                    {self._ts(t, "block_timestamp", "l") if has_ts else null_int} AS ts,
                    {self._int(t, "transaction_index", "l") if has_txi else null_int} AS tx_index,
                    {null_str} AS trace_address, TRUE AS ok
                FROM (SELECT *, {topics} AS tp FROM src_logs) l
                WHERE size(tp) = 3 AND lower(try_element_at(tp, 1)) = '{TRANSFER_TOPIC}'
                  AND try_element_at(tp, 2) RLIKE {word} AND try_element_at(tp, 3) RLIKE {word}
                  AND {data} RLIKE {word}""",
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
                f"WHERE {rc.col('contract_address')} IS NOT NULL "
                f"AND CAST({rc.col('contract_address')} AS STRING) <> ''"
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
            nonce = self._int(tx, "nonce", "t") if tx.has("nonce") else null_int
            to = f"coalesce({', '.join(to_options)})"
            parts.append(
                (
                    "transactions",
                    f"""SELECT 0 AS kind, 'native' AS asset,
                    {self._addr(tx, "from_address", "t")} AS from_address,
                    {to} AS to_address, {amount} AS amount,
                    {self._addr(tx, "hash", "t")} AS tx_hash, {null_int} AS log_index,
                    {self._int(tx, "block_number", "t")} AS block_number,
                    {self._ts(tx, "block_timestamp", "t") if has_ts else null_int} AS ts,
                    {self._int(tx, "transaction_index", "t")} AS tx_index,
                    CASE WHEN {to} IS NULL THEN CAST({nonce} AS STRING) END AS trace_address,
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
                    {self._addr(tr, "transaction_hash")} AS tx_hash, {null_int} AS log_index,
                    {self._int(tr, "block_number")} AS block_number,
                    {self._ts(tr, "block_timestamp") if has_ts else null_int} AS ts,
                    {self._int(tr, "transaction_index") if has_txi else null_int} AS tx_index"""
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
                        f"""SELECT 0 AS kind, 'native' AS asset, {common},
                        {null_str} AS trace_address, {self._trace_ok(tr)} AS ok
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
                f"WHERE try_cast({tx.col('receipt_status')} AS INT) = 0"
            )
        if rc is not None:
            failed.append(
                f"SELECT {self._addr(rc, 'transaction_hash')} AS h FROM src_receipts "
                f"WHERE try_cast({rc.col('status')} AS INT) = 0"
            )
        if tr is not None:
            failed.append(
                f"SELECT {self._addr(tr, 'transaction_hash')} AS h FROM src_traces "
                f"WHERE {self._trace_address(tr)} = '' AND {tr.col('transaction_hash')} IS NOT NULL "
                f"AND NOT {self._trace_ok(tr)}"
            )

        blocks_sql = None
        if "blocks" in tables:
            b = tables["blocks"]
            blocks_sql = (
                f"SELECT {self._int(b, 'number')} AS bn, max({self._ts(b, 'timestamp')}) AS ts "
                f"FROM src_blocks GROUP BY 1"
            )

        txm_sql = None
        if tx is not None:
            ts = self._ts(tx, "block_timestamp") if tx.has("block_timestamp") else null_int
            txm_sql = (
                f"SELECT {self._addr(tx, 'hash')} AS h, {self._int(tx, 'transaction_index')} "
                f"AS tx_index, {ts} AS ts FROM src_transactions"
            )
        elif rc is not None and rc.has("transaction_index"):
            txm_sql = (
                f"SELECT {self._addr(rc, 'transaction_hash')} AS h, "
                f"{self._int(rc, 'transaction_index')} AS tx_index, {null_int} AS ts "
                "FROM src_receipts"
            )
        elif lg is not None and lg.has("transaction_index") and "token_transfers" in tables:
            txm_sql = (
                f"SELECT DISTINCT {self._addr(lg, 'transaction_hash')} AS h, "
                f"{self._int(lg, 'transaction_index')} AS tx_index, {null_int} AS ts FROM src_logs"
            )
        txm_has_ts = tx is not None and tx.has("block_timestamp")
        need_txm = txm_sql is not None and any(
            not has_txi or (not has_ts and blocks_sql is None) for _, _, has_ts, has_txi in parts
        )

        decimals_sql = None
        if "tokens" in tables:
            k = tables["tokens"]
            decimals_sql = (
                f"SELECT nullif(lower(CAST(a AS STRING)), '') AS address, max(d) AS decimals FROM "
                f"(SELECT {k.col('address')} AS a, try_cast({k.col('decimals')} AS INT) AS d "
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

        ctes = {}
        joins, ts_terms, txi_terms = [], ["u.ts"], ["u.tx_index"]
        if failed:
            ctes["failed"] = " UNION ALL ".join(failed)
            joins.append(
                "LEFT JOIN (SELECT DISTINCT h FROM failed WHERE h IS NOT NULL) fx ON fx.h = u.tx_hash"
            )
            success = "(u.ok AND fx.h IS NULL)"
        else:
            success = "u.ok"
        if blocks_sql:
            ctes["bts"] = blocks_sql
            joins.append("LEFT JOIN bts b ON b.bn = u.block_number")
            ts_terms.append("b.ts")
        if need_txm:
            ctes["txm"] = txm_sql
            joins.append("LEFT JOIN txm x ON x.h = u.tx_hash")
            ts_terms.append("x.ts")
            txi_terms.append("x.tx_index")
        if decimals_sql:
            ctes["tokdec"] = decimals_sql
            joins.append("LEFT JOIN tokdec d ON d.address = u.asset")
        ctes["u"] = "\nUNION ALL\n".join(f"({sql})" for _, sql, _, _ in parts)
        ts_expr = f"coalesce({', '.join(ts_terms)})" if len(ts_terms) > 1 else "u.ts"
        txi_expr = f"coalesce({', '.join(txi_terms)})" if len(txi_terms) > 1 else "u.tx_index"
        dec_expr = "d.decimals" if decimals_sql else "CAST(NULL AS INT)"
        with_sql = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes.items())
        self._sql = f"""WITH {with_sql}
        SELECT CAST(u.kind AS INT) AS kind, u.asset, u.from_address, u.to_address, u.amount,
               {dec_expr} AS decimals, u.tx_hash, u.log_index, u.block_number,
               {ts_expr} AS ts, {txi_expr} AS tx_index, {success} AS success, u.trace_address
        FROM u {" ".join(joins)}
        WHERE u.from_address IS NOT NULL AND u.tx_hash IS NOT NULL AND u.block_number IS NOT NULL"""
        self._schema = self.spark.sql(
            self._sql
        ).schema  # analyze now: a bad column fails here, not mid-trace

    # ------------------------------------------------------------------ queries

    def normalized(self):
        """The normalized transfers as a Spark DataFrame (columns as ``_COLUMNS``), not kept:
        :meth:`index` is what stays on the executors."""
        return self.spark.sql(self._sql)

    def index(self):
        """The address index, built on first use and kept on the executors (memory, spilling to
        disk).

        Every normalized row is filed under its sender and, when it differs, its receiver
        (column ``a``), hash-partitioned and sorted by ``a``; ``_n`` is the address's number of
        transfers (a row exported twice counts once, as :meth:`degrees` counts) and ``_r`` a row's
        rank among them (``_r = 1`` marks a first row). One shuffle and one sort, once; after that
        a round's lookup is a filter on ``a`` with no shuffle, and the degrees need no
        aggregation."""
        with self._lock:
            if self._index is None:
                from pyspark.sql import Window
                from pyspark.sql import functions as F

                sides = self.normalized().select(
                    F.explode(
                        F.array(
                            F.col("from_address"),
                            F.when(
                                F.col("to_address") != F.col("from_address"), F.col("to_address")
                            ),
                        )
                    ).alias("a"),
                    *_COLUMNS,
                    _identity().alias("_id"),
                )
                ranked = sides.where("a IS NOT NULL").select(
                    "a",
                    *_COLUMNS,
                    F.dense_rank().over(Window.partitionBy("a").orderBy("_id")).alias("_r"),
                )
                index = ranked.select("*", F.max("_r").over(Window.partitionBy("a")).alias("_n"))
                if self._persist:
                    from pyspark import StorageLevel

                    index = index.persist(StorageLevel.MEMORY_AND_DISK)
                self._index = index
            return self._index

    def _frontier(self, addresses: Collection[str]) -> list[str]:
        if isinstance(addresses, str):
            addresses = [addresses]
        return sorted({a.strip().lower() for a in addresses if a and a.strip()})

    def _check_window(self, since, until) -> None:
        if (since is not None or until is not None) and self._undated:
            raise SourceError(
                f"cannot apply a time window: no block times for {', '.join(self._undated)} "
                "(add block_timestamp or a blocks table)"
            )

    def _match(self, frontier: list[str]):
        """Index rows filed under a frontier address: a literal hash set up to
        ``INLINE_FRONTIER`` addresses (no extra job), a broadcast semi-join above."""
        from pyspark.sql import functions as F

        index = self.index()
        if len(frontier) <= INLINE_FRONTIER:
            return index.where(F.col("a").isin(frontier))
        import pandas as pd

        wanted = self.spark.createDataFrame(pd.DataFrame({"a": frontier}), "a STRING")
        return index.join(F.broadcast(wanted), "a", "left_semi")

    @staticmethod
    def _windowed(df, since, until):
        if since is not None:
            df = df.where(df.ts >= int(since))
        if until is not None:
            df = df.where(df.ts <= int(until))
        return df

    def _run(self, what: str, action):
        try:
            return action()
        except SourceError:
            raise
        except Exception as error:
            where = self.bigquery or self.data_dir
            raise SourceError(f"{what} on {where} failed: {_one_line(error)}") from None

    def transfers(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
    ) -> list[Transfer]:
        """Every transfer in or out of any of ``addresses`` with block time in [since, until],
        failed ones included with ``success=False``, in chain order.

        Addresses whose rows the round's :meth:`degrees` brought back already are answered from
        those; the others take one Spark job."""
        frontier = self._frontier(addresses)
        if not frontier:
            return []
        self._check_window(since, until)
        with self._lock:
            kept = self._kept
            rows: list[tuple] = []
            rest = frontier
            if kept:
                rest = [a for a in frontier if a not in kept]
                ts = _COLUMNS.index("ts")
                for a in frontier:
                    for row in kept.get(a, ()):
                        t = row[ts]
                        if (since is None or (t is not None and t >= since)) and (
                            until is None or (t is not None and t <= until)
                        ):
                            rows.append(row)
            if rest:
                df = self._windowed(self._match(rest), since, until).select(*_COLUMNS)
                rows += self._run("query", lambda: _collect(df))
        # a row filed under two frontier addresses comes twice: _to_transfers keeps one
        rows.sort(key=_chain_order)
        return self._to_transfers(rows, set(frontier))

    def _to_transfers(self, rows: list[tuple], frontier: set[str]) -> list[Transfer]:
        """Rows (in chain order) to records; exact address check; duplicates dropped. The same
        as ``BulkSource._to_transfers``."""
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
            try:
                value = int(amount)
            except (TypeError, ValueError):
                try:
                    value = _parse_amount(amount)
                except (TypeError, ValueError, InvalidOperation):
                    name = self.bigquery or self.data_dir.name
                    raise SourceError(
                        f"{name}: unparseable value {amount!r} in transaction {tx_hash}"
                    ) from None
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
                    bool(success),
                    source,
                    kinds[kind],
                    trace_address,
                )
            )
        return out

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Number of transfers touching each address (a row exported twice counts once).

        Without a time window this is one Spark job that also brings back the rows of every
        address with at most ``prefetch_limit`` transfers (the engine's fan-out guard expands
        exactly those): the round's :meth:`transfers` then needs no job of its own."""
        from pyspark.sql import functions as F

        frontier = self._frontier(addresses)
        counts = dict.fromkeys(frontier, 0)
        if not frontier:
            return counts
        self._check_window(since, until)
        with self._lock:
            self._kept = None
            matched = self._match(frontier)
            if since is None and until is None:
                limit = self.prefetch_limit
                df = matched.where((F.col("_n") <= limit) | (F.col("_r") == 1)).select(
                    "a", "_n", *_COLUMNS
                )
                rows = self._run("count", lambda: _collect(df))
                kept: dict[str, list[tuple]] = {}
                for row in rows:
                    address, n = row[0], int(row[1])
                    counts[address] = n
                    if n <= limit:
                        kept.setdefault(address, []).append(row[2:])
                for address, n in counts.items():
                    if n == 0:
                        kept[address] = []  # nothing there: transfers() need not ask
                self._kept = kept
                return counts
            counted = (
                self._windowed(matched, since, until)
                .groupBy("a")
                .agg(F.countDistinct(_identity()).alias("n"))
            )
            result = self._run("count", lambda: counted.collect())
        for address, count in result:
            if address in counts:
                counts[address] = int(count)
        return counts

    # ------------------------------------------------------------------ provenance

    def _layout(self) -> str:
        if self.bigquery:
            return "bigquery"
        tx = self._tables.get("transactions")
        tt = self._tables.get("token_transfers")
        tr = self._tables.get("traces")
        if (tx is not None and tx.has("receipt_status")) or any(
            t is not None and t.has("block_timestamp") for t in (tt, tr)
        ):
            return "bigquery"
        return "ethereum-etl"

    def _file_hash(self, rel: str, size: int, mtime: int) -> str:
        key = (rel, size, mtime)
        if key not in self._hashes:
            self._hashes[key] = _sha256(self.data_dir / rel)
        return self._hashes[key]

    def fingerprint(self) -> dict:
        """Every file read (path, table, size, sha256), the layout, the Spark master, warnings."""
        with self._lock:
            if self.bigquery:
                files = [{"path": rel, "table": table} for rel, table, _, _ in self._files]
            else:
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
            tables: dict[str, list[str]] = {}
            for entry in files:
                tables.setdefault(entry["table"], []).append(entry["path"])
            return {
                "source": self.source,
                "kind": self.name,
                "chain": self.chain,
                "data_dir": str(self.data_dir) if self.data_dir else None,
                "bigquery": (
                    {"dataset": self.bigquery, "options": dict(sorted(self._bq_options.items()))}
                    if self.bigquery
                    else None
                ),
                "layout": self._layout(),
                "tables": tables,
                "files": files,
                "spark": {"version": self.spark.version, "master": self.master},
                "warnings": list(self.warnings),
            }

    def close(self) -> None:
        """Drop what this source keeps on the executors (the session itself stays up)."""
        with self._lock:
            if self._index is not None:
                try:
                    self._index.unpersist()
                except Exception:  # noqa: BLE001 - the session may be gone already
                    pass
            self._index, self._kept = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        where = self.bigquery or str(self.data_dir)
        return f"SparkSource({where!r}, chain={self.chain!r}, master={self.master!r})"


def _collect(df) -> list[tuple]:
    """Rows of a (small) DataFrame as tuples, through Arrow when this PySpark has it."""
    to_arrow = getattr(df, "toArrow", None)  # PySpark 4
    if to_arrow is not None:
        table = to_arrow()
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(zip(*columns, strict=True)) if columns else []
    return [tuple(r) for r in df.collect()]
