"""Event-log providers for the bridge decoders: bulk ``logs`` exports (DuckDB) and memory.

Bridges announce deposits and releases in their own events (cBridge ``Send``/``Relay``, CCTP
``DepositForBurn``/``MessageReceived``, ...), which transfer exports do not carry. The bulk
provider reads the ``logs`` table of an export directory in the ethereum-etl / BigQuery layout
(``address, topics, data, transaction_hash, log_index, block_number`` plus optional
``block_timestamp``, ``transaction_index``), CSV (optionally gzipped) or Parquet, one file or
many, found by table-name prefix like :mod:`tracer.sources.bulk` (``logs.csv``,
``logs_000.csv.gz``, ``logs/part-1.parquet``). ``topics`` is a list column or the
comma-joined text ethereum-etl writes. Block times come from ``block_timestamp`` or a ``blocks``
table (``number, timestamp``), the transaction's sender (``RawLog.tx_from``) from a
``tx_from`` column or the ``transactions`` table (``hash, from_address``). The same files serve Tron (addresses in any spelling
:func:`tracer.tron.canonical` accepts, transaction ids without ``0x``).

A query asks for the logs of some contracts (optionally some topic0s, transaction hashes or a
time window) in one SQL statement; only matching rows reach Python, where every field is
validated (a malformed row is skipped and counted in :attr:`DuckDBLogs.skipped`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Protocol

import duckdb

from tracer.bridges.base import RawLog, canonical_address
from tracer.sources.base import SourceError

_EXTENSIONS = (".csv.gz", ".csv.zst", ".csv", ".parquet")


class LogProvider(Protocol):
    """Where decoders' raw logs come from (one chain)."""

    chain: str

    def logs(
        self,
        addresses: Collection[str],
        topic0s: Collection[str] | None = None,
        tx_hashes: Collection[str] | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[RawLog]:
        """Logs emitted by ``addresses`` (canonical; None: any emitter, then ``tx_hashes`` is
        required), in chain order (block, log index)."""
        ...

    def fingerprint(self) -> dict: ...


def _select(
    logs: Iterable[RawLog],
    addresses: Collection[str],
    topic0s: Collection[str] | None,
    tx_hashes: Collection[str] | None,
    since: int | None,
    until: int | None,
) -> list[RawLog]:
    wanted = set(addresses) if addresses is not None else None
    topics = {t.lower() for t in topic0s} if topic0s is not None else None
    txs = set(tx_hashes) if tx_hashes is not None else None
    out = [
        log
        for log in logs
        if (wanted is None or log.address in wanted)
        and (topics is None or log.topic0 in topics)
        and (txs is None or log.tx_hash in txs)
        and (since is None or log.time >= since)
        and (until is None or log.time <= until)
    ]
    return sorted(out, key=lambda log: (log.block, log.log_index, log.tx_hash))


class MemoryLogs:
    """Logs held in memory (built by callers, e.g. from an RPC ``eth_getLogs`` answer)."""

    def __init__(self, chain: str, logs: Iterable[RawLog] = ()) -> None:
        self.chain = chain
        self._logs = [log for log in logs if log.chain == chain]

    def logs(self, addresses, topic0s=None, tx_hashes=None, since=None, until=None):
        return _select(self._logs, addresses, topic0s, tx_hashes, since, until)

    def fingerprint(self) -> dict:
        return {"kind": "memory", "chain": self.chain, "logs": len(self._logs)}


def _table_files(data_dir: Path, table: str) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.startswith((".", "_")):
                continue
            path = Path(root) / name
            rel = path.relative_to(data_dir)
            lower = name.lower()
            ext = next((e for e in _EXTENSIONS if lower.endswith(e)), None)
            if ext is None:
                continue
            stem = lower[: -len(ext)]
            parts = [p.lower() for p in rel.parts[:-1]] + [stem, stem.rsplit(".", 1)[-1]]
            if (
                any(p == table or (p.startswith(table) and p[len(table)] in "-_.") for p in parts)
                and path.stat().st_size > 0
            ):
                found.append(path)
    return found


def _reader(paths: list[Path]) -> str:
    csvs = [p for p in paths if not p.name.lower().endswith(".parquet")]
    parquets = [p for p in paths if p.name.lower().endswith(".parquet")]
    selects = []

    def files(ps: list[Path]) -> str:
        return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in ps) + "]"

    if csvs:
        selects.append(
            f"SELECT * FROM read_csv({files(csvs)}, header = true, all_varchar = true, "
            "union_by_name = true, hive_partitioning = false)"
        )
    if parquets:
        selects.append(
            f"SELECT * FROM read_parquet({files(parquets)}, union_by_name = true, "
            "hive_partitioning = false)"
        )
    return " UNION ALL BY NAME ".join(selects)


