"""CCTP decoder: v1 exact by (sourceDomain, nonce) incl. MessageSent parsing, v2 inferred with
confidence, decoys and ambiguity, malformed logs skipped with a reason."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from tracer.bridges import default_registry
from tracer.bridges.base import RawLog
from tracer.bridges.cctp import (
    DEPOSIT_FOR_BURN_V1,
    DEPOSIT_FOR_BURN_V2,
    MESSAGE_RECEIVED_V1,
    MESSAGE_RECEIVED_V2,
    MESSAGE_SENT,
    MINT_AND_WITHDRAW_V1,
    MINT_AND_WITHDRAW_V2,
    USDC,
    V1_CONTRACTS,
    V2_MESSENGER,
    V2_TRANSMITTER,
    CctpDecoder,
    parse_message,
)

ETH_USDC = USDC["ethereum"]
ETH_TM = V1_CONTRACTS["ethereum"]["messenger"]
ETH_MT = V1_CONTRACTS["ethereum"]["transmitter"]
AVAX_TM = V1_CONTRACTS["avalanche"]["messenger"]
AVAX_MT = V1_CONTRACTS["avalanche"]["transmitter"]
USER = "0x" + "11" * 20
DEST = "0x" + "22" * 20
DECOY = "0x" + "33" * 20


def pad(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def t(value: int | str) -> str:
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return "0x" + pad(value).hex()


def hx(n: int) -> str:
    return "0x" + f"{n:064x}"


def burn_v1(nonce: int, amount: int, recipient=DEST, depositor=USER, dest_domain=1, n=1, time=1000):
    data = encode(
        ["uint256", "bytes32", "uint32", "bytes32", "bytes32"],
        [amount, pad(recipient), dest_domain, pad(AVAX_TM), bytes(32)],
    )
    return RawLog(
        "ethereum",
        ETH_TM,
        (DEPOSIT_FOR_BURN_V1, t(nonce), t(ETH_USDC), t(depositor)),
        "0x" + data.hex(),
        hx(n),
        5,
        100,
        time,
        depositor,
    )


def body_v1(amount: int, recipient=DEST, sender=USER, token=ETH_USDC) -> bytes:
    return (
        (0).to_bytes(4, "big")
        + pad(token)
        + pad(recipient)
        + amount.to_bytes(32, "big")
        + pad(sender)
    )


def body_v2(
    amount: int, fee: int = 0, recipient=DEST, sender=USER, token=ETH_USDC, hook=b""
) -> bytes:
    return (
        (1).to_bytes(4, "big")
        + pad(token)
        + pad(recipient)
        + amount.to_bytes(32, "big")
        + pad(sender)
        + (10**6).to_bytes(32, "big")
        + fee.to_bytes(32, "big")
        + bytes(32)
        + hook
    )


def received(version: int, source: int, nonce, body: bytes, n=50, time=2000, address=AVAX_MT):
    data = encode(["uint32", "bytes32", "bytes"], [source, pad(ETH_TM), body])
    if version == 1:
        topics = (MESSAGE_RECEIVED_V1, t(DEST), t(nonce))
    else:
        topics = (MESSAGE_RECEIVED_V2, t(DEST), "0x" + nonce.hex(), t(2000))
    return RawLog("avalanche", address, topics, "0x" + data.hex(), hx(n), 9, 500, time)


def burn_v2(amount: int, recipient=DEST, depositor=USER, n=3, time=1000):
    data = encode(
        ["uint256", "bytes32", "uint32", "bytes32", "bytes32", "uint256", "bytes"],
        [amount, pad(recipient), 1, pad(V2_MESSENGER), bytes(32), 10**6, b""],
    )
    return RawLog(
        "ethereum",
        V2_MESSENGER,
        (DEPOSIT_FOR_BURN_V2, t(ETH_USDC), t(depositor), t(2000)),
        "0x" + data.hex(),
        hx(n),
        2,
        100,
        time,
        depositor,
    )


def test_topic0s_match_the_signatures():
    sigs = {
        DEPOSIT_FOR_BURN_V1: "DepositForBurn(uint64,address,uint256,address,bytes32,uint32,bytes32,bytes32)",
        MESSAGE_SENT: "MessageSent(bytes)",
        MESSAGE_RECEIVED_V1: "MessageReceived(address,uint32,uint64,bytes32,bytes)",
        MINT_AND_WITHDRAW_V1: "MintAndWithdraw(address,uint256,address)",
        DEPOSIT_FOR_BURN_V2: "DepositForBurn(address,uint256,address,bytes32,uint32,bytes32,bytes32,uint256,uint32,bytes)",
        MESSAGE_RECEIVED_V2: "MessageReceived(address,uint32,bytes32,bytes32,uint32,bytes)",
        MINT_AND_WITHDRAW_V2: "MintAndWithdraw(address,uint256,address,uint256)",
    }
    for t0, sig in sigs.items():
        assert t0 == "0x" + keccak(text=sig).hex()


def test_v1_links_exactly_by_source_domain_and_nonce():
    d = CctpDecoder()
    dep = d.decode_deposit(burn_v1(4242, 5_000 * 10**6))
    assert (dep.sender, dep.asset, dep.amount, dep.dest_chain, dep.recipient) == (
        USER,
        ETH_USDC,
        5_000 * 10**6,
        "avalanche",
        DEST,
    )
    assert dep.link_key == "cctp1:0:4242"
    rel = d.decode_release(received(1, 0, 4242, body_v1(5_000 * 10**6)))
    decoy = d.decode_release(received(1, 0, 4243, body_v1(5_000 * 10**6, recipient=DECOY), n=51))
    other_domain = d.decode_release(
        received(1, 3, 4242, body_v1(5_000 * 10**6, recipient=DECOY), n=52)
    )
    assert (rel.recipient, rel.asset, rel.src_chain) == (DEST, USDC["avalanche"], "ethereum")
    [link] = d.link([dep], [decoy, other_domain, rel])
    assert link.releases == (rel,) and (link.linkage, link.confidence) == ("exact", 1.0)
    assert link.fee == 0  # USDC on both chains, 6 decimals: comparable
    assert "CCTP v1 (sourceDomain, nonce) = (0, 4242)" in link.evidence


def test_message_sent_parsing_gives_the_same_key():
    d = CctpDecoder()
    header = (
        (0).to_bytes(4, "big")
        + (0).to_bytes(4, "big")
        + (1).to_bytes(4, "big")
        + (4242).to_bytes(8, "big")
    )
    message = header + pad(ETH_TM) + pad(AVAX_TM) + bytes(32) + body_v1(77)
    m = parse_message(message)
    assert (m.version, m.source_domain, m.destination_domain, m.nonce, m.amount) == (
        0,
        0,
        1,
        "4242",
        77,
    )
    log = RawLog(
        "ethereum",
        ETH_MT,
        (MESSAGE_SENT,),
        "0x" + encode(["bytes"], [message]).hex(),
        hx(1),
        6,
        100,
        1000,
    )
    dep = d.deposit_from_message_sent(log)
    assert dep.link_key == "cctp1:0:4242" and dep.recipient == DEST and dep.sender == USER
    # v2 message layout: empty nonce, body at 148
    v2 = (
        (1).to_bytes(4, "big")
        + (0).to_bytes(4, "big")
        + (6).to_bytes(4, "big")
        + bytes(32)
        + pad(ETH_TM)
        + pad(AVAX_TM)
        + bytes(32)
        + (1000).to_bytes(4, "big")
        + (0).to_bytes(4, "big")
        + body_v2(55, hook=b"hi")
    )
    m2 = parse_message(v2)
    assert (m2.version, m2.nonce, m2.amount, m2.max_fee) == (1, "0x" + "00" * 32, 55, 10**6)
    with pytest.raises(ValueError):
        parse_message(b"\x00" * 50)
    with pytest.raises(ValueError):
        parse_message((7).to_bytes(4, "big") + bytes(200))


def test_v2_is_inferred_and_decoys_are_not_linked():
    d = CctpDecoder()
    dep = d.decode_deposit(burn_v2(1_000 * 10**6))
    assert dep.link_key.startswith("cctp2~0:")
    rel = d.decode_release(
        received(2, 0, bytes.fromhex("ab" * 32), body_v2(1_000 * 10**6, fee=1200), time=1300)
    )
    decoy_amount = d.decode_release(
        received(2, 0, bytes.fromhex("ac" * 32), body_v2(1_000 * 10**6 - 1), n=51, time=1300)
    )
    decoy_recipient = d.decode_release(
        received(
            2, 0, bytes.fromhex("ad" * 32), body_v2(1_000 * 10**6, recipient=DECOY), n=52, time=1300
        )
    )
    [link] = d.link([dep], [decoy_amount, decoy_recipient, rel])
    assert link.releases == (rel,) and rel.amount == 1_000 * 10**6 - 1200
    assert (link.linkage, link.confidence, link.fee) == ("inferred", 0.9, 1200)
    assert any("off chain" in e for e in link.evidence)
    # too late: outside the window
    late = d.decode_release(
        received(2, 0, bytes.fromhex("ae" * 32), body_v2(1_000 * 10**6), n=53, time=1000 + 7 * 3600)
    )
    assert d.link([dep], [late]) == []


def test_v2_twin_burns_are_ambiguous():
    d = CctpDecoder()
    a = d.decode_deposit(burn_v2(500, n=3, time=1000))
    b = d.decode_deposit(burn_v2(500, n=4, time=1010))
    rel = d.decode_release(received(2, 0, bytes.fromhex("ab" * 32), body_v2(500), time=1300))
    assert d.link([a, b], [rel]) == []
    assert "ambiguous" in d.skipped[-1][1]


@pytest.mark.parametrize(
    "log",
    [
        RawLog("ethereum", ETH_TM, (DEPOSIT_FOR_BURN_V1, t(1)), "0x", hx(1), 1, 1, 1),
        RawLog(
            "ethereum",
            ETH_TM,
            (DEPOSIT_FOR_BURN_V1, t(1), t(ETH_USDC), t(USER)),
            "0x12",
            hx(1),
            1,
            1,
            1,
        ),
        RawLog(
            "ethereum",
            ETH_TM,
            (DEPOSIT_FOR_BURN_V1, t(1), "0x" + "ff" * 32, t(USER)),
            "0x" + "00" * 160,
            hx(1),
            1,
            1,
            1,
        ),
    ],
)
def test_malformed_deposits_are_skipped(log):
    d = CctpDecoder()
    assert d.decode_deposit(log) is None
    assert d.skipped[-1][1].startswith("malformed CCTP DepositForBurn")


def test_non_burn_messages_and_unknown_contracts_are_skipped():
    d = CctpDecoder()
    assert d.decode_release(received(1, 0, 1, b"generic message")) is None
    assert "without a burn message" in d.skipped[-1][1]
    assert d.decode_release(received(1, 0, 1, body_v1(5), address="0x" + "99" * 20)) is None
    forged = burn_v1(1, 5)
    assert (
        d.decode_deposit(
            RawLog(
                "ethereum", "0x" + "98" * 20, forged.topics, forged.data, forged.tx_hash, 1, 1, 1
            )
        )
        is None
    )


def test_registered_contracts():
    registry = default_registry()
    for chain in ("ethereum", "avalanche", "arbitrum", "base", "optimism"):
        for address in (*V1_CONTRACTS[chain].values(), V2_MESSENGER, V2_TRANSMITTER):
            assert registry.decoder_for(chain, address).name == "cctp"
