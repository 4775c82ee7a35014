"""Parse, validate and normalize addresses for the three chain kinds tracer follows.

Every address that enters tracer from a human or a third-party list (seeds, labels, case files)
goes through :func:`normalize` first. Public write-ups and "blocklists" carry typos, corrupted and
fabricated addresses, so checksums are always checked (EIP-55 for mixed-case EVM hex,
base58check for Tron and legacy Bitcoin, bech32/bech32m for segwit) and a bad one is rejected,
never silently repaired.

Canonical forms (what the graph uses as node ids, see :func:`node_id`):

* EVM chains: ``0x`` + 40 lowercase hex digits (:func:`checksum_form` gives the display form);
* Tron: base58check ``T...`` (the hex form ``41...`` is accepted on input);
* Bitcoin mainnet: lowercase for bech32/bech32m, base58 addresses unchanged.

Chain names are resolved with :func:`tracer.chains.get_chain`. Data sets also name EVM chains
that tracer does not trace yet (``bsc``, ``polygon``, ...); their addresses follow the Ethereum
rules exactly, so the short list :data:`EXTRA_EVM_CHAINS` maps them to the ``evm`` kind. Any other
unknown name raises :class:`tracer.chains.UnknownChain` (a ``ValueError``), also from
:func:`is_valid`: a wrong chain name is a caller's mistake, not a property of the address.
"""

from __future__ import annotations

import re

import base58
from eth_utils import to_checksum_address

from tracer.chains import UnknownChain, get_chain

__all__ = [
    "EXTRA_EVM_CHAINS",
    "InvalidAddress",
    "chain_kind",
    "checksum_form",
    "detect_chain",
    "evm_to_tron",
    "is_valid",
    "node_id",
    "normalize",
    "tron_from_hex",
    "tron_to_evm",
    "tron_to_hex",
]

#: EVM chains that are not (yet) in :data:`tracer.chains.CHAINS` but whose addresses appear in
#: reference data. Their address format is Ethereum's, so only the kind is needed here.
EXTRA_EVM_CHAINS = frozenset({"arbitrum", "avalanche", "base", "bsc", "optimism", "polygon"})

_SHOW_CHARS = 64  # at most this much hostile input is quoted in a message (before escaping)
_SHOW_MAX = 90  # ... and at most this many characters after escaping

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_HEX42_TRON = re.compile(r"41[0-9a-fA-F]{40}")
_B58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_TRON_VERSION = 0x41
_BTC_MAINNET_VERSIONS = {0x00: "P2PKH", 0x05: "P2SH"}
_BTC_TESTNET_VERSIONS = {0x6F: "P2PKH", 0xC4: "P2SH"}
_BTC_B58_MAX = 40  # real ones are 26-35 characters; longer input is rejected before decoding


class InvalidAddress(ValueError):
    """The text is not a valid address on the chain it was given for (message says why)."""


# --------------------------------------------------------------------------------------------
# public API


def chain_kind(chain: str) -> str:
    """``"evm"``, ``"tron"`` or ``"utxo"`` for a chain name: picks the address rules to apply."""
    name = chain.lower()
    if name in EXTRA_EVM_CHAINS:
        return "evm"
    try:
        return get_chain(name).kind
    except UnknownChain:
        extra = ", ".join(sorted(EXTRA_EVM_CHAINS))
        raise UnknownChain(
            f"unknown chain {_show(chain)}: no address rules for it "
            f"(known: tracer.chains plus EVM chains {extra})"
        ) from None


def normalize(chain: str, text: str) -> str:
    """Canonical form of ``text`` on ``chain``, or :class:`InvalidAddress` saying what is wrong.

    Surrounding whitespace is stripped; everything else must be exactly right (checksums
    included), because a wrong address in a trace silently follows someone else's money.
    """
    kind = chain_kind(chain)
    text = _clean(chain, text)
    try:
        return _NORMALIZERS[kind](chain, text)
    except InvalidAddress:
        hint = _wrong_chain_hint(chain, kind, text)
        if hint is None:
            raise
        raise _fail(chain, text, hint) from None


def is_valid(chain: str, text: str) -> bool:
    """True when :func:`normalize` accepts ``text`` on ``chain`` (unknown chains still raise)."""
    try:
        normalize(chain, text)
    except InvalidAddress:
        return False
    return True


