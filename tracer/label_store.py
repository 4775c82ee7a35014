"""A local label store: millions of labels in one DuckDB file, every one with its provenance.

``tracer labels import PATH...`` fills it; ``tracer labels show ADDRESS`` and ``tracer trace
--label-store FILE`` read it. Nothing is merged or overwritten: each row is one claim by one
source (label, category, entity, role, source, confidence, date, tier, the file and line it was
read from), so an address named by five lists shows five rows side by side. The engine's role
is chosen per lookup with the same precedence as :class:`tracer.labels.LabelIndex` (tier, then
confidence, then :data:`tracer.labels.ROLE_PRIORITY`).

Layout (schema 1):

* ``labels``: one row per label, with ``k``, a 64-bit key of ``(chain, canonical address)``
  (:func:`tracer.importers._normalize.address_key`). Each import is appended sorted by ``k``,
  so DuckDB's per-row-group min/max skips almost all of the table for a point lookup.
* ``files``: one row per imported file: path, SHA-256, size, format, tier, counts, time. Re-
  importing an unchanged file is a no-op; a changed file replaces its earlier rows.
* ``roles``: one row per key (sorted by ``k``): the engine role of the address and the row id
  of the deciding label, decided once per import by the precedence below, so a frontier's
  roles are read from one narrow table (kept in memory as three arrays) instead of from every
  label row. The deciding label itself is read only when asked for (flags, reports).
* ``meta``: schema and key version.

Lookups: the sorted set of keys is loaded once per process (8 bytes per label) and answers
"is this address labelled at all" in microseconds, so the engine's one-address-at-a-time
questions only reach DuckDB for addresses that have labels; :meth:`LabelStore.lookup_many`
answers a whole frontier with one join.

Bulk import reads files column-wise (:mod:`tracer.importers`), validates every address (a bad
row is reported with file and line and skipped) and inserts Arrow tables, never row by row.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracer import __version__
from tracer.addresses import normalize
from tracer.importers import (
    LabelFormatError,
    address_key,
    import_file,
    labels_to_table,
)
from tracer.importers._normalize import normalize_column
from tracer.labels import (
    _ROLE_RANK,
    _TIER_RANK,
    TIERS,
    Label,
    LabelFileError,
    RoleMatch,
    _expand,
    _loader_for,
    label_unchecked,
    load_actors,
    load_yaml_labels,
)

__all__ = [
    "ENV_STORE",
    "RoleMatches",
    "FileReport",
    "ImportReport",
    "LabelStore",
    "LabelStoreError",
    "MergedLabels",
    "default_store_path",
]

ENV_STORE = "TRACER_LABEL_STORE"
SCHEMA_VERSION = "1"
KEY_VERSION = "1"
_CACHE_SIZE = 50_000
_FLUSH_ROWS = 2_000_000  # rows gathered before one bulk insert
_YAML = (".yaml", ".yml")
_ACTORPACK_SUFFIXES = (".actorpack.yaml", ".actorpack.yml")

#: Role codes of the ``roles`` table (index into this tuple); ``_AMBIGUOUS``: one key, several
#: addresses (a 64-bit key collision), answered from the labels themselves.
_ROLE_CODES = tuple(sorted(_ROLE_RANK, key=_ROLE_RANK.get))
_AMBIGUOUS = 255

_COLUMNS = (
    "chain, address, label, category, entity, role, source, confidence, lastmod, concepts, "
    "tier, file_id, line, origin"
)


class LabelStoreError(LabelFileError):
    """The store cannot be opened or written (missing, locked, wrong schema)."""


def default_store_path() -> Path:
    """``$TRACER_LABEL_STORE``, else ``$XDG_CACHE_HOME/tracer/labels.duckdb`` (``~/.cache``)."""
    env = os.environ.get(ENV_STORE)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tracer" / "labels.duckdb"


@dataclass
class FileReport:
    """What happened to one file in an import."""

    path: str
    status: str  # imported | replaced | unchanged | failed
    format: str = ""
    tier: str = ""
    read: int = 0
    imported: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return sum(f.imported for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def warnings(self) -> list[str]:
        return [w for f in self.files for w in f.warnings]


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _sort_key_order(label: Label) -> tuple:
    return label.sort_key()


def _prepare(path: Path, tier, names, unchanged: dict[str, str]):
    """Read and validate one file, no store access: (report, table or None, sha, size, error)."""
    try:
        if _loader_for(path) is None:
            raise LabelFileError(f"{path}: no label importer for {path.suffix or 'this file'!r}")
        resolved = str(path.resolve())
        sha, size = _sha256(path)
        if unchanged.get(resolved) == sha:
            return FileReport(resolved, "unchanged"), None, sha, size, None
        if path.suffix.lower() in _YAML:
            labels, warnings = load_yaml_labels(path, tier=tier, actors=names)
            table = labels_to_table(labels)
            fmt = "yaml"
            file_tier = labels[0].tier if labels else (tier or "imported")
            read, skipped = len(labels), 0
        else:
            batch = import_file(path)
            table, warnings, fmt = batch.table, batch.warnings, batch.format
            file_tier = tier or "imported"
            read, skipped = batch.read, batch.skipped
    except (LabelFileError, LabelFormatError, OSError) as e:
        if isinstance(e, OSError):
            e = LabelFileError(f"{path}: {e.strerror or e}")
        return FileReport(str(path), "failed"), None, "", 0, e
    fr = FileReport(
        resolved,
        "replaced" if resolved in unchanged else "imported",
        format=fmt,
        tier=file_tier,
        read=read,
        imported=table.num_rows,
        skipped=skipped,
        warnings=warnings,
    )
    return fr, table, sha, size, None


def _prepare_timed(args):
    path, tier, names, unchanged = args
    start = time.perf_counter()
    out = _prepare(path, tier, names, unchanged)
    out[0].seconds = time.perf_counter() - start
    return out


_PARALLEL_MIN_FILES = 64


def _prepare_all(files: list[Path], tier, names, unchanged, workers: int | None):
    """(path, prepared) in file order; in worker processes when there are many files."""
    cpus = os.cpu_count() or 1
    workers = min(4, cpus) if workers is None else max(1, workers)
    jobs = [(f, tier, names, unchanged) for f in files]
    if workers > 1 and len(files) >= _PARALLEL_MIN_FILES:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of this process's DuckDB threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            yield from zip(files, pool.map(_prepare_timed, jobs, chunksize=16), strict=True)
        return
    for job in jobs:
        yield job[0], _prepare_timed(job)


def _constant_strings(value: str, n: int) -> pa.Array:
    """n copies of one string, built in Arrow (a Python list of millions of strings is slow)."""
    indices = pa.array(np.zeros(n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value])).cast(pa.string())


def _row_origin(row: tuple, paths: dict[int, str]) -> str:
    origin, file_id, line = row[13], row[11], row[12]
    if origin is not None:
        return origin
    path = paths.get(file_id, "?")
    return f"{path}:{line}" if line is not None else path


def _row_sort_key(row: tuple, paths: dict[int, str]) -> tuple:
    """:meth:`tracer.labels.Label.sort_key` of a stored row (:data:`_COLUMNS` order)."""
    return (
        _TIER_RANK[row[10]],
        -int(row[7]),
        _ROLE_RANK[row[5]],
        row[6],
        row[2],
        _row_origin(row, paths),
        row[3] or row[5],
        row[4] or "",
    )


class _RoleSurface:
    """``role_of``/``entity_of`` on top of ``lookup``, exactly as :class:`LabelIndex` does."""

    def lookup(self, chain: str, address: str) -> list[Label]:  # pragma: no cover - abstract
        raise NotImplementedError

    def role_of(self, chain: str, address: str) -> RoleMatch | None:
        found = self.lookup(chain, address)
        if not found:
            return None
        best = found[0]
        return RoleMatch(best.role, best.entity or best.label, best)

    def entity_of(self, chain: str, address: str) -> str | None:
        for lab in self.lookup(chain, address):
            if lab.entity:
                return lab.entity
        return None


class LabelStore(_RoleSurface):
    """A DuckDB label store (see the module docstring). Use as a context manager or close()."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.read_only = read_only
        if read_only and not self.path.is_file():
            raise LabelStoreError(
                f"label store not found: {self.path} (create it with: tracer labels import PATH "
                f"--store {self.path})"
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as e:
            msg = " ".join(str(e).split())
            if "lock" in msg.lower():
                msg = "another process has it open for writing (" + msg[:160] + ")"
            raise LabelStoreError(f"cannot open label store {self.path}: {msg}") from None
        self._keys: np.ndarray | None = None
        self._files: dict[int, str] | None = None
        self._count: int | None = None
        self._cache: OrderedDict[tuple[str, str], list[Label]] = OrderedDict()
        self._roles: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._role_cache: OrderedDict[tuple[str, str], Mapping[str, RoleMatch]] = OrderedDict()
        self._has_roles = False
        self._init_schema()

    # ---------------------------------------------------------------------------------- setup

    def _init_schema(self) -> None:
        tables = {
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if "meta" in tables:
            meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("schema") != SCHEMA_VERSION or meta.get("key") != KEY_VERSION:
                raise LabelStoreError(
                    f"{self.path}: label store schema {meta.get('schema')!r}/key "
                    f"{meta.get('key')!r}, this tracer needs {SCHEMA_VERSION}/{KEY_VERSION}: "
                    "import the lists again into a new store"
                )
            self._has_roles = "roles" in tables
            if not self._has_roles and not self.read_only:  # a store from before the table
                self._rebuild_roles()
            return
        if self.read_only:
            raise LabelStoreError(f"{self.path}: not a tracer label store (no 'meta' table)")
        if tables:
            raise LabelStoreError(f"{self.path}: DuckDB file with other tables, not a label store")
        self.con.execute("BEGIN")
        self.con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self.con.execute(
            "INSERT INTO meta VALUES ('schema', ?), ('key', ?), ('created_by', ?)",
            [SCHEMA_VERSION, KEY_VERSION, f"tracer {__version__}"],
        )
        self.con.execute(
            """CREATE TABLE files (
                file_id INTEGER PRIMARY KEY, path VARCHAR, sha256 VARCHAR, bytes BIGINT,
                format VARCHAR, tier VARCHAR, imported_at VARCHAR, read BIGINT, rows BIGINT,
                skipped BIGINT, tool VARCHAR)"""
        )
        self.con.execute(
            """CREATE TABLE labels (
                k UBIGINT, chain VARCHAR, address VARCHAR, label VARCHAR, category VARCHAR,
                entity VARCHAR, role VARCHAR, source VARCHAR, confidence UTINYINT,
                lastmod VARCHAR, concepts VARCHAR, tier VARCHAR, file_id INTEGER, line BIGINT,
                origin VARCHAR)"""
        )
        self.con.execute("CREATE TABLE roles (k UBIGINT, role UTINYINT, r BIGINT, n BIGINT)")
        self.con.execute("COMMIT")
        self._has_roles = True

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _invalidate(self) -> None:
        self._keys = None
        self._files = None
        self._count = None
        self._roles = None
        self._cache.clear()
        self._role_cache.clear()

    # --------------------------------------------------------------------------------- import

    def import_paths(
        self,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        *,
        tier: str | None = None,
        actors: Mapping[str, str] | str | os.PathLike | None = None,
        strict: bool = False,
        progress: Callable[[FileReport], None] | None = None,
        workers: int | None = None,
    ) -> ImportReport:
        """Import files and directories (searched recursively) into the store.

        ``tier=None`` keeps each file's natural tier (case files ``case``, entity files
        ``curated``, all other lists ``imported``). With ``strict`` a file that cannot be read
        raises; otherwise it is reported as ``failed`` and the others are imported. Files are
        read and validated in ``workers`` processes when there are many (default: up to 4, one
        per CPU); the store itself is written by this process only, in file order.
        """
        if self.read_only:
            raise LabelStoreError(f"{self.path}: opened read-only")
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r} (known: {', '.join(TIERS)})")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = _expand(paths)
        names: dict[str, str] = {}
        if isinstance(actors, (str, os.PathLike)):
            names.update(load_actors(actors))
        elif actors:
            names.update(actors)
        label_files = []
        for f in dict.fromkeys(f.resolve() for f in files):
            if f.name.lower().endswith(_ACTORPACK_SUFFIXES):
                names.update(load_actors(f))
            else:
                label_files.append(f)
        report = ImportReport()
        known = {
            path: (file_id, sha)
            for file_id, path, sha in self.con.execute(
                "SELECT file_id, path, sha256 FROM files"
            ).fetchall()
        }
        next_id = max((fid for fid, _ in known.values()), default=0) + 1
        pending: list[tuple[FileReport, pa.Table, int, str, int, int | None]] = []
        pending_rows = 0
        unchanged = {path: sha for path, (_, sha) in known.items()}
        for f, prepared in _prepare_all(label_files, tier, names, unchanged, workers):
            fr, table, sha, size, error = prepared
            if error is not None:
                if strict:
                    raise error
                fr = FileReport(str(f), "failed", error=str(error), seconds=fr.seconds)
            if table is not None:
                old = known.get(fr.path)
                pending.append((fr, table, next_id, sha, size, old[0] if old else None))
                known[fr.path] = (next_id, sha)
                next_id += 1
                pending_rows += table.num_rows
            report.files.append(fr)
            if progress is not None:
                progress(fr)
            if pending_rows >= _FLUSH_ROWS:
                self._flush(pending)
                pending, pending_rows = [], 0
        self._flush(pending)
        if any(f.status in ("imported", "replaced") for f in report.files):
            self._rebuild_roles()
        self._invalidate()
        return report

    def _flush(self, pending) -> None:
        """Write prepared files in one transaction: their rows sorted by key, one insert."""
        if not pending:
            return
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        tables = []
        file_rows = []
        replaced = [old for *_, old in pending if old is not None]
        for fr, table, file_id, sha, size, _ in pending:
            n = table.num_rows
            tables.append(
                table.append_column("tier", _constant_strings(fr.tier, n)).append_column(
                    "file_id", pa.array(np.full(n, file_id, dtype=np.int32))
                )
            )
            file_rows.append(
                (file_id, fr.path, sha, size, fr.format, fr.tier, now, fr.read, n, fr.skipped)
            )
        if len(tables) == 1 and pending[0][0].format != "yaml":
            rows = tables[0]  # one validated file: already sorted by key (importers.finish)
        else:
            rows = pa.concat_tables(tables).sort_by("k")
        files = pa.table(
            {
                name: pa.array([r[i] for r in file_rows])
                for i, name in enumerate(
                    ["file_id", "path", "sha256", "bytes", "format", "tier", "imported_at"]
                    + ["read", "rows", "skipped"]
                )
            }
        )
        self.con.execute("BEGIN")
        try:
            if replaced:
                marks = ", ".join("?" * len(replaced))
                self.con.execute(f"DELETE FROM labels WHERE file_id IN ({marks})", replaced)
                self.con.execute(f"DELETE FROM files WHERE file_id IN ({marks})", replaced)
            self.con.register("_files", files)
            self.con.execute(
                "INSERT INTO files SELECT file_id::INTEGER, path, sha256, bytes, format, tier, "
                "imported_at, read, rows, skipped, ? FROM _files",
                [f"tracer {__version__}"],
            )
            self.con.unregister("_files")
            self.con.register("_batch", rows)
            self.con.execute(
                """INSERT INTO labels SELECT k, chain, address, label, category, entity, role,
                   source, confidence, lastmod, concepts, tier, file_id, line, NULL AS origin
                   FROM _batch"""
            )
            self.con.unregister("_batch")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def add(self, labels: Iterable[Label], *, name: str = "api") -> int:
        """Add labels made in Python as one pseudo-file ``name`` (replacing an earlier ``name``)."""
        if self.read_only:
            raise LabelStoreError(f"{self.path}: opened read-only")
        labels = list(labels)
        table = labels_to_table(labels)
        sha = hashlib.sha256(
            "\n".join(repr(lab) for lab in sorted(labels, key=_sort_key_order)).encode()
        ).hexdigest()
        self.con.execute("BEGIN")
        try:
            for (file_id,) in self.con.execute(
                "SELECT file_id FROM files WHERE path = ?", [name]
            ).fetchall():
                self.con.execute("DELETE FROM labels WHERE file_id = ?", [file_id])
                self.con.execute("DELETE FROM files WHERE file_id = ?", [file_id])
            file_id = self.con.execute(
                "SELECT coalesce(max(file_id), 0) + 1 FROM files"
            ).fetchall()[0][0]
            self.con.execute(
                "INSERT INTO files VALUES (?, ?, ?, 0, 'python', 'mixed', ?, ?, ?, 0, ?)",
                [
                    file_id,
                    name,
                    sha,
                    _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    len(labels),
                    len(labels),
                    f"tracer {__version__}",
                ],
            )
            # tier and origin are per label: added before sorting by key, so rows stay whole
            table = table.append_column("tier", pa.array([lab.tier for lab in labels]))
            table = table.append_column("origin", pa.array([lab.origin for lab in labels]))
            table = table.sort_by("k")
            self.con.register("_batch", table)
            self.con.execute(
                """INSERT INTO labels SELECT k, chain, address, label, category, entity, role,
                   source, confidence, lastmod, concepts, tier, ? AS file_id, line, origin
                   FROM _batch""",
                [file_id],
            )
            self.con.unregister("_batch")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._rebuild_roles()
        self._invalidate()
        return len(labels)

    def remove(self, path: str | os.PathLike) -> int:
        """Forget an imported file (by the path it was imported from); returns rows removed."""
        if self.read_only:
            raise LabelStoreError(f"{self.path}: opened read-only")
        key = str(Path(path).resolve()) if Path(path).exists() else str(path)
        ids = [
            r[0]
            for r in self.con.execute("SELECT file_id FROM files WHERE path = ?", [key]).fetchall()
        ]
        removed = 0
        for file_id in ids:
            removed += self.con.execute(
                "SELECT count(*) FROM labels WHERE file_id = ?", [file_id]
            ).fetchall()[0][0]
            self.con.execute("DELETE FROM labels WHERE file_id = ?", [file_id])
            self.con.execute("DELETE FROM files WHERE file_id = ?", [file_id])
        if ids:
            self._rebuild_roles()
        self._invalidate()
        return removed

    def _rebuild_roles(self) -> None:
        """Decide the engine role of every labelled address once (the ``roles`` table).

        Keys with one label (nearly all) take it as it is, in one grouped pass over the key
        column; the few keys with several labels are decided here with :func:`_row_sort_key`,
        the precedence :meth:`lookup` sorts by, so both paths always agree."""
        codes = "[" + ", ".join(f"'{r}'" for r in _ROLE_CODES) + "]"
        self.con.execute("BEGIN")
        try:
            self.con.execute(
                "CREATE OR REPLACE TABLE roles AS SELECT k, "
                f"coalesce(list_position({codes}, any_value(role)) - 1, {_AMBIGUOUS})::UTINYINT "
                "AS role, "
                "min(rowid) AS r, count(*) AS n FROM labels GROUP BY k ORDER BY k"
            )
            rows = self.con.execute(
                f"SELECT l.k, l.rowid, {_COLUMNS} FROM labels l "
                "SEMI JOIN (SELECT k FROM roles WHERE n > 1) m ON l.k = m.k"
            ).fetchall()
            if rows:
                self._files = None
                paths = self._file_paths()
                by_key: dict[int, list[tuple]] = {}
                for row in rows:
                    by_key.setdefault(row[0], []).append(row)
                decided = {"k": [], "role": [], "r": []}
                for key, group in by_key.items():
                    best = min(group, key=lambda g: _row_sort_key(g[2:], paths))
                    role, rowid = _AMBIGUOUS, -1  # answered from the label rows
                    if len({(g[2], g[3]) for g in group}) == 1 and best[7] in _ROLE_CODES:
                        role, rowid = _ROLE_CODES.index(best[7]), best[1]
                    decided["k"].append(key)
                    decided["role"].append(role)
                    decided["r"].append(rowid)
                update = pa.table(
                    {
                        "k": pa.array(decided["k"], type=pa.uint64()),
                        "role": pa.array(decided["role"], type=pa.uint8()),
                        "r": pa.array(decided["r"], type=pa.int64()),
                    }
                )
                self.con.register("_decided", update)
                self.con.execute(
                    "UPDATE roles SET role = d.role, r = d.r FROM _decided d WHERE roles.k = d.k"
                )
                self.con.unregister("_decided")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._has_roles = True

    # --------------------------------------------------------------------------------- lookup

    def _role_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The ``roles`` table in memory: (sorted keys, role codes, deciding row ids)."""
        if self._roles is None and self._has_roles:
            t = self.con.sql("SELECT k, role, r FROM roles").to_arrow_table()
            if t.num_rows:
                keys, codes, rowids = (
                    t.column(i).to_numpy().astype(dt, copy=False)
                    for i, dt in enumerate((np.uint64, np.uint8, np.int64))
                )
                if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():  # written sorted
                    order = np.argsort(keys, kind="stable")
                    keys, codes, rowids = keys[order], codes[order], rowids[order]
            else:
                keys = np.zeros(0, dtype=np.uint64)
                codes = np.zeros(0, dtype=np.uint8)
                rowids = np.zeros(0, dtype=np.int64)
            self._roles = (keys, codes, rowids)
        return self._roles

    def _key_set(self) -> np.ndarray:
        if self._keys is None and self._role_table() is not None:
            self._keys = self._role_table()[0]  # one row per key: the key set itself
        if self._keys is None:
            col = self.con.sql("SELECT k FROM labels").to_arrow_table().column(0)
            keys = col.to_numpy() if col.num_chunks else np.zeros(0, dtype=np.uint64)
            keys = np.sort(keys.astype(np.uint64, copy=False))  # (np.unique is far slower here)
            if len(keys):
                keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
            self._keys = keys
        return self._keys

    def _file_paths(self) -> dict[int, str]:
        if self._files is None:
            self._files = dict(self.con.execute("SELECT file_id, path FROM files").fetchall())
        return self._files

    def _has_key(self, key: int) -> bool:
        keys = self._key_set()
        i = int(np.searchsorted(keys, np.uint64(key)))
        return i < len(keys) and int(keys[i]) == key

    def _labels_from_rows(self, rows) -> list[Label]:
        paths = self._file_paths()
        out = []
        for (
            chain,
            address,
            label,
            category,
            entity,
            role,
            source,
            confidence,
            lastmod,
            concepts,
            tier,
            file_id,
            line,
            origin,
        ) in rows:
            if origin is None:
                path = paths.get(file_id, "?")
                origin = f"{path}:{line}" if line is not None else path
            out.append(
                label_unchecked(
                    chain=chain,
                    address=address,
                    label=label,
                    category=category or role,
                    entity=entity,
                    role=role,
                    source=source,
                    confidence=int(confidence),
                    origin=origin,
                    tier=tier,
                    lastmod=lastmod,
                    concepts=tuple(concepts.split(";")) if concepts else (),
                )
            )
        out.sort(key=_sort_key_order)
        return out

    def lookup(self, chain: str, address: str) -> list[Label]:
        """Every label of one address, best first (any spelling ``normalize`` accepts)."""
        chain = chain.lower()
        cached = self._cache.get((chain, address))
        if cached is not None:
            self._cache.move_to_end((chain, address))
            return list(cached)
        canonical = normalize(chain, address)
        key = address_key(chain, canonical)
        found: list[Label] = []
        if self._has_key(key):
            rows = self.con.execute(
                f"SELECT {_COLUMNS} FROM labels WHERE k = ? AND chain = ? AND address = ?",
                [key, chain, canonical],
            ).fetchall()
            found = self._labels_from_rows(rows)
        self._cache[(chain, address)] = found
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return list(found)

    def lookup_many(self, chain: str, addresses: Iterable[str]) -> dict[str, list[Label]]:
        """Labels of many addresses in one query: canonical address -> labels (best first).

        Addresses without labels, and invalid ones, are absent from the result.
        """
        grouped = self._rows_many(chain.lower(), addresses)
        return {a: self._labels_from_rows(rs) for a, rs in grouped.items()}

    def _rows_many(self, chain: str, addresses: Iterable[str]) -> dict[str, list[tuple]]:
        """Stored rows (:data:`_COLUMNS` order) of many addresses, grouped by address."""
        addresses = list(addresses)
        if not addresses:
            return {}
        canonical, keys, errors = normalize_column([chain] * len(addresses), addresses)
        valid = np.ones(len(addresses), dtype=bool)
        if errors:
            valid[np.fromiter(errors, dtype=np.int64, count=len(errors))] = False
        known = self._key_set()
        if not len(known):
            return {}
        order = np.argsort(keys)  # sorted probes: searchsorted walks the key set in order
        pos = np.searchsorted(known, keys[order])
        pos[pos >= len(known)] = 0
        hit = np.zeros(len(keys), dtype=bool)
        hit[order] = known[pos] == keys[order]
        idx = np.flatnonzero(hit & valid)
        if not len(idx):
            return {}
        wanted = set(canonical.take(pa.array(idx)).to_pylist())
        probe = pa.table({"k": pa.array(np.unique(keys[idx]), type=pa.uint64())})
        # two steps: match keys on the key column alone (cheap), then read only those rows
        self.con.register("_probe", probe)
        try:
            rowids = self.con.sql(
                "SELECT l.rowid AS r FROM labels l SEMI JOIN _probe p ON l.k = p.k"
            ).to_arrow_table()
            self.con.register("_rowids", rowids)
            rows = self.con.sql(
                f"SELECT {_COLUMNS} FROM labels l SEMI JOIN _rowids ON l.rowid = _rowids.r "
                "WHERE l.chain = ?",
                params=[chain],
            ).to_arrow_table()
        finally:
            self.con.unregister("_probe")
            self.con.unregister("_rowids")
        cols = [rows.column(i).to_pylist() for i in range(rows.num_columns)]
        grouped: dict[str, list] = {}
        for row in zip(*cols, strict=True):
            if row[1] in wanted:
                grouped.setdefault(row[1], []).append(row)
        return grouped

    def prefetch(self, chain: str, addresses: Iterable[str]) -> int:
        """Answer many future :meth:`role_of` calls at once (e.g. a whole frontier).

        Returns how many of the addresses have labels. Later ``role_of`` calls for these
        addresses (canonical spelling) are served from memory; ``lookup`` of an unlabelled
        address never reaches the database either (the key set is in memory).
        """
        chain = chain.lower()
        addresses = list(addresses)
        found = self.role_of_many(chain, addresses)
        canonical = normalize_column([chain] * len(addresses), addresses)[0].drop_null()
        # each address -> the frontier's answers (a match is made when role_of asks for it)
        self._role_cache.update(dict.fromkeys(((chain, a) for a in canonical.to_pylist()), found))
        while len(self._role_cache) > max(_CACHE_SIZE, len(addresses)):
            self._role_cache.popitem(last=False)
        return len(found)

    def role_of(self, chain: str, address: str) -> RoleMatch | None:
        """The engine's role of one address (answered from memory after :meth:`prefetch`)."""
        key = (chain.lower(), address)
        if key in self._role_cache:
            return self._role_cache[key].get(address)
        return super().role_of(chain, address)

    def role_of_many(self, chain: str, addresses: Iterable[str]) -> Mapping[str, RoleMatch]:
        """The engine's role for many addresses at once: canonical address -> match.

        Same choice as :meth:`role_of`, read from the ``roles`` table: the frontier's keys are
        found in memory, and one query reads back the address of each deciding row (a key is
        64 bits; the address makes the answer exact). The result is a read-only mapping whose
        matches are made when looked at, and each reads its deciding label only when asked for.
        Addresses without labels, and invalid ones, are absent.
        """
        chain = chain.lower()
        addresses = list(addresses)
        table = self._role_table()
        if table is None or not addresses:  # a store opened read-only from before the table
            return self._role_of_many_rows(chain, addresses)
        known, codes, rowids = table
        if not len(known):
            return {}
        canonical, keys, errors = normalize_column([chain] * len(addresses), addresses)
        order = np.argsort(keys)  # sorted probes: searchsorted walks the key set in order
        pos = np.empty(len(keys), dtype=np.int64)
        pos[order] = np.searchsorted(known, keys[order])
        pos[pos >= len(known)] = 0
        hit = known[pos] == keys
        if errors:
            hit[np.fromiter(errors, dtype=np.int64, count=len(errors))] = False
        idx = np.flatnonzero(hit)
        if not len(idx):
            return {}
        found = canonical.take(pa.array(idx))
        hit_codes = codes[pos[idx]]
        hit_rows = rowids[pos[idx]]
        # the address of each deciding row, read back in one query, compared column-wise
        self.con.register("_rowids", pa.table({"r": np.unique(hit_rows[hit_rows >= 0])}))
        try:
            stored = self.con.sql(
                "SELECT rowid AS r, chain, address FROM labels "
                "WHERE rowid IN (SELECT r FROM _rowids) ORDER BY r"
            ).to_arrow_table()
        finally:
            self.con.unregister("_rowids")
        stored_rows = stored.column("r").to_numpy()
        at = np.searchsorted(stored_rows, hit_rows)
        at[at >= len(stored_rows)] = 0
        same = (stored_rows[at] == hit_rows) if len(stored_rows) else np.zeros(len(idx), bool)
        same &= hit_codes != _AMBIGUOUS
        if same.any():
            take = pa.array(at)
            same &= pc.fill_null(
                pc.and_(
                    pc.equal(stored.column("address").take(take), found),
                    pc.equal(stored.column("chain").take(take), chain),
                ),
                False,
            ).to_numpy(zero_copy_only=False)
        names = found.to_pylist()
        out = RoleMatches(self, chain, names, hit_codes, hit_rows, same)
        redo = [a for a, ok in zip(names, same.tolist(), strict=True) if not ok]
        return out.with_extra(self._role_of_many_rows(chain, redo)) if redo else out

    def _deciding_label(self, rowid: int, chain: str, address: str) -> Label:
        """The label a ``roles`` row points at (checked to be that address's)."""
        rows = self.con.execute(
            f"SELECT {_COLUMNS} FROM labels WHERE rowid = ?", [rowid]
        ).fetchall()
        if rows and rows[0][0] == chain and rows[0][1] == address:
            return self._labels_from_rows(rows)[0]
        found = self.lookup(chain, address)
        if not found:
            raise LabelStoreError(f"{self.path}: the labels of {address} changed while in use")
        return found[0]

    def _role_of_many_rows(self, chain: str, addresses: Iterable[str]) -> dict[str, RoleMatch]:
        """:meth:`role_of_many` from the label rows themselves (every label of each address)."""
        paths = self._file_paths()
        out = {}
        for address, rows in self._rows_many(chain.lower(), addresses).items():
            best = min(rows, key=lambda r: _row_sort_key(r, paths)) if len(rows) > 1 else rows[0]
            lab = self._labels_from_rows([best])[0]
            out[address] = RoleMatch(lab.role, lab.entity or lab.label, lab)
        return out

    # ---------------------------------------------------------------------------------- views

    def __len__(self) -> int:
        if self._count is None:
            self._count = self.con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
        return self._count

    def __iter__(self) -> Iterator[Label]:
        cur = self.con.execute(f"SELECT {_COLUMNS} FROM labels ORDER BY k, chain, address")
        while True:
            rows = cur.fetchmany(10_000)
            if not rows:
                break
            yield from self._labels_from_rows(rows)

    def files(self) -> list[dict]:
        cols = ["file_id", "path", "sha256", "bytes", "format", "tier", "imported_at", "read"]
        cols += ["rows", "skipped", "tool"]
        return [
            dict(zip(cols, r, strict=True))
            for r in self.con.execute(
                f"SELECT {', '.join(cols)} FROM files ORDER BY file_id"
            ).fetchall()
        ]

    def stats(self) -> dict:
        """Counts by tier, role and chain (for ``tracer labels stats``)."""
        out: dict = {"labels": len(self), "files": len(self.files())}
        for col in ("tier", "role", "chain"):
            out[col] = dict(
                self.con.execute(
                    f"SELECT {col}, count(*) FROM labels GROUP BY {col} ORDER BY count(*) DESC"
                ).fetchall()
            )
        out["addresses"] = self.con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT chain, address FROM labels)"
        ).fetchall()[0][0]
        return out

    def describe(self) -> dict:
        """Store provenance for a trace manifest: path, label count, imported files with SHA-256."""
        return {
            "path": str(self.path),
            "labels": len(self),
            "files": [
                {k: f[k] for k in ("path", "sha256", "format", "tier", "rows", "imported_at")}
                for f in self.files()
            ],
        }


