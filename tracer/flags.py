"""Places a recovery team would act on, one row each, with the evidence behind them.

* ``exchange_deposit``: an address that forwarded traced funds to a labelled exchange address
  (Victor's deposit heuristic, FC 2020: same amount for tokens, at most 0.01 ETH less for ETH,
  within 10,000 blocks), or a labelled deposit address. The deposit address is the freeze target
  (it identifies the customer account), not the hot wallet behind it.
* ``exchange``: traced funds paid straight into a labelled exchange wallet.
* ``mixer`` / ``bridge``: the trace stopped at a labelled mixer or bridge.
* ``freezable_balance``: tainted stablecoin still held at the end of the data (the issuer can
  freeze it).
* ``frozen_balance`` (Tron): tainted stablecoin held at an address the issuer already blacklisted
  (``AddedBlackList``, see :mod:`tracer.tron.signals`).
* ``high_degree``: an unlabelled busy address the fan-out guard would not expand (possibly an
  unlabelled service).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tracer.chains import NATIVE, Asset
from tracer.engine import TraceOutcome, path_to
from tracer.records import Transfer, format_units, iso_utc

FLAG_COLUMNS = [
    "flag_id",
    "chain",
    "address",
    "kind",
    "entity",
    "asset",
    "symbol",
    "tainted_amount",
    "tainted_base_units",
    "first_tainted_at",
    "hops",
    "path",
    "policy",
    "confidence",
    "evidence",
]

#: Victor's deposit heuristic: ETH forwarded may be up to 0.01 ETH less (gas), within a window.
ETH_TOLERANCE = 10**16
DEPOSIT_WINDOW_BLOCKS = 10_000


@dataclass(frozen=True)
class Flag:
    flag_id: str
    chain: str
    address: str
    kind: str
    entity: str
    asset: str
    symbol: str
    decimals: int | None
    tainted: int
    first_tainted_at: int
    hops: int
    path: tuple[str, ...]  # tx hashes from the seed
    policy: str
    confidence: float
    evidence: str

    def row(self) -> dict:
        return {
            "flag_id": self.flag_id,
            "chain": self.chain,
            "address": self.address,
            "kind": self.kind,
            "entity": self.entity,
            "asset": self.asset,
            "symbol": self.symbol,
            "tainted_amount": format_units(self.tainted, self.decimals),
            "tainted_base_units": str(self.tainted),
            "first_tainted_at": iso_utc(self.first_tainted_at),
            "hops": self.hops,
            "path": ";".join(self.path),
            "policy": self.policy,
            "confidence": round(self.confidence, 3),
            "evidence": self.evidence,
        }


RoleLookup = Callable[[str], "tuple[str, str, str] | None"]  # address -> (role, entity, source)


def flag_id(chain: str, address: str, kind: str, asset: str) -> str:
    """Stable id: the same place gets the same id in every re-run (reviews attach to it)."""
    digest = hashlib.sha256(f"{chain}|{address}|{kind}|{asset}".encode()).hexdigest()
    return f"{kind.split('_')[0][:3].upper()}-{digest[:10]}"


def detect_flags(
    outcome: TraceOutcome,
    assets: dict[str, Asset],
    role_of: RoleLookup,
    symbols=None,
    chain_context=None,
) -> list[Flag]:
    """Every flag of a trace, ordered by kind then tainted amount (largest first).

    ``chain_context``: chain-specific facts beyond the transfers (Tron: a
    :class:`tracer.tron.signals.TronContext` with delegations, blacklist states and links)."""
    symbols = symbols or {}
    chain, policy = outcome.chain, outcome.params.policy
    into: dict[str, list[str]] = defaultdict(list)
    out_of: dict[str, list[str]] = defaultdict(list)
    for tid, (t, _, _) in outcome.edges.items():
        into[t.to_address].append(tid)
        out_of[t.from_address].append(tid)
    flags: list[Flag] = []

    def sym(asset: str) -> tuple[str, int | None]:
        if asset in assets:
            return assets[asset].symbol, assets[asset].decimals
        return symbols.get(asset, (asset[:10], None))

    def make(address, kind, entity, asset, tainted, tids, confidence, evidence) -> Flag:
        best = min(tids, key=lambda x: (outcome.edges[x][1].hop, x))
        path = path_to(best, outcome.edges)
        s, d = sym(asset)
        first = min(outcome.edges[x][0].timestamp for x in tids)
        hashes: list[str] = []
        for x in path:  # a swap is two edges of one transaction: name it once
            h = outcome.edges[x][0].tx_hash
            if not hashes or hashes[-1] != h:
                hashes.append(h)
        return Flag(
            flag_id(chain, address, kind, asset),
            chain,
            address,
            kind,
            entity,
            asset,
            s,
            d,
            tainted,
            first,
            len(path),
            tuple(hashes),
            policy,
            confidence,
            evidence,
        )

    deposits: set[str] = set()
    # --- Tron (issue 5): Tron deposit sweeps replace the rule below (tracer/tron/signals.py) ---
    tron = chain == "tron"
    if tron:
        from tracer.tron.signals import tron_deposits

        for address, asset, entity, tids, conf, evidence in tron_deposits(
            outcome, into, out_of, role_of, sym, chain_context
        ):
            tainted = sum(outcome.edges[x][1].tainted for x in tids)
            flags.append(
                make(address, "exchange_deposit", entity, asset, tainted, tids, conf, evidence)
            )
            deposits.add(address)
    # --- end Tron
    # exchange deposit addresses: forwarded traced funds to a labelled exchange
    for address, node in [] if tron else sorted(outcome.nodes.items()):
        if node.seed or node.result is None:
            continue
        own = role_of(address)
        forwards: dict[str, list] = defaultdict(list)
        for tid in out_of[address]:
            t, taint, _ = outcome.edges[tid]
            target = role_of(t.to_address)
            if target and target[0] == "exchange":
                forwards[t.asset].append((t, taint, target))
        labelled = own is not None and own[0] == "deposit"
        if (
            forwards
            and not labelled
            and not _sweeps_only(outcome.histories.get(address, []), address, role_of)
        ):
            forwards = {}
        if not forwards and not labelled:
            continue
        for asset in sorted(
            set(forwards) | (set(_received(outcome, into, address)) if labelled else set())
        ):
            tids = [x for x in into[address] if outcome.edges[x][0].asset == asset]
            if not tids:
                continue
            tainted = sum(outcome.edges[x][1].tainted for x in tids)
            conf, evidence, entity, matched = _deposit_evidence(
                outcome,
                address,
                asset,
                forwards.get(asset, []),
                tids,
                own if labelled else None,
                role_of,
                sym,
            )
            if not (matched or labelled):
                continue  # forwarded part of its funds to an exchange: a customer, not a deposit
            flags.append(
                make(address, "exchange_deposit", entity, asset, tainted, tids, conf, evidence)
            )
            deposits.add(address)

    # stops at services
    kinds = {"exchange": "exchange", "mixer": "mixer", "bridge": "bridge", "issuer": "issuer"}
    for address, node in sorted(outcome.nodes.items()):
        kind = kinds.get(node.stop_reason)
        if kind is None and node.stop_reason == "fan_out":
            kind = "high_degree"
        if kind is None:
            continue
        role = role_of(address)
        entity = role[1] if role else ""
        by_asset: dict[str, list[str]] = defaultdict(list)
        for x in into[address]:
            t = outcome.edges[x][0]
            if kind == "exchange" and t.from_address in deposits:
                continue  # flagged at the deposit address instead
            by_asset[t.asset].append(x)
        for asset, tids in sorted(by_asset.items()):
            tainted = sum(outcome.edges[x][1].tainted for x in tids)
            s, d = sym(asset)
            if kind == "high_degree":
                conf = 0.3
                evidence = (
                    f"unlabelled address with {node.degree} transfers (fan-out guard "
                    f"{outcome.params.fan_out}) received {format_units(tainted, d)} {s}; "
                    "not expanded: identify the service behind it"
                )
            else:
                conf = 0.9
                evidence = (
                    f"received {format_units(tainted, d)} tainted {s} in {len(tids)} "
                    f"transfer(s); label: {role[2] if role else ''}"
                )
                if kind == "exchange":
                    evidence = "direct deposit into a labelled exchange wallet; " + evidence
            flags.append(make(address, kind, entity, asset, tainted, tids, conf, evidence))

    # tainted stablecoin still held
    for address, node in sorted(outcome.nodes.items()):
        if node.result is None:
            continue
        for asset, held in sorted(node.result.held.items()):
            info = assets.get(asset)
            if not held or info is None or not info.issuer:
                continue
            tids = [x for x in into[address] if outcome.edges[x][0].asset == asset]
            if not tids and node.seed:
                tids = out_of[address]
            if not tids:
                continue
            role = "seed (theft address)" if node.seed else "address"
            evidence = (
                f"{role} still holds {format_units(held, info.decimals)} tainted "
                f"{info.symbol} of {format_units(node.result.balance.get(asset, 0), info.decimals)} "
                f"at the end of the data; {info.issuer} can freeze it"
            )
            flag = make(
                address, "freezable_balance", info.issuer, asset, held, tids, 0.95, evidence
            )
            if node.seed:  # the seed's path is empty: it is where the funds start
                first = node.result.first_tainted or flag.first_tainted_at
                flag = dataclasses.replace(flag, path=(), hops=0, first_tainted_at=first)
            flags.append(flag)
    if tron:  # --- Tron (issue 5): issuer blacklist state, linking evidence
        from tracer.tron.signals import tron_annotate

        flags = tron_annotate(outcome, flags, chain_context)
    order = {
        "exchange_deposit": 0,
        "freezable_balance": 1,
        "frozen_balance": 1,  # Tron (issue 5): a balance the issuer already blacklisted
        "exchange": 2,
        "bridge": 3,
        "mixer": 4,
        "issuer": 5,
        "high_degree": 6,
    }
    flags.sort(key=lambda f: (order.get(f.kind, 9), f.chain, f.asset, -f.tainted, f.address))
    return flags


def _received(outcome, into, address) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in into[address]:
        t, taint, _ = outcome.edges[x]
        out[t.asset] += taint.tainted
    return out


def _deposit_evidence(outcome, address, asset, forwards, tids, own_label, role_of, sym):
    """Confidence and evidence for one deposit address and asset."""
    s, d = sym(asset)
    history: list[Transfer] = outcome.histories.get(address, [])
    received = [outcome.edges[x][0] for x in tids]
    best = 0.0
    match_text = ""
    entity = own_label[1] if own_label else ""
    for f, _, target in forwards:
        entity = entity or target[1]
        for r in received:
            if r.position >= f.position:
                continue
            blocks = f.block_number - r.block_number
            diff = r.amount - f.amount
            ok = diff == 0 if asset != NATIVE else 0 <= diff <= ETH_TOLERANCE
            if not ok or blocks > DEPOSIT_WINDOW_BLOCKS:
                continue
            alpha = ETH_TOLERANCE if asset == NATIVE else max(1, r.amount // 100)
            kappa = 1 - (0.5 * abs(diff) / alpha + 0.5 * blocks / DEPOSIT_WINDOW_BLOCKS)
            kappa = max(0.0, min(1.0, kappa))
            if kappa > best:
                best = kappa
                match_text = (
                    f"received {format_units(r.amount, d)} {s} (tx {r.tx_hash}) and "
                    f"forwarded {format_units(f.amount, d)} {s} to {target[1] or 'exchange'} "
                    f"wallet {f.to_address} {blocks} blocks later (tx {f.tx_hash})"
                )
    parts = []
    conf = 0.0
    if forwards:
        if match_text:
            conf = 0.5 + 0.4 * best
            parts.append("behaviour: " + match_text)
        else:
            conf = 0.5
            f, _, target = forwards[0]
            parts.append(
                f"behaviour: forwarded {s} to labelled {target[1] or 'exchange'} wallet "
                f"{f.to_address} (tx {f.tx_hash}) without a one-to-one amount match"
            )
        topups = [
            t
            for t in history
            if t.to_address == address
            and t.asset == NATIVE
            and t.amount <= ETH_TOLERANCE
            and (r := role_of(t.from_address)) is not None
            and r[0] == "exchange"
        ]
        if topups:
            t = topups[0]
            funder = role_of(t.from_address)
            conf += 0.1
            parts.append(
                f"gas top-up of {format_units(t.amount, 18)} ETH from {funder[1] or 'exchange'} "
                f"funder {t.from_address} (tx {t.tx_hash})"
            )
    if own_label:
        conf = max(conf, 0.9) if forwards else 0.8
        parts.append(f"label: {own_label[2]}")
    return min(conf, 1.0), "; ".join(parts), entity, bool(match_text)


def _sweeps_only(history: Sequence[Transfer], address: str, role_of) -> bool:
    """A deposit address only ever sends to its exchange (sweeps): every outflow goes to one."""
    receivers = getattr(history, "out_receivers", None)  # columnar: no records built
    if receivers is not None:
        targets: Iterable[str] = receivers()
    else:
        targets = (
            t.to_address for t in history if t.from_address == address and t.to_address != address
        )
    any_out = False
    for target in targets:
        role = role_of(target)
        if role is None or role[0] != "exchange":
            return False
        any_out = True
    return any_out
