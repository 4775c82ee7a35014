"""Scale-out (issue 9): the same trace on Spark, for full-chain datasets.

``tracer trace --source spark --data PATH [--spark-master URL]``. :class:`SparkSource`
(``source.py``) expands each hop as a Spark job over the export tables, normalized with the
DuckDB source's rules; its ``ledger_runner`` (``runner.py``) replays a round's ledgers on the
executors; ``session.py`` starts the SparkSession (``local[2]`` on 127.0.0.1 by default).
PySpark is imported only when a source is opened (``pip install 'tracer[spark]'``).
See docs/spark.md.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "SparkSource":
        from tracer.spark.source import SparkSource

        return SparkSource
    if name == "SparkLedgerRunner":
        from tracer.spark.runner import SparkLedgerRunner

        return SparkLedgerRunner
    raise AttributeError(name)


def factory(chain: str, data=None, spark_master=None, **rest):
    """``open_source("spark", chain, data=..., spark_master=...)``."""
    from tracer.sources import _unused
    from tracer.sources.base import SourceError

    _unused("spark", rest)
    if data is None:
        raise SourceError(
            "--data DIR (or bigquery:PROJECT.DATASET) is required with --source spark"
        )
    from tracer.spark.source import SparkSource

    return SparkSource(data, chain=chain, master=spark_master)


__all__ = ["SparkSource", "SparkLedgerRunner", "factory"]
