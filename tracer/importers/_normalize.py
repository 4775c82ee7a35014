"""Validate and normalize a whole column of addresses at once, and give each a 64-bit lookup key.

:func:`tracer.addresses.normalize` is the authority on what an address is, but it costs 4 µs
(plain hex) to 130 µs (bech32) per call: too slow for millions of imported labels. This module
gets the same answers faster:

* plain EVM hex (``0x`` + 40 digits of one case, the bulk of every label list) is checked and
  lowercased column-wise with Arrow compute, no Python per row;
* mixed-case EVM hex (EIP-55), Tron and Bitcoin go through small exact validators below
  (keccak via pycryptodome, base58check and bech32/bech32m with table-driven arithmetic);
* anything those validators do not accept is handed to :func:`tracer.addresses.normalize`, which
  either accepts it or says why not. Every rejection message comes from there, so an address is
  never accepted here that ``normalize`` would reject (the tests compare both on corrupted and
  valid samples).

:func:`address_key` is the store's lookup key: for EVM chains the first 8 address bytes XOR a
per-chain salt (addresses are hashes, so their leading bytes are uniform), for other chains the
64-bit FNV-1a over ``chain:address``. Both are stable across versions and platforms; a key only
narrows the search, the full address is always compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracer.addresses import InvalidAddress, chain_kind, normalize
from tracer.chains import UnknownChain

__all__ = ["address_key", "chain_salt", "fast_normalize", "normalize_column"]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUES = {c: i for i, c in enumerate(_B58_ALPHABET)}
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# polymod step for the 5 top bits at once (same result as BIP-173's inner loop)
_POLY_TABLE = tuple(
    _GEN[0] * (t & 1)
    ^ _GEN[1] * ((t >> 1) & 1)
    ^ _GEN[2] * ((t >> 2) & 1)
    ^ _GEN[3] * ((t >> 3) & 1)
    ^ _GEN[4] * ((t >> 4) & 1)
    for t in range(32)
)
_BC_HRP_STATE = None  # polymod state after the expanded hrp "bc", computed below

_HEX_UPPER = frozenset("ABCDEF")


def _polymod_from(chk: int, values) -> int:
    table = _POLY_TABLE
    for v in values:
        chk = ((chk & 0x1FFFFFF) << 5) ^ v ^ table[chk >> 25]
    return chk


_BC_HRP_STATE = _polymod_from(1, [ord(x) >> 5 for x in "bc"] + [0] + [ord(x) & 31 for x in "bc"])


def _keccak_hex(data: bytes) -> str:
    from Crypto.Hash import keccak  # pycryptodome: a dependency of eth-hash[pycryptodome]

    return keccak.new(digest_bits=256, data=data).hexdigest()


def _fast_evm(text: str) -> str | None:
    """Canonical lowercase form if ``text`` is exactly valid EVM hex, else None (undecided)."""
    if len(text) != 42 or text[0] != "0" or text[1] not in "xX":
        return None
    body = text[2:]
    lower = body.lower()
    if len(lower.strip("0123456789abcdef")):
        return None
    if body == lower or body == body.upper():
        return "0x" + lower
    digest = _keccak_hex(lower.encode("ascii"))
    for c, h in zip(body, digest, strict=False):
        if c.isalpha() and (c in _HEX_UPPER) != (h in "89abcdef"):
            return None
    return "0x" + lower


def _b58check_payload(text: str) -> bytes | None:
    n = 0
    values = _B58_VALUES
    for c in text:
        v = values.get(c)
        if v is None:
            return None
        n = n * 58 + v
    pad = len(text) - len(text.lstrip("1"))
    raw = b"\0" * pad + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")
    if len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        return None
    return payload


def _fast_tron(text: str) -> str | None:
    if len(text) != 34 or text[0] != "T":
        return None
    payload = _b58check_payload(text)
    if payload is None or len(payload) != 21 or payload[0] != 0x41:
        return None
    return text


def _fast_segwit(text: str) -> str | None:
    addr = text.lower()
    if addr != text and text.upper() != text:
        return None
    if len(addr) > 90 or not addr.startswith("bc1"):
        return None
    data_part = addr[3:]
    if len(data_part) < 6 or addr.rfind("1") != 2:
        return None
    values = _BECH32_VALUES
    try:
        data = [values[c] for c in data_part]
    except KeyError:
        return None
    const = _polymod_from(_BC_HRP_STATE, data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        return None
    data = data[:-6]
    if not data:
        return None
    version = data[0]
    if version > 16:
        return None
    acc = bits = 0
    program = []
    for value in data[1:]:
        acc = ((acc << 5) | value) & 0xFFFFFFFF
        bits += 5
        while bits >= 8:
            bits -= 8
            program.append((acc >> bits) & 0xFF)
    if bits >= 5 or ((acc << (8 - bits)) & 0xFF):
        return None
    n = len(program)
    if not 2 <= n <= 40:
        return None
    if version == 0 and (n not in (20, 32) or const != _BECH32_CONST):
        return None
    if version != 0 and const != _BECH32M_CONST:
        return None
    return addr


def _fast_bitcoin(text: str) -> str | None:
    if text[:3].lower() == "bc1":
        return _fast_segwit(text)
    if not 26 <= len(text) <= 40:
        return None
    payload = _b58check_payload(text)
    if payload is None or len(payload) != 21 or payload[0] not in (0x00, 0x05):
        return None
    return text


_FAST = {"evm": _fast_evm, "tron": _fast_tron, "utxo": _fast_bitcoin}


def fast_normalize(chain: str, kind: str, text: str) -> str:
    """Canonical form of ``text`` (already stripped); :class:`InvalidAddress` if invalid."""
    found = _FAST[kind](text)
    if found is not None:
        return found
    return normalize(chain, text)


# --------------------------------------------------------------------------------------------
# keys

_SALTS: dict[str, int] = {}
_MASK64 = (1 << 64) - 1


def chain_salt(chain: str) -> int:
    salt = _SALTS.get(chain)
    if salt is None:
        salt = int.from_bytes(hashlib.md5(chain.encode("utf-8")).digest()[:8], "little")
        _SALTS[chain] = salt
    return salt


_FNV_BASIS = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def _fnv1a(data: bytes, h: int = _FNV_BASIS) -> int:
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return h


def _keys_for(chain: str, kind: str, canonical) -> np.ndarray:
    """address_key for many canonical addresses of one chain (same values, column-wise)."""
    canonical = list(canonical)
    n = len(canonical)
    if kind == "evm":
        salt = chain_salt(chain)
        return np.fromiter((int(a[2:18], 16) ^ salt for a in canonical), dtype=np.uint64, count=n)
    keys = np.zeros(n, dtype=np.uint64)
    if not n:
        return keys
    basis = np.uint64(_fnv1a(f"{chain}:".encode()))
    prime = np.uint64(_FNV_PRIME)
    arr = pa.array(canonical, type=pa.string())
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    for width in np.unique(lengths).tolist():
        idx = np.flatnonzero(lengths == width)
        mat = _fixed_width_bytes(pc.take(arr, pa.array(idx)), int(width))
        h = np.full(len(idx), basis, dtype=np.uint64)
        for j in range(int(width)):
            h = (h ^ mat[:, j].astype(np.uint64)) * prime
        keys[idx] = h
    return keys


def address_key(chain: str, canonical: str, kind: str | None = None) -> int:
    """64-bit lookup key of a canonical address (see the module docstring)."""
    kind = kind or chain_kind(chain)
    if kind == "evm":
        return int(canonical[2:18], 16) ^ chain_salt(chain)
    return _fnv1a(f"{chain}:{canonical}".encode())


_NIBBLE = np.zeros(256, dtype=np.uint8)
_HEX_CLASS = np.zeros(256, dtype=np.uint8)  # 0: not hex, 1: digit, 2: a-f, 4: A-F
for _i, _c in enumerate("0123456789abcdef"):
    _NIBBLE[ord(_c)] = _i
for _c in "0123456789":
    _HEX_CLASS[ord(_c)] = 1
for _c in "abcdef":
    _HEX_CLASS[ord(_c)] = 2
    _HEX_CLASS[ord(_c.upper())] = 4


def _fixed_width_bytes(strings: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8 view of a string array whose every value is ``width`` bytes long."""
    strings = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    n = len(strings)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[
        strings.offset : strings.offset + n + 1
    ]
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)
    start = int(offsets[0])
    return data[start : start + width * n].reshape(n, width)


