"""Readers for the label formats investigators meet, each into a :class:`RawBatch`.

=========================  ================================================================
format                     files
=========================  ================================================================
``ofac-list``              OFAC SDN addresses per asset, as 0xB10C's extractor writes them:
                           ``sanctioned_addresses_<ASSET>.txt`` (one per line) / ``.json``
``ofac-sdn-xml``           Treasury's ``sdn_advanced.xml`` ("Digital Currency Address - XBT"
                           features of each distinct party)
``etherscan-csv``          brianleect/etherscan-labels ``data/<explorer>/accounts/<label>.csv``
                           (``,Address,Name Tag,Balance,Txn Count``)
``etherscan-combined``     brianleect/etherscan-labels ``data/<explorer>/combined/*.json``
                           (address -> ``{"name", "labels"}``)
``eth-labels-json``        dawsbot/eth-labels ``data/<explorer>/<label>/accounts.json`` and
                           ``tokens.json``
``eth-labels-csv``         dawsbot/eth-labels ``src/mainnet/<label>/all.csv``
                           (``address,nameTag``)
``forta-csv``              forta-network/labelled-datasets ``labels/<chain id>/*.csv``
``tracer-csv``             tracer's own flat list: ``chain,address,label,source`` plus optional
                           ``category,entity,role,confidence,lastmod,concepts`` (for bulk
                           lists and your own findings)
=========================  ================================================================

Which chain a scrape belongs to comes from its explorer folder (:data:`EXPLORER_CHAINS`): only
etherscan.io labels are Ethereum labels; bscscan, polygonscan, ... stay on their own chains.
Explorers of chains tracer cannot validate (fantom, celo, gnosis) are skipped with one warning.
A role is derived from the source's own label (Etherscan's label-cloud slug, OFAC listing,
Forta's category) with :func:`slug_role`; the slug itself is kept as the label's category.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.sax
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tracer.addresses import EXTRA_EVM_CHAINS, detect_chain
from tracer.chains import CHAINS
from tracer.importers._rows import (
    RAW_SCHEMA,
    RawBatch,
    RowBuilder,
    clean_text,
    line_finder,
)
from tracer.labels import role_for_concepts

__all__ = [
    "EXPLORER_CHAINS",
    "EXPLORER_URLS",
    "FORMATS",
    "LabelFormatError",
    "OFAC_ASSET_CHAINS",
    "read_label_file",
    "sniff",
    "slug_role",
]

_SUPPORTED_CHAINS = frozenset(CHAINS) | EXTRA_EVM_CHAINS


class LabelFormatError(ValueError):
    """The file is not in any known label format, or cannot be read as a whole."""


# --------------------------------------------------------------------------------------------
# vocabulary

#: Explorer folder of a scrape -> tracer chain name (None: chain tracer cannot validate).
EXPLORER_CHAINS: dict[str, str | None] = {
    "etherscan": "ethereum",
    "mainnet": "ethereum",
    "bscscan": "bsc",
    "polygonscan": "polygon",
    "optimism": "optimism",
    "arbiscan": "arbitrum",
    "avalanche": "avalanche",
    "snowtrace": "avalanche",
    "basescan": "base",
    "ftmscan": None,
    "celo": None,
    "gnosis": None,
}

EXPLORER_URLS = {
    "ethereum": "https://etherscan.io/address/",
    "bsc": "https://bscscan.com/address/",
    "polygon": "https://polygonscan.com/address/",
    "optimism": "https://optimistic.etherscan.io/address/",
    "arbitrum": "https://arbiscan.io/address/",
    "avalanche": "https://snowtrace.io/address/",
    "base": "https://basescan.org/address/",
}

#: Forta folder (EVM chain id) -> chain.
FORTA_CHAINS = {
    "1": "ethereum",
    "10": "optimism",
    "56": "bsc",
    "137": "polygon",
    "8453": "base",
    "42161": "arbitrum",
    "43114": "avalanche",
}

#: OFAC SDN asset code -> chain. ``None``: token on several networks, placed by address form.
#: Assets not listed (LTC, BCH, XMR, ZEC, ...) are chains tracer cannot validate.
OFAC_ASSET_CHAINS: dict[str, str | None] = {
    "XBT": "bitcoin",
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "TRX": "tron",
    "ARB": "arbitrum",
    "BSC": "bsc",
    "USDT": None,
    "USDC": None,
}

OFAC_LIST_URL = (
    "https://home.treasury.gov/policy-issues/financial-sanctions/"
    "specially-designated-nationals-and-blocked-persons-list-sdn-human-readable-lists"
)
OFAC_XML_URL = "https://sanctionslistservice.ofac.treas.gov/ (SDN list, sdn_advanced.xml)"
ETHERSCAN_LABELS_REPO = "https://github.com/brianleect/etherscan-labels"
ETH_LABELS_REPO = "https://github.com/dawsbot/eth-labels"
FORTA_REPO = "https://github.com/forta-network/labelled-datasets"

#: GraphSense confidence levels used for imported lists (see tracer.labels.CONFIDENCE_LEVELS).
CONF_AUTHORITY = 60  # authority_data: a government list
CONF_WEB_CRAWL = 20  # web_crawl: scraped explorer labels

_EXCHANGES = frozenset(
    """
    abcc allbit ascendex binance bitfinex bitget bithumb bitmart bitmex bitpanda bitstamp
    bittrex bybit changenow cobinhood coinbase coinbit coinhako coinlist coinmetro coinone
    coinsquare coss-io crex24 crypto-com deribit digifinex exchange fixedfloat ftx gate-io
    gemini hitbtc hoo-com hotbit huobi htx korbit kraken kryptono kucoin latoken lcx-ag liquid
    maskex mexc okex okx otc paribu poloniex quadrigacx remitano shapeshift tidex topbtc upbit
    uphold yunbi zb-com hot-wallet cold-wallet
    """.split()
)
_MIXERS = frozenset({"tornado-cash", "ethereum-mixer", "typhoon-cash", "mixer", "mixing"})
_BRIDGE_PROJECTS = frozenset(
    {
        "multichain",
        "wormhole",
        "celer-network",
        "hop-protocol",
        "across-protocol",
        "connext",
        "synapse",
        "optimism",
        "arbitrum",
        "arbitrum-one",
        "polygon-matic",
        "avalanche",
        "layer-2",
        "axelar",
        "stargate",
        "cross-chain",
        "interoperability-cross-chain",
    }
)
_DEXES = frozenset(
    {
        "dex",
        "dex-ag",
        "uniswap",
        "sushiswap",
        "1inch",
        "paraswap",
        "0x-protocol",
        "kyberswap",
        "curve-fi",
        "balancer",
        "pancakeswap",
        "cow-protocol",
        "bancor",
        "trader-joe",
        "camelot",
    }
)
_SANCTIONS = frozenset({"ofac-sanctions-lists", "blocked"})
_THEFT = {
    "heist": "hacking",
    "exploit": "exploit",
    "phish-hack": "phishing",
    "hack": "hacking",
    "scam": "scam",
}
_NOT_A_POOL = re.compile(
    r"governance|vesting|token|staking|deployer|grant|fee manager|community fund|echoer|"
    r"verifier|registry|poseidon|reward|mining|miner|helper|unwrapper|vault|tree|donate|team",
    re.I,
)
_BRIDGE_NAME = re.compile(r"\bc?bridge\b|\bportal\b|\brouter\b|\bgateway\b|\bmessenger\b", re.I)
_SWAP_NAME = re.compile(r"router|swap|pool|pair|aggregat|settlement|exchange proxy|\bamm\b", re.I)
_THEFT_NAME = re.compile(r"exploit|hacker|heist|attacker|drainer|scammer|phish", re.I)
_DEPOSIT_NAME = re.compile(r"\bdeposit address\b|: deposit$", re.I)
_TRAILING_NUMBER = re.compile(r"\s+\d+$")


def slug_role(slug: str, name: str | None) -> tuple[str, list[str]]:
    """``(role, concepts)`` for an explorer label-cloud slug and the address's name tag.

    Exchanges (by slug), mixers (pools and routers of mixer projects, not their governance or
    token contracts), bridges (the ``bridge`` slug, and bridge/router contracts of bridge
    projects), DEX routers and pools (``swap``), sanctions lists and theft labels (``heist``,
    ``exploit``, ``phish-hack``) get a role; anything else is ``other``. The concepts are the
    slug plus GraphSense ids the decision rests on.
    """
    slug = slug.lower()
    name = name or ""
    concepts = [slug]
    role = "other"
    if slug in _EXCHANGES or slug == "binance-deposit":
        role = "deposit" if slug == "binance-deposit" or _DEPOSIT_NAME.search(name) else "exchange"
        concepts.append("deposit_address" if role == "deposit" else "exchange")
    elif slug in _SANCTIONS:
        role = "sanctioned"
        concepts.append("sanction")
    elif slug in _THEFT:
        role = "thief"
        concepts.append(_THEFT[slug])
    elif slug in _MIXERS:
        if not _NOT_A_POOL.search(name):
            role = "mixer"
            concepts.append("mixing_service")
    elif slug == "bridge" or (slug in _BRIDGE_PROJECTS and _BRIDGE_NAME.search(name)):
        role = "bridge"
        concepts.append("defi_bridge")
    elif slug in _DEXES and (slug in ("dex", "dex-ag") or _SWAP_NAME.search(name)):
        role = "swap"
        concepts.append("defi_dex")
    if role == "other" and _THEFT_NAME.search(name):
        role = "thief"
        concepts.append("exploit")
    return role, concepts


def _entity(name: str | None, slug: str, role: str) -> str | None:
    """Entity from a name tag: the part before ':' ("Binance: Hot Wallet"), or for exchange
    slugs the name without its trailing number ("Binance 14"); None when unknown."""
    name = (name or "").strip()
    if ":" in name:
        head = name.split(":", 1)[0].strip()
        return head or None
    if role in ("exchange", "deposit"):
        if name:
            return _TRAILING_NUMBER.sub("", name) or None
        return slug.replace("-", " ").title().replace("Io", "io").replace("Com", "com")
    return None


# --------------------------------------------------------------------------------------------
# sniffing


def _explorer_of(path: Path, below: str) -> str | None:
    """Explorer folder name above ``below`` ("accounts"/"combined") or the label folder."""
    parts = path.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == below and i >= 1:
            return parts[i - 1]
    return None


def _head(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(size)
    except OSError as e:
        raise LabelFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    return data.decode("utf-8", errors="replace").lstrip("\ufeff")


def sniff(path: str | os.PathLike) -> str:
    """Format name of a label file (see the module table); LabelFormatError if unknown."""
    p = Path(path)
    name = p.name.lower()
    suffix = p.suffix.lower()
    if suffix in (".csv", ".json", ".txt") and _head(p, 64).strip() in ("", '""', "[]", "{}"):
        return "empty"
    if re.fullmatch(r"sanctioned_addresses_[a-z0-9]+\.(txt|json)", name):
        return "ofac-list"
    if suffix == ".xml":
        head = _head(p)
        if "Digital Currency Address" in head or "<Sanctions" in head or "sdn" in name:
            return "ofac-sdn-xml"
        raise LabelFormatError(f"{p}: XML file is not an OFAC sdn_advanced.xml")
    if suffix == ".csv":
        first = _head(p).splitlines()[0] if _head(p) else ""
        cols = [c.strip().strip('"').lower() for c in first.split(",")]
        if "address" in cols and "name tag" in cols:
            return "etherscan-csv"
        if cols[:2] == ["address", "nametag"]:
            return "eth-labels-csv"
        if (
            cols
            and cols[0] in ("banned_address", "contract_address")
            or (cols[:2] == ["address", "etherscan_tag"])
        ):
            return "forta-csv"
        if {"chain", "address", "label", "source"} <= set(cols):
            return "tracer-csv"
        raise LabelFormatError(
            f"{p}: unknown CSV label layout (header {first[:80]!r}); known: Etherscan scrapes, "
            "eth-labels, Forta, or tracer's chain,address,label,source"
        )
    if suffix == ".json":
        head = _head(p).lstrip()
        if head.startswith("{"):
            return "etherscan-combined"
        if head.startswith("["):
            if '"nameTag"' in head or '"tokenName"' in head or head[1:].strip() in ("", "]"):
                return "eth-labels-json"
        raise LabelFormatError(
            f"{p}: unknown JSON label layout; known: Etherscan combined labels "
            "(address -> name/labels), eth-labels accounts.json/tokens.json, OFAC lists"
        )
    raise LabelFormatError(f"{p}: no label importer for {suffix or 'files without extension'!r}")


# --------------------------------------------------------------------------------------------
# OFAC


def _ofac_chain(asset: str, text: str) -> tuple[str | None, str | None]:
    """(chain, None) or (None, reason) for an OFAC asset code and address text."""
    chain = OFAC_ASSET_CHAINS.get(asset, "")
    if chain:
        return chain, None
    if chain is None:  # multi-network token: place by the address form
        found = detect_chain(text)
        if found:
            return found, None
        t = text.strip()
        guess = "ethereum" if t[:2].lower() == "0x" else "tron" if t[:1] == "T" else "bitcoin"
        return guess, None  # invalid anyway: normalize() will say why on that chain
    return None, f"asset {asset}: chain not supported by tracer"


def read_ofac_list(path: Path) -> RawBatch:
    m = re.fullmatch(r"sanctioned_addresses_([A-Za-z0-9]+)\.(txt|json)", path.name)
    if not m:
        raise LabelFormatError(f"{path}: not an OFAC list (sanctioned_addresses_<ASSET>.txt)")
    asset = m.group(1).upper()
    text = _read_text(path)
    if m.group(2).lower() == "json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise LabelFormatError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
        if not isinstance(values, list):
            raise LabelFormatError(f"{path}: OFAC JSON list must be an array of addresses")
        find = line_finder(text)
        entries, pos = [], 0
        for v in values:
            if not isinstance(v, str):
                entries.append((None, v))
                continue
            line, pos = find(json.dumps(v), pos)
            entries.append((line, v))
    else:
        entries = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1)]
    rows = RowBuilder()
    warnings: list[str] = []
    unsupported = []
    source = (
        f"{OFAC_LIST_URL} (OFAC SDN list, digital currency addresses {asset}; file {path.name})"
    )
    for line, value in entries:
        if not isinstance(value, str):
            warnings.append(f"{path}:{line or '?'}: entry is not a text address, skipped")
            continue
        if not value.strip() or value.lstrip().startswith("#"):
            continue
        chain, reason = _ofac_chain(asset, value)
        if chain is None:
            unsupported.append(line)
            continue
        rows.add(
            chain,
            value,
            line,
            f"OFAC SDN list: sanctioned {asset} address",
            "sanction",
            "sanctioned",
            source,
            CONF_AUTHORITY,
            concepts=("sanction",),
        )
    if unsupported:
        warnings.append(
            f"{path}:{unsupported[0]}: {len(unsupported)} address(es) skipped: asset {asset} "
            "is on a chain tracer does not support"
        )
    dropped = len(unsupported) + sum(1 for _, v in entries if not isinstance(v, str))
    return RawBatch(str(path), "ofac-list", rows.table(), warnings, dropped)


class _SdnHandler(xml.sax.ContentHandler):
    """Streams sdn_advanced.xml: feature types, then each party's name and currency addresses."""

    def __init__(self) -> None:
        super().__init__()
        self.locator = None
        self.feature_types: dict[str, str] = {}  # FeatureType ID -> asset code
        self.rows: list[tuple[str, str, int | None, str | None]] = []  # asset, address, line, name
        self.issued: list[str] = []
        self._stack: list[str] = []
        self._text: list[str] = []
        self._ftype_id: str | None = None
        self._party_rows: list[tuple[str, str, int | None]] = []
        self._party_name: str | None = None
        self._primary = False
        self._name_parts: list[str] = []
        self._feature_asset: str | None = None
        self._detail_line: int | None = None

    def setDocumentLocator(self, locator):  # noqa: N802 - SAX API
        self.locator = locator

    def startElement(self, name, attrs):  # noqa: N802 - SAX API
        local = name.rsplit(":", 1)[-1]
        self._stack.append(local)
        self._text = []
        if local == "FeatureType":
            self._ftype_id = attrs.get("ID")
        elif local == "DistinctParty":
            self._party_rows, self._party_name = [], None
        elif local == "Alias":
            self._primary = attrs.get("Primary", "").lower() == "true"
            self._name_parts = []
        elif local == "Feature":
            self._feature_asset = self.feature_types.get(attrs.get("FeatureTypeID", ""))
        elif local == "VersionDetail":
            self._detail_line = self.locator.getLineNumber() if self.locator else None

    def characters(self, content):
        self._text.append(content)

    def endElement(self, name):  # noqa: N802 - SAX API
        local = name.rsplit(":", 1)[-1]
        text = "".join(self._text).strip()
        self._text = []
        parent = self._stack[-2] if len(self._stack) > 1 else ""
        if local == "FeatureType" and self._ftype_id is not None:
            if text.startswith("Digital Currency Address - "):
                self.feature_types[self._ftype_id] = text.rsplit("-", 1)[-1].strip().upper()
            self._ftype_id = None
        elif local == "NamePartValue" and self._primary:
            self._name_parts.append(text)
        elif local == "Alias":
            if self._primary and self._name_parts and self._party_name is None:
                self._party_name = " ".join(self._name_parts)
            self._primary = False
        elif local == "VersionDetail" and self._feature_asset and "FeatureVersion" in parent:
            self._party_rows.append((self._feature_asset, text, self._detail_line))
        elif local == "Feature":
            self._feature_asset = None
        elif local == "DistinctParty":
            for asset, address, line in self._party_rows:
                self.rows.append((asset, address, line, self._party_name))
            self._party_rows = []
        elif local in ("Year", "Month", "Day") and "DateOfIssue" in self._stack[:-1]:
            self.issued.append(text)
        self._stack.pop()


