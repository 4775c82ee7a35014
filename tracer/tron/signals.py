"""Tron signals: exchange deposit sweeps, shared gas funders, consolidation, USDT blacklist.

Deposit sweep (:func:`tron_deposits`, called by :func:`tracer.flags.detect_flags` for Tron in
place of the Ethereum rule). Exchanges give each customer a deposit address; before sweeping a
TRC-20 deposit the exchange pays the energy/bandwidth it costs, with a small TRX top-up from
the hot wallet (or its deposit funder) or by delegating energy to the address; the deposit is
then swept, whole, into the hot wallet (DOMAIN 4). An address D that received traced funds is
an ``exchange_deposit`` when

* every outflow of D goes to a labelled exchange address (or D is labelled a deposit), and
* an outflow of D to an exchange matches a traced inflow one to one (same amount for tokens,
  at most :data:`TRX_TOLERANCE` less for TRX) within :data:`DEPOSIT_WINDOW_BLOCKS` blocks.

Confidence 0.5 + 0.3·κ (κ = 1 − ½·|Δamount|/α − ½·Δblocks/τ, Victor's score), +0.1 when the
sweep leaves D empty (a full-balance sweep), +0.1 when a TRX top-up of at most
:data:`TOPUP_MAX` or an energy/bandwidth delegation from that exchange (its hot wallet, or any
address labelled for the same entity) came before the sweep; a deposit label lifts it to at
least 0.9. The evidence names every transaction.

Links (:class:`Link`, the way the FBI linked the Deribit Tron addresses):

* ``shared_gas_funder``: one address paid small TRX amounts (at most :data:`GAS_MAX`) into two or
  more traced addresses (services excluded). Its own history is read once to list the other
  addresses it funded, which the trace did not reach (candidates to review).
* ``consolidation``: one address (not a service) received traced funds from two or more traced
  addresses, or tokens from two or more addresses tied by a shared gas funder (the funder's
  traced members and the addresses it also funded): the seeds of a real case often sit downstream
  of the wave addresses that paid them.

Issuer blacklist: for every stablecoin whose issuer can freeze it, the issuer's
``AddedBlackList`` / ``RemovedBlackList`` / ``DestroyedBlackFunds`` events (TronGrid contract
events, or the ``blacklist_events`` export table) give each holder's state at the end of the data.
A ``freezable_balance`` flag at an address already blacklisted becomes ``frozen_balance`` (the
funds cannot move; the issuer froze them in the named transaction); the other ``freezable_balance``
flags say that no freeze was found (or that one was lifted).

All of it lands in the manifest's ``tron`` section (:meth:`TronContext.report`) and, per flag,
in the evidence text.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tracer.chains import NATIVE, Asset
from tracer.records import Transfer, format_units, iso_utc
from tracer.tron import SUN, TRX_DECIMALS
from tracer.tron.model import BlacklistState, Delegation, blacklist_states

TOPUP_MAX = 100 * SUN  # a deposit top-up is at most 100 TRX
GAS_MAX = 1_000 * SUN  # an attacker's gas payment is at most 1,000 TRX
TRX_TOLERANCE = 2 * SUN  # a TRX sweep may be up to 2 TRX less than what arrived (fees)
TRX_DUST = 1 * SUN  # "full balance": at most 1 TRX left after a TRX sweep
DEPOSIT_WINDOW_BLOCKS = 28_800  # one day of 3-second blocks
SERVICE_ROLES = ("exchange", "deposit", "mixer", "bridge", "swap", "issuer")
EVIDENCE_TXS = 5  # transactions named per link in flag evidence (the manifest has them all)
LINK_COLUMNS = [
    "link",
    "address",
    "member",
    "relation",
    "tx_hash",
    "asset",
    "amount",
    "block",
    "time",
]

FlagRole = Callable[[str], "tuple[str, str, str] | None"]  # address -> (role, entity, label text)


def _trx(amount: int) -> str:
    return f"{format_units(amount, TRX_DECIMALS)} TRX"


@dataclass(frozen=True)
class LinkTx:
    tx_hash: str
    from_address: str
    to_address: str
    asset: str
    amount: int
    block: int
    timestamp: int

    @classmethod
    def of(cls, t: Transfer) -> LinkTx:
        return cls(
            t.tx_hash, t.from_address, t.to_address, t.asset, t.amount, t.block_number, t.timestamp
        )

    def row(self) -> dict:
        return {
            "tx_hash": self.tx_hash,
            "from": self.from_address,
            "to": self.to_address,
            "asset": self.asset,
            "amount": str(self.amount),
            "block": self.block,
            "time": iso_utc(self.timestamp),
        }


@dataclass(frozen=True)
class Link:
    """Addresses tied together by one address: a shared gas funder or a consolidation point."""

    kind: str  # "shared_gas_funder" | "consolidation"
    address: str  # the funder or the consolidation address
    members: tuple[str, ...]  # traced addresses it funded / that paid into it
    txs: tuple[LinkTx, ...]  # the transfers that tie them
    also_funded: tuple[LinkTx, ...] = ()  # funder only: payments to addresses not traced
    seeds: tuple[str, ...] = ()  # members that are seeds

    def describe(self, symbols: Callable[[str], tuple[str, int | None]]) -> str:
        listed = ", ".join(self.members)
        sample = "; ".join(
            f"{tx.tx_hash} ({format_units(tx.amount, symbols(tx.asset)[1])} "
            f"{symbols(tx.asset)[0]} {tx.from_address} -> {tx.to_address})"
            for tx in self.txs[:EVIDENCE_TXS]
        )
        more = f" and {len(self.txs) - EVIDENCE_TXS} more" if len(self.txs) > EVIDENCE_TXS else ""
        if self.kind == "shared_gas_funder":
            text = f"TRX gas funder {self.address} paid {len(self.members)} traced addresses ({listed})"
            if self.also_funded:
                others = sorted({tx.to_address for tx in self.also_funded})
                text += f" and {len(others)} address(es) the trace did not reach ({', '.join(others[:EVIDENCE_TXS])})"
        else:
            text = (
                f"consolidation address {self.address} gathered funds from {len(self.members)} "
                f"traced or gas-funder-linked addresses ({listed})"
            )
        return f"{text}; txs: {sample}{more}"

    def report(self) -> dict:
        return {
            "kind": self.kind,
            "address": self.address,
            "members": list(self.members),
            "seeds": list(self.seeds),
            "txs": [tx.row() for tx in self.txs],
            "also_funded": [tx.row() for tx in self.also_funded],
        }


@dataclass
class TronContext:
    """What the Tron signals know beyond the transfers: delegations, blacklist, links."""

    delegations: list[Delegation] = field(default_factory=list)
    blacklist: dict[tuple[str, str], BlacklistState] = field(default_factory=dict)
    checked: dict[str, list[str]] = field(default_factory=dict)  # contract -> addresses checked
    issuers: dict[str, str] = field(default_factory=dict)  # contract -> issuer
    now: dict[tuple[str, str], bool] = field(default_factory=dict)  # isBlackListed now (live)
    balance_now: dict[tuple[str, str], int] = field(default_factory=dict)  # token balance now
    links: list[Link] = field(default_factory=list)
    symbols: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def symbol(self, asset: str) -> tuple[str, int | None]:
        if asset == NATIVE:
            return "TRX", TRX_DECIMALS
        return self.symbols.get(asset, (asset[:10], None))

    def report(self, flags: Iterable = ()) -> dict:
        """The manifest's ``tron`` section."""
        flagged = {f.address for f in flags}
        blacklist = []
        for contract, addresses in sorted(self.checked.items()):
            for address in addresses:
                state = self.blacklist.get((contract, address))
                entry = {
                    "contract": contract,
                    "issuer": self.issuers.get(contract, ""),
                    "address": address,
                    "blacklisted": bool(state and state.blacklisted),
                    "events": [
                        {
                            "event": e.event,
                            "tx_hash": e.tx_hash,
                            "block": e.block_number,
                            "time": iso_utc(e.timestamp),
                            **({"amount": str(e.amount)} if e.amount is not None else {}),
                        }
                        for e in (state.events if state else ())
                    ],
                }
                if (contract, address) in self.now:
                    entry["is_blacklisted_now"] = self.now[(contract, address)]
                if (contract, address) in self.balance_now:
                    entry["balance_now"] = str(self.balance_now[(contract, address)])
                blacklist.append(entry)
        return {
            "rules": {
                "deposit_sweep": (
                    "every outflow to a labelled exchange (or a deposit label), one-to-one amount "
                    f"match within {DEPOSIT_WINDOW_BLOCKS} blocks (TRX: up to "
                    f"{_trx(TRX_TOLERANCE)} less); full-balance sweep, TRX top-up of at most "
                    f"{_trx(TOPUP_MAX)} or a resource delegation from the exchange raise confidence"
                ),
                "shared_gas_funder": f"TRX payments of at most {_trx(GAS_MAX)} into two or more traced addresses",
                "consolidation": "traced funds from two or more traced addresses into one non-service address",
                "blacklist": "issuer events AddedBlackList / RemovedBlackList / DestroyedBlackFunds up to the end of the data",
            },
            "links": [link.report() for link in self.links],
            "blacklist": blacklist,
            "delegations": [
                {
                    "from": d.from_address,
                    "to": d.to_address,
                    "resource": d.resource,
                    "balance": str(d.balance),
                    "tx_hash": d.tx_hash,
                    "block": d.block_number,
                    "time": iso_utc(d.timestamp),
                }
                for d in self.delegations
                if d.to_address in flagged
            ],
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------
# building the context (called by tracer.api before the flags)


def build_context(
    source,
    outcome,
    assets: dict[str, Asset],
    role_of: FlagRole,
    symbols: dict[str, tuple[str, int | None]] | None = None,
    live_check: bool = True,
) -> TronContext:
    """Delegations, issuer blacklist states and links of a Tron trace outcome.

    ``source`` may lack ``delegations`` / ``blacklist_events`` (e.g. an in-memory source): those
    parts are then empty and the report says so. ``live_check``: also ask a live source's
    ``is_blacklisted`` and ``account`` for each holder (blacklist state and token balance now;
    reported in the manifest, never used in the flags, which rest on the pinned data)."""
    until = outcome.params.until
    ctx = TronContext()
    for asset in assets.values():
        if asset.address != NATIVE:
            ctx.symbols[asset.address] = (asset.symbol, asset.decimals)
    for address, value in (symbols or {}).items():
        ctx.symbols.setdefault(address, value)
    expanded = sorted(outcome.histories)
    if hasattr(source, "delegations") and expanded:
        ctx.delegations = list(source.delegations(expanded, None, until))
    elif expanded:
        ctx.warnings.append("source gives no resource delegations: deposit evidence without them")
    _blacklist(ctx, source, outcome, assets, until, live_check)
    ctx.links = _links(source, outcome, role_of, until)
    return ctx


def _blacklist(ctx, source, outcome, assets, until, live_check) -> None:
    coins = sorted(a.address for a in assets.values() if a.issuer and a.address != NATIVE)
    for contract in coins:
        holders = sorted(
            address
            for address, node in outcome.nodes.items()
            if node.result is not None and node.result.held.get(contract, 0) > 0
        )
        if not holders:
            continue
        if not hasattr(source, "blacklist_events"):
            ctx.warnings.append(
                f"source gives no issuer events: blacklist of {contract} not checked"
            )
            continue
        events = source.blacklist_events(contract, until)
        states = blacklist_states(events)
        ctx.checked[contract] = holders
        ctx.issuers[contract] = assets[contract].issuer or ""
        traced = set(outcome.nodes)
        for (c, address), state in states.items():
            if address in traced:
                ctx.blacklist[(c, address)] = state
        if live_check and hasattr(source, "is_blacklisted"):
            for address in holders:
                ctx.now[(contract, address)] = bool(source.is_blacklisted(contract, address))
        if live_check and hasattr(source, "account"):
            for address in holders:
                tokens = source.account(address).get("trc20", {})
                ctx.balance_now[(contract, address)] = int(tokens.get(contract, 0))


def _links(source, outcome, role_of: FlagRole, until) -> list[Link]:
    def service(address: str) -> bool:
        role = role_of(address)
        return role is not None and role[0] in SERVICE_ROLES

    seeds = set(outcome.seeds)
    links: list[Link] = []
    # shared gas funders: small TRX payments into traced (expanded) addresses
    paid: dict[str, list[Transfer]] = defaultdict(list)
    for address, history in sorted(outcome.histories.items()):
        for t in history:
            if (
                t.to_address == address
                and t.from_address != address
                and t.asset == NATIVE
                and t.success
                and 0 < t.amount <= GAS_MAX
            ):
                paid[t.from_address].append(t)
    for funder, txs in sorted(paid.items()):
        members = sorted({t.to_address for t in txs})
        if len(members) < 2 or service(funder):
            continue
        also = _also_funded(source, outcome, funder, set(outcome.histories), until)
        txs = sorted(txs, key=lambda t: (t.position, t.transfer_id))
        links.append(
            Link(
                "shared_gas_funder",
                funder,
                tuple(members),
                tuple(LinkTx.of(t) for t in txs),
                tuple(LinkTx.of(t) for t in also),
                tuple(m for m in members if m in seeds),
            )
        )
    # consolidation: traced funds from two or more traced addresses into one address, or
    # (tokens) funds from two or more addresses a shared gas funder paid, into a traced address
    linked = {m for link in links for m in link.members}
    linked |= {tx.to_address for link in links for tx in link.also_funded}
    into: dict[str, dict[str, Transfer]] = defaultdict(dict)
    for t, _, swap in outcome.edges.values():
        if swap != "in":
            into[t.to_address][t.transfer_id] = t
    for address, history in outcome.histories.items():
        for t in history:
            if (
                t.to_address == address
                and t.from_address in linked
                and t.from_address != address
                and t.asset != NATIVE
                and t.success
                and t.amount > 0
            ):
                into[address][t.transfer_id] = t
    for address, by_id in sorted(into.items()):
        members = sorted({t.from_address for t in by_id.values()})
        if len(members) < 2 or service(address):
            continue
        txs = sorted(by_id.values(), key=lambda t: (t.position, t.transfer_id))
        links.append(
            Link(
                "consolidation",
                address,
                tuple(members),
                tuple(LinkTx.of(t) for t in txs),
                (),
                tuple(m for m in members if m in seeds),
            )
        )
    return links


def _also_funded(source, outcome, funder: str, traced: set[str], until) -> list[Transfer]:
    """The funder's other small TRX payments (read once; skipped for a busy funder)."""
    limit = outcome.params.fan_out
    if limit and source.degrees([funder], None, until).get(funder, 0) > limit:
        return []
    return sorted(
        (
            t
            for t in source.transfers([funder], None, until)
            if t.from_address == funder
            and t.asset == NATIVE
            and t.success
            and 0 < t.amount <= GAS_MAX
            and t.to_address not in traced
            and t.to_address != funder
        ),
        key=lambda t: (t.position, t.transfer_id),
    )


# ---------------------------------------------------------------------------------------------
# deposit sweeps (called by tracer.flags.detect_flags for chain == "tron")


def tron_deposits(outcome, into, out_of, role_of: FlagRole, sym, context: TronContext | None):
    """``(address, asset, entity, tids, confidence, evidence)`` for each Tron deposit address."""
    delegated: dict[str, list[Delegation]] = defaultdict(list)
    for d in context.delegations if context is not None else ():
        delegated[d.to_address].append(d)
    found = []
    for address, node in sorted(outcome.nodes.items()):
        if node.seed or node.result is None:
            continue
        own = role_of(address)
        labelled = own is not None and own[0] == "deposit"
        history: list[Transfer] = outcome.histories.get(address, [])
        forwards: dict[str, list] = defaultdict(list)
        for tid in out_of.get(address, ()):
            t = outcome.edges[tid][0]
            target = role_of(t.to_address)
            if target is not None and target[0] == "exchange":
                forwards[t.asset].append((t, target))
        if forwards and not labelled and not _sweeps_only(history, address, role_of):
            forwards = {}
        if not forwards and not labelled:
            continue
        assets = set(forwards)
        if labelled:
            assets |= {outcome.edges[x][0].asset for x in into.get(address, ())}
        for asset in sorted(assets):
            tids = [x for x in into.get(address, ()) if outcome.edges[x][0].asset == asset]
            if not tids:
                continue
            conf, evidence, entity, matched = _deposit_evidence(
                outcome,
                address,
                asset,
                forwards.get(asset, []),
                tids,
                own if labelled else None,
                role_of,
                sym,
                delegated.get(address, []),
            )
            if matched or labelled:
                found.append((address, asset, entity, tids, conf, evidence))
    return found


def _sweeps_only(history: list[Transfer], address: str, role_of: FlagRole) -> bool:
    outs = [
        t
        for t in history
        if t.from_address == address and t.to_address != address and t.success and t.amount > 0
    ]
    for t in outs:
        role = role_of(t.to_address)
        if role is None or role[0] != "exchange":
            return False
    return bool(outs)


def _balance_after(history: list[Transfer], address: str, asset: str, sweep: Transfer) -> int:
    balance = 0
    for t in history:
        if t.asset != asset or not t.success or t.amount <= 0 or t.from_address == t.to_address:
            continue
        if t.to_address == address:
            balance += t.amount
        elif t.from_address == address:
            balance -= t.amount
        if t.transfer_id == sweep.transfer_id:
            break
    return max(balance, 0)


def _deposit_evidence(
    outcome, address, asset, forwards, tids, own_label, role_of, sym, delegations
):
    s, d = sym(asset)
    history: list[Transfer] = outcome.histories.get(address, [])
    received = [outcome.edges[x][0] for x in tids]
    entity = own_label[1] if own_label else ""
    best = None  # (kappa, received, forward, target, blocks)
    for f, target in forwards:
        entity = entity or target[1]
        for r in received:
            if r.position >= f.position:
                continue
            blocks = f.block_number - r.block_number
            diff = r.amount - f.amount
            ok = diff == 0 if asset != NATIVE else 0 <= diff <= TRX_TOLERANCE
            if not ok or blocks > DEPOSIT_WINDOW_BLOCKS:
                continue
            alpha = TRX_TOLERANCE if asset == NATIVE else max(1, r.amount // 100)
            kappa = 1 - (0.5 * abs(diff) / alpha + 0.5 * blocks / DEPOSIT_WINDOW_BLOCKS)
            kappa = max(0.0, min(1.0, kappa))
            if best is None or kappa > best[0]:
                best = (kappa, r, f, target, blocks)
    parts: list[str] = []
    conf = 0.0
    if forwards:
        if best is not None:
            kappa, r, f, target, blocks = best
            conf = 0.5 + 0.3 * kappa
            left = _balance_after(history, address, asset, f)
            full = left <= (TRX_DUST if asset == NATIVE else 0)
            how = (
                f"swept its full balance, {format_units(f.amount, d)} {s},"
                if full
                else f"forwarded {format_units(f.amount, d)} {s}"
            )
            parts.append(
                f"behaviour: received {format_units(r.amount, d)} {s} (tx {r.tx_hash}) and {how} "
                f"to {target[1] or 'exchange'} wallet {f.to_address} {blocks} blocks later "
                f"(tx {f.tx_hash})"
            )
            if full:
                conf += 0.1
            prep = _preparation(history, address, f, target, role_of, delegations)
            if prep:
                conf += 0.1
                parts.append(prep)
        else:
            conf = 0.5
            f, target = forwards[0]
            parts.append(
                f"behaviour: forwarded {s} to labelled {target[1] or 'exchange'} wallet "
                f"{f.to_address} (tx {f.tx_hash}) without a one-to-one amount match"
            )
    if own_label:
        conf = max(conf, 0.9) if forwards else 0.8
        parts.append(f"label: {own_label[2]}")
    return min(conf, 1.0), "; ".join(parts), entity, best is not None


def _preparation(history, address, sweep, target, role_of, delegations) -> str:
    """The exchange paying for the sweep: a small TRX top-up or a resource delegation."""

    def same_exchange(sender: str) -> tuple[bool, str]:
        if sender == sweep.to_address:
            return True, target[1] or "exchange"
        role = role_of(sender)
        if role is not None and role[0] in ("exchange", "deposit"):
            if not target[1] or not role[1] or role[1] == target[1]:
                return True, role[1] or target[1] or "exchange"
        return False, ""

    for t in history:
        if t.position >= sweep.position:
            break
        if (
            t.to_address == address
            and t.asset == NATIVE
            and t.success
            and 0 < t.amount <= TOPUP_MAX
        ):
            ok, name = same_exchange(t.from_address)
            if ok:
                blocks = sweep.block_number - t.block_number
                return (
                    f"TRX top-up of {_trx(t.amount)} from {name} wallet {t.from_address} "
                    f"(tx {t.tx_hash}) {blocks} blocks before the sweep"
                )
    for dl in sorted(delegations, key=lambda x: (x.block_number, x.tx_hash)):
        if dl.block_number > sweep.block_number:
            continue
        ok, name = same_exchange(dl.from_address)
        if ok:
            return (
                f"{dl.resource.lower()} delegation ({_trx(dl.balance)} staked) from {name} "
                f"wallet {dl.from_address} (tx {dl.tx_hash}) "
                f"{sweep.block_number - dl.block_number} blocks before the sweep"
            )
    return ""


# ---------------------------------------------------------------------------------------------
# annotating flags (called by tracer.flags.detect_flags for chain == "tron")


def tron_annotate(outcome, flags: list, context: TronContext | None) -> list:
    """Blacklist state on balance flags (``frozen_balance`` when already frozen) and linking
    evidence on flags at linked addresses."""
    from tracer.flags import flag_id

    if context is None:
        return flags
    notes: dict[str, list[str]] = defaultdict(list)
    for link in context.links:
        text = "link: " + link.describe(context.symbol)
        notes[link.address].append(text)
        for member in link.members:
            if link.kind == "shared_gas_funder":
                notes[member].append(text)
    out = []
    for flag in flags:
        evidence = flag.evidence
        kind = flag.kind
        if kind == "freezable_balance" and flag.asset in context.checked:
            state = context.blacklist.get((flag.asset, flag.address))
            issuer = context.issuers.get(flag.asset) or flag.entity or "the issuer"
            if state is not None and state.blacklisted:
                kind = "frozen_balance"
                added = state.last_added
                evidence = (
                    f"already frozen: {issuer} blacklisted {flag.address} on {flag.symbol} "
                    f"contract {flag.asset}: {added.describe() if added else 'AddedBlackList'}; "
                    + flag.evidence.replace(f"; {flag.entity} can freeze it", "")
                )
                for destroyed in state.destroyed:
                    evidence += f"; {destroyed.describe()}"
            elif state is not None:
                removed = state.last_removed
                evidence += (
                    f"; not frozen at the end of the data: blacklisted earlier, then "
                    f"{removed.describe() if removed else 'removed'}"
                )
            else:
                evidence += f"; not blacklisted by {issuer} at the end of the data"
        for note in notes.get(flag.address, ()):
            evidence += "; " + note
        if kind != flag.kind or evidence != flag.evidence:
            flag = dataclasses.replace(
                flag,
                kind=kind,
                evidence=evidence,
                flag_id=flag_id(flag.chain, flag.address, kind, flag.asset),
            )
        out.append(flag)
    return out


def write_links_csv(report: dict, path: str | Path) -> Path:
    """``links.csv`` from a manifest's ``tron`` section: one row per tying transaction."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(LINK_COLUMNS)
        for link in report.get("links", []):
            for relation, rows in (("tie", link["txs"]), ("also_funded", link["also_funded"])):
                for tx in rows:
                    member = tx["to"] if link["kind"] == "shared_gas_funder" else tx["from"]
                    w.writerow(
                        [
                            link["kind"],
                            link["address"],
                            member,
                            relation,
                            tx["tx_hash"],
                            tx["asset"],
                            tx["amount"],
                            tx["block"],
                            tx["time"],
                        ]
                    )
    return path


__all__ = [
    "DEPOSIT_WINDOW_BLOCKS",
    "GAS_MAX",
    "LINK_COLUMNS",
    "Link",
    "TOPUP_MAX",
    "TRX_TOLERANCE",
    "TronContext",
    "build_context",
    "tron_annotate",
    "tron_deposits",
    "write_links_csv",
]
