"""UTXO allocation inside one transaction: hand-checked integers for every rule, fee explicit."""

from __future__ import annotations

import random

import pytest

from tracer.bitcoin.allocation import (
    CONSERVING,
    POLICIES,
    AllocationError,
    InputTaint,
    allocate,
    apportion,
)

CLEAN, FULL = InputTaint.clean, InputTaint.full

# The sandbox's MIX transaction: vin 0 clean 30 BTC, vin 1 stolen 20 BTC; vout 0 25 BTC,
# vout 1 24.9999 BTC, fee 10,000 sat.
MIX_IN = [CLEAN(3_000_000_000), FULL(2_000_000_000)]
MIX_OUT = [2_500_000_000, 2_499_990_000]
MIX = {
    # rule: (vout 0, vout 1, fee)
    "poison": (2_500_000_000, 2_499_990_000, 10_000),
    "haircut": (1_000_000_000, 999_996_000, 4_000),  # each x 2/5
    "fifo": (0, 1_999_990_000, 10_000),  # 25 clean, then 5 clean + 19.9999 stolen, fee stolen
    "lifo": (2_000_000_000, 0, 0),  # the stolen 20 (last input) pays vout 0 first
    "tiho": (2_000_000_000, 0, 0),  # taint into the highest output
}


@pytest.mark.parametrize("policy", POLICIES)
def test_mix_transaction_every_rule(policy):
    a = allocate(policy, MIX_IN, MIX_OUT)
    assert (*a.out_tainted, a.fee_tainted) == MIX[policy]
    assert a.fee == 10_000 and a.tainted_in == 2_000_000_000


def test_pieces_keep_their_order():
    fifo = allocate("fifo", MIX_IN, MIX_OUT)
    assert fifo.out_segments == [
        ((2_500_000_000, False),),
        ((500_000_000, False), (1_999_990_000, True)),
    ]
    lifo = allocate("lifo", MIX_IN, MIX_OUT)
    assert lifo.out_segments[0] == ((2_000_000_000, True), (500_000_000, False))
    # the pieces travel: spending vout 1 under fifo puts its clean 5 BTC first
    nxt = allocate(
        "fifo", [InputTaint(2_499_990_000, fifo.out_segments[1])], [600_000_000, 1_899_980_000]
    )
    assert nxt.out_tainted == [100_000_000, 1_899_980_000] and nxt.fee_tainted == 10_000


def test_haircut_is_blocksci_with_largest_remainder_and_fee():
    """SWEEP_A of the sandbox: 2e9 tainted of 3.72e9 in, one output 3,719,980,000, fee 20,000.

    min(v/(Σout+fee)·T, v): 3,719,980,000·2e9/3.72e9 = 1,999,989,247.31 (floor), fee
    20,000·2e9/3.72e9 = 10,752.69: the leftover satoshi goes to the larger remainder, the fee."""
    ins = [
        CLEAN(150_000_000),
        FULL(1_000_000_000),
        CLEAN(70_000_000),
        InputTaint(2_500_000_000, ((1_000_000_000, True), (1_500_000_000, False))),
    ]
    a = allocate("haircut", ins, [3_719_980_000])
    assert a.out_tainted == [1_999_989_247] and a.fee_tainted == 10_753
    assert a.sources == [{1: 999_994_624, 3: 999_994_623}]  # split by the inputs' taint


def test_tiho_fills_the_largest_outputs_first():
    ins = [CLEAN(50), FULL(120), CLEAN(40)]  # 210 in
    a = allocate("tiho", ins, [30, 100, 70])  # fee 10
    assert a.out_tainted == [0, 100, 20] and a.fee_tainted == 0
    a = allocate("tiho", [FULL(100)], [60, 35])  # fee 5: taint everywhere, the fee last
    assert a.out_tainted == [60, 35] and a.fee_tainted == 5


def test_fifo_lifo_with_three_outputs_and_sources():
    ins = [FULL(40), CLEAN(30), FULL(30)]  # 100 in: T = 70
    a = allocate("fifo", ins, [50, 45])  # fee 5
    # queue: 40 stolen, 30 clean, 30 stolen -> vout 0 = 40s + 10c, vout 1 = 20c + 25s, fee 5s
    assert a.out_tainted == [40, 25] and a.fee_tainted == 5
    assert a.sources == [{0: 40}, {2: 25}] and a.fee_sources == {2: 5}
    b = allocate("lifo", ins, [50, 45])
    # reversed queue: 30 stolen (vin 2), 30 clean, 40 stolen (vin 0)
    assert b.out_tainted == [30, 35] and b.fee_tainted == 5
    assert b.sources == [{2: 30}, {0: 35}]


def test_poison_taints_everything_and_creates_taint():
    a = allocate("poison", [CLEAN(1000), FULL(1)], [600, 390])
    assert a.out_tainted == [600, 390] and a.fee_tainted == 11
    assert allocate("poison", [CLEAN(10)], [9]).out_tainted == [0]


@pytest.mark.parametrize("policy", CONSERVING)
def test_conservation_random(policy):
    rng = random.Random(7)
    for _ in range(300):
        ins = []
        for _ in range(rng.randint(1, 6)):
            pieces = tuple(
                (rng.randint(1, 10**9), rng.random() < 0.5) for _ in range(rng.randint(1, 3))
            )
            ins.append(InputTaint(sum(p for p, _ in pieces), pieces))
        total = sum(i.value for i in ins)
        fee = rng.randint(0, min(total, 50_000))
        n = rng.randint(1, 5)
        cuts = sorted(rng.randint(0, total - fee) for _ in range(n - 1))
        outs = [b - a for a, b in zip([0, *cuts], [*cuts, total - fee], strict=False)]
        a = allocate(policy, ins, outs)
        assert sum(a.out_tainted) + a.fee_tainted == a.tainted_in  # nothing created or lost
        assert all(0 <= t <= v for t, v in zip(a.out_tainted, outs, strict=False))
        assert a.fee_tainted <= fee
        for k, src in enumerate(a.sources):
            assert sum(src.values()) == a.out_tainted[k]
        assert [sum(x for x, t in s if t) for s in a.out_segments] == a.out_tainted
        assert [sum(x for x, _ in s) for s in a.out_segments] == outs


def test_apportion():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(0, [5, 5]) == [0, 0]
    assert apportion(7, [0, 0]) == [0, 0]
    assert sum(apportion(999_999_999, [3, 7, 11, 13])) == 999_999_999


def test_bad_transactions_are_one_line_errors():
    with pytest.raises(AllocationError, match="outputs exceed inputs by 5 satoshi"):
        allocate("fifo", [CLEAN(10)], [15])
    with pytest.raises(AllocationError, match="unknown policy"):
        allocate("random", [CLEAN(10)], [5])
    with pytest.raises(AllocationError, match="do not add up"):
        allocate("haircut", [InputTaint(10, ((4, True),))], [5])