def read_sdn_xml(path: Path) -> RawBatch:
    handler = _SdnHandler()
    parser = xml.sax.make_parser()
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(handler)
    try:
        parser.parse(str(path))
    except xml.sax.SAXParseException as e:
        raise LabelFormatError(
            f"{path}:{e.getLineNumber()}: malformed XML: {e.getMessage()}"
        ) from None
    except OSError as e:
        raise LabelFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if not handler.feature_types:
        raise LabelFormatError(
            f"{path}: no 'Digital Currency Address - ...' feature types: not an sdn_advanced.xml"
        )
    lastmod = None
    if len(handler.issued) >= 3:
        y, mo, d = handler.issued[:3]
        if y.isdigit() and mo.isdigit() and d.isdigit():
            lastmod = f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    rows = RowBuilder()
    warnings: list[str] = []
    unsupported: dict[str, list] = {}
    for asset, address, line, name in handler.rows:
        chain, _ = _ofac_chain(asset, address)
        if chain is None:
            unsupported.setdefault(asset, []).append(line)
            continue
        party = clean_text(name)
        rows.add(
            chain,
            address,
            line,
            f"OFAC SDN: {party}" if party else f"OFAC SDN list: sanctioned {asset} address",
            "sanction",
            "sanctioned",
            f"{OFAC_XML_URL}; digital currency address - {asset}",
            CONF_AUTHORITY,
            entity=party,
            lastmod=lastmod,
            concepts=("sanction",),
        )
    for asset, lines in sorted(unsupported.items()):
        warnings.append(
            f"{path}:{lines[0] or '?'}: {len(lines)} {asset} address(es) skipped: chain not "
            "supported by tracer"
        )
    dropped = sum(len(v) for v in unsupported.values())
    return RawBatch(str(path), "ofac-sdn-xml", rows.table(), warnings, dropped)


