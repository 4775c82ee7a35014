"""Address labels: who controls an address, what role it plays in a trace, and who says so.

A :class:`Label` is one attribution from one source. Labels are never merged: an address named by
three sources has three labels, each with its source, confidence and origin (file and line), so a
report can show an exchange's compliance desk or a court exactly where every claim came from.

Labels come in three precedence tiers (:data:`TIERS`), highest first:

* ``case``: the investigator's own findings for this case;
* ``curated``: lists the team maintains and vouches for;
* ``imported``: third-party lists (GraphSense TagPacks, OFAC SDN lists, Etherscan scrapes,
  Forta datasets: :mod:`tracer.importers`).

:class:`LabelIndex` answers "what is known about this address" (:meth:`LabelIndex.lookup`) and
"what should the engine do here" (:meth:`LabelIndex.role_of`). The role choice is deterministic:
higher tier first, then higher confidence, then the fixed :data:`ROLE_PRIORITY` (the roles that
stop a trace come first), then source, label text and origin as plain tie-breakers.

Loaders map one file to ``(labels, warnings)``; :func:`load_labels` picks one per file name
(:data:`NAME_LOADERS`) or extension (:data:`LOADERS`). A bad entry in a file is skipped and
reported as a ``"file:line: reason"`` warning, never accepted; a file that cannot be read as a
whole raises :class:`LabelFileError`.

YAML files are GraphSense TagPacks (:func:`load_tagpack`) unless their ``kind`` says they are a
tracer case file (tier ``case``) or a curated entity file (tier ``curated``), see
:mod:`tracer.cases` and ``addresses/README.md``. CSV, JSON, XML and the OFAC ``.txt`` lists go
through :mod:`tracer.importers`. For millions of labels use :mod:`tracer.label_store`.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from tracer.addresses import InvalidAddress, chain_kind, detect_chain, normalize
from tracer.chains import UnknownChain

#: an EVM address already in canonical form (lower-case hex): no need to normalize it again
_CANONICAL_EVM = re.compile(r"0x[0-9a-f]{40}\Z").match

__all__ = [
    "CATEGORY_ROLES",
    "CONFIDENCE_LEVELS",
    "LOADERS",
    "MULTI_NETWORK_TOKENS",
    "NAME_LOADERS",
    "NETWORK_CHAINS",
    "ROLES",
    "ROLE_PRIORITY",
    "TIERS",
    "Label",
    "LabelFileError",
    "LabelIndex",
    "RoleMatch",
    "display_text",
    "engine_role_lookup",
    "label_unchecked",
    "load_actors",
    "load_labels",
    "load_list_file",
    "load_tagpack",
    "load_yaml_labels",
    "role_for_concepts",
]

# --------------------------------------------------------------------------------------------
# vocabulary

#: Precedence tiers, highest first.
TIERS = ("case", "curated", "imported")
_TIER_RANK = {t: i for i, t in enumerate(TIERS)}

#: Engine roles in tie-break priority order (first wins when tier and confidence are equal).
#: The roles at which the engine stops a trace come first (deposit, exchange, mixer, bridge, swap,
#: issuer: funds reached a service), so a tie never lets the engine expand a service address.
#: Then the roles that annotate but do not stop: sanctioned, thief, victim, other.
#: ``deposit`` (a customer deposit address, the freeze target) comes before the generic
#: ``exchange`` because it is more specific.
ROLE_PRIORITY = (
    "deposit",
    "exchange",
    "mixer",
    "bridge",
    "swap",
    "issuer",
    "sanctioned",
    "thief",
    "victim",
    "other",
)
ROLES = frozenset(ROLE_PRIORITY)
_ROLE_RANK = {r: i for i, r in enumerate(ROLE_PRIORITY)}

#: Concept (GraphSense ``category``/``abuse``/``concepts`` id, or our own) -> engine role.
#: Anything not listed maps to ``other``. When a tag carries several concepts (e.g. category
#: ``user`` and abuse ``sanction``), the one whose role comes first in :data:`ROLE_PRIORITY` wins.
CATEGORY_ROLES: dict[str, str] = {
    # exchanges and custodial services where funds pool and a freeze can be requested
    "exchange": "exchange",
    "hot_wallet": "exchange",
    "cold_wallet": "exchange",
    "warm_wallet": "exchange",
    "wallet_service": "exchange",  # custodial wallet provider (GraphSense: checksig reserves)
    "otc": "exchange",  # ours
    # exchange customer deposit addresses (ours; GraphSense has no such concept)
    "deposit": "deposit",
    "deposit_address": "deposit",
    # mixers
    "mixing_service": "mixer",
    "coinjoin": "mixer",
    "mixing": "mixer",  # GraphSense usage pattern
    "mixer": "mixer",  # ours
    # bridges
    "defi_bridge": "bridge",
    "bridge": "bridge",  # ours
    # swaps (DEX routers and pools)
    "defi_dex": "swap",
    "defi_dex_pair": "swap",
    "swap": "swap",  # ours
    "dex": "swap",  # ours
    # token issuers (contracts whose issuer can freeze balances)
    "issuer": "issuer",  # ours
    "stablecoin_issuer": "issuer",  # ours
    # sanctions and issuer blacklists
    "sanction": "sanctioned",
    "sanctioned": "sanctioned",  # ours
    "black_list": "sanctioned",  # not a taxonomy id, but used by GraphSense's usdt_blacklist.yaml
    "blacklist": "sanctioned",  # ours
    # perpetrators holding proceeds taken from victims: thefts, hacks, scams, fraud, extortion
    "hacking": "thief",
    "service_hack": "thief",
    "account_hack": "thief",
    "exploit": "thief",
    "perpetrator": "thief",
    "data_breach": "thief",
    "phishing": "thief",
    "scam": "thief",
    "social_engineering": "thief",
    "malware": "thief",
    "ransomware": "thief",
    "extortion": "thief",
    "sextortion": "thief",
    "investment_fraud": "thief",
    "ponzi_scheme": "thief",
    "pyramid_scheme": "thief",
    "payment_card_fraud": "thief",
    "thief": "thief",  # ours
    "theft": "thief",  # ours
    # victims
    "victim": "victim",
}

#: GraphSense confidence ids -> level (0-100), tagpack-tool HEAD. A numeric value is taken as is.
CONFIDENCE_LEVELS: dict[str, int] = {
    "override": 100,
    "ownership": 100,
    "ledger_immanent": 100,
    "manual_transaction": 90,
    "service_api": 70,
    "forensic_investigation": 70,
    "authority_data": 60,
    "trusted_provider": 50,
    "service_data": 50,
    "forensic": 50,
    "untrusted_transaction": 40,
    "web_crawl": 20,
    "heuristic": 10,
    "unknown": 5,
}

#: TagPack ``network`` (or ``currency`` when no network is given), upper-cased -> tracer chain.
#: Only networks whose addresses :mod:`tracer.addresses` can validate are listed; EVM side chains
#: are kept under their own chain name (their labels are not Ethereum labels). Anything else is
#: skipped with one warning per network and file.
NETWORK_CHAINS: dict[str, str] = {
    "BTC": "bitcoin",
    "BITCOIN": "bitcoin",
    "ETH": "ethereum",
    "ETHEREUM": "ethereum",
    "ERC20": "ethereum",
    "TRX": "tron",
    "TRON": "tron",
    "TRC20": "tron",
    "BSC": "bsc",
    "BEP20": "bsc",
    "MATIC": "polygon",
    "POLYGON": "polygon",
    "AVAX": "avalanche",  # C-chain 0x addresses; X-/P-chain ones fail validation
    "ARB": "arbitrum",
    "ARBITRUM": "arbitrum",
    "OP": "optimism",
    "OPTIMISM": "optimism",
    "BASE": "base",
}

#: Token currencies that live on several networks. A tag with one of these as currency and no
#: network is placed by its address form when that is unambiguous (Tron ``T...`` -> tron, Bitcoin
#: address -> bitcoin, e.g. Omni USDT); a ``0x`` address could be on any EVM chain, so it is
#: skipped with a warning.
MULTI_NETWORK_TOKENS = frozenset(
    {"USDT", "USDC", "BUSD", "DAI", "TUSD", "USDP", "PAX", "USDD", "WBTC", "WETH"}
)

_NETWORK_INFERABLE = ("tron", "bitcoin")

# TagPack fields
_HEADER_ONLY = frozenset({"title", "creator", "description", "owner", "is_public", "tags"})
_TAG_FIELDS = frozenset(
    {
        "label",
        "source",
        "currency",
        "network",
        "confidence",
        "context",
        "is_cluster_definer",
        "lastmod",
        "category",
        "abuse",
        "address",
        "tx_hash",
        "actor",
        "concepts",
        "tag_type",
    }
)
_MANDATORY_HEADER = ("title", "creator")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LabelFileError(ValueError):
    """A label file cannot be read at all (unreadable, malformed, missing mandatory header)."""


# --------------------------------------------------------------------------------------------
# Label


@dataclass(frozen=True, slots=True)
class Label:
    """One attribution of one address by one source.

    ``address`` is normalized on construction (:func:`tracer.addresses.normalize`), so an
    invalid address raises :class:`tracer.addresses.InvalidAddress`; other invalid fields raise
    ``ValueError``.
    """

    chain: str
    address: str  # canonical form of the chain
    label: str  # the source's own text ("Binance 14", "Ronin bridge exploiter")
    category: str  # concept id that decided the role (GraphSense taxonomy or ours)
    entity: str | None  # display name of the actor ("Binance", "Lazarus Group"), if known
    role: str  # one of ROLES
    source: str  # URL or citation; mandatory
    confidence: int  # 0-100
    origin: str  # where the label was read: "path:line" (or "path:tag #index")
    tier: str = "imported"  # one of TIERS
    lastmod: str | None = None  # ISO date of the source's last modification, if given
    concepts: tuple[str, ...] = ()  # every concept the source gave (category, abuse, concepts)

    def __post_init__(self) -> None:
        chain = self.chain.lower() if isinstance(self.chain, str) else self.chain
        object.__setattr__(self, "chain", chain)
        object.__setattr__(self, "address", normalize(chain, self.address))
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r} (known: {', '.join(ROLE_PRIORITY)})")
        if self.tier not in _TIER_RANK:
            raise ValueError(f"unknown tier {self.tier!r} (known: {', '.join(TIERS)})")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("source is mandatory")
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError("label text is mandatory")
        conf = self.confidence
        if isinstance(conf, bool) or not isinstance(conf, int) or not 0 <= conf <= 100:
            raise ValueError(f"confidence must be an int 0-100, got {conf!r}")

    def sort_key(self) -> tuple:
        """Precedence order: tier, confidence (high first), role priority, then stable text."""
        return (
            _TIER_RANK[self.tier],
            -self.confidence,
            _ROLE_RANK[self.role],
            self.source,
            self.label,
            self.origin,
            self.category,
            self.entity or "",
        )


def label_unchecked(
    chain: str,
    address: str,
    label: str,
    category: str,
    entity: str | None,
    role: str,
    source: str,
    confidence: int,
    origin: str,
    tier: str = "imported",
    lastmod: str | None = None,
    concepts: tuple[str, ...] = (),
) -> Label:
    """A :class:`Label` from fields that are already canonical and valid (no re-validation).

    For rows read back from a label store or validated column-wise by :mod:`tracer.importers`;
    anything else should call ``Label(...)``.
    """
    lab = object.__new__(Label)
    setattr_ = object.__setattr__
    setattr_(lab, "chain", chain)
    setattr_(lab, "address", address)
    setattr_(lab, "label", label)
    setattr_(lab, "category", category)
    setattr_(lab, "entity", entity)
    setattr_(lab, "role", role)
    setattr_(lab, "source", source)
    setattr_(lab, "confidence", confidence)
    setattr_(lab, "origin", origin)
    setattr_(lab, "tier", tier)
    setattr_(lab, "lastmod", lastmod)
    setattr_(lab, "concepts", concepts)
    return lab


_DISPLAY_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def display_text(text: object, limit: int = 200) -> str:
    """One line of untrusted text for a terminal: control and bidi characters removed, cut."""
    if text is None:
        return ""
    shown = " ".join(_DISPLAY_UNSAFE.sub(" ", str(text)).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def role_for_concepts(concepts: Iterable[str]) -> tuple[str, str]:
    """``(role, deciding concept)`` for a tag's concepts; ``("other", first or "unknown")``.

    The concept whose role comes first in :data:`ROLE_PRIORITY` decides.
    """
    best: tuple[int, str, str] | None = None
    first = None
    for concept in concepts:
        if not concept:
            continue
        first = first or concept
        role = CATEGORY_ROLES.get(concept.lower(), "other")
        rank = _ROLE_RANK[role]
        if best is None or rank < best[0]:
            best = (rank, role, concept)
    if best is None:
        return "other", "unknown"
    if best[1] == "other":
        return "other", first
    return best[1], best[2]


# --------------------------------------------------------------------------------------------
# index


class RoleMatch:
    """What :meth:`LabelIndex.role_of` returns: the role, a display name (entity if known, else
    the label text) and the deciding label; unpacks as ``role, name, label``.

    A label store may answer the role of a whole frontier from its precomputed role table and
    read the deciding label (hence the name) only when asked: ``load`` returns it.
    """

    __slots__ = ("role", "_name", "_label", "_load")

    def __init__(
        self,
        role: str,
        name: str | None = None,
        label: Label | None = None,
        *,
        load: Callable[[], Label] | None = None,
    ) -> None:
        if label is None and load is None:
            raise ValueError("RoleMatch needs the deciding label or a way to load it")
        self.role = role
        self._name = name
        self._label = label
        self._load = load

    @property
    def label(self) -> Label:
        if self._label is None:
            self._label = self._load()
        return self._label

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.label.entity or self.label.label
        return self._name

    def __iter__(self):
        return iter((self.role, self.name, self.label))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RoleMatch | tuple):  # compares like the (role, name, label) tuple
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"RoleMatch(role={self.role!r}, name={self.name!r}, label={self.label!r})"


class LabelIndex:
    """In-memory index of labels keyed by ``(chain, canonical address)``.

    The surface is deliberately small (``add``, ``lookup``, ``role_of``, ``entity_of``,
    ``__len__``, ``__iter__``) so an on-disk store can replace it. Every list is kept sorted by
    :meth:`Label.sort_key`, so ``lookup(...)[0]`` is the label ``role_of`` chooses.
    """

    def __init__(self, labels: Iterable[Label] = ()) -> None:
        self._by_key: dict[tuple[str, str], list[Label]] = {}
        self._count = 0
        self.add(labels)

    def add(self, labels: Iterable[Label]) -> None:
        """Add labels; an exact duplicate (every field equal, origin included) is kept once."""
        by_key = self._by_key
        touched = set()
        for lab in labels:
            key = (lab.chain, lab.address)
            lst = by_key.get(key)
            if lst is None:
                by_key[key] = [lab]
            elif lab not in lst:
                lst.append(lab)
                touched.add(key)
            else:
                continue
            self._count += 1
        for key in touched:
            by_key[key].sort(key=Label.sort_key)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Label]:
        for lst in self._by_key.values():
            yield from lst

    def lookup(self, chain: str, address: str) -> list[Label]:
        """Every label of the address, best first (see :meth:`Label.sort_key`).

        Any spelling :func:`tracer.addresses.normalize` accepts finds the same labels (checksummed
        or upper-case EVM hex, Tron hex ``41...``, upper-case bech32). An invalid address raises
        :class:`tracer.addresses.InvalidAddress`; an unknown chain raises ``UnknownChain``.
        """
        chain = chain.lower()
        found = self._by_key.get((chain, address))
        if found is None and not (_CANONICAL_EVM(address) and chain_kind(chain) == "evm"):
            found = self._by_key.get((chain, normalize(chain, address)))  # other spellings
        return list(found) if found else []

    def role_of(self, chain: str, address: str) -> RoleMatch | None:
        """The engine's role for the address: ``(role, name, label)`` of the best label, or None.

        Best = highest tier (case > curated > imported), then highest confidence, then
        :data:`ROLE_PRIORITY`. ``name`` is the label's entity, or its text when no entity is known.
        """
        found = self.lookup(chain, address)
        if not found:
            return None
        best = found[0]
        return RoleMatch(best.role, best.entity or best.label, best)

    def entity_of(self, chain: str, address: str) -> str | None:
        """Entity of the best label that names one (same order as :meth:`role_of`), or None."""
        for lab in self.lookup(chain, address):
            if lab.entity:
                return lab.entity
        return None


def engine_role_lookup(index: LabelIndex, chain: str) -> Callable[[str], str | None]:
    """``address -> role or None`` for one chain: the callable :mod:`tracer.engine` expects."""

    def role(address: str) -> str | None:
        try:
            match = index.role_of(chain, address)
        except InvalidAddress:
            return None
        return match.role if match else None

    return role


# --------------------------------------------------------------------------------------------
# actors


_ACTOR_CACHE: dict[tuple[str, int, int], dict[str, str]] = {}


def load_actors(path: str | os.PathLike) -> dict[str, str]:
    """GraphSense ActorPack: actor id -> display name (its ``label``). Cached per file version."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise LabelFileError(f"{path}: cannot read actor pack: {e.strerror or e}") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    cached = _ACTOR_CACHE.get(key)
    if cached is not None:
        return dict(cached)
    data, _ = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("actors"), list):
        raise LabelFileError(f"{path}: not an ActorPack: no 'actors' list")
    names: dict[str, str] = {}
    for entry in data["actors"]:
        if isinstance(entry, dict) and entry.get("id") is not None:
            actor_id = str(entry["id"])
            label = entry.get("label")
            names[actor_id] = str(label).strip() if label else _title(actor_id)
    _ACTOR_CACHE[key] = names
    return dict(names)


