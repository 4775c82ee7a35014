"""Export the sandbox node's chain as ethereum-etl CSV files, with labels, case and ground truth.

Reads every block of a node holding the replayed scenario (:mod:`tracer.sandbox.anvil`) over
JSON-RPC, in batches, and writes what ethereum-etl's CLI writes for it, with the columns the
bulk generator writes (:mod:`tracer.sandbox.generator`) plus ``logs.csv``:

``blocks.csv``           ``eth_getBlockByNumber``
``transactions.csv``     the blocks' transactions (type 2, fee caps 0)
``receipts.csv``         ``eth_getBlockReceipts``: ``status`` 0 for the failed transactions
``logs.csv``             the receipts' logs (topics comma-joined), blacklist events included
``token_transfers.csv``  Transfer logs with three topics and one data word, as ethereum-etl does
``traces.csv``           ``trace_block`` (Parity/OpenEthereum traces, which anvil serves from what
                         it recorded while mining, also after ``--load-state``; ``debug_trace*``
                         re-executes and needs historical state a loaded node no longer has):
                         every call, the top-level one with an empty ``trace_address``, nested
                         ones comma-joined (``0,1``); ``status`` 0 for a failed trace and all below
                         it; ``trace_id`` as ethereum-etl computes it
``tokens.csv``           ``symbol``/``name``/``decimals``/``totalSupply`` by ``eth_call`` for every
                         contract that emitted a Transfer, with its creation block

Beside them ``labels.yaml``, ``case.json`` and ``ground_truth.json`` as the generator writes them,
with the node's addresses: the same expected flags and amounts under every rule (the generator's
``_ground_truth`` applied to the node's addresses), plus what only a real chain shows:
``blacklisted`` (Tether's ``AddedBlackList`` events), ``bridge_transfers`` (the bridge's ``Send``
events), ``failed_transactions`` and the replay's ``deviations``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from eth_abi import decode
from eth_utils import keccak

from tracer.sandbox import generator as gen
from tracer.sandbox.anvil import (
    CHAIN_ID,
    DEVIATIONS,
    Plan,
    Rpc,
    actor_address,
    build_plan,
    sign_all,
)
from tracer.sandbox.node import NodeError

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
ADDED_BLACKLIST_TOPIC = "0x" + keccak(text="AddedBlackList(address)").hex()
SEND_TOPIC = (
    "0x" + keccak(text="Send(bytes32,address,address,address,uint256,uint64,uint64,uint32)").hex()
)
NODE_SOURCE = "synthetic: tracer sandbox replayed on anvil (tracer/sandbox/anvil.py)"
EXPORT_FILES = gen.EXPORT_FILES + ("logs.csv",)

HEADERS = {
    "blocks.csv": [
        "number",
        "hash",
        "parent_hash",
        "miner",
        "gas_limit",
        "gas_used",
        "timestamp",
        "transaction_count",
        "base_fee_per_gas",
    ],
    "transactions.csv": [
        "hash",
        "nonce",
        "block_hash",
        "block_number",
        "transaction_index",
        "from_address",
        "to_address",
        "value",
        "gas",
        "gas_price",
        "input",
        "block_timestamp",
        "max_fee_per_gas",
        "max_priority_fee_per_gas",
        "transaction_type",
    ],
    "receipts.csv": [
        "transaction_hash",
        "transaction_index",
        "block_hash",
        "block_number",
        "cumulative_gas_used",
        "gas_used",
        "contract_address",
        "root",
        "status",
        "effective_gas_price",
    ],
    "logs.csv": [
        "log_index",
        "transaction_hash",
        "transaction_index",
        "block_hash",
        "block_number",
        "address",
        "data",
        "topics",
    ],
    "token_transfers.csv": [
        "token_address",
        "from_address",
        "to_address",
        "value",
        "transaction_hash",
        "log_index",
        "block_number",
    ],
    "traces.csv": [
        "block_number",
        "transaction_hash",
        "transaction_index",
        "from_address",
        "to_address",
        "value",
        "input",
        "output",
        "trace_type",
        "call_type",
        "reward_type",
        "gas",
        "gas_used",
        "subtraces",
        "trace_address",
        "error",
        "status",
        "trace_id",
    ],
    "tokens.csv": ["address", "symbol", "name", "decimals", "total_supply", "block_number"],
}


def _int(value) -> int | str:
    """Decimal int of a hex quantity; '' for a missing one."""
    if value is None or value == "":
        return ""
    return int(value, 16) if isinstance(value, str) else int(value)


def _lower(value) -> str:
    return value.lower() if value else ""


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def _trace_rows(block_number: int, traces: list[dict]) -> list[list]:
    """ethereum-etl trace rows from Parity traces of one block (statuses and ids included)."""
    rows = []
    failed: dict[tuple[str, tuple], bool] = {}
    for t in traces:
        action, result = t.get("action") or {}, t.get("result") or {}
        kind = t["type"]
        address = tuple(t.get("traceAddress") or [])
        tx_hash = t.get("transactionHash") or ""
        error = t.get("error") or ""
        parent_failed = bool(address) and failed.get((tx_hash, address[:-1]), False)
        failed[(tx_hash, address)] = bool(error) or parent_failed
        src = dst = value = call_type = reward_type = ""
        data = output = ""
        if kind == "call":
            src, dst, value = action.get("from"), action.get("to"), _int(action.get("value"))
            call_type, data = action.get("callType", ""), action.get("input", "")
            output = result.get("output", "")
        elif kind == "create":
            src, dst, value = action.get("from"), result.get("address"), _int(action.get("value"))
            data, output = action.get("init", ""), result.get("code", "")
        elif kind == "suicide":
            src, dst = action.get("address"), action.get("refundAddress")
            value = _int(action.get("balance"))
        elif kind == "reward":
            dst, value = action.get("author"), _int(action.get("value"))
            reward_type = action.get("rewardType", "")
        trace_id = (
            f"{kind}_{tx_hash}_{'_'.join(str(i) for i in address)}"
            if tx_hash
            else f"{kind}_{block_number}_{len(rows)}"
        )
        rows.append(
            [
                block_number,
                tx_hash,
                t.get("transactionPosition", ""),
                _lower(src),
                _lower(dst),
                value,
                data,
                output,
                kind,
                call_type,
                reward_type,
                _int(action.get("gas")),
                _int(result.get("gasUsed")) if result else "",
                t.get("subtraces", 0),
                ",".join(str(i) for i in address),
                error,
                0 if failed[(tx_hash, address)] else 1,
                trace_id,
            ]
        )
    return rows


def _eth_call(rpc: Rpc, calls: list[tuple[str, str]]) -> list[str | None]:
    """Results of (contract, selector) calls at the latest block; None where one reverts."""
    out = []
    for contract, selector in calls:
        try:
            out.append(rpc.call("eth_call", [{"to": contract, "data": selector}, "latest"]))
        except NodeError:
            out.append(None)
    return out


def _token_rows(rpc: Rpc, tokens: list[str], created: dict[str, int]) -> list[list]:
    selectors = {
        "symbol": "0x" + keccak(text="symbol()")[:4].hex(),
        "name": "0x" + keccak(text="name()")[:4].hex(),
        "decimals": "0x" + keccak(text="decimals()")[:4].hex(),
        "total_supply": "0x" + keccak(text="totalSupply()")[:4].hex(),
    }
    rows = []
    for token in tokens:
        got = dict(
            zip(selectors, _eth_call(rpc, [(token, s) for s in selectors.values()]), strict=True)
        )

        def text(raw):
            try:
                return decode(["string"], bytes.fromhex(raw[2:]))[0] if raw else ""
            except Exception:  # noqa: BLE001 - a token without a proper string answer
                return ""

        def number(raw):
            return int(raw, 16) if raw and raw != "0x" else ""

        rows.append(
            [
                token,
                text(got["symbol"]),
                text(got["name"]),
                number(got["decimals"]),
                number(got["total_supply"]),
                created.get(token, ""),
            ]
        )
    return rows


def export(rpc: Rpc | str, out_dir: Path | str, plan: Plan | None = None) -> dict:
    """Write the node's chain, labels, case and ground truth into ``out_dir``; return counts.

    Raises :class:`NodeError` if the node does not hold the sandbox replay."""
    if isinstance(rpc, str):
        rpc = Rpc(rpc)
    plan = plan or build_plan()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chain_id = int(rpc.call("eth_chainId"), 16)
    codes = rpc.batch([("eth_getCode", [a, "latest"]) for a in plan.contracts.values()])
    if chain_id != CHAIN_ID or any(c in (None, "0x") for c in codes):
        raise NodeError(
            f"{rpc.url} does not hold the sandbox replay (chain {chain_id}; start it with "
            "`tracer sandbox up`)"
        )
    latest = int(rpc.call("eth_blockNumber"), 16)
    numbers = list(range(plan.genesis, latest + 1))
    blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers], size=100)
    busy = [b for b in blocks if b["transactions"]]
    receipts = rpc.batch([("eth_getBlockReceipts", [b["number"]]) for b in busy], size=50)
    traces = rpc.batch([("trace_block", [b["number"]]) for b in busy], size=50)

    rows: dict[str, list[list]] = {name: [] for name in HEADERS}
    created: dict[str, int] = {}
    for b in blocks:
        number, ts = int(b["number"], 16), int(b["timestamp"], 16)
        rows["blocks.csv"].append(
            [
                number,
                b["hash"],
                b["parentHash"],
                _lower(b["miner"]),
                _int(b["gasLimit"]),
                _int(b["gasUsed"]),
                ts,
                len(b["transactions"]),
                _int(b.get("baseFeePerGas")),
            ]
        )
        for tx in b["transactions"]:
            rows["transactions.csv"].append(
                [
                    tx["hash"],
                    _int(tx["nonce"]),
                    tx["blockHash"],
                    number,
                    _int(tx["transactionIndex"]),
                    _lower(tx["from"]),
                    _lower(tx.get("to")),
                    _int(tx["value"]),
                    _int(tx["gas"]),
                    _int(tx.get("gasPrice")),
                    tx["input"],
                    ts,
                    _int(tx.get("maxFeePerGas")),
                    _int(tx.get("maxPriorityFeePerGas")),
                    _int(tx.get("type")),
                ]
            )
    for b, block_receipts, block_traces in zip(busy, receipts, traces, strict=True):
        number = int(b["number"], 16)
        for r in block_receipts:
            if r.get("contractAddress"):
                created[r["contractAddress"].lower()] = number
            rows["receipts.csv"].append(
                [
                    r["transactionHash"],
                    _int(r["transactionIndex"]),
                    r["blockHash"],
                    number,
                    _int(r["cumulativeGasUsed"]),
                    _int(r["gasUsed"]),
                    _lower(r.get("contractAddress")),
                    r.get("root") or "",
                    _int(r.get("status")),
                    _int(r.get("effectiveGasPrice")),
                ]
            )
            for log in r["logs"]:
                topics = [t.lower() for t in log["topics"]]
                rows["logs.csv"].append(
                    [
                        _int(log["logIndex"]),
                        log["transactionHash"],
                        _int(log["transactionIndex"]),
                        log["blockHash"],
                        number,
                        log["address"].lower(),
                        log["data"],
                        ",".join(topics),
                    ]
                )
                words = [log["data"][2 + i : 66 + i] for i in range(0, len(log["data"]) - 2, 64)]
                if topics and topics[0] == TRANSFER_TOPIC and len(topics) + len(words) == 4:
                    parts = topics[1:] + ["0x" + w for w in words]
                    rows["token_transfers.csv"].append(
                        [
                            log["address"].lower(),
                            "0x" + parts[0][-40:],
                            "0x" + parts[1][-40:],
                            int(parts[2], 16),
                            log["transactionHash"],
                            _int(log["logIndex"]),
                            number,
                        ]
                    )
        rows["traces.csv"].extend(_trace_rows(number, block_traces))
    tokens = sorted({row[0] for row in rows["token_transfers.csv"]})
    rows["tokens.csv"] = _token_rows(rpc, tokens, created)
    for name, header in HEADERS.items():
        _write(out / name, header, rows[name])

    case, truth = case_and_ground_truth(plan, rows["logs.csv"], rows["token_transfers.csv"])
    (out / "labels.yaml").write_text(
        gen._labels_yaml(plan.addresses).replace(gen.SANDBOX_SOURCE, NODE_SOURCE),
        encoding="utf-8",
    )
    (out / "case.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return {
        "blocks": len(blocks),
        "transactions": len(rows["transactions.csv"]),
        "token_transfers": len(rows["token_transfers.csv"]),
        "traces": len(rows["traces.csv"]),
        "logs": len(rows["logs.csv"]),
        "out": str(out),
    }


def case_and_ground_truth(plan: Plan, logs: list[list], transfers: list[list]) -> tuple[dict, dict]:
    """The generator's case and ground truth on the node's addresses, plus the chain's events
    (``logs`` and ``transfers``: rows of logs.csv and token_transfers.csv)."""
    token_map = {
        gen.USDT_TOKEN: plan.contracts["usdt"],
        gen.USDC_TOKEN: plan.contracts["usdc"],
        gen.FAKE_USDT: plan.contracts["fake_usdt"],
    }
    case = gen._case(plan.addresses)
    case["name"] = "sandbox-anvil"
    case["title"] += " (replayed on a local anvil node)"
    for seed in case["seeds"]:
        seed["source"] = NODE_SOURCE
    for asset in case["assets"]:
        asset["address"] = token_map[asset["address"]]

    truth = gen._ground_truth(plan.addresses)
    for flag in truth["flags"]:
        flag["asset"] = token_map.get(flag["asset"], flag["asset"])
    truth["never_in_graph"]["fake_usdt"] = plan.contracts["fake_usdt"]
    names = plan.names
    usdt, bridge = plan.contracts["usdt"], plan.contracts["bridge"]
    blacklisted, bridged = [], []

    def usdt_balance(who: str, until_block: int) -> int:
        held = 0
        for token, src, dst, value, _, _, block in transfers:
            if token == usdt and block <= until_block:
                held += (value if dst == who else 0) - (value if src == who else 0)
        return held

    for log_index, tx_hash, _, _, block, address, data, topics in logs:
        topic0 = topics.split(",")[0]
        if address == usdt and topic0 == ADDED_BLACKLIST_TOPIC:
            who = "0x" + data[-40:]
            blacklisted.append(
                {
                    "name": names.get(who, ""),
                    "address": who,
                    "token": usdt,
                    "event": "AddedBlackList",
                    "frozen": str(usdt_balance(who, block)),  # base units held when listed
                    "tx_hash": tx_hash,
                    "block_number": block,
                    "log_index": log_index,
                }
            )
        elif address == bridge and topic0 == SEND_TOPIC:
            fields = decode(
                [
                    "bytes32",
                    "address",
                    "address",
                    "address",
                    "uint256",
                    "uint64",
                    "uint64",
                    "uint32",
                ],
                bytes.fromhex(data[2:]),
            )
            bridged.append(
                {
                    "transfer_id": "0x" + fields[0].hex(),
                    "sender": names.get(fields[1].lower(), ""),
                    "from": fields[1].lower(),
                    "receiver": fields[2].lower(),
                    "amount": str(fields[4]),
                    "dst_chain_id": fields[5],
                    "tx_hash": tx_hash,
                    "block_number": block,
                }
            )
    sign_all(plan)
    truth["blacklisted"] = blacklisted
    truth["bridge_transfers"] = bridged
    truth["failed_transactions"] = [
        {
            "what": s.what,
            "tx_hash": s.hash,
            "from": actor_address(s.sender),
            "to": s.to,
            "value": str(s.value),
            "block_number": s.block,
        }
        for s in plan.steps
        if s.status == 0
    ]
    truth["node"] = {
        "chain_id": CHAIN_ID,
        "genesis_block": plan.genesis,
        "first_story_block": plan.first_story_block,
        "last_block": plan.last_block,
        "contracts": plan.contracts,
    }
    truth["deviations"] = DEVIATIONS
    return case, truth
