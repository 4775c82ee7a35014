"""A round's ledger replays as a Spark job: the engine's ``ledger_runner`` hook.

The engine hands over a round's :class:`~tracer.engine.LedgerJob` list (address, its history, its
tainted inflows). :class:`SparkLedgerRunner` splits it into batches of about equal work (history
length), pickles each batch, and runs :func:`tracer.engine.run_jobs` (that is
:func:`tracer.allocation.run_ledgers`, the very code the DuckDB path runs) on the executors, one
task per batch; the results come back to the driver. Same jobs, same function, same results: the
replay of one address depends on nothing but its job.

Small rounds stay on the driver (shipping a few hundred transfers costs more than replaying
them): below ``min_transfers`` history transfers in a round, :func:`run_jobs` runs in-process.
The executors must be able to import ``tracer`` (local mode: this interpreter; on a cluster,
ship it, see docs/spark.md).
"""

from __future__ import annotations

import pickle

from tracer.engine import LedgerJob, TraceParams, run_jobs
from tracer.sources.base import SourceError

#: Rounds replaying fewer history transfers than this run on the driver.
DEFAULT_MIN_TRANSFERS = 20_000


def _replay(blob: bytes) -> bytes:
    """Executor side: one pickled (jobs, params) batch in, pickled {address: LedgerResult} out."""
    jobs, params = pickle.loads(blob)
    return pickle.dumps(run_jobs(jobs, params), protocol=pickle.HIGHEST_PROTOCOL)


def balance(jobs: list[LedgerJob], slices: int) -> list[list[LedgerJob]]:
    """Jobs in ``slices`` batches of about equal work (longest history first, to the lightest
    batch); deterministic."""
    slices = max(1, min(slices, len(jobs)))
    batches: list[list[LedgerJob]] = [[] for _ in range(slices)]
    load = [0] * slices
    for job in sorted(jobs, key=lambda j: (-len(j.history), j.address)):
        i = min(range(slices), key=lambda k: (load[k], k))
        batches[i].append(job)
        load[i] += len(job.history) + 1
    return [b for b in batches if b]


class SparkLedgerRunner:
    """``runner(jobs, params) -> {address: LedgerResult}``, replaying on the Spark executors."""

    def __init__(self, spark, min_transfers: int | None = None, slices: int | None = None):
        self.spark = spark
        self.min_transfers = DEFAULT_MIN_TRANSFERS if min_transfers is None else min_transfers
        self.slices = slices
        self.rounds_local = 0  # rounds replayed on the driver
        self.rounds_spark = 0  # rounds replayed on the executors
        self.tasks = 0

    def __call__(self, jobs: list[LedgerJob], params: TraceParams) -> dict:
        if not jobs:
            return {}
        work = sum(len(j.history) for j in jobs)
        if work < self.min_transfers:
            self.rounds_local += 1
            return run_jobs(jobs, params)
        sc = self.spark.sparkContext
        slices = self.slices or max(2, 2 * sc.defaultParallelism)
        batches = balance(jobs, slices)
        blobs = [pickle.dumps((b, params), protocol=pickle.HIGHEST_PROTOCOL) for b in batches]
        try:
            out = sc.parallelize(blobs, len(blobs)).map(_replay).collect()
        except Exception as error:  # a worker failed (e.g. tracer not installed there)
            raise SourceError(
                f"ledger replay on Spark failed: {_last_python_error(error)}"
            ) from None
        self.rounds_spark += 1
        self.tasks += len(blobs)
        results: dict = {}
        for blob in out:
            results.update(pickle.loads(blob))
        missing = [j.address for j in jobs if j.address not in results]
        if missing:  # pragma: no cover - every batch answers for all its jobs
            raise SourceError(f"ledger replay on Spark lost {len(missing)} address(es)")
        return results


def _last_python_error(error: BaseException) -> str:
    """The Python exception line of a worker failure (py4j wraps it in a Java stack trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if line.split(":", 1)[0].endswith(("Error", "Exception")) and not line.startswith(
            ("at ", "org.apache", "py4j", "java.")
        ):
            return line[:300]
    return lines[0][:300] if lines else type(error).__name__