def _title(actor_id: str) -> str:
    """Fallback display name for an actor id: ``internet_archive`` -> ``Internet Archive``."""
    return " ".join(
        w[:1].upper() + w[1:] for w in actor_id.replace("_", " ").replace("-", " ").split()
    )


def _actor_names(actors: Mapping[str, str] | str | os.PathLike | None) -> dict[str, str]:
    if actors is None:
        return {}
    if isinstance(actors, (str, os.PathLike)):
        return load_actors(actors)
    return dict(actors)


# --------------------------------------------------------------------------------------------
# TagPack loader


def _read_yaml(path: str | os.PathLike) -> tuple[object, yaml.Node | None]:
    """Parse a YAML file into (data, root node); any failure is one-line LabelFileError."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise LabelFileError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise LabelFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise LabelFileError(f"{path}:{_yaml_error(e)}") from None
    finally:
        loader.dispose()
    return data, node


def _yaml_error(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e)
    where = f"{mark.line + 1}:" if mark is not None else ""
    return f"{where} malformed YAML: " + " ".join(str(problem).split())


def _scalar_text(value: object) -> str | None:
    """Text of a scalar field (numbers and dates as written); None for missing/empty/non-scalar."""
    if value is None or isinstance(value, (list, dict, bool)):
        return None
    text = value.isoformat() if isinstance(value, (_dt.date, _dt.datetime)) else str(value)
    text = text.strip()
    return text or None


def _confidence(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 100 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value <= 100 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text) if int(text) <= 100 else None
        return CONFIDENCE_LEVELS.get(text.lower())
    return None


def _concepts(merged: dict) -> tuple[str, ...] | str:
    """category, abuse and concepts of a tag, in that order, de-duplicated; str = error."""
    out: list[str] = []
    for field in ("category", "abuse"):
        value = merged.get(field)
        if value is None:
            continue
        text = _scalar_text(value)
        if text is None:
            return f"{field} must be a non-empty text"
        out.append(text)
    extra = merged.get("concepts")
    if extra is not None:
        if isinstance(extra, str):
            extra = [extra]
        if not isinstance(extra, list):
            return "concepts must be a list of texts"
        for value in extra:
            text = _scalar_text(value)
            if text is None:
                return "concepts must be a list of texts"
            out.append(text)
    return tuple(dict.fromkeys(out))


def _chain_for(network: str, currency: str, address: str) -> tuple[str | None, str]:
    """(chain, '') or (None, reason) for a tag's network/currency and address text."""
    net = network.upper()
    chain = NETWORK_CHAINS.get(net)
    if chain is not None:
        return chain, ""
    if net == currency.upper() and net in MULTI_NETWORK_TOKENS:
        detected = detect_chain(address)
        if detected in _NETWORK_INFERABLE:
            return detected, ""
        if detected is not None:
            return None, f"currency {currency} without network: a 0x address could be any EVM chain"
        return None, f"currency {currency} without network and address form unknown"
    if net == currency.upper():
        return None, f"unsupported network {network!r}"
    return None, f"unsupported network {network!r} (currency {currency})"


