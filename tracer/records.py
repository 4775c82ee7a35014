"""The one transfer record that flows between sources, the engine, the graph and the exports.

Every source (bulk exports, JSON-RPC, explorers) maps its rows into :class:`Transfer`; nothing
downstream knows where a record came from except through its ``source`` field.
Amounts are integers in base units (wei, sun, satoshi, token base units) end to end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

#: ``kind`` values. ``native`` is a top-level transaction value transfer, ``internal`` a native
#: transfer made by a contract (found in traces), ``token`` a fungible token Transfer event,
#: ``utxo`` a Bitcoin-style output.
KINDS = ("native", "token", "internal", "utxo")

# Order of kinds inside one transaction: the top-level value moves first, then logs in log order,
# then internal transfers (traces carry no log index, so they are placed after the logs).
_KIND_ORDER = {"native": 0, "utxo": 0, "token": 1, "internal": 2}


@dataclass(slots=True)
class Transfer:
    """One movement of one asset from one address to another, as observed on chain.

    Treat it as immutable (not frozen only because frozen dataclasses cost 6x more to build,
    and sources build millions of them).
    """

    chain: str
    asset: str  # token contract address (canonical form) or "native"
    from_address: str
    to_address: str
    amount: int  # base units
    decimals: int | None
    tx_hash: str
    log_index: int | None  # log index for tokens, output index for UTXO; None otherwise
    block_number: int
    timestamp: int  # block time, seconds since the epoch (UTC)
    tx_index: int = 0
    success: bool = True
    source: str = ""
    kind: str = "token"
    trace_address: str | None = None  # internal transfers: the trace path, e.g. "0,1"
    _id: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def block_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, tz=timezone.utc)

    @property
    def transfer_id(self) -> str:
        """Stable identity of the transfer: also the edge key in the graph."""
        tid = self._id
        if tid is None:
            if self.kind == "token" or self.kind == "utxo":
                tid = f"{self.tx_hash}:{self.log_index}"
            elif self.kind == "internal":
                tid = f"{self.tx_hash}:trace:{self.trace_address or ''}"
            else:
                tid = f"{self.tx_hash}:tx"
            self._id = tid
        return tid

    @property
    def position(self) -> tuple:
        """Chain order: block, transaction index, then order inside the transaction."""
        sub = self.log_index if self.log_index is not None else 0
        trace = (
            tuple(int(p) for p in self.trace_address.split(",") if p) if self.trace_address else ()
        )
        return (self.block_number, self.tx_index, _KIND_ORDER.get(self.kind, 3), sub, trace)


def iso_utc(timestamp: int) -> str:
    """ISO-8601 UTC with a trailing Z, the one time format of every output."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def format_units(amount: int, decimals: int | None) -> str:
    """Exact decimal rendering of a base-unit integer (display only, never for arithmetic)."""
    if not decimals:
        return str(amount)
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount)).rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def parse_units(text: str, decimals: int | None) -> int:
    """Inverse of :func:`format_units`: '1.5' with 6 decimals -> 1500000. Rejects excess precision."""
    text = text.strip()
    if not text or text.count(".") > 1 or not text.replace(".", "", 1).isdigit():
        raise ValueError(f"not a decimal amount: {text!r}")
    whole, _, frac = text.partition(".")
    decimals = decimals or 0
    if len(frac) > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return int(whole or "0") * 10**decimals + int((frac or "0").ljust(decimals, "0"))
