"""THORChain: inbound memo -> outbound transaction(s), linked exactly by the inbound's txid.

Inbounds (deposits):

* EVM chains: the router's ``Deposit(address indexed to, address indexed asset, uint amount,
  string memo)``; ``to`` is the vault, asset ``0x0`` is the native coin, the sender is the
  transaction's ``from`` (the router is called by the user or an aggregator they called).
  Router v1 emitted the same event (same topic0) with ``asset`` not indexed, and
  ``TransferOut`` with ``to`` not indexed: both layouts are read;
* UTXO chains (Bitcoin): a transaction whose OP_RETURN outputs carry the memo
  (:meth:`ThorchainDecoder.deposit_from_btc`): as THORChain's Bifrost reads it, the sender is
  the first input's address and the vault the first paid output not back to the sender.

Outbounds (releases) carry ``OUT:<TXID>`` or ``REFUND:<TXID>``, TXID being the inbound's hash in
upper-case hex without ``0x`` (also for EVM inbounds):

* EVM: ``TransferOut(address indexed vault, address indexed to, address asset, uint amount,
  string memo)`` and both ``TransferOutAndCall`` variants (aggregator payouts: the native coin
  goes to an aggregator that swaps it for ``finalAsset`` and pays ``to``);
* UTXO: the OP_RETURN memo of a transaction spent by a vault
  (:meth:`ThorchainDecoder.release_from_btc`).

Forged outbounds: anyone can call the router's ``transferOut`` or write ``OUT:<TXID>`` into an
OP_RETURN, so an outbound counts only when it is paid by a known THORChain vault: the
``vault`` topic of the router event, or the spending address of a UTXO outbound, must be in the
vault list given to the decoder (THORNode ``/thorchain/inbound_addresses`` entries, current and
historical, see :func:`load_vaults`). Anything else is skipped with its reason in
:attr:`ThorchainDecoder.skipped`, never linked.

When the destination chain's data is absent, :meth:`ThorchainDecoder.link` asks Midgard
(``/v2/actions?txid=``, :mod:`tracer.bridges.midgard`) what the inbound became, if a client is
given; those links are exact by the inbound txid but confidence 0.9 (third-party index, the
destination chain itself was not read).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tracer.bridges.base import (
    BaseDecoder,
    BridgeDeposit,
    BridgeLink,
    BridgeRelease,
    RawLog,
    abi_string,
    canonical_address,
    fee_of,
    word_address,
    word_uint,
    words,
)
from tracer.bridges.midgard import THOR_UNITS, MidgardAction, MidgardClient
from tracer.bridges.thormemo import (
    CHAIN_CODES,
    THOR_CHAINS,
    Memo,
    MemoError,
    parse_asset,
    parse_memo,
    show,
    thor_txid,
    utxo_memo,
)
from tracer.records import Transfer
from tracer.sources.base import SourceError

NAME = "thorchain"
NATIVE = "native"
ZERO = "0x" + "0" * 40

#: Router event topics (API_NOTES 6.2; recomputed in the tests from the signatures).
DEPOSIT = "0xef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395"
TRANSFER_OUT = "0xa9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7"
TRANSFER_OUT_AND_CALL = "0x8e5841bcd195b858d53b38bcf91b38d47f3bc800469b6812d35451ab619c6f6c"
TRANSFER_OUT_AND_CALL_V5 = "0xf03f1deb9e64a6dc7d54571486f4ef1f94a3b4d85bc21ab19903f3475b0ab114"

#: THORChain routers on Ethereum (addresses/entities/bridges.yaml, source: THORNode
#: router_upgrade_info.go ethOldRouter / ethNewRouter). Other chains' routers: config.
ROUTERS: dict[str, tuple[str, ...]] = {
    "ethereum": (
        "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146",
        "0x3624525075b88b24ecc29ce226b0cec1ffcb6976",
    ),
}

CONFIDENCE_VAULT = 1.0  # outbound paid by a listed vault, read on the destination chain
CONFIDENCE_MIDGARD = 0.9  # Midgard's record; the destination chain itself was not read


class VaultFileError(ValueError):
    """A bad vault list (one line, shown to the user)."""


def load_vaults(source: object) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Vaults and routers from THORNode ``inbound_addresses``-style entries.

    ``source`` is a path to a JSON file or the decoded JSON: a list of objects with ``chain``
    (THORChain code like ``"BTC"`` or a tracer chain name) and ``address``, optionally
    ``router``. Entries for chains tracer has no address rules for are skipped. Give every vault of the period traced: vaults rotate ("churn") every few days,
    so past ones come from ``inbound_addresses?height=N`` or a block explorer's label.
    Returns ``(vaults, routers)`` by tracer chain name, canonical addresses.
    """
    where = "vault list"
    if isinstance(source, (str, Path)):
        where = f"vault list {source}"
        try:
            source = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise VaultFileError(f"{where}: cannot read ({e.__class__.__name__})") from None
    if isinstance(source, Mapping):
        source = source.get("vaults", source.get("inbound_addresses"))
    if not isinstance(source, list):
        raise VaultFileError(f"{where}: expected a JSON list of {{chain, address}} objects")
    vaults: dict[str, set[str]] = defaultdict(set)
    routers: dict[str, set[str]] = defaultdict(set)
    for i, entry in enumerate(source):
        if not isinstance(entry, Mapping):
            raise VaultFileError(f"{where} entry {i}: not an object")
        code = entry.get("chain")
        chain = _tracer_chain(code)
        if chain is None:
            raise VaultFileError(f"{where} entry {i}: unknown chain {show(str(code))}")
        if not _addressable(chain):
            continue  # a THORChain chain tracer does not trace (LTC, DOGE, GAIA, ...)
        try:
            if entry.get("address"):
                vaults[chain].add(canonical_address(chain, str(entry["address"])))
            if entry.get("router"):
                routers[chain].add(canonical_address(chain, str(entry["router"])))
        except ValueError as e:
            raise VaultFileError(f"{where} entry {i}: {e}") from None
    return (
        {c: frozenset(v) for c, v in vaults.items()},
        {c: frozenset(v) for c, v in routers.items()},
    )


