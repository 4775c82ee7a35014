"""Avalanche Bridge decoder: Ethereum -> Avalanche exact by Mint.originTxId, BTC.b by
(originTxId, output), Avalanche -> Ethereum unwraps inferred with confidence; decoys and
ambiguity left unlinked; malformed logs skipped with a reason."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from tracer.bitcoin.script import synthetic_output
from tracer.bridges import default_registry
from tracer.bridges.avalanche import (
    BTC_B,
    ETHEREUM_BRIDGE,
    MINT,
    MINT_BTC,
    UNWRAP,
    AvalancheBridgeDecoder,
)
from tracer.bridges.base import RawLog
from tracer.records import Transfer

BRIDGE = ETHEREUM_BRIDGE[0]
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
WETH_E = "0x" + "49" * 20  # the Avalanche BridgeToken, given by configuration here
USER = "0x" + "11" * 20
OTHER = "0x" + "22" * 20
FEES = "0x" + "fe" * 20
BTC_BRIDGE = synthetic_output("avalanche-bridge-btc")[0]


def hx(n: int) -> str:
    return "0x" + f"{n:064x}"


def transfer(chain, asset, frm, to, amount, tx, time=1000, kind="token", index=3):
    return Transfer(chain, asset, frm, to, amount, 18, tx, index, 100, time, kind=kind)


def mint(to, amount, origin: str, fee=10**15, n=50, token=WETH_E, output=None, time=1200):
    types = ["address", "uint256", "address", "uint256", "bytes32"]
    values = [to, amount, FEES, fee, bytes.fromhex(origin[2:])]
    topic = MINT
    if output is not None:
        types.append("uint256")
        values.append(output)
        topic = MINT_BTC
    return RawLog(
        "avalanche", token, (topic,), "0x" + encode(types, values).hex(), hx(n), 1, 500, time
    )


def unwrap(amount, chain_id=1, n=60, sender=USER, time=5000):
    return RawLog(
        "avalanche",
        WETH_E,
        (UNWRAP,),
        "0x" + encode(["uint256", "uint256"], [amount, chain_id]).hex(),
        hx(n),
        2,
        600,
        time,
        sender,
    )


def decoder(**kw) -> AvalancheBridgeDecoder:
    d = AvalancheBridgeDecoder(**kw)
    d.add_contract("avalanche", WETH_E)
    d.add_contract("bitcoin", BTC_BRIDGE)
    return d


def test_topic0s_match_the_signatures():
    assert MINT == "0x" + keccak(text="Mint(address,uint256,address,uint256,bytes32)").hex()
    assert (
        MINT_BTC
        == "0x" + keccak(text="Mint(address,uint256,address,uint256,bytes32,uint256)").hex()
    )
    assert UNWRAP == "0x" + keccak(text="Unwrap(uint256,uint256)").hex()


def test_ethereum_to_avalanche_is_exact_by_origin_tx():
    d = decoder()
    dep = d.deposit_from_transfer(transfer("ethereum", WETH, USER, BRIDGE, 10**18, hx(1)))
    assert (dep.dest_chain, dep.recipient, dep.link_key) == ("avalanche", USER, "avb:" + hx(1))
    decoy_dep = d.deposit_from_transfer(transfer("ethereum", WETH, OTHER, BRIDGE, 10**18, hx(2)))
    rel = d.decode_release(mint(USER, 10**18 - 10**15, hx(1)))
    decoy = d.decode_release(mint(OTHER, 10**18 - 10**15, hx(2), n=51))
    links = d.link([dep, decoy_dep], [decoy, rel])
    assert [link.releases for link in links] == [(rel,), (decoy,)]
    first = links[0]
    assert (first.linkage, first.confidence) == ("exact", 1.0)
    assert "recipient is the depositing address" in first.evidence
    # a Mint from a contract that is not a registered BridgeToken is ignored (anyone can emit it)
    assert d.decode_release(mint(USER, 5, hx(1), token="0x" + "99" * 20)) is None
    # native ETH sent to the bridge is not a bridge deposit
    assert (
        d.deposit_from_transfer(
            transfer("ethereum", "native", USER, BRIDGE, 5, hx(3), kind="native")
        )
        is None
    )
    assert "ERC-20 tokens only" in d.skipped[-1][1]


def test_two_deposits_in_one_transaction_are_ambiguous():
    d = decoder()
    a = d.deposit_from_transfer(transfer("ethereum", WETH, USER, BRIDGE, 5, hx(1), index=1))
    b = d.deposit_from_transfer(transfer("ethereum", WETH, USER, BRIDGE, 7, hx(1), index=2))
    assert d.link([a, b], [d.decode_release(mint(USER, 5, hx(1)))]) == []
    assert "ambiguous" in d.skipped[-1][1]


@pytest.mark.parametrize("reverse", [False, True])
def test_bitcoin_to_btc_b_matches_either_byte_order(reverse):
    d = decoder()
    txid = "ab" * 16 + "cd" * 16
    dep = d.deposit_from_transfer(
        transfer(
            "bitcoin",
            "native",
            synthetic_output("u")[0],
            BTC_BRIDGE,
            10**8,
            txid,
            kind="utxo",
            index=1,
        )
    )
    origin = bytes.fromhex(txid)[::-1].hex() if reverse else txid
    rel = d.decode_release(mint(USER, 10**8 - 3000, "0x" + origin, fee=3000, token=BTC_B, output=1))
    wrong_output = d.decode_release(mint(USER, 10**8, "0x" + origin, token=BTC_B, output=0, n=52))
    [link] = d.link([dep], [wrong_output, rel])
    assert link.releases == (rel,) and rel.src_chain == "bitcoin"


def test_unwrap_to_ethereum_is_inferred_and_decoys_are_not_linked():
    d = decoder(token_pairs={WETH_E: WETH})
    dep = d.decode_deposit(unwrap(10**18))
    assert (dep.dest_chain, dep.recipient, dep.link_key) == ("ethereum", USER, None)
    paid = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, USER, 10**18 - 2 * 10**15, hx(70), time=5300)
    )
    decoy_other = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, OTHER, 10**18 - 2 * 10**15, hx(71), time=5300)
    )
    decoy_more = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, USER, 2 * 10**18, hx(72), time=5300)
    )
    [link] = d.link([dep], [decoy_other, decoy_more, paid])
    assert link.releases == (paid,)
    assert (link.linkage, link.confidence) == ("inferred", 0.8)
    assert link.fee is None  # WETH.e is not in the chain registry: not comparable
    assert any("recipient matches" in e for e in link.evidence)


def test_unwrap_with_two_equal_payouts_is_ambiguous_and_unknown_pairs_score_lower():
    d = decoder()
    dep = d.decode_deposit(unwrap(10**18))
    a = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, USER, 10**18 - 10**15, hx(70), time=5100)
    )
    b = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, USER, 10**18 - 10**15, hx(71), time=5200)
    )
    assert d.link([dep], [a, b]) == []
    assert "ambiguous" in d.skipped[-1][1]
    [link] = d.link([dep], [a])
    assert link.confidence == 0.65
    late = d.release_from_transfer(
        transfer("ethereum", WETH, BRIDGE, USER, 10**18, hx(73), time=5000 + 3600)
    )
    assert d.link([dep], [late]) == []  # unknown pair: only the strong window counts


def test_unwrap_to_bitcoin_stays_unlinked():
    d = decoder()
    dep = d.decode_deposit(unwrap(10**8, chain_id=0))
    assert dep.dest_chain == "bitcoin" and dep.recipient is None
    assert d.link([dep], []) == []


@pytest.mark.parametrize(
    "log",
    [
        RawLog("avalanche", WETH_E, (UNWRAP,), "0x1234", hx(1), 1, 1, 1),
        RawLog("avalanche", WETH_E, (UNWRAP, hx(5)), "0x" + "00" * 64, hx(1), 1, 1, 1),
        RawLog("avalanche", WETH_E, (MINT,), "0x" + "00" * 64, hx(1), 1, 1, 1),
        RawLog("avalanche", WETH_E, (MINT,), "0x" + "ff" * 160, hx(1), 1, 1, 1),
    ],
)
def test_malformed_logs_are_skipped(log):
    d = decoder()
    assert d.decode_deposit(log) is None and d.decode_release(log) is None
    assert d.skipped and "malformed Avalanche Bridge" in d.skipped[-1][1]


def test_registered_contracts():
    registry = default_registry()
    for address in ETHEREUM_BRIDGE:
        assert registry.decoder_for("ethereum", address).name == "avalanche-bridge"
    assert registry.decoder_for("avalanche", BTC_B).name == "avalanche-bridge"
