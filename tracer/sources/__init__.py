"""Data sources. Each yields :class:`tracer.records.Transfer` batches for a whole frontier.

``open_source(kind, chain, **options)`` builds one by name. Register a new kind in ``FACTORIES``
with a small function that imports its module lazily (so the CLI starts fast) and accepts the
options it understands: ``data``, ``rpc_url``, ``api_url``, ``cache``, ``rps``. An option a
source cannot use is an error, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from tracer.bitcoin.factories import FACTORIES as BITCOIN_FACTORIES
from tracer.sources.base import Source, SourceError


def _unused(kind: str, options: dict) -> None:
    extra = sorted(k for k, v in options.items() if v is not None)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise SourceError(f"--source {kind} does not take {flags}")


def _duckdb(chain: str, data=None, cache=None, **rest) -> Source:
    from tracer.sources.bulk import BulkSource

    _unused("duckdb", rest)
    if data is None:
        raise SourceError("--data DIR is required with --source duckdb")
    source = BulkSource(data, chain=chain, cache_dir=cache or _writable_cache(data))
    if source.index_status != "used":
        source.build_index()  # built once, reused while the files are unchanged
    return source


def _writable_cache(data) -> str:
    """``<data>/.tracer`` when the data directory is writable, else the user's cache folder."""
    import os
    from pathlib import Path

    local = Path(data).expanduser() / ".tracer"
    if os.access(local if local.exists() else Path(data).expanduser(), os.W_OK):
        return str(local)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(base / "tracer" / "index")


def _duckdb_or_tron(chain: str, **options) -> Source:
    """Tron (issue 5): ``--source duckdb --chain tron`` reads Tron exports (tracer/tron/bulk.py)."""
    if str(chain).lower() == "tron":
        from tracer.tron.bulk import factory

        return factory(chain, **options)
    return _duckdb(chain, **options)


FACTORIES: dict[str, Callable[..., Source]] = {
    "duckdb": _duckdb_or_tron,  # EVM exports (sources/bulk.py); Tron exports (tron/bulk.py)
    **BITCOIN_FACTORIES,  # esplora, bitcoin-core, bitcoin-etl (tracer/bitcoin, issue 6)
    "rpc": lambda c, **o: __import__("tracer.sources.rpc", None, None, "_").factory(c, **o),
    "etherscan": lambda c, **o: __import__("tracer.sources.etherscan", {}, {}, "_").factory(c, **o),
    "trongrid": lambda c, **o: __import__("tracer.tron.trongrid", {}, {}, "_").factory(c, **o),
    # issue 9 (tracer/spark): the DuckDB rules as Spark jobs; options data, spark_master
    "spark": lambda c, **o: __import__("tracer.spark", {}, {}, "_").factory(c, **o),
}


def open_source(kind: str, chain: str, **options) -> Source:
    """The source called ``kind`` for ``chain``."""
    factory = FACTORIES.get(kind)
    if factory is None:
        raise SourceError(f"unknown source {kind!r} (available: {', '.join(sorted(FACTORIES))})")
    return factory(chain, **options)


__all__ = ["open_source", "Source", "SourceError", "FACTORIES"]
