"""The columnar fast path (bulk index rows kept as arrays, ledgers replayed over them) must give
exactly what the record path gives: same ledger results, same histories, byte-identical outputs.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

import tracer
from tracer.allocation import IN, OUT, SELF, has_swap, replay_shares, run_ledgers, segments
from tracer.records import Transfer
from tracer.sandbox import SANDBOX_DIR
from tracer.sources.bulk import BulkSource

ME = "0x" + "11" * 20
OTHERS = ["0x" + f"{i:02x}" * 20 for i in range(0x20, 0x26)]
ASSETS = ["native", "0x" + "dd" * 20, "0x" + "ee" * 20]
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


def _history(rng: random.Random, n: int, multi: bool) -> list[Transfer]:
    """A ledger in chain order: inflows, outflows, self-transfers, transactions with several
    transfers (some of them swaps), amounts from 1 to well past 2^64."""
    out, block, tx = [], 100, 0
    while len(out) < n:
        block += rng.randint(0, 2)
        tx += 1
        for log in range(rng.choice((1, 1, 1, 2, 3)) if multi else 1):
            kind = rng.random()
            if kind < 0.45:
                sender, receiver = rng.choice(OTHERS), ME
            elif kind < 0.95:
                sender, receiver = ME, rng.choice(OTHERS)
            else:
                sender = receiver = ME
            amount = rng.choice((1, rng.randint(1, 10**6), rng.randint(1, 2**80)))
            out.append(
                Transfer(
                    "ethereum",
                    rng.choice(ASSETS),
                    sender,
                    receiver,
                    amount,
                    18,
                    "0x" + f"{tx:064x}",
                    log,
                    block,
                    1_600_000_000 + block * 12,
                )
            )
    return out


def _columns(history: list[Transfer]):
    rows = list(range(len(history)))
    dirs = [
        SELF if t.from_address == t.to_address else IN if t.to_address == ME else OUT
        for t in history
    ]
    return (
        rows,
        dirs,
        [t.asset for t in history],
        [t.amount for t in history],
        [t.timestamp for t in history],
    )


@pytest.mark.parametrize("policy", ["haircut", "poison"])
def test_replay_shares_equals_run_ledgers_on_random_ledgers(policy):
    rng = random.Random(7)
    swaps = replayed = 0
    for case in range(400):
        history = _history(rng, rng.randint(1, 60), multi=rng.random() < 0.3)
        inflows = [t for t in history if t.to_address == ME and t.from_address != ME]
        tainted_in = {}
        for t in rng.sample(inflows, k=min(len(inflows), rng.randint(0, 4))):
            share = rng.choice((0, t.amount, rng.randint(0, t.amount)))
            pieces = tuple(s for s in ((share, True), (t.amount - share, False)) if s[0])
            tainted_in[t.transfer_id] = tracer.allocation.Taint(
                share, pieces, (f"parent-{case}-{t.log_index}",), rng.randint(1, 5)
            )
        rows, dirs, assets, amounts, times = _columns(history)
        taints = {
            i: (t.transfer_id, tainted_in[t.transfer_id])
            for i, t in enumerate(history)
            if dirs[i] == IN and t.transfer_id in tainted_in
        }
        hop = rng.randint(0, 5)
        exact = run_ledgers(ME, history, tainted_in, policy, hop=hop)
        if has_swap(rows, dirs, assets, [t.tx_hash for t in history]):
            assert exact.swap_out  # the exact path's swap rule: not replayed over columns
            swaps += 1
            continue
        assert not exact.swap_out
        fast = replay_shares(
            segments(rows, dirs, assets, amounts),
            amounts,
            times,
            taints,
            lambda i, h=history: h[i].transfer_id,
            policy,
            hop=hop,
        )
        assert fast == exact, case
        replayed += 1
    assert swaps > 10 and replayed > 200


def test_replay_shares_refuses_lot_rules():
    with pytest.raises(ValueError):
        replay_shares([], [], [], {}, str, "fifo")


class RecordsOnly:
    """The same bulk source, offering only the record path (no ``frontier_rows``)."""

    def __init__(self, source: BulkSource):
        self._source = source
        self.name, self.chain = source.name, source.chain

    def __getattr__(self, name: str):
        if name == "frontier_rows":
            raise AttributeError(name)
        return getattr(self._source, name)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> BulkSource:
    folder = tmp_path_factory.mktemp("fast") / SANDBOX_DIR.name  # names the source
    shutil.copytree(SANDBOX_DIR, folder, ignore=shutil.ignore_patterns(".*"))
    source = BulkSource(folder, cache_dir=folder.parent / "cache")
    source.build_index()
    return source


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != "manifest.json"
    }


@pytest.mark.parametrize("policy", POLICIES)
def test_columnar_trace_equals_record_trace_on_the_sandbox(indexed, tmp_path, policy):
    fast = tracer.trace(case="sandbox", source=indexed, policy=policy)
    slow = tracer.trace(case="sandbox", source=RecordsOnly(indexed), policy=policy)
    scan = tracer.trace(case="sandbox", policy=policy)  # no index: the scanning source
    assert fast.outcome.queries == slow.outcome.queries
    assert set(fast.outcome.histories) == set(slow.outcome.histories)
    for address, history in slow.outcome.histories.items():
        assert fast.outcome.histories[address] == history, address
    for address, node in slow.outcome.nodes.items():
        assert fast.outcome.nodes[address] == node, address
    assert fast.outcome.edges == slow.outcome.edges
    assert fast.outcome.pruned == slow.outcome.pruned
    fast.export(tmp_path / "fast")
    slow.export(tmp_path / "slow")
    scan.export(tmp_path / "scan")
    files = _files(tmp_path / "fast")
    assert {"flags.csv", "graph.json", "graph.graphml"} <= set(files)
    assert files == _files(tmp_path / "slow") == _files(tmp_path / "scan")


def test_frontier_rows_match_the_records(indexed):
    everyone = sorted(
        {t.from_address for t in indexed.transfers(_sandbox_addresses(indexed))}
        | {t.to_address for t in indexed.transfers(_sandbox_addresses(indexed))}
    )
    records = indexed.transfers(everyone)
    rows = indexed.frontier_rows(everyone)
    kept = [t for t in records if t.success and t.amount > 0]
    for address in everyone[::7]:
        expected = [
            t
            for t in kept
            if t.from_address == address
            or (t.to_address == address and t.to_address != t.from_address)
        ]
        history = rows.history(address)
        assert len(history) == len(expected)
        assert list(history) == expected
    pruned = [t for t, _ in rows.pruned()]
    assert pruned == [t for t in records if not (t.success and t.amount > 0)]
    for row, t in enumerate(indexed.transfers(everyone)):
        assert rows.tid_of(row) == t.transfer_id
        assert rows.rows_of_transfer(t.transfer_id) == [row]


def _sandbox_addresses(source: BulkSource) -> list[str]:
    rows = source._con.execute(
        f"SELECT DISTINCT from_address FROM ({source._normalized_sql(False)}) LIMIT 400"
    ).fetchall()
    return [r[0] for r in rows]


def test_text_mode_index_takes_the_same_path(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    token = "0x" + "70" * 20
    (folder / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n"
        f"{token},alice,bob,5,tx-1,0,100\n"
        f"{token},bob,carol,3,tx-2,1,101\n"
        f"{token},bob,dave,2,tx-3,0,102\n"
    )
    source = BulkSource(folder, cache_dir=tmp_path / "cache")
    source.build_index()
    rows = source.frontier_rows(["bob"])
    assert [t.tx_hash for t in rows.history("bob")] == ["tx-1", "tx-2", "tx-3"]
    assert rows.rows_of_transfer("tx-2:1") == [1]
    taint = tracer.allocation.Taint(5, ((5, True),), ("seed",), 1)
    result = rows.history("bob").replay({"tx-1:0": taint}, "haircut", hop=1)
    exact = run_ledgers("bob", source.transfers(["bob"]), {"tx-1:0": taint}, "haircut", hop=1)
    assert result == exact and result.out == {
        "tx-2:1": tracer.allocation.Taint(3, ((3, True),), ("tx-1:0",), 2),
        "tx-3:0": tracer.allocation.Taint(2, ((2, True),), ("tx-1:0",), 2),
    }
    assert rows.history("bob").transfers_by_id(["tx-3:0"])["tx-3:0"].to_address == "dave"


@pytest.mark.parametrize("policy", ["haircut", "poison"])
@pytest.mark.parametrize("huge", [True, False])
def test_columnar_trace_with_a_window_and_huge_amounts(tmp_path, policy, huge):
    """Amounts past 2^64 and 2^128 (the clean balances fall back to Python integers) or up to
    2^44 (64-bit sums), several transfers in one transaction, zero-value
    rows, and ``until``."""
    rng = random.Random(3)
    people = ["0x" + f"{i:02x}" * 20 for i in range(0x30, 0x3C)]
    token = "0x" + "dac17f958d2ee523a2206206994597c13d831ec7"[:40]
    lines = ["token_address,from_address,to_address,value,transaction_hash,log_index,block_number"]
    for i in range(400):
        sender, receiver = rng.sample(people, 2)
        if huge:
            value = rng.choice((0, rng.randint(1, 10**9), rng.randint(2**64, 2**70), 2**200 + i))
        else:
            value = rng.choice((0, 1, rng.randint(1, 10**9), rng.randint(2**42, 2**44)))
        tx = f"0x{i // 2:064x}"  # two transfers per transaction
        lines.append(f"{token},{sender},{receiver},{value},{tx},{i % 2},{100 + i // 4}")
    folder = tmp_path / "huge"
    folder.mkdir()
    (folder / "token_transfers.csv").write_text("\n".join(lines) + "\n")
    (folder / "blocks.csv").write_text(
        "number,timestamp\n" + "".join(f"{b},{1_600_000_000 + 12 * b}\n" for b in range(100, 201))
    )
    source = BulkSource(folder, cache_dir=tmp_path / "cache")
    source.build_index()
    for until in (None, 1_600_000_000 + 12 * 170):
        kw = dict(chain="ethereum", policy=policy, hops=4, until=until, fan_out=0)
        fast = tracer.trace(people[:2], source=source, **kw)
        slow = tracer.trace(people[:2], source=RecordsOnly(source), **kw)
        assert fast.outcome.edges and fast.outcome.edges == slow.outcome.edges
        assert fast.outcome.nodes == slow.outcome.nodes
        fast.export(tmp_path / "fast")
        slow.export(tmp_path / "slow")
        assert _files(tmp_path / "fast") == _files(tmp_path / "slow")
