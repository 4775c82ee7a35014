"""BulkSource (DuckDB over BigQuery / ethereum-etl exports) and the ERC-20 Transfer log decoder."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracer.sources.base import SourceError
from tracer.sources.bulk import BulkSource
from tracer.sources.evm_logs import TRANSFER_TOPIC, decode_transfer_log, transfer_from_rpc_log

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ETL = DATA / "real" / "ethereum-etl" / "tests" / "resources"
RONIN = DATA / "real" / "ronin-2022"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not available on this machine")
    return path


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- evm_logs


def test_decode_ethereum_etl_logs_csv_matches_expected_token_transfers():
    folder = _need(ETL / "test_extract_token_transfers_job" / "logs")
    decoded = []
    for row in _read_csv(folder / "logs.csv"):
        result = decode_transfer_log(row["address"], row["topics"], row["data"])
        if result is not None:
            sender, receiver, value = result
            decoded.append(
                (
                    row["address"],
                    sender,
                    receiver,
                    str(value),
                    row["transaction_hash"],
                    row["log_index"],
                    row["block_number"],
                )
            )
    expected = [
        (
            e["token_address"],
            e["from_address"],
            e["to_address"],
            e["value"],
            e["transaction_hash"],
            e["log_index"],
            e["block_number"],
        )
        for e in _read_csv(folder / "expected_token_transfers.csv")
    ]
    assert decoded == expected


def test_rpc_filter_logs_match_expected_token_transfers():
    folder = _need(ETL / "test_export_token_transfers_job" / "block_with_transfers")
    response = json.loads((folder / "web3_response.eth_getFilterLogs_0x0.json").read_text())
    records = [transfer_from_rpc_log(log, timestamp=0) for log in response["result"]]
    got = [
        (
            t.asset,
            t.from_address,
            t.to_address,
            str(t.amount),
            t.tx_hash,
            str(t.log_index),
            str(t.block_number),
        )
        for t in records
    ]
    expected = [
        (
            e["token_address"],
            e["from_address"],
            e["to_address"],
            e["value"],
            e["transaction_hash"],
            e["log_index"],
            e["block_number"],
        )
        for e in _read_csv(folder / "expected_token_transfers.csv")
    ]
    assert got == expected
    assert [t.tx_index for t in records] == [0, 1]
    assert all(t.kind == "token" and t.success for t in records)


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def test_decode_rejects_what_is_not_a_fungible_transfer():
    a, b = "0x" + "11" * 20, "0x" + "22" * 20
    word = "0x" + f"{2**256 - 1:064x}"
    assert decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a), _topic(b)], word) == (
        a,
        b,
        2**256 - 1,
    )
    # ERC-721: 4 topics, value is a token id
    assert (
        decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a), _topic(b), _topic(a)], "0x") is None
    )
    # another event, short or malformed data, missing topics
    assert decode_transfer_log("0xt", ["0x" + "ab" * 32, _topic(a), _topic(b)], word) is None
    assert decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a), _topic(b)], "0x01") is None
    assert (
        decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a), _topic(b)], "0x" + "zz" * 32) is None
    )
    assert decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a), _topic(b)], word + "00") is None
    assert decode_transfer_log("0xt", [TRANSFER_TOPIC, _topic(a)], word) is None
    assert decode_transfer_log("0xt", None, word) is None
    assert decode_transfer_log("0xt", [TRANSFER_TOPIC, "0x12", _topic(b)], word) is None
    # bytes (web3 HexBytes) and upper-case topic0 are fine
    raw = [
        bytes.fromhex(TRANSFER_TOPIC[2:]),
        bytes.fromhex(_topic(a)[2:]),
        bytes.fromhex(_topic(b)[2:]),
    ]
    assert decode_transfer_log(b"t", raw, bytes.fromhex(f"{5:064x}")) == (a, b, 5)
    assert (
        decode_transfer_log(
            "0xt", [TRANSFER_TOPIC.upper().replace("0X", "0x"), _topic(a), _topic(b)], word
        )
        is not None
    )


def test_rpc_log_removed_or_malformed_is_skipped():
    a, b = "0x" + "11" * 20, "0x" + "22" * 20
    log = {
        "address": "0x" + "33" * 20,
        "topics": [TRANSFER_TOPIC, _topic(a), _topic(b)],
        "data": "0x" + f"{7:064x}",
        "blockNumber": "0x10",
        "logIndex": "0x2",
        "transactionHash": "0x" + "44" * 32,
        "transactionIndex": "0x1",
        "blockTimestamp": "0x5f5e1000",
    }
    record = transfer_from_rpc_log(log)
    assert (record.amount, record.block_number, record.log_index, record.tx_index) == (7, 16, 2, 1)
    assert record.timestamp == 0x5F5E1000
    assert transfer_from_rpc_log({**log, "removed": True}) is None
    assert transfer_from_rpc_log({**log, "data": "0x"}) is None
    assert transfer_from_rpc_log({**log, "blockNumber": None}) is None


# --------------------------------------------------------------------------- synthetic exports

A = "0x" + "a1" * 20  # the thief
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
D = "0x" + "d4" * 20
K = "0x" + "e5" * 20  # a contract that moves ETH around
N = "0x" + "f6" * 20  # a contract K creates
T = "0x" + "70" * 20  # token with 6 decimals in `tokens`
U = "0x" + "71" * 20  # token without a `tokens` row
MINER = "0x" + "99" * 20
BIG = 2**70 + 1
HUGE = 2**256 - 1


def _h(n: int) -> str:
    return "0x" + f"{n:064x}"


def _ts(block: int) -> int:
    return 1_600_000_000 + (block - 100) * 12


# transactions: hash, block, index, from, to, value, status (1 ok, 0 failed, None pre-Byzantium)
TXS = [
    (_h(1), 100, 0, A, B, 5 * 10**18, None),
    (_h(2), 100, 1, A, C, 10**18, 0),
    (_h(3), 101, 0, A, T, 0, 1),
    (_h(4), 102, 3, B, K, 3 * 10**18, 1),
    (_h(5), 103, 0, D, A, 4, 0),
    (_h(6), 103, 1, A, D, 0, 1),
    (_h(7), 104, 2, C, A, 2**64 + 5, 1),
    (_h(8), 105, 0, B, U, 0, 1),
]
# token transfers: token, from, to, value, tx, log index, block
TOKEN_TRANSFERS = [
    (T, A, B, BIG, _h(3), 0, 101),
    (T, A, D, 0, _h(3), 1, 101),
    (T, D, A, 9, _h(5), 0, 103),  # in a failed transaction
    (U, B, C, HUGE, _h(8), 4, 105),
]
# traces: tx, index, block, from, to, value, type, call type, trace address, status, error
TRACES = [
    (_h(1), 0, 100, A, B, 5 * 10**18, "call", "call", "", 1, None),
    (_h(2), 1, 100, A, C, 10**18, "call", "call", "", 0, "Reverted"),
    (_h(4), 3, 102, B, K, 3 * 10**18, "call", "call", "", 1, None),  # top level: = tx value
    (_h(4), 3, 102, K, D, 2 * 10**18, "call", "call", "0", 1, None),
    (_h(4), 3, 102, D, C, 1, "call", "call", "0,0", 1, None),
    (_h(4), 3, 102, K, C, 10**18, "call", "delegatecall", "1", 1, None),
    (_h(4), 3, 102, K, A, 10**18, "call", "call", "2", 0, "Reverted"),
    (_h(4), 3, 102, K, B, 5 * 10**17, "suicide", None, "3", 1, None),
    (_h(4), 3, 102, K, N, 10**17, "create", None, "4", 1, None),
    (_h(4), 3, 102, K, C, 0, "call", "staticcall", "5", 1, None),
    (_h(4), 3, 102, K, K, 8, "call", "callcode", "6", 1, None),
    (_h(4), 3, 102, K, C, 7, "call", "call", "10", 1, None),
    (_h(5), 0, 103, D, A, 4, "call", "call", "", 0, "Reverted"),
    (_h(5), 0, 103, A, C, 3, "call", "call", "0", 0, "Reverted"),
    (None, None, 103, None, MINER, 2 * 10**18, "reward", None, "", 1, None),
]

# what the source must return: (id, kind, asset, from, to, amount, decimals, success, block, txi)
EXPECTED = [
    (f"{_h(1)}:tx", "native", "native", A, B, 5 * 10**18, 18, True, 100, 0),
    (f"{_h(2)}:tx", "native", "native", A, C, 10**18, 18, False, 100, 1),
    (f"{_h(3)}:0", "token", T, A, B, BIG, 6, True, 101, 0),
    (f"{_h(3)}:1", "token", T, A, D, 0, 6, True, 101, 0),
    (f"{_h(4)}:tx", "native", "native", B, K, 3 * 10**18, 18, True, 102, 3),
    (f"{_h(4)}:trace:0", "internal", "native", K, D, 2 * 10**18, 18, True, 102, 3),
    (f"{_h(4)}:trace:0,0", "internal", "native", D, C, 1, 18, True, 102, 3),
    (f"{_h(4)}:trace:2", "internal", "native", K, A, 10**18, 18, False, 102, 3),
    (f"{_h(4)}:trace:3", "internal", "native", K, B, 5 * 10**17, 18, True, 102, 3),
    (f"{_h(4)}:trace:4", "internal", "native", K, N, 10**17, 18, True, 102, 3),
    (f"{_h(4)}:trace:10", "internal", "native", K, C, 7, 18, True, 102, 3),
    (f"{_h(5)}:tx", "native", "native", D, A, 4, 18, False, 103, 0),
    (f"{_h(5)}:0", "token", T, D, A, 9, 6, False, 103, 0),
    (f"{_h(5)}:trace:0", "internal", "native", A, C, 3, 18, False, 103, 0),
    (f"{_h(7)}:tx", "native", "native", C, A, 2**64 + 5, 18, True, 104, 2),
    (f"{_h(8)}:4", "token", U, B, C, HUGE, None, True, 105, 0),
]


def _expected_for(addresses, since=None, until=None):
    return [
        e
        for e in EXPECTED
        if (e[3] in addresses or e[4] in addresses)
        and (since is None or _ts(e[8]) >= since)
        and (until is None or _ts(e[8]) <= until)
    ]


def _summary(transfers):
    return [
        (
            t.transfer_id,
            t.kind,
            t.asset,
            t.from_address,
            t.to_address,
            t.amount,
            t.decimals,
            t.success,
            t.block_number,
            t.tx_index,
        )
        for t in transfers
    ]


def _bq_time(block: int) -> str:
    return datetime.fromtimestamp(_ts(block), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _write(folder: Path, name: str, rows: list[dict], fmt: str, schema: pa.Schema | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")
        return
    with open(folder / f"{name}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _bigquery_export(folder: Path, fmt: str) -> Path:
    """BigQuery crypto_ethereum layout: block_timestamp everywhere, receipt_status on txs."""
    parquet = fmt == "parquet"
    when = (lambda b: datetime.fromtimestamp(_ts(b), tz=timezone.utc)) if parquet else _bq_time
    numeric = (lambda v: Decimal(v)) if parquet else (lambda v: str(v))
    ts_type = pa.timestamp("us", tz="UTC")
    _write(
        folder,
        "transactions",
        [
            {
                "hash": h,
                "nonce": i,
                "transaction_index": idx,
                "from_address": f,
                "to_address": t,
                "value": numeric(v),
                "gas": 21000,
                "input": "0x",
                "receipt_status": s,
                "block_timestamp": when(b),
                "block_number": b,
                "block_hash": _h(1000 + b),
            }
            for i, (h, b, idx, f, t, v, s) in enumerate(TXS)
        ],
        fmt,
        pa.schema(
            [
                ("hash", pa.string()),
                ("nonce", pa.int64()),
                ("transaction_index", pa.int64()),
                ("from_address", pa.string()),
                ("to_address", pa.string()),
                ("value", pa.decimal128(38, 9)),
                ("gas", pa.int64()),
                ("input", pa.string()),
                ("receipt_status", pa.int64()),
                ("block_timestamp", ts_type),
                ("block_number", pa.int64()),
                ("block_hash", pa.string()),
            ]
        ),
    )
    _write(
        folder / "token_transfers",
        "token_transfers-000000000000",
        [
            {
                "token_address": tok,
                "from_address": f,
                "to_address": t,
                "value": str(v),
                "transaction_hash": h,
                "log_index": li,
                "block_timestamp": when(b),
                "block_number": b,
                "block_hash": _h(1000 + b),
            }
            for tok, f, t, v, h, li, b in TOKEN_TRANSFERS
        ],
        fmt,
        pa.schema(
            [
                ("token_address", pa.string()),
                ("from_address", pa.string()),
                ("to_address", pa.string()),
                ("value", pa.string()),
                ("transaction_hash", pa.string()),
                ("log_index", pa.int64()),
                ("block_timestamp", ts_type),
                ("block_number", pa.int64()),
                ("block_hash", pa.string()),
            ]
        ),
    )
    _write(
        folder,
        "traces",
        [
            {
                "transaction_hash": h,
                "transaction_index": idx,
                "from_address": f,
                "to_address": t,
                "value": numeric(v),
                "trace_type": tt,
                "call_type": ct,
                "trace_address": ta or None,
                "error": e,
                "status": s,
                "block_timestamp": when(b),
                "block_number": b,
            }
            for h, idx, b, f, t, v, tt, ct, ta, s, e in TRACES
        ],
        fmt,
        pa.schema(
            [
                ("transaction_hash", pa.string()),
                ("transaction_index", pa.int64()),
                ("from_address", pa.string()),
                ("to_address", pa.string()),
                ("value", pa.decimal128(38, 9)),
                ("trace_type", pa.string()),
                ("call_type", pa.string()),
                ("trace_address", pa.string()),
                ("error", pa.string()),
                ("status", pa.int64()),
                ("block_timestamp", ts_type),
                ("block_number", pa.int64()),
            ]
        ),
    )
    _write(
        folder,
        "tokens",
        [
            {"address": T, "symbol": "TT", "name": "Test", "decimals": "6", "total_supply": "1"},
            {"address": T, "symbol": "TT", "name": "Test", "decimals": "6", "total_supply": "1"},
        ],
        fmt,
    )
    return folder


def _etl_export(folder: Path, fmt: str, logs: bool = False) -> Path:
    """ethereum-etl CLI layout: no block_timestamp (blocks.csv), status in receipts.csv."""
    _write(
        folder,
        "blocks",
        [
            {"number": b, "hash": _h(1000 + b), "timestamp": _ts(b), "transaction_count": 1}
            for b in range(100, 106)
        ],
        fmt,
    )
    _write(
        folder,
        "transactions",
        [
            {
                "hash": h,
                "nonce": i,
                "block_hash": _h(1000 + b),
                "block_number": b,
                "transaction_index": idx,
                "from_address": f,
                "to_address": t,
                "value": str(v),
                "gas": 21000,
                "input": "0x",
            }
            for i, (h, b, idx, f, t, v, _s) in enumerate(TXS)
        ],
        fmt,
    )
    _write(
        folder,
        "receipts",
        [
            {
                "transaction_hash": h,
                "transaction_index": idx,
                "block_number": b,
                "contract_address": None,
                "status": s,
            }
            for h, b, idx, _f, _t, _v, s in TXS
        ],
        fmt,
        pa.schema(
            [
                ("transaction_hash", pa.string()),
                ("transaction_index", pa.int64()),
                ("block_number", pa.int64()),
                ("contract_address", pa.string()),
                ("status", pa.int64()),
            ]
        ),
    )
    if logs:
        rows = [
            {
                "log_index": li,
                "transaction_hash": h,
                "transaction_index": 0,
                "block_number": b,
                "address": tok,
                "data": "0x" + f"{v:064x}",
                "topics": [TRANSFER_TOPIC, _topic(f), _topic(t)],
            }
            for tok, f, t, v, h, li, b in TOKEN_TRANSFERS
        ]
        rows += [  # an ERC-721 transfer and an unrelated event: not fungible transfers
            {
                "log_index": 7,
                "transaction_hash": _h(8),
                "transaction_index": 0,
                "block_number": 105,
                "address": U,
                "data": "0x",
                "topics": [TRANSFER_TOPIC, _topic(B), _topic(C), _h(1)],
            },
            {
                "log_index": 8,
                "transaction_hash": _h(8),
                "transaction_index": 0,
                "block_number": 105,
                "address": U,
                "data": _h(3),
                "topics": ["0x" + "ab" * 32, _topic(B), _topic(C)],
            },
        ]
        if fmt == "csv":
            rows = [{**r, "topics": ",".join(r["topics"])} for r in rows]
        _write(folder, "logs", rows, fmt)
    else:
        _write(
            folder,
            "token_transfers",
            [
                {
                    "token_address": tok,
                    "from_address": f,
                    "to_address": t,
                    "value": str(v),
                    "transaction_hash": h,
                    "log_index": li,
                    "block_number": b,
                }
                for tok, f, t, v, h, li, b in TOKEN_TRANSFERS
            ],
            fmt,
        )
    _write(
        folder,
        "traces",
        [
            {
                "block_number": b,
                "transaction_hash": h,
                "transaction_index": idx,
                "from_address": f,
                "to_address": t,
                "value": str(v),
                "trace_type": tt,
                "call_type": ct,
                "trace_address": ta,
                "error": e,
                "status": s,
            }
            for h, idx, b, f, t, v, tt, ct, ta, s, e in TRACES
        ],
        fmt,
        pa.schema(
            [
                ("block_number", pa.int64()),
                ("transaction_hash", pa.string()),
                ("transaction_index", pa.int64()),
                ("from_address", pa.string()),
                ("to_address", pa.string()),
                ("value", pa.string()),
                ("trace_type", pa.string()),
                ("call_type", pa.string()),
                ("trace_address", pa.string()),
                ("error", pa.string()),
                ("status", pa.int64()),
            ]
        ),
    )
    _write(folder, "tokens", [{"address": T, "symbol": "TT", "name": "Test", "decimals": 6}], fmt)
    return folder


EXPORTS = {
    "bigquery": lambda folder, fmt: _bigquery_export(folder, fmt),
    "etl": lambda folder, fmt: _etl_export(folder, fmt),
    "etl-logs": lambda folder, fmt: _etl_export(folder, fmt, logs=True),
}


@pytest.fixture(
    scope="module",
    params=[
        (layout, fmt, indexed)
        for layout in EXPORTS
        for fmt in ("csv", "parquet")
        for indexed in (False, True)
    ],
    ids=lambda p: f"{p[0]}-{p[1]}-{'index' if p[2] else 'scan'}",
)
def source(request, tmp_path_factory):
    """One export per layout and format, read by scanning or through the index (read-only)."""
    layout, fmt, indexed = request.param
    tmp_path = tmp_path_factory.mktemp(f"{layout}-{fmt}")
    folder = EXPORTS[layout](tmp_path / f"export-{layout}", fmt)
    src = BulkSource(folder, cache_dir=tmp_path / "cache")
    if indexed:
        src.build_index()
        assert src.index_status == "used"
    yield src
    src.close()


def test_frontier_both_directions_in_chain_order(source):
    got = source.transfers({A})
    assert _summary(got) == _expected_for({A})
    assert [t.timestamp for t in got] == [_ts(t.block_number) for t in got]
    assert all(t.source == f"duckdb:{source.data_dir.name}" and t.chain == "ethereum" for t in got)


def test_whole_frontier_in_one_call_without_duplicates(source):
    frontier = {A, B, C, D, K, N}
    got = source.transfers(frontier)
    assert _summary(got) == _expected_for(frontier)
    assert len({t.transfer_id for t in got}) == len(got)
    assert [t.position for t in got] == sorted(t.position for t in got)


def test_exact_big_values_failures_traces_and_decimals(source):
    by_id = {t.transfer_id: t for t in source.transfers({A, B, C, D, K})}
    assert by_id[f"{_h(3)}:0"].amount == BIG
    assert by_id[f"{_h(8)}:4"].amount == HUGE and by_id[f"{_h(8)}:4"].decimals is None
    assert by_id[f"{_h(7)}:tx"].amount == 2**64 + 5
    assert by_id[f"{_h(3)}:0"].decimals == 6
    # failed transaction: value, tokens and traces all success=False
    assert not by_id[f"{_h(2)}:tx"].success
    assert not by_id[f"{_h(5)}:tx"].success
    assert not by_id[f"{_h(5)}:0"].success
    assert not by_id[f"{_h(5)}:trace:0"].success
    # pre-Byzantium (empty status) is a success
    assert by_id[f"{_h(1)}:tx"].success
    # top-level trace is the transaction's value, counted once
    assert f"{_h(4)}:trace:" not in by_id
    assert (
        sum(t.amount for t in by_id.values() if t.tx_hash == _h(4) and t.to_address == K)
        == 3 * 10**18
    )
    # delegatecall, callcode, staticcall move nothing; an errored call is marked failed
    assert f"{_h(4)}:trace:1" not in by_id and f"{_h(4)}:trace:5" not in by_id
    assert f"{_h(4)}:trace:6" not in by_id
    assert not by_id[f"{_h(4)}:trace:2"].success
    # zero-value native transaction dropped, zero-value token transfer kept
    assert f"{_h(6)}:tx" not in by_id and by_id[f"{_h(3)}:1"].amount == 0
    # block reward is not a transfer
    assert not source.transfers({MINER})


def test_time_window(source):
    since, until = _ts(101), _ts(103)
    got = source.transfers({A}, since=since, until=until)
    assert _summary(got) == _expected_for({A}, since, until)
    assert {t.block_number for t in got} == {101, 102, 103}
    assert source.transfers({A}, since=_ts(200)) == []


def test_degrees(source):
    frontier = {A, B, K, "0x" + "00" * 20}
    degrees = source.degrees(frontier)
    expected = {a: len(_expected_for({a})) for a in frontier}
    assert degrees == expected
    assert source.degrees({A}, since=_ts(103)) == {A: len(_expected_for({A}, since=_ts(103)))}
    assert source.degrees(set()) == {}


def test_unknown_addresses_and_mixed_case(source):
    assert source.transfers({"0x" + "00" * 20, "not-an-address"}) == []
    assert _summary(source.transfers({A.upper().replace("0X", "0x")})) == _expected_for({A})


def test_fingerprint_hashes_every_file(tmp_path):
    folder = _bigquery_export(tmp_path / "bq", "parquet")
    src = BulkSource(folder)
    fp = src.fingerprint()
    assert fp["layout"] == "bigquery" and fp["source"] == "duckdb:bq"
    assert {e["path"] for e in fp["files"]} == {
        "transactions.parquet",
        "token_transfers/token_transfers-000000000000.parquet",
        "traces.parquet",
        "tokens.parquet",
    }
    for entry in fp["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    etl = BulkSource(_etl_export(tmp_path / "etl", "csv")).fingerprint()
    assert etl["layout"] == "ethereum-etl"
    assert set(etl["tables"]) == {
        "blocks",
        "receipts",
        "tokens",
        "token_transfers",
        "traces",
        "transactions",
    }


def test_index_is_rebuilt_when_files_change(tmp_path):
    folder = _etl_export(tmp_path / "etl", "parquet")
    first = BulkSource(folder)
    path = first.build_index()
    assert path.parent == folder / ".tracer" and first.index_status == "used"
    indexed = first.transfers({A})
    assert BulkSource(folder).index_status == "used"  # picked up by the next source
    assert first.fingerprint()["index"]["path"] == str(path)
    first.close()
    # the export changes: the index no longer matches and is not used
    _write(
        folder,
        "token_transfers",
        [
            {
                "token_address": tok,
                "from_address": f,
                "to_address": t,
                "value": str(v),
                "transaction_hash": h,
                "log_index": li,
                "block_number": b,
            }
            for tok, f, t, v, h, li, b in [*TOKEN_TRANSFERS, (T, A, C, 1, _h(9), 0, 105)]
        ],
        "parquet",
    )
    second = BulkSource(folder)
    assert second.index_status == "stale"
    fresh = second.transfers({A})
    assert len(fresh) == len(indexed) + 1 and fresh[-1].tx_hash == _h(9)
    second.build_index()
    assert second.index_status == "used"
    assert _summary(second.transfers({A})) == _summary(fresh)


def test_csv_gz_and_split_tables(tmp_path):
    import gzip

    folder = tmp_path / "split"
    folder.mkdir()
    rows = [
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number",
        f"{T.upper().replace('0X', '0x')},{A},0x{B[2:].upper()},{BIG},{_h(3)},0,101",  # checksum case
    ]
    (folder / "token_transfers_000.csv").write_text("\n".join(rows) + "\n")
    with gzip.open(folder / "token_transfers_001.csv.gz", "wt") as handle:
        handle.write("\n".join([rows[0], f"{T},{B},{C},{HUGE},{_h(4)},1,102"]) + "\n")
    (folder / "blocks.csv").write_text(f"number,timestamp\n101,{_ts(101)}\n102,{_ts(102)}\n")
    (folder / "README.md").write_text("not a table")
    src = BulkSource(folder)
    got = src.transfers({B})
    assert [(t.amount, t.timestamp) for t in got] == [(BIG, _ts(101)), (HUGE, _ts(102))]
    assert (got[0].asset, got[0].to_address) == (T, B)  # canonical lower case
    assert sorted(src.fingerprint()["tables"]["token_transfers"]) == [
        "token_transfers_000.csv",
        "token_transfers_001.csv.gz",
    ]


def test_contract_creation_value_goes_to_the_new_contract(tmp_path):
    folder = tmp_path / "create"
    _write(
        folder,
        "transactions",
        [
            {
                "hash": _h(1),
                "nonce": 0,
                "transaction_index": 0,
                "from_address": A,
                "to_address": None,
                "value": "5",
                "block_number": 100,
                "block_timestamp": _ts(100),
            },
        ],
        "csv",
    )
    got = BulkSource(folder).transfers({A})
    # keccak(rlp([A, 0]))[12:], the address the EVM gives the new contract
    from eth_hash.auto import keccak

    expected = "0x" + keccak(bytes([0xD6, 0x94]) + bytes.fromhex(A[2:]) + b"\x80")[12:].hex()
    assert [(t.to_address, t.amount) for t in got] == [(expected, 5)]
    # ethereum-etl: receipts.contract_address names it
    _write(
        folder, "receipts", [{"transaction_hash": _h(1), "contract_address": N, "status": 1}], "csv"
    )
    got = BulkSource(folder).transfers({N})
    assert [(t.from_address, t.to_address, t.amount) for t in got] == [(A, N, 5)]


# --------------------------------------------------------------------------- real data


def test_real_logs_csv_through_the_source():
    folder = _need(ETL / "test_extract_token_transfers_job" / "logs")
    expected = _read_csv(folder / "expected_token_transfers.csv")
    src = BulkSource(folder)  # expected_token_transfers.csv is not a table name: ignored
    addresses = {e["from_address"] for e in expected} | {e["to_address"] for e in expected}
    got = [
        {
            "token_address": t.asset,
            "from_address": t.from_address,
            "to_address": t.to_address,
            "value": str(t.amount),
            "transaction_hash": t.tx_hash,
            "log_index": str(t.log_index),
            "block_number": str(t.block_number),
        }
        for t in src.transfers(addresses)
    ]
    assert got == expected
    with pytest.raises(SourceError, match="time window"):
        src.transfers(addresses, since=0)


def test_real_ethereum_etl_traces(tmp_path):
    """ethereum-etl's own traces: top level, callcode, suicide, error, create and reward rows."""
    folder = tmp_path / "traces-only"
    folder.mkdir()
    for case in (
        "block_with_subtraces",
        "block_with_suicide",
        "block_with_error",
        "block_with_create",
    ):
        source = _need(ETL / "test_export_traces_job" / case / "expected_traces.csv")
        shutil.copy(source, folder / f"traces_{case}.csv")  # a tmp copy, never into the repo
    src = BulkSource(folder)
    fp = src.fingerprint()
    everyone = set()
    for entry in fp["files"]:
        for row in _read_csv(folder / entry["path"]):
            everyone |= {row["from_address"], row["to_address"]} - {""}
    got = {t.transfer_id: t for t in src.transfers(everyone)}
    internal = [t for t in got.values() if t.kind == "internal"]
    # the only value-moving internal trace is the selfdestruct refund (callcode moves nothing)
    assert [(t.from_address, t.to_address, t.amount, t.trace_address) for t in internal] == [
        (
            "0x474faa5018639791952fae334e2911700ac7fe9b",
            "0x83973747eec131bf9a08ac64fb1a518e891bdf4b",
            50000000000000000,
            "0",
        ),
    ]
    # without a transactions table the top-level traces carry the transaction values, once
    natives = {t.tx_hash: t for t in got.values() if t.kind == "native"}
    assert (
        natives["0xea1093d492a1dcb1bef708f771a99a96ff05dcab81ca76c31940300177fcf49f"].amount
        == 10**20
    )
    out_of_gas = natives["0xa2f089480e6fd907e786a88d928ba20feeca2ca37ffa84c2d54bae42f5d989c9"]
    assert not out_of_gas.success
    assert natives["0x2c3cfb8d7f3039fcad64bd231beb0229af55f9114d74aef12a6f228ad1dac100"].amount == (
        64655529900000002048
    )
    assert (
        "0xe4de004685c7b5fe48854cfb54cd59686f3f7cbf95e68c3984dfd672fe677871" not in natives
    )  # 0 value
    assert not any(
        t.to_address in {"0xf8b483dba2c3b7176a3da549ad41a48bb3121069"} for t in got.values()
    )