def detect_chain(text: str) -> str | None:
    """``"ethereum"``, ``"tron"`` or ``"bitcoin"`` for a valid address whose form says so.

    An EVM address is reported as ``"ethereum"`` although the same address exists on every EVM
    chain; the caller decides which one it means. Anything invalid gives None.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 100:
        return None
    for name, kind in (("ethereum", "evm"), ("tron", "tron"), ("bitcoin", "utxo")):
        try:
            _NORMALIZERS[kind](name, _clean(name, text))
        except InvalidAddress:
            continue
        return name
    return None


def checksum_form(address: str) -> str:
    """EIP-55 mixed-case form of an EVM address, for display and for explorers that want it."""
    return to_checksum_address(normalize("ethereum", address))


def tron_to_hex(address: str) -> str:
    """Tron address (``T...`` or hex) as ``41`` + 40 lowercase hex digits, as Tron's APIs use."""
    return base58.b58decode_check(normalize("tron", address)).hex()


def tron_from_hex(hex_address: str) -> str:
    """Base58 ``T...`` form of a Tron hex address.

    Accepts ``41`` + 40 hex, ``0x41`` + 40 hex, and the 20-byte EVM-style ``0x`` + 40 hex (the form
    TRC-20 event logs carry), so every hex spelling of a Tron address lands on one canonical id.
    """
    text = _clean("tron", hex_address)
    if len(text) == 42 and text[:2] in ("0x", "0X"):
        return evm_to_tron(text)
    return normalize("tron", text)


def evm_to_tron(address: str) -> str:
    """Tron ``T...`` address for 20 address bytes in EVM form (TRC-20 logs, TVM calls).

    Takes ``0x`` + 40 hex (EIP-55 checked when mixed case) or a 32-byte log topic / ABI word
    (``0x`` + 64 hex, upper 12 bytes zero).
    """
    text = _clean("tron", address)
    if len(text) == 66 and text[:2] in ("0x", "0X") and _is_hex(text[2:]):
        if text[2:26].strip("0"):
            raise _fail("tron", text, "32-byte word has non-zero upper 12 bytes: not an address")
        text = "0x" + text[26:]
    body = _evm("tron", text)[2:]
    return base58.b58encode_check(bytes([_TRON_VERSION]) + bytes.fromhex(body)).decode("ascii")


def tron_to_evm(address: str) -> str:
    """The 20 address bytes of a Tron address as lowercase ``0x`` + 40 hex (to match log topics)."""
    return "0x" + tron_to_hex(address)[2:]


def node_id(chain: str, address: str) -> str:
    """Graph node id: ``chain:address``. ``address`` must already be canonical (see normalize)."""
    return f"{chain}:{address}"


# --------------------------------------------------------------------------------------------
# helpers shared by all chains


def _show(text: str) -> str:
    """Quote untrusted input safely: one line, control/non-ASCII escaped, bounded length."""
    shown = ascii(text[:_SHOW_CHARS])
    if len(shown) > _SHOW_MAX:
        shown = shown[: _SHOW_MAX - 3] + "..."
    if len(text) > _SHOW_CHARS:
        shown += f" (+{len(text) - _SHOW_CHARS} more characters)"
    return shown


def _fail(chain: str, text: str, reason: str) -> InvalidAddress:
    return InvalidAddress(f"{chain} address {_show(text)}: {reason}")