# --------------------------------------------------------------------------------------------
# explorer scrapes


def _scrape_chain(path: Path, explorer: str | None) -> tuple[str | None, str | None]:
    """(chain, None) or (None, warning) for an explorer folder name."""
    if explorer is None:
        raise LabelFormatError(
            f"{path}: cannot tell the explorer (chain): expected it under "
            "<explorer>/accounts/, <explorer>/combined/ or data/<explorer>/<label>/"
        )
    key = explorer.lower()
    if key not in EXPLORER_CHAINS:
        raise LabelFormatError(
            f"{path}: unknown explorer folder {explorer!r} (known: {', '.join(EXPLORER_CHAINS)})"
        )
    chain = EXPLORER_CHAINS[key]
    if chain is None:
        return None, f"{path}: explorer {explorer!r} is a chain tracer does not support, skipped"
    return chain, None


def _scrape_source(chain: str, address: str, slug: str, repo: str, date: str) -> str:
    base = EXPLORER_URLS.get(chain, "")
    return f"{base}{address.strip()} (label '{slug}', explorer scrape {repo}, {date})"


def _add_scraped(
    rows: RowBuilder,
    chain: str,
    address: str,
    line: int | None,
    name: str | None,
    slugs: list[str],
    repo: str,
    date: str,
) -> None:
    name = clean_text(name)
    slugs = slugs or ["unlabelled"]
    decided = [slug_role(slug, name) for slug in slugs]
    concepts = [c for _, cs in decided for c in cs]
    best_role, _ = role_for_concepts(concepts)
    best_slug = next(
        (s for s, (r, _) in zip(slugs, decided, strict=True) if r == best_role), slugs[0]
    )
    label = name or f"{best_slug} (explorer label)"
    rows.add(
        chain,
        address,
        line,
        label,
        best_slug,
        best_role,
        _scrape_source(chain, address, ",".join(slugs) or best_slug, repo, date),
        CONF_WEB_CRAWL,
        entity=_entity(name, best_slug, best_role),
        concepts=concepts,
    )