def test_ronin_transactions_only_bigquery_layout():
    folder = _need(RONIN)
    src = BulkSource(folder)
    assert src.fingerprint()["layout"] == "bigquery"
    exploiter = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
    got = src.transfers({exploiter})
    rows = [
        r
        for r in _read_csv(folder / "transactions.csv")
        if exploiter in (r["from_address"], r["to_address"]) and int(r["value"]) > 0
    ]
    assert len(got) == len(rows) > 0
    assert all(t.kind == "native" and t.asset == "native" and t.decimals == 18 for t in got)
    first = got[0]
    assert (first.from_address, first.to_address, first.amount, first.timestamp) == (
        "0x4976a4a02f38326660d17bf34b431dc6e2eb2327",
        exploiter,
        1056900000000000000,
        1648041417,
    )
    assert sum(t.amount for t in got) == sum(int(r["value"]) for r in rows)
    march = src.transfers({exploiter}, until=1648771199)  # through 2022-03-31
    assert 0 < len(march) < len(got) and all(t.timestamp <= 1648771199 for t in march)
    assert src.degrees({exploiter}) == {exploiter: len(got)}


# --------------------------------------------------------------------------- bad input


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def test_missing_directory(tmp_path):
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path / "nope")
    assert "does not exist" in _one_line_error(excinfo)