_REQUIRED = ("address", "topics", "data", "transaction_hash", "log_index", "block_number")


class DuckDBLogs:
    """The ``logs`` table of an export directory, for one chain.

    ``DuckDBLogs(data_dir, chain)``; a directory without a ``logs`` table is valid and has no
    logs (:attr:`available` is False): the caller reports "no destination data" for bridges
    that need events. Raises :class:`SourceError` (one line) for unreadable files or missing
    columns.
    """

    def __init__(self, data_dir: str | os.PathLike, chain: str) -> None:
        self.chain = chain
        self.data_dir = Path(data_dir).expanduser()
        if not self.data_dir.is_dir():
            raise SourceError(f"logs: {self.data_dir} is not a directory")
        self.skipped = 0
        self._files = _table_files(self.data_dir, "logs")
        self._block_files = _table_files(self.data_dir, "blocks")
        self._tx_files = _table_files(self.data_dir, "transactions")
        self._txs = False
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._columns: dict[str, str] = {}
        self._blocks = False
        if not self._files:
            return
        try:
            self._con.execute(f"CREATE TEMP VIEW src_logs AS {_reader(self._files)}")
            described = self._con.execute("DESCRIBE SELECT * FROM src_logs").fetchall()
            if self._block_files:
                self._con.execute(f"CREATE TEMP VIEW src_blocks AS {_reader(self._block_files)}")
                bcols = {r[0].lower() for r in self._con.execute("DESCRIBE src_blocks").fetchall()}
                self._blocks = {"number", "timestamp"} <= bcols
            if self._tx_files:  # the transaction's sender (decoders' ``tx_from``)
                self._con.execute(f"CREATE TEMP VIEW src_txs AS {_reader(self._tx_files)}")
                tcols = {r[0].lower() for r in self._con.execute("DESCRIBE src_txs").fetchall()}
                self._txs = {"hash", "from_address"} <= tcols
        except duckdb.Error as e:
            raise SourceError(f"logs in {self.data_dir}: {_one_line(e)}") from None
        self._columns = {r[0].lower(): r[1] for r in described}
        missing = [c for c in _REQUIRED if c not in self._columns]
        if missing:
            raise SourceError(f"logs in {self.data_dir} lack column(s) {', '.join(missing)}")

    @property
    def available(self) -> bool:
        return bool(self._files)

    def _spellings(self, address: str) -> list[str]:
        """Lowercase spellings of an address that exports may use."""
        if self.chain == "tron":
            from tracer.addresses import tron_to_hex

            h = tron_to_hex(address).lower()  # 41 + 40 hex
            return [address.lower(), h, "0x" + h, "0x" + h[2:]]
        return [address.lower()]

    def logs(self, addresses, topic0s=None, tx_hashes=None, since=None, until=None):
        if not self._files or (addresses is not None and not addresses):
            return []
        if addresses is None and tx_hashes is None:
            raise ValueError("logs(): give addresses or transaction hashes")
        topics_col = self._columns["topics"]
        if topics_col.endswith("[]"):
            topics = "list_transform(topics, x -> lower(CAST(x AS VARCHAR)))"
        else:
            topics = (
                "string_split(regexp_replace(lower(CAST(topics AS VARCHAR)), "
                "'[\\[\\]\"'' ]', '', 'g'), ',')"
            )
        ts = "NULL::BIGINT"
        if "block_timestamp" in self._columns:
            ts = _ts_sql("l.block_timestamp", self._columns["block_timestamp"])
        join = ""
        if self._blocks:
            join = (
                " LEFT JOIN (SELECT TRY_CAST(number AS BIGINT) AS bn, "
                "max(TRY_CAST(timestamp AS BIGINT)) AS bts FROM src_blocks GROUP BY 1) b "
                "ON b.bn = TRY_CAST(l.block_number AS BIGINT)"
            )
            ts = f"coalesce({ts}, b.bts)"
        tx_from = "lower(CAST(l.tx_from AS VARCHAR))" if "tx_from" in self._columns else "''"
        if "tx_from" not in self._columns and self._txs:
            join += (
                " LEFT JOIN (SELECT lower(CAST(hash AS VARCHAR)) AS th, "
                "min(lower(CAST(from_address AS VARCHAR))) AS tf FROM src_txs GROUP BY 1) t "
                "ON t.th = lower(CAST(l.transaction_hash AS VARCHAR))"
            )
            tx_from = "coalesce(t.tf, '')"
        where = ["TRUE"]
        params: list = []
        if addresses is not None:
            spell: list[str] = []
            for a in sorted(set(addresses)):
                spell.extend(self._spellings(a))
            where.append("lower(CAST(l.address AS VARCHAR)) IN (SELECT unnest(?))")
            params.append(spell)
        if topic0s is not None:
            where.append("tp[1] IN (SELECT unnest(?))")
            params.append(sorted(t.lower() for t in topic0s))
        if tx_hashes is not None:
            hashes = sorted({h.lower() for h in tx_hashes} | {"0x" + h.lower() for h in tx_hashes})
            where.append("lower(CAST(l.transaction_hash AS VARCHAR)) IN (SELECT unnest(?))")
            params.append(hashes)
        sql = (
            "SELECT CAST(l.address AS VARCHAR), tp, lower(CAST(l.data AS VARCHAR)), "
            "lower(CAST(l.transaction_hash AS VARCHAR)), TRY_CAST(l.log_index AS BIGINT), "
            f"TRY_CAST(l.block_number AS BIGINT), {ts}, {tx_from} "
            f"FROM (SELECT *, {topics} AS tp FROM src_logs) l{join} WHERE " + " AND ".join(where)
        )
        try:
            rows = self._con.execute(sql, params).fetchall()
        except duckdb.Error as e:
            raise SourceError(f"logs in {self.data_dir}: {_one_line(e)}") from None
        out: dict[tuple, RawLog] = {}
        for address, tp, data, tx, index, block, time, sender in rows:
            log = self._row(address, tp, data, tx, index, block, time, sender)
            if log is None:
                self.skipped += 1
                continue
            out[(log.tx_hash, log.log_index)] = log  # rows exported twice count once
        return _select(out.values(), addresses, topic0s, None, since, until)

    def _row(self, address, tp, data, tx, index, block, time, sender) -> RawLog | None:
        from tracer.addresses import InvalidAddress

        if index is None or block is None or time is None or not tx:
            return None
        try:
            contract = canonical_address(self.chain, address)
        except (InvalidAddress, ValueError):
            return None
        try:
            frm = canonical_address(self.chain, sender) if sender else ""
        except (InvalidAddress, ValueError):
            frm = ""  # a bad sender spelling loses the sender, not the event
        topics = tuple(t for t in (tp or []) if t)
        if not topics or not all(_is_word(t) for t in topics):
            return None
        data = data or "0x"
        if not data.startswith("0x"):
            data = "0x" + data
        try:
            bytes.fromhex(data[2:])
        except ValueError:
            return None
        if self.chain == "tron":
            from tracer.tron import tx_id

            tx = tx_id(tx)
        elif not tx.startswith("0x"):
            tx = "0x" + tx
        return RawLog(
            self.chain, contract, topics, data, tx, int(index), int(block), int(time), frm
        )

    def fingerprint(self) -> dict:
        import hashlib

        files = []
        for p in self._files + self._block_files + self._tx_files:
            h = hashlib.sha256(p.read_bytes()).hexdigest()
            files.append({"path": p.relative_to(self.data_dir).as_posix(), "sha256": h})
        return {"kind": "duckdb-logs", "chain": self.chain, "files": files}

    def close(self) -> None:
        self._con.close()


def _is_word(text: str) -> bool:
    if len(text) != 66 or not text.startswith("0x"):
        return False
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        return False
    return True


def _ts_sql(column: str, kind: str) -> str:
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST(epoch({column}) AS BIGINT)"
    if kind in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "DOUBLE"):
        return f"CAST({column} AS BIGINT)"
    return (
        f"coalesce(TRY_CAST({column} AS BIGINT), "
        f"CAST(epoch(TRY_CAST({column} AS TIMESTAMPTZ)) AS BIGINT))"
    )


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


__all__ = ["DuckDBLogs", "LogProvider", "MemoryLogs"]
