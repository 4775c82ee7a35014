"""Output scripts and mainnet addresses: encode, classify, and name script types consistently.

Three vocabularies meet here. Bitcoin Core (and bitcoin-etl / BigQuery, which copy it) names
script types ``pubkeyhash``, ``scripthash``, ``witness_v0_keyhash``, ...; Esplora names them
``p2pkh``, ``p2sh``, ``v0_p2wpkh``, .... tracer keeps Core's names (:data:`CORE_TYPES`) and maps
Esplora's with :func:`from_esplora_type`.

Outputs without an address get the same stand-in bitcoin-etl writes, so every source names them
alike: a bare public key (``pubkey``) gets the P2PKH address of its key (as Bitcoin Core did before
v22), anything else but ``OP_RETURN`` gets ``"nonstandard" + sha256(script)[:40]``; ``OP_RETURN``
(``nulldata``) outputs get no address and are never followed.
"""

from __future__ import annotations

import hashlib

import base58

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

#: Esplora ``scriptpubkey_type`` -> Core / bitcoin-etl ``type``.
ESPLORA_TO_CORE = {
    "p2pkh": "pubkeyhash",
    "p2sh": "scripthash",
    "v0_p2wpkh": "witness_v0_keyhash",
    "v0_p2wsh": "witness_v0_scripthash",
    "v1_p2tr": "witness_v1_taproot",
    "p2pk": "pubkey",
    "multisig": "multisig",
    "op_return": "nulldata",
    "provably_unspendable": "nonstandard",
    "empty": "nonstandard",
    "unknown": "nonstandard",
    "invalid": "nonstandard",
}
CORE_TO_ESPLORA = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "v0_p2wpkh",
    "witness_v0_scripthash": "v0_p2wsh",
    "witness_v1_taproot": "v1_p2tr",
    "pubkey": "p2pk",
    "multisig": "multisig",
    "nulldata": "op_return",
    "nonstandard": "unknown",
    "witness_unknown": "unknown",
}
CORE_TYPES = frozenset(CORE_TO_ESPLORA)


def from_esplora_type(kind: str | None) -> str | None:
    if kind is None:
        return None
    return ESPLORA_TO_CORE.get(kind, kind if kind in CORE_TYPES else "nonstandard")


def _polymod(values) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def segwit_address(version: int, program: bytes, hrp: str = "bc") -> str:
    """BIP-173 (v0) / BIP-350 (v1+) address of a witness program."""
    data = [version] + _convertbits(program, 8, 5)
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


def base58_address(version: int, payload: bytes) -> str:
    return base58.b58encode_check(bytes([version]) + payload).decode("ascii")


def hash160(data: bytes) -> bytes:
    from Crypto.Hash import RIPEMD160  # pycryptodome (hashlib's ripemd160 depends on OpenSSL)

    return RIPEMD160.new(hashlib.sha256(data).digest()).digest()


def nonstandard_address(script_hex: str | None) -> str:
    """bitcoin-etl's stand-in for an output without an address."""
    return "nonstandard" + hashlib.sha256(bytes.fromhex(script_hex or "")).hexdigest()[:40]


def script_address(script_hex: str) -> tuple[str, str | None]:
    """(Core type, address or None) of an output script given as hex."""
    s = bytes.fromhex(script_hex)
    n = len(s)
    if n == 25 and s[:3] == b"\x76\xa9\x14" and s[23:] == b"\x88\xac":
        return "pubkeyhash", base58_address(0x00, s[3:23])
    if n == 23 and s[:2] == b"\xa9\x14" and s[22] == 0x87:
        return "scripthash", base58_address(0x05, s[2:22])
    if n == 22 and s[:2] == b"\x00\x14":
        return "witness_v0_keyhash", segwit_address(0, s[2:])
    if n == 34 and s[:2] == b"\x00\x20":
        return "witness_v0_scripthash", segwit_address(0, s[2:])
    if n == 34 and s[:2] == b"\x51\x20":
        return "witness_v1_taproot", segwit_address(1, s[2:])
    if n and s[0] == 0x6A:
        return "nulldata", None
    if (n == 67 and s[0] == 65 and s[-1] == 0xAC) or (n == 35 and s[0] == 33 and s[-1] == 0xAC):
        return "pubkey", base58_address(0x00, hash160(s[1:-1]))
    return "nonstandard", nonstandard_address(script_hex)


