"""Issue 2 benchmark: a 6-hop haircut trace from 10 seeds over synthetic token transfers.

Side by side in one run, each in its own process (so peak memory is its own):

* ``tracer``: the DuckDB source over an address-sorted index built once from the Parquet file,
  one query per hop for the whole frontier; cold (first trace, index opened) and warm (median of
  repeated traces in the same process).
* ``naive``: load the whole table into a ``networkx.MultiDiGraph``, then walk it hop by hop with
  the same allocation code (what a notebook would do first).

    python bench/synth.py --rows 10000000 --out bench/data/10m
    python bench/bench_trace.py --data bench/data/10m
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_tracer(data: Path, repeats: int) -> dict:
    import tracer
    from tracer.sources.bulk import BulkSource

    meta = json.loads((data / "bench.json").read_text())
    t0 = time.perf_counter()
    src = BulkSource(data, chain="ethereum")
    index_path = src.build_index()
    build = time.perf_counter() - t0
    after_build = _peak_mb()
    times, result = [], None
    for _ in range(repeats + 1):
        t = time.perf_counter()
        result = tracer.trace(
            meta["seeds"],
            chain="ethereum",
            source=src,
            labels=[data / "labels.yaml"],
            policy="haircut",
            hops=6,
        )
        times.append(time.perf_counter() - t)
    return {
        "index_build_s": build,
        "index_bytes": Path(index_path).stat().st_size if Path(index_path).is_file() else None,
        "peak_after_build_mb": after_build,
        "cold_s": times[0],
        "warm_s": statistics.median(times[1:]),
        "peak_mb": _peak_mb(),
        "edges": result.graph.number_of_edges(),
        "nodes": result.graph.number_of_nodes(),
        "queries": result.summary()["source_queries"],
        "flags": len(result.flag_list),
    }


def run_naive(data: Path) -> dict:
    """Load everything into networkx, then walk it with the same ledgers."""
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
        cols = batch.to_pydict()
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
            if a in done or (hop and index.role_of("ethereum", a)) or G.degree(a) > 1000:
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
        "load_s": load,
        "walk_s": walk,
        "total_s": load + walk,
        "peak_mb": _peak_mb(),
        "edges": edges,
    }


def _child(kind: str, data: Path, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--data", str(data), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("bench/data/10m"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--child", choices=["tracer", "naive"])
    args = ap.parse_args()
    if args.child:
        fn = run_tracer if args.child == "tracer" else run_naive
        res = fn(args.data, args.repeats) if args.child == "tracer" else fn(args.data)
        print(json.dumps(res))
        return
    meta = json.loads((args.data / "bench.json").read_text())
    print(
        f"data: {meta['rows']:,} token transfers, seeds: {len(meta['seeds'])}, policy haircut, 6 hops"
    )
    tr = _child("tracer", args.data, args.repeats)
    print(json.dumps({"tracer": tr}, indent=2))
    if args.skip_naive:
        return
    nv = _child("naive", args.data, args.repeats)
    print(json.dumps({"naive": nv}, indent=2))
    print()
    print("| approach | time to answer (s) | peak memory (MB) |")
    print("|---|---|---|")
    print(
        f"| naive networkx (load + walk) | {nv['total_s']:.1f} (load {nv['load_s']:.1f}) | {nv['peak_mb']:.0f} |"
    )
    print(
        f"| tracer cold (index built once: {tr['index_build_s']:.1f} s) | {tr['cold_s']:.3f} | {tr['peak_mb']:.0f} |"
    )
    print(f"| tracer warm (median of {args.repeats}) | {tr['warm_s']:.3f} | {tr['peak_mb']:.0f} |")
    print(
        f"speed-up warm vs naive: {nv['total_s'] / tr['warm_s']:.0f}x; "
        f"memory: {nv['peak_mb'] / tr['peak_mb']:.1f}x less"
    )


if __name__ == "__main__":
    main()
