"""Tron exports read with DuckDB (``--source duckdb --chain tron --data DIR``).

The directory holds tables in the layout of Ethereum's exports (BigQuery / ethereum-etl), as CSV
(optionally gzipped) or Parquet, one file or many per table, found by table-name prefix like
:mod:`tracer.sources.bulk` (``token_transfers.csv``, ``token_transfers_000.csv.gz``,
``token_transfers/part-1.parquet``):

``token_transfers``   TRC-20 transfers: ``token_address, from_address, to_address, value,
                      transaction_hash, log_index, block_number`` (+ ``block_timestamp``,
                      ``transaction_index``). ``log_index`` is the event's index in its
                      transaction (TronGrid's ``event_index``).
``transactions``      TRX: ``hash, from_address, to_address, value, block_number`` (+
                      ``block_timestamp``, ``transaction_index``, ``contract_type``,
                      ``contract_ret``, ``receipt_status``, ``resource``). Rows whose
                      ``contract_type`` is empty, ``TransferContract`` or
                      ``TriggerSmartContract`` (``value`` = ``call_value``) with a non-zero value
                      are TRX transfers; ``contract_ret`` other than ``SUCCESS`` (or
                      ``receipt_status`` 0) marks a failed one. ``DelegateResourceContract`` /
                      ``FreezeBalanceContract`` rows (``value`` = TRX staked, ``resource``
                      ENERGY or BANDWIDTH) are resource delegations, not transfers.
``blocks``            ``number, timestamp``: block times for rows without ``block_timestamp``.
``tokens``            ``address, decimals`` (+ ``symbol``).
``blacklist_events``  issuer events: ``contract_address, event_name, address,
                      transaction_hash, block_number`` (+ ``block_timestamp``, ``event_index``,
                      ``amount``), event names ``AddedBlackList``, ``RemovedBlackList``,
                      ``DestroyedBlackFunds``.

Addresses may be base58check (``T...``), hex ``41...`` / ``0x41...`` or the 20-byte ``0x...`` of
event logs, mixed freely; every record comes out in base58. Lookups match the frontier's four
spellings in SQL (one query per call for the whole frontier); only the rows found are decoded
in Python. Exports up to :data:`MATERIALIZE_BYTES` are parsed once into memory when the source
opens; larger ones are scanned by every query (no on-disk index yet). Times may be epoch seconds, epoch milliseconds (Tron's own unit, recognised by size)
or timestamps. Transaction ids come out as 64 lowercase hex digits without ``0x``. Rows exported
twice are returned once.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from tracer.addresses import InvalidAddress, tron_to_hex
from tracer.chains import get_chain
from tracer.records import Transfer
from tracer.sources.base import SourceError
from tracer.tron import CHAIN, AddressBook, tx_id
from tracer.tron.model import BLACKLIST_EVENTS, BlacklistEvent, Delegation

TABLES = ("token_transfers", "transactions", "blocks", "tokens", "blacklist_events")
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
    "transactions": ("hash", "from_address", "to_address", "value", "block_number"),
    "blocks": ("number", "timestamp"),
    "tokens": ("address", "decimals"),
    "blacklist_events": (
        "contract_address",
        "event_name",
        "address",
        "transaction_hash",
        "block_number",
    ),
}
TRANSFER_TYPES = ("", "TransferContract", "TriggerSmartContract")
DELEGATION_TYPES = ("DelegateResourceContract", "FreezeBalanceContract")
_TABLE_RE = re.compile(r"^(" + "|".join(TABLES) + r")(?:[-_.].*)?$")
_EXTENSIONS = (".csv.gz", ".csv.zst", ".csv", ".parquet")
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"}
_INTS |= {"UINTEGER", "UBIGINT", "UHUGEINT"}
_MS = 100_000_000_000  # epoch values above this are milliseconds (year 5138 in seconds)
#: Exports up to this size are parsed once into memory; larger ones are scanned per query.
MATERIALIZE_BYTES = 256 * 1024 * 1024


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _table_of(rel: Path) -> str | None:
    lower = rel.name.lower()
    stem = next((rel.name[: -len(e)] for e in _EXTENSIONS if lower.endswith(e)), None)
    if stem is None:
        return None
    for part in (*rel.parts[:-1], stem, stem.rsplit(".", 1)[-1]):
        match = _TABLE_RE.match(part.lower())
        if match:
            return match.group(1)
    return None


def _amount(text) -> int:
    if isinstance(text, int):
        return text
    value = str(text).strip()
    try:
        return int(value)
    except ValueError:
        pass
    if value[:2] in ("0x", "0X"):
        return int(value, 16)
    number = Decimal(value)
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


class _Table:
    def __init__(self, name: str):
        self.name = name
        self.files: list[Path] = []
        self.columns: dict[str, tuple[str, str]] = {}

    def has(self, column: str) -> bool:
        return column in self.columns

    def col(self, column: str) -> str:
        return _q(self.columns[column][0])

    def type(self, column: str) -> str:
        return self.columns[column][1].upper()


class TronBulkSource:
    """Transfers from a directory of Tron exports (see the module docstring), read with DuckDB."""

    name = "duckdb"

    def __init__(self, data_dir, chain: str = CHAIN):
        if str(chain).lower() != CHAIN:
            raise SourceError(f"TronBulkSource reads Tron exports, not {chain!r}")
        self.chain = CHAIN
        self.native_decimals = get_chain(CHAIN).native_decimals
        self.data_dir = Path(data_dir).expanduser()
        if not self.data_dir.is_dir():
            what = "is not a directory" if self.data_dir.exists() else "does not exist"
            raise SourceError(f"data directory {self.data_dir} {what}")
        self.data_dir = self.data_dir.resolve()
        self.source = f"duckdb:{self.data_dir.name}"
        self.book = AddressBook()
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._files: list[tuple[str, str, int]] = []
        self._hashes: dict[str, str] = {}
        self._tables: dict[str, _Table] = {}
        self._tokens: dict[str, tuple[str, int | None]] = {}
        self._con = duckdb.connect()
        try:  # Jupyter without ipywidgets rejects this setting; the bar is off there anyway
            self._con.execute("SET enable_progress_bar = false")
        except duckdb.Error:
            pass
        try:
            self._discover()
            self._open_tables()
            self._load_tokens()
            self._plan()
        except SourceError:
            self._con.close()
            raise
        except (duckdb.Error, OSError) as error:
            self._con.close()
            raise SourceError(f"{self.data_dir}: {_one_line(error)}") from None

    # ------------------------------------------------------------------ discovery

    def _discover(self) -> None:
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
                size = path.stat().st_size
                self._files.append((rel.as_posix(), table, size))
                if size > 0:
                    self._tables.setdefault(table, _Table(table)).files.append(path)
        if not any(t in self._tables for t in ("token_transfers", "transactions")):
            raise SourceError(
                f"no Tron transfer table with rows in {self.data_dir} (expected CSV or Parquet "
                "files named token_transfers or transactions)"
            )

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
            for path in table.files:
                csv = not path.name.lower().endswith(".parquet")
                try:
                    names = {
                        row[0].lower()
                        for row in con.execute(
                            f"DESCRIBE SELECT * FROM {self._reader([path], csv)}"
                        ).fetchall()
                    }
                except duckdb.Error as error:
                    raise SourceError(
                        f"cannot read {path.relative_to(self.data_dir)} ({table.name}): "
                        f"{_one_line(error)}"
                    ) from None
                missing = [c for c in REQUIRED[table.name] if c not in names]
                if missing:
                    raise SourceError(
                        f"{path.relative_to(self.data_dir)} ({table.name}) lacks column(s) "
                        f"{', '.join(missing)}"
                    )
            csvs = [p for p in table.files if not p.name.lower().endswith(".parquet")]
            parquets = [p for p in table.files if p.name.lower().endswith(".parquet")]
            selects = [f"SELECT * FROM {self._reader(csvs, True)}"] if csvs else []
            if parquets:
                selects.append(f"SELECT * FROM {self._reader(parquets, False)}")
            view = f"src_{table.name}"
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS " + " UNION ALL BY NAME ".join(selects)
            )
            described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
            table.columns = {row[0].lower(): (row[0], str(row[1])) for row in described}

    def _load_tokens(self) -> None:
        t = self._tables.get("tokens")
        if t is None:
            return
        symbol = f"CAST({t.col('symbol')} AS VARCHAR)" if t.has("symbol") else "''"
        rows = self._con.execute(
            f"SELECT CAST({t.col('address')} AS VARCHAR), TRY_CAST({t.col('decimals')} AS INTEGER), "
            f"{symbol} FROM src_tokens"
        ).fetchall()
        for address, decimals, sym in rows:
            canon = self.book.get(address)
            if canon is None:
                continue
            text = "".join(c for c in str(sym or "") if c.isprintable())[:32]
            self._tokens[canon] = (text, decimals if decimals is not None else None)

    # ------------------------------------------------------------------ SQL

    @staticmethod
    def _text(t: _Table, column: str) -> str:
        return f"nullif(trim(CAST({t.col(column)} AS VARCHAR)), '')"

    def _int(self, t: _Table, column: str) -> str:
        return f"TRY_CAST({t.col(column)} AS BIGINT)"

    def _ts(self, t: _Table, column: str) -> str:
        c, kind = t.col(column), t.type(column)
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return f"CAST(epoch({c}) AS BIGINT)"
        number = f"TRY_CAST({c} AS BIGINT)"
        if kind not in _INTS and not kind.startswith(("DECIMAL", "DOUBLE", "FLOAT")):
            number = (
                f"coalesce(TRY_CAST({c} AS BIGINT), "
                f"CAST(epoch(TRY_CAST({c} AS TIMESTAMPTZ)) AS BIGINT))"
            )
        return f"(CASE WHEN {number} >= {_MS} THEN {number} // 1000 ELSE {number} END)"

    def _time(self, t: _Table) -> tuple[str, bool]:
        if t.has("block_timestamp"):
            return self._ts(t, "block_timestamp"), True
        return "NULL::BIGINT", False

    def _plan(self) -> None:
        parts, dated = [], []
        tt = self._tables.get("token_transfers")
        if tt is not None:
            ts, has_ts = self._time(tt)
            txi = self._int(tt, "transaction_index") if tt.has("transaction_index") else "NULL"
            parts.append(
                f"""SELECT 1 AS kind, {self._text(tt, "token_address")} AS asset,
                {self._text(tt, "from_address")} AS f, {self._text(tt, "to_address")} AS t,
                {self._text(tt, "value")} AS amount, {self._text(tt, "transaction_hash")} AS tx,
                {self._int(tt, "log_index")} AS log_index, {self._int(tt, "block_number")} AS block,
                {ts} AS ts, {txi}::BIGINT AS tx_index, TRUE AS ok
                FROM src_token_transfers"""
            )
            dated.append(("token_transfers", has_ts))
        tx = self._tables.get("transactions")
        if tx is not None:
            ts, has_ts = self._time(tx)
            txi = self._int(tx, "transaction_index") if tx.has("transaction_index") else "NULL"
            ok = ["TRUE"]
            if tx.has("contract_ret"):
                ok.append(f"coalesce({self._text(tx, 'contract_ret')}, 'SUCCESS') = 'SUCCESS'")
            if tx.has("receipt_status"):
                ok.append(f"coalesce(TRY_CAST({tx.col('receipt_status')} AS INTEGER), 1) <> 0")
            self._ok = " AND ".join(ok)
            ctype = (
                f"coalesce({self._text(tx, 'contract_type')}, '')"
                if tx.has("contract_type")
                else "''"
            )
            self._ctype = ctype
            kinds = ", ".join(_lit(k) for k in TRANSFER_TYPES)
            parts.append(
                f"""SELECT 0 AS kind, 'native' AS asset,
                {self._text(tx, "from_address")} AS f, {self._text(tx, "to_address")} AS t,
                {self._text(tx, "value")} AS amount, {self._text(tx, "hash")} AS tx,
                NULL::BIGINT AS log_index, {self._int(tx, "block_number")} AS block,
                {ts} AS ts, {txi}::BIGINT AS tx_index, {self._ok} AS ok
                FROM src_transactions
                WHERE {ctype} IN ({kinds})
                  AND coalesce(TRY_CAST({tx.col("value")} AS DOUBLE), 1) <> 0"""
            )
            dated.append(("transactions", has_ts))
        blocks = self._tables.get("blocks")
        self._blocks_sql = None
        if blocks is not None:
            self._blocks_sql = (
                f"SELECT {self._int(blocks, 'number')} AS bn, max({self._ts(blocks, 'timestamp')}) "
                "AS bts FROM src_blocks GROUP BY 1"
            )
        self._undated = [name for name, has in dated if not has and blocks is None]
        if self._undated:
            self.warnings.append(
                f"no block times for {', '.join(self._undated)} (no block_timestamp column, no "
                "blocks table): timestamps are 0 and time windows cannot be applied"
            )
        union = "\nUNION ALL\n".join(f"({p})" for p in parts)
        rows = f"SELECT *, {self._key('f')} AS fk, {self._key('t')} AS tk FROM ({union})"
        if sum(size for _, _, size in self._files) <= MATERIALIZE_BYTES:
            # small exports: parse the files once, not once per query
            self._con.execute(f"CREATE TEMP TABLE tron_rows AS {rows}")
            self._rows_sql = "tron_rows"
        else:
            self._rows_sql = f"({rows})"

    def _forms(self, addresses: list[str]) -> list[tuple[str, str]]:
        out = []
        for canon in addresses:
            hex41 = tron_to_hex(canon)
            out += [
                (canon, canon),
                (hex41, canon),
                ("0x" + hex41, canon),
                ("0x" + hex41[2:], canon),
            ]
        return out

    def _load_frontier(self, addresses: list[str]) -> None:
        forms = self._forms(addresses)
        self._con.execute(
            "CREATE OR REPLACE TEMP TABLE _f AS SELECT * FROM (SELECT unnest($1::VARCHAR[]) AS form, "
            "unnest($2::VARCHAR[]) AS canon)",
            [[f for f, _ in forms], [c for _, c in forms]],
        )

    @staticmethod
    def _key(expr: str) -> str:
        return f"(CASE WHEN starts_with({expr}, 'T') THEN {expr} ELSE lower({expr}) END)"

    def _matched_sql(self, since, until) -> tuple[str, list]:
        ts = "u.ts"
        join = ""
        if self._blocks_sql:
            join = f"LEFT JOIN ({self._blocks_sql}) b ON b.bn = u.block"
            ts = "coalesce(u.ts, b.bts)"
        window, params = "", []
        if since is not None or until is not None:
            if self._undated:
                raise SourceError(
                    f"cannot apply a time window: no block times for {', '.join(self._undated)}"
                )
            if since is not None:
                window += f" AND {ts} >= ?"
                params.append(int(since))
            if until is not None:
                window += f" AND {ts} <= ?"
                params.append(int(until))
        sql = f"""SELECT u.kind, u.asset, u.f, u.t, u.amount, u.tx, u.log_index, u.block,
                {ts} AS ts, u.tx_index, u.ok, ff.canon AS fc, ft.canon AS tc
            FROM {self._rows_sql} u
            LEFT JOIN _f ff ON ff.form = u.fk
            LEFT JOIN _f ft ON ft.form = u.tk
            {join}
            WHERE (ff.canon IS NOT NULL OR ft.canon IS NOT NULL)
              AND u.f IS NOT NULL AND u.tx IS NOT NULL AND u.block IS NOT NULL {window}"""
        return sql, params

    def _run(self, sql: str, params: list) -> list[tuple]:
        try:
            return self._con.execute(sql, params).fetchall()
        except duckdb.Error as error:
            raise SourceError(f"query on {self.data_dir} failed: {_one_line(error)}") from None

    # ------------------------------------------------------------------ public API

    def _frontier(self, addresses: Collection[str]) -> list[str]:
        if isinstance(addresses, str):
            addresses = [addresses]
        out = set()
        for a in addresses:
            if a and str(a).strip():
                try:
                    out.add(self.book(a))
                except InvalidAddress as error:
                    raise SourceError(f"tron bulk source: {error}") from None
        return sorted(out)

    def transfers(
        self,
        addresses: Collection[str],
        since: int | None = None,
        until: int | None = None,
    ) -> list[Transfer]:
        """Every transfer touching ``addresses`` in [since, until], failed TRX transfers
        included with ``success=False``, in chain order, each once. One query per call."""
        frontier = self._frontier(addresses)
        if not frontier:
            return []
        with self._lock:
            sql, params = self._matched_sql(since, until)
            self._load_frontier(frontier)
            rows = self._run(sql, params)
        out: dict[tuple, Transfer] = {}
        for kind, asset, f, t, amount, tx, log_index, block, ts, tx_index, ok, fc, tc in rows:
            sender = fc or self.book.get(f)
            receiver = tc or self.book.get(t)
            token = "native" if kind == 0 else self.book.get(asset)
            if sender is None or receiver is None or token is None:
                continue  # a side that is no address (creation, burn, corrupted row)
            tx_hash = tx_id(tx)
            identity = (kind, tx_hash, log_index)
            if identity in out:
                continue
            try:
                value = _amount(amount)
            except (TypeError, ValueError, InvalidOperation):
                raise SourceError(
                    f"{self.data_dir.name}: unparseable value {str(amount)[:40]!r} in transaction "
                    f"{tx_hash}"
                ) from None
            out[identity] = Transfer(
                chain=self.chain,
                asset=token,
                from_address=sender,
                to_address=receiver,
                amount=value,
                decimals=self.native_decimals
                if kind == 0
                else self._tokens.get(token, ("", None))[1],
                tx_hash=tx_hash,
                log_index=None if kind == 0 else log_index,
                block_number=block,
                timestamp=ts or 0,
                tx_index=tx_index or 0,
                success=bool(ok),
                source=self.source,
                kind="native" if kind == 0 else "token",
            )
        return sorted(out.values(), key=lambda t: (t.position, t.transfer_id))

    def degrees(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> dict[str, int]:
        """Transfers per address (as :meth:`transfers` counts them), for the fan-out guard."""
        frontier = self._frontier(addresses)
        counts = dict.fromkeys(frontier, 0)
        if not frontier:
            return counts
        with self._lock:
            sql, params = self._matched_sql(since, until)
            sql = f"""WITH m AS ({sql}), d AS (SELECT DISTINCT kind, tx, log_index, fc, tc FROM m)
                SELECT a, count(*) FROM (
                    SELECT fc AS a FROM d WHERE fc IS NOT NULL
                    UNION ALL
                    SELECT tc FROM d WHERE tc IS NOT NULL AND (fc IS NULL OR fc <> tc)
                ) GROUP BY a"""
            self._load_frontier(frontier)
            for address, count in self._run(sql, params):
                counts[address] = int(count)
        return counts

    def delegations(
        self, addresses: Collection[str], since: int | None = None, until: int | None = None
    ) -> list[Delegation]:
        """Resource delegations to or from ``addresses`` (``transactions`` rows of the
        delegation contract types)."""
        tx = self._tables.get("transactions")
        frontier = self._frontier(addresses)
        if tx is None or not tx.has("contract_type") or not frontier:
            return []
        ts, _ = self._time(tx)
        resource = self._text(tx, "resource") if tx.has("resource") else "NULL"
        kinds = ", ".join(_lit(k) for k in DELEGATION_TYPES)
        window, params = "", []
        if since is not None:
            window += f" AND coalesce({ts}, 0) >= ?"
            params.append(int(since))
        if until is not None:
            window += f" AND coalesce({ts}, 0) <= ?"
            params.append(int(until))
        sql = f"""SELECT {self._text(tx, "from_address")}, {self._text(tx, "to_address")},
                {resource}, {self._text(tx, "value")}, {self._text(tx, "hash")},
                {self._int(tx, "block_number")}, {ts}, {self._ctype}
            FROM src_transactions
            WHERE {self._ctype} IN ({kinds}) AND {self._ok}
              AND ({self._key(self._text(tx, "from_address"))} IN (SELECT form FROM _f)
                   OR {self._key(self._text(tx, "to_address"))} IN (SELECT form FROM _f)) {window}"""
        with self._lock:
            self._load_frontier(frontier)
            rows = self._run(sql, params)
        found = {}
        for f, t, res, value, tx_hash, block, ts_value, ctype in rows:
            sender, receiver = self.book.get(f), self.book.get(t)
            if sender is None or receiver is None or block is None:
                continue
            d = Delegation(
                sender,
                receiver,
                str(res or "BANDWIDTH").upper(),
                _amount(value or 0),
                tx_id(tx_hash),
                block,
                ts_value or 0,
                ctype,
            )
            found[(d.tx_hash, d.from_address, d.to_address)] = d
        return sorted(found.values(), key=lambda d: (d.position, d.tx_hash))

    def blacklist_events(self, contract: str, until: int | None = None) -> list[BlacklistEvent]:
        """The issuer events of ``contract`` up to ``until`` from ``blacklist_events``."""
        t = self._tables.get("blacklist_events")
        if t is None:
            return []
        token = self.book.get(contract)
        if token is None:
            raise SourceError(f"tron bulk source: not a Tron contract address: {contract!r}")
        ts, _ = self._time(t)
        index = self._int(t, "event_index") if t.has("event_index") else "0"
        amount = self._text(t, "amount") if t.has("amount") else "NULL"
        names = ", ".join(_lit(n) for n in BLACKLIST_EVENTS)
        with self._lock:
            rows = self._run(
                f"""SELECT {self._text(t, "contract_address")}, {self._text(t, "event_name")},
                    {self._text(t, "address")}, {self._text(t, "transaction_hash")},
                    {self._int(t, "block_number")}, {ts}, {index}, {amount}
                FROM src_blacklist_events WHERE {self._text(t, "event_name")} IN ({names})""",
                [],
            )
        out = set()
        for c, event, who, tx, block, ts_value, idx, value in rows:
            if self.book.get(c) != token or block is None:
                continue
            address = self.book.get(who)
            if address is None or (until is not None and (ts_value or 0) > until):
                continue
            out.add(
                BlacklistEvent(
                    token,
                    event,
                    address,
                    tx_id(tx),
                    block,
                    ts_value or 0,
                    idx or 0,
                    _amount(value) if value not in (None, "") else None,
                )
            )
        return sorted(out, key=lambda e: e.order)

    def token_symbols(self) -> dict[str, tuple[str, int | None]]:
        return {a: v for a, v in sorted(self._tokens.items()) if v[0]}

    def _sha256(self, rel: str) -> str:
        if rel not in self._hashes:
            digest = hashlib.sha256()
            with open(self.data_dir / rel, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self._hashes[rel] = digest.hexdigest()
        return self._hashes[rel]

    def fingerprint(self) -> dict:
        try:
            files = [
                {"path": rel, "table": table, "bytes": size, "sha256": self._sha256(rel)}
                for rel, table, size in self._files
            ]
        except OSError as error:
            raise SourceError(f"cannot hash {self.data_dir}: {_one_line(error)}") from None
        return {
            "source": self.source,
            "kind": self.name,
            "chain": self.chain,
            "data_dir": str(self.data_dir),
            "layout": "tron-exports",
            "tables": sorted({table for _, table, _ in self._files}),
            "files": files,
            "warnings": list(self.warnings),
        }

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"TronBulkSource({str(self.data_dir)!r})"


def factory(chain: str, data=None, **rest):
    """``open_source("duckdb", "tron", data=...)``: Tron exports. The Tron reader keeps no index,
    so ``--cache`` (the EVM reader's index folder) is refused like every unused option."""
    from tracer.sources import _unused

    _unused("duckdb (tron)", rest)
    if data is None:
        raise SourceError("--data DIR is required with --source duckdb")
    return TronBulkSource(data)


__all__ = ["TronBulkSource", "factory", "TABLES", "REQUIRED"]