def _evm_fast(candidates: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """For 42-byte texts: (accepted mask, canonical strings of accepted rows, their raw keys)."""
    mat = _fixed_width_bytes(candidates, 42)
    cls = _HEX_CLASS[mat[:, 2:]]
    seen = np.bitwise_or.reduce(cls, axis=1)
    ok = (mat[:, 0] == ord("0")) & ((mat[:, 1] | 0x20) == ord("x"))
    ok &= cls.min(axis=1) > 0  # only hex digits
    ok &= (seen & 6) != 6  # not mixed case
    good = mat[ok]
    k = len(good)
    lowered = good | np.uint8(0x20)  # '0'-'9', 'a'-'f' and 'x' already have the bit
    offsets = np.arange(0, 42 * (k + 1), 42, dtype=np.int32)
    canonical = pa.StringArray.from_buffers(
        k, pa.py_buffer(offsets.tobytes()), pa.py_buffer(lowered.tobytes())
    )
    nib = _NIBBLE[lowered[:, 2:18]]
    packed = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])
    keys = packed.view(">u8").reshape(k).astype(np.uint64)
    return ok, canonical, keys


# --------------------------------------------------------------------------------------------
# column-wise validators (numpy): same acceptance as the per-row ones above

_CHUNK = 16_384  # rows per numpy batch: keeps the working set in cache
_U64 = np.uint64
_RC = [
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808A,
    0x8000000080008000,
    0x000000000000808B,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008A,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000A,
    0x000000008000808B,
    0x800000000000008B,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800A,
    0x800000008000000A,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
]
_ROT = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
]


