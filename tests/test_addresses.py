"""Address parsing, validation and normalization (tracer.addresses)."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import base58
import pytest

import tracer.addresses as addresses
from tracer.addresses import (
    InvalidAddress,
    chain_kind,
    checksum_form,
    detect_chain,
    evm_to_tron,
    is_valid,
    node_id,
    normalize,
    tron_from_hex,
    tron_to_evm,
    tron_to_hex,
)
from tracer.chains import UnknownChain

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CASES = DATA / "cases"

USDT_ETH = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
USDT_ETH_LOWER = USDT_ETH.lower()
USDT_TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_TRON_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
TRON_ZERO = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"  # 0x41 + 20 zero bytes
GENESIS_P2PKH = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"


def _b58(version: int, payload: bytes = bytes(range(20))) -> str:
    return base58.b58encode_check(bytes([version]) + payload).decode()


def _rejected(chain: str, text, fragment: str) -> str:
    with pytest.raises(InvalidAddress) as err:
        normalize(chain, text)
    message = str(err.value)
    assert fragment.lower() in message.lower(), message
    assert message.startswith(f"{chain} address"), message
    assert "\n" not in message and "\r" not in message
    assert len(message) < 300, message
    assert not is_valid(chain, text)
    return message


# --------------------------------------------------------------------------------------------
# EVM

EVM_VALID = [
    (USDT_ETH, USDT_ETH_LOWER),
    (USDT_ETH_LOWER, USDT_ETH_LOWER),
    ("0x" + USDT_ETH[2:].upper(), USDT_ETH_LOWER),
    ("0X" + USDT_ETH[2:].upper(), USDT_ETH_LOWER),
    (f"  \t{USDT_ETH}\n", USDT_ETH_LOWER),
    ("0x0000000000000000000000000000000000000000", "0x0000000000000000000000000000000000000000"),
    # EIP-55 test vectors: all caps, all lower, then mixed case
    ("0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0f7030069857d2e4169ee7"),
    ("0x8617E340B3D01FA5F11F306F4090FD50E238070D", "0x8617e340b3d01fa5f11f306f4090fd50e238070d"),
    ("0xde709f2102306220921060314715629080e2fb77", "0xde709f2102306220921060314715629080e2fb77"),
    ("0x27b1fdb04752bbc536007a920d24acb045561c26", "0x27b1fdb04752bbc536007a920d24acb045561c26"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"),
    ("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"),
    ("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb"),
]

EVM_INVALID = [
    ("0xdAC17F958D2ee523a2206206994597C13D831eC7", "EIP-55"),  # one letter's case flipped
    ("0xDaC17F958D2ee523a2206206994597C13D831ec7", "EIP-55"),
    (USDT_ETH[:-1], "bad length"),
    (USDT_ETH + "0", "bad length"),
    ("0x", "bad length"),
    ("0xdAC17F958D2ee523a2206206994597C13D831eg7", "not a hex digit"),
    ("0xdAC17F958D2ee523a2206 206994597C13D831ec7", "not a hex digit"),
    (USDT_ETH_LOWER[2:], "missing the 0x prefix"),
    ("0x" + "ab" * 32, "transaction hash"),
    ("dac17f958d2ee523", "must start with 0x"),
    (USDT_TRON, "looks like a tron address, not ethereum"),
    (USDT_TRON_HEX, "looks like a tron address, not ethereum"),
    ("0x" + USDT_TRON_HEX, "looks like a tron address, not ethereum"),
    (GENESIS_P2PKH, "looks like a bitcoin address, not ethereum"),
    ("", "empty"),
    ("   \n", "empty"),
    (None, "must be text"),
    (12345, "must be text"),
    (float("nan"), "must be text"),  # what pandas gives for an empty cell
    ("0xdac17f958d2ee523a2206206994597c13d831ec7\u200b", "not printable ASCII"),  # zero width
    ("0x\u0430c17f958d2ee523a2206206994597c13d831ec7", "not printable ASCII"),  # Cyrillic a
    ("0xdac17f958d2ee523a2206\n206994597c13d831ec7", "not printable ASCII"),
]


@pytest.mark.parametrize(("text", "expected"), EVM_VALID)
@pytest.mark.parametrize("chain", ["ethereum", "bsc", "polygon", "avalanche"])
def test_evm_valid(chain, text, expected):
    assert normalize(chain, text) == expected
    assert is_valid(chain, text)


@pytest.mark.parametrize(("text", "fragment"), EVM_INVALID)
def test_evm_invalid(text, fragment):
    _rejected("ethereum", text, fragment)


def test_evm_chain_named_in_message():
    _rejected("bsc", "0xdAC17F958D2ee523a2206206994597C13D831eC7", "EIP-55")
    _rejected("polygon", USDT_TRON, "looks like a tron address, not polygon")


def test_checksum_form():
    assert checksum_form(USDT_ETH_LOWER) == USDT_ETH
    assert checksum_form(USDT_ETH.upper().replace("0X", "0x")) == USDT_ETH
    assert checksum_form(f" {USDT_ETH} ") == USDT_ETH
    with pytest.raises(InvalidAddress, match="EIP-55"):
        checksum_form("0xdAC17F958D2ee523a2206206994597C13D831eC7")


def test_lowercase_evm_path_does_not_hash(monkeypatch):
    """Bulk lowercase addresses must not pay for keccak; mixed case must."""

    def boom(_address):
        raise AssertionError("keccak called on the lowercase path")

    monkeypatch.setattr(addresses, "to_checksum_address", boom)
    assert normalize("ethereum", USDT_ETH_LOWER) == USDT_ETH_LOWER
    assert normalize("ethereum", USDT_ETH.upper().replace("0X", "0x")) == USDT_ETH_LOWER
    with pytest.raises(AssertionError):
        normalize("ethereum", USDT_ETH)


# --------------------------------------------------------------------------------------------
# Tron

TRON_VALID = [
    (USDT_TRON, USDT_TRON),
    (f"\t{USDT_TRON} ", USDT_TRON),
    (USDT_TRON_HEX, USDT_TRON),
    (USDT_TRON_HEX.upper(), USDT_TRON),
    ("0x" + USDT_TRON_HEX, USDT_TRON),
    ("41" + "00" * 20, TRON_ZERO),
    (TRON_ZERO, TRON_ZERO),
]

TRON_INVALID = [
    (USDT_TRON[:-1] + "u", "base58check checksum"),
    (USDT_TRON[:5] + USDT_TRON[6] + USDT_TRON[5] + USDT_TRON[7:], "base58check checksum"),
    (USDT_TRON[:-1], "bad length"),
    (USDT_TRON + "t", "bad length"),
    (USDT_TRON[:-1] + "0", "not base58"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLjlt", "not base58"),
    ("42" + USDT_TRON_HEX[2:], "must start with 41"),
    ("0x42" + USDT_TRON_HEX[2:], "must start with 41"),
    (USDT_TRON_HEX[:-2], "41 + 40 hex"),
    ("0x41" + "zz" * 20, "41 + 40 hex"),
    (USDT_ETH, "looks like an EVM (ethereum-style) address, not tron"),
    (USDT_ETH_LOWER, "evm_to_tron()"),
    (GENESIS_P2PKH, "looks like a bitcoin address, not tron"),
    (_b58(0x42), "wrong version byte 0x42"),
    ("\u0422" + USDT_TRON[1:], "not printable ASCII"),  # Cyrillic Te
    ("", "empty"),
]


@pytest.mark.parametrize(("text", "expected"), TRON_VALID)
def test_tron_valid(text, expected):
    assert normalize("tron", text) == expected
    assert is_valid("tron", text)


@pytest.mark.parametrize(("text", "fragment"), TRON_INVALID)
def test_tron_invalid(text, fragment):
    _rejected("tron", text, fragment)


def test_tron_hex_conversions():
    assert tron_to_hex(USDT_TRON) == USDT_TRON_HEX
    assert tron_to_hex("0x" + USDT_TRON_HEX.upper()) == USDT_TRON_HEX
    assert tron_from_hex(USDT_TRON_HEX) == USDT_TRON
    assert tron_from_hex("0x" + USDT_TRON_HEX) == USDT_TRON
    assert tron_from_hex("0x" + USDT_TRON_HEX[2:]) == USDT_TRON  # 20-byte form from logs
    assert tron_to_evm(USDT_TRON) == "0x" + USDT_TRON_HEX[2:]
    assert evm_to_tron("0x" + USDT_TRON_HEX[2:]) == USDT_TRON
    assert evm_to_tron("0x" + "00" * 12 + USDT_TRON_HEX[2:]) == USDT_TRON  # 32-byte log topic
    with pytest.raises(InvalidAddress, match="non-zero upper 12 bytes"):
        evm_to_tron("0x" + "01" + "00" * 11 + USDT_TRON_HEX[2:])
    with pytest.raises(InvalidAddress, match="EIP-55"):
        evm_to_tron("0xA614f803B6FD780986A42c78Ec9c7f77e6DeD13C")
    with pytest.raises(InvalidAddress, match="checksum"):
        tron_to_hex(USDT_TRON[:-1] + "u")


def test_tron_hex_round_trip():
    for i in range(200):
        payload = hashlib.sha256(str(i).encode()).digest()[:20]
        hex_form = "41" + payload.hex()
        address = tron_from_hex(hex_form)
        assert address.startswith("T") and len(address) == 34
        assert normalize("tron", address) == address
        assert tron_to_hex(address) == hex_form
        assert tron_to_evm(address) == "0x" + payload.hex()
        assert evm_to_tron(tron_to_evm(address)) == address
        assert tron_from_hex("0x" + hex_form.upper()) == address


# --------------------------------------------------------------------------------------------
# Bitcoin

BTC_VALID = [
    GENESIS_P2PKH,
    P2SH,
    # BIP-350 valid mainnet vectors (segwit v0 bech32, v1+ bech32m)
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",  # taproot
    # BIP-173 mainnet P2WSH vector (32-byte v0 program)
    "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
]


@pytest.mark.parametrize("text", BTC_VALID)
def test_bitcoin_valid(text):
    expected = text.lower() if text.lower().startswith("bc1") else text
    assert normalize("bitcoin", text) == expected
    assert normalize("bitcoin", f" {text}\n") == expected
    assert is_valid("bitcoin", text)
    assert detect_chain(text) == "bitcoin"


BTC_INVALID = [
    # BIP-350 invalid vectors
    ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "not base58"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bech32 checksum"),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "testnet"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "bech32 checksum"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bech32m checksum"),
    ("tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "testnet"),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "bech32 alphabet"),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "witness version 17"),
    ("bc1pw5dgrnzv", "1 bytes"),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "41 bytes",
    ),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "v0 program of 16 bytes"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "testnet"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "padding"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "testnet"),
    ("bc1gmk9yu", "empty data section"),
    # BIP-173 invalid vectors
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum"),
    ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "witness version"),
    ("bc1rw5uspcuh", "1 bytes"),
    (
        "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
        "41 bytes",
    ),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "padding"),
    # BIP-173 valid v1+ addresses: bech32 checksums that BIP-350 no longer accepts
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
        "v1+ uses bech32m",
    ),
    ("BC1SW50QA3JX3S", "witness v16 address with a bech32 checksum"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj", "witness v2 address with a bech32 checksum"),
    # mixed case, length, hrp
    ("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "mixes upper and lower case"),
    ("bc1q" + "q" * 90, "at most 90"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t41qqqqqq", "human-readable part"),
    ("bc1qqqq", "too short"),
    # testnet / regtest
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "testnet"),
    ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "regtest"),
    (_b58(0x6F), "testnet P2PKH"),  # m.../n...
    (_b58(0xC4), "testnet P2SH"),  # 2...
    # base58
    (GENESIS_P2PKH[:-1] + "b", "base58check checksum"),
    (GENESIS_P2PKH[:-1] + "0", "not base58"),
    (GENESIS_P2PKH[:10], "bad length"),
    (_b58(0x30), "wrong version byte 0x30"),  # Litecoin L...
    (base58.b58encode_check(b"\x00" + bytes(21)).decode(), "21 bytes"),
    # other chains
    (USDT_ETH, "looks like an EVM (ethereum-style) address, not bitcoin"),
    (USDT_TRON, "looks like a tron address, not bitcoin"),
]


@pytest.mark.parametrize(("text", "fragment"), BTC_INVALID)
def test_bitcoin_invalid(text, fragment):
    _rejected("bitcoin", text, fragment)
    assert detect_chain(text) != "bitcoin"


# --------------------------------------------------------------------------------------------
# detection, chains, hostile input


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        (USDT_ETH, "ethereum"),
        (USDT_ETH_LOWER, "ethereum"),
        (f" {USDT_ETH_LOWER} ", "ethereum"),
        (USDT_TRON, "tron"),
        (USDT_TRON_HEX, "tron"),
        ("0x" + USDT_TRON_HEX, "tron"),
        (GENESIS_P2PKH, "bitcoin"),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bitcoin"),
        ("0xdAC17F958D2ee523a2206206994597C13D831eC7", None),  # bad EIP-55
        (USDT_TRON[:-1] + "u", None),
        ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", None),
        ("hello", None),
        ("", None),
        (None, None),
        ("x" * 10_000, None),
    ],
)
def test_detect_chain(text, chain):
    assert detect_chain(text) == chain


def test_chain_kinds():
    assert chain_kind("ethereum") == "evm"
    assert chain_kind("Ethereum") == "evm"
    assert chain_kind("BSC") == "evm"
    assert chain_kind("tron") == "tron"
    assert chain_kind("bitcoin") == "utxo"
    with pytest.raises(UnknownChain, match="solana"):
        chain_kind("solana")
    with pytest.raises(UnknownChain):
        normalize("solana", USDT_ETH)
    with pytest.raises(UnknownChain):
        is_valid("litecoin", GENESIS_P2PKH)


def test_node_id():
    assert node_id("tron", USDT_TRON) == f"tron:{USDT_TRON}"
    assert node_id("ethereum", normalize("ethereum", USDT_ETH)) == f"ethereum:{USDT_ETH_LOWER}"


@pytest.mark.parametrize("chain", ["ethereum", "tron", "bitcoin"])
@pytest.mark.parametrize(
    "text",
    [
        "\x1b[2J\x1b[31mpwned" + "A" * 5000,
        "0x" + "\r\n" * 3000,
        "T" + "\u202e" * 500,
        "bc1" + "q" * 1_000_000,
        "1" * 1_000_000,
        "0x" + "a" * 1_000_000,
        "\x00" * 200,
    ],
)
def test_hostile_input_is_not_echoed(chain, text):
    start = time.perf_counter()
    with pytest.raises(InvalidAddress) as err:
        normalize(chain, text)
    assert time.perf_counter() - start < 1.0
    message = str(err.value)
    assert len(message) < 300, message
    assert message.isprintable() and message.isascii(), message
    assert "\x1b" not in message and "\u202e" not in message


# --------------------------------------------------------------------------------------------
# real addresses from public case files (../shared/data, absent on a user's clone)


def _case_rows(name: str) -> list[dict[str, str]]:
    path = CASES / name
    if not path.is_file():
        pytest.skip(f"reference data not found at {path} (needs the ../shared checkout)")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", ["case_addresses.csv", "exchange_addresses.csv"])
def test_real_addresses_match_checksum_ok(name):
    rows = _case_rows(name)
    assert len(rows) > 50
    problems = []
    for line, row in enumerate(rows, start=2):
        chain, address, flag = row["chain"], row["address"], row["checksum_ok"]
        assert flag in ("True", "False"), f"{name}:{line}: checksum_ok={flag!r}"
        chain_kind(chain)  # every chain named in the data has address rules
        if flag == "True":
            try:
                canonical = normalize(chain, address)
            except InvalidAddress as exc:
                problems.append(f"{name}:{line}: rejected: {exc}")
                continue
            assert normalize(chain, canonical) == canonical  # idempotent
            kind = chain_kind(chain)
            assert detect_chain(address) == {"evm": "ethereum", "tron": "tron"}.get(kind, "bitcoin")
            if kind == "evm" and address[2:] not in (canonical[2:], canonical[2:].upper()):
                assert checksum_form(canonical) == address  # mixed case means EIP-55 form
            if kind == "tron":
                assert tron_from_hex(tron_to_hex(canonical)) == canonical
                assert evm_to_tron(tron_to_evm(canonical)) == canonical
        elif is_valid(chain, address):
            problems.append(f"{name}:{line}: accepted although checksum_ok=False: {address}")
    assert not problems, "\n".join(problems)


def test_real_bad_tron_address_is_rejected_for_its_checksum():
    """A Deribit-case Tron address from a public write-up fails base58check (a known trap)."""
    rows = [r for r in _case_rows("case_addresses.csv") if r["checksum_ok"] == "False"]
    assert rows, "expected at least one address with a bad checksum in the case file"
    for row in rows:
        with pytest.raises(InvalidAddress, match="checksum"):
            normalize(row["chain"], row["address"])