class RoleMatches(Mapping):
    """:meth:`LabelStore.role_of_many`'s answer: canonical address -> :class:`RoleMatch`, each
    made on first access from the arrays the roles table gave (most callers look at a few)."""

    def __init__(self, store, chain, addresses, codes, rowids, ok, extra=None) -> None:
        keep = np.flatnonzero(ok)
        self._store, self._chain = store, chain
        self._codes = codes[keep]
        self._rowids = rowids[keep]
        self._at = {addresses[i]: j for j, i in enumerate(keep.tolist())}
        self._made: dict[str, RoleMatch] = dict(extra or {})

    def with_extra(self, extra: Mapping[str, RoleMatch]) -> RoleMatches:
        """Add matches decided elsewhere (from the label rows)."""
        self._made.update(extra)
        return self

    def __getitem__(self, address: str) -> RoleMatch:
        made = self._made.get(address)
        if made is None:
            j = self._at[address]  # KeyError: not labelled
            rowid = int(self._rowids[j])
            made = RoleMatch(
                _ROLE_CODES[self._codes[j]],
                load=partial(self._store._deciding_label, rowid, self._chain, address),
            )
            self._made[address] = made
        return made

    def __contains__(self, address: object) -> bool:
        return address in self._at or address in self._made

    def __iter__(self) -> Iterator[str]:
        yield from self._at
        yield from (a for a in self._made if a not in self._at)

    def __len__(self) -> int:
        return len(self._at) + sum(1 for a in self._made if a not in self._at)