def _line_of(tag_node: yaml.Node | None, index: int) -> str:
    """1-based line of the tag's address (or of the tag itself); tag index if no node."""
    if tag_node is None:
        return f"tag #{index}"
    if isinstance(tag_node, yaml.MappingNode):
        for key, value in tag_node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "address":
                return str(value.start_mark.line + 1)
    return str(tag_node.start_mark.line + 1)


def _raw_address(tag_node: yaml.Node | None, value: object) -> object:
    """The address exactly as written: unquoted ``0x...`` would otherwise load as a YAML int."""
    if isinstance(tag_node, yaml.MappingNode):
        for key, node in tag_node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "address":
                if isinstance(node, yaml.ScalarNode):
                    return node.value
    return value


def _tag_nodes(root: yaml.Node | None) -> list[yaml.Node] | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "tags":
            if isinstance(value, yaml.SequenceNode):
                return value.value
    return None


def load_tagpack(
    path: str | os.PathLike,
    tier: str | None = "imported",
    actors: Mapping[str, str] | str | os.PathLike | None = None,
) -> tuple[list[Label], list[str]]:
    """Read a GraphSense TagPack (YAML) into labels plus ``"file:line: reason"`` warnings.

    Rules follow the GraphSense tagpack-tool (``conf/tagpack_schema.yaml``, ``tagpack.py``):

    * header fields ``title`` and ``creator`` and a ``tags`` list are mandatory
      (else :class:`LabelFileError`); any tag field in the header is inherited by every tag;
    * ``network`` defaults to ``currency``; the network picks the chain (:data:`NETWORK_CHAINS`),
      tags on other networks are skipped with one warning per network and file;
    * ``confidence`` ids map to levels (:data:`CONFIDENCE_LEVELS`), numbers 0-100 are taken as
      is; a missing confidence (older packs) becomes ``unknown`` (5) with one warning per file;
    * ``actor`` gives the entity: its ActorPack label when ``actors`` (a mapping id -> name or an
      ActorPack path) knows it, else the id title-cased;
    * role and category come from ``category``, ``abuse`` and ``concepts`` (:data:`CATEGORY_ROLES`);
    * tags with ``tx_hash`` instead of ``address`` are skipped and counted in one warning;
    * every address is validated with :func:`tracer.addresses.normalize`; a tag with a bad
      address, a missing label/source/currency, an unknown confidence id or that duplicates an
      earlier tag (same chain, address, label and source, case-insensitive) is skipped with a
      warning naming the file and line;
    * a tag whose ``context`` (JSON text) names a ``tracer_role`` (one of :data:`ROLES`) gets that
      role: TagPacks exported by tracer (:mod:`tracer.importers.tagpack_export`) keep their
      GraphSense categories valid and carry the exact engine role there, so findings load back
      with the roles they were written with.

    ``tier=None`` means ``imported``.
    """
    data, root = _read_yaml(path)
    return _tagpack_labels(path, data, root, tier or "imported", actors)