def read_etherscan_csv(path: Path) -> RawBatch:
    chain, skip = _scrape_chain(path, _explorer_of(path, "accounts"))
    if chain is None:
        return RawBatch(str(path), "etherscan-csv", RAW_SCHEMA.empty_table(), [skip])
    slug = path.stem
    rows = RowBuilder()
    warnings: list[str] = []
    for line, rec in _csv_records(path):
        _add_scraped(
            rows,
            chain,
            rec.get("address") or "",
            line,
            rec.get("name tag"),
            [slug],
            ETHERSCAN_LABELS_REPO,
            "2023",
        )
    return RawBatch(str(path), "etherscan-csv", rows.table(), warnings)


def read_etherscan_combined(path: Path) -> RawBatch:
    chain, skip = _scrape_chain(path, _explorer_of(path, "combined"))
    if chain is None:
        return RawBatch(str(path), "etherscan-combined", RAW_SCHEMA.empty_table(), [skip])
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelFormatError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise LabelFormatError(f"{path}: expected an object address -> {{name, labels}}")
    find = line_finder(text)
    pos = 0
    rows = RowBuilder()
    warnings: list[str] = []
    dropped = 0
    for address, entry in data.items():
        line, pos = find(json.dumps(address), pos)
        if not isinstance(entry, dict):
            warnings.append(f"{path}:{line or '?'}: entry is not an object, skipped")
            dropped += 1
            continue
        slugs = entry.get("labels") or []
        if not isinstance(slugs, list):
            slugs = [slugs]
        slugs = [str(s) for s in slugs if s]
        name = entry.get("name")
        _add_scraped(
            rows,
            chain,
            address,
            line,
            name if isinstance(name, str) else None,
            slugs,
            ETHERSCAN_LABELS_REPO,
            "2023",
        )
    return RawBatch(str(path), "etherscan-combined", rows.table(), warnings, dropped)


