"""Cases and curated entities from ``addresses/``: seeds, roles, assets, each line with a source.

Two kinds of YAML file live there (schema: ``addresses/README.md``):

* ``addresses/cases/<name>.yaml`` (``kind: tracer-case``): one incident. Its ``addresses`` rows
  carry a case role (:data:`CASE_ROLES`: thief, victim, mixer_withdrawal, consolidation,
  forfeiture, ...), which maps to an engine role; rows with a seed role (or ``seed: true``)
  are the trace's starting points. Its ``assets`` name the tokens involved.
* ``addresses/entities/*.yaml`` (``kind: tracer-entities``): curated services (exchange wallets
  and deposit funders, mixers, bridges, stablecoin contracts with their issuers).

Every row must cite a source: a key of the file's ``sources`` table or a URL. Every address is
validated (:func:`tracer.addresses.normalize`); a bad row is reported as ``"file:line: reason,
skipped"`` and never used. Case rows become labels of tier ``case``, entity rows of tier
``curated`` (see the precedence in :mod:`tracer.labels`).

Where ``addresses/`` is found: ``$TRACER_ADDRESSES`` if set; else the ``addresses/`` folder next
to the ``tracer`` package (a checkout, an editable install, CI); else ``tracer/_addresses``
inside an installed wheel (setup.py maps ``addresses/`` there).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tracer.addresses import InvalidAddress, normalize
from tracer.chains import UnknownChain
from tracer.labels import (
    CONFIDENCE_LEVELS,
    ROLES,
    Label,
    LabelFileError,
    _confidence,
    _read_yaml,
    _scalar_text,
)

__all__ = [
    "CASE_KIND",
    "CASE_ROLES",
    "ENTITIES_KIND",
    "SEED_ROLES",
    "Case",
    "CaseError",
    "addresses_dir",
    "case_dict",
    "case_names",
    "entity_files",
    "find_case",
    "labels_from_document",
    "list_cases",
    "load_case_file",
    "load_entities",
]

CASE_KIND = "tracer-case"
ENTITIES_KIND = "tracer-entities"

#: Case role -> engine role (tracer.labels.ROLES). The case role is kept as the label's category.
CASE_ROLES: dict[str, str] = {
    "thief": "thief",  # theft address: received stolen funds from the victim
    "exploiter": "thief",  # sent the exploit transactions
    "attacker": "thief",  # other attacker-controlled address (tests, gas, staging)
    "attacker_contract": "thief",  # contract deployed by the attacker
    "holder": "thief",  # attacker address holding stolen funds (at the time of the source)
    "laundering": "thief",  # intermediary on the laundering path
    "mixer_deposit": "thief",  # attacker address that deposited into a mixer
    "mixer_withdrawal": "thief",  # fresh address receiving mixer withdrawals
    "consolidation": "thief",  # where laundered funds were gathered again
    "forfeiture": "thief",  # named in a forfeiture complaint as holding proceeds
    "gas_funder": "thief",  # paid the gas of attacker addresses
    "linked": "other",  # listed by the source without a stated role
    "exchange_deposit": "deposit",  # exchange deposit address the attacker used
    "victim": "victim",  # victim wallet or contract
    "victim_signer": "victim",  # compromised key holder of a victim wallet
}

#: Case roles that seed a trace unless a row says ``seed: false``: addresses whose holdings are
#: asserted stolen.
SEED_ROLES = frozenset(
    {"thief", "exploiter", "holder", "mixer_withdrawal", "consolidation", "forfeiture"}
)

_CASE_ROW_FIELDS = frozenset(
    {"chain", "address", "role", "label", "source", "seed", "amount", "asset", "date", "entity"}
    | {"note", "confidence"}
)
_ENTITY_ROW_FIELDS = frozenset(
    {"chain", "address", "role", "label", "source", "entity", "category", "confidence", "note"}
    | {"lastmod"}
)
_ASSET_FIELDS = frozenset(
    {"chain", "contract", "symbol", "decimals", "issuer", "source", "note", "name"}
)
_DEFAULT_CONFIDENCE = CONFIDENCE_LEVELS["forensic"]


class CaseError(LabelFileError):
    """A case or entity file cannot be used at all, or a case name is unknown."""


@dataclass
class Case:
    """One case file, validated: what ``tracer cases`` lists and ``load_case`` returns."""

    name: str
    title: str
    path: Path
    date: str | None
    since: int | None
    summary: str
    sources: dict[str, str]  # id -> citation text
    assets: list[dict]
    labels: list[Label]  # one per valid address row, tier "case"
    seeds: list[dict]  # de-duplicated (chain, address) seed rows, file order
    rows: list[dict] = field(default_factory=list)  # every valid row with its extra facts
    warnings: list[str] = field(default_factory=list)
    invalid: int = 0  # rows skipped

    def chains(self) -> Counter:
        return Counter(r["chain"] for r in self.rows)


# --------------------------------------------------------------------------------------------
# where


def addresses_dir() -> Path | None:
    """The ``addresses/`` folder (see the module docstring), or None when there is none."""
    env = os.environ.get("TRACER_ADDRESSES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "addresses", here / "_addresses"):
        if (candidate / "cases").is_dir() or (candidate / "entities").is_dir():
            return candidate
    return None


def _files(sub: str) -> list[Path]:
    root = addresses_dir()
    if root is None or not (root / sub).is_dir():
        return []
    return sorted(p for p in (root / sub).glob("*.y*ml") if not p.name.startswith("."))


def case_names() -> list[str]:
    return [p.stem for p in _files("cases")]


def entity_files() -> list[Path]:
    """Curated entity files (``addresses/entities/*.yaml``)."""
    return _files("entities")


def find_case(name: str) -> Path:
    for p in _files("cases"):
        if p.stem == name:
            return p
    known = ", ".join(case_names()) or "none found"
    where = addresses_dir()
    raise CaseError(
        f"unknown case {name!r} (known: sandbox, sandbox-bitcoin, {known}; "
        f"case files in {where / 'cases' if where else 'addresses/cases (not found)'})"
    )


# --------------------------------------------------------------------------------------------
# reading


def _items_with_lines(root: yaml.Node | None, key: str) -> list[int] | None:
    """1-based line of each item of the top-level sequence ``key`` (of its address if any)."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.SequenceNode):
            lines = []
            for item in v.value:
                line = item.start_mark.line + 1
                if isinstance(item, yaml.MappingNode):
                    for ik, iv in item.value:
                        if isinstance(ik, yaml.ScalarNode) and ik.value in ("address", "contract"):
                            line = iv.start_mark.line + 1
                lines.append(line)
            return lines
    return None


def _raw_values(root: yaml.Node | None, key: str, field_name: str) -> list[str | None]:
    """Scalars of ``field_name`` in each item exactly as written (0x... must not become ints)."""
    out: list[str | None] = []
    if not isinstance(root, yaml.MappingNode):
        return out
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.SequenceNode):
            for item in v.value:
                found = None
                if isinstance(item, yaml.MappingNode):
                    for ik, iv in item.value:
                        if (
                            isinstance(ik, yaml.ScalarNode)
                            and ik.value == field_name
                            and isinstance(iv, yaml.ScalarNode)
                            and not iv.tag.endswith(":null")
                        ):
                            found = iv.value
                out.append(found)
    return out


def _sources(where: str, data: dict) -> dict[str, dict]:
    raw = data.get("sources") or {}
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: 'sources' must be a mapping id -> {{url, title, ...}}")
    out = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict) or not _scalar_text(value.get("url")):
            raise CaseError(f"{where}: source {key!r} needs a 'url'")
        out[str(key)] = value
    return out


def _citation(src: dict) -> str:
    parts = [str(src["url"]).strip()]
    for extra in ("title", "note"):
        text = _scalar_text(src.get(extra))
        if text:
            parts.append(text)
    return " — ".join(parts)


def _resolve_source(value: object, sources: dict[str, dict]) -> tuple[str | None, dict]:
    text = _scalar_text(value)
    if text is None:
        return None, {}
    if text in sources:
        return _citation(sources[text]), sources[text]
    if "://" in text:
        return text, {}
    return None, {}


def _date_text(value: object) -> str | None:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return _scalar_text(value)


def _epoch(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        return int(dt.timestamp())
    if isinstance(value, _dt.date):
        return int(
            _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp()
        )
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp())


def _check_header(where: str, data: object, kind: str, list_key: str) -> dict:
    if not isinstance(data, dict):
        raise CaseError(f"{where}: top level is not a mapping")
    if data.get("kind") != kind:
        raise CaseError(f"{where}: 'kind' must be {kind!r}")
    schema = data.get("schema", 1)
    if schema != 1:
        raise CaseError(f"{where}: schema {schema!r} not supported (this tracer reads schema 1)")
    if not isinstance(data.get(list_key), list):
        raise CaseError(f"{where}: '{list_key}' must be a list")
    return data


def _rows(
    where: str,
    data: dict,
    root: yaml.Node | None,
    list_key: str,
    allowed: frozenset[str],
    warnings: list[str],
):
    """(line, row dict with the address as written) for each mapping row of ``list_key``."""
    lines = _items_with_lines(root, list_key) or []
    raw_addresses = _raw_values(root, list_key, "address")
    items = data[list_key]
    for i, row in enumerate(items):
        line = lines[i] if i < len(lines) else f"#{i}"
        at = f"{where}:{line}"
        if not isinstance(row, dict):
            warnings.append(f"{at}: row is not a mapping, skipped")
            continue
        unknown = sorted(str(k) for k in row if k not in allowed)
        if unknown:
            warnings.append(f"{at}: unknown field(s) {', '.join(unknown)} ignored")
        row = dict(row)
        if i < len(raw_addresses) and raw_addresses[i] is not None:
            row["address"] = raw_addresses[i]
        yield at, line, row


def _make_label(
    at: str,
    row: dict,
    *,
    role: str,
    category: str,
    source: str,
    tier: str,
    confidence: int,
    entity: str | None,
    lastmod: str | None,
    concepts: tuple[str, ...],
    warnings: list[str],
) -> Label | None:
    chain = _scalar_text(row.get("chain"))
    address = row.get("address")
    label = _scalar_text(row.get("label"))
    if not chain or address is None or not label:
        missing = [
            n for n, v in (("chain", chain), ("address", address), ("label", label)) if not v
        ]
        warnings.append(f"{at}: missing {', '.join(missing)}, skipped")
        return None
    try:
        return Label(
            chain=chain.lower(),
            address=str(address),
            label=label,
            category=category,
            entity=entity,
            role=role,
            source=source,
            confidence=confidence,
            origin=at,
            tier=tier,
            lastmod=lastmod,
            concepts=concepts,
        )
    except InvalidAddress as e:
        warnings.append(f"{at}: invalid address: {e}, skipped")
    except UnknownChain as e:
        warnings.append(f"{at}: {' '.join(str(e).split())}, skipped")
    return None


def _row_confidence(at, row, src, default, warnings) -> int | None:
    for value in (row.get("confidence"), src.get("confidence")):
        if value is not None:
            conf = _confidence(value)
            if conf is None:
                warnings.append(f"{at}: unknown confidence {value!r}, skipped")
            return conf
    return default


def _file_confidence(where: str, data: dict) -> int:
    value = data.get("confidence")
    if value is None:
        return _DEFAULT_CONFIDENCE
    conf = _confidence(value)
    if conf is None:
        raise CaseError(f"{where}: unknown confidence {value!r}")
    return conf


def load_case_file(path: str | os.PathLike, tier: str | None = None) -> Case:
    """Read and validate one case file (bad rows become warnings; see the module docstring)."""
    data, root = _read_yaml(path)
    return _case_from(path, data, root, tier)


def _case_from(path, data, root, tier: str | None) -> Case:
    where = str(path)
    data = _check_header(where, data, CASE_KIND, "addresses")
    name = _scalar_text(data.get("name"))
    if not name:
        raise CaseError(f"{where}: missing 'name'")
    if Path(where).stem != name:
        raise CaseError(f"{where}: 'name' is {name!r} but the file is {Path(where).name}")
    title = _scalar_text(data.get("title")) or name
    sources = _sources(where, data)
    default_conf = _file_confidence(where, data)
    warnings: list[str] = []
    tier = tier or "case"

    assets = []
    asset_lines = _items_with_lines(root, "assets") or []
    raw_contracts = _raw_values(root, "assets", "contract")
    for i, a in enumerate(data.get("assets") or []):
        at = f"{where}:{asset_lines[i] if i < len(asset_lines) else '#' + str(i)}"
        if not isinstance(a, dict):
            warnings.append(f"{at}: asset is not a mapping, skipped")
            continue
        src_text, _ = _resolve_source(a.get("source"), sources)
        chain = (_scalar_text(a.get("chain")) or "").lower()
        symbol = _scalar_text(a.get("symbol"))
        if not src_text or not chain or not symbol:
            warnings.append(f"{at}: asset needs chain, symbol and a source, skipped")
            continue
        contract = raw_contracts[i] if i < len(raw_contracts) else None
        contract = contract if contract is not None else _scalar_text(a.get("contract"))
        entry = {"chain": chain, "symbol": symbol, "source": src_text}
        if a.get("issuer"):
            entry["issuer"] = _scalar_text(a.get("issuer"))
        if contract and contract != "native":
            try:
                entry["address"] = normalize(chain, contract)
            except (InvalidAddress, UnknownChain) as e:
                warnings.append(f"{at}: invalid contract: {' '.join(str(e).split())}, skipped")
                continue
            decimals = a.get("decimals")
            if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
                warnings.append(f"{at}: token asset needs integer decimals, skipped")
                continue
            entry["decimals"] = decimals
        else:
            entry["address"] = "native" if contract == "native" else None
            if isinstance(a.get("decimals"), int):
                entry["decimals"] = a["decimals"]
        assets.append(entry)

    labels: list[Label] = []
    rows: list[dict] = []
    seeds: list[dict] = []
    seen_seeds: set[tuple[str, str]] = set()
    seen: dict[tuple, str] = {}
    invalid = 0
    for at, line, row in _rows(where, data, root, "addresses", _CASE_ROW_FIELDS, warnings):
        case_role = _scalar_text(row.get("role"))
        if case_role not in CASE_ROLES:
            warnings.append(
                f"{at}: unknown case role {case_role!r} (known: {', '.join(CASE_ROLES)}), skipped"
            )
            invalid += 1
            continue
        source, src = _resolve_source(row.get("source"), sources)
        if source is None:
            warnings.append(
                f"{at}: source must be a key of 'sources' or a URL (got {row.get('source')!r}), "
                "skipped"
            )
            invalid += 1
            continue
        conf = _row_confidence(at, row, src, default_conf, warnings)
        if conf is None:
            invalid += 1
            continue
        lab = _make_label(
            at,
            row,
            role=CASE_ROLES[case_role],
            category=case_role,
            source=source,
            tier=tier,
            confidence=conf,
            entity=_scalar_text(row.get("entity")),
            lastmod=_date_text(src.get("date")),
            concepts=(case_role, f"case:{name}"),
            warnings=warnings,
        )
        if lab is None:
            invalid += 1
            continue
        dup = (lab.chain, lab.address, lab.label.lower(), lab.source.lower())
        if dup in seen:
            warnings.append(f"{at}: duplicate of the row at line {seen[dup]}, skipped")
            continue
        seen[dup] = str(line)
        labels.append(lab)
        seed = row.get("seed")
        if seed is not None and not isinstance(seed, bool):
            warnings.append(f"{at}: 'seed' must be true or false; using the role default")
            seed = None
        is_seed = case_role in SEED_ROLES if seed is None else seed
        entry = {
            "chain": lab.chain,
            "address": lab.address,
            "role": case_role,
            "label": lab.label,
            "source": source,
            "seed": is_seed,
            "line": line,
        }
        for extra in ("amount", "asset", "date", "note"):
            value = row.get(extra)
            if value is not None:
                entry[extra] = _date_text(value) if extra == "date" else str(value)
        rows.append(entry)
        if is_seed and (lab.chain, lab.address) not in seen_seeds:
            seen_seeds.add((lab.chain, lab.address))
            seeds.append({k: v for k, v in entry.items() if k not in ("seed", "line")})

    since = _epoch(data.get("since", data.get("date")))
    return Case(
        name=name,
        title=title,
        path=Path(where),
        date=_date_text(data.get("date")),
        since=since,
        summary=_scalar_text(data.get("summary")) or "",
        sources={k: _citation(v) for k, v in sources.items()},
        assets=assets,
        labels=labels,
        seeds=seeds,
        rows=rows,
        warnings=warnings,
        invalid=invalid,
    )


def load_entities(
    path: str | os.PathLike, tier: str | None = None
) -> tuple[list[Label], list[str]]:
    """Labels (tier ``curated`` unless given) of one entity file, plus warnings."""
    data, root = _read_yaml(path)
    return _entities_from(path, data, root, tier)


def _entities_from(path, data, root, tier: str | None) -> tuple[list[Label], list[str]]:
    where = str(path)
    data = _check_header(where, data, ENTITIES_KIND, "entities")
    sources = _sources(where, data)
    default_conf = _file_confidence(where, data)
    tier = tier or "curated"
    warnings: list[str] = []
    labels: list[Label] = []
    seen: dict[tuple, str] = {}
    for at, line, row in _rows(where, data, root, "entities", _ENTITY_ROW_FIELDS, warnings):
        role = _scalar_text(row.get("role"))
        if role not in ROLES:
            warnings.append(
                f"{at}: unknown role {role!r} (known: {', '.join(sorted(ROLES))}), skipped"
            )
            continue
        source, src = _resolve_source(row.get("source"), sources)
        if source is None:
            warnings.append(
                f"{at}: source must be a key of 'sources' or a URL (got {row.get('source')!r}), "
                "skipped"
            )
            continue
        conf = _row_confidence(at, row, src, default_conf, warnings)
        if conf is None:
            continue
        category = _scalar_text(row.get("category")) or role
        lab = _make_label(
            at,
            row,
            role=role,
            category=category,
            source=source,
            tier=tier,
            confidence=conf,
            entity=_scalar_text(row.get("entity")),
            lastmod=_date_text(row.get("lastmod") or src.get("date")),
            concepts=tuple(dict.fromkeys((category, role))),
            warnings=warnings,
        )
        if lab is None:
            continue
        dup = (lab.chain, lab.address, lab.label.lower(), lab.source.lower())
        if dup in seen:
            warnings.append(f"{at}: duplicate of the row at line {seen[dup]}, skipped")
            continue
        seen[dup] = str(line)
        labels.append(lab)
    return labels, warnings


def labels_from_document(
    path, data, root, tier: str | None = None
) -> tuple[list[Label], list[str]]:
    """Labels of an already parsed case or entity file (used by :func:`tracer.labels.load_labels`)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == CASE_KIND:
        case = _case_from(path, data, root, tier)
        return case.labels, case.warnings
    if kind == ENTITIES_KIND:
        return _entities_from(path, data, root, tier)
    raise CaseError(f"{path}: unknown kind {kind!r} (known: {CASE_KIND}, {ENTITIES_KIND})")


# --------------------------------------------------------------------------------------------
# listing and the API's case dict


def list_cases() -> list[Case]:
    """Every case file in ``addresses/cases``, validated, by name."""
    return [load_case_file(p) for p in _files("cases")]


def case_dict(name: str) -> dict:
    """The dict :func:`tracer.api.load_case` returns for a case of ``addresses/cases``.

    Same shape as the bundled sandbox case: ``name``, ``title``, ``synthetic`` (False),
    ``seeds`` (``chain``, ``address``, ``role``, ``source`` and the row's facts), ``since``
    (epoch seconds), ``assets`` (tokens with a contract: ``chain``, ``address``, ``symbol``,
    ``decimals``, ``issuer``) and ``labels`` (the case file, tier ``case``, and the curated
    entity files, tier ``curated``). There is no ``data``: a real case needs a live source or
    the user's own exports (``--data``). ``warnings`` lists the rows that were skipped.
    """
    path = find_case(name)
    case = load_case_file(path)
    if not case.seeds:
        raise CaseError(f"{path}: case {name!r} has no valid seed address")
    return {
        "name": case.name,
        "title": case.title,
        "synthetic": False,
        "date": case.date,
        "path": str(case.path),
        "seeds": case.seeds,
        "since": case.since,
        "assets": [
            {
                "chain": a["chain"],
                "address": a["address"],
                "symbol": a["symbol"],
                "decimals": a["decimals"],
                "issuer": a.get("issuer"),
            }
            for a in case.assets
            if a.get("address") not in (None, "native") and "decimals" in a
        ],
        "labels": [str(case.path)] + [str(p) for p in entity_files()],
        "warnings": list(case.warnings),
    }
