"""Tests for tracer.labels: TagPack loading, role mapping, precedence and lookups."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from tracer.addresses import InvalidAddress, checksum_form, tron_to_hex
from tracer.labels import (
    CATEGORY_ROLES,
    LOADERS,
    ROLE_PRIORITY,
    ROLES,
    Label,
    LabelFileError,
    LabelIndex,
    engine_role_lookup,
    load_labels,
    load_tagpack,
    role_for_concepts,
)

GS_ROOT = Path("/work/shared/data/labels/graphsense-tagpacks")
PACKS = GS_ROOT / "packs"
ACTORS = GS_ROOT / "actors" / "graphsense.actorpack.yaml"

RONIN = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
BINANCE_14 = "0x28c6c06298d514db089934071355e5743bf21d60"
TC_POOLS = {  # DOMAIN.md section 5
    "0.1 ETH": "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc",
    "1 ETH": "0x47ce0c6ed5b0ce3d3a51fdb1c52dc66a7c3c2936",
    "10 ETH": "0x910cbd523d972eb0a6f4cae4618ad62622b39dbf",
    "100 ETH": "0xa160cdab225685da1d56aa342ad8841c3b53f291",
}
BINANCE_TRON = "TV6MuMXfmLbBqPZvBHdwFsDnQeVfnmiuSi"  # exchange-wallets-binance.yaml
SINBAD_BTC = "bc1qq7p0es3dv5hcynjjf40f2xjjr6qp5py47d2f6n847vduuq9gvnyq7y9ecd"  # sinbad_io.yaml

needs_packs = pytest.mark.skipif(
    not PACKS.is_dir(), reason=f"GraphSense TagPacks not present at {PACKS}"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# the real GraphSense packs


@pytest.fixture(scope="module")
def real():
    """All packs plus the actor pack, loaded once: (index, warnings, seconds)."""
    if not PACKS.is_dir():
        pytest.skip(f"GraphSense TagPacks not present at {PACKS}")
    start = time.perf_counter()
    index, warnings = load_labels([GS_ROOT])
    return index, warnings, time.perf_counter() - start


@needs_packs
def test_every_pack_loads_without_exceptions(real):
    index, warnings, seconds = real
    packs = sorted(PACKS.rglob("*.yaml"))
    assert len(packs) > 40
    assert len(index) > 15_000
    origins = {lab.origin.rsplit(":", 1)[0] for lab in index}
    warned = {w.split(":", 1)[0] for w in warnings}
    # every pack contributes labels or says why not (the LTC and BCH packs have no tag we keep)
    assert origins | warned == {str(p) for p in packs}
    assert {str(p) for p in packs} - origins == {
        str(PACKS / "bitzillions_ltc.yaml"),
        str(PACKS / "satoshidice_bch.yaml"),
    }
    for lab in index:
        assert lab.source and lab.role in ROLES and 0 <= lab.confidence <= 100
        assert lab.chain in {"ethereum", "bitcoin", "tron", "bsc", "polygon", "avalanche"}
    for w in warnings:  # "file:line: reason", one line each
        path, line, reason = w.split(":", 2)
        assert Path(path).is_file() and line.isdigit() and reason.strip() and "\n" not in w
    print(f"loaded {len(index)} labels from {len(packs)} packs in {seconds:.2f}s")


@needs_packs
def test_ronin_exploiter_is_sanctioned_or_thief(real):
    index = real[0]
    match = index.role_of("ethereum", RONIN)
    assert match is not None
    assert match.role in {"sanctioned", "thief"}
    labels = index.lookup("ethereum", RONIN)
    files = {Path(lab.origin.rsplit(":", 1)[0]).name for lab in labels}
    assert {"lazarus.yaml", "ofac.yaml", "ronin_bridge.yaml"} <= files
    lazarus = next(lab for lab in labels if lab.origin.startswith(str(PACKS / "lazarus.yaml")))
    assert lazarus.role == "sanctioned" and lazarus.entity == "Lazarus Group"
    assert lazarus.confidence == 60  # authority_data
    ronin = next(lab for lab in labels if "ronin_bridge" in lab.origin)
    assert ronin.role == "thief" and ronin.label == "Ronin bridge exploiter"
    # sources are never merged
    assert len({lab.source for lab in labels}) == len(labels)


@needs_packs
@pytest.mark.parametrize("pool", sorted(TC_POOLS))
def test_tornado_cash_pools_are_mixers(real, pool):
    match = real[0].role_of("ethereum", TC_POOLS[pool])
    assert match is not None and match.role == "mixer", pool


@needs_packs
def test_tornado_100_eth_pool_from_the_tornado_pack(real):
    labels = real[0].lookup("ethereum", TC_POOLS["100 ETH"])
    tc = [lab for lab in labels if "tornado_cash.yaml" in lab.origin]
    assert len(tc) == 1
    assert tc[0].role == "mixer" and tc[0].entity == "Tornado Cash"
    assert tc[0].category == "mixing_service"


@needs_packs
def test_binance_14_is_a_binance_exchange_wallet(real):
    index = real[0]
    match = index.role_of("ethereum", BINANCE_14)
    assert match.role == "exchange" and match.name == "Binance"
    assert index.entity_of("ethereum", BINANCE_14) == "Binance"
    texts = {lab.label for lab in index.lookup("ethereum", BINANCE_14)}
    assert "Binance 14" in texts


@needs_packs
def test_lookup_accepts_every_spelling(real):
    index = real[0]
    base = index.lookup("ethereum", BINANCE_14)
    assert base
    assert index.lookup("ethereum", checksum_form(BINANCE_14)) == base
    assert index.lookup("ethereum", "0x" + BINANCE_14[2:].upper()) == base
    assert index.lookup("ETHEREUM", f"  {BINANCE_14}  ") == base
    tron = index.lookup("tron", BINANCE_TRON)
    assert tron and tron[0].role == "exchange" and tron[0].entity == "Binance"
    assert index.lookup("tron", tron_to_hex(BINANCE_TRON)) == tron
    btc = index.lookup("bitcoin", SINBAD_BTC)
    assert btc and btc[0].role == "mixer"
    assert index.lookup("bitcoin", SINBAD_BTC.upper()) == btc


@needs_packs
def test_real_pack_problems_are_reported_not_loaded(real):
    index, warnings, _ = real
    joined = "\n".join(warnings)
    # a Tron address filed under BTC in ofac.yaml, a bad checksum in plustoken.yaml
    assert "ofac.yaml:1069: invalid address" in joined
    assert "plustoken.yaml:11: invalid address" in joined
    assert index.lookup("bitcoin", "3HePkztPU6UsdENxnyQHFrdZA6eVKeMtvz")  # its neighbour loads
    assert "ofac.yaml:9: 541 tag(s) without confidence" in joined


@needs_packs
def test_usdt_blacklist_is_sanctioned(real):
    labels = real[0].lookup("ethereum", "0x008fe40574e881e7247b50b991c0cc057d66647f")
    assert labels[0].role == "sanctioned" and labels[0].confidence == 100
    assert labels[0].category == "black_list"


# --------------------------------------------------------------------------------------------
# TagPack rules on tiny packs

HEADER = """
title: Tiny
creator: tests
source: https://example.org/list
confidence: forensic
currency: ETH
lastmod: 2024-01-02
category: exchange
actor: some_exchange
"""


def test_header_fields_are_inherited(tmp_path):
    pack = write(
        tmp_path,
        "tiny.yaml",
        HEADER
        + """