# -- building scripts for synthetic outputs (sandbox, benchmarks, test servers) ----------------

ADDRESS_KINDS = ("p2wpkh", "p2pkh", "p2sh", "p2tr")


def synthetic_output(name: str, kind: str = "p2wpkh", namespace: str = "tracer-sandbox-btc"):
    """(address, script hex, Core type) for a deterministic synthetic owner ``name``.

    The 20- or 32-byte hash is sha256("<namespace>:<kind>:<name>"): no key exists for it, so
    nobody can spend from these addresses on mainnet, yet they are valid mainnet encodings.
    """
    digest = hashlib.sha256(f"{namespace}:{kind}:{name}".encode()).digest()
    h20 = digest[:20]
    if kind == "p2wpkh":
        return segwit_address(0, h20), "0014" + h20.hex(), "witness_v0_keyhash"
    if kind == "p2pkh":
        return base58_address(0x00, h20), "76a914" + h20.hex() + "88ac", "pubkeyhash"
    if kind == "p2sh":
        return base58_address(0x05, h20), "a914" + h20.hex() + "87", "scripthash"
    if kind == "p2tr":
        return segwit_address(1, digest), "5120" + digest.hex(), "witness_v1_taproot"
    raise ValueError(f"unknown address kind {kind!r} (choose from {', '.join(ADDRESS_KINDS)})")


def op_return_script(data: bytes) -> str:
    if len(data) > 75:
        raise ValueError("OP_RETURN payload too long for a single push")
    return "6a" + bytes([len(data)]).hex() + data.hex()


def core_asm(script_hex: str) -> str:
    """Bitcoin Core's ``asm`` rendering of the standard scripts tracer writes."""
    s = bytes.fromhex(script_hex)
    kind, _ = script_address(script_hex)
    if kind == "pubkeyhash":
        return f"OP_DUP OP_HASH160 {s[3:23].hex()} OP_EQUALVERIFY OP_CHECKSIG"
    if kind == "scripthash":
        return f"OP_HASH160 {s[2:22].hex()} OP_EQUAL"
    if kind in ("witness_v0_keyhash", "witness_v0_scripthash"):
        return f"0 {s[2:].hex()}"
    if kind == "witness_v1_taproot":
        return f"1 {s[2:].hex()}"
    if kind == "nulldata":
        return "OP_RETURN " + s[2:].hex() if len(s) > 1 else "OP_RETURN"
    return script_hex


def esplora_asm(script_hex: str) -> str:
    """Esplora's ``scriptpubkey_asm`` rendering of the standard scripts tracer writes."""
    s = bytes.fromhex(script_hex)
    kind, _ = script_address(script_hex)
    if kind == "pubkeyhash":
        return f"OP_DUP OP_HASH160 OP_PUSHBYTES_20 {s[3:23].hex()} OP_EQUALVERIFY OP_CHECKSIG"
    if kind == "scripthash":
        return f"OP_HASH160 OP_PUSHBYTES_20 {s[2:22].hex()} OP_EQUAL"
    if kind in ("witness_v0_keyhash", "witness_v0_scripthash"):
        return f"OP_0 OP_PUSHBYTES_{len(s) - 2} {s[2:].hex()}"
    if kind == "witness_v1_taproot":
        return f"OP_PUSHNUM_1 OP_PUSHBYTES_32 {s[2:].hex()}"
    if kind == "nulldata":
        return f"OP_RETURN OP_PUSHBYTES_{len(s) - 2} {s[2:].hex()}" if len(s) > 1 else "OP_RETURN"
    return script_hex