def read_eth_labels_json(path: Path) -> RawBatch:
    slug = path.parent.name
    chain, skip = _scrape_chain(path, path.parent.parent.name if path.parent.parent else None)
    if chain is None:
        return RawBatch(str(path), "eth-labels-json", RAW_SCHEMA.empty_table(), [skip])
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelFormatError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
    if not isinstance(data, list):
        raise LabelFormatError(f"{path}: expected an array of {{address, nameTag}} objects")
    find = line_finder(text)
    pos = 0
    rows = RowBuilder()
    warnings: list[str] = []
    dropped = 0
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            warnings.append(f"{path}: entry #{i} has no address text, skipped")
            dropped += 1
            continue
        address = entry["address"]
        line, pos = find(json.dumps(address), pos)
        if "tokenName" in entry:
            token = clean_text(entry.get("tokenName"))
            symbol = clean_text(entry.get("tokenSymbol"))
            name = f"{token} ({symbol})" if token and symbol else token or symbol
        else:
            name = entry.get("nameTag") if isinstance(entry.get("nameTag"), str) else None
        _add_scraped(rows, chain, address, line, name, [slug], ETH_LABELS_REPO, "2024")
    return RawBatch(str(path), "eth-labels-json", rows.table(), warnings, dropped)


def read_eth_labels_csv(path: Path) -> RawBatch:
    slug = path.parent.name
    chain, skip = _scrape_chain(path, path.parent.parent.name if path.parent.parent else None)
    if chain is None:
        return RawBatch(str(path), "eth-labels-csv", RAW_SCHEMA.empty_table(), [skip])
    rows = RowBuilder()
    for line, rec in _csv_records(path):
        _add_scraped(
            rows,
            chain,
            rec.get("address") or "",
            line,
            rec.get("nametag"),
            [slug],
            ETH_LABELS_REPO,
            "2024",
        )
    return RawBatch(str(path), "eth-labels-csv", rows.table(), [])


