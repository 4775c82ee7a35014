"""CoinJoin fingerprints, change detection, peel chains and multi-input clustering."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tracer.bitcoin.heuristics import (
    STANDARD_DENOMINATIONS,
    AddressClusters,
    UnionFind,
    change_output,
    cluster_multi_input,
    cluster_python,
    coinjoin,
    peel_chains,
)
from tracer.bitcoin.model import BtcTx, TxIn, TxOut
from tracer.bitcoin.script import synthetic_output

WPKH = "witness_v0_keyhash"


def addr(name: str, kind: str = "p2wpkh") -> str:
    return synthetic_output(name, kind, namespace="tracer-test")[0]


def tid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def mk(name, ins, outs, height=100, kind=WPKH, in_kind=WPKH) -> BtcTx:
    """ins: (owner, value[, prev name, vout]); outs: (owner, value[, Core type])."""
    inputs = []
    for k, i in enumerate(ins):
        prev = tid(i[2]) if len(i) > 2 else tid(f"{name}:prev:{k}")
        vout = i[3] if len(i) > 3 else 0
        inputs.append(TxIn(prev, vout, i[0], i[1], in_kind))
    outputs = tuple(
        TxOut(n, o[1], (o[0],), o[2] if len(o) > 2 else kind) for n, o in enumerate(outs)
    )
    return BtcTx(
        tid(name),
        height,
        "00" * 32,
        1_600_000_000 + height,
        None,
        2,
        0,
        200,
        200,
        tuple(inputs),
        outputs,
    )


def test_whirlpool():
    tx = mk(
        "wp",
        [(addr(f"p{k}"), 5_005_000) for k in range(5)],
        [(addr(f"o{k}"), 5_000_000) for k in range(5)],
    )
    f = coinjoin(tx)
    assert f is not None and f.label == "Whirlpool" and f.confidence == 0.95
    assert "0.05 BTC" in f.evidence
    # not a pool size, or not P2WPKH: not Whirlpool (and not the generic one: every output equal)
    assert (
        coinjoin(
            mk(
                "x1",
                [(addr(f"p{k}"), 5_005_000) for k in range(5)],
                [(addr(f"o{k}"), 4_000_000) for k in range(5)],
            )
        )
        is None
    )
    legacy = mk(
        "x2",
        [(addr(f"p{k}"), 5_005_000) for k in range(5)],
        [(addr(f"o{k}"), 5_000_000) for k in range(5)],
        kind="pubkeyhash",
    )
    assert coinjoin(legacy) is None or coinjoin(legacy).label != "Whirlpool"


def test_wasabi_1():
    ins = [(addr(f"w{k}"), 11_000_000 + k) for k in range(12)]
    outs = [(addr(f"m{k}"), 10_012_345) for k in range(11)] + [
        (addr(f"c{k}"), 900_000 + k) for k in range(11)
    ]
    f = coinjoin(mk("ww1", ins, outs))
    assert f is not None and f.label == "Wasabi 1"


def test_wasabi_2():
    denominations = sorted(d for d in STANDARD_DENOMINATIONS if 10_000 <= d <= 50_000_000)
    ins = [(addr(f"i{k}"), 60_000_000 - 100_000 * k) for k in range(60)]  # sorted descending
    outs = [(addr(f"o{k}"), denominations[k % len(denominations)]) for k in range(70)]
    outs += [(addr(f"odd{k}"), 123_457 + k) for k in range(5)]
    f = coinjoin(mk("ww2", ins, outs))
    assert f is not None and f.label == "Wasabi 2"
    shuffled = ins[1:] + ins[:1]  # not value-sorted: not Wasabi 2
    g = coinjoin(mk("ww2b", shuffled, outs))
    assert g is None or g.label != "Wasabi 2"
    assert {5_000, 10_000, 20_000, 50_000, 65_536, 59_049, 118_098} <= STANDARD_DENOMINATIONS


def test_joinmarket_like():
    ins = [(addr("taker"), 250_000_000), (addr("m1"), 70_000_000), (addr("m2"), 90_000_000)]
    outs = [
        (addr("e1"), 50_000_000),
        (addr("c1"), 20_000_000),
        (addr("e2"), 50_000_000),
        (addr("c2"), 40_000_000),
        (addr("e3"), 50_000_000),
    ]
    f = coinjoin(mk("jm", ins, outs))
    assert f is not None and f.label == "JoinMarket-like CoinJoin" and f.confidence == 0.7


@pytest.mark.parametrize(
    "outs",
    [
        [100_000_000, 55_555_555],  # payment + change
        [10_000_000, 10_000_000, 10_000_000, 10_000_000, 10_000_000, 7_777_777],  # batch payout
        [5_000_000, 5_000_000, 1_234_567],  # two equal outputs only
    ],
)
def test_ordinary_transactions_are_not_coinjoins(outs):
    tx = mk(
        "pay" + str(len(outs)),
        [(addr("payer"), sum(outs) + 1000)],
        [(addr(f"r{k}"), v) for k, v in enumerate(outs)],
    )
    assert coinjoin(tx) is None


def test_change_detection_signals():
    payer = addr("payer")
    # address reuse: the change goes back to the payer
    tx = mk("c1", [(payer, 100_000_000)], [(addr("shop"), 30_000_000), (payer, 69_990_000)])
    f = change_output(tx)
    assert f.label == "change output 1" and "address reuse" in f.evidence and f.confidence >= 0.9
    # script type + round amount: P2PKH payment of 0.5 BTC, P2WPKH change
    tx = mk(
        "c2",
        [(payer, 100_000_000)],
        [(addr("shop", "p2pkh"), 50_000_000, "pubkeyhash"), (addr("chg"), 49_990_000)],
    )
    f = change_output(tx)
    assert (
        f.label == "change output 1" and "script type" in f.evidence and "non-round" in f.evidence
    )
    # optimal change: the only output smaller than every input
    tx = mk(
        "c3",
        [(payer, 60_000_000), (addr("payer2"), 50_000_000)],
        [(addr("shop2"), 80_000_000, "pubkeyhash"), (addr("chg2"), 29_990_000, "pubkeyhash")],
    )
    assert "optimal change" in change_output(tx).evidence
    # first seen
    tx = mk(
        "c4",
        [(payer, 100_000_000)],
        [(addr("old"), 40_000_000), (addr("new"), 59_990_000)],
        height=500,
    )
    f = change_output(tx, {addr("old"): 10, addr("new"): 500})
    assert f.label == "change output 1" and "first-seen" in f.evidence
    # nothing decides: no finding
    tx = mk("c5", [(payer, 100_000_000)], [(addr("a"), 40_000_000), (addr("b"), 59_900_000)])
    assert change_output(mk("c6", [(payer, 10)], [(addr("a"), 5)])) is None
    assert change_output(tx) is None


def test_peel_chain():
    txs = []
    owner, value = addr("p0"), 1_000_000_000
    prev = ("funding", 0)
    for k in range(4):
        pay = 50_000_000 * (k + 1)
        change = value - pay - 1_000
        name = f"peel{k}"
        txs.append(
            mk(
                name,
                [(owner, value, *prev)],
                [(addr(f"pay{k}", "p2pkh"), pay, "pubkeyhash"), (addr(f"p{k + 1}"), change)],
                height=100 + k,
            )
        )
        owner, value, prev = addr(f"p{k + 1}"), change, (name, 1)
    txs.append(mk("other", [(addr("z"), 10)], [(addr("y"), 9)]))
    (chain,) = peel_chains(txs)
    assert chain.txids == tuple(tid(f"peel{k}") for k in range(4))
    assert chain.addresses[0] == addr("p0") and chain.confidence == 0.9
    assert peel_chains(txs[:2]) == []  # two hops are not a chain yet


def _csr(groups):
    offsets = np.cumsum([0] + [len(g) for g in groups])
    return offsets, np.array([x for g in groups for x in g], dtype=np.int32)


def test_clustering_implementations_agree_and_skip_coinjoins():
    groups = [[0, 1], [2], [3, 4, 5], [5, 6], [7, 8, 9, 10], [1, 3]]
    skip = np.array([False, False, False, False, True, False])  # tx 4 is a CoinJoin
    offsets, ids = _csr(groups)
    labels = cluster_multi_input(offsets, ids, 11, skip)
    assert labels.tolist() == [0, 0, 2, 0, 0, 0, 0, 7, 8, 9, 10]
    assert cluster_python(offsets, ids, 11, skip) == labels.tolist()
    uf = UnionFind(11)
    for g, s in zip(groups, skip, strict=False):
        if not s:
            uf.union_all(g)
    assert uf.labels().tolist() == labels.tolist()


def test_clustering_random_agrees_with_python():
    rng = np.random.default_rng(3)
    counts = rng.choice([1, 1, 2, 3, 7], size=20_000)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ids = rng.integers(0, 30_000, size=int(offsets[-1])).astype(np.int32)
    skip = rng.random(20_000) < 0.02
    assert cluster_multi_input(offsets, ids, 30_000, skip).tolist() == cluster_python(
        offsets, ids, 30_000, skip
    )


def test_address_clusters_skip_coinjoin_transactions():
    c = AddressClusters()
    c.add(mk("spend", [(addr("a"), 10), (addr("b"), 10)], [(addr("x"), 19)]))
    wp = mk(
        "wp2",
        [(addr(f"p{k}"), 5_005_000) for k in range(5)],
        [(addr(f"o{k}"), 5_000_000) for k in range(5)],
    )
    c.add(wp)
    c.add(mk("spend2", [(addr("b"), 10), (addr("p0"), 10)], [(addr("y"), 19)]))
    assert c.same(addr("a"), addr("b")) and c.same(addr("a"), addr("p0"))
    assert not c.same(addr("p1"), addr("p2"))  # co-spent only in the CoinJoin
    assert c.members(addr("a")) == sorted([addr("a"), addr("b"), addr("p0")])
