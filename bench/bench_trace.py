"""Issue 2 benchmark: a 6-hop haircut trace from 10 seeds over synthetic token transfers.

Side by side in one run, each in its own process (so peak memory is its own):

* ``tracer``: the DuckDB source over the index file built once from the Parquet file (rows
  kept as columns; records built only for tainted transfers); cold (first trace after opening
  the index) and warm (median of repeated traces in the same process).
* ``naive``: load the table into a ``networkx.MultiDiGraph``, then walk it hop by hop with the
  same allocation code (what a notebook would do first). Loading 10M edges needs ~15 GB, more
  than a shared machine can spare, so it runs on the first 1M, 2M and 4M rows under an
  address-space cap (``--naive-cap-gb``), and time and memory are extrapolated linearly to
  the whole table (stated as such in the output).

Every figure comes with the CPU time of the work and the load average (the machine is shared).

    python bench/synth.py --rows 10000000 --out bench/data/10m
    python bench/bench_trace.py --data bench/data/10m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def run_tracer(data: Path, repeats: int) -> dict:
    import tracer
    import tracer.api  # noqa: F401 - imports (pandas, networkx, ...) are not the trace's work
    from tracer.sources.bulk import BulkSource

    meta = json.loads((data / "bench.json").read_text())
    t0, c0 = time.perf_counter(), time.process_time()
    src = BulkSource(data, chain="ethereum")
    index_path = src.build_index()  # opens the index when it was built before
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    after_build = _peak_mb()
    walls, cpus, loads, result = [], [], [], None
    for _ in range(repeats + 1):
        result = None  # the previous trace's objects are freed before the clock starts
        loads.append(_load())
        t, c = time.perf_counter(), time.process_time()
        result = tracer.trace(
            meta["seeds"],
            chain="ethereum",
            source=src,
            labels=[data / "labels.yaml"],
            policy="haircut",
            hops=6,
        )
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {
        "index_open_or_build_s": build,
        "index_open_or_build_cpu_s": build_cpu,
        "index_bytes": Path(index_path).stat().st_size if Path(index_path).is_file() else None,
        "peak_after_open_mb": after_build,
        "cold_s": walls[0],
        "cold_cpu_s": cpus[0],
        "warm_s": statistics.median(walls[1:]),
        "warm_cpu_s": statistics.median(cpus[1:]),
        "warm_min_s": min(walls[1:]),
        "warm_all_s": [round(w, 3) for w in walls[1:]],
        "load": loads,
        "peak_mb": _peak_mb(),
        "edges": result.graph.number_of_edges(),
        "nodes": result.graph.number_of_nodes(),
        "queries": result.summary()["source_queries"],
        "flags": len(result.flag_list),
    }


def run_naive(data: Path, rows: int, cap_gb: float) -> dict:
    """Load the first ``rows`` transfers into networkx, then walk them with the same ledgers,
    under an address-space cap of ``cap_gb`` (a MemoryError is reported, not raised)."""
    cap = int(cap_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start_load = _load()
    c0 = time.process_time()
    try:
        res = _naive(data, rows)
    except MemoryError:
        return {
            "rows": rows,
            "error": f"MemoryError under the {cap_gb:g} GiB cap",
            "cpu_s": time.process_time() - c0,
            "peak_mb": _peak_mb(),
            "load": [start_load, _load()],
        }
    res.update(cpu_s=time.process_time() - c0, load=[start_load, _load()])
    return res


def _naive(data: Path, rows: int) -> dict:
    import networkx as nx
    import pyarrow.parquet as pq

    from tracer.allocation import run_ledgers
    from tracer.labels import load_labels
    from tracer.records import Transfer

    meta = json.loads((data / "bench.json").read_text())
    index, _ = load_labels([data / "labels.yaml"])
    t0 = time.perf_counter()
    G = nx.MultiDiGraph()
    table = pq.ParquetFile(data / "token_transfers.parquet")
    loaded = 0
    for batch in table.iter_batches(
        batch_size=500_000,
        columns=[
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "log_index",
            "block_number",
            "block_timestamp",
        ],
    ):
        if loaded >= rows:
            break
        cols = batch.slice(0, rows - loaded).to_pydict()
        loaded += min(batch.num_rows, rows - loaded)
        for tok, f, t, v, h, li, b, ts in zip(*cols.values(), strict=True):
            G.add_edge(
                f,
                t,
                key=f"{h}:{li}",
                asset=tok,
                amount=int(v),
                tx=h,
                log=li,
                block=b,
                ts=int(ts.timestamp()),
            )
    load = time.perf_counter() - t0

    def history(a):
        out = []
        for u, v, _k, d in list(G.in_edges(a, keys=True, data=True)) + list(
            G.out_edges(a, keys=True, data=True)
        ):
            out.append(
                Transfer(
                    "ethereum",
                    d["asset"],
                    u,
                    v,
                    d["amount"],
                    6,
                    d["tx"],
                    d["log"],
                    d["block"],
                    d["ts"],
                    0,
                    True,
                    "naive",
                    "token",
                )
            )
        return sorted({t.transfer_id: t for t in out}.values(), key=lambda t: t.position)

    t1 = time.perf_counter()
    tainted_in: dict[str, dict] = {}
    frontier = {s: 0 for s in meta["seeds"]}
    edges = 0
    done: set[str] = set()
    for hop in range(6):
        nxt: dict[str, int] = {}
        for a in sorted(frontier):
            if a in done or a not in G or (hop and index.role_of("ethereum", a)):
                continue
            if G.degree(a) > 1000:
                continue
            done.add(a)
            hist = history(a)
            receiver = {t.transfer_id: t.to_address for t in hist}
            res = run_ledgers(a, hist, tainted_in.get(a, {}), "haircut", seed=hop == 0, hop=hop)
            for tid, taint in res.out.items():
                to = receiver[tid]
                tainted_in.setdefault(to, {})[tid] = taint
                nxt[to] = hop + 1
                edges += 1
        frontier = nxt
    walk = time.perf_counter() - t1
    return {
        "rows": loaded,
        "load_s": load,
        "walk_s": walk,
        "total_s": load + walk,
        "peak_mb": _peak_mb(),
        "edges": edges,
    }


def _child(kind: str, data: Path, *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--data", str(data), *extra],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"{kind} child failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fit(points: list[tuple[int, float]], at: int) -> float:
    """Least-squares line through (rows, value), read at ``at`` rows."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my + slope * (at - mx)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("bench/data/10m"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-tracer", action="store_true")
    ap.add_argument(
        "--naive-rows",
        default="1000000,2000000,4000000",
        help="row counts the naive baseline loads (comma-separated)",
    )
    ap.add_argument("--naive-cap-gb", type=float, default=10.0)
    ap.add_argument("--child", choices=["tracer", "naive"])
    ap.add_argument("--rows", type=int, default=0)
    args = ap.parse_args()
    if args.child == "tracer":
        print(json.dumps(run_tracer(args.data, args.repeats)))
        return
    if args.child == "naive":
        print(json.dumps(run_naive(args.data, args.rows, args.naive_cap_gb)))
        return
    meta = json.loads((args.data / "bench.json").read_text())
    total = meta["rows"]
    print(
        f"data: {total:,} token transfers, seeds: {len(meta['seeds'])}, policy haircut, 6 hops; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()}"
    )
    tr = None
    if not args.skip_tracer:
        tr = _child("tracer", args.data, "--repeats", str(args.repeats))
        print(json.dumps({"tracer": tr}, indent=2))
    naive = []
    if not args.skip_naive:
        for rows in [int(r) for r in args.naive_rows.split(",") if r]:
            res = _child(
                "naive", args.data, "--rows", str(rows), "--naive-cap-gb", str(args.naive_cap_gb)
            )
            print(json.dumps({"naive": res}))
            naive.append(res)
    print()
    print("| approach | rows | time to answer (s) | CPU (s) | peak memory (MB) | load average |")
    print("|---|---|---|---|---|---|")
    ok = [r for r in naive if "error" not in r]
    for r in naive:
        if "error" in r:
            print(
                f"| naive networkx | {r['rows']:,} | {r['error']} | {r['cpu_s']:.0f} | "
                f"{r['peak_mb']:.0f} | {r['load'][0]}-{r['load'][1]} |"
            )
        else:
            print(
                f"| naive networkx (load + walk) | {r['rows']:,} | {r['total_s']:.1f} "
                f"(load {r['load_s']:.1f}) | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | "
                f"{r['load'][0]}-{r['load'][1]} |"
            )
    if len(ok) >= 2:
        nv_time = _fit([(r["rows"], r["total_s"]) for r in ok], total)
        nv_cpu = _fit([(r["rows"], r["cpu_s"]) for r in ok], total)
        nv_mem = _fit([(r["rows"], r["peak_mb"]) for r in ok], total)
        print(
            f"| naive networkx, extrapolated linearly | {total:,} | ~{nv_time:.0f} | "
            f"~{nv_cpu:.0f} | ~{nv_mem:.0f} | |"
        )
    if tr is not None:
        loads = tr["load"]
        print(
            f"| tracer cold (index opened: {tr['index_open_or_build_s']:.1f} s) | {total:,} | "
            f"{tr['cold_s']:.3f} | {tr['cold_cpu_s']:.3f} | {tr['peak_mb']:.0f} | {loads[0]} |"
        )
        print(
            f"| tracer warm (median of {args.repeats}) | {total:,} | {tr['warm_s']:.3f} | "
            f"{tr['warm_cpu_s']:.3f} | {tr['peak_mb']:.0f} | {min(loads[1:])}-{max(loads[1:])} |"
        )
        if len(ok) >= 2:
            print(
                f"speed-up warm vs naive (extrapolated): {nv_time / tr['warm_s']:.0f}x wall, "
                f"{nv_cpu / tr['warm_cpu_s']:.0f}x CPU; memory: {nv_mem / tr['peak_mb']:.1f}x less"
            )


if __name__ == "__main__":
    main()
