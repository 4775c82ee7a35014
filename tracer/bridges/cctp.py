"""Circle CCTP (USDC burn on one chain, mint on another).

**v1 — exact.** The source ``TokenMessenger`` emits ``DepositForBurn(uint64 indexed nonce,
address indexed burnToken, uint256 amount, address indexed depositor, bytes32 mintRecipient,
uint32 destinationDomain, ...)`` and the ``MessageTransmitter`` emits ``MessageSent(bytes
message)``; the destination ``MessageTransmitter`` emits ``MessageReceived(address indexed
caller, uint32 sourceDomain, uint64 indexed nonce, bytes32 sender, bytes messageBody)``. The key
is ``(sourceDomain, nonce)``: the source domain comes from the chain's domain id (or from the
``MessageSent`` message itself, :meth:`CctpDecoder.deposit_from_message_sent`), the release's
recipient and amount from the burn message body it carries.

**v2 — inferred.** The source message carries an empty nonce; Circle's attestation service
assigns it off chain, so a v2 deposit cannot be matched on an on-chain id. It is matched on
(source domain, depositor = the body's ``messageSender``, mint recipient, burn token, gross
amount) within a time window after the deposit; a unique match is reported ``inferred`` with
confidence 0.9, several candidates are ambiguous and left unlinked (never a guess).

Domain ids: :data:`DOMAINS` (Circle's list; more can be passed to the decoder).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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

NAME = "cctp"

DEPOSIT_FOR_BURN_V1 = "0x2fa9ca894982930190727e75500a97d8dc500233a5065e0f3126c48fbe0343c0"
MESSAGE_SENT = "0x8c5261668696ce22758910d05bab8f186d6eb247ceac2af2e82c7dc17669b036"
MESSAGE_RECEIVED_V1 = "0x58200b4c34ae05ee816d710053fff3fb75af4395915d3d2a771b24aa10e3cc5d"
MINT_AND_WITHDRAW_V1 = "0x1b2a7ff080b8cb6ff436ce0372e399692bbfb6d4ae5766fd8d58a7b8cc6142e6"
DEPOSIT_FOR_BURN_V2 = "0x0c8c1cbdc5190613ebd485511d4e2812cfa45eecb79d845893331fedad5130a5"
MESSAGE_RECEIVED_V2 = "0xff48c13eda96b1cceacc6b9edeedc9e9db9d6226afbc30146b720c19d3addb1c"
MINT_AND_WITHDRAW_V2 = "0x50c55e915134d457debfa58eb6f4342956f8b0616d51a89a3659360178e1ab63"

#: CCTP domain ids -> tracer chain names (Circle: "supported chains and domains").
DOMAINS: dict[int, str] = {
    0: "ethereum",
    1: "avalanche",
    2: "optimism",
    3: "arbitrum",
    4: "noble",
    5: "solana",
    6: "base",
    7: "polygon",
}

#: Mainnet contracts (developers.circle.com/cctp contract addresses; the same values in
#: wormhole-sdk-ts constants/contracts/circle.ts). v1 per chain; v2 is one CREATE2 address on
#: every EVM chain. TokenMinter is where USDC is pulled before the burn.
V1_CONTRACTS: dict[str, dict[str, str]] = {
    "ethereum": {
        "messenger": "0xbd3fa81b58ba92a82136038b25adec7066af3155",
        "transmitter": "0x0a992d191deec32afe36203ad87d7d289a738f81",
        "minter": "0xc4922d64a24675e16e1586e3e3aa56c06fabe907",
    },
    "avalanche": {
        "messenger": "0x6b25532e1060ce10cc3b0a99e5683b91bfde6982",
        "transmitter": "0x8186359af5f57fbb40c6b14a588d2a59c0c29880",
        "minter": "0x420f5035fd5dc62a167e7e7f08b604335ae272b8",
    },
    "optimism": {
        "messenger": "0x2b4069517957735be00cee0fadae88a26365528f",
        "transmitter": "0x4d41f22c5a0e5c74090899e5a8fb597a8842b3e8",
        "minter": "0x33e76c5c31cb928dc6fe6487ab3b2c0769b1a1e3",
    },
    "arbitrum": {
        "messenger": "0x19330d10d9cc8751218eaf51e8885d058642e08a",
        "transmitter": "0xc30362313fbba5cf9163f0bb16a0e01f01a896ca",
        "minter": "0xe7ed1fa7f45d05c508232aa32649d89b73b8ba48",
    },
    "base": {
        "messenger": "0x1682ae6375c4e4a97e4b583bc394c861a46d8962",
        "transmitter": "0xad09780d193884d503182ad4588450c416d6f9d4",
        "minter": "0xe45b133ddc64be80252b0e9c75a8e74ef280eed6",
    },
}
V2_MESSENGER = "0x28b5a0e9c621a5badaa536219b3a228c8168cf5d"
V2_TRANSMITTER = "0x81d40f21f12a8f0e3252bccb954d722d4c464b64"

#: Native USDC per chain (addresses/entities/stablecoins.yaml, source: Circle).
USDC: dict[str, str] = {
    "ethereum": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
    "avalanche": "0xb97ef9ef8734c71904d8002f8b6bc66dd9c48a6e",
    "arbitrum": "0xaf88d065e77c8cc2239327c5edb3a432268e5831",
    "base": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
    "optimism": "0x0b2c639c533813f4aa9d7837caf62653d097ff85",
    "polygon": "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
}

V2_WINDOW = 6 * 3600  # seconds after the burn in which a v2 mint is looked for
V2_CONFIDENCE = 0.9
V1_BODY = 132  # burn message body length (v1)
V2_BODY = 228  # burn message body length without hook data (v2)


# ------------------------------------------------------------------------------------------
# message parsing


@dataclass(frozen=True, slots=True)
class BurnMessage:
    """The fields of a CCTP message and its burn body that tracing uses."""

    version: int  # 0 = v1 message, 1 = v2 message
    source_domain: int
    destination_domain: int
    nonce: str  # v1: decimal; v2: 0x + 64 hex (all zero on the source chain)
    sender: str  # bytes32 hex (the source TokenMessenger)
    recipient: str  # bytes32 hex (the destination TokenMessenger)
    burn_token: str  # bytes32 hex
    mint_recipient: str  # bytes32 hex
    amount: int
    message_sender: str  # bytes32 hex (the depositor)
    max_fee: int = 0
    fee_executed: int = 0


def _u32(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 4], "big")


def _b32(b: bytes, at: int) -> str:
    return "0x" + b[at : at + 32].hex()


def parse_body(body: bytes, v2: bool) -> dict:
    """A burn message body (BurnMessage v1 or BurnMessageV2); ValueError if it is not one."""
    need = V2_BODY if v2 else V1_BODY
    if len(body) < need or (not v2 and len(body) != V1_BODY):
        raise ValueError(f"not a burn message body ({len(body)} bytes)")
    out = {
        "burn_token": _b32(body, 4),
        "mint_recipient": _b32(body, 36),
        "amount": int.from_bytes(body[68:100], "big"),
        "message_sender": _b32(body, 100),
    }
    if v2:
        out["max_fee"] = int.from_bytes(body[132:164], "big")
        out["fee_executed"] = int.from_bytes(body[164:196], "big")
    return out


def parse_message(message: bytes) -> BurnMessage:
    """A ``MessageSent`` message (v1 or v2 layout) with a burn body; ValueError otherwise."""
    if len(message) < 116:
        raise ValueError("CCTP message too short")
    version = _u32(message, 0)
    if version == 0:
        nonce = str(int.from_bytes(message[12:20], "big"))
        sender, recipient, body = _b32(message, 20), _b32(message, 52), message[116:]
    elif version == 1:
        if len(message) < 148:
            raise ValueError("CCTP v2 message too short")
        nonce = _b32(message, 12)
        sender, recipient, body = _b32(message, 44), _b32(message, 76), message[148:]
    else:
        raise ValueError(f"unknown CCTP message version {version}")
    fields = parse_body(body, version == 1)
    return BurnMessage(
        version, _u32(message, 4), _u32(message, 8), nonce, sender, recipient, **fields
    )


def _address_on(chain: str | None, b32: str) -> str | None:
    """A bytes32 address as a canonical address on an EVM/Tron ``chain``, else None."""
    if not chain:
        return None
    try:
        return canonical_address(chain, word_address(b32))
    except ValueError:
        return None


def v1_key(source_domain: int, nonce: int | str) -> str:
    return f"cctp1:{source_domain}:{nonce}"


def v2_key(source_domain: int, depositor: str, token: str, recipient: str, amount: int) -> str:
    """The fields a v2 deposit and its mint share (all bytes32 hex, lower case)."""
    return f"cctp2~{source_domain}:{depositor}:{token}:{recipient}:{amount}"


def _pad(address: str) -> str:
    return "0x" + "00" * 12 + address.lower()[2:]


# ------------------------------------------------------------------------------------------
# decoder


@dataclass
class CctpDecoder(BaseDecoder):
    """CCTP v1 (exact) and v2 (inferred) decoder."""

    name: str = NAME
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)
    domains: dict[int, str] = field(default_factory=lambda: dict(DOMAINS))
    window: int = V2_WINDOW
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.contracts:
            for chain, roles in V1_CONTRACTS.items():
                for address in roles.values():
                    self.add_contract(chain, address)
            for chain in sorted({*V1_CONTRACTS, "polygon"}):  # v2: one address everywhere
                self.add_contract(chain, V2_MESSENGER)
                self.add_contract(chain, V2_TRANSMITTER)

    def domain_of(self, chain: str) -> int | None:
        return next((d for d, c in sorted(self.domains.items()) if c == chain), None)

    def _skip(self, log: RawLog, reason: str) -> None:
        self.skipped.append((f"{log.chain}:{log.tx_hash}:{log.log_index}", reason))

    # ---------------------------------------------------------------- deposits

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        if log.topic0 not in (DEPOSIT_FOR_BURN_V1, DEPOSIT_FOR_BURN_V2):
            return None
        if not self.knows(log.chain, log.address):
            return None
        source = self.domain_of(log.chain)
        if source is None:
            self._skip(log, f"no CCTP domain id for chain {log.chain!r}")
            return None
        try:
            w = words(log.data)
            if log.topic0 == DEPOSIT_FOR_BURN_V1:
                if len(log.topics) != 4 or len(w) != 5:
                    raise ValueError("DepositForBurn (v1) needs 4 topics and 5 data words")
                nonce = word_uint(log.topics[1])
                token = word_address(log.topics[2])
                depositor = word_address(log.topics[3])
                amount, recipient32, dest = word_uint(w[0]), word_hex(w[1]), word_uint(w[2])
                key = v1_key(source, nonce)
            else:
                if len(log.topics) != 4 or len(w) < 8:
                    raise ValueError("DepositForBurn (v2) needs 4 topics and 7 data words")
                token = word_address(log.topics[1])
                depositor = word_address(log.topics[2])
                amount, recipient32, dest = word_uint(w[0]), word_hex(w[1]), word_uint(w[2])
                key = v2_key(source, _pad(depositor), _pad(token), recipient32, amount)
            asset = canonical_address(log.chain, token)
            sender = canonical_address(log.chain, depositor)
        except ValueError as e:
            self._skip(log, f"malformed CCTP DepositForBurn: {e}")
            return None
        dest_chain = self.domains.get(dest)
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=asset,
            amount=amount,
            dest_chain=dest_chain,
            recipient=_address_on(dest_chain, recipient32),
            link_key=key,
            memo=None,
        )

    def deposit_from_message_sent(self, log: RawLog) -> BridgeDeposit | None:
        """A deposit read from the source ``MessageSent`` message instead of ``DepositForBurn``
        (source domain and v1 nonce from the message itself). Use one or the other per burn."""
        if log.topic0 != MESSAGE_SENT or not self.knows(log.chain, log.address):
            return None
        try:
            m = parse_message(abi_bytes(log.data, 0))
            token = canonical_address(log.chain, word_address(m.burn_token))
            sender = canonical_address(log.chain, word_address(m.message_sender))
        except ValueError as e:
            self._skip(log, f"malformed CCTP MessageSent: {e}")
            return None
        if m.version == 0:
            key = v1_key(m.source_domain, m.nonce)
        else:
            key = v2_key(
                m.source_domain, m.message_sender, m.burn_token, m.mint_recipient, m.amount
            )
        dest_chain = self.domains.get(m.destination_domain)
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=token,
            amount=m.amount,
            dest_chain=dest_chain,
            recipient=_address_on(dest_chain, m.mint_recipient),
            link_key=key,
            memo=None,
        )

    # ---------------------------------------------------------------- releases

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        if log.topic0 not in (MESSAGE_RECEIVED_V1, MESSAGE_RECEIVED_V2):
            return None
        if not self.knows(log.chain, log.address):
            return None
        v2 = log.topic0 == MESSAGE_RECEIVED_V2
        try:
            w = words(log.data)
            if len(log.topics) != (4 if v2 else 3) or len(w) < 4:
                raise ValueError("MessageReceived has the wrong number of topics or words")
            source = word_uint(w[0])
            if source >= 2**32:
                raise ValueError("source domain out of range")
            body = parse_body(abi_bytes(log.data, 2), v2)
            recipient = canonical_address(log.chain, word_address(body["mint_recipient"]))
            nonce = word_uint(log.topics[2]) if not v2 else None
        except ValueError as e:
            self._skip(log, f"CCTP MessageReceived without a burn message: {e}")
            return None
        asset = USDC.get(log.chain)
        if asset is None:
            self._skip(log, f"no USDC contract known on {log.chain}")
            return None
        if v2:
            key = v2_key(
                source,
                body["message_sender"],
                body["burn_token"],
                body["mint_recipient"],
                body["amount"],
            )
            amount = body["amount"] - body["fee_executed"]
        else:
            key = v1_key(source, nonce)  # type: ignore[arg-type]
            amount = body["amount"]
        return BridgeRelease.at(
            NAME,
            log,
            recipient=recipient,
            asset=asset,
            amount=amount,
            src_chain=self.domains.get(source),
            link_key=key,
            kind="out",
        )

    # ---------------------------------------------------------------- linking

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        """v1 by (sourceDomain, nonce), exactly; v2 by the shared fields in a time window."""
        deposits, releases = list(deposits), list(releases)
        v1d = [d for d in deposits if d.link_key and d.link_key.startswith("cctp1:")]
        v1r = [r for r in releases if r.link_key and r.link_key.startswith("cctp1:")]
        links = link_by_key(v1d, v1r)
        links = [
            BridgeLink(
                link.deposit,
                link.releases,
                "exact",
                1.0,
                (
                    f"CCTP v1 (sourceDomain, nonce) = ({link.deposit.link_key[6:].replace(':', ', ')})",
                )
                + link.evidence[1:],
                link.fee,
            )
            for link in links
        ]
        links.extend(self._link_v2(deposits, releases))
        return sorted(links, key=lambda link: link.deposit.key)

    def _link_v2(
        self, deposits: list[BridgeDeposit], releases: list[BridgeRelease]
    ) -> list[BridgeLink]:
        by_key: dict[str, list[BridgeRelease]] = defaultdict(list)
        for r in releases:
            if r.link_key and r.link_key.startswith("cctp2~"):
                by_key[r.link_key].append(r)
        v2 = [d for d in deposits if d.link_key and d.link_key.startswith("cctp2~")]
        out = []
        for d in sorted(v2, key=lambda d: d.key):
            window = [
                r
                for r in by_key.get(d.link_key, ())  # type: ignore[arg-type]
                if d.time <= r.time <= d.time + self.window
                and (d.dest_chain is None or r.chain == d.dest_chain)
            ]
            twins = [
                o
                for o in v2
                if o is not d and o.link_key == d.link_key and abs(o.time - d.time) <= self.window
            ]
            if not window:
                continue
            if len(window) > 1 or twins:
                self.skipped.append(
                    (
                        d.key,
                        f"CCTP v2: {len(window)} mints and {len(twins)} other burns share "
                        "depositor, recipient, token and amount in the window; ambiguous",
                    )
                )
                continue
            r = window[0]
            evidence = (
                "CCTP v2: same source domain, depositor, mint recipient, burn token and amount",
                f"minted {r.time - d.time} s after the burn (window {self.window} s)",
                "v2 nonces are assigned off chain (no on-chain id to match)",
            )
            out.append(BridgeLink(d, (r,), "inferred", V2_CONFIDENCE, evidence, fee_of(d, [r])))
        return out


def decoders() -> list[CctpDecoder]:
    return [CctpDecoder()]


__all__ = [
    "DEPOSIT_FOR_BURN_V1",
    "DEPOSIT_FOR_BURN_V2",
    "DOMAINS",
    "MESSAGE_RECEIVED_V1",
    "MESSAGE_RECEIVED_V2",
    "MESSAGE_SENT",
    "USDC",
    "V1_CONTRACTS",
    "V2_MESSENGER",
    "V2_TRANSMITTER",
    "BurnMessage",
    "CctpDecoder",
    "decoders",
    "parse_body",
    "parse_message",
    "v1_key",
    "v2_key",
]