def _tracer_chain(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    if code.upper() in THOR_CHAINS:
        return THOR_CHAINS[code.upper()]
    return code.lower() if code.lower() in CHAIN_CODES else None


def _utxo(chain: str) -> bool:
    from tracer.addresses import chain_kind

    try:
        return chain_kind(chain) == "utxo"
    except ValueError:
        return False


def _addressable(chain: str | None) -> bool:
    """Tracer has address rules for ``chain`` (so a memo address on it can be canonicalised)."""
    if not chain:
        return False
    from tracer.addresses import chain_kind

    try:
        chain_kind(chain)
    except ValueError:
        return False
    return True


def memo_destination(memo: Memo, chain: str | None) -> str | None:
    """The memo's destination in canonical form on ``chain``, or None (THORName, other chain,
    invalid). EVM addresses are lower-cased first: THORChain does not check EIP-55."""
    if not memo.destination or not _addressable(chain):
        return None
    try:
        return _canon(chain, memo.destination)  # type: ignore[arg-type]
    except ValueError:
        return None


def _evm_asset(chain: str, word: bytes | str) -> str:
    address = word_address(word)
    return NATIVE if address == ZERO else canonical_address(chain, address)


def _canon(chain: str, text: str) -> str:
    """Canonical address on ``chain``; EVM hex is lower-cased first (THORChain ignores EIP-55)."""
    from tracer.addresses import chain_kind

    if chain_kind(chain) == "evm":
        text = text.lower()
    return canonical_address(chain, text)


class _Where(NamedTuple):
    tx_hash: str
    log_index: int
    block: int
    time: int


@dataclass
class ThorchainDecoder(BaseDecoder):
    """THORChain router / vault decoder (see the module docstring)."""

    name: str = NAME
    linkage: str = "exact"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)
    vaults: dict[str, frozenset[str]] = field(default_factory=dict)
    midgard: MidgardClient | None = None
    #: Bitcoin-style sources by chain (``address_txs(addresses, until, since)``), for reading
    #: UTXO inbounds behind a transfer and UTXO outbounds spent by listed vaults.
    utxo_sources: dict[str, Any] = field(default_factory=dict)
    #: (record key, reason) for every log / transaction that looked like THORChain but was
    #: not used: malformed data, forged outbound, vault unknown. Never raised.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: release key -> the vault that paid it (router events name it in a topic, not the record)
    paid_by: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.contracts:
            for chain, addresses in ROUTERS.items():
                for a in addresses:
                    self.add_contract(chain, a)

    # ---------------------------------------------------------------- configuration

    def add_vaults(self, source: object) -> int:
        """Trust the vaults (and routers) of an inbound_addresses-style list; returns count."""
        vaults, routers = load_vaults(source)
        n = 0
        for chain, addresses in vaults.items():
            self.vaults[chain] = self.vaults.get(chain, frozenset()) | addresses
            n += len(addresses)
            if _utxo(chain):  # UTXO inbounds are paid to the vault itself: register it
                for a in addresses:
                    self.add_contract(chain, a)
        for chain, addresses in routers.items():
            for a in addresses:
                self.add_contract(chain, a)
        return n

    @property
    def resolves_without_destination(self) -> bool:
        """True when :meth:`link` can answer for inbounds whose destination chain was not
        given (it asks Midgard): the orchestration should pass such deposits in anyway."""
        return self.midgard is not None

    def is_vault(self, chain: str, address: str) -> bool:
        return address in self.vaults.get(chain, ())

    def _skip(self, key: str, reason: str) -> None:
        self.skipped.append((key, reason))

    # ---------------------------------------------------------------- EVM logs

    def decode_deposit(self, log: RawLog) -> BridgeDeposit | None:
        if log.topic0 != DEPOSIT or not self.knows(log.chain, log.address):
            return None
        key = f"{log.chain}:{log.tx_hash}:{log.log_index}"
        try:
            w = words(log.data)
            if len(log.topics) == 3 and len(w) >= 3:  # asset indexed (router v2 and later)
                asset = _evm_asset(log.chain, log.topics[2])
                amount = word_uint(w[0])
                memo_text = abi_string(log.data, 1)
            elif len(log.topics) == 2 and len(w) >= 4:  # router v1: asset in the data
                asset = _evm_asset(log.chain, w[0])
                amount = word_uint(w[1])
                memo_text = abi_string(log.data, 2)
            else:
                raise ValueError("Deposit needs 3 topics (or 2, router v1) and its data words")
            vault = canonical_address(log.chain, word_address(log.topics[1]))
            link_key = thor_txid(log.tx_hash)
            sender = canonical_address(log.chain, log.tx_from) if log.tx_from else ""
        except ValueError as e:
            self._skip(key, f"malformed THORChain Deposit: {e}")
            return None
        vaults = self.vaults.get(log.chain)
        if vaults and vault not in vaults:
            self._skip(key, f"Deposit to {vault}, not a known THORChain vault (funds went there)")
            return None
        dest_chain, recipient = self._intent(key, memo_text)
        return BridgeDeposit.at(
            NAME,
            log,
            sender=sender,
            asset=asset,
            amount=amount,
            dest_chain=dest_chain,
            recipient=recipient,
            link_key=link_key,
            memo=memo_text,
        )

    def _intent(self, key: str, memo_text: str) -> tuple[str | None, str | None]:
        """(destination chain, canonical recipient) of an inbound memo; (None, None) when the
        memo is not a swap or THORChain would refund it (noted in :attr:`skipped`)."""
        try:
            memo = parse_memo(memo_text)
        except MemoError as e:
            self._skip(key, f"inbound memo rejected ({e}); THORChain refunds it")
            return None, None
        if not memo.is_swap or memo.asset is None:
            return None, None
        chain = memo.asset.tracer_chain
        return chain, memo_destination(memo, chain)

    def decode_release(self, log: RawLog) -> BridgeRelease | None:
        if log.topic0 not in (TRANSFER_OUT, TRANSFER_OUT_AND_CALL, TRANSFER_OUT_AND_CALL_V5):
            return None
        if not self.knows(log.chain, log.address):
            return None
        key = f"{log.chain}:{log.tx_hash}:{log.log_index}"
        try:
            vault, recipient, asset, amount, memo_text = self._outbound_fields(log)
        except ValueError as e:
            self._skip(key, f"malformed THORChain router event: {e}")
            return None
        return self._release(
            key, log.chain, log.address, vault, log, recipient, asset, amount, memo_text
        )

    def _outbound_fields(self, log: RawLog) -> tuple[str, str, str, int, str]:
        chain = log.chain
        w = words(log.data)
        if not log.topics or len(log.topics) < 2:
            raise ValueError("missing vault topic")
        vault = canonical_address(chain, word_address(log.topics[1]))
        if log.topic0 == TRANSFER_OUT:
            if len(log.topics) == 3 and len(w) >= 5:
                to = canonical_address(chain, word_address(log.topics[2]))
                return vault, to, _evm_asset(chain, w[0]), word_uint(w[1]), abi_string(log.data, 2)
            if len(log.topics) == 2 and len(w) >= 6:  # router v1: `to` in the data
                to = canonical_address(chain, word_address(w[0]))
                return vault, to, _evm_asset(chain, w[1]), word_uint(w[2]), abi_string(log.data, 3)
            raise ValueError("TransferOut needs 3 topics (or 2, router v1) and its data words")
        if log.topic0 == TRANSFER_OUT_AND_CALL:
            # (target, amount, finalAsset, to, amountOutMin, memo): the native coin sent to the
            # aggregator `target`, which swaps it and pays `to`.
            if len(log.topics) != 2 or len(w) < 8:
                raise ValueError("TransferOutAndCall needs 2 topics and 6 data words")
            to = canonical_address(chain, word_address(w[3]))
            return vault, to, NATIVE, word_uint(w[1]), abi_string(log.data, 5)
        # v5: to indexed; data (target, amount, finalAsset, amountOutMin, memo, payload, origin)
        if len(log.topics) != 3 or len(w) < 10:
            raise ValueError("TransferOutAndCall (v5) needs 3 topics and 7 data words")
        to = canonical_address(chain, word_address(log.topics[2]))
        return vault, to, NATIVE, word_uint(w[1]), abi_string(log.data, 4)

    def _release(
        self,
        key: str,
        chain: str,
        contract: str,
        vault: str,
        where,
        recipient: str,
        asset: str,
        amount: int,
        memo_text: str,
    ) -> BridgeRelease | None:
        try:
            memo = parse_memo(memo_text)
        except MemoError as e:
            self._skip(key, f"outbound memo unreadable: {e}")
            return None
        if not memo.is_outbound:
            self._skip(key, f"{memo.action} memo, not an OUT/REFUND outbound")
            return None
        if not self.is_vault(chain, vault):
            self._skip(
                key,
                f"{memo.action.upper()} memo for {memo.txid} paid by {vault}, which is not a "
                "known THORChain vault: forged or vault list incomplete; not linked",
            )
            return None
        release = BridgeRelease(
            NAME,
            chain,
            contract,
            where.tx_hash,
            where.log_index,
            where.block,
            where.time,
            recipient,
            asset,
            amount,
            None,
            memo.txid,
            memo.action,
        )
        self.paid_by[release.key] = vault
        return release

    # ---------------------------------------------------------------- UTXO transactions

    def deposit_from_transfer(self, t: Transfer) -> BridgeDeposit | None:
        """The inbound behind a UTXO payment to a vault, read from ``utxo_sources[t.chain]``
        (the transfer itself carries no memo). None for other chains and non-vault outputs."""
        source = self.utxo_sources.get(t.chain)
        if source is None or t.kind != "utxo" or not self.knows(t.chain, t.to_address):
            return None
        try:
            txs = source.address_txs([t.to_address], until=t.timestamp, since=t.timestamp)
        except SourceError as e:
            self._skip(t.transfer_id, f"cannot read the inbound transaction: {e}")
            return None
        tx = next((x for x in txs if x.txid == t.tx_hash), None)
        if tx is None:
            self._skip(t.transfer_id, "inbound transaction not in the Bitcoin data")
            return None
        deposit = self.deposit_from_btc(tx, t.chain)
        if deposit is None or deposit.log_index != t.log_index:
            return None
        return deposit

    def releases(self, chain: str, since: int, until: int) -> list[BridgeRelease]:
        """Outbounds on a UTXO ``chain`` in [since, until]: transactions spent by a listed vault,
        read from ``utxo_sources[chain]`` (EVM outbounds come from router logs instead)."""
        source = self.utxo_sources.get(chain)
        vaults = self.vaults.get(chain)
        if source is None or not vaults:
            return []
        try:
            txs = source.address_txs(sorted(vaults), until=until, since=since)
        except SourceError as e:
            self._skip(f"{chain}:vaults", f"cannot read vault transactions: {e}")
            return []
        out = []
        for tx in txs:
            if tx.inputs and tx.inputs[0].address in vaults:
                release = self.release_from_btc(tx, chain)
                if release is not None:
                    out.append(release)
        return out

    def deposit_from_btc(self, tx, chain: str = "bitcoin") -> BridgeDeposit | None:
        """The THORChain inbound in a Bitcoin :class:`tracer.bitcoin.model.BtcTx`, or None.

        Memo: the OP_RETURN outputs (single push each) concatenated. Sender: the first input's
        address. Vault: the first output with value, an address and not back to the sender; it
        must be a listed vault when a vault list for ``chain`` is given. Amount: that output.
        ``log_index`` is the vault output's index; ``contract`` the vault address.
        """
        key = f"{chain}:{tx.txid}"
        try:
            memo_text = utxo_memo(o.script_hex for o in tx.outputs)
        except MemoError as e:
            self._skip(key, str(e))
            return None
        if memo_text is None:
            return None
        try:
            memo = parse_memo(memo_text)
        except MemoError:
            memo = None
        if memo is not None and (memo.is_outbound or memo.action in ("migrate", "consolidate")):
            return None
        sender = tx.inputs[0].address if tx.inputs else None
        if not sender:
            self._skip(key, "THORChain inbound without a known sender (first input)")
            return None
        out = next(
            (o for o in tx.outputs if o.value > 0 and o.address and o.address != sender), None
        )
        if out is None:
            self._skip(key, "memo but no output to a vault")
            return None
        vaults = self.vaults.get(chain)
        if vaults and out.address not in vaults:
            self._skip(key, f"memo but paid to {out.address}, not a known THORChain vault")
            return None
        try:
            link_key = thor_txid(tx.txid)
        except MemoError as e:
            self._skip(key, str(e))
            return None
        dest_chain, recipient = self._intent(key, memo_text)
        return BridgeDeposit(
            NAME,
            chain,
            out.address,
            tx.txid,
            out.index,
            tx.block_height if tx.block_height is not None else -1,
            tx.block_time or 0,
            sender,
            NATIVE,
            out.value,
            dest_chain,
            recipient,
            link_key,
            memo_text,
        )

    def release_from_btc(self, tx, chain: str = "bitcoin") -> BridgeRelease | None:
        """The THORChain outbound in a Bitcoin transaction (``OUT:``/``REFUND:`` OP_RETURN memo,
        spent by a listed vault), or None. Recipient: the first paid output not back to the
        vault (Bifrost's rule); ``log_index`` is its output index."""
        key = f"{chain}:{tx.txid}"
        try:
            memo_text = utxo_memo(o.script_hex for o in tx.outputs)
        except MemoError as e:
            self._skip(key, str(e))
            return None
        if memo_text is None:
            return None
        vault = tx.inputs[0].address if tx.inputs else None
        if not vault:
            return None
        out = next(
            (o for o in tx.outputs if o.value > 0 and o.address and o.address != vault), None
        )
        if out is None:
            self._skip(key, "outbound memo but no payment output")
            return None
        block = tx.block_height if tx.block_height is not None else -1
        where = _Where(tx.txid, out.index, block, tx.block_time or 0)
        return self._release(
            key, chain, vault, vault, where, out.address, NATIVE, out.value, memo_text
        )

    # ---------------------------------------------------------------- linking

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        """Link every inbound to the outbounds whose memo names its txid.

        ``out`` releases must be on the memo's destination chain (when the memo names one);
        ``refund`` releases on the inbound's own chain. Two deposits with one txid are
        ambiguous and skipped. Inbounds with no outbound in the data are asked of Midgard when
        a client is configured.
        """
        deposits = sorted(deposits, key=lambda d: d.key)
        by_key: dict[str, list[BridgeRelease]] = defaultdict(list)
        for r in releases:
            if r.bridge == NAME and r.link_key:
                by_key[r.link_key].append(r)
        per_key: dict[str, int] = defaultdict(int)
        for d in deposits:
            if d.link_key:
                per_key[d.link_key] += 1
        links: list[BridgeLink] = []
        for d in deposits:
            if d.bridge != NAME or not d.link_key:
                continue
            if per_key[d.link_key] > 1:
                self._skip(d.key, f"{per_key[d.link_key]} THORChain inbounds share txid; ambiguous")
                continue
            found = [r for r in by_key.get(d.link_key, ()) if self._fits(d, r)]
            if found:
                links.append(self._make_link(d, found, CONFIDENCE_VAULT, []))
                continue
            if self.midgard is not None:
                link = self._midgard_link(d)
                if link is not None:
                    links.append(link)
        return links

    @staticmethod
    def _fits(d: BridgeDeposit, r: BridgeRelease) -> bool:
        if r.kind == "refund":
            return r.chain == d.chain
        return d.dest_chain is None or r.chain == d.dest_chain

    def _make_link(
        self, d: BridgeDeposit, found: list[BridgeRelease], confidence: float, extra: list[str]
    ) -> BridgeLink:
        found = sorted(found, key=lambda r: (r.block, r.tx_hash, r.log_index))
        evidence = [f"THORChain inbound {d.link_key}: outbound memo names it"]
        outs = [r for r in found if r.kind == "out"]
        refunds = [r for r in found if r.kind == "refund"]
        if confidence == CONFIDENCE_VAULT:
            vaults = sorted({self.paid_by.get(r.key, r.contract) for r in found})
            evidence.append("paid by listed vault(s) " + ", ".join(vaults))
        if outs and d.recipient:
            if all(r.recipient == d.recipient for r in outs):
                evidence.append("recipient matches the memo destination")
            else:
                evidence.append(f"recipient differs from the memo destination {d.recipient}")
        if refunds:
            back = all(r.recipient == d.sender for r in refunds)
            evidence.append("refunded to the sender" if back else "refunded to another address")
        fee = fee_of(d, found)
        if fee is not None and fee < 0:
            # an LP withdrawal: the inbound is only the request, the outbound pays the position
            evidence.append("paid out more than the inbound (liquidity withdrawal); no fee")
            fee = None
        evidence.extend(extra)
        return BridgeLink(d, tuple(found), "exact", confidence, tuple(evidence), fee)

    def _midgard_link(self, d: BridgeDeposit) -> BridgeLink | None:
        assert self.midgard is not None
        try:
            actions = self.midgard.actions(d.link_key or "")
        except SourceError as e:
            self._skip(d.key, f"Midgard lookup failed: {e}")
            return None
        mine = [a for a in actions if any(leg.txid == d.link_key for leg in a.ins)]
        if not mine:
            self._skip(d.key, "Midgard knows no action for this inbound")
            return None
        releases: list[BridgeRelease] = []
        notes: list[str] = []
        for action in mine:
            if action.status != "success":
                notes.append(f"Midgard action {action.type} is {action.status}")
            rel, skipped = releases_from_action(action, d)
            releases.extend(rel)
            notes.extend(skipped)
        if not releases:
            self._skip(d.key, "; ".join(notes) or "Midgard action has no outbound transaction")
            return None
        types = ",".join(sorted({a.type for a in mine}))
        extra = [f"Midgard /v2/actions: type {types}; destination chain data not read", *notes]
        for a in mine:
            if a.reason:
                extra.append(f"refund reason: {a.reason}")
        return self._make_link(d, releases, CONFIDENCE_MIDGARD, extra)