def _rotl(v, n):
    if n == 0:
        return v
    return (v << _U64(n)) | (v >> _U64(64 - n))


def keccak256_40(msgs):
    """Keccak-256 (Ethereum's, not SHA3) of N messages of 40 bytes each: (N, 32) uint8."""
    n = len(msgs)
    block = np.zeros((n, 136), dtype=np.uint8)
    block[:, :40] = msgs
    block[:, 40] ^= 0x01
    block[:, 135] ^= 0x80
    lanes = np.ascontiguousarray(block).view("<u8").reshape(n, 17)
    A = np.zeros((5, 5, n), dtype=np.uint64)  # A[y][x]
    flat = A.reshape(25, n)
    flat[:17] = lanes.T
    B = np.empty_like(A)
    for rc in _RC:
        C = A[0] ^ A[1] ^ A[2] ^ A[3] ^ A[4]
        D = np.roll(C, 1, axis=0) ^ _rotl(np.roll(C, -1, axis=0), 1)
        A ^= D[None, :, :]
        for x in range(5):
            for y in range(5):
                B[(2 * x + 3 * y) % 5, y] = _rotl(A[y, x], _ROT[x][y])
        for y in range(5):
            b0, b1, b2, b3, b4 = B[y, 0], B[y, 1], B[y, 2], B[y, 3], B[y, 4]
            A[y, 0] = b0 ^ (~b1 & b2)
            A[y, 1] = b1 ^ (~b2 & b3)
            A[y, 2] = b2 ^ (~b3 & b4)
            A[y, 3] = b3 ^ (~b4 & b0)
            A[y, 4] = b4 ^ (~b0 & b1)
        A[0, 0] ^= _U64(rc)
    return np.ascontiguousarray(A.reshape(25, n)[:4].T).view(np.uint8).reshape(n, 32)


def _eip55_ok(mat: np.ndarray) -> np.ndarray:
    """For (n, 42) bytes of "0x" + mixed-case hex: does the case match EIP-55?"""
    body = mat[:, 2:]
    lower = body | np.uint8(0x20)
    ok = np.zeros(len(mat), dtype=bool)
    for i in range(0, len(mat), _CHUNK):
        digest = keccak256_40(lower[i : i + _CHUNK])
        nib = np.empty((len(digest), 40), dtype=np.uint8)
        nib[:, 0::2] = digest[:, :20] >> 4
        nib[:, 1::2] = digest[:, :20] & 15
        b = body[i : i + _CHUNK]
        letter = (b | 0x20) >= ord("a")
        upper = letter & ((b & 0x20) == 0)
        want_upper = letter & (nib >= 8)
        ok[i : i + _CHUNK] = (upper == want_upper).all(axis=1)
    return ok