tags:
- address: '0x28C6c06298d514Db089934071355E5743bf21d60'
  label: hot wallet 1
- address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
  label: hot wallet 2
  confidence: 90
  source: https://example.org/other
  actor: binance
""",
    )
    labels, warnings = load_tagpack(pack, actors={"binance": "Binance"})
    assert warnings == []
    first, second = labels
    assert first.chain == "ethereum" and first.address == BINANCE_14
    assert first.source == "https://example.org/list" and first.confidence == 50
    assert first.role == "exchange" and first.category == "exchange"
    assert first.entity == "Some Exchange"  # actor id not in the actor names: title-cased
    assert first.lastmod == "2024-01-02" and first.tier == "imported"
    assert first.origin == f"{pack}:11"
    assert second.confidence == 90 and second.source == "https://example.org/other"
    assert second.entity == "Binance"


def test_network_and_currency(tmp_path):
    pack = write(
        tmp_path,
        "nets.yaml",
        """
        title: Networks
        creator: tests
        source: s
        confidence: web_crawl
        label: x
        tags:
        - address: '0x28c6c06298d514db089934071355e5743bf21d60'
          currency: USDT
          network: ETH
        - address: TV6MuMXfmLbBqPZvBHdwFsDnQeVfnmiuSi
          currency: USDT
        - address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
          currency: USDC
        - address: 1Archive1n2C579dMsAu3iC6tWzuQJz8dN
          currency: BTC
        - address: LbonesGyyeUDpQqtZQMmBUPJSEg4jHhUvb
          currency: LTC
        - address: LbonesGyyeUDpQqtZQMmBUPJSEg4jHhUvb
          currency: LTC
        """,
    )
    labels, warnings = load_tagpack(pack)
    assert [lab.chain for lab in labels] == ["ethereum", "tron", "bitcoin"]
    assert labels[0].confidence == 20
    assert f"{pack}:12: 1 tag(s) skipped: currency USDC without network" in warnings[0]
    assert warnings[1] == f"{pack}:16: 2 tag(s) skipped: unsupported network 'LTC'"


def test_unquoted_hex_address_is_read_as_written(tmp_path):
    pack = write(
        tmp_path,
        "hex.yaml",
        """
        title: t
        creator: c
        source: s
        label: l
        currency: ETH
        confidence: 70
        tags:
        - address: 0x098B716B8Aaf21512996dC57EB0615e2383E2f96
        """,
    )
    labels, warnings = load_tagpack(pack)
    assert warnings == [] and labels[0].address == RONIN and labels[0].confidence == 70


def test_bad_tags_are_reported_with_location_and_skipped(tmp_path):
    pack = write(
        tmp_path,
        "bad.yaml",
        """
        title: Bad rows
        creator: tests
        source: https://example.org
        confidence: forensic
        currency: ETH
        label: thing
        tags:
        - address: '0x28c6c06298d514db089934071355e5743bf21d60'
        - address: '0x28C6C06298D514DB089934071355e5743bf21d60'
        - address: '0x28c6c06298d514db0899340713'
        - address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
          confidence: very_sure
        - address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
          source: ''
        - tx_hash: '0x348a042dfedaf64400bf6660fe0ed523b373f172b7914985600d882ac09e0631'
        - address: '0x28c6c06298d514db089934071355e5743bf21d60'
        - just a string
        - address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
          abuse: [phishing]
        """,
    )
    labels, warnings = load_tagpack(pack)
    assert [lab.origin for lab in labels] == [f"{pack}:8"]
    assert warnings[0].startswith(f"{pack}:9: invalid address: ") and "EIP-55" in warnings[0]
    assert warnings[1].startswith(f"{pack}:10: invalid address: ") and "length" in warnings[1]
    assert warnings[2].startswith(f"{pack}:11: unknown confidence 'very_sure'")
    assert warnings[3] == f"{pack}:13: missing mandatory source, skipped"
    assert warnings[4] == f"{pack}:16: duplicate of the tag at line 8, skipped"
    assert warnings[5] == f"{pack}:17: tag is not a mapping, skipped"
    assert warnings[6] == f"{pack}:18: abuse must be a non-empty text, skipped"
    assert warnings[7].startswith(f"{pack}:15: 1 transaction tag(s) (tx_hash) skipped")
    assert len(warnings) == 8
    for w in warnings:
        assert "\n" not in w


def test_missing_confidence_defaults_to_unknown_with_one_warning(tmp_path):
    pack = write(
        tmp_path,
        "noconf.yaml",
        """
        title: t
        creator: c
        source: s
        currency: BTC
        abuse: sanction
        category: user
        label: Lazarus
        tags:
        - address: 3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG
        - address: 39idqitN9tYNmq3wYanwg3MitFB5TZCjWu
        """,
    )
    labels, warnings = load_tagpack(pack)
    assert [lab.confidence for lab in labels] == [5, 5]
    assert labels[0].role == "sanctioned" and labels[0].category == "sanction"
    assert labels[0].concepts == ("user", "sanction")
    assert warnings == [f"{pack}:9: 2 tag(s) without confidence got 'unknown' (5)"]


def test_malformed_yaml_raises_one_line_error(tmp_path):
    pack = write(tmp_path, "broken.yaml", "title: t\ncreator: c\ntags:\n- address: [unclosed\n")
    with pytest.raises(LabelFileError) as err:
        load_tagpack(pack)
    message = str(err.value)
    assert re.fullmatch(rf"{re.escape(str(pack))}:\d+: malformed YAML: \S.*", message)
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("creator: c\ntags: []\n", "missing mandatory header field 'title'"),
        ("title: t\ntags: []\n", "missing mandatory header field 'creator'"),
        ("title: t\ncreator: c\n", "missing mandatory header field 'tags'"),
        ("title: t\ncreator: c\ntags: {}\n", "missing mandatory header field 'tags'"),
        ("- just\n- a list\n", "top level is not a mapping"),
        ("title: a\nactors: []\n", "is an ActorPack"),
    ],
)
def test_bad_header_raises(tmp_path, text, problem):
    pack = write(tmp_path, "hdr.yaml", text)
    with pytest.raises(LabelFileError) as err:
        load_tagpack(pack)
    assert str(err.value) == f"{pack}: {problem}" or problem in str(err.value)
    assert str(err.value).startswith(str(pack)) and "\n" not in str(err.value)


def test_unreadable_file_raises(tmp_path):
    with pytest.raises(LabelFileError, match="cannot read"):
        load_tagpack(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"title: caf\xe9\n")
    with pytest.raises(LabelFileError, match="not UTF-8"):
        load_tagpack(tmp_path / "latin1.yaml")


@needs_packs
def test_actor_pack_names(tmp_path):
    pack = write(
        tmp_path,
        "a.yaml",
        """
        title: t
        creator: c
        source: s
        currency: ETH
        confidence: ownership
        label: l
        tags:
        - address: '0x28c6c06298d514db089934071355e5743bf21d60'
          actor: lazarusgroup
        - address: '0x21a31ee1afc51d94c2efccaa2092ad1028285549'
          actor: not_an_actor
        """,
    )
    labels, _ = load_tagpack(pack, actors=ACTORS)
    assert [lab.entity for lab in labels] == ["Lazarus Group", "Not An Actor"]
    assert labels[0].confidence == 100


# --------------------------------------------------------------------------------------------
# roles and precedence


def make(role="other", tier="imported", confidence=50, source="s", **kw) -> Label:
    fields = dict(
        chain="ethereum",
        address=BINANCE_14,
        label=f"{role} label",
        category=role,
        entity=None,
        role=role,
        source=source,
        confidence=confidence,
        origin="test",
        tier=tier,
    )
    fields.update(kw)
    return Label(**fields)


def test_category_role_map():
    assert CATEGORY_ROLES["hot_wallet"] == "exchange"
    assert CATEGORY_ROLES["coinjoin"] == "mixer"
    assert CATEGORY_ROLES["defi_bridge"] == "bridge"
    assert CATEGORY_ROLES["service_hack"] == "thief"
    assert CATEGORY_ROLES["defi_dex"] == "swap"
    assert set(CATEGORY_ROLES.values()) <= ROLES
    assert role_for_concepts(["user", "sanction"]) == ("sanctioned", "sanction")
    assert role_for_concepts(["service", "pyramid_scheme"]) == ("thief", "pyramid_scheme")
    assert role_for_concepts(["user"]) == ("other", "user")
    assert role_for_concepts([]) == ("other", "unknown")
    assert role_for_concepts(["Mixing_Service"]) == ("mixer", "Mixing_Service")
    assert ROLE_PRIORITY[:3] == ("deposit", "exchange", "mixer")


def test_precedence_tier_then_confidence_then_role():
    imported = make("exchange", confidence=100, source="a")
    curated = make("thief", tier="curated", confidence=40, source="b")
    case = make("victim", tier="case", confidence=10, source="c", entity="Victim Ltd")
    index = LabelIndex([imported, curated, case])
    assert index.role_of("ethereum", BINANCE_14) == ("victim", "Victim Ltd", case)
    assert LabelIndex([imported, curated]).role_of("ethereum", BINANCE_14).label == curated
    low = make("mixer", confidence=20, source="d")
    assert LabelIndex([low, imported]).role_of("ethereum", BINANCE_14).role == "exchange"
    # equal tier and confidence: the fixed role priority decides (stop roles first)
    tie = [make("sanctioned", source="x"), make("thief", source="y"), make("bridge", source="z")]
    for order in (tie, tie[::-1]):
        index = LabelIndex(order)
        assert index.role_of("ethereum", BINANCE_14).role == "bridge"
        assert [lab.role for lab in index.lookup("ethereum", BINANCE_14)] == [
            "bridge",
            "sanctioned",
            "thief",
        ]


def test_entity_of_takes_the_best_label_with_an_entity():
    index = LabelIndex(
        [make("exchange", confidence=90), make("exchange", confidence=50, entity="Binance")]
    )
    assert index.role_of("ethereum", BINANCE_14).name == "exchange label"
    assert index.entity_of("ethereum", BINANCE_14) == "Binance"
    assert index.entity_of("ethereum", RONIN) is None
    assert index.role_of("ethereum", RONIN) is None
    assert index.lookup("ethereum", RONIN) == []


def test_index_add_dedupes_and_counts():
    a, b = make("exchange", source="a"), make("exchange", source="b")
    index = LabelIndex([a, b, a])
    index.add([b])
    assert len(index) == 2 and sorted(index, key=lambda lab: lab.source) == [a, b]


def test_lookup_rejects_invalid_addresses_but_engine_callable_does_not():
    index = LabelIndex([make("exchange")])
    with pytest.raises(InvalidAddress):
        index.lookup("ethereum", "0x1234")
    role = engine_role_lookup(index, "ethereum")
    assert role(checksum_form(BINANCE_14)) == "exchange"
    assert role("0x1234") is None
    assert role(RONIN) is None


def test_label_validation():
    lab = make("exchange", address=checksum_form(BINANCE_14), chain="Ethereum")
    assert lab.address == BINANCE_14 and lab.chain == "ethereum"
    with pytest.raises(ValueError, match="role"):
        make("boss")
    with pytest.raises(ValueError, match="tier"):
        make(tier="gospel")
    with pytest.raises(ValueError, match="source"):
        make(source=" ")
    with pytest.raises(ValueError, match="confidence"):
        make(confidence=101)
    with pytest.raises(InvalidAddress):
        make(address="0x28c6")


# --------------------------------------------------------------------------------------------
# load_labels


def test_load_labels_dispatch(tmp_path):
    good = write(
        tmp_path,
        "sub/good.yml",
        """
        title: t
        creator: c
        source: s
        currency: ETH
        label: l
        confidence: heuristic
        tags:
        - address: '0x28c6c06298d514db089934071355e5743bf21d60'
        """,
    )
    assert good.suffix in LOADERS
    write(tmp_path, "sub/notes.txt", "ignored when walking a directory\n")
    index, warnings = load_labels(tmp_path / "sub", tier="case")
    assert len(index) == 1 and warnings == []
    assert index.role_of("ethereum", BINANCE_14).label.tier == "case"
    assert index.role_of("ethereum", BINANCE_14).label.confidence == 10

    index, warnings = load_labels([good, tmp_path / "sub" / "notes.txt"])
    assert len(index) == 1 and warnings == [
        f"{tmp_path / 'sub' / 'notes.txt'}: no label loader for '.txt'"
    ]

    broken = write(tmp_path, "broken.yaml", "title: [\n")
    with pytest.raises(LabelFileError):
        load_labels([good, broken])
    index, warnings = load_labels([good, broken], strict=False)
    assert len(index) == 1 and warnings[0].startswith(f"{broken}:")
