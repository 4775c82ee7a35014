"""Tron (issue 5): trace USDT-TRC20 and TRX, flag deposits and issuer freezes.

* :mod:`tracer.tron.trongrid`: the TronGrid v1 source (``--source trongrid``);
* :mod:`tracer.tron.bulk`: Tron exports read with DuckDB (``--source duckdb --chain tron``);
* :mod:`tracer.tron.signals`: deposit sweeps, shared gas funders, consolidation, USDT blacklist;
* :mod:`tracer.tron.sandbox`: the Tron leg of the Deribit pattern (``--case sandbox-tron``).

Addresses are base58check ``T...`` everywhere tracer shows them (node ids, flags, evidence);
:func:`canonical` accepts every spelling Tron's APIs and exports use (``T...``, ``41`` + 40 hex,
``0x41`` + 40 hex, and the 20-byte ``0x`` + 40 hex of TRC-20 event logs). Amounts are integers
in base units: sun for TRX (6 decimals, asset ``native``), token base units for TRC-20.
"""

from __future__ import annotations

from tracer.addresses import InvalidAddress, normalize, tron_from_hex

CHAIN = "tron"
#: Tether USD on Tron (TRC-20, 6 decimals, issuer Tether).
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRX_DECIMALS = 6
SUN = 10**TRX_DECIMALS  # 1 TRX


def canonical(text: str) -> str:
    """Base58 ``T...`` form of a Tron address in any spelling; :class:`InvalidAddress` if bad."""
    if isinstance(text, str):
        stripped = text.strip()
        if len(stripped) == 42 and stripped[:2] in ("0x", "0X"):
            return tron_from_hex(stripped)  # 20 address bytes, as TRC-20 logs carry them
    return normalize(CHAIN, text)


class AddressBook:
    """Memoized :func:`canonical` for sources that see the same addresses over and over."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        hit = self._memo.get(text)
        if hit is None:
            hit = self._memo[text] = canonical(text)
        return hit

    def get(self, text: object) -> str | None:
        """Canonical form, or None for an empty or invalid value."""
        if not isinstance(text, str) or not text.strip():
            return None
        try:
            return self(text)
        except InvalidAddress:
            return None


def tx_id(text: object) -> str:
    """Transaction id as Tron shows it: 64 lowercase hex digits, no ``0x``."""
    value = str(text or "").strip().lower()
    return value[2:] if value.startswith("0x") else value


__all__ = ["CHAIN", "USDT", "TRX_DECIMALS", "SUN", "AddressBook", "canonical", "tx_id"]
