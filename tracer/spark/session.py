"""One SparkSession per process, started with settings that are safe on a laptop or CI runner.

Local mode (``local[2]``) by default: the driver binds to 127.0.0.1, the web UI is off, shuffles
use a few partitions, time is UTC and the Python workers run this interpreter. A cluster master
(``spark://``, ``yarn``, ``k8s://``) keeps the cluster's own settings for everything that is not
given here (see docs/spark.md). Every failure to start becomes a one-line :class:`SourceError`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import sys
import threading

from tracer.sources.base import SourceError

DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "4g"

_LOCAL = re.compile(r"^local(\[(\*|\d+)(,\s*\d+)?\])?$")
_LOCAL_CLUSTER = re.compile(r"^local-cluster\[\d+,\s*\d+,\s*\d+\]$")
_STANDALONE = re.compile(r"^spark://([A-Za-z0-9.\-]+:\d+)(,[A-Za-z0-9.\-]+:\d+)*$")
_OTHER = re.compile(r"^(yarn|k8s://\S+|mesos://\S+)$")

_lock = threading.Lock()


def check_master(master: str) -> str:
    """The master URL, validated: ``local[N]``, ``local-cluster[..]``, ``spark://host:port``,
    ``yarn`` or ``k8s://...``. A standalone master must answer on its port."""
    text = (master or "").strip()
    if _LOCAL.match(text) or _LOCAL_CLUSTER.match(text) or _OTHER.match(text):
        return text
    if _STANDALONE.match(text):
        for hostport in text[len("spark://") :].split(","):
            host, _, port = hostport.rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=3).close()
                return text
            except OSError:
                continue
        raise SourceError(f"--spark-master {text}: no Spark master answers there")
    raise SourceError(
        f"--spark-master {text[:80]!r} is not a Spark master URL "
        "(local[N], spark://HOST:PORT, yarn or k8s://URL)"
    )


def find_java() -> str:
    """Path of the ``java`` Spark will start (``$JAVA_HOME/bin/java`` or the one on PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.isfile(java):
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no java on PATH"
        raise SourceError(f"--source spark needs Java 17 or later: {where}")
    return java


def _import_pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise SourceError(
            "--source spark needs pyspark (pip install 'tracer[spark]', Spark 3.5 or later)"
        ) from None
    return SparkSession


def get_session(master: str | None = None, conf: dict | None = None):
    """The process's SparkSession, started once (later calls reuse it whatever they ask).

    ``master`` defaults to ``$TRACER_SPARK_MASTER`` or ``local[2]``. ``conf`` adds Spark settings
    (``spark.driver.memory`` and the like only count before the JVM starts).
    """
    SparkSession = _import_pyspark()
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        # under spark-submit the JVM is up and configured already: use its master and settings
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ and not master
        if not submitted:
            master = check_master(master or os.environ.get("TRACER_SPARK_MASTER") or DEFAULT_MASTER)
            find_java()
        local = not submitted and master.startswith("local")
        settings = {
            "spark.app.name": "tracer",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.caseSensitive": "false",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.ui.showConsoleProgress": "false",
        }
        if local:
            settings.update(
                {
                    "spark.pyspark.python": sys.executable,
                    "spark.pyspark.driver.python": sys.executable,
                    "spark.driver.host": "127.0.0.1",
                    "spark.driver.bindAddress": "127.0.0.1",
                    "spark.ui.enabled": "false",
                    "spark.sql.shuffle.partitions": "4",
                    "spark.default.parallelism": "4",
                    "spark.driver.memory": DEFAULT_DRIVER_MEMORY,
                    "spark.sql.adaptive.enabled": "true",
                    "spark.sql.autoBroadcastJoinThreshold": str(64 << 20),
                    "spark.python.worker.reuse": "true",
                }
            )
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.update(conf or {})
        builder = SparkSession.builder
        if not submitted:
            builder = builder.master(master)
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as error:  # py4j / PySparkRuntimeError: the JVM did not come up
            where = master or "spark-submit"
            raise SourceError(f"cannot start Spark ({where}): {_one_line(error)}") from None
        spark.sparkContext.setLogLevel("ERROR")
        # PySpark logs each failed query (JSON, Java stack) before raising: the error reaches
        # the user as one line anyway
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        return spark


def stop_session() -> None:
    """Stop the process's SparkSession if one is running (tests, benchmarks)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def _one_line(error: BaseException) -> str:
    for line in str(error).strip().splitlines():
        line = line.strip()
        if line:
            return line[:300]
    return type(error).__name__