def _context_role(value: object) -> str | None:
    if not isinstance(value, str) or "tracer_role" not in value:
        return None
    try:
        context = json.loads(value)
    except ValueError:
        return None
    role = context.get("tracer_role") if isinstance(context, dict) else None
    return role if role in ROLES else None


def _tagpack_labels(
    path: str | os.PathLike,
    data: object,
    root: yaml.Node | None,
    tier: str,
    actors: Mapping[str, str] | str | os.PathLike | None,
) -> tuple[list[Label], list[str]]:
    if tier not in _TIER_RANK:
        raise ValueError(f"unknown tier {tier!r} (known: {', '.join(TIERS)})")
    names = _actor_names(actors)
    where = str(path)
    if not isinstance(data, dict):
        raise LabelFileError(f"{where}: not a TagPack: top level is not a mapping")
    if "tags" not in data and "actors" in data:
        raise LabelFileError(f"{where}: is an ActorPack, not a TagPack (pass it as actors)")
    for field in _MANDATORY_HEADER:
        if _scalar_text(data.get(field)) is None:
            raise LabelFileError(f"{where}: missing mandatory header field '{field}'")
    tags = data.get("tags")
    if not isinstance(tags, list):
        raise LabelFileError(f"{where}: missing mandatory header field 'tags' (a list)")

    warnings: list[str] = []
    header: dict = {}
    for key, value in data.items():
        if key in _TAG_FIELDS:
            header[key] = value
        elif key not in _HEADER_ONLY:
            warnings.append(f"{where}: unknown header field {key!r} ignored")

    nodes = _tag_nodes(root)
    if nodes is not None and len(nodes) != len(tags):
        nodes = None
    labels: list[Label] = []
    seen: dict[tuple, str] = {}
    skipped_network: dict[str, list] = {}  # reason -> [count, first line]
    tx_tags: list[str] = []
    no_confidence: list[str] = []

    for i, tag in enumerate(tags):
        node = nodes[i] if nodes is not None else None
        line = _line_of(node, i)
        at = f"{where}:{line}"
        if not isinstance(tag, dict):
            warnings.append(f"{at}: tag is not a mapping, skipped")
            continue
        merged = {**header, **tag}
        has_addr = merged.get("address") is not None
        if merged.get("tx_hash") is not None:
            if has_addr:
                warnings.append(f"{at}: tag has both address and tx_hash, skipped")
            else:
                tx_tags.append(line)
            continue
        if not has_addr:
            warnings.append(f"{at}: tag has no address, skipped")
            continue
        raw = _raw_address(node, tag.get("address", merged["address"]))
        if not isinstance(raw, str):
            raw = str(raw)

        text = _scalar_text(merged.get("label"))
        source = _scalar_text(merged.get("source"))
        currency = _scalar_text(merged.get("currency"))
        missing = [
            n for n, v in (("label", text), ("source", source), ("currency", currency)) if not v
        ]
        if missing:
            warnings.append(f"{at}: missing mandatory {', '.join(missing)}, skipped")
            continue
        network = _scalar_text(merged.get("network")) or currency

        chain, reason = _chain_for(network, currency, raw)
        if chain is None:
            entry = skipped_network.setdefault(reason, [0, line])
            entry[0] += 1
            continue

        if merged.get("confidence") is None:
            confidence = CONFIDENCE_LEVELS["unknown"]
            no_confidence.append(line)
        else:
            confidence = _confidence(merged["confidence"])
            if confidence is None:
                warnings.append(
                    f"{at}: unknown confidence {merged['confidence']!r} "
                    "(not a GraphSense id or a number 0-100), skipped"
                )
                continue

        concepts = _concepts(merged)
        if isinstance(concepts, str):
            warnings.append(f"{at}: {concepts}, skipped")
            continue
        role, category = role_for_concepts(concepts)
        role = _context_role(merged.get("context")) or role

        actor = _scalar_text(merged.get("actor"))
        entity = (names.get(actor) or _title(actor)) if actor else None

        try:
            lab = Label(
                chain=chain,
                address=raw,
                label=text,
                category=category,
                entity=entity,
                role=role,
                source=source,
                confidence=confidence,
                origin=at,
                tier=tier,
                lastmod=_scalar_text(merged.get("lastmod")),
                concepts=concepts,
            )
        except InvalidAddress as e:
            warnings.append(f"{at}: invalid address: {e}, skipped")
            continue
        except UnknownChain as e:  # pragma: no cover - NETWORK_CHAINS only names known chains
            warnings.append(f"{at}: {e}, skipped")
            continue

        dup_key = (chain, lab.address, text.lower(), source.lower())
        first = seen.get(dup_key)
        if first is not None:
            warnings.append(f"{at}: duplicate of the tag at line {first}, skipped")
            continue
        seen[dup_key] = line
        labels.append(lab)

    for reason, (count, first_line) in skipped_network.items():
        warnings.append(f"{where}:{first_line}: {count} tag(s) skipped: {reason}")
    if tx_tags:
        warnings.append(
            f"{where}:{tx_tags[0]}: {len(tx_tags)} transaction tag(s) (tx_hash) skipped: "
            "only address tags are loaded"
        )
    if no_confidence:
        warnings.append(
            f"{where}:{no_confidence[0]}: {len(no_confidence)} tag(s) without confidence "
            f"got 'unknown' ({CONFIDENCE_LEVELS['unknown']})"
        )
    return labels, warnings


