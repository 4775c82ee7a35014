"""Bridge records, ABI helpers, exact linking on the protocol id, and the registry."""

from __future__ import annotations

import pytest

from tracer.bridges import BridgeFileError, Registry, load_bridge_file
from tracer.bridges.base import (
    TRON_CHAIN_ID,
    BaseDecoder,
    BridgeDeposit,
    BridgeRelease,
    Decoder,
    abi_string,
    canonical_address,
    carried,
    chain_for_id,
    link_by_key,
    word_address,
    words,
)

USDT_ETH = "0xdac17f958d2ee523a2206206994597c13d831ec7"
USDT_TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
BRIDGE = "0x5427fefa711eff984124bfbb1ab6fbf5e3da1820"


def _deposit(key: str | None, amount: int = 1_000_000) -> BridgeDeposit:
    return BridgeDeposit(
        "test",
        "ethereum",
        BRIDGE,
        "0x" + "a" * 64,
        3,
        10,
        1000,
        "0x" + "1" * 40,
        USDT_ETH,
        amount,
        "tron",
        None,
        key,
    )


def _release(key: str | None, amount: int = 990_000, src: str | None = "ethereum"):
    return BridgeRelease(
        "test",
        "tron",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "b" * 64,
        0,
        20,
        1100,
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        USDT_TRON,
        amount,
        src,
        key,
    )


def test_exact_link_needs_the_id_not_the_amount():
    d = _deposit("0x01")
    links = link_by_key([d, _deposit(None)], [_release("0x01"), _release("0x02", 1_000_000)])
    assert len(links) == 1
    link = links[0]
    assert link.linkage == "exact" and link.confidence == 1.0
    assert link.fee == 10_000  # USDT on both chains: comparable, fee reported
    assert link.released == 990_000
    # same id but released from another source chain: not linked
    assert link_by_key([d], [_release("0x01", src="bsc")]) == []


def test_carried_share_is_proportional_and_floored():
    assert carried(500, 1000, 990) == 495
    assert carried(1000, 1000, 990) == 990
    assert carried(0, 1000, 990) == 0
    assert carried(7, 0, 5) == 0


def test_abi_helpers_reject_malformed_input():
    data = "0x" + "00" * 12 + "11" * 20
    assert word_address(words(data)[0]) == "0x" + "11" * 20
    with pytest.raises(ValueError):
        word_address("0x" + "01" * 32)  # upper bytes set: not an address
    with pytest.raises(ValueError):
        words("0x1234")
    s = "0x" + (32).to_bytes(32, "big").hex() + (3).to_bytes(32, "big").hex() + b"OUT".hex()
    s += "00" * 29
    assert abi_string(s, 0) == "OUT"
    with pytest.raises(ValueError):
        abi_string("0x" + (4096).to_bytes(32, "big").hex(), 0)


def test_chain_ids_and_addresses():
    assert chain_for_id(1) == "ethereum" and chain_for_id(TRON_CHAIN_ID) == "tron"
    assert chain_for_id(999_999_999) is None
    assert canonical_address("ethereum", BRIDGE.upper().replace("0X", "0x")) == BRIDGE
    hex20 = "0xa614f803b6fd780986a42c78ec9c7f77e6ded13c"  # USDT-TRC20 as TRC-20 logs write it
    assert canonical_address("tron", hex20) == USDT_TRON


def test_registry_by_chain_and_contract(tmp_path):
    reg = Registry([BaseDecoder(name="test", contracts={"ethereum": frozenset({BRIDGE})})])
    assert isinstance(reg.get("test"), Decoder)
    assert reg.decoder_for("ethereum", BRIDGE).name == "test"
    assert reg.decoder_for("bsc", BRIDGE) is None
    f = tmp_path / "bridges.csv"
    f.write_text(
        "chain,contract,bridge\n# comment\nbsc,0xDD90E5E87A2081DCF0391920868EBC2FFB81A1AF,test\n"
    )
    assert load_bridge_file(f, reg) == 1
    assert reg.decoder_for("bsc", "0xdd90e5e87a2081dcf0391920868ebc2ffb81a1af").name == "test"
    f.write_text("ethereum,0x12,test\n")
    with pytest.raises(BridgeFileError, match="line 1"):
        load_bridge_file(f, reg)
    f.write_text(f"ethereum,{BRIDGE},nosuch\n")
    with pytest.raises(BridgeFileError, match="nosuch"):
        load_bridge_file(f, reg)
