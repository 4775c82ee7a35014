"""THORChain memo grammar: what an inbound asks for and which inbound an outbound pays.

THORChain reads intent from a transaction memo (OP_RETURN on UTXO chains, the router's
``deposit(vault, asset, amount, memo)`` string on EVM chains, the tx memo on Cosmos chains).
This module parses memos the way THORNode's ``x/thorchain/memo`` parser does, as far as
tracing needs it:

* the function name is case-insensitive and has aliases (``SWAP``/``s``/``=``, ``OUT``,
  ``REFUND``, ``+``/``a``/``add``, ``-``/``wd``/``withdraw``, ...); text after the first ``|`` is
  ignored (THORNode >= 1.115);
* swap: ``SWAP:ASSET:DESTADDR[/REFUNDADDR]:LIM[/INTERVAL/QUANTITY]:AFFILIATE:FEE:DEXAGG:
  DEXTARGET:DEXLIMIT``; optional fields may be blank but keep their colons; the limit accepts
  scientific notation (``1e8``, fraction truncated); several affiliates and fees are
  ``/``-separated;
* assets are ``CHAIN.SYMBOL[-CONTRACT]`` (``/`` synth, ``~`` trade, ``-`` secured), a bare
  symbol means THORChain, and short codes stand for gas assets (``b`` = BTC.BTC, ``e`` = ETH.ETH,
  ``r`` = THOR.RUNE, ...);
* outbound: ``OUT:<TXID>`` and ``REFUND:<TXID>``, where TXID is the inbound transaction's hash
  as uppercase hex without ``0x`` (also for EVM inbounds): :func:`thor_txid` builds it.

Every memo is untrusted: anything malformed raises :class:`MemoError` (a ``ValueError``) with a
one-line reason quoting at most a short, escaped piece of the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

#: THORChain chain codes -> tracer chain names (None: THORChain knows it, tracer does not trace it).
THOR_CHAINS: dict[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "BSC": "bsc",
    "AVAX": "avalanche",
    "BASE": "base",
    "TRON": "tron",
    "LTC": "litecoin",
    "BCH": "bitcoincash",
    "DOGE": "dogecoin",
    "GAIA": "cosmos",
    "THOR": "thorchain",
    "XRP": "xrp",
    "SOL": "solana",
    "BNB": "bnb-beacon",  # Binance Chain (retired in 2024); its old memos still parse
    "NOBLE": "noble",
    "ZEC": "zcash",
}
#: Tracer chain name -> THORChain chain code.
CHAIN_CODES = {v: k for k, v in THOR_CHAINS.items()}

#: Short codes for gas assets (THORNode common/asset.go ShortCode; ``n`` = BNB.BNB in old memos).
SHORT_CODES: dict[str, str] = {
    "r": "THOR.RUNE",
    "b": "BTC.BTC",
    "e": "ETH.ETH",
    "g": "GAIA.ATOM",
    "d": "DOGE.DOGE",
    "l": "LTC.LTC",
    "c": "BCH.BCH",
    "a": "AVAX.AVAX",
    "s": "BSC.BNB",
    "f": "BASE.ETH",
    "tr": "TRON.TRX",
    "x": "XRP.XRP",
    "o": "SOL.SOL",
    "n": "BNB.BNB",
}

#: Function names (lower case) -> canonical action.
ACTIONS: dict[str, str] = {
    "swap": "swap",
    "s": "swap",
    "=": "swap",
    "limito": "limit",
    "lo": "limit",
    "out": "out",
    "refund": "refund",
    "add": "add",
    "a": "add",
    "+": "add",
    "withdraw": "withdraw",
    "wd": "withdraw",
    "-": "withdraw",
    "donate": "donate",
    "d": "donate",
    "bond": "bond",
    "unbond": "unbond",
    "leave": "leave",
    "reserve": "reserve",
    "migrate": "migrate",
    "ragnarok": "ragnarok",
    "noop": "noop",
    "consolidate": "consolidate",
    "name": "thorname",
    "n": "thorname",
    "~": "thorname",
    "$+": "loan_open",
    "loan+": "loan_open",
    "$-": "loan_repay",
    "loan-": "loan_repay",
    "trade+": "trade_deposit",
    "trade-": "trade_withdraw",
    "secure+": "secure_deposit",
    "secure-": "secure_withdraw",
    "pool+": "runepool_deposit",
    "pool-": "runepool_withdraw",
    "switch": "switch",
    "yggdrasil+": "yggdrasil_fund",
    "yggdrasil-": "yggdrasil_return",
}
#: Actions of outbound transactions that pay an inbound back (they carry the inbound's txid).
OUTBOUND_ACTIONS = frozenset({"out", "refund"})
#: Vault-internal movements: never a user release.
INTERNAL_ACTIONS = frozenset({"migrate", "consolidate", "ragnarok", "yggdrasil_fund"})

MAX_MEMO_BYTES = 250  # THORChain's overall memo limit (80 on UTXO chains' OP_RETURN)
MAX_BASIS_POINTS = 10_000
_TXID = re.compile(r"^[0-9A-Fa-f]{64}$")
_CHAIN = re.compile(r"^[A-Za-z0-9]{1,10}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_SHOW = 48


class MemoError(ValueError):
    """A memo THORChain would reject (or that is not a THORChain memo at all)."""


def show(text: str, limit: int = _SHOW) -> str:
    """A short, escaped quote of untrusted text for one-line messages."""
    cut = text[:limit]
    quoted = repr(cut)
    return quoted + ("…" if len(text) > limit else "")


@dataclass(frozen=True, slots=True)
class ThorAsset:
    """One THORChain asset: ``chain`` code, ``symbol`` (ticker plus optional contract)."""

    chain: str  # THORChain chain code, upper case ("BTC", "ETH", "THOR")
    symbol: str  # upper case, e.g. "USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7"
    kind: str = "layer1"  # "layer1", "synth" (/), "trade" (~) or "secured" (-)

    @property
    def ticker(self) -> str:
        return self.symbol.split("-", 1)[0]

    @property
    def contract(self) -> str | None:
        """The token contract suffix as written (may be abbreviated, e.g. ``EC7``), or None."""
        parts = self.symbol.split("-", 1)
        return parts[1] if len(parts) > 1 else None

    @property
    def evm_contract(self) -> str | None:
        """The full EVM contract (lowercase ``0x`` + 40 hex) when the memo spells it out."""
        c = self.contract
        if c and re.fullmatch(r"0[xX][0-9a-fA-F]{40}", c):
            return c.lower()
        return None

    @property
    def text(self) -> str:
        sep = {"layer1": ".", "synth": "/", "trade": "~", "secured": "-"}[self.kind]
        return f"{self.chain}{sep}{self.symbol}"

    @property
    def tracer_chain(self) -> str | None:
        """Where the asset is paid out: its chain for layer-1 assets, THORChain otherwise."""
        if self.kind != "layer1":
            return "thorchain"
        return THOR_CHAINS.get(self.chain)

    @property
    def is_gas(self) -> bool:
        """The chain's native coin (BTC.BTC, ETH.ETH, BASE.ETH, ...), not a token."""
        return self.kind == "layer1" and self.contract is None and self.text in SHORT_CODES.values()

    def __str__(self) -> str:
        return self.text