# --------------------------------------------------------------------------------------------
# many files


def load_yaml_labels(
    path: str | os.PathLike,
    tier: str | None = None,
    actors: Mapping[str, str] | str | os.PathLike | None = None,
) -> tuple[list[Label], list[str]]:
    """A YAML label file: tracer case file, curated entity file (by ``kind``) or TagPack.

    ``tier=None`` gives each kind its own tier: ``case`` for case files, ``curated`` for entity
    files, ``imported`` for TagPacks; a tier given explicitly applies to all of them.
    """
    data, root = _read_yaml(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind.startswith("tracer-"):
        from tracer.cases import labels_from_document

        return labels_from_document(path, data, root, tier=tier)
    return _tagpack_labels(path, data, root, tier or "imported", actors)


def load_list_file(
    path: str | os.PathLike,
    tier: str | None = None,
    actors: Mapping[str, str] | str | os.PathLike | None = None,
) -> tuple[list[Label], list[str]]:
    """A third-party list (OFAC, Etherscan scrape, Forta, tracer CSV) via :mod:`tracer.importers`.

    The format is recognised from the file name and content; ``tier=None`` means ``imported``.
    For lists of millions of rows, import them into a :class:`tracer.label_store.LabelStore`.
    """
    del actors  # only TagPacks name actors
    from tracer.importers import LabelFormatError, batch_labels, import_file

    try:
        batch = import_file(path)
    except LabelFormatError as e:
        raise LabelFileError(str(e)) from None
    return batch_labels(batch, tier or "imported"), batch.warnings


#: File extension -> loader ``(path, tier=..., actors=...) -> (labels, warnings)``.
LOADERS: dict[str, Callable[..., tuple[list[Label], list[str]]]] = {
    ".yaml": load_yaml_labels,
    ".yml": load_yaml_labels,
    ".csv": load_list_file,
    ".json": load_list_file,
    ".xml": load_list_file,
}

#: File-name patterns (checked before extensions) -> loader; for lists whose extension alone
#: says nothing (``.txt``).
NAME_LOADERS: dict[str, Callable[..., tuple[list[Label], list[str]]]] = {
    "sanctioned_addresses_*.txt": load_list_file,
}


def _loader_for(path: Path) -> Callable[..., tuple[list[Label], list[str]]] | None:
    name = path.name.lower()
    for pattern, loader in NAME_LOADERS.items():
        if fnmatch.fnmatch(name, pattern):
            return loader
    return LOADERS.get(path.suffix.lower())


_ACTORPACK_SUFFIXES = (".actorpack.yaml", ".actorpack.yml")


def _expand(paths: Iterable[str | os.PathLike]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and _loader_for(f) is not None and not f.name.startswith(".")
                )
            )
        else:
            out.append(p)
    return out


