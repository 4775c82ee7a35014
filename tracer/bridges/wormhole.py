"""Wormhole: Token Bridge transfers by VAA id, NTT transfers by message digest (both exact).

**Token Bridge.** The source chain's Core contract emits ``LogMessagePublished(address indexed
sender, uint64 sequence, uint32 nonce, bytes payload, uint8 consistencyLevel)``: ``sender``
(topic 1) is the *emitter*, the Token Bridge contract, not the user; ``sequence`` is data word 0
(not indexed). The destination Token Bridge emits ``TransferRedeemed(uint16 indexed
emitterChainId, bytes32 indexed emitterAddress, uint64 indexed sequence)``. The VAA id
``emitterChain/emitter/sequence`` links them exactly. The payload (type 1 ``Transfer`` or 3
``TransferWithPayload``) gives the amount (normalised to 8 decimals), the token (chain id +
32-byte address), the recipient and the target chain; ``TransferRedeemed`` carries none of that,
so :meth:`WormholeDecoder.link` completes the release's recipient, asset and amount from the
source payload (evidence says so: the destination ``Transfer`` itself was not read).

**NTT** (native token transfers): ``TransferSent(bytes32 indexed digest, uint256 amount, uint16
indexed destinationChain, uint64 sequence, address indexed sender)`` at the source
``NttManager``, ``TransferRedeemed(bytes32 indexed digest)`` at the destination one; linked by
digest. NTT events name neither the recipient nor the token: those releases carry an empty
recipient until the caller reads the destination transaction.

Wormhole chain ids are not EVM chain ids: :data:`WORMHOLE_CHAINS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tracer.bridges.base import (
    BaseDecoder,
    BridgeDeposit,
    BridgeLink,
    BridgeRelease,
    RawLog,
    abi_bytes,
    canonical_address,
    fee_of,
    link_by_key,
    word_address,
    word_hex,
    word_uint,
    words,
)

NAME = "wormhole"

LOG_MESSAGE_PUBLISHED = "0x6eb224fb001ed210e379b335e35efe88672a8ce935d981a6896b27ffdf52a3b2"
TRANSFER_REDEEMED = "0xcaf280c8cfeba144da67230d9b009c8f868a75bac9a528fa0474be1ba317c169"
NTT_TRANSFER_SENT = "0x879e509e44219caae9247bb2ec1b2606154e4d871bcfa6c23206bffe9e298795"
NTT_TRANSFER_REDEEMED = "0x504e6efe18ab9eed10dc6501a417f5b12a2f7f2b1593aed9b89f9bce3cf29a91"

#: Wormhole chain ids -> tracer chain names (wormhole-sdk-ts ``chains``).
WORMHOLE_CHAINS: dict[int, str] = {
    1: "solana",
    2: "ethereum",
    4: "bsc",
    5: "polygon",
    6: "avalanche",
    10: "fantom",
    14: "celo",
    16: "moonbeam",
    21: "sui",
    22: "aptos",
    23: "arbitrum",
    24: "optimism",
    30: "base",
}

#: Core contracts (wormhole-sdk-ts ``coreBridgeContracts``, Mainnet).
CORE: dict[str, str] = {
    "ethereum": "0x98f3c9e6e3face36baad05fe09d375ef1464288b",
    "bsc": "0x98f3c9e6e3face36baad05fe09d375ef1464288b",
    "polygon": "0x7a4b5a56256163f07b2c80a7ca55abe66c4ec4d7",
    "avalanche": "0x54a8e5f9c4cba08f9943965859f6c34eaf03e26c",
}
#: Token Bridge contracts (addresses/entities/bridges.yaml: "Wormhole: Portal Token Bridge").
#: Other chains' token bridges: give them to the decoder (``token_bridges``) or --bridges.
TOKEN_BRIDGES: dict[str, str] = {
    "ethereum": "0x3ee18b2214aff97000d974cf647e7c347e8fa585",
}

NORMALIZED_DECIMALS = 8


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    """A Token Bridge payload (type 1 or 3)."""

    payload_id: int
    amount: int  # normalised to at most 8 decimals
    token_address: str  # bytes32 hex
    token_chain: int
    to: str  # bytes32 hex
    to_chain: int
    fee: int = 0  # type 1 relayer fee (normalised units); 0 for type 3
    from_address: str | None = None  # type 3 sender (bytes32 hex)

    def memo(self) -> str:
        """A compact, parseable record kept on the deposit (what the VAA says)."""
        return (
            f"wormhole-transfer:{self.payload_id}:{self.amount}:{self.token_chain}:"
            f"{self.token_address}:{self.to_chain}:{self.to}:{self.fee}"
        )

    @classmethod
    def from_memo(cls, text: str) -> TokenTransfer:
        parts = text.split(":")
        if len(parts) != 8 or parts[0] != "wormhole-transfer":
            raise ValueError("not a Wormhole transfer memo")
        return cls(
            int(parts[1]),
            int(parts[2]),
            parts[4],
            int(parts[3]),
            parts[6],
            int(parts[5]),
            int(parts[7]),
        )


def parse_transfer_payload(payload: bytes) -> TokenTransfer:
    """Token Bridge payload 1 (Transfer) or 3 (TransferWithPayload); ValueError otherwise."""
    if not payload or payload[0] not in (1, 3):
        raise ValueError(f"not a token transfer payload (id {payload[0] if payload else None})")
    if len(payload) < 133 or (payload[0] == 1 and len(payload) != 133):
        raise ValueError(f"token transfer payload of {len(payload)} bytes")
    pid = payload[0]
    return TokenTransfer(
        pid,
        int.from_bytes(payload[1:33], "big"),
        "0x" + payload[33:65].hex(),
        int.from_bytes(payload[65:67], "big"),
        "0x" + payload[67:99].hex(),
        int.from_bytes(payload[99:101], "big"),
        int.from_bytes(payload[101:133], "big") if pid == 1 else 0,
        "0x" + payload[101:133].hex() if pid == 3 else None,
    )


def vaa_id(emitter_chain: int, emitter: str, sequence: int) -> str:
    """``chain/emitter(64 hex)/sequence``, the key both sides share."""
    return f"wormhole:{emitter_chain}/{emitter[2:].lower()}/{sequence}"


def _evm(chain: str | None, b32: str) -> str | None:
    if not chain:
        return None
    try:
        return canonical_address(chain, word_address(b32))
    except ValueError:
        return None


@dataclass
class WormholeDecoder(BaseDecoder):
    """Token Bridge (VAA id) and NTT (digest) decoder."""

    name: str = NAME
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Core contracts and Token Bridges by chain (defaults below). Every registered contract is
    #: trusted both as a Core (whose LogMessagePublished is read) and as an emitter / redeemer.
    cores: dict[str, str] = field(default_factory=lambda: dict(CORE))
    token_bridges: dict[str, str] = field(default_factory=lambda: dict(TOKEN_BRIDGES))
    #: NttManager contracts by chain -> the token each one moves (canonical address).
    ntt_managers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Wrapped-token addresses: (dest chain, origin wormhole chain, origin token bytes32) -> token.
    wrapped: dict[tuple[str, int, str], str] = field(default_factory=dict)
    chains: dict[int, str] = field(default_factory=lambda: dict(WORMHOLE_CHAINS))
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for mapping in (self.cores, self.token_bridges):
            for chain, address in list(mapping.items()):
                mapping[chain] = canonical_address(chain, address)
                self.add_contract(chain, address)
        for chain, managers in list(self.ntt_managers.items()):
            self.ntt_managers[chain] = {
                canonical_address(chain, m): canonical_address(chain, token)
                for m, token in managers.items()
            }
            for manager in self.ntt_managers[chain]:
                self.add_contract(chain, manager)

    def wormhole_id(self, chain: str) -> int | None:
        return next((i for i, c in sorted(self.chains.items()) if c == chain), None)

    def _skip(self, log: RawLog, reason: str) -> None:
        self.skipped.append((f"{log.chain}:{log.tx_hash}:{log.log_index}", reason))

    # ---------------------------------------------------------------- deposits

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        if log.topic0 == LOG_MESSAGE_PUBLISHED:
            return self._token_bridge_deposit(log)
        if log.topic0 == NTT_TRANSFER_SENT:
            return self._ntt_deposit(log)
        return None

    def _token_bridge_deposit(self, log: RawLog) -> BridgeDeposit | None:
        if not self.knows(log.chain, log.address):
            return None  # anyone can emit this event; only registered Core contracts count
        try:
            if len(log.topics) != 2:
                raise ValueError("LogMessagePublished needs 2 topics")
            emitter = canonical_address(log.chain, word_address(log.topics[1]))
        except ValueError as e:
            self._skip(log, f"malformed Wormhole LogMessagePublished: {e}")
            return None
        if not self.knows(log.chain, emitter) or emitter in self.ntt_managers.get(log.chain, {}):
            return None  # a message of another application, not a token transfer
        source_id = self.wormhole_id(log.chain)
        try:
            if source_id is None:
                raise ValueError(f"no Wormhole chain id for {log.chain!r}")
            w = words(log.data)
            if len(w) < 5:
                raise ValueError("data too short")
            sequence = word_uint(w[0])
            transfer = parse_transfer_payload(abi_bytes(log.data, 2))
            sender = canonical_address(log.chain, log.tx_from) if log.tx_from else ""
        except ValueError as e:
            self._skip(log, f"malformed Wormhole token transfer: {e}")
            return None
        asset, amount = self._source_asset(log.chain, source_id, transfer)
        dest_chain = self.chains.get(transfer.to_chain)
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=asset,
            amount=amount,
            dest_chain=dest_chain,
            recipient=_evm(dest_chain, transfer.to),
            link_key=vaa_id(source_id, word_hex(log.topics[1]), sequence),
            memo=transfer.memo(),
        )

    def _token(self, chain: str, chain_id: int, t: TokenTransfer) -> tuple[str, int | None]:
        """(asset on ``chain``, its decimals or None) for the transfer's token."""
        from tracer.chains import asset_info

        if t.token_chain == chain_id:
            address = _evm(chain, t.token_address)
            if address is not None:
                info = asset_info(chain, address)
                return address, (info.decimals if info else None)
        wrapped = self.wrapped.get((chain, t.token_chain, t.token_address))
        if wrapped is not None:
            return wrapped, None
        return f"wormhole:{t.token_chain}:{t.token_address}", None

    def _source_asset(self, chain: str, chain_id: int, t: TokenTransfer) -> tuple[str, int]:
        """Deposit asset and amount in its base units (denormalised when decimals are known)."""
        asset, decimals = self._token(chain, chain_id, t)
        if decimals is not None and decimals > NORMALIZED_DECIMALS:
            return asset, t.amount * 10 ** (decimals - NORMALIZED_DECIMALS)
        return asset, t.amount

    def _ntt_deposit(self, log: RawLog) -> BridgeDeposit | None:
        managers = self.ntt_managers.get(log.chain, {})
        if log.address not in managers:
            return None
        try:
            if len(log.topics) != 4:
                raise ValueError("TransferSent needs 4 topics")
            w = words(log.data)
            if len(w) != 2:
                raise ValueError("TransferSent needs 2 data words")
            digest = word_hex(log.topics[1])
            dest = word_uint(log.topics[2])
            sender = canonical_address(log.chain, word_address(log.topics[3]))
        except ValueError as e:
            self._skip(log, f"malformed NTT TransferSent: {e}")
            return None
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=managers[log.address],
            amount=word_uint(w[0]),
            dest_chain=self.chains.get(dest),
            recipient=None,
            link_key=f"ntt:{digest}",
            memo=None,
        )

    # ---------------------------------------------------------------- releases

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        if log.topic0 == TRANSFER_REDEEMED:
            if not self.knows(log.chain, log.address):
                return None
            try:
                if len(log.topics) != 4:
                    raise ValueError("TransferRedeemed needs 4 topics")
                chain_id = word_uint(log.topics[1])
                sequence = word_uint(log.topics[3])
                if chain_id >= 2**16 or sequence >= 2**64:
                    raise ValueError("emitter chain or sequence out of range")
                key = vaa_id(chain_id, word_hex(log.topics[2]), sequence)
            except ValueError as e:
                self._skip(log, f"malformed Wormhole TransferRedeemed: {e}")
                return None
            src = self.chains.get(chain_id)
        elif log.topic0 == NTT_TRANSFER_REDEEMED:
            managers = self.ntt_managers.get(log.chain, {})
            if log.address not in managers:
                return None
            try:
                if len(log.topics) != 2:
                    raise ValueError("TransferRedeemed (NTT) needs 2 topics")
                key = f"ntt:{word_hex(log.topics[1])}"
            except ValueError as e:
                self._skip(log, f"malformed NTT TransferRedeemed: {e}")
                return None
            src = None
        else:
            return None
        # recipient, asset and amount are not in the event: completed in link()
        return BridgeRelease.at(
            NAME, log, recipient="", asset="", amount=0, src_chain=src, link_key=key
        )

    # ---------------------------------------------------------------- linking

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        """Exact by VAA id / NTT digest; releases completed from the source payload."""
        out = []
        for link in link_by_key(deposits, releases):
            d = link.deposit
            releases_done, evidence = [], []
            if d.link_key and d.link_key.startswith("ntt:"):
                evidence.append(f"NTT message digest {d.link_key[4:]} on both chains")
                for r in link.releases:
                    releases_done.append(replace(r, asset=d.asset, amount=d.amount))
                evidence.append("NTT events name no recipient: read it from the redeem transaction")
            else:
                evidence.append(
                    f"Wormhole VAA {d.link_key[9:]} redeemed on {link.releases[0].chain}"
                )  # type: ignore[index]
                try:
                    t = TokenTransfer.from_memo(d.memo or "")
                except ValueError:
                    self.skipped.append((d.key, "deposit lacks its VAA payload; not completed"))
                    continue
                for r in link.releases:
                    dest_id = self.wormhole_id(r.chain)
                    asset, decimals = self._token(
                        r.chain, dest_id if dest_id is not None else -1, t
                    )
                    amount = t.amount - t.fee
                    if decimals is not None and decimals > NORMALIZED_DECIMALS:
                        amount *= 10 ** (decimals - NORMALIZED_DECIMALS)
                    releases_done.append(
                        replace(r, recipient=d.recipient or "", asset=asset, amount=amount)
                    )
                evidence.append(
                    "recipient and amount from the VAA payload (destination Transfer not read)"
                )
                if t.fee:
                    evidence.append(f"relayer fee {t.fee} (8-decimal units) paid out of the amount")
                if any(r.asset.startswith("wormhole:") for r in releases_done):
                    evidence.append("wrapped token address unknown: give it in `wrapped`")
            rel = tuple(releases_done)
            out.append(BridgeLink(d, rel, "exact", 1.0, tuple(evidence), fee_of(d, rel)))
        return out


def decoders() -> list[WormholeDecoder]:
    return [WormholeDecoder()]


__all__ = [
    "CORE",
    "LOG_MESSAGE_PUBLISHED",
    "NTT_TRANSFER_REDEEMED",
    "NTT_TRANSFER_SENT",
    "TOKEN_BRIDGES",
    "TRANSFER_REDEEMED",
    "WORMHOLE_CHAINS",
    "TokenTransfer",
    "WormholeDecoder",
    "decoders",
    "parse_transfer_payload",
    "vaa_id",
]