def read_forta_csv(path: Path) -> RawBatch:
    chain_id = path.parent.name
    chain = FORTA_CHAINS.get(chain_id)
    if chain is None:
        raise LabelFormatError(
            f"{path}: cannot tell the chain: expected labels/<chain id>/ "
            f"(known ids: {', '.join(FORTA_CHAINS)})"
        )
    rows = RowBuilder()
    warnings: list[str] = []
    source = f"{FORTA_REPO} ({'/'.join(path.parts[-3:])})"
    for line, rec in _csv_records(path):
        if "banned_address" in rec:
            kind = (rec.get("data_source") or "").replace("etherscan-", "").replace("-list", "")
            _forta_row(
                rows, chain, rec["banned_address"], line, rec.get("wallet_tag"), kind, source
            )
        elif "contract_address" in rec:
            kind = rec.get("contract_creator_etherscan_label") or "exploit"
            tag = rec.get("contract_tag") or "malicious smart contract"
            _forta_row(rows, chain, rec["contract_address"], line, tag, kind, source)
            creator = rec.get("contract_creator")
            if creator:
                ctag = rec.get("contract_creator_tag") or f"deployer of malicious contract {tag}"
                _forta_row(rows, chain, creator, line, ctag, kind, source)
        elif "address" in rec:
            kind = (rec.get("etherscan_labels") or "phish-hack").split(",")[0].strip()
            _forta_row(rows, chain, rec["address"], line, rec.get("etherscan_tag"), kind, source)
        else:
            warnings.append(f"{path}:{line}: no address column, skipped")
    dropped = sum(1 for w in warnings if w.endswith("no address column, skipped"))
    return RawBatch(str(path), "forta-csv", rows.table(), warnings, dropped)


