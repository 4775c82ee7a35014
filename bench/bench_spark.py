"""Issue 9 benchmark: the same 6-hop haircut trace on DuckDB, on Spark (local mode) and naively in
networkx, at 1M and 10M synthetic token transfers.

Each approach runs in its own process; the parent samples the process tree with psutil and
reports the sum of every process's peak resident memory (for Spark: the Python driver, the JVM
and the Python workers).

* ``duckdb``: BulkSource with its address-sorted index (built once, timed apart); first trace
  and the median of repeated traces in the same process.
* ``spark``: SparkSource on ``local[2]``, driver 4g. Session start, plan and the address index
  build (kept on the executors) are timed as setup, apart from the first trace and the median of
  repeated traces.
* ``naive``: bench_trace.py's baseline, everything loaded into a ``networkx.MultiDiGraph`` then
  walked with the same ledgers. Run at 10M only if the machine has the memory free.

    python bench/synth.py --rows 1000000 --out bench/data/1m
    python bench/bench_spark.py --data bench/data/1m --data bench/data/10m --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# --------------------------------------------------------------------------- children


def _trace(source, meta: dict, data: Path):
    import tracer

    return tracer.trace(
        meta["seeds"],
        chain="ethereum",
        source=source,
        labels=[data / "labels.yaml"],
        policy="haircut",
        hops=6,
    )


def _stats(result) -> dict:
    import hashlib

    touched = {t.transfer_id for h in result.outcome.histories.values() for t in h}
    edges = sorted(
        (k, d["tainted"], d["hop"]) for _, _, k, d in result.graph.edges(keys=True, data=True)
    )
    digest = hashlib.sha256((result.flags.to_csv(index=False) + repr(edges)).encode()).hexdigest()[
        :16
    ]
    return {
        "digest": digest,  # flags and tainted edges: equal digests, equal answers
        "edges": result.graph.number_of_edges(),
        "nodes": result.graph.number_of_nodes(),
        "flags": len(result.flag_list),
        "rounds": result.summary()["rounds"],
        "queries": result.summary()["source_queries"],
        "transfers_touched": len(touched),
        "expanded": len(result.outcome.histories),
    }


def run_duckdb(data: Path, repeats: int) -> dict:
    from tracer.sources.bulk import BulkSource

    meta = json.loads((data / "bench.json").read_text())
    t0 = time.perf_counter()
    src = BulkSource(data, chain="ethereum")
    src.build_index()
    build = time.perf_counter() - t0
    times, result = [], None
    for _ in range(repeats + 1):
        t = time.perf_counter()
        result = _trace(src, meta, data)
        times.append(time.perf_counter() - t)
    return {
        "setup_s": build,
        "first_s": times[0],
        "warm_s": statistics.median(times[1:]),
        **_stats(result),
    }


def run_spark(data: Path, repeats: int, master: str) -> dict:
    from tracer.spark.session import get_session
    from tracer.spark.source import SparkSource

    meta = json.loads((data / "bench.json").read_text())
    t0 = time.perf_counter()
    spark = get_session(master, {"spark.driver.memory": "4g"})
    src = SparkSource(data, chain="ethereum", spark=spark)
    opened = time.perf_counter() - t0
    src.index().count()  # build the address index (the first trace would)
    setup = time.perf_counter() - t0
    times, result = [], None
    for _ in range(repeats + 1):
        t = time.perf_counter()
        result = _trace(src, meta, data)
        times.append(time.perf_counter() - t)
    runner = src.ledger_runner
    out = {
        "setup_s": setup,
        "open_s": opened,
        "first_s": times[0],
        "warm_s": statistics.median(times[1:]),
        "ledger_rounds_on_executors": runner.rounds_spark,
        "ledger_rounds_on_driver": runner.rounds_local,
        "spark": spark.version,
        **_stats(result),
    }
    spark.stop()
    return out


def run_naive(data: Path) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_trace import run_naive as naive

    return naive(data)


# --------------------------------------------------------------------------- the parent


def _measure(args: list[str]) -> tuple[dict, float]:
    """Run a child; return its JSON answer and the sum of its processes' peak RSS (MB)."""
    import psutil

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peaks: dict[int, int] = {}

    def sample() -> None:
        try:
            procs = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                with open(f"/proc/{p.pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            peaks[p.pid] = max(peaks.get(p.pid, 0), int(line.split()[1]) * 1024)
                            break
            except OSError:
                continue

    while proc.poll() is None:
        sample()
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise SystemExit(f"child {' '.join(args[-4:])} failed ({proc.returncode}):\n{tail}")
    return json.loads(out.strip().splitlines()[-1]), sum(peaks.values()) / 2**20


def _available_mb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**20


def _machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, action="append", help="synthetic data set (repeatable)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--only", choices=["duckdb", "spark", "naive"], action="append")
    ap.add_argument("--naive-min-free-gb", type=float, default=16.0)
    ap.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    ap.add_argument("--child", choices=["duckdb", "spark", "naive"])
    args = ap.parse_args()
    datas = args.data or [HERE / "data" / "1m", HERE / "data" / "10m"]
    if args.child:
        data = datas[0]
        if args.child == "duckdb":
            res = run_duckdb(data, args.repeats)
        elif args.child == "spark":
            res = run_spark(data, args.repeats, args.master)
        else:
            res = run_naive(data)
        print(json.dumps(res))
        return
    machine = _machine()
    kinds = args.only or ["duckdb", "spark", "naive"]
    results: dict[str, dict[str, dict]] = {}
    for data in datas:
        meta = json.loads((data / "bench.json").read_text())
        label = f"{meta['rows'] / 1e6:g}M"
        results[label] = {}
        for kind in kinds:
            if kind == "naive" and _available_mb() < args.naive_min_free_gb * 1024:
                results[label][kind] = {
                    "skipped": f"{_available_mb() / 1024:.1f} GB free, needs "
                    f"{args.naive_min_free_gb:g} GB"
                }
                print(label, kind, results[label][kind], flush=True)
                continue
            child = [sys.executable, __file__, "--child", kind, "--data", str(data)]
            child += ["--repeats", str(args.repeats), "--master", args.master]
            t = time.perf_counter()
            res, peak = _measure(child)
            res["peak_mb"] = peak
            res["wall_s"] = time.perf_counter() - t
            results[label][kind] = res
            print(label, kind, json.dumps(res), flush=True)
    table = _table(results, machine, args)
    print(table)
    if args.write:
        path = ROOT / "docs" / "benchmarks.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        path.write_text(text.rstrip("\n") + "\n\n" + table)