class MergedLabels(_RoleSurface):
    """Several label sources seen as one (e.g. the trace's files plus a store), read-only.

    ``lookup`` returns the union, best first by the usual precedence; a label present in two
    sources with every field equal (origin included) is shown once.
    """

    def __init__(self, *sources) -> None:
        self.sources = [s for s in sources if s is not None]

    def prefetch(self, chain: str, addresses: Iterable[str]) -> int:
        """Pass a whole frontier to every source that can answer it at once."""
        addresses = list(addresses)
        return sum(s.prefetch(chain, addresses) for s in self.sources if hasattr(s, "prefetch"))

    def role_of(self, chain: str, address: str) -> RoleMatch | None:
        """The best of every source's own choice: the same as choosing over the union."""
        matches = [m for s in self.sources if (m := s.role_of(chain, address)) is not None]
        if len(matches) <= 1:
            return matches[0] if matches else None
        return min(matches, key=lambda m: m.label.sort_key())

    def lookup(self, chain: str, address: str) -> list[Label]:
        found: dict[Label, None] = {}
        for src in self.sources:
            for lab in src.lookup(chain, address):
                found.setdefault(lab, None)
        return sorted(found, key=_sort_key_order)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def __iter__(self) -> Iterator[Label]:
        for src in self.sources:
            yield from src
