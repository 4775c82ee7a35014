"""Every XB decoder on garbage: random topics, data, addresses and memos never raise (they
return None or a record, and note their reasons in ``skipped``)."""

from __future__ import annotations

import random

from tracer.bitcoin.model import BtcTx, TxIn, TxOut
from tracer.bridges import avalanche, cctp, thorchain, wormhole
from tracer.bridges.base import RawLog
from tracer.bridges.thormemo import MemoError, parse_memo

TOPICS = [
    thorchain.DEPOSIT,
    thorchain.TRANSFER_OUT,
    thorchain.TRANSFER_OUT_AND_CALL,
    thorchain.TRANSFER_OUT_AND_CALL_V5,
    cctp.DEPOSIT_FOR_BURN_V1,
    cctp.DEPOSIT_FOR_BURN_V2,
    cctp.MESSAGE_RECEIVED_V1,
    cctp.MESSAGE_RECEIVED_V2,
    cctp.MESSAGE_SENT,
    wormhole.LOG_MESSAGE_PUBLISHED,
    wormhole.TRANSFER_REDEEMED,
    wormhole.NTT_TRANSFER_SENT,
    wormhole.NTT_TRANSFER_REDEEMED,
    avalanche.MINT,
    avalanche.MINT_BTC,
    avalanche.UNWRAP,
]


def _word(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return "0x" + "00" * 12 + rng.randbytes(20).hex()
    if kind == 1:
        return "0x" + rng.randbytes(32).hex()
    if kind == 2:
        return "0x" + (rng.randrange(300)).to_bytes(32, "big").hex()
    return "0x" + rng.randbytes(rng.randrange(40)).hex()


def _data(rng: random.Random) -> str:
    words = [_word(rng)[2:].rjust(64, "0")[:64] for _ in range(rng.randrange(12))]
    tail = rng.randbytes(rng.randrange(5)).hex() if rng.random() < 0.3 else ""
    return "0x" + "".join(words) + tail


def test_decoders_never_raise_on_random_logs():
    rng = random.Random(20261207)
    tb = thorchain.ThorchainDecoder()
    tb.add_vaults([{"chain": "ETH", "address": "0x" + "a1" * 20}])
    decoders = [
        tb,
        cctp.CctpDecoder(),
        wormhole.WormholeDecoder(),
        avalanche.AvalancheBridgeDecoder(),
    ]
    contracts = sorted({(c, a) for d in decoders for c, s in d.contracts.items() for a in s})
    evm = [(c, a) for c, a in contracts if c != "bitcoin"]
    made = 0
    for _ in range(3000):
        chain, address = rng.choice(evm)
        topics = (rng.choice(TOPICS), *(_word(rng) for _ in range(rng.randrange(5))))
        tx = "0x" + rng.randbytes(32).hex() if rng.random() < 0.9 else "0x12"
        log = RawLog(
            chain,
            address,
            topics,
            _data(rng),
            tx,
            rng.randrange(50),
            1,
            1,
            rng.choice(["", "0x" + "11" * 20, "garbage"]),
        )
        for d in decoders:
            deps = [d.decode_deposit(log)]
            rels = [d.decode_release(log)]
            made += sum(x is not None for x in deps + rels)
            d.link([x for x in deps if x], [x for x in rels if x])
    assert sum(len(d.skipped) for d in decoders) > 100  # garbage was noticed, with reasons


def test_memo_parser_never_raises_anything_but_memo_error():
    rng = random.Random(7)
    alphabet = "=:/|.-~SWAPOUTREFUNDsbe0123456789abcdefxX \x00é" + "1e8"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        try:
            parse_memo(text)
        except MemoError:
            pass


def test_bitcoin_decoding_never_raises_on_odd_transactions():
    rng = random.Random(3)
    d = thorchain.ThorchainDecoder()
    for _ in range(500):
        outs = []
        for k in range(rng.randrange(4)):
            script = rng.choice(
                [
                    "",
                    "6a",
                    "6a4c",
                    "6a" + rng.randbytes(rng.randrange(90)).hex(),
                    "6a05" + "4f55543a41",
                    "zz",
                ]
            )
            outs.append(
                TxOut(k, rng.randrange(3), (f"addr{k}",) if rng.random() < 0.5 else (), "x", script)
            )
        inputs = (
            (TxIn("ab" * 32, 0, rng.choice([None, "addr0", "addr9"]), 5),)
            if rng.random() < 0.8
            else ()
        )
        txid = rng.choice(["ab" * 32, "nothex", ""])
        tx = BtcTx(txid, 1, None, 1, 0, 2, 0, None, None, inputs, tuple(outs))
        d.deposit_from_btc(tx)
        d.release_from_btc(tx)