def test_empty_directory(tmp_path):
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path)
    assert "no export tables" in _one_line_error(excinfo)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "tokens.csv").write_text("address,decimals\n0x01,6\n")
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path)
    assert "no transfer table" in _one_line_error(excinfo)


def test_missing_column_names_file_and_column(tmp_path):
    (tmp_path / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,transaction_hash,log_index,block_number\n"
        f"{T},{A},{B},{_h(1)},0,100\n"
    )
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path)
    message = _one_line_error(excinfo)
    assert "token_transfers.csv" in message and "value" in message


def test_garbage_parquet(tmp_path):
    (tmp_path / "transactions.parquet").write_bytes(os.urandom(2048))
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path)
    assert "transactions.parquet" in _one_line_error(excinfo)


def test_garbage_csv(tmp_path):
    (tmp_path / "token_transfers.csv").write_bytes(b"\x00\xff\xfe garbage \x00\n\x01\x02\n")
    with pytest.raises(SourceError) as excinfo:
        BulkSource(tmp_path)
    assert "token_transfers.csv" in _one_line_error(excinfo)


def test_unparseable_value_is_a_source_error(tmp_path):
    (tmp_path / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n"
        f"{T},{A},{B},lots,{_h(1)},0,100\n"
    )
    src = BulkSource(tmp_path)
    with pytest.raises(SourceError) as excinfo:
        src.transfers({A})
    assert "lots" in _one_line_error(excinfo)


