"""Inferred linkage for swap services and bridges that carry no identifier (SWFT-like desks).

The user pays the service's deposit address on the source chain; some time later the service's
payout wallet on the destination chain pays someone. Nothing on chain ties the two, so a link is
*inferred* from evidence and reported with a confidence:

* amount: the release is at most the deposit and within ``tolerance_bps`` below it, and both
  are the same-value asset with the same decimals (USDT -> USDT; never "any token");
* time: the release falls within ``window`` seconds after the deposit;
* recipient: it equals the destination the deposit declared (when the service records one);
* gas funder: the recipient's first native-coin funder also funded an address already tainted
  on the destination chain (the Deribit pattern: one TRX funder for every wave wallet).

Amount and time alone score at most 0.5, below the 0.6 link threshold: a decoy who bridges the
same amount at the same time is never linked on those grounds. When the two best candidates
score within ``margin`` of each other the deposit is left unresolved ("ambiguous"), never
guessed. Scores are rounded to three decimals so outputs are byte-stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracer.bridges.base import (
    BaseDecoder,
    BridgeDeposit,
    BridgeLink,
    BridgeRelease,
    comparable,
    fee_of,
)
from tracer.records import Transfer

#: Link threshold and the most amount + time alone can score.
THRESHOLD = 0.6
AMOUNT_TIME_MAX = 0.5


@dataclass
class Evidence:
    """What the orchestration knows beyond the two transfers (all optional).

    ``shared_funder(chain, recipient, before)`` returns (funder, tainted address it also
    funded) or None; ``asset_of(chain, asset)`` returns a :class:`tracer.chains.Asset` or None.
    """

    shared_funder: Callable[[str, str, int], tuple[str, str] | None] | None = None
    asset_of: Callable[[str, str], object] | None = None


@dataclass(frozen=True)
class Unresolved:
    """A deposit the matcher did not link, with one of the stop reasons and a detail line."""

    deposit: BridgeDeposit
    reason: str  # "no_release", "ambiguous" or "low_confidence"
    detail: str


@dataclass
class InferredDecoder(BaseDecoder):
    """A swap service known by its deposit and payout addresses (``contracts``, every chain)."""

    name: str = "swft"
    linkage: str = "inferred"
    contracts: dict[str, frozenset[str]] = field(default_factory=dict)
    window: int = 2 * 3600  # seconds after the deposit
    tolerance_bps: int = 300  # released may be up to 3% below the deposit
    threshold: float = THRESHOLD
    margin: float = 0.1

    def deposit_from_transfer(self, t: Transfer) -> BridgeDeposit | None:
        if not self.knows(t.chain, t.to_address) or self.knows(t.chain, t.from_address):
            return None
        return BridgeDeposit.paid_by(self.name, t)

    def release_from_transfer(self, t: Transfer) -> BridgeRelease | None:
        if not self.knows(t.chain, t.from_address) or self.knows(t.chain, t.to_address):
            return None
        if not t.success or t.amount <= 0:
            return None
        return BridgeRelease.paid_to(self.name, t)

    def link(
        self, deposits: Iterable[BridgeDeposit], releases: Iterable[BridgeRelease]
    ) -> list[BridgeLink]:
        return self.match(deposits, releases)[0]

    def match(
        self,
        deposits: Iterable[BridgeDeposit],
        releases: Iterable[BridgeRelease],
        evidence: Evidence | None = None,
    ) -> tuple[list[BridgeLink], list[Unresolved]]:
        """Links and unresolved deposits; each release is given to at most one deposit."""
        evidence = evidence or Evidence()
        releases = sorted(releases, key=lambda r: (r.time, r.chain, r.tx_hash, r.log_index))
        taken: set[str] = set()
        links: list[BridgeLink] = []
        unresolved: list[Unresolved] = []
        for d in sorted(deposits, key=lambda d: (d.time, d.key)):
            scored = []
            for r in releases:
                if r.key in taken:
                    continue
                found = self._score(d, r, evidence)
                if found is not None:
                    scored.append((found[0], r, found[1]))
            scored.sort(key=lambda s: (-s[0], s[1].time, s[1].key))
            if not scored:
                unresolved.append(Unresolved(d, "no_release", self._nothing(d)))
                continue
            best, release, reasons = scored[0]
            if len(scored) > 1 and best - scored[1][0] < self.margin:
                shown = ", ".join(f"{s[1].recipient} ({s[0]:.3f})" for s in scored[:4])
                unresolved.append(
                    Unresolved(
                        d, "ambiguous", f"{len(scored)} candidates within {self.margin}: {shown}"
                    )
                )
                continue
            if best < self.threshold:
                unresolved.append(
                    Unresolved(
                        d,
                        "low_confidence",
                        f"best candidate {release.recipient} scored {best:.3f} < {self.threshold}",
                    )
                )
                continue
            taken.add(release.key)
            extra = (
                f"next candidate scored {scored[1][0]:.3f}" if len(scored) > 1 else "only candidate"
            )
            lookup = evidence.asset_of
            links.append(
                BridgeLink(
                    d,
                    (release,),
                    "inferred",
                    best,
                    (*reasons, extra),
                    fee_of(d, (release,), lookup),
                )
            )
        return links, unresolved

    def _nothing(self, d: BridgeDeposit) -> str:
        hours = self.window / 3600
        return (
            f"no same-value release within {self.tolerance_bps / 100:g}% below "
            f"{d.amount} in {hours:g} h"
        )

    def _score(
        self, d: BridgeDeposit, r: BridgeRelease, evidence: Evidence
    ) -> tuple[float, tuple[str, ...]] | None:
        if r.chain == d.chain and d.dest_chain is None:
            return None  # a payout on the deposit's own chain is not a bridge hop
        if d.dest_chain is not None and r.chain != d.dest_chain:
            return None
        dt = r.time - d.time
        if dt < 0 or dt > self.window:
            return None
        if r.amount > d.amount or d.amount <= 0:
            return None
        fee = d.amount - r.amount
        if fee * 10_000 > d.amount * self.tolerance_bps:
            return None
        if not comparable(d, r, evidence.asset_of):
            return None
        fee_part = 1 - (fee * 10_000) / (d.amount * self.tolerance_bps) if self.tolerance_bps else 1
        time_part = 1 - dt / self.window if self.window else 1
        score = 0.4 + 0.05 * fee_part + 0.05 * time_part
        reasons = [
            f"released {r.amount} of {d.amount} base units "
            f"({fee * 10_000 / d.amount / 100:.2f}% below, tolerance {self.tolerance_bps / 100:g}%)",
            f"released {dt} s after the deposit (window {self.window} s)",
        ]
        if d.recipient and d.recipient == r.recipient:
            score += 0.4
            reasons.append("recipient is the destination the deposit declared")
        if evidence.shared_funder is not None:
            shared = evidence.shared_funder(r.chain, r.recipient, r.time)
            if shared is not None:
                score += 0.3
                reasons.append(
                    f"recipient's gas funder {shared[0]} also funded tainted {shared[1]}"
                )
        return round(min(score, 0.99), 3), tuple(reasons)


def decoders() -> list[InferredDecoder]:
    """The generic SWFT-like decoder, without addresses (``--bridges`` or a case adds them)."""
    return [InferredDecoder()]


__all__ = ["AMOUNT_TIME_MAX", "THRESHOLD", "Evidence", "InferredDecoder", "Unresolved", "decoders"]
