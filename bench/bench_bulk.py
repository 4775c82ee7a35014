"""Per-round cost of the DuckDB source's index: the frontiers of the issue-2 trace, replayed.

One trace (6 hops, haircut, 10 seeds) is run through a recording wrapper to capture what the
engine asks for each round; then each round's ``degrees`` and ``transfers`` calls are replayed
``--repeats`` times against the index and timed (median), with the number of rows returned.
``--split`` also times the index read alone (lookup + reads + merge, no Transfer objects).

    python bench/bench_bulk.py --data bench/data/10m --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Recorder:
    """Passes calls through to ``source`` and remembers them."""

    def __init__(self, source):
        self.source = source
        self.name, self.chain = source.name, source.chain
        self.calls: list[tuple[str, list[str], int | None, int | None]] = []

    def transfers(self, addresses, since=None, until=None, **kw):
        self.calls.append(("transfers", sorted(addresses), since, until))
        return self.source.transfers(addresses, since, until, **kw)

    def degrees(self, addresses, since=None, until=None):
        self.calls.append(("degrees", sorted(addresses), since, until))
        return self.source.degrees(addresses, since, until)

    def fingerprint(self):
        return self.source.fingerprint()


def main() -> None:
    import tracer
    from tracer.sources.bulk import BulkSource

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("bench/data/10m"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--split", action="store_true", help="also time the index read alone")
    args = ap.parse_args()
    meta = json.loads((args.data / "bench.json").read_text())
    t0 = time.perf_counter()
    src = BulkSource(args.data, chain="ethereum")
    src.build_index()
    print(f"open + index: {time.perf_counter() - t0:.2f} s ({src.index_path})")
    rec = Recorder(src)
    t0 = time.perf_counter()
    tracer.trace(
        meta["seeds"],
        chain="ethereum",
        source=rec,
        labels=[args.data / "labels.yaml"],
        policy="haircut",
        hops=6,
    )
    print(f"recording trace: {time.perf_counter() - t0:.2f} s, {len(rec.calls)} calls")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| call | addresses | rows | wall ms | cpu ms | index read cpu ms |")
    print("|---|---|---|---|---|---|")
    total = cpu_total = 0.0
    for kind, addresses, since, until in rec.calls:
        times, cpus, read = [], [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            out = getattr(src, kind)(addresses, since, until)
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            if args.split and kind == "transfers":
                c = time.process_time()
                _, ids = src._index.lookup(addresses)
                src._index.rows(ids)
                read.append(time.process_time() - c)
        median, cpu = statistics.median(times), statistics.median(cpus)
        total += median
        cpu_total += cpu
        rows = len(out) if kind == "transfers" else sum(out.values())
        split = f"{statistics.median(read) * 1000:.1f}" if read else ""
        print(
            f"| {kind} | {len(addresses)} | {rows} | {median * 1000:.1f} | {cpu * 1000:.1f} "
            f"| {split} |"
        )
    print(
        f"source total per trace (sum of medians): {total * 1000:.0f} ms wall, "
        f"{cpu_total * 1000:.0f} ms cpu; peak {_peak_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
