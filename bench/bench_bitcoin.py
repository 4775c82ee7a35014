"""Bitcoin benchmarks: multi-input clustering at 10M transactions, trace throughput over 1M.

1. **Clustering** of ``--txs`` (default 10,000,000) synthetic transactions (input counts 1-50,
   address reuse, 0.3% CoinJoins skipped) with tracer's numpy union-find
   (:func:`tracer.bitcoin.heuristics.cluster_multi_input`) and, in the same run, the Rust
   union-find of the ``graphsense-clustering`` package (``gs_clustering``; skipped with a note
   when it is not installed), plus a plain Python union-find on the first ``--python-txs``
   transactions. Each measurement runs in its own subprocess (peak RSS: ``VmHWM``,
   minus the RSS after loading the input arrays); the results are checked to be the same
   partition. Median of ``--repeat`` runs.
2. **Trace throughput** over a bitcoin-etl export (Parquet) of ``--etl-txs`` (default 1,000,000)
   UTXO-consistent synthetic transactions: DuckDB load + address index, then
   ``tracer.trace(..., chain="bitcoin", policy=haircut)`` from a seed, hop cap ``--hops``.

``python bench/bench_bitcoin.py`` prints a table and (``--write``) appends it to
docs/benchmarks.md under "Bitcoin". About 5 minutes on an idle 2-core machine, most of it
generating the 1M-transaction export in Python; much longer on a loaded one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Bitcoin (issue 6)"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    """Peak resident set of this process (VmHWM; ru_maxrss would carry the parent's over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ clustering data


def make_cluster_data(n_tx: int, out: Path, seed: int = 6) -> dict:
    rng = np.random.default_rng(seed)
    kinds = rng.random(n_tx)
    counts = np.ones(n_tx, dtype=np.int64)
    counts[kinds > 0.70] = 2
    counts[kinds > 0.85] = 3
    counts[kinds > 0.92] = rng.integers(4, 11, size=int((kinds > 0.92).sum()))
    counts[kinds > 0.99] = rng.integers(11, 51, size=int((kinds > 0.99).sum()))
    offsets = np.zeros(n_tx + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_addresses = int(n_tx * 1.2)
    # address reuse: half the inputs from a small hot set, half uniform
    total = int(offsets[-1])
    hot = rng.integers(0, n_addresses // 20, size=total)
    cold = rng.integers(0, n_addresses, size=total)
    ids = np.where(rng.random(total) < 0.5, hot, cold).astype(np.int32)
    skip = rng.random(n_tx) < 0.003  # CoinJoins (fingerprinted beforehand)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "offsets.npy", offsets)
    np.save(out / "ids.npy", ids)
    np.save(out / "skip.npy", skip)
    return {
        "transactions": n_tx,
        "inputs": total,
        "addresses": n_addresses,
        "coinjoins": int(skip.sum()),
    }


def worker(method: str, data: Path, limit: int | None) -> dict:
    offsets = np.load(data / "offsets.npy")
    ids = np.load(data / "ids.npy")
    skip = np.load(data / "skip.npy")
    n_addresses = int(ids.max()) + 1
    if limit:
        offsets = offsets[: limit + 1]
        ids = ids[: offsets[-1]]
        skip = skip[:limit]
    import pyarrow as pa  # imports outside the timed part

    from tracer.bitcoin.heuristics import cluster_multi_input, cluster_python

    if method == "graphsense":
        from gs_clustering import Clustering
    base = _rss_mb()
    t0 = time.perf_counter()
    if method == "numpy":
        labels = cluster_multi_input(offsets, ids, n_addresses, skip)
        prep = 0.0
    elif method == "graphsense":
        counts = np.diff(offsets)
        keep = (counts > 1) & ~skip
        tx_of = np.repeat(np.arange(len(counts)), counts)
        values = (ids[keep[tx_of]].astype(np.uint32)) + 1  # id 0 is gs's placeholder
        new_offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int32)
        np.cumsum(counts[keep], out=new_offsets[1:])
        lists = pa.ListArray.from_arrays(pa.array(new_offsets), pa.array(values))
        del tx_of
        prep = time.perf_counter() - t0
        c = Clustering(max_address_id=n_addresses)
        c.process_transactions_arrow(lists)
        mapping = c.get_mapping()
        labels = mapping.column(1).to_numpy()[1:].astype(np.int64) - 1
    else:
        labels = np.array(cluster_python(offsets, ids, n_addresses, skip))
        prep = 0.0
    seconds = time.perf_counter() - t0
    peak = _peak_mb()  # before the checks below allocate their own copies
    digest = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()
    return {
        "method": method,
        "seconds": seconds,
        "prepare_seconds": prep,
        "peak_mb": peak,
        "input_mb": base,
        "clusters": int(len(np.unique(labels))),
        "labels_sha256": digest,
        "transactions": len(offsets) - 1,
    }


def run_worker(method: str, data: Path, limit: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data-dir", str(data)]
    if limit:
        cmd += ["--limit", str(limit)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"method": method, "error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ etl data


def make_etl(n_tx: int, out: Path, seed: int = 11, pool: int = 100_000) -> tuple[Path, str]:
    """A UTXO-consistent export: after 20,000 funding transactions, each transaction spends 1-3
    outputs picked uniformly from the unspent set (2 on average, so the set stays near 20,000
    and a coin is spent about 10,000 transactions later) and pays two of ``pool`` P2PKH
    addresses (about 20 transactions per address)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracer.bitcoin.script import base58_address

    rng = np.random.default_rng(seed)
    hashes = [hashlib.sha256(b"bench:%d" % i).digest()[:20] for i in range(pool)]
    names = [base58_address(0, h) for h in hashes]
    script = ["76a914" + h.hex() + "88ac" for h in hashes]
    txids = [hashlib.sha256(b"benchtx:%d" % i).hexdigest() for i in range(n_tx)]
    n_in = rng.choice([1, 2, 2, 3], size=n_tx)
    owner = rng.integers(0, pool, size=(n_tx, 2))
    split = rng.random(n_tx)
    picks = rng.random((n_tx, 3))
    unspent: list[tuple[int, int, int, int]] = []  # (tx, vout, owner, value)
    in_off, out_off = [0], [0]
    in_prev, in_vout, in_addr, in_value, in_index = [], [], [], [], []
    out_addr, out_value, out_script, out_index = [], [], [], []
    for t in range(n_tx):
        spent = []
        if t < 20_000 or len(unspent) < 1000:
            spent.append((-1 - t, 0, int(owner[t, 0]), 50_000_000 + t))  # from outside the data
        else:
            for k in range(int(n_in[t])):
                j = int(picks[t, k] * len(unspent))
                unspent[j], unspent[-1] = unspent[-1], unspent[j]
                spent.append(unspent.pop())
        total = 0
        for k, (ptx, pv, pa_, val) in enumerate(spent):
            in_prev.append(txids[ptx] if ptx >= 0 else hashlib.sha256(b"out:%d" % ptx).hexdigest())
            in_vout.append(pv)
            in_addr.append([names[pa_]])
            in_value.append(val)
            in_index.append(k)
            total += val
        in_off.append(len(in_prev))
        fee = 1000 if total > 3000 else 0
        first = max(1, int((total - fee) * split[t]))
        for k, (o, val) in enumerate(((owner[t, 0], first), (owner[t, 1], total - fee - first))):
            out_addr.append([names[int(o)]])
            out_value.append(val)
            out_script.append(script[int(o)])
            out_index.append(k)
            if val > 0:
                unspent.append((t, k, int(o), val))
        out_off.append(len(out_value))
    blocks = np.arange(n_tx) // 500 + 600_000
    inputs = pa.ListArray.from_arrays(
        pa.array(in_off, pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(in_index, pa.int64()), pa.array(in_prev), pa.array(in_vout, pa.int64()),
             pa.array(in_addr, pa.list_(pa.string())), pa.array(in_value, pa.int64()),
             pa.array(["pubkeyhash"] * len(in_prev))],
            names=["index", "spent_transaction_hash", "spent_output_index", "addresses", "value", "type"],
        ),
    )  # fmt: skip
    outputs = pa.ListArray.from_arrays(
        pa.array(out_off, pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(out_index, pa.int64()), pa.array(out_script), pa.array(out_addr, pa.list_(pa.string())),
             pa.array(out_value, pa.int64()), pa.array(["pubkeyhash"] * len(out_value))],
            names=["index", "script_hex", "addresses", "value", "type"],
        ),
    )  # fmt: skip
    index_in_block = np.arange(n_tx) % 500
    table = pa.table(
        {
            "hash": pa.array(txids),
            "block_number": pa.array(blocks),
            "block_hash": pa.array([f"{b:064x}" for b in blocks]),
            "block_timestamp": pa.array(1_600_000_000 + (blocks - 600_000) * 600),
            "index": pa.array(index_in_block),
            "version": pa.array(np.full(n_tx, 2)),
            "lock_time": pa.array(np.zeros(n_tx, dtype=np.int64)),
            "is_coinbase": pa.array(np.zeros(n_tx, dtype=bool)),
            "inputs": inputs,
            "outputs": outputs,
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "transactions.parquet"
    pq.write_table(table, path, row_group_size=100_000)
    return path, names[int(owner[20_000, 0])]


def trace_bench(n_tx: int, hops: int, tmp: Path) -> dict:
    import tracer
    from tracer.bitcoin.etl import EtlSource

    t0 = time.perf_counter()
    path, seed = make_etl(n_tx, tmp / "etl")
    generate = time.perf_counter() - t0
    t0 = time.perf_counter()
    src = EtlSource(path.parent)
    load = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = tracer.trace([seed], chain="bitcoin", source=src, policy="haircut", hops=hops)
        runs.append(time.perf_counter() - t0)
    out = r.outcome
    fetched = len(out.txs)
    return {
        "transactions": n_tx,
        "generate_seconds": generate,
        "load_index_seconds": load,
        "trace_seconds": statistics.median(runs),
        "transactions_fetched": fetched,
        "transactions_allocated": sum(1 for s in out.states.values() if s.alloc is not None),
        "addresses": len(out.nodes),
        "edges": len(out.edges),
        "rounds": out.rounds,
        "peak_mb": _peak_mb(),
        "fetched_per_second": fetched / statistics.median(runs),
    }


# ------------------------------------------------------------------ report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:  # pragma: no cover
        mem = "?"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem}, Python {platform.python_version()}; "
        f"load average at the end {load} (a shared machine: other jobs ran alongside)"
    )


def table(cluster: dict, results: dict[str, list[dict]], trace: dict | None, args) -> str:
    lines = [
        HEADING,
        "",
        f"Machine: {machine()}. Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d')}. "
        f"`python bench/bench_bitcoin.py` (median of {args.repeat} runs, each in its own process).",
        "",
        f"Multi-input clustering of {cluster['transactions']:,} synthetic transactions "
        f"({cluster['inputs']:,} inputs, {cluster['addresses']:,} address ids, "
        f"{cluster['coinjoins']:,} CoinJoins skipped):",
        "",
        "| implementation | transactions | time (s) | peak RSS (MiB) | over input (MiB) | clusters | same partition |",
        "|---|---|---|---|---|---|---|",
    ]
    reference = None
    for method, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            lines.append(f"| {method} | – | {runs[0].get('error', 'not run')} | | | | |")
            continue
        sec = statistics.median(r["seconds"] for r in ok)
        peak = statistics.median(r["peak_mb"] for r in ok)
        over = statistics.median(r["peak_mb"] - r["input_mb"] for r in ok)
        r = ok[0]
        same = "–"
        if r["transactions"] == cluster["transactions"]:
            reference = reference or r["labels_sha256"]
            same = "yes" if r["labels_sha256"] == reference else "NO"
        name = {
            "numpy": "tracer (numpy min-label union-find)",
            "graphsense": "graphsense-clustering 0.2 (Rust; incl. Arrow input build "
            f"{statistics.median(x['prepare_seconds'] for x in ok):.1f} s)",
            "python": "plain Python union-find",
        }[method]
        lines.append(
            f"| {name} | {r['transactions']:,} | {sec:.2f} | {peak:,.0f} | {over:,.0f} | "
            f"{r['clusters']:,} | {same} |"
        )
    if trace:
        lines += [
            "",
            f"Trace throughput over a bitcoin-etl export (Parquet) of {trace['transactions']:,} "
            "UTXO-consistent synthetic transactions (haircut, hop cap "
            f"{args.hops}, DuckDB in memory):",
            "",
            "| step | value |",
            "|---|---|",
            f"| load export + address index | {trace['load_index_seconds']:.1f} s |",
            f"| trace (median of 3) | {trace['trace_seconds']:.2f} s |",
            f"| transactions fetched / allocated | {trace['transactions_fetched']:,} / "
            f"{trace['transactions_allocated']:,} |",
            f"| addresses / tainted edges / rounds | {trace['addresses']:,} / {trace['edges']:,} "
            f"/ {trace['rounds']} |",
            f"| throughput | {trace['fetched_per_second']:,.0f} transactions fetched and "
            "allocated per second |",
            f"| peak RSS of the run | {trace['peak_mb']:,.0f} MiB |",
        ]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> Path:
    path = ROOT / "docs" / "benchmarks.md"
    old = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if HEADING in old:
        head, _, rest = old.partition(HEADING)
        nxt = rest.find("\n## ")
        old = head.rstrip("\n") + ("\n" + rest[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=10_000_000)
    ap.add_argument("--python-txs", type=int, default=1_000_000)
    ap.add_argument("--etl-txs", type=int, default=1_000_000)
    ap.add_argument("--hops", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data_dir), args.limit)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-btc-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        cluster = make_cluster_data(args.txs, tmp / "cluster")
        print(f"clustering data: {cluster} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        results: dict[str, list[dict]] = {"numpy": [], "graphsense": [], "python": []}
        for _ in range(args.repeat):
            for method in ("numpy", "graphsense"):
                r = run_worker(method, tmp / "cluster", None)
                print(method, r, file=sys.stderr)
                results[method].append(r)
        results["python"].append(run_worker("python", tmp / "cluster", args.python_txs))
        small = run_worker("numpy", tmp / "cluster", args.python_txs)
        if "error" not in small and "error" not in results["python"][0]:
            results["python"][0]["same_as_numpy"] = (
                small["labels_sha256"] == results["python"][0]["labels_sha256"]
            )
            results["numpy_small"] = [small]
        print("python", results["python"][0], file=sys.stderr)
        trace = trace_bench(args.etl_txs, args.hops, tmp) if args.etl_txs else None
        print("trace", trace, file=sys.stderr)
    small = results.pop("numpy_small", None)
    text = table(cluster, results, trace, args)
    if small:
        py = results["python"][0]
        text = text.replace(
            "| plain Python union-find |",
            "| plain Python union-find (first "
            f"{py['transactions']:,}; numpy on the same: {small[0]['seconds']:.2f} s, same "
            f"partition: {'yes' if py.get('same_as_numpy') else 'NO'}) |",
        )
    print(text)
    if args.write:
        print(f"written to {write_section(text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
