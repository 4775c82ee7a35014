"""Records and the decoder interface shared by every bridge and swap-service module.

A bridge hop is a *deposit* on the source chain and one or more *releases* on the destination
chain. Each protocol module (``cbridge``, ``thorchain``, ``cctp``, ``wormhole``, ``avalanche``,
``inferred``) turns raw event logs (or plain transfers, for services that emit no events) into
these records and links deposits to releases. The orchestration in :mod:`tracer.crosschain`
knows nothing protocol-specific: it only calls the :class:`Decoder` methods.

All amounts are integers in base units; all addresses are in their chain's canonical form
(:func:`canonical_address`); every string read from a log is untrusted and validated here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tracer.records import Transfer

LINKAGES = ("exact", "inferred")
RELEASE_KINDS = ("out", "refund")
#: Why a tainted deposit into a bridge was not followed (``bridge_stops.csv``).
STOP_REASONS = (
    "no_decoder",  # the address is labelled a bridge but no decoder knows the contract
    "undecoded",  # a decoder knows the contract but no deposit event matched the transfer
    "no_destination_data",  # the destination chain was not given (--follow) or is unknown
    "no_release",  # destination data searched, no matching release found
    "ambiguous",  # several candidate releases scored too close to choose (inferred)
    "low_confidence",  # the best inferred candidate stayed below the link threshold
)

#: Tron mainnet's EVM-style chain id (what bridges put in ``dstChainId``), 0x2b6653dc.
TRON_CHAIN_ID = 728126428


@dataclass(frozen=True, slots=True)
class RawLog:
    """One event log as bulk exports and ``eth_getLogs`` carry it.

    ``address`` is canonical on ``chain``; ``topics`` and ``data`` are lowercase ``0x`` hex.
    ``tx_from`` is the transaction's sender when known ("" otherwise).
    """

    chain: str
    address: str
    topics: tuple[str, ...]
    data: str
    tx_hash: str
    log_index: int
    block: int
    time: int  # block time, seconds since the epoch (UTC)
    tx_from: str = ""

    @property
    def topic0(self) -> str:
        return self.topics[0] if self.topics else ""


@dataclass(frozen=True, slots=True)
class BridgeDeposit:
    """Funds handed to a bridge on the source chain."""

    bridge: str  # decoder name, e.g. "cbridge"
    chain: str
    contract: str  # the bridge contract / service address that received the funds
    tx_hash: str
    log_index: int  # the event's log index (-1 when built from a plain transfer)
    block: int
    time: int
    sender: str
    asset: str  # token contract (canonical) or "native"
    amount: int
    dest_chain: str | None = None  # tracer chain name, when the protocol says where
    recipient: str | None = None  # declared destination address (canonical on dest_chain)
    link_key: str | None = None  # protocol identifier matching a release (exact decoders)
    memo: str | None = None

    @property
    def key(self) -> str:
        """Stable identity: chain, transaction and log index."""
        return f"{self.chain}:{self.tx_hash}:{self.log_index}"

    @classmethod
    def paid_by(cls, bridge: str, t: Transfer, **fields) -> BridgeDeposit:
        """The deposit a plain transfer ``t`` into the bridge makes (no event: log index -1
        when the transfer has none); sender, asset and amount come from ``t``."""
        position = -1 if t.log_index is None else t.log_index
        return cls(
            bridge, t.chain, t.to_address, t.tx_hash, position, t.block_number, t.timestamp,
            t.from_address, t.asset, t.amount, **fields,
        )  # fmt: skip

    @classmethod
    def at(cls, bridge: str, log: RawLog, **fields) -> BridgeDeposit:
        """The deposit an event ``log`` records: its chain, contract, transaction, position and
        time come from the log, the rest from ``fields``."""
        return cls(
            bridge,
            log.chain,
            log.address,
            log.tx_hash,
            log.log_index,
            log.block,
            log.time,
            **fields,
        )


@dataclass(frozen=True, slots=True)
class BridgeRelease:
    """Funds paid out by a bridge on the destination chain."""

    bridge: str
    chain: str
    contract: str
    tx_hash: str
    log_index: int
    block: int
    time: int
    recipient: str
    asset: str
    amount: int
    src_chain: str | None = None
    link_key: str | None = None
    kind: str = "out"  # "out" or "refund"

    @property
    def key(self) -> str:
        return f"{self.chain}:{self.tx_hash}:{self.log_index}"

    @classmethod
    def paid_to(cls, bridge: str, t: Transfer, **fields) -> BridgeRelease:
        """The release a plain transfer ``t`` out of the bridge makes (see
        :meth:`BridgeDeposit.paid_by`); recipient, asset and amount come from ``t``."""
        position = -1 if t.log_index is None else t.log_index
        return cls(
            bridge, t.chain, t.from_address, t.tx_hash, position, t.block_number, t.timestamp,
            t.to_address, t.asset, t.amount, **fields,
        )  # fmt: skip

    @classmethod
    def at(cls, bridge: str, log: RawLog, **fields) -> BridgeRelease:
        """The release an event ``log`` records (see :meth:`BridgeDeposit.at`)."""
        return cls(
            bridge,
            log.chain,
            log.address,
            log.tx_hash,
            log.log_index,
            log.block,
            log.time,
            **fields,
        )


@dataclass(frozen=True, slots=True)
class BridgeLink:
    """A deposit linked to its release(s), with how sure we are and why."""

    deposit: BridgeDeposit
    releases: tuple[BridgeRelease, ...]
    linkage: str  # "exact" or "inferred"
    confidence: float  # 1.0 for exact linkage
    evidence: tuple[str, ...]
    fee: int | None  # deposit - released, same-value assets only; None when not comparable

    @property
    def released(self) -> int:
        return sum(r.amount for r in self.releases)


@dataclass(frozen=True, slots=True)
class BridgeStop:
    """A tainted deposit that was not followed across, and why (one of :data:`STOP_REASONS`)."""

    chain: str
    contract: str
    tx_hash: str
    transfer_id: str
    asset: str
    amount: int
    tainted: int
    reason: str
    bridge: str = ""  # decoder name, "" when none
    dest_chain: str | None = None
    detail: str = ""


@runtime_checkable
class Decoder(Protocol):
    """What every bridge module provides (see :class:`BaseDecoder` for the defaults)."""

    name: str
    linkage: str  # "exact" or "inferred": how this protocol's deposits are linked
    contracts: Mapping[str, frozenset[str]]  # chain -> canonical contract/service addresses

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None: ...

    def decode_release(self, log: RawLog) -> BridgeRelease | None: ...

    def deposit_from_transfer(self, t: Transfer) -> BridgeDeposit | None: ...

    def release_from_transfer(self, t: Transfer) -> BridgeRelease | None: ...

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]: ...


@dataclass
class BaseDecoder:
    """Defaults for decoders: contract bookkeeping, no-op decoding, exact linking on link_key.

    Exact decoders override :meth:`decode_deposit` / :meth:`decode_release` and keep the
    default :meth:`link` (never links on amount alone). Services without events (swap desks,
    UTXO bridges) override the ``*_from_transfer`` methods instead.
    """

    name: str = "base"
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)

    def add_contract(self, chain: str, contract: str) -> None:
        """Register one more address (canonicalised; :class:`InvalidAddress` if bad)."""
        address = canonical_address(chain, contract)
        self.contracts[chain] = frozenset(self.contracts.get(chain, frozenset()) | {address})

    def knows(self, chain: str, address: str) -> bool:
        return address in self.contracts.get(chain, ())

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        return None

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        return None

    def deposit_from_transfer(self, t: Transfer) -> BridgeDeposit | None:
        return None

    def release_from_transfer(self, t: Transfer) -> BridgeRelease | None:
        return None

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        return link_by_key(deposits, releases)


# ------------------------------------------------------------------------------------------
# exact linking


def link_by_key(
    deposits: Iterable[BridgeDeposit],
    releases: Iterable[BridgeRelease],
    lookup: AssetLookup | None = None,
) -> list[BridgeLink]:
    """Link each deposit to the releases carrying its ``link_key`` (and coming from its chain).

    Deposits without a key, or whose key no release carries, are left out (the caller turns
    them into stops). Releases are ordered by (block, log index); the result by deposit key.
    """
    by_key: dict[str, list[BridgeRelease]] = defaultdict(list)
    for r in releases:
        if r.link_key:
            by_key[r.link_key].append(r)
    links = []
    for d in sorted(deposits, key=lambda d: d.key):
        if not d.link_key:
            continue
        found = [
            r
            for r in by_key.get(d.link_key, ())
            if (r.src_chain is None or r.src_chain == d.chain)
            and (d.dest_chain is None or r.chain == d.dest_chain)
        ]
        if not found:
            continue
        found.sort(key=lambda r: (r.block, r.tx_hash, r.log_index))
        evidence = [f"{d.bridge} id {d.link_key} on both chains"]
        if d.recipient and all(r.recipient == d.recipient for r in found if r.kind == "out"):
            evidence.append("recipient matches the deposit")
        links.append(
            BridgeLink(d, tuple(found), "exact", 1.0, tuple(evidence), fee_of(d, found, lookup))
        )
    return links


AssetLookup = Callable[[str, str], object]  # (chain, asset) -> tracer.chains.Asset | None


def fee_of(
    deposit: BridgeDeposit, releases: Iterable[BridgeRelease], lookup: AssetLookup | None = None
) -> int | None:
    """Deposited minus released, when every release is the same value unit as the deposit."""
    releases = list(releases)
    if not releases or not all(comparable(deposit, r, lookup) for r in releases):
        return None
    return deposit.amount - sum(r.amount for r in releases)


def comparable(
    deposit: BridgeDeposit, release: BridgeRelease, lookup: AssetLookup | None = None
) -> bool:
    """Same-value assets with the same decimals (USDT on Ethereum and on Tron, ETH and ETH).

    Decided from ``lookup`` (default :func:`tracer.chains.asset_info`, the registered assets):
    both symbols known and equal, decimals equal. Unknown tokens are never comparable (a spam
    "USDT" is not USDT).
    """
    if lookup is None:
        from tracer.chains import asset_info as lookup
    a = lookup(deposit.chain, deposit.asset)
    b = lookup(release.chain, release.asset)
    if a is None or b is None:
        return False
    return a.symbol.upper() == b.symbol.upper() and a.decimals == b.decimals


def carried(tainted: int, deposited: int, released: int) -> int:
    """Tainted share carried across: ``released * tainted // deposited`` (floor, base units).

    In the release's own units, so it holds when decimals differ between chains.
    """
    if deposited <= 0 or tainted <= 0:
        return 0
    return min(released, released * min(tainted, deposited) // deposited)


# ------------------------------------------------------------------------------------------
# ABI helpers for decoders (all input untrusted: malformed data raises ValueError)


def words(data: str) -> list[bytes]:
    """``data`` hex split into 32-byte words (ValueError if not whole words of hex)."""
    raw = hex_bytes(data)
    if len(raw) % 32:
        raise ValueError("log data is not a whole number of 32-byte words")
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def hex_bytes(text: str) -> bytes:
    """Bytes of a ``0x`` hex string (ValueError if not hex)."""
    if not isinstance(text, str):
        raise ValueError("not a hex string")
    body = text[2:] if text[:2] in ("0x", "0X") else text
    return bytes.fromhex(body)


def word_uint(word: bytes | str) -> int:
    if isinstance(word, str):
        word = hex_bytes(word)
    if len(word) != 32:
        raise ValueError("not a 32-byte word")
    return int.from_bytes(word, "big")


def word_address(word: bytes | str) -> str:
    """Lowercase ``0x`` + 40 hex of an ABI address word (upper 12 bytes must be zero)."""
    if isinstance(word, str):
        word = hex_bytes(word)
    if len(word) != 32 or any(word[:12]):
        raise ValueError("not an ABI-encoded address")
    return "0x" + word[12:].hex()


def word_hex(word: bytes | str) -> str:
    """A bytes32 word as lowercase ``0x`` + 64 hex."""
    if isinstance(word, str):
        word = hex_bytes(word)
    if len(word) != 32:
        raise ValueError("not a 32-byte word")
    return "0x" + word.hex()


def abi_bytes(data: str, offset_word: int) -> bytes:
    """The dynamic ``bytes``/``string`` whose head is word ``offset_word`` of ``data``."""
    raw = hex_bytes(data)
    head = offset_word * 32
    if head + 32 > len(raw):
        raise ValueError("dynamic offset outside the data")
    start = int.from_bytes(raw[head : head + 32], "big")
    if start + 32 > len(raw):
        raise ValueError("dynamic value outside the data")
    length = int.from_bytes(raw[start : start + 32], "big")
    if start + 32 + length > len(raw):
        raise ValueError("dynamic value longer than the data")
    return raw[start + 32 : start + 32 + length]


def abi_string(data: str, offset_word: int, limit: int = 1024) -> str:
    """A dynamic ``string`` (UTF-8, replacement for bad bytes, at most ``limit`` bytes)."""
    value = abi_bytes(data, offset_word)
    if len(value) > limit:
        raise ValueError(f"string longer than {limit} bytes")
    return value.decode("utf-8", errors="replace")


def canonical_address(chain: str, text: str) -> str:
    """Canonical form on ``chain``; Tron also accepts the 20-byte ``0x`` form of its logs."""
    from tracer.addresses import chain_kind, normalize

    if chain_kind(chain) == "tron":
        from tracer.tron import canonical

        return canonical(text)
    return normalize(chain, text)


def evm_address_on(chain: str, hex_address: str) -> str:
    """A 20-byte ``0x`` address (as EVM logs carry it) in ``chain``'s canonical form."""
    return canonical_address(chain, hex_address)


def chain_for_id(chain_id: int) -> str | None:
    """Tracer chain name for an EVM-style chain id (Tron's included), or None if unknown."""
    if chain_id == TRON_CHAIN_ID:
        return "tron"
    from tracer.evm_chains import by_id

    evm = by_id(chain_id)
    return evm.name if evm else None


def chain_id_of(chain: str) -> int | None:
    """Inverse of :func:`chain_for_id`."""
    if chain == "tron":
        return TRON_CHAIN_ID
    from tracer.evm_chains import by_name

    evm = by_name(chain)
    return evm.chain_id if evm else None


__all__ = [
    "LINKAGES",
    "RELEASE_KINDS",
    "STOP_REASONS",
    "TRON_CHAIN_ID",
    "BaseDecoder",
    "BridgeDeposit",
    "BridgeLink",
    "BridgeRelease",
    "BridgeStop",
    "Decoder",
    "RawLog",
    "abi_bytes",
    "abi_string",
    "canonical_address",
    "carried",
    "chain_for_id",
    "chain_id_of",
    "comparable",
    "evm_address_on",
    "fee_of",
    "hex_bytes",
    "link_by_key",
    "word_address",
    "word_hex",
    "word_uint",
    "words",
]
