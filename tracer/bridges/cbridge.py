"""Celer cBridge (liquidity-pool bridge): ``Send`` on the source chain -> ``Relay`` on the
destination, linked exactly by the transfer id (API_NOTES 6.1, sgn-v2-contracts Bridge.sol).

``Send(bytes32 transferId, address sender, address receiver, address token, uint256 amount,
uint64 dstChainId, uint64 nonce, uint32 maxSlippage)`` and ``Relay(bytes32 transferId, address
sender, address receiver, address token, uint256 amount, uint64 srcChainId, bytes32
srcTransferId)`` index nothing: every field is a data word. The link is
``Relay.srcTransferId == Send.transferId``; the Relay amount is after fees and slippage, so it
is never used to link. The source transfer id is
``keccak256(abi.encodePacked(sender, receiver, token, amount, dstChainId, nonce, chainId))``:
a Send whose id does not recompute is still decoded but says so in the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.bridges.base import (
    BaseDecoder,
    BridgeDeposit,
    BridgeLink,
    BridgeRelease,
    RawLog,
    chain_for_id,
    chain_id_of,
    evm_address_on,
    link_by_key,
    word_address,
    word_hex,
    word_uint,
    words,
)

SEND_TOPIC = "0x89d8051e597ab4178a863a5190407b98abfeff406aa8db90c59af76612e58f01"
RELAY_TOPIC = "0x79fa08de5149d912dce8e5e8da7a7c17ccdf23dd5d3bfe196802e6eb86347c7c"

#: Bridge contracts confirmed in public code (API_NOTES 6.1).
MAINNET = {
    "ethereum": frozenset({"0x5427fefa711eff984124bfbb1ab6fbf5e3da1820"}),
    "bsc": frozenset({"0xdd90e5e87a2081dcf0391920868ebc2ffb81a1af"}),
}


def transfer_id(
    sender: str,
    receiver: str,
    token: str,
    amount: int,
    dst_chain_id: int,
    nonce: int,
    chain_id: int,
) -> str:
    """The Send transfer id as Bridge.sol computes it (addresses as 20-byte ``0x`` hex)."""
    from eth_hash.auto import keccak

    packed = (
        bytes.fromhex(sender[2:])
        + bytes.fromhex(receiver[2:])
        + bytes.fromhex(token[2:])
        + amount.to_bytes(32, "big")
        + dst_chain_id.to_bytes(8, "big")
        + nonce.to_bytes(8, "big")
        + chain_id.to_bytes(8, "big")
    )
    return "0x" + keccak(packed).hex()


@dataclass
class CBridge(BaseDecoder):
    """Exact decoder for cBridge ``Send``/``Relay`` events."""

    name: str = "cbridge"
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=lambda: dict(MAINNET))
    #: Sends whose transfer id recomputes from their fields (deposit key -> bool).
    verified: dict[str, bool] = field(default_factory=dict, repr=False)

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        if log.topic0 != SEND_TOPIC or not self.knows(log.chain, log.address):
            return None
        try:
            w = words(log.data)
            if len(w) != 8:
                return None
            tid = word_hex(w[0])
            sender_hex, receiver_hex, token_hex = (word_address(x) for x in w[1:4])
            amount, dst_id, nonce = word_uint(w[4]), word_uint(w[5]), word_uint(w[6])
            dst_id_ok = dst_id < 2**64 and nonce < 2**64
            sender = evm_address_on(log.chain, sender_hex)
            token = evm_address_on(log.chain, token_hex)
        except ValueError:
            return None
        if not dst_id_ok:
            return None
        dest = chain_for_id(dst_id)
        recipient = None
        if dest is not None:
            try:
                recipient = evm_address_on(dest, receiver_hex)
            except ValueError:
                recipient = None
        own_id = chain_id_of(log.chain)
        deposit = BridgeDeposit.at(
            self.name,
            log,
            sender=sender,
            asset=token,
            amount=amount,
            dest_chain=dest,
            recipient=recipient,
            link_key=tid,
            memo=f"dstChainId={dst_id} nonce={nonce}",
        )
        if own_id is not None:
            expected = transfer_id(
                sender_hex, receiver_hex, token_hex, amount, dst_id, nonce, own_id
            )
            self.verified[deposit.key] = expected == tid
        return deposit

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        if log.topic0 != RELAY_TOPIC or not self.knows(log.chain, log.address):
            return None
        try:
            w = words(log.data)
            if len(w) != 7:
                return None
            receiver = evm_address_on(log.chain, word_address(w[2]))
            token = evm_address_on(log.chain, word_address(w[3]))
            amount, src_id = word_uint(w[4]), word_uint(w[5])
            src_tid = word_hex(w[6])
        except ValueError:
            return None
        if src_id >= 2**64:
            return None
        return BridgeRelease.at(
            self.name,
            log,
            recipient=receiver,
            asset=token,
            amount=amount,
            src_chain=chain_for_id(src_id),
            link_key=src_tid,
            kind="out",
        )

    def link(self, deposits, releases) -> list[BridgeLink]:
        links = []
        for link in link_by_key(deposits, releases):
            ok = self.verified.get(link.deposit.key)
            note = {
                True: "Send transferId recomputes from its fields",
                False: "Send transferId does NOT recompute from its fields",
                None: "Send transferId not checked (source chain id unknown)",
            }[ok]
            links.append(
                BridgeLink(
                    link.deposit,
                    link.releases,
                    link.linkage,
                    link.confidence,
                    (*link.evidence, "Relay.srcTransferId == Send.transferId", note),
                    link.fee,
                )
            )
        return links


def decoders() -> list[CBridge]:
    return [CBridge()]


__all__ = ["CBridge", "RELAY_TOPIC", "SEND_TOPIC", "decoders", "transfer_id"]
