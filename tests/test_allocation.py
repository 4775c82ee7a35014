"""Hand-checked allocation examples: exact integers for every rule, and conservation."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

from tracer.allocation import CONSERVING, POLICIES, Ledger, run_ledgers
from tracer.engine import TraceParams, trace
from tracer.records import Transfer
from tracer.sources.memory import MemorySource

_counter = itertools.count()


def tx(frm, to, amount, block, asset="native", tx_hash=None, log_index=None, kind=None):
    n = next(_counter)
    kind = kind or ("native" if asset == "native" else "token")
    return Transfer(
        chain="ethereum",
        asset=asset,
        from_address=frm,
        to_address=to,
        amount=amount,
        decimals=18 if asset == "native" else 6,
        tx_hash=tx_hash or f"0x{n:064x}",
        log_index=log_index if log_index is not None else (0 if kind == "token" else None),
        block_number=block,
        timestamp=1_600_000_000 + block * 12,
        source="test",
        kind=kind,
    )


def mixing_history():
    """M holds 200 clean, receives 300 stolen, then pays 250 to X and 250 to Y."""
    return [
        tx("clean", "M", 200, 1),
        tx("thief", "M", 300, 2),
        tx("M", "X", 250, 3),
        tx("M", "Y", 250, 4),
    ]


@pytest.mark.parametrize(
    "policy,expected_x,expected_y,held",
    [
        ("poison", 250, 250, 0),
        ("haircut", 150, 150, 0),  # 250*300/500 = 150; then 250*150/250 = 150
        ("fifo", 50, 250, 0),  # 200 clean go first
        ("lifo", 250, 50, 0),  # the newest lot (stolen) goes first
        ("tiho", 250, 50, 0),  # taint goes first
    ],
)
def test_mixing_address_under_each_rule(policy, expected_x, expected_y, held):
    history = mixing_history()
    stolen = history[1]
    from tracer.allocation import Taint

    tainted_in = {stolen.transfer_id: Taint(300, ((300, True),), (), 1)}
    res = run_ledgers("M", history, tainted_in, policy, hop=1)
    got_x = res.out.get(history[2].transfer_id)
    got_y = res.out.get(history[3].transfer_id)
    assert (got_x.tainted if got_x else 0) == expected_x
    assert (got_y.tainted if got_y else 0) == expected_y
    assert res.held["native"] == held
    if policy in CONSERVING:
        assert 300 == expected_x + expected_y + res.held["native"]


def test_haircut_rounds_down_and_keeps_remainder():
    led = Ledger("haircut", opening_tainted=False)
    led.add(3, 1, ((1, True), (2, False)), "a", 1)
    tainted, *_ = led.take(1)  # 1 * 1 / 3 -> 0 (floor), the remainder stays
    assert tainted == 0 and led.tainted == 1
    tainted, *_ = led.take(2)  # 2 * 1 / 2 = 1
    assert tainted == 1 and led.tainted == 0


def test_fifo_segments_carry_order_to_the_receiver():
    led = Ledger("fifo", opening_tainted=False)
    led.add(100, 0, ((100, False),), "c", 0)
    led.add(50, 50, ((50, True),), "t", 1)
    tainted, segments, parents, _ = led.take(120)
    assert tainted == 20
    assert segments == ((100, False), (20, True))
    assert parents == ("t",)


def test_lifo_and_opening_balance():
    led = Ledger("lifo", opening_tainted=False)
    led.add(50, 50, ((50, True),), "t", 1)
    tainted, segments, _, _ = led.take(80)  # 30 came from before the data window: clean
    assert tainted == 50
    assert segments == ((50, True), (30, False))
    assert led.balance == 0


def test_seed_opening_balance_is_tainted():
    res = run_ledgers("S", [tx("S", "A", 70, 5)], {}, "haircut", seed=True)
    assert res.out[next(iter(res.out))].tainted == 70
    assert res.created == {"native": 70}


def test_swap_carries_tainted_share_by_value():
    """Sends 600 USDT (of 1,200 held, 1,000 stolen) and gets 480 ETH back in the same tx."""
    usdt = "0xusdt"
    h = "0x" + "ab" * 32
    history = [
        tx("exchange", "S", 200, 1, asset=usdt),
        tx("thief", "S", 1000, 2, asset=usdt),
        tx("S", "pool", 600, 3, asset=usdt, tx_hash=h, log_index=0),
        tx("pool", "S", 480, 3, tx_hash=h, kind="internal"),
        tx("S", "bridge", 480, 4),
    ]
    history[3] = dataclasses.replace(history[3], trace_address="0", log_index=None)
    from tracer.allocation import Taint

    tainted_in = {history[1].transfer_id: Taint(1000, ((1000, True),), (), 1)}
    expected = {"poison": 480, "haircut": 400, "fifo": 320, "lifo": 480, "tiho": 480}
    for policy, eth in expected.items():
        res = run_ledgers("S", history, tainted_in, policy, hop=1)
        assert res.out[history[4].transfer_id].tainted == eth, policy
        assert history[2].transfer_id in res.swap_out
        assert res.swap_in[history[3].transfer_id].tainted == eth


def random_history(rng, n_addresses=12, n_transfers=250):
    names = [f"a{i}" for i in range(n_addresses)]
    out = [tx("seed", rng.choice(names), rng.randrange(1, 10**6), 1) for _ in range(5)]
    balances = {n: 0 for n in names}
    for t in out:
        balances[t.to_address] += t.amount
    for block in range(2, n_transfers):
        frm = rng.choice(names)
        to = rng.choice([n for n in names if n != frm] + ["outside"])
        if rng.random() < 0.3:
            out.append(tx("clean-" + str(block), frm, rng.randrange(1, 10**6), block))
            continue
        if balances[frm] == 0:
            continue
        amount = rng.randrange(1, balances[frm] + 1)
        balances[frm] -= amount
        if to in balances:
            balances[to] += amount
        out.append(tx(frm, to, amount, block))
    return out


@pytest.mark.parametrize("policy", CONSERVING)
@pytest.mark.parametrize("seed", range(5))
def test_no_taint_created_or_lost(policy, seed):
    """At every expanded address: tainted in = tainted out + tainted held, exactly."""
    rng = random.Random(seed)
    transfers = random_history(rng)
    outcome = trace(MemorySource(transfers), ["seed"], TraceParams(policy=policy, hops=50))
    tainted_in: dict[str, int] = {}
    tainted_out: dict[str, int] = {}
    for t, taint, _ in outcome.edges.values():
        tainted_in[t.to_address] = tainted_in.get(t.to_address, 0) + taint.tainted
        tainted_out[t.from_address] = tainted_out.get(t.from_address, 0) + taint.tainted
    introduced = sum(
        taint.tainted for t, taint, _ in outcome.edges.values() if t.from_address == "seed"
    )
    assert introduced > 0
    ends = 0
    for address, node in outcome.nodes.items():
        if node.seed:
            continue
        held = node.result.held.get("native", 0) if node.result else tainted_in.get(address, 0)
        if node.result:
            assert tainted_in.get(address, 0) == tainted_out.get(address, 0) + held, address
        ends += held
    assert ends == introduced


def test_poison_never_less_than_haircut():
    rng = random.Random(7)
    transfers = random_history(rng)
    totals = {}
    for policy in ("poison", "haircut"):
        o = trace(MemorySource(transfers), ["seed"], TraceParams(policy=policy, hops=50))
        totals[policy] = sum(taint.tainted for _, taint, _ in o.edges.values())
    assert totals["poison"] >= totals["haircut"]


def test_policies_listed():
    assert set(POLICIES) == {"poison", "haircut", "fifo", "lifo", "tiho"}
