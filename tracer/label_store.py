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
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

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
        self.con.execute("COMMIT")

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
        self._cache.clear()

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
                table.append_column(
                    "tier", pa.array([fr.tier] * n, type=pa.string())
                ).append_column("file_id", pa.array(np.full(n, file_id, dtype=np.int32)))
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
        table = labels_to_table(labels).sort_by("k")
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
            table = table.append_column("tier", pa.array([lab.tier for lab in labels]))
            table = table.append_column("origin", pa.array([lab.origin for lab in labels]))
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
        self._invalidate()
        return removed

    # --------------------------------------------------------------------------------- lookup

    def _key_set(self) -> np.ndarray:
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
        """Answer many future :meth:`lookup` calls with one query (e.g. a whole frontier).

        Returns how many of the addresses have labels. Later ``lookup`` calls for these
        addresses (canonical spelling) are served from memory.
        """
        chain = chain.lower()
        addresses = list(addresses)
        found = self.lookup_many(chain, addresses)
        canonical, _, errors = normalize_column([chain] * len(addresses), addresses)
        for i, address in enumerate(canonical.to_pylist()):
            if i in errors or address is None:
                continue
            self._cache[(chain, address)] = found.get(address, [])
        while len(self._cache) > max(_CACHE_SIZE, len(addresses)):
            self._cache.popitem(last=False)
        return len(found)

    def role_of_many(self, chain: str, addresses: Iterable[str]) -> dict[str, RoleMatch]:
        """The engine's role for many addresses at once (see :meth:`role_of`).

        Same choice as :meth:`role_of`; only the deciding label of each address is built.
        """
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