def _clean(chain: str, text: str) -> str:
    """Strip surrounding whitespace and reject what no address format contains."""
    if not isinstance(text, str):
        raise InvalidAddress(f"{chain} address must be text, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise InvalidAddress(f"{chain} address is empty")
    if not (text.isascii() and text.isprintable()):
        pos, char = next(
            (i, c) for i, c in enumerate(text) if not (c.isascii() and c.isprintable())
        )
        raise _fail(
            chain,
            text,
            f"character {ascii(char)} at position {pos} is not printable ASCII "
            "(look-alike, invisible or control character?)",
        )
    return text


def _is_hex(text: str) -> bool:
    return all(c in _HEX_DIGITS for c in text)


def _first_bad(text: str, allowed: frozenset[str] | str) -> str:
    pos, char = next((i, c) for i, c in enumerate(text) if c not in allowed)
    return f"character {ascii(char)} at position {pos}"


def _wrong_chain_hint(chain: str, kind: str, text: str) -> str | None:
    """If ``text`` is valid on another kind of chain, say so: the usual mistake is a mix-up."""
    if len(text) > 100:
        return None
    for name, other in (("ethereum", "evm"), ("tron", "tron"), ("bitcoin", "utxo")):
        if other == kind:
            continue
        try:
            _NORMALIZERS[other](name, text)
        except InvalidAddress:
            continue
        if kind == "tron" and other == "evm":
            return (
                "looks like an EVM (ethereum-style) address, not tron; "
                "for a 20-byte address from TRC-20 logs use evm_to_tron()"
            )
        label = "an EVM (ethereum-style)" if other == "evm" else f"a {name}"
        return f"looks like {label} address, not {chain}"
    return None


# --------------------------------------------------------------------------------------------
# EVM


def _evm(chain: str, text: str) -> str:
    if len(text) == 42 and text[0] == "0" and text[1] in "xX":
        body = text[2:]
        if _HEX40.fullmatch(body):
            lower = body.lower()
            # Single-case hex carries no checksum: accept it without hashing (hot path).
            if body == lower or body == body.upper():
                return "0x" + lower
            if to_checksum_address("0x" + lower)[2:] == body:
                return "0x" + lower
            raise _fail(
                chain, text, "mixed-case hex fails the EIP-55 checksum (typo or corrupted address)"
            )
    # Everything below only explains the rejection.
    if text[:2] not in ("0x", "0X"):
        if len(text) == 40 and _is_hex(text):
            raise _fail(chain, text, "missing the 0x prefix before the 40 hex digits")
        raise _fail(chain, text, "must start with 0x followed by 40 hex digits")
    body = text[2:]
    if not _is_hex(body):
        raise _fail(chain, text, f"{_first_bad(body, _HEX_DIGITS)} after 0x is not a hex digit")
    if len(body) == 64:
        raise _fail(
            chain, text, "64 hex digits: a transaction hash or 32-byte word, not an address"
        )
    raise _fail(chain, text, f"bad length: 0x + {len(body)} hex digits, expected 0x + 40")


# --------------------------------------------------------------------------------------------
# Tron


def _tron(chain: str, text: str) -> str:
    prefixed = text[:2] in ("0x", "0X")
    hex_part = text[2:] if prefixed else text
    if _HEX42_TRON.fullmatch(hex_part):
        return base58.b58encode_check(bytes.fromhex(hex_part)).decode("ascii")
    if len(hex_part) == 42 and _is_hex(hex_part):
        raise _fail(chain, text, f"hex form must start with 41 (got {hex_part[:2]})")
    if prefixed or (len(text) > 34 and _is_hex(text)):
        raise _fail(chain, text, "hex form must be 41 + 40 hex digits (0x41 + 40 also accepted)")
    if any(c not in _B58_ALPHABET for c in text):
        raise _fail(
            chain,
            text,
            f"{_first_bad(text, _B58_ALPHABET)} is not base58 (0, O, I and l are never used)",
        )
    if len(text) != 34:
        raise _fail(chain, text, f"bad length: {len(text)} characters, expected 34 (base58 T...)")
    try:
        raw = base58.b58decode_check(text)
    except ValueError:
        raise _fail(chain, text, "bad base58check checksum (typo or corrupted address)") from None
    if len(raw) != 21 or raw[0] != _TRON_VERSION:
        raise _fail(
            chain,
            text,
            f"wrong version byte 0x{raw[0]:02x} (Tron mainnet uses 0x41, addresses start with T)",
        )
    return text


# --------------------------------------------------------------------------------------------
# Bitcoin


def _bitcoin(chain: str, text: str) -> str:
    lower = text.lower()
    if lower.startswith("bc1"):
        return _segwit(chain, text)
    if lower.startswith(("tb1", "bcrt1")):
        net = "regtest" if lower.startswith("bcrt1") else "testnet"
        raise _fail(chain, text, f"is a Bitcoin {net} address; only mainnet is supported")
    return _bitcoin_base58(chain, text)


def _bitcoin_base58(chain: str, text: str) -> str:
    if any(c not in _B58_ALPHABET for c in text):
        raise _fail(
            chain,
            text,
            f"{_first_bad(text, _B58_ALPHABET)} is not base58 (0, O, I and l are never used); "
            "expected a legacy 1.../3... or segwit bc1... address",
        )
    if not 26 <= len(text) <= _BTC_B58_MAX:
        raise _fail(
            chain, text, f"bad length: {len(text)} characters, expected 26-35 for 1.../3..."
        )
    try:
        raw = base58.b58decode_check(text)
    except ValueError:
        raise _fail(chain, text, "bad base58check checksum (typo or corrupted address)") from None
    if len(raw) != 21:
        raise _fail(chain, text, f"decodes to {len(raw) - 1} bytes of hash, expected 20")
    version = raw[0]
    if version in _BTC_MAINNET_VERSIONS:
        return text
    if version in _BTC_TESTNET_VERSIONS:
        kind = _BTC_TESTNET_VERSIONS[version]
        raise _fail(chain, text, f"is a Bitcoin testnet {kind} address; only mainnet is supported")
    raise _fail(
        chain,
        text,
        f"wrong version byte 0x{version:02x} (mainnet uses 0x00 for 1..., 0x05 for 3...)",
    )


# Segwit addresses (BIP-173 bech32 for witness v0, BIP-350 bech32m for v1+). The PyPI ``bech32``
# package predates BIP-350, so this follows the BIP-350 reference implementation by Pieter Wuille
# (https://github.com/sipa/bech32/blob/master/ref/python/segwit_addr.py, MIT licence), reworked to
# say why an address is rejected instead of returning None.

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _BECH32_GENERATOR[i]
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: list[int], frombits: int, tobits: int) -> list[int] | None:
    """Regroup 5-bit values into bytes without padding; None if the padding is invalid."""
    acc = bits = 0
    ret = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return ret


