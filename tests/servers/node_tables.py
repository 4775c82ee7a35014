"""Tables for the loopback explorers, read straight from a running node's chain over JSON-RPC.

:func:`node_tables` gives the rows :class:`servers.etherscan_server.ExplorerData` builds its
Etherscan replies from (ethereum-etl column names, every value a string, as a CSV reader gives
them): ``blocks`` and ``transactions`` from ``eth_getBlockByNumber``, ``receipts`` from
``eth_getTransactionReceipt``, ``token_transfers`` from one ``eth_getLogs`` over the chain
(Transfer events with three topics and one data word), ``traces`` from ``trace_block`` (a trace
fails with any of its ancestors), ``tokens`` from ``eth_call``. It reads the node the way an
explorer's indexer does, independently of ``tracer sandbox export``, so a parity test compares
three ways of reading one chain.
"""

from __future__ import annotations

import json
import urllib.request

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
SELECTORS = {"symbol": "0x95d89b41", "name": "0x06fdde03", "decimals": "0x313ce567"}


def _rpc(url: str, calls: list[tuple[str, list]]) -> list:
    """Results of a JSON-RPC batch, in order (None where a call fails)."""
    out: list = []
    for i in range(0, len(calls), 100):
        body = [
            {"jsonrpc": "2.0", "id": n, "method": m, "params": p}
            for n, (m, p) in enumerate(calls[i : i + 100])
        ]
        request = urllib.request.Request(
            url, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            answers = {a["id"]: a for a in json.loads(reply.read())}
        out += [answers[n].get("result") for n in range(len(body))]
    return out


def _dec(value) -> str:
    return "" if value in (None, "") else str(int(value, 16))


def _text(word: str | None) -> str:
    """An ABI-encoded string answer of ``eth_call`` (offset, length, bytes)."""
    raw = bytes.fromhex((word or "0x")[2:])
    if len(raw) < 64:
        return ""
    size = int.from_bytes(raw[32:64], "big")
    return raw[64 : 64 + size].decode("utf-8", "replace")


def _first_block(url: str, head: int) -> int:
    """The first block with a successor: a node started at block N (anvil ``--number``, loaded
    state) may answer for a lone block 0 and have nothing from 1 to N-1."""

    def exists(n: int) -> bool:
        return _rpc(url, [("eth_getBlockByNumber", [hex(n), False])])[0] is not None

    first = int(_rpc(url, [("eth_getBlockByNumber", ["earliest", False])])[0]["number"], 16)
    if first + 1 > head or exists(first + 1):
        return first
    lo, hi = first + 1, head
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if exists(mid) else (mid, hi)
    return hi


def node_tables(url: str) -> dict[str, list[dict]]:
    """Every table of the node's chain, from its first block to its head."""
    head = _rpc(url, [("eth_blockNumber", [])])[0]
    numbers = range(_first_block(url, int(head, 16)), int(head, 16) + 1)
    blocks = _rpc(url, [("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
    tables: dict[str, list[dict]] = {k: [] for k in ("blocks", "transactions", "receipts")}
    for b in blocks:
        tables["blocks"].append({"number": _dec(b["number"]), "timestamp": _dec(b["timestamp"])})
        for tx in b["transactions"]:
            tables["transactions"].append(
                {
                    "hash": tx["hash"],
                    "nonce": _dec(tx["nonce"]),
                    "block_hash": tx["blockHash"],
                    "block_number": _dec(tx["blockNumber"]),
                    "transaction_index": _dec(tx["transactionIndex"]),
                    "from_address": tx["from"].lower(),
                    "to_address": (tx.get("to") or "").lower(),
                    "value": _dec(tx["value"]),
                    "gas": _dec(tx["gas"]),
                    "gas_price": _dec(tx.get("gasPrice")),
                    "input": tx["input"],
                    "block_timestamp": _dec(b["timestamp"]),
                }
            )
    hashes = [t["hash"] for t in tables["transactions"]]
    for r in _rpc(url, [("eth_getTransactionReceipt", [h]) for h in hashes]):
        tables["receipts"].append(
            {
                "transaction_hash": r["transactionHash"],
                "status": _dec(r["status"]),
                "contract_address": (r.get("contractAddress") or "").lower(),
                "cumulative_gas_used": _dec(r["cumulativeGasUsed"]),
                "gas_used": _dec(r["gasUsed"]),
            }
        )
    logs = _rpc(
        url,
        [
            (
                "eth_getLogs",
                [{"fromBlock": hex(numbers[0]), "toBlock": head, "topics": [TRANSFER_TOPIC]}],
            )
        ],
    )[0]
    tables["token_transfers"] = [
        {
            "token_address": log["address"].lower(),
            "from_address": "0x" + log["topics"][1][-40:],
            "to_address": "0x" + log["topics"][2][-40:],
            "value": _dec(log["data"]),
            "transaction_hash": log["transactionHash"],
            "log_index": _dec(log["logIndex"]),
            "block_number": _dec(log["blockNumber"]),
        }
        for log in logs
        if len(log["topics"]) == 3 and len(log["data"]) == 66
    ]
    busy = [b["number"] for b in blocks if b["transactions"]]
    tables["traces"] = []
    for number, traces in zip(busy, _rpc(url, [("trace_block", [n]) for n in busy]), strict=True):
        failed: dict[tuple, bool] = {}
        for t in traces or []:
            if t["type"] != "call":
                continue  # contract creations and rewards move no value in the sandbox
            where = tuple(t.get("traceAddress") or [])
            tx = t["transactionHash"]
            failed[(tx, where)] = bool(t.get("error")) or failed.get((tx, where[:-1]), False)
            tables["traces"].append(
                {
                    "block_number": _dec(number),
                    "transaction_hash": tx,
                    "from_address": t["action"]["from"].lower(),
                    "to_address": t["action"]["to"].lower(),
                    "value": _dec(t["action"].get("value")) or "0",
                    "trace_type": "call",
                    "call_type": t["action"].get("callType", ""),
                    "gas": _dec(t["action"].get("gas")),
                    "gas_used": _dec((t.get("result") or {}).get("gasUsed")),
                    "trace_address": ",".join(str(i) for i in where),
                    "error": t.get("error") or "",
                    "status": "0" if failed[(tx, where)] else "1",
                }
            )
    tokens = sorted({t["token_address"] for t in tables["token_transfers"]})
    calls = [
        ("eth_call", [{"to": a, "data": s}, "latest"]) for a in tokens for s in SELECTORS.values()
    ]
    answers = iter(_rpc(url, calls))
    tables["tokens"] = []
    for address in tokens:
        symbol, name, decimals = (next(answers) for _ in SELECTORS)
        tables["tokens"].append(
            {
                "address": address,
                "symbol": _text(symbol),
                "name": _text(name),
                "decimals": _dec(decimals),
            }
        )
    return tables
