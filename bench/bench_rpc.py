"""JSON-RPC requests and wall time of a 5-hop trace with a 1,000-address frontier, on anvil.

Builds a fan-out tree of ERC-20 transfers on a fresh anvil node (root -> 10 -> 100 -> 1,000,
then every hop-3 address pays one fresh address, twice over: hops 4 and 5 are 1,000 wide), then
traces it from the root with ``--hops 5`` through a counting loopback proxy, twice:

* ``frontier``: the RPC source as shipped (whole frontier in the topic OR-list, 500 addresses
  per query, two queries per chunk, calls batched);
* ``per-address``: the same source with ``chunk_size=1, batch_size=1``: one ``eth_getLogs`` (and
  one ``trace_filter``) per address and direction, one HTTP request per call.

Both must produce the same graph. Prints a Markdown table (medians of ``--repeat`` runs) and,
with ``--append``, appends it to docs/benchmarks.md with the machine and the date.

    python bench/bench_rpc.py [--repeat 3] [--append]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import web3  # noqa: E402, F401
from servers.chain import GENESIS_TIME, Chain, fresh  # noqa: E402
from servers.rpc_proxy import RpcProxy  # noqa: E402

import tracer  # noqa: E402
import tracer.api  # noqa: E402, F401  (imports are not part of the timings)
from tracer.sandbox.node import start_anvil  # noqa: E402
from tracer.sources import rpc as _rpc  # noqa: E402, F401


def build(chain: Chain) -> tuple[str, str, int]:
    """The tree; returns (token, root, number of addresses)."""
    a0 = chain.accounts[0]
    token = chain.deploy_token(a0, "Bench USD", "BUSD", 6, 10**18)
    (root,) = fresh(1, "bench:root")
    chain.token_transfer(token, a0, root, 10**12)
    levels = [[root]]
    for level, fanout in enumerate((10, 10, 10), start=1):
        kids = fresh(len(levels[-1]) * fanout, f"bench:{level}")
        with chain.one_block():
            for i, parent in enumerate(levels[-1]):
                chunk = kids[i * fanout : (i + 1) * fanout]
                chain.token_batch(token, parent, chunk, [10**12 // len(kids)] * fanout)
        levels.append(kids)
    for level in (4, 5):
        kids = fresh(len(levels[-1]), f"bench:{level}")
        for start in range(0, len(kids), 250):  # 250 transfers per block
            with chain.one_block():
                for parent, kid in zip(
                    levels[-1][start : start + 250], kids[start : start + 250], strict=True
                ):
                    chain.token_transfer(token, parent, kid, 10**12 // 1000 // level)
        levels.append(kids)
    return token, root, sum(len(level) for level in levels)


def run(url: str, root: str, token: str, **options) -> dict:
    with RpcProxy(url, shuffle=False) as proxy:
        start = time.perf_counter()
        result = tracer.trace(
            [root],
            chain="ethereum",
            source="rpc",
            hops=5,
            assets=[token],
            source_options={"rpc_url": proxy.url, **options},
        )
        wall = time.perf_counter() - start
        calls = dict(proxy.calls)
        http = proxy.http_requests
    expanded = sum(1 for n in result.outcome.nodes.values() if n.result is not None)
    return {
        "wall": wall,
        "calls": sum(calls.values()),
        "getlogs": calls.get("eth_getLogs", 0),
        "http": http,
        "edges": sorted(result.graph.edges(keys=True)),
        "expanded": expanded,
        "rounds": result.outcome.rounds,
        "methods": calls,
    }


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        memory = "RAM unknown"
    import os

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} CPUs (nproc), {memory}, Python "
        f"{platform.python_version()}; load average at the start {load} (a shared machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--append", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args()
    node = start_anvil(chain_id=1, timestamp=GENESIS_TIME, extra_args=["--gas-limit", "300000000"])
    try:
        chain = Chain(node.url)
        t0 = time.perf_counter()
        token, root, addresses = build(chain)
        built = time.perf_counter() - t0
        head = int(node.rpc("eth_blockNumber"), 16)
        print(
            f"chain: {addresses} addresses, {head} blocks, built in {built:.1f} s", file=sys.stderr
        )
        runs = {"frontier": [], "per-address": []}
        for _ in range(args.repeat):
            runs["frontier"].append(run(node.url, root, token))
            runs["per-address"].append(run(node.url, root, token, chunk_size=1, batch_size=1))
    finally:
        node.stop()
    ours, naive = runs["frontier"], runs["per-address"]
    assert all(r["edges"] == ours[0]["edges"] for r in ours + naive), "graphs differ"
    expanded = ours[0]["expanded"]

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    lines = [
        f"5-hop trace, {expanded} addresses expanded in {ours[0]['rounds']} rounds (frontiers "
        f"1, 10, 100, 1,000, 1,000), {len(ours[0]['edges'])} tainted transfers; anvil 1.7.1 on "
        f"loopback through a counting proxy; medians of {args.repeat} runs.",
        "",
        "| source | JSON-RPC calls | of which eth_getLogs | HTTP requests | wall time (s) |",
        "|---|---:|---:|---:|---:|",
        f"| frontier (500 addresses per topic list, batched) | {med(ours, 'calls'):.0f} | "
        f"{med(ours, 'getlogs'):.0f} | {med(ours, 'http'):.0f} | {med(ours, 'wall'):.2f} |",
        f"| one eth_getLogs per address and direction | {med(naive, 'calls'):.0f} | "
        f"{med(naive, 'getlogs'):.0f} | {med(naive, 'http'):.0f} | {med(naive, 'wall'):.2f} |",
        "",
        f"Fewer JSON-RPC calls: {med(naive, 'calls') / med(ours, 'calls'):.0f}x; fewer "
        f"eth_getLogs than one per expanded address ({expanded}): "
        f"{expanded / med(ours, 'getlogs'):.0f}x; fewer HTTP requests: "
        f"{med(naive, 'http') / med(ours, 'http'):.0f}x; wall time "
        f"{med(naive, 'wall') / med(ours, 'wall'):.1f}x shorter. Calls of one frontier run by "
        f"method: {dict(sorted(ours[0]['methods'].items()))}.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.append:
        doc = ROOT / "docs" / "benchmarks.md"
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        text += (
            f"\n## JSON-RPC source: requests per 5-hop trace (bench/bench_rpc.py)\n\n"
            f"Machine: {machine()}. Date: {now}.\n\n{table}\n"
        )
        doc.write_text(text)


if __name__ == "__main__":
    main()