def _segwit(chain: str, text: str) -> str:
    """Validate a mainnet segwit address (``bc1...``); returns it lowercased."""
    if text.lower() != text and text.upper() != text:
        raise _fail(chain, text, "mixes upper and lower case (bech32 must be all one case)")
    addr = text.lower()
    if len(addr) > 90:
        raise _fail(chain, text, f"bad length: {len(addr)} characters, bech32 allows at most 90")
    pos = addr.rfind("1")
    data_part = addr[pos + 1 :]
    if len(data_part) < 6:
        raise _fail(chain, text, "too short for a bech32 checksum")
    if any(c not in _BECH32_VALUES for c in data_part):
        raise _fail(
            chain,
            text,
            f"{_first_bad(data_part, _BECH32_CHARSET)} after 'bc1' is not in the bech32 alphabet "
            "(1, b, i and o are never used)",
        )
    hrp = addr[:pos]
    if hrp != "bc":
        raise _fail(chain, text, f"human-readable part is {_show(hrp)}, expected 'bc'")
    data = [_BECH32_VALUES[c] for c in data_part]
    const = _bech32_polymod(_bech32_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        raise _fail(chain, text, "bad bech32/bech32m checksum (typo or corrupted address)")
    data = data[:-6]
    if not data:
        raise _fail(chain, text, "empty data section (no witness version or program)")
    version = data[0]
    if version > 16:
        raise _fail(chain, text, f"invalid witness version {version} (must be 0-16)")
    program = _convertbits(data[1:], 5, 8)
    if program is None:
        raise _fail(chain, text, "invalid padding in the witness program")
    if not 2 <= len(program) <= 40:
        raise _fail(chain, text, f"witness program of {len(program)} bytes (must be 2-40)")
    if version == 0 and len(program) not in (20, 32):
        raise _fail(chain, text, f"witness v0 program of {len(program)} bytes (must be 20 or 32)")
    if version == 0 and const != _BECH32_CONST:
        raise _fail(chain, text, "witness v0 address with a bech32m checksum (v0 uses bech32)")
    if version != 0 and const != _BECH32M_CONST:
        raise _fail(
            chain,
            text,
            f"witness v{version} address with a bech32 checksum (v1+ uses bech32m, BIP-350)",
        )
    return addr


_NORMALIZERS = {"evm": _evm, "tron": _tron, "utxo": _bitcoin}
