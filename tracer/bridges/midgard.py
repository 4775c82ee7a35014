"""Midgard client: THORChain's own record of what an inbound became, for when the destination
chain's data is not at hand.

``GET /v2/actions?txid=<INBOUND>`` returns the actions an inbound started (swap, refund, ...)
with their ``in``/``out`` legs. Shapes (API_NOTES 6.2, a real refund response): every number is a
string, ``date`` is in nanoseconds, amounts are in 1e8 units for every asset (ETH and tokens
too), every ``out`` carries a ``txID`` that is ``""`` for native THORChain payouts (RUNE,
affiliate fees). Pages are followed with ``nextPageToken`` until a page holds fewer than
``limit`` actions (the token is present on the last page too).

The client runs over :class:`tracer.sources.http.HttpClient`: raw responses are stored (a re-run
and a replay are offline), 429/5xx/timeouts/malformed bodies are retried with backoff, other 4xx
fail with a one-line :class:`tracer.sources.base.SourceError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from tracer.bridges.thormemo import MemoError, thor_txid
from tracer.sources.base import SourceError
from tracer.sources.http import (
    Fail,
    HttpClient,
    ResponseStore,
    Retry,
    one_line,
    parse_endpoint,
    retry_after,
)

PAGE_LIMIT = 50  # Midgard's maximum page size for /v2/actions
MAX_PAGES = 20
THOR_UNITS = 8  # Midgard amounts: 1e8 units for every asset


@dataclass(frozen=True, slots=True)
class MidgardCoin:
    asset: str  # THORChain asset text, e.g. "BTC.BTC", "ETH.USDT-0XDAC..."
    amount: int  # 1e8 units


@dataclass(frozen=True, slots=True)
class MidgardLeg:
    address: str
    coins: tuple[MidgardCoin, ...]
    txid: str  # upper-case hex as Midgard writes it; "" for native THORChain payouts
    height: int | None = None


@dataclass(frozen=True, slots=True)
class MidgardAction:
    type: str  # "swap", "refund", ...
    status: str  # "success" or "pending"
    date_ns: int
    height: int
    ins: tuple[MidgardLeg, ...]
    outs: tuple[MidgardLeg, ...]
    memo: str | None
    reason: str | None  # refund reason, when Midgard gives one

    @property
    def time(self) -> int:
        """Seconds since the epoch (``date`` is in nanoseconds)."""
        return self.date_ns // 1_000_000_000


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    raise ValueError(f"{what} is not an integer string")


def _leg(obj: object) -> MidgardLeg:
    if not isinstance(obj, Mapping):
        raise ValueError("in/out leg is not an object")
    coins = []
    for c in obj.get("coins") or ():
        if not isinstance(c, Mapping) or not isinstance(c.get("asset"), str):
            raise ValueError("coin without an asset")
        coins.append(MidgardCoin(c["asset"], _int(c.get("amount"), "coin amount")))
    txid = obj.get("txID", "")
    if not isinstance(txid, str):
        raise ValueError("txID is not a string")
    address = obj.get("address", "")
    if not isinstance(address, str):
        raise ValueError("address is not a string")
    height = obj.get("height")
    return MidgardLeg(
        address, tuple(coins), txid.upper(), _int(height, "height") if height else None
    )


def parse_action(obj: object) -> MidgardAction:
    """One ``actions[]`` entry (ValueError with a short reason if its shape is wrong)."""
    if not isinstance(obj, Mapping):
        raise ValueError("action is not an object")
    meta = obj.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ValueError("metadata is not an object")
    detail = meta.get(obj.get("type")) if isinstance(obj.get("type"), str) else None
    if not isinstance(detail, Mapping):
        detail = next((v for v in meta.values() if isinstance(v, Mapping)), {})
    memo = detail.get("memo") if isinstance(detail.get("memo"), str) else None
    reason = detail.get("reason") if isinstance(detail.get("reason"), str) else None
    kind, status = obj.get("type"), obj.get("status")
    if not isinstance(kind, str) or not isinstance(status, str):
        raise ValueError("action without type/status")
    return MidgardAction(
        kind,
        status,
        _int(obj.get("date"), "date"),
        _int(obj.get("height"), "height"),
        tuple(_leg(x) for x in obj.get("in") or ()),
        tuple(_leg(x) for x in obj.get("out") or ()),
        memo,
        reason,
    )


class MidgardClient:
    """``/v2/actions`` over the shared HTTP plumbing (store, retries, request budget)."""

    def __init__(
        self,
        url: str,
        *,
        cache: str | None = None,
        rps: float | None = None,
        timeout: float = 30.0,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_pages: int = MAX_PAGES,
    ):
        endpoint = parse_endpoint(url, "--midgard")
        self.base = endpoint.url.rstrip("/")
        if self.base.endswith("/v2"):
            self.base = self.base[:-3]
        self.public = endpoint.public.rstrip("/")
        if rps is None and not endpoint.loopback:
            rps = 2.0
        self.http = HttpClient(
            f"midgard ({self.public})",
            endpoint,
            store=ResponseStore(cache),
            rps=rps,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.max_pages = int(max_pages)
        self.requests = 0

    @staticmethod
    def _parse(status: int, body: bytes, headers) -> dict:
        if status == 429 or status >= 500 or status == 408:
            raise Retry(f"HTTP {status}", retry_after(headers))
        if status >= 400:
            text = one_line(body.decode("utf-8", errors="replace"), 160) or "no body"
            raise Fail(f"HTTP {status}: {text}")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Retry("malformed body") from None
        if not isinstance(data, dict) or not isinstance(data.get("actions"), list):
            raise Retry("malformed body (no actions list)")
        return data

    def actions(self, txid: str) -> list[MidgardAction]:
        """Every action of inbound ``txid`` (any spelling of the hash), oldest page first."""
        try:
            wanted = thor_txid(txid)
        except MemoError as e:
            raise SourceError(f"midgard: {e}") from None
        out: list[MidgardAction] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(self.max_pages):
            params = {"txid": wanted, "limit": str(PAGE_LIMIT)}
            if token:
                params["nextPageToken"] = token
            self.requests += 1
            page = self.http.fetch(
                "GET",
                self.base + "/v2/actions",
                key={"api": "midgard-v2", "url": self.public + "/v2/actions", "params": params},
                parse=self._parse,
                what=f"actions of {wanted[:12]}…",
                params=params,
            ).value
            rows = page["actions"]
            for row in rows:
                try:
                    action = parse_action(row)
                except ValueError as e:
                    raise SourceError(f"midgard: malformed action for {wanted}: {e}") from None
                if action not in out:  # pages may overlap when new actions arrive meanwhile
                    out.append(action)
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            token = meta.get("nextPageToken") if isinstance(meta, dict) else None
            if len(rows) < PAGE_LIMIT or not isinstance(token, str) or not token:
                return out
            if token in seen:
                raise SourceError(f"midgard ({self.public}): the paging token repeats")
            seen.add(token)
        raise SourceError(f"midgard ({self.public}): more than {self.max_pages} pages for {wanted}")


__all__ = [
    "PAGE_LIMIT",
    "THOR_UNITS",
    "MidgardAction",
    "MidgardClient",
    "MidgardCoin",
    "MidgardLeg",
    "parse_action",
]