def parse_asset(text: str) -> ThorAsset:
    """Parse ``CHAIN.SYMBOL`` (or a short code, synth/trade/secured forms); MemoError if bad."""
    raw = text.strip()
    if not raw:
        raise MemoError("empty asset")
    raw = SHORT_CODES.get(raw, raw)
    match = re.search(r"[~./-]", raw)
    kinds = {"~": "trade", "/": "synth", "-": "secured", ".": "layer1"}
    if match is None:
        chain, symbol, kind = "THOR", raw, "layer1"
    else:
        chain, symbol = raw[: match.start()], raw[match.end() :]
        kind = kinds[match.group()]
    if not _CHAIN.match(chain):
        raise MemoError(f"asset {show(text)}: bad chain {show(chain)}")
    if not _SYMBOL.match(symbol):
        raise MemoError(f"asset {show(text)}: bad symbol {show(symbol)}")
    chain = chain.upper()
    if chain not in THOR_CHAINS:
        raise MemoError(f"asset {show(text)}: unknown THORChain chain {show(chain)}")
    if kind != "layer1" and chain == "THOR":
        raise MemoError(f"asset {show(text)}: a {kind} asset cannot be on THOR")
    return ThorAsset(chain, symbol.upper(), kind)


@dataclass(frozen=True, slots=True)
class Memo:
    """A parsed memo. Fields not used by the action are None / empty."""

    raw: str
    action: str  # canonical action name (see ACTIONS)
    asset: ThorAsset | None = None
    destination: str | None = None  # as written (address or THORName), not validated here
    refund_address: str | None = None
    limit: int | None = None  # minimum output in 1e8 units (0/None: no protection)
    stream_interval: int | None = None
    stream_quantity: int | None = None
    affiliates: tuple[tuple[str, int | None], ...] = ()  # (address or THORName, basis points)
    dex_aggregator: str | None = None
    dex_target: str | None = None
    dex_limit: int | None = None
    txid: str | None = None  # OUT/REFUND: the inbound's txid, upper case, no 0x

    @property
    def is_outbound(self) -> bool:
        return self.action in OUTBOUND_ACTIONS

    @property
    def is_swap(self) -> bool:
        return self.action in ("swap", "limit")

    @property
    def streaming(self) -> bool:
        return bool(self.stream_interval) or (self.stream_quantity or 0) > 1