def _forta_row(rows, chain, address, line, tag, kind, source) -> None:
    kind = (kind or "exploit").strip().lower() or "exploit"
    role, concepts = slug_role(kind, tag)
    if role == "other":
        role, concepts = "thief", [kind, "exploit"]
    name = clean_text(tag)
    rows.add(
        chain,
        address or "",
        line,
        name or f"malicious address ({kind}, Forta)",
        kind,
        role,
        source,
        CONF_WEB_CRAWL,
        entity=_entity(name, kind, role),
        concepts=concepts,
    )


# --------------------------------------------------------------------------------------------
# tracer's flat CSV (bulk)

_FLAT_REQUIRED = ("chain", "address", "label", "source")
_FLAT_OPTIONAL = ("category", "entity", "role", "confidence", "lastmod", "concepts")


def _read_csv(path: Path, newlines_in_values: bool) -> pa.Table:
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in _FLAT_REQUIRED + _FLAT_OPTIONAL},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=newlines_in_values),
        )
    except (pa.ArrowInvalid, OSError) as e:
        raise LabelFormatError(
            f"{path}: cannot read CSV: {' '.join(str(e).split())[:200]}"
        ) from None
    return table.rename_columns([c.strip().lower() for c in table.column_names])


def _count_newlines(path: Path) -> tuple[int, bool]:
    """(number of b"\\n", whether the file ends without one)."""
    count, last = 0, b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count, last not in (b"\n", b"")


def _read_csv_with_lines(path: Path):
    """Arrow table of a tracer CSV plus the 1-based line of each row (header is line 1).

    Fast path: parallel parsing, valid when every physical line after the header is one row
    (checked by counting newlines). Otherwise (quoted newlines, blank lines) the file is parsed
    again with quoted newlines allowed and the lines are taken from Python's csv reader.
    """
    count, unterminated = _count_newlines(path)
    physical = count + (1 if unterminated else 0)
    try:
        table = _read_csv(path, newlines_in_values=False)
    except LabelFormatError:
        table = None
    if table is not None and table.num_rows == physical - 1:
        return table, np.arange(2, table.num_rows + 2, dtype=np.int64)
    table = _read_csv(path, newlines_in_values=True)
    lines = [line for line, _ in _csv_records(path)]
    if len(lines) != table.num_rows:
        raise LabelFormatError(
            f"{path}: CSV rows could not be matched to lines ({len(lines)} vs {table.num_rows})"
        )
    return table, np.array(lines, dtype=np.int64)