def _fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(results: dict, machine: dict, args) -> str:
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        "## Spark: DuckDB vs Spark local vs naive networkx (issue 9)",
        "",
        f"`python bench/bench_spark.py` on {date}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_gb']} GB RAM shared with other jobs (load average "
        f"{machine['load_avg_at_start']:.1f} at start), Python {machine['python']}, Spark "
        f"`{args.master}` with a 4 GB driver. 6-hop haircut trace from the 10 seeds of "
        "`bench/synth.py`; times are medians of "
        f"{args.repeats} traces after the first; memory is the sum of the peak RSS of every "
        "process of the run (Spark: Python driver + JVM + Python workers).",
        "",
        "| data | approach | setup (s) | first trace (s) | trace, median (s) | peak memory (MB) "
        "| transfers touched | edges | flags |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, by_kind in results.items():
        for kind, r in by_kind.items():
            if "skipped" in r:
                lines.append(f"| {label} | {kind} | skipped: {r['skipped']} | | | | | | |")
                continue
            if kind == "naive":
                lines.append(
                    f"| {label} | naive networkx | load {_fmt(r['load_s'])} | | "
                    f"{_fmt(r['walk_s'], 2)} (walk; total {_fmt(r['total_s'])}) | "
                    f"{r['peak_mb']:.0f} | all | {r['edges']} | |"
                )
                continue
            what = "index build" if kind == "duckdb" else "session, plan, index build"
            lines.append(
                f"| {label} | {'DuckDB (index)' if kind == 'duckdb' else 'Spark local[2]'} | "
                f"{_fmt(r['setup_s'])} ({what}) | {_fmt(r['first_s'], 2)} | "
                f"{_fmt(r['warm_s'], 2)} | {r['peak_mb']:.0f} | {r['transfers_touched']} | "
                f"{r['edges']} | {r['flags']} |"
            )
    labels = list(results)
    if len(labels) >= 2:
        a, b = labels[0], labels[-1]
        lines += ["", f"Growth from {a} to {b} transfers:", ""]
        for kind in ("duckdb", "spark", "naive"):
            ra, rb = results[a].get(kind), results[b].get(kind)
            if not ra or not rb or "skipped" in ra or "skipped" in rb:
                continue
            key = "total_s" if kind == "naive" else "warm_s"
            touched = (
                f", transfers touched x{rb['transfers_touched'] / ra['transfers_touched']:.1f}"
                if "transfers_touched" in ra
                else ""
            )
            lines.append(
                f"- {kind}: time x{rb[key] / ra[key]:.1f}, memory x{rb['peak_mb'] / ra['peak_mb']:.1f}"
                f"{touched}"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