def releases_from_action(
    action: MidgardAction, deposit: BridgeDeposit
) -> tuple[list[BridgeRelease], list[str]]:
    """Releases for the ``out`` legs of a Midgard action (amounts converted from 1e8 units to
    the asset's base units), and notes on the legs left out (THORChain-native payouts without
    a transaction, unknown assets or chains)."""
    from tracer.chains import asset_info

    releases: list[BridgeRelease] = []
    notes: list[str] = []
    sender_refund = action.type == "refund"
    for i, leg in enumerate(action.outs):
        for coin in leg.coins:
            try:
                asset = parse_asset(coin.asset)
            except MemoError as e:
                notes.append(f"out {i}: {e}")
                continue
            chain = asset.tracer_chain
            if not leg.txid or chain in (None, "thorchain") or not _addressable(chain):
                notes.append(
                    f"out {i}: {coin.amount} (1e8) {asset.text} on THORChain/untraced, not followed"
                )
                continue
            try:
                recipient = _canon(chain, leg.address)
                tx_hash = thor_txid(leg.txid)
            except (ValueError, MemoError) as e:
                notes.append(f"out {i}: {e}")
                continue
            evm = tx_hash and chain not in ("bitcoin", "tron")
            tx_hash = "0x" + tx_hash.lower() if evm else tx_hash.lower()
            token = NATIVE
            if not asset.is_gas:
                token = asset.evm_contract or ""
                if not token:
                    notes.append(f"out {i}: token {asset.text} without a full contract")
                    continue
            info = asset_info(chain, token)
            if info is None:
                notes.append(f"out {i}: decimals of {asset.text} unknown, not followed")
                continue
            amount = _from_thor_units(coin.amount, info.decimals)
            kind = "refund" if sender_refund and recipient == deposit.sender else "out"
            releases.append(
                BridgeRelease(
                    NAME,
                    chain,
                    "midgard",
                    tx_hash,
                    i,
                    leg.height or action.height,
                    action.time,
                    recipient,
                    token,
                    amount,
                    deposit.chain,
                    deposit.link_key,
                    kind,
                )
            )
    return releases, notes


def _from_thor_units(amount: int, decimals: int) -> int:
    """1e8 units -> base units (exact when decimals >= 8; truncated like THORChain otherwise)."""
    if decimals >= THOR_UNITS:
        return amount * 10 ** (decimals - THOR_UNITS)
    return amount // 10 ** (THOR_UNITS - decimals)


def decoders() -> list[ThorchainDecoder]:
    """The default instance: Ethereum routers; vaults must be given (``add_vaults``)."""
    return [ThorchainDecoder()]


__all__ = [
    "DEPOSIT",
    "ROUTERS",
    "TRANSFER_OUT",
    "TRANSFER_OUT_AND_CALL",
    "TRANSFER_OUT_AND_CALL_V5",
    "ThorchainDecoder",
    "VaultFileError",
    "decoders",
    "load_vaults",
    "memo_destination",
    "releases_from_action",
]
