"""Avalanche Bridge (Ethereum / Bitcoin <-> Avalanche C-Chain), as far as its public layouts go.

What is exact and what is not:

* **Ethereum -> Avalanche: exact.** A deposit is a plain ERC-20 transfer to the bridge's
  Ethereum address (an enclave-held account, no event). On Avalanche the bridged token
  (``WETH.e``, ``USDC.e``, ... ``BridgeToken`` contracts) emits ``Mint(address to, uint256
  amount, address feeAddress, uint256 feeAmount, bytes32 originTxId)``; ``originTxId`` is the
  Ethereum deposit's transaction hash. One deposit per transaction is assumed (two transfers to
  the bridge in one transaction are ambiguous and left unlinked). The fee is minted separately
  to ``feeAddress``: the recipient's mint is the release, ``deposit - release`` the fee.
* **Bitcoin -> Avalanche (BTC.b): exact.** ``Mint(..., bytes32 originTxId, uint256
  originOutputIndex)`` names the Bitcoin deposit output. Which byte order ``originTxId`` uses
  is not documented, so both the txid and its byte-reversed form are accepted (either is unique).
  The bridge's Bitcoin deposit addresses rotate and are not published in a list: give them
  (``--bridges`` with chain ``bitcoin``) to recognise deposits.
* **Avalanche -> Ethereum: inferred.** ``Unwrap(uint256 amount, uint256 chainId)`` burns the
  token; the bridge later pays from its Ethereum address with a plain transfer carrying no
  reference. Matched on the recipient (the bridge pays the address that unwrapped), the amount
  (paid <= burned, the gap being the bridge fee), the token pair when known
  (:data:`TOKEN_PAIRS`) and time (10 minutes strongly preferred, at most a day); two equally
  good candidates are ambiguous and left unlinked. Confidence 0.8 with a known token pair inside
  10 minutes, 0.7 inside 12 hours, 0.65 when the pair is unknown (10 minutes only).
* **Avalanche -> Bitcoin (BTC.b unwrap): not linkable** from public data (the Bitcoin payout
  names no reference and goes to an address derived off chain); it stays a bridge stop.
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
    canonical_address,
    fee_of,
    word_address,
    word_hex,
    word_uint,
    words,
)
from tracer.records import Transfer

NAME = "avalanche-bridge"

MINT = "0x918d77674bb88eaf75afb307c9723ea6037706de68d6fc07dd0c6cba423a5250"
MINT_BTC = "0xc5532043e6f3d77e1c320ff59bd4157ca9075ef59f6b55ceab6c3f7d2f78c9ca"
UNWRAP = "0x37a06799a3500428a773d00284aa706101f5ad94dae9ec37e1c3773aa54c3304"

#: Bridge addresses: Ethereum side from addresses/entities/bridges.yaml ("Avalanche: Bridge",
#: "Avalanche: Old Bridge"); BTC.b on Avalanche from tracer/evm_chains.py. Other BridgeToken
#: contracts (WETH.e, USDC.e, ...) are configuration (``bridge_tokens`` or --bridges).
ETHEREUM_BRIDGE = (
    "0x8eb8a3b98659cce290402893d0123abb75e3ab28",
    "0xe78388b4ce79068e89bf8aa7f218ef6b9ab0e9d0",
)
BTC_B = "0x152b9d0fdc40c096757f570a51e494bd4b943e50"

#: ``Unwrap.chainId`` -> destination chain.
UNWRAP_CHAINS = {0: "bitcoin", 1: "ethereum"}
#: Avalanche BridgeToken -> its Ethereum original, when known (extend via ``token_pairs``).
TOKEN_PAIRS: dict[str, str] = {}

STRONG_WINDOW = 600
WIDE_WINDOW = 12 * 3600
MAX_DELAY = 24 * 3600


@dataclass
class AvalancheBridgeDecoder(BaseDecoder):
    """Avalanche Bridge decoder (see the module docstring for what is exact)."""

    name: str = NAME
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)
    token_pairs: dict[str, str] = field(default_factory=lambda: dict(TOKEN_PAIRS))
    window: int = MAX_DELAY  # how long after a deposit its release is looked for (seconds)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.contracts:
            for a in ETHEREUM_BRIDGE:
                self.add_contract("ethereum", a)
            self.add_contract("avalanche", BTC_B)

    def _skip(self, key: str, reason: str) -> None:
        self.skipped.append((key, reason))

    # ---------------------------------------------------------------- source side

    def deposit_from_transfer(self, t: Transfer) -> BridgeDeposit | None:
        """An ERC-20 transfer to the Ethereum bridge address, or a Bitcoin payment to a given
        bridge deposit address."""
        if not self.knows(t.chain, t.to_address):
            return None
        if t.chain == "bitcoin":
            key = f"avb:0x{t.tx_hash.lower().removeprefix('0x')}:{t.log_index}"
            return BridgeDeposit.paid_by(NAME, t, dest_chain="avalanche", link_key=key)
        if t.chain != "ethereum":
            return None
        if t.kind != "token":
            self._skip(t.transfer_id, "the Avalanche Bridge takes ERC-20 tokens only, not ETH")
            return None
        return BridgeDeposit.paid_by(
            NAME,
            t,
            dest_chain="avalanche",
            recipient=canonical_address("avalanche", t.from_address),
            link_key="avb:" + t.tx_hash.lower(),
        )

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        """``Unwrap`` on an Avalanche BridgeToken: a burn towards Ethereum or Bitcoin."""
        if log.topic0 != UNWRAP or not self.knows(log.chain, log.address):
            return None
        key = f"{log.chain}:{log.tx_hash}:{log.log_index}"
        try:
            w = words(log.data)
            if len(log.topics) != 1 or len(w) != 2:
                raise ValueError("Unwrap needs 1 topic and 2 data words")
            amount, chain_id = word_uint(w[0]), word_uint(w[1])
            sender = canonical_address(log.chain, log.tx_from) if log.tx_from else ""
        except ValueError as e:
            self._skip(key, f"malformed Avalanche Bridge Unwrap: {e}")
            return None
        dest = UNWRAP_CHAINS.get(chain_id)
        recipient = None
        if dest == "ethereum" and sender:
            recipient = canonical_address("ethereum", sender)
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=log.address,
            amount=amount,
            dest_chain=dest,
            recipient=recipient,
        )

    # ---------------------------------------------------------------- destination side

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        """``Mint`` on an Avalanche BridgeToken (originTxId = the deposit's transaction)."""
        if log.topic0 not in (MINT, MINT_BTC) or not self.knows(log.chain, log.address):
            return None
        key = f"{log.chain}:{log.tx_hash}:{log.log_index}"
        try:
            w = words(log.data)
            btc = log.topic0 == MINT_BTC
            if len(log.topics) != 1 or len(w) != (6 if btc else 5):
                raise ValueError("Mint has the wrong number of topics or data words")
            to = canonical_address(log.chain, word_address(w[0]))
            amount = word_uint(w[1])
            origin = word_hex(w[4])
            link_key = f"avb:{origin}:{word_uint(w[5])}" if btc else f"avb:{origin}"
        except ValueError as e:
            self._skip(key, f"malformed Avalanche Bridge Mint: {e}")
            return None
        src = "bitcoin" if btc else "ethereum"
        return BridgeRelease.at(
            NAME,
            log,
            recipient=to,
            asset=log.address,
            amount=amount,
            src_chain=src,
            link_key=link_key,
        )

    def release_from_transfer(self, t: Transfer) -> BridgeRelease | None:
        """A payment from the Ethereum bridge address (no reference: matched by inference)."""
        if t.chain != "ethereum" or not self.knows(t.chain, t.from_address):
            return None
        return BridgeRelease.paid_to(NAME, t, src_chain="avalanche")

    # ---------------------------------------------------------------- linking

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        deposits = sorted(deposits, key=lambda d: d.key)
        releases = sorted(releases, key=lambda r: (r.block, r.tx_hash, r.log_index))
        links = self._exact(deposits, releases)
        links.extend(self._inferred(deposits, releases))
        return sorted(links, key=lambda link: link.deposit.key)

    def _exact(self, deposits: list[BridgeDeposit], releases: list[BridgeRelease]):
        by_key: dict[str, list[BridgeRelease]] = defaultdict(list)
        for r in releases:
            if r.link_key:
                by_key[r.link_key].append(r)
        per_key: dict[str, int] = defaultdict(int)
        for d in deposits:
            if d.link_key:
                per_key[d.link_key] += 1
        out = []
        for d in deposits:
            if not d.link_key:
                continue
            keys = _candidate_keys(d)
            found = [r for k in keys for r in by_key.get(k, ()) if r.chain == "avalanche"]
            if not found:
                continue
            if per_key[d.link_key] > 1:
                self._skip(d.key, "several transfers to the bridge in one transaction; ambiguous")
                continue
            evidence = (
                f"Avalanche Bridge Mint names the deposit as originTxId ({d.tx_hash})",
                "recipient is the depositing address"
                if all(r.recipient == d.recipient for r in found)
                else "recipient differs from the depositing address",
            )
            out.append(BridgeLink(d, tuple(found), "exact", 1.0, evidence, fee_of(d, found)))
        return out

    def _inferred(self, deposits: list[BridgeDeposit], releases: list[BridgeRelease]):
        used: set[str] = set()
        out = []
        for d in sorted(deposits, key=lambda d: (d.time, d.key)):
            if d.link_key or d.dest_chain != "ethereum" or not d.recipient:
                continue
            pair = self.token_pairs.get(d.asset)
            ranked = []
            for r in releases:
                if r.link_key or r.chain != "ethereum" or r.key in used:
                    continue
                delay = r.time - d.time
                if r.recipient != d.recipient or not 0 <= delay <= MAX_DELAY or r.amount > d.amount:
                    continue
                if pair is not None and r.asset != pair:
                    continue
                if pair is not None and delay <= STRONG_WINDOW:
                    score = 0.8
                elif pair is not None and delay <= WIDE_WINDOW:
                    score = 0.7
                elif pair is None and delay <= STRONG_WINDOW:
                    score = 0.65
                else:
                    continue
                gap = (d.amount - r.amount) * 10_000 // max(d.amount, 1)
                ranked.append((-score, gap, delay, r))
            if not ranked:
                continue
            ranked.sort(key=lambda x: (x[0], x[1], x[2], x[3].key))
            best = ranked[0]
            if len(ranked) > 1 and ranked[1][0] == best[0] and abs(ranked[1][1] - best[1]) <= 10:
                self._skip(d.key, f"{len(ranked)} bridge payouts fit the unwrap equally; ambiguous")
                continue
            r = best[3]
            used.add(r.key)
            evidence = (
                "Avalanche Bridge pays the unwrapping address: recipient matches",
                f"paid {r.time - d.time} s after the unwrap; {best[1]} bps below the burned amount",
                "token pair known" if pair else "token pair unknown (amount and time only)",
                "no on-chain reference links an unwrap to its payout",
            )
            out.append(BridgeLink(d, (r,), "inferred", -best[0], evidence, fee_of(d, [r])))
        return out


def _candidate_keys(d: BridgeDeposit) -> list[str]:
    """The deposit's key, plus the byte-reversed txid form for Bitcoin deposits."""
    keys = [d.link_key or ""]
    if d.chain == "bitcoin":
        txid = d.tx_hash.lower().removeprefix("0x")
        try:
            flipped = bytes.fromhex(txid)[::-1].hex()
        except ValueError:
            return keys
        keys = [f"avb:0x{txid}:{d.log_index}", f"avb:0x{flipped}:{d.log_index}"]
    return keys


def decoders() -> list[AvalancheBridgeDecoder]:
    return [AvalancheBridgeDecoder()]


__all__ = [
    "BTC_B",
    "ETHEREUM_BRIDGE",
    "MINT",
    "MINT_BTC",
    "UNWRAP",
    "AvalancheBridgeDecoder",
    "decoders",
]