def read_tracer_csv(path: Path) -> RawBatch:
    """tracer's flat CSV, read column-wise with Arrow (millions of rows in seconds).

    ``role`` must be one of the engine roles when given, else it comes from ``category``
    (:data:`tracer.labels.CATEGORY_ROLES`); ``confidence`` is a number 0-100 or a GraphSense id
    (default ``unknown``). Rows missing a label or source are skipped with a warning.
    """
    from tracer.labels import CATEGORY_ROLES, CONFIDENCE_LEVELS, ROLES

    table, base = _read_csv_with_lines(path)
    names = table.column_names
    missing = [c for c in _FLAT_REQUIRED if c not in names]
    if missing:
        raise LabelFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    n = table.num_rows
    warnings: list[str] = []
    lines = pa.array(base)

    def col(name, default=None):
        if name in names:
            return table.column(name).combine_chunks()
        return pa.nulls(n, pa.string()) if default is None else pa.array([default] * n)

    label = pc.utf8_trim_whitespace(col("label"))
    source = pc.utf8_trim_whitespace(col("source"))
    category = col("category")
    role = col("role")
    # role: given (validated) or from the category
    role_given = pc.utf8_lower(pc.utf8_trim_whitespace(role))
    cat_lower = pc.utf8_lower(pc.fill_null(category, ""))
    cat_dict = pc.dictionary_encode(cat_lower)
    mapped = [CATEGORY_ROLES.get(c or "", "other") for c in cat_dict.dictionary.to_pylist()]
    role_from_cat = pa.array(mapped, type=pa.string()).take(cat_dict.indices)
    role_final = pc.coalesce(role_given, role_from_cat)
    bad_role = pc.invert(pc.is_in(role_final, value_set=pa.array(sorted(ROLES))))
    # confidence: number or GraphSense id
    conf_text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(col("confidence"), "unknown")))
    conf_dict = pc.dictionary_encode(conf_text)
    conf_values = []
    for c in conf_dict.dictionary.to_pylist():
        if c.isdigit() and int(c) <= 100:
            conf_values.append(int(c))
        else:
            conf_values.append(CONFIDENCE_LEVELS.get(c))
    confidence = pa.array(conf_values, type=pa.uint8()).take(conf_dict.indices)
    bad_conf = pc.is_null(confidence)
    missing_text = pc.or_(
        pc.or_kleene(pc.is_null(label), pc.equal(pc.fill_null(label, ""), "")),
        pc.or_kleene(pc.is_null(source), pc.equal(pc.fill_null(source, ""), "")),
    )
    bad = pc.or_(pc.or_(bad_role, bad_conf), missing_text)
    bad_idx = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    if len(bad_idx):
        line_np = base
        roles_py = role_final.take(pa.array(bad_idx)).to_pylist()
        confs_py = col("confidence").take(pa.array(bad_idx)).to_pylist()
        miss_py = missing_text.take(pa.array(bad_idx)).to_pylist()
        for i, r, c, m in zip(bad_idx.tolist()[:10_000], roles_py, confs_py, miss_py, strict=False):
            if m:
                reason = "missing label or source"
            elif r not in ROLES:
                reason = f"unknown role {r!r}"
            else:
                reason = f"unknown confidence {c!r}"
            warnings.append(f"{path}:{line_np[i]}: {reason}, skipped")
        if len(bad_idx) > 10_000:
            warnings.append(f"{path}: {len(bad_idx) - 10_000} more bad rows skipped (not listed)")
    out = pa.table(
        {
            "chain": col("chain"),
            "address": col("address"),
            "line": lines,
            "label": label,
            "category": pc.coalesce(category, role_final),
            "entity": col("entity"),
            "role": role_final,
            "source": source,
            "confidence": confidence,
            "lastmod": col("lastmod"),
            "concepts": col("concepts"),
        },
        schema=RAW_SCHEMA,
    )
    if len(bad_idx):
        keep = np.ones(n, dtype=bool)
        keep[bad_idx] = False
        out = out.filter(pa.array(keep))
    return RawBatch(str(path), "tracer-csv", out, warnings, int(len(bad_idx)))


# --------------------------------------------------------------------------------------------
# helpers and dispatch


def _read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except OSError as e:
        raise LabelFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise LabelFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _csv_records(path: Path):
    """(line, {lowercased header: value}) per CSV record; line = where the record starts."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise LabelFormatError(f"{path}:1: malformed CSV: {e}") from None
    keys = [h.strip().lower() for h in header]
    line = reader.line_num + 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                yield (
                    line,
                    {k: (v if v != "" else None) for k, v in zip(keys, row, strict=False) if k},
                )
            line = reader.line_num + 1
    except csv.Error as e:
        raise LabelFormatError(f"{path}:{reader.line_num}: malformed CSV: {e}") from None


def read_empty(path: Path) -> RawBatch:
    return RawBatch(str(path), "empty", RAW_SCHEMA.empty_table(), [f"{path}: empty list"])


FORMATS: dict[str, Callable[[Path], RawBatch]] = {
    "empty": read_empty,
    "ofac-list": read_ofac_list,
    "ofac-sdn-xml": read_sdn_xml,
    "etherscan-csv": read_etherscan_csv,
    "etherscan-combined": read_etherscan_combined,
    "eth-labels-json": read_eth_labels_json,
    "eth-labels-csv": read_eth_labels_csv,
    "forta-csv": read_forta_csv,
    "tracer-csv": read_tracer_csv,
}


def read_label_file(path: str | os.PathLike, fmt: str | None = None) -> RawBatch:
    """Read one file in its format (sniffed unless ``fmt`` is given) into a RawBatch."""
    p = Path(path)
    if not p.is_file():
        raise LabelFormatError(f"{p}: no such file")
    fmt = fmt or sniff(p)
    reader = FORMATS.get(fmt)
    if reader is None:
        raise LabelFormatError(f"unknown label format {fmt!r} (known: {', '.join(FORMATS)})")
    return reader(p)