def test_non_evm_chain_is_refused(tmp_path):
    _etl_export(tmp_path, "csv")
    with pytest.raises(SourceError):
        BulkSource(tmp_path, chain="bitcoin")


# --------------------------------------------------------------------------- index vs scanning


def _pair(folder: Path, cache: Path) -> tuple[BulkSource, BulkSource]:
    """The same export read by scanning and through a freshly built index."""
    scan = BulkSource(folder, cache_dir=cache / "none")
    indexed = BulkSource(folder, cache_dir=cache / "ix")
    indexed.build_index()
    assert scan.index_status == "none" and indexed.index_status == "used"
    return scan, indexed


def _everyone(source: BulkSource) -> list[str]:
    """Every address of the export, computed creation addresses included (from the index)."""
    rows = source._con.execute(
        f"SELECT DISTINCT a FROM (SELECT from_address a FROM ({source._normalized_sql(False)}) "
        f"UNION SELECT to_address FROM ({source._normalized_sql(False)})) WHERE a IS NOT NULL"
    ).fetchall()
    every = source.transfers([r[0] for r in rows])
    return sorted({t.from_address for t in every} | {t.to_address for t in every})


def _assert_same(scan, indexed, everyone, windows=((None, None),), k=25, direct=25) -> None:
    """Same transfers (all fields, chain order) for everyone at once, for a spread sample of
    ``k`` addresses one by one (``direct`` of them against their own scanning query, the others
    against the rows of everyone) and for overlapping frontiers; degrees as the rows count."""
    step = max(1, len(everyone) // k)
    sample = everyone[::step]
    for since, until in windows:
        every = scan.transfers(everyone, since, until)
        assert indexed.transfers(everyone, since, until) == every
        degrees = indexed.degrees(everyone, since, until)
        for i, address in enumerate(sample):
            got = indexed.transfers({address}, since, until)
            if i < direct:
                assert got == scan.transfers({address}, since, until), address
            else:
                assert got == [t for t in every if address in (t.from_address, t.to_address)]
            assert indexed.degrees({address}, since, until) == {address: len(got)}
            assert degrees[address] == len(got), address
    for i in range(0, len(everyone), max(1, len(everyone) // 3)):  # overlapping frontiers
        frontier = set(everyone[i : i + 7 * step : step])
        assert indexed.transfers(frontier) == scan.transfers(frontier)


def test_index_matches_scanning_on_the_sandbox(tmp_path):
    from tracer.sandbox import SANDBOX_DIR

    folder = tmp_path / "sandbox"
    shutil.copytree(SANDBOX_DIR, folder, ignore=shutil.ignore_patterns(".*"))
    scan, indexed = _pair(folder, tmp_path)
    everyone = _everyone(indexed)
    # the story's addresses plus a spread of the noise: scanning ~3,000 addresses is slow
    story = set(json.loads((SANDBOX_DIR / "ground_truth.json").read_text())["addresses"].values())
    sample = sorted({a for a in everyone if a in story} | set(everyone[::25]))
    times = sorted({t.timestamp for t in indexed.transfers(sample)})
    middle = times[len(times) // 2]
    _assert_same(scan, indexed, sample, ((None, None), (times[3], middle)), k=20, direct=2)
    assert indexed._index.meta["address_mode"] == "bytes20"
    assert indexed._index.meta["hash_mode"] == "bytes32"


# every awkward value: at and around 2^64 and 2^128, the largest uint256, text the database
# cannot cast (scientific, hex) and duplicates exported twice
E = "0x" + "0e" * 20
MIXED_VALUES = [
    0,
    1,
    2**64 - 1,
    2**64,
    2**64 + 5,
    2**128 - 1,
    2**128,
    2**200 + 7,
    HUGE,
    "1.5e3",
    "0x10",
    "00042",
]


def _mixed_export(folder: Path) -> Path:
    """ethereum-etl CSV: overlapping token files, a self-transfer, a block without a time, a
    missing log index, creations with a computed and a receipt-given contract address."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = [(b, _ts(b)) for b in range(100, 110)]
    _write(folder, "blocks", [{"number": b, "timestamp": ts} for b, ts in blocks], "csv")
    tokens = []
    for i, value in enumerate(MIXED_VALUES):
        sender, receiver = (A, B) if i % 2 else (B, C)
        tokens.append((T if i % 3 else U, sender, receiver, value, _h(50 + i), i, 100 + i % 9))
    tokens.append((T, D, D, 12, _h(70), 0, 104))  # to itself
    tokens.append((T, A.upper().replace("0X", "0x"), E, 3, _h(71), "", 103))  # no log index
    tokens.append((U, E, A, 8, _h(72), 1, 110))  # block 110 has no time
    header = (
        "token_address", "from_address", "to_address", "value", "transaction_hash", "log_index",
        "block_number",
    )  # fmt: skip
    rows = [dict(zip(header, r, strict=True)) for r in tokens]
    _write(folder, "token_transfers_000", rows[:9], "csv")
    _write(folder, "token_transfers_001", rows[6:], "csv")  # rows 6-8 exported twice
    _write(
        folder,
        "tokens",
        [{"address": T, "decimals": 6}, {"address": U, "decimals": 18}],
        "csv",
    )
    _write(
        folder,
        "transactions",
        [
            {"hash": _h(90), "nonce": 0, "transaction_index": 0, "from_address": A,
             "to_address": "", "value": "5", "block_number": 101},
            {"hash": _h(91), "nonce": 7, "transaction_index": 1, "from_address": B,
             "to_address": "", "value": str(2**70), "block_number": 101},
            {"hash": _h(92), "nonce": 1, "transaction_index": 2, "from_address": C,
             "to_address": A, "value": str(HUGE), "block_number": 102},
        ],
        "csv",
    )  # fmt: skip
    _write(
        folder,
        "receipts",
        [
            {"transaction_hash": _h(90), "contract_address": "", "status": 1},
            {"transaction_hash": _h(91), "contract_address": N, "status": 1},
            {"transaction_hash": _h(92), "contract_address": "", "status": 0},
        ],
        "csv",
    )
    _write(
        folder,
        "traces",
        [
            {"transaction_hash": _h(92), "transaction_index": 2, "block_number": 102,
             "from_address": A, "to_address": D, "value": "9", "trace_type": "call",
             "call_type": "call", "trace_address": ta, "status": 1}
            for ta in ("10", "2", "0,1", "0")
        ],
        "csv",
    )  # fmt: skip
    return folder


def test_index_matches_scanning_on_mixed_values(tmp_path):
    scan, indexed = _pair(_mixed_export(tmp_path / "mixed"), tmp_path)
    windows = ((None, None), (_ts(102), None), (None, _ts(104)))
    _assert_same(scan, indexed, _everyone(indexed), windows)
    amounts = {t.amount for t in indexed.transfers(_everyone(indexed))}
    expected = {int(v) if isinstance(v, int) else None for v in MIXED_VALUES} - {None}
    assert expected | {1500, 16, 42} <= amounts
    got = {t.transfer_id: t for t in indexed.transfers({A, D, E})}
    assert got[f"{_h(90)}:tx"].to_address not in ("", None)  # keccak(rlp([A, 0]))
    assert got[f"{_h(92)}:tx"].amount == HUGE and not got[f"{_h(92)}:tx"].success
    assert got[f"{_h(72)}:1"].timestamp == 0 and got[f"{_h(71)}:None"].log_index is None
    assert _h(72) not in {t.tx_hash for t in indexed.transfers({A}, since=0)}  # no block time
    internal = [t.trace_address for t in got.values() if t.kind == "internal"]
    assert internal == ["0", "0,1", "2", "10"]
    # rows exported twice come once, and count once
    assert len(indexed.transfers({B})) == indexed.degrees({B})[B]
    assert scan.degrees({B})[B] > indexed.degrees({B})[B]


def test_index_text_mode_for_addresses_and_hashes_that_are_not_hex(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n"
        f"{T},alice,Bob,5,tx-1,0,100\n"
        f"{T},bob,{A},{HUGE},tx-2,1,101\n"
        f"{T},{A},alice,{2**64},tx-3,0,102\n"
    )
    scan, indexed = _pair(folder, tmp_path)
    _assert_same(scan, indexed, _everyone(indexed))
    assert indexed._index.meta["address_mode"] == "text"
    assert indexed._index.meta["hash_mode"] == "text"
    assert [t.tx_hash for t in indexed.transfers({"BOB"})] == ["tx-1", "tx-2"]
    assert indexed.transfers({"alic", "alicee", "x" * 99}) == []


def test_unparseable_value_through_the_index(tmp_path):
    (tmp_path / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n"
        f"{T},{A},{B},lots,{_h(1)},0,100\n{T},{C},{D},7,{_h(2)},0,100\n"
    )
    src = BulkSource(tmp_path)
    src.build_index()  # the index builds; the bad row fails when it is asked for
    assert [t.amount for t in src.transfers({C})] == [7]
    with pytest.raises(SourceError) as excinfo:
        src.transfers({A})
    assert "lots" in _one_line_error(excinfo)


def test_max_degree_index_and_scan(tmp_path):
    scan, indexed = _pair(_mixed_export(tmp_path / "mixed"), tmp_path)
    everyone = _everyone(indexed)
    degrees = indexed.degrees(everyone)
    every = indexed.transfers(everyone)
    for limit in (0, 1, 3, 5, 100):
        # (a computed creation address has no rows of its own: degree 0)
        quiet = {a for a in everyone if 0 < degrees[a] <= limit}
        expected = [t for t in every if t.from_address in quiet or t.to_address in quiet]
        assert indexed.transfers(everyone, max_degree=limit) == expected, limit
        frontier = {A, D}
        want = [
            t
            for t in indexed.transfers(frontier)
            if {t.from_address, t.to_address} & quiet & frontier
        ]
        assert indexed.transfers(frontier, max_degree=limit) == want
    # windowed: counted inside the window, as degrees() counts
    since = _ts(103)
    windowed = indexed.degrees(everyone, since=since)
    for limit in (0, 2, 4):
        quiet = {a for a in everyone if 0 < windowed[a] <= limit}
        expected = [
            t for t in indexed.transfers(everyone, since=since)
            if t.from_address in quiet or t.to_address in quiet
        ]  # fmt: skip
        assert indexed.transfers(everyone, since=since, max_degree=limit) == expected
    # scanning honours it too (its degrees count rows exported twice: pick addresses without)
    assert scan.transfers({C, D}, max_degree=1) == indexed.transfers({C, D}, max_degree=1)
    assert scan.transfers({A}, max_degree=0) == [] == indexed.transfers({A}, max_degree=0)


def test_broken_or_legacy_index_files(tmp_path):
    folder = _etl_export(tmp_path / "etl", "csv")
    src = BulkSource(folder)
    path = src._default_index_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an index" * 10)
    legacy = path.with_suffix(".duckdb")
    legacy.write_bytes(b"an index of an earlier version")
    orphan = path.with_name(path.name + ".tmp-999999999")  # a build killed half-way
    orphan.write_bytes(b"half")
    again = BulkSource(folder)
    assert again.index_status == "unreadable"
    assert again.build_index() == path and again.index_status == "used"
    assert not legacy.exists() and not orphan.exists()
    assert _summary(again.transfers({A})) == _expected_for({A})
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary files left
    again.close()
    src.close()


def test_max_degree_unknown_addresses(tmp_path):
    folder = _etl_export(tmp_path / "etl", "csv")
    src = BulkSource(folder)
    src.build_index()
    nobody = "0x" + "00" * 20
    assert src.transfers({nobody}, max_degree=5) == []
    assert src.transfers({nobody}, since=0, max_degree=5) == []
    assert src.degrees({nobody}, since=0) == {nobody: 0}
    assert src.transfers({nobody, A}, since=0, max_degree=100) == src.transfers({A}, since=0)