def _uint(text: str, what: str, memo: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise MemoError(f"memo {show(memo)}: {what} {show(text)} is not an unsigned integer")
    return int(text)


def _sci_uint(text: str, what: str, memo: str) -> int:
    """THORNode's ``getUintWithScientificNotation``: decimal or ``1.5e8``, fraction truncated."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]*)?([eE][+]?[0-9]{1,3})?", text):
        raise MemoError(f"memo {show(memo)}: {what} {show(text)} is not a number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MemoError(f"memo {show(memo)}: {what} {show(text)} is not a number") from None
    if value > Decimal(2) ** 256:
        raise MemoError(f"memo {show(memo)}: {what} {show(text)} is out of range")
    return int(value)  # truncates toward zero, like big.Float.Int


def thor_txid(tx_hash: str) -> str:
    """THORChain's spelling of a transaction id: uppercase hex, no ``0x``; MemoError if bad."""
    if not isinstance(tx_hash, str):
        raise MemoError("transaction id is not text")
    text = tx_hash.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if not _TXID.match(text):
        raise MemoError(f"transaction id {show(tx_hash)} is not 32 bytes of hex")
    return text.upper()


def parse_memo(text: object) -> Memo:
    """Parse one memo; :class:`MemoError` with a one-line reason if THORChain would reject it."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MemoError("memo is not UTF-8 text") from None
    if not isinstance(text, str):
        raise MemoError("memo is not text")
    if not text.strip():
        raise MemoError("memo is empty")
    if len(text.encode("utf-8")) > MAX_MEMO_BYTES:
        raise MemoError(f"memo longer than {MAX_MEMO_BYTES} bytes")
    if not text.isprintable():
        raise MemoError(f"memo {show(text)} holds control characters")
    body = text.split("|", 1)[0]
    parts = body.split(":")
    name = parts[0].strip().lower()
    action = ACTIONS.get(name)
    if action is None:
        raise MemoError(f"memo {show(text)}: unknown function {show(parts[0])}")

    def get(i: int) -> str:
        return parts[i].strip() if i < len(parts) else ""

    if action in OUTBOUND_ACTIONS:
        if not get(1):
            raise MemoError(f"memo {show(text)}: {action.upper()} without an inbound txid")
        return Memo(text, action, txid=thor_txid(get(1)))
    if action in ("swap", "limit"):
        return _parse_swap(text, action, get)
    asset = parse_asset(get(1)) if get(1) else None
    return Memo(text, action, asset=asset, destination=get(2) or None)


def _parse_swap(memo: str, action: str, get) -> Memo:
    if not get(1):
        raise MemoError(f"memo {show(memo)}: swap without a target asset")
    asset = parse_asset(get(1))
    dest_field = get(2)
    destination, refund = dest_field, None
    if "/" in dest_field:
        destination, refund = (p.strip() for p in dest_field.split("/", 1))
        if not destination and refund:
            raise MemoError(f"memo {show(memo)}: refund address set but destination empty")
    limit = interval = quantity = None
    lim = get(3)
    if "/" in lim:
        pieces = [p.strip() or "0" for p in lim.split("/", 2)]
        limit = _sci_uint(pieces[0], "price limit", memo)
        if len(pieces) > 1:
            interval = _uint(pieces[1], "streaming interval", memo)
        if len(pieces) > 2:
            quantity = _uint(pieces[2], "streaming quantity", memo)
    elif lim:
        limit = _sci_uint(lim, "price limit", memo)
    affiliates: list[tuple[str, int | None]] = []
    names = [n.strip() for n in get(4).split("/")] if get(4) else []
    fees = [f.strip() for f in get(5).split("/")] if get(5) else []
    if fees and len(fees) not in (1, len(names)):
        raise MemoError(f"memo {show(memo)}: {len(names)} affiliates but {len(fees)} fees")
    for i, affiliate in enumerate(names):
        if not affiliate:
            raise MemoError(f"memo {show(memo)}: empty affiliate name")
        bps = None
        if fees:
            bps = _uint(fees[i] if len(fees) > 1 else fees[0], "affiliate fee", memo)
            if bps > MAX_BASIS_POINTS:
                raise MemoError(f"memo {show(memo)}: affiliate fee {bps} exceeds 10000 bps")
        affiliates.append((affiliate, bps))
    if fees and not names:
        raise MemoError(f"memo {show(memo)}: affiliate fee without an affiliate")
    dex_limit = _sci_uint(get(8), "aggregator limit", memo) if get(8) else None
    return Memo(
        memo,
        action,
        asset=asset,
        destination=destination or None,
        refund_address=refund or None,
        limit=limit,
        stream_interval=interval,
        stream_quantity=quantity,
        affiliates=tuple(affiliates),
        dex_aggregator=get(6) or None,
        dex_target=get(7) or None,
        dex_limit=dex_limit,
    )


def outbound_memo(kind: str, tx_hash: str) -> str:
    """The memo THORChain writes on an outbound: ``OUT:<TXID>`` or ``REFUND:<TXID>``."""
    if kind not in ("out", "refund"):
        raise ValueError(f"outbound kind must be 'out' or 'refund', not {kind!r}")
    return f"{kind.upper()}:{thor_txid(tx_hash)}"


# ------------------------------------------------------------------------------------------
# Bitcoin OP_RETURN


def op_return_data(script_hex: str) -> bytes | None:
    """The data of an OP_RETURN script with exactly one push (what THORChain's Bifrost reads).

    None for scripts that are not ``OP_RETURN <push>`` (a bare OP_RETURN, several pushes,
    malformed lengths): Bifrost skips those outputs too.
    """
    try:
        s = bytes.fromhex(script_hex)
    except (ValueError, TypeError):
        return None
    if len(s) < 2 or s[0] != 0x6A:
        return None
    op, rest = s[1], s[2:]
    if 1 <= op <= 75:
        size, data = op, rest
    elif op == 0x4C and rest:
        size, data = rest[0], rest[1:]
    elif op == 0x4D and len(rest) >= 2:
        size, data = int.from_bytes(rest[:2], "little"), rest[2:]
    else:
        return None
    if len(data) != size:
        return None
    return data


def utxo_memo(script_hexes) -> str | None:
    """The memo of a UTXO transaction: every single-push OP_RETURN output's data, concatenated
    in output order and decoded as UTF-8 (Bifrost's ``getMemo``); None if there is none.

    Raises :class:`MemoError` when the data is not UTF-8 text.
    """
    pieces = [d for d in (op_return_data(h) for h in script_hexes) if d is not None]
    if not pieces:
        return None
    raw = b"".join(pieces)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MemoError("OP_RETURN data is not UTF-8 text") from None


__all__ = [
    "ACTIONS",
    "CHAIN_CODES",
    "INTERNAL_ACTIONS",
    "MAX_MEMO_BYTES",
    "OUTBOUND_ACTIONS",
    "SHORT_CODES",
    "THOR_CHAINS",
    "Memo",
    "MemoError",
    "ThorAsset",
    "op_return_data",
    "outbound_memo",
    "parse_asset",
    "parse_memo",
    "thor_txid",
    "utxo_memo",
]
