"""ERC-20 Transfer-log decoding throughput: tracer vs web3.py vs ethereum-etl.

One million synthetic ``eth_getLogs`` items (JSON-RPC shape: hex strings; 50 token contracts,
random senders, receivers and 256-bit values; seeded) are decoded by

* tracer: :func:`tracer.sources.rpc.decode_transfer_records` (what the RPC source runs on every
  ``eth_getLogs`` reply: one pass over the batch, logs -> :class:`~tracer.records.Transfer`
  records), on logs with every address distinct and on frontier-shaped logs, and the
  one-log-at-a-time :func:`tracer.sources.evm_logs.transfer_from_rpc_log`;
* web3.py: ``contract.events.Transfer().process_log(log)`` (generic ABI decoding), timed on a
  subsample (``--web3-sample``, default 20,000 logs) and extrapolated to events/s;
* ethereum-etl: ``EthReceiptLogMapper.json_dict_to_receipt_log`` +
  ``EthTokenTransferExtractor.extract_transfer_from_log`` (its own token-transfer extractor),
  run in its own virtualenv (it pins web3 5): ``--etl-python /tmp/etl-venv/bin/python`` after
  ``python -m venv /tmp/etl-venv && /tmp/etl-venv/bin/pip install ethereum-etl``.

All decoders are checked to agree on the first 1,000 logs (tracer's two paths on all of them).
Medians of ``--repeat`` runs, in CPU time of the process (``time.process_time``: other processes
on a shared machine do not count) and in wall time; the garbage collector stays on, as in a
real run. ``--append`` appends the table to docs/benchmarks.md.

    python bench/bench_decode.py [--logs 1000000] [--repeat 3] [--append]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The generator runs unchanged in this interpreter and in ethereum-etl's virtualenv.
GENERATOR = r"""
import random

TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def make_logs(n, seed=1, frontier=0):
    # n logs; every address distinct, or (frontier > 0) one side of each log drawn from that
    # many frontier addresses, as an eth_getLogs query with the frontier as topic 1 or 2 returns
    rng = random.Random(seed)
    tokens = ["0x%040x" % rng.getrandbits(160) for _ in range(50)]
    known = ["0x%064x" % rng.getrandbits(160) for _ in range(frontier)]
    logs = []
    for i in range(n):
        a, b = "0x%064x" % rng.getrandbits(160), "0x%064x" % rng.getrandbits(160)
        if frontier:
            if i % 2:
                a = known[rng.randrange(frontier)]
            else:
                b = known[rng.randrange(frontier)]
        logs.append({
            "address": tokens[i % 50],
            "topics": [TOPIC, a, b],
            "data": "0x%064x" % rng.getrandbits(rng.choice((32, 64, 96, 256))),
            "blockNumber": hex(15_000_000 + i // 200),
            "transactionHash": "0x%064x" % rng.getrandbits(256),
            "transactionIndex": hex((i // 4) % 200),
            "blockHash": "0x%064x" % (15_000_000 + i // 200),
            "logIndex": hex(i % 200),
            "removed": False,
        })
    return logs
"""

ETL_SCRIPT = (
    GENERATOR
    + r"""
import json, statistics, sys, time
from ethereumetl.mappers.receipt_log_mapper import EthReceiptLogMapper
from ethereumetl.service.token_transfer_extractor import EthTokenTransferExtractor

n, repeat = int(sys.argv[1]), int(sys.argv[2])
logs = make_logs(n)
mapper, extractor = EthReceiptLogMapper(), EthTokenTransferExtractor()
cpu, wall = [], []
paused = sys.argv[3] == "paused" if len(sys.argv) > 3 else False
for _ in range(repeat):
    out = None
    if paused:
        import gc
        gc.collect()
        gc.disable()
    c, w = time.process_time(), time.perf_counter()
    out = [extractor.extract_transfer_from_log(mapper.json_dict_to_receipt_log(log)) for log in logs]
    cpu.append(time.process_time() - c)
    wall.append(time.perf_counter() - w)
    if paused:
        gc.enable()
check = [[t.token_address, t.from_address, t.to_address, str(t.value)] for t in out[:1000]]
from importlib.metadata import version
print(json.dumps({"cpu": statistics.median(cpu), "wall": statistics.median(wall), "check": check,
                  "version": version("ethereum-etl")}))
"""
)

ABI = [
    {
        "anonymous": False,
        "inputs": [
            {"indexed": True, "name": "from", "type": "address"},
            {"indexed": True, "name": "to", "type": "address"},
            {"indexed": False, "name": "value", "type": "uint256"},
        ],
        "name": "Transfer",
        "type": "event",
    }
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--web3-sample", type=int, default=20_000)
    parser.add_argument("--etl-python", default="/tmp/etl-venv/bin/python")
    parser.add_argument("--append", action="store_true")
    parser.add_argument(
        "--gc",
        choices=("paused", "on"),
        default="paused",
        help="paused (default): every decoder runs with the garbage collector paused, as the "
        "RPC source does inside engine.trace (gc_paused); on: the collector runs as usual",
    )
    args = parser.parse_args()

    from tracer.sources.evm_logs import transfer_from_rpc_log
    from tracer.sources.rpc import decode_transfer_records

    namespace: dict = {}
    exec(GENERATOR, namespace)
    logs = namespace["make_logs"](args.logs)
    shaped = namespace["make_logs"](args.logs, seed=2, frontier=1000)
    n = len(logs)

    collecting = [0.0, 0.0]  # CPU time in the garbage collector; start of the current pass

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    gc.callbacks.append(on_gc)
    in_gc: dict = {}  # function -> median CPU seconds spent collecting garbage

    def timed(fn) -> tuple[float, float]:
        cpu, wall, spent = [], [], []
        for _ in range(args.repeat):
            if args.gc == "paused":
                gc.collect()  # outside the clock: no earlier garbage is left to the timed run
                gc.disable()
            collecting[0] = 0.0
            c, w = time.process_time(), time.perf_counter()
            fn()
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
            gc.enable()
            spent.append(collecting[0])
        in_gc[fn.__name__] = statistics.median(spent)
        return statistics.median(cpu), statistics.median(wall)

    records: list = []
    single: list = []

    def full():  # what RpcSource._token_transfers runs on every eth_getLogs reply
        records[:] = decode_transfer_records(logs)

    def full_shaped():
        decode_transfer_records(shaped)

    def one_by_one():
        single[:] = [transfer_from_rpc_log(log, source="rpc") for log in logs]

    load_start = os.getloadavg()
    t_full = timed(full)
    t_shaped = timed(full_shaped)
    t_single = timed(one_by_one)
    check = [[r.asset, r.from_address, r.to_address, str(r.amount)] for r in single[:1000]]
    assert records == single, "the batch and one-log decoders disagree"
    assert decode_transfer_records(shaped) == [transfer_from_rpc_log(log) for log in shaped]

    from web3 import Web3

    event = Web3().eth.contract(abi=ABI).events.Transfer()
    sample = logs[: args.web3_sample]
    decoded: list = []

    def web3_run():
        decoded[:] = [event.process_log(log) for log in sample]

    t_web3 = timed(web3_run)
    web3_check = [
        [
            d["address"].lower(),
            d["args"]["from"].lower(),
            d["args"]["to"].lower(),
            str(d["args"]["value"]),
        ]
        for d in decoded[:1000]
    ]
    assert web3_check == check, "web3.py and tracer disagree"
    import web3 as web3_module

    rows = [
        (
            "tracer `rpc.decode_transfer_records` (logs -> `Transfer` records: the RPC "
            "source's full path)",
            n,
            t_full,
            "every address distinct (worst case)",
        ),
        (
            "tracer `rpc.decode_transfer_records`, frontier-shaped logs",
            n,
            t_shaped,
            "one side of each log among 1,000 frontier addresses",
        ),
        ("tracer `evm_logs.transfer_from_rpc_log` (one log at a time)", n, t_single, ""),
        (
            f"web3.py {web3_module.__version__} `events.Transfer().process_log`",
            len(sample),
            t_web3,
            f"timed on {len(sample):,} logs, extrapolated",
        ),
    ]
    web3_name = rows[3][0]
    etl_note = ""
    etl = Path(args.etl_python)
    if etl.exists():
        reply = subprocess.run(
            [str(etl), "-c", ETL_SCRIPT, str(n), str(args.repeat), args.gc],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if reply.returncode == 0:
            result = json.loads(reply.stdout.strip().splitlines()[-1])
            assert result["check"] == check, "ethereum-etl and tracer disagree"
            rows.append(
                (
                    f"ethereum-etl {result['version']} `EthTokenTransferExtractor` (+ log mapper)",
                    n,
                    (result["cpu"], result["wall"]),
                    "own virtualenv (web3 5.31)",
                )
            )
        else:
            etl_note = f"ethereum-etl failed: {reply.stderr.strip().splitlines()[-1:]}"
    else:
        etl_note = f"ethereum-etl not measured: no interpreter at {etl}"

    cpu = {name: count / s[0] for name, count, s, _ in rows}
    wall = {name: count / s[1] for name, count, s, _ in rows}
    load_end = os.getloadavg()
    lines = [
        f"{n:,} synthetic Transfer logs per dataset (JSON-RPC shape), one core, medians of "
        f"{args.repeat} runs; all decoders agree on the first 1,000 logs. events/s in CPU time "
        "of the process, and in wall time (which on a shared machine also counts waiting for "
        "the CPU). Load average (1, 5, 15 min) at the start "
        f"{', '.join(f'{x:.1f}' for x in load_start)}, at the end "
        f"{', '.join(f'{x:.1f}' for x in load_end)}, on {os.cpu_count()} CPUs.",
        "",
        "| decoder | logs timed | events/s (CPU) | events/s (wall) | x web3.py (CPU) | "
        "x web3.py (wall) | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, count, _, note in rows:
        lines.append(
            f"| {name} | {count:,} | {cpu[name]:,.0f} | {wall[name]:,.0f} | "
            f"{cpu[name] / cpu[web3_name]:,.0f}x | {wall[name] / wall[web3_name]:,.0f}x | "
            f"{note} |"
        )
    lines += [
        "",
        f"Garbage collector: {args.gc} during every timed run"
        + (
            " (as in a trace: engine.trace pauses it, and the RPC source decodes inside it)"
            if args.gc == "paused"
            else ""
        )
        + "; CPU time spent collecting (medians): "
        + ", ".join(
            f"{name} {in_gc[name]:.2f} s of {t[0]:.2f} s"
            for name, t in (
                ("full", t_full),
                ("full_shaped", t_shaped),
                ("one_by_one", t_single),
                ("web3_run", t_web3),
            )
        )
        + ".",
    ]
    if etl_note:
        lines += ["", etl_note]
    table = "\n".join(lines)
    print(table)
    if args.append:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_rpc import machine

        doc = ROOT / "docs" / "benchmarks.md"
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        text += (
            f"\n## Transfer-log decoding throughput (bench/bench_decode.py)\n\n"
            f"Machine: {machine()}. Date: {now}.\n\n{table}\n"
        )
        doc.write_text(text)


if __name__ == "__main__":
    main()