_B58_TABLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(_B58_ALPHABET):
    _B58_TABLE[ord(_c)] = _i


def _b58_fixed(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base58check-decode (n, L) bytes to 25-byte payload+checksum: (ok, raw (n, 25))."""
    n, width = mat.shape
    vals = _B58_TABLE[mat]
    ok = (vals != 255).all(axis=1)
    limbs = np.zeros((8, n), dtype=np.uint64)  # 32-bit limbs, least significant first
    mask = np.uint64(0xFFFFFFFF)
    overflow = np.zeros(n, dtype=bool)
    for j in range(width):
        carry = vals[:, j].astype(np.uint64)
        # after j+1 digits the value is below 58**(j+1) < 2**(5.86 * (j+1)): higher limbs are 0
        used = min(8, int(5.86 * (j + 1)) // 32 + 1)
        for i in range(used):
            t = limbs[i] * np.uint64(58) + carry
            limbs[i] = t & mask
            carry = t >> np.uint64(32)
        if used < 8:
            limbs[used] += carry
        else:
            overflow |= carry != 0
    # 25 bytes = 200 bits: limb 6 holds bits 192-223, only its low 8 bits may be set
    overflow |= (limbs[7] != 0) | ((limbs[6] >> np.uint64(8)) != 0)
    be = np.empty((n, 32), dtype=np.uint8)
    for i in range(8):  # limb i -> bytes [28-4i, 32-4i) big-endian
        v = limbs[i]
        for k in range(4):
            be[:, 31 - 4 * i - k] = ((v >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.uint8)
    raw = be[:, 7:]
    # leading '1's are leading zero bytes, one each, and nothing else may be zero-padded
    ones = np.cumprod(mat == ord("1"), axis=1).sum(axis=1)
    zeros = np.cumprod(raw == 0, axis=1).sum(axis=1)
    ok &= ~overflow & (ones == zeros)
    idx = np.flatnonzero(ok)
    if len(idx):
        buf = raw[idx].tobytes()
        sha = hashlib.sha256
        good = np.fromiter(
            (
                sha(sha(buf[i : i + 21]).digest()).digest()[:4] == buf[i + 21 : i + 25]
                for i in range(0, 25 * len(idx), 25)
            ),
            dtype=bool,
            count=len(idx),
        )
        ok[idx[~good]] = False
    return ok, raw


_BECH32_TABLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(_BECH32_CHARSET):
    _BECH32_TABLE[ord(_c)] = _i
_POLY_NP = np.array(_POLY_TABLE, dtype=np.uint32)


def _segwit_fixed(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (n, L) bytes starting "bc1"/"BC1": (ok, lowercase bytes)."""
    n, width = mat.shape
    is_upper = (mat >= ord("A")) & (mat <= ord("Z"))
    is_lower = (mat >= ord("a")) & (mat <= ord("z"))
    ok = ~(is_upper.any(axis=1) & is_lower.any(axis=1))
    low = np.where(is_upper, mat | np.uint8(0x20), mat)
    ok &= (low[:, 0] == ord("b")) & (low[:, 1] == ord("c")) & (low[:, 2] == ord("1"))
    vals = _BECH32_TABLE[low[:, 3:]]
    ok &= (vals != 255).all(axis=1)
    vals = np.where(vals == 255, 0, vals).astype(np.uint32)
    chk = np.full(n, _BC_HRP_STATE, dtype=np.uint32)
    low25 = np.uint32(0x1FFFFFF)
    for j in range(vals.shape[1]):
        chk = ((chk & low25) << np.uint32(5)) ^ vals[:, j] ^ _POLY_NP[chk >> np.uint32(25)]
    bech32 = chk == _BECH32_CONST
    bech32m = chk == _BECH32M_CONST
    ok &= bech32 | bech32m
    groups = vals.shape[1] - 6 - 1  # data values after the witness version
    nbytes, leftover = divmod(5 * groups, 8)
    version = vals[:, 0]
    ok &= version <= 16
    if leftover >= 5 or not 2 <= nbytes <= 40:
        ok[:] = False
    elif leftover:
        ok &= (vals[:, -7] & np.uint32((1 << leftover) - 1)) == 0
    v0 = version == 0
    if nbytes not in (20, 32):
        ok &= ~v0
    ok &= np.where(v0, bech32, bech32m)
    return ok, low


def _fixed_width_strings(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, width) ASCII byte matrix as one Arrow string array (no per-row decode)."""
    n, width = mat.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(mat, dtype=np.uint8)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data.tobytes())
    )


def _vector_slow(kind: str, texts: pa.Array) -> tuple[np.ndarray, pa.Array | None]:
    """Accept what the column-wise validators can for one chain kind: (ok mask, canonical)."""
    n = len(texts)
    ok = np.zeros(n, dtype=bool)
    canon = np.array([None] * n, dtype=object)
    lengths = pc.binary_length(texts).to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype(np.float64), nan=0).astype(np.int64)
    if kind == "evm":
        groups = [(42, None)]
    elif kind == "tron":
        groups = [(34, None)]
    else:
        groups = [(w, None) for w in sorted(set(lengths.tolist())) if 26 <= w <= 90]
    for width, _ in groups:
        idx = np.flatnonzero(lengths == width)
        if not len(idx):
            continue
        sub = pc.take(texts, pa.array(idx))
        mat = _fixed_width_bytes(sub, width)
        if kind == "evm":
            good = (mat[:, 0] == ord("0")) & ((mat[:, 1] | 0x20) == ord("x"))
            cls = _HEX_CLASS[mat[:, 2:]]
            good &= cls.min(axis=1) > 0
            g = np.flatnonzero(good)
            if len(g):
                good[g] = _eip55_ok(mat[g])
            out = mat | np.uint8(0x20)
        elif kind == "tron":
            good, raw = _b58_fixed(mat)
            good &= (mat[:, 0] == ord("T")) & (raw[:, 0] == 0x41)
            out = mat
        else:
            prefix = mat[:, :3] | np.uint8(0x20)
            segwit = (
                (prefix[:, 0] == ord("b")) & (prefix[:, 1] == ord("c")) & (prefix[:, 2] == ord("1"))
            )
            good = np.zeros(len(idx), dtype=bool)
            out = mat.copy()
            s_idx = np.flatnonzero(segwit)
            if len(s_idx) and width <= 90:
                sg, low = _segwit_fixed(mat[s_idx])
                good[s_idx] = sg
                out[s_idx] = low
            b_idx = np.flatnonzero(~segwit)
            if len(b_idx) and width <= 40:
                bg, raw = _b58_fixed(mat[b_idx])
                bg &= (raw[:, 0] == 0x00) | (raw[:, 0] == 0x05)
                good[b_idx] = bg
        sel = idx[good]
        ok[sel] = True
        if len(sel):
            canon[sel] = _fixed_width_strings(out[good]).to_pylist()
    return ok, canon


# --------------------------------------------------------------------------------------------
# columns


def normalize_column(
    chains: pa.Array | Sequence[str], addresses: pa.Array | Sequence[str | None]
) -> tuple[pa.Array, np.ndarray, dict[int, str]]:
    """Validate a column of addresses: ``(canonical, keys, errors)``.

    Chain names are compared lowercased (callers store them lowercased too).
    ``canonical`` holds the canonical form per row (null for rejected rows), ``keys`` the
    :func:`address_key` per row (0 where rejected), ``errors`` maps row index to the reason
    (from :func:`tracer.addresses.normalize`, or an unknown chain).
    """
    chains = pa.array(chains, type=pa.string()) if not isinstance(chains, pa.Array) else chains
    addresses = (
        pa.array(addresses, type=pa.string())
        if not isinstance(addresses, pa.Array)
        else addresses.cast(pa.string())
    )
    n = len(addresses)
    errors: dict[int, str] = {}
    keys = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return pa.array([], type=pa.string()), keys, errors

    trimmed = pc.utf8_trim_whitespace(addresses)
    chain_dict = pc.dictionary_encode(pc.utf8_lower(pc.fill_null(chains.cast(pa.string()), "")))
    chain_names = chain_dict.dictionary.to_pylist()
    chain_codes = chain_dict.indices.to_numpy(zero_copy_only=False)
    kinds: list[str | None] = []
    for name in chain_names:
        try:
            kinds.append(chain_kind(name) if name else None)
        except UnknownChain:
            kinds.append(None)
    evm_chain = np.array([k == "evm" for k in kinds], dtype=bool)
    is_evm = evm_chain[chain_codes] if len(chain_names) else np.zeros(n, dtype=bool)

    # fast path: plain single-case EVM hex ("0x"/"0X" + 40 digits), checked on raw bytes
    fast = np.zeros(n, dtype=bool)
    fast_idx = np.zeros(0, dtype=np.int64)
    fast_canonical = pa.array([], type=pa.string())
    if is_evm.any():
        lengths = pc.binary_length(trimmed).to_numpy(zero_copy_only=False)
        cand = np.flatnonzero(is_evm & (np.nan_to_num(lengths, nan=0) == 42))
        if len(cand):
            ok, fast_canonical, raw_keys = _evm_fast(pc.take(trimmed, pa.array(cand)))
            fast_idx = cand[ok]
            fast[fast_idx] = True
            salts = np.array(
                [
                    chain_salt(name) if k == "evm" else 0
                    for name, k in zip(chain_names, kinds, strict=True)
                ],
                dtype=np.uint64,
            )
            keys[fast_idx] = raw_keys ^ salts[chain_codes[fast_idx]]

    # column-wise validators for checksummed EVM hex, Tron and Bitcoin
    slow_idx = np.flatnonzero(~fast)
    slow_canonical: list[str | None] = []
    vec_ok = np.zeros(len(slow_idx), dtype=bool)
    vec_canon = np.array([None] * len(slow_idx), dtype=object)
    if len(slow_idx) and len(chain_names):
        slow_codes = chain_codes[slow_idx]
        slow_texts = pc.take(trimmed, pa.array(slow_idx))
        for code, kind in enumerate(kinds):
            if kind is None:
                continue
            rows = np.flatnonzero(slow_codes == code)
            if len(rows) < 64:  # not worth a batch
                continue
            ok_rows, canon_rows = _vector_slow(kind, pc.take(slow_texts, pa.array(rows)))
            vec_ok[rows] = ok_rows
            vec_canon[rows] = canon_rows
            accepted = rows[ok_rows]
            keys[slow_idx[accepted]] = _keys_for(chain_names[code], kind, vec_canon[accepted])

    # everything else, row by row (rejections get their reason from tracer.addresses)
    rest = np.flatnonzero(~vec_ok)
    if len(rest):
        texts = pc.take(trimmed, pa.array(slow_idx[rest])).to_pylist()
        for j, text in zip(rest.tolist(), texts, strict=True):
            i = int(slow_idx[j])
            chain = chain_names[chain_codes[i]] if len(chain_names) else None
            kind = kinds[chain_codes[i]] if len(chain_names) else None
            found = None
            if kind is None:
                errors[i] = f"unknown chain {chain!r}" if chain else "missing chain"
            elif text is None or text == "":
                errors[i] = f"{chain} address is empty"
            else:
                try:
                    found = fast_normalize(chain, kind, text)
                except InvalidAddress as e:
                    errors[i] = str(e)
                else:
                    keys[i] = address_key(chain, found, kind)
            vec_canon[j] = found
    slow_canonical = vec_canon.tolist()

    if not len(slow_idx):
        return fast_canonical, keys, errors
    if not len(fast_idx):
        return pa.array(slow_canonical, type=pa.string()), keys, errors
    both = pa.concat_arrays([fast_canonical, pa.array(slow_canonical, type=pa.string())])
    order = np.argsort(np.concatenate([fast_idx, slow_idx]), kind="stable")
    return both.take(pa.array(order)), keys, errors
