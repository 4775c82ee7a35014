"""Wormhole decoder: Token Bridge LogMessagePublished -> TransferRedeemed by (emitterChain,
emitter, sequence), NTT TransferSent -> TransferRedeemed by digest; forged events from
unregistered contracts ignored; malformed logs skipped with a reason."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from tracer.bridges import default_registry
from tracer.bridges.base import RawLog
from tracer.bridges.wormhole import (
    CORE,
    LOG_MESSAGE_PUBLISHED,
    NTT_TRANSFER_REDEEMED,
    NTT_TRANSFER_SENT,
    TOKEN_BRIDGES,
    TRANSFER_REDEEMED,
    WormholeDecoder,
    parse_transfer_payload,
    vaa_id,
)

ETH_CORE = CORE["ethereum"]
ETH_TB = TOKEN_BRIDGES["ethereum"]
BSC_TB = "0x" + "b6" * 20  # a destination token bridge given by configuration
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USER = "0x" + "11" * 20
DEST = "0x" + "22" * 20


def pad(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def t(value) -> str:
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return "0x" + pad(value).hex()


def hx(n: int) -> str:
    return "0x" + f"{n:064x}"


def payload(
    amount: int, token: str = USDT, token_chain=2, to=DEST, to_chain=4, fee=0, pid=1
) -> bytes:
    body = (
        bytes([pid])
        + amount.to_bytes(32, "big")
        + pad(token)
        + token_chain.to_bytes(2, "big")
        + pad(to)
        + to_chain.to_bytes(2, "big")
    )
    return body + (fee.to_bytes(32, "big") if pid == 1 else pad(USER) + b"extra")


def published(seq: int, data: bytes, emitter=ETH_TB, core=ETH_CORE, n=1) -> RawLog:
    encoded = encode(["uint64", "uint32", "bytes", "uint8"], [seq, 7, data, 1])
    return RawLog(
        "ethereum",
        core,
        (LOG_MESSAGE_PUBLISHED, t(emitter)),
        "0x" + encoded.hex(),
        hx(n),
        4,
        100,
        1000,
        USER,
    )


def redeemed(chain_id: int, emitter: str, seq: int, address=BSC_TB, n=90) -> RawLog:
    return RawLog(
        "bsc",
        address,
        (TRANSFER_REDEEMED, t(chain_id), t(emitter), t(seq)),
        "0x",
        hx(n),
        2,
        500,
        2000,
        "0x" + "77" * 20,
    )


def decoder() -> WormholeDecoder:
    return WormholeDecoder(token_bridges={"ethereum": ETH_TB, "bsc": BSC_TB})


def test_topic0s_match_the_signatures():
    sigs = {
        LOG_MESSAGE_PUBLISHED: "LogMessagePublished(address,uint64,uint32,bytes,uint8)",
        TRANSFER_REDEEMED: "TransferRedeemed(uint16,bytes32,uint64)",
        NTT_TRANSFER_SENT: "TransferSent(bytes32,uint256,uint16,uint64,address)",
        NTT_TRANSFER_REDEEMED: "TransferRedeemed(bytes32)",
    }
    for t0, sig in sigs.items():
        assert t0 == "0x" + keccak(text=sig).hex()


def test_token_bridge_links_by_emitter_chain_emitter_and_sequence():
    d = decoder()
    dep = d.decode_deposit(published(77, payload(5_000 * 10**6, fee=10**6)))
    assert (dep.sender, dep.asset, dep.amount, dep.dest_chain, dep.recipient) == (
        USER,
        USDT,
        5_000 * 10**6,
        "bsc",
        DEST,
    )
    assert dep.link_key == vaa_id(2, t(ETH_TB), 77)
    rel = d.decode_release(redeemed(2, ETH_TB, 77))
    wrong_seq = d.decode_release(redeemed(2, ETH_TB, 78, n=91))
    wrong_chain = d.decode_release(redeemed(5, ETH_TB, 77, n=92))
    assert rel.recipient == "" and rel.src_chain == "ethereum"
    [link] = d.link([dep], [wrong_seq, wrong_chain, rel])
    [done] = link.releases
    assert done.tx_hash == rel.tx_hash and done.recipient == DEST
    assert (done.asset, done.amount) == ("wormhole:2:" + "0x" + pad(USDT).hex(), 4_999 * 10**6)
    assert link.linkage == "exact" and link.fee is None  # wrapped token address unknown
    assert any("VAA payload" in e for e in link.evidence)
    assert any("wrapped token address unknown" in e for e in link.evidence)


def test_wrapped_token_given_and_eth_amounts_denormalised():
    wrapped_usdt = "0x" + "57" * 20
    d = WormholeDecoder(
        token_bridges={"ethereum": ETH_TB, "bsc": BSC_TB},
        wrapped={("bsc", 2, "0x" + pad(USDT).hex()): wrapped_usdt},
    )
    dep = d.decode_deposit(published(1, payload(2 * 10**8, token=WETH, to_chain=4)))
    assert (dep.asset, dep.amount) == (WETH, 2 * 10**18)  # 8-decimal payload -> 18-decimal WETH
    dep2 = d.decode_deposit(published(2, payload(10**6), n=2))
    [link] = d.link([dep2], [d.decode_release(redeemed(2, ETH_TB, 2))])
    assert link.releases[0].asset == wrapped_usdt and link.releases[0].amount == 10**6


def test_payload_3_and_bad_payloads():
    p3 = parse_transfer_payload(payload(5, pid=3))
    assert p3.payload_id == 3 and p3.from_address == "0x" + pad(USER).hex() and p3.fee == 0
    for bad in (b"", b"\x02" + bytes(132), payload(5)[:100], payload(5) + b"x"):
        with pytest.raises(ValueError):
            parse_transfer_payload(bad)


def test_forged_and_foreign_messages_are_ignored():
    d = decoder()
    # LogMessagePublished from a contract that is not a registered Core: anyone can emit it
    assert d.decode_deposit(published(1, payload(5), core="0x" + "99" * 20)) is None
    # a Core message from another application (emitter not a token bridge)
    assert d.decode_deposit(published(1, payload(5), emitter="0x" + "98" * 20)) is None
    # TransferRedeemed from an unregistered contract
    assert d.decode_release(redeemed(2, ETH_TB, 1, address="0x" + "97" * 20)) is None
    assert d.skipped == []


@pytest.mark.parametrize(
    "log",
    [
        RawLog("ethereum", ETH_CORE, (LOG_MESSAGE_PUBLISHED,), "0x", hx(1), 1, 1, 1),
        RawLog("ethereum", ETH_CORE, (LOG_MESSAGE_PUBLISHED, t(ETH_TB)), "0x1234", hx(1), 1, 1, 1),
        published(1, b"\x09garbage"),
    ],
)
def test_malformed_messages_are_skipped_with_a_reason(log):
    d = decoder()
    assert d.decode_deposit(log) is None
    assert d.skipped[-1][1].startswith("malformed Wormhole")


def test_ntt_links_by_digest():
    manager = "0x" + "4e" * 20
    token = "0x" + "70" * 20
    dest_manager = "0x" + "4f" * 20
    d = WormholeDecoder(
        ntt_managers={"ethereum": {manager: token}, "arbitrum": {dest_manager: "0x" + "71" * 20}}
    )
    digest = "0x" + "d1" * 32
    sent = RawLog(
        "ethereum",
        manager,
        (NTT_TRANSFER_SENT, digest, t(23), t(USER)),
        "0x" + encode(["uint256", "uint64"], [10**18, 5]).hex(),
        hx(3),
        8,
        100,
        1000,
    )
    dep = d.decode_deposit(sent)
    assert (dep.sender, dep.asset, dep.amount, dep.dest_chain, dep.link_key) == (
        USER,
        token,
        10**18,
        "arbitrum",
        "ntt:" + digest,
    )
    got = RawLog("arbitrum", dest_manager, (NTT_TRANSFER_REDEEMED, digest), "0x", hx(4), 1, 9, 1100)
    other = RawLog(
        "arbitrum", dest_manager, (NTT_TRANSFER_REDEEMED, "0x" + "d2" * 32), "0x", hx(5), 1, 9, 1100
    )
    [link] = d.link([dep], [d.decode_release(other), d.decode_release(got)])
    assert link.releases[0].tx_hash == hx(4) and link.releases[0].amount == 10**18
    assert any("digest" in e for e in link.evidence)
    assert (
        d.decode_deposit(
            RawLog("ethereum", manager, (NTT_TRANSFER_SENT, digest), "0x", hx(3), 8, 1, 1)
        )
        is None
    )
    assert "malformed NTT" in d.skipped[-1][1]


def test_registered_contracts():
    registry = default_registry()
    assert registry.decoder_for("ethereum", ETH_TB).name == "wormhole"
    assert registry.decoder_for("ethereum", ETH_CORE).name == "wormhole"
    assert registry.decoder_for("avalanche", CORE["avalanche"]).name == "wormhole"