def load_labels(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    tier: str | None = None,
    actors: Mapping[str, str] | str | os.PathLike | None = None,
    strict: bool = True,
) -> tuple[LabelIndex, list[str]]:
    """Load label files and directories (searched recursively) into one :class:`LabelIndex`.

    The loader is chosen by file name (:data:`NAME_LOADERS`) or extension (:data:`LOADERS`).
    ``tier=None`` (the default) gives each file its natural tier: ``case`` for tracer case files,
    ``curated`` for tracer entity files, ``imported`` for everything else; a tier given here
    applies to every file. Files named ``*.actorpack.yaml`` are
    read first as actor names (merged over ``actors``), so pointing this at a checkout of
    graphsense-tagpacks resolves actor ids to display names. With ``strict`` (the default) a
    :class:`LabelFileError` propagates; otherwise it becomes a warning and the file is skipped.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = _expand(paths)
    names = _actor_names(actors)
    warnings: list[str] = []
    label_files = []
    for f in files:
        if f.name.lower().endswith(_ACTORPACK_SUFFIXES):
            try:
                names.update(load_actors(f))
            except LabelFileError as e:
                if strict:
                    raise
                warnings.append(str(e))
        else:
            label_files.append(f)
    index = LabelIndex()
    for f in label_files:
        loader = _loader_for(f)
        if loader is None:
            warnings.append(f"{f}: no label loader for {f.suffix or 'files without extension'!r}")
            continue
        try:
            labels, file_warnings = loader(f, tier=tier, actors=names)
        except LabelFileError as e:
            if strict:
                raise
            warnings.append(str(e))
            continue
        index.add(labels)
        warnings.extend(file_warnings)
    return index, warnings
