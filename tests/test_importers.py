"""Importers (tracer.importers): each format, bad rows with file:line, hostile text, equivalence."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import base58
import pyarrow as pa
import pytest

from tracer import addresses as A
from tracer.addresses import checksum_form, normalize, tron_to_hex
from tracer.importers import (
    LabelFormatError,
    address_key,
    batch_labels,
    import_file,
    slug_role,
    sniff,
)
from tracer.importers._normalize import normalize_column
from tracer.importers._rows import RAW_SCHEMA, RawBatch, _finish_small, finish
from tracer.labels import LabelFileError, load_labels

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LABELS = SHARED / "labels"
needs_labels = pytest.mark.skipif(
    not LABELS.is_dir(), reason=f"reference label lists not present at {LABELS} (../shared absent)"
)

RONIN = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
BINANCE_14 = "0x28c6c06298d514db089934071355e5743bf21d60"
TC_01 = "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


# --------------------------------------------------------------------------------------------
# real lists


@needs_labels
def test_ofac_lists_place_assets_on_chains():
    ofac = LABELS / "ofac-sdn-0xB10C"
    index, warnings = load_labels([ofac / "sanctioned_addresses_ETH.txt"])
    match = index.role_of("ethereum", RONIN)
    assert match.role == "sanctioned" and match.label.confidence == 60
    assert (
        "treasury.gov" in match.label.source
        and "sanctioned_addresses_ETH.txt" in match.label.source
    )
    assert match.label.origin.endswith(
        "sanctioned_addresses_ETH.txt:" + match.label.origin.rsplit(":", 1)[1]
    )
    line = int(match.label.origin.rsplit(":", 1)[1])
    assert (ofac / "sanctioned_addresses_ETH.txt").read_text().splitlines()[
        line - 1
    ].lower() == RONIN
    # USDT lists hold Ethereum, Tron and (Omni) Bitcoin addresses: placed by their form
    usdt, _ = load_labels([ofac / "sanctioned_addresses_USDT.json"])
    assert {lab.chain for lab in usdt} == {"ethereum", "tron", "bitcoin"}
    # the txt and json lists agree
    a, _ = load_labels([ofac / "sanctioned_addresses_XBT.txt"])
    b, _ = load_labels([ofac / "sanctioned_addresses_XBT.json"])
    assert {(x.chain, x.address) for x in a} == {(x.chain, x.address) for x in b}
    assert len(a) > 400
    # assets on chains tracer cannot validate are skipped with one warning per file
    _, warnings = load_labels([ofac / "sanctioned_addresses_LTC.txt"])
    assert len(warnings) == 1 and "asset LTC" in warnings[0] and "not support" in warnings[0]


@needs_labels
def test_etherscan_scrape_layouts():
    root = LABELS / "etherscan-labels" / "data"
    csv_labels, w = load_labels([root / "etherscan" / "accounts" / "binance.csv"])
    match = csv_labels.role_of("ethereum", BINANCE_14)
    assert match.role == "exchange" and match.label.label == "Binance 14"
    assert csv_labels.entity_of("ethereum", BINANCE_14) == "Binance"
    assert match.label.source.startswith(f"https://etherscan.io/address/{BINANCE_14}")
    tc, _ = load_labels([root / "etherscan" / "accounts" / "tornado-cash.csv"])
    assert tc.role_of("ethereum", TC_01).role == "mixer"
    token = "0x77777feddddffc19ff86db637967013e6c6a116c"  # Tornado.Cash: TORN Token
    assert tc.role_of("ethereum", token).role == "other"
    # combined JSON: Ethereum explorer -> ethereum; bscscan stays bsc
    combined, _ = load_labels([root / "etherscan" / "combined" / "combinedAllLabels.json"])
    assert combined.role_of("ethereum", RONIN).role == "sanctioned"
    bsc, w = load_labels([root / "bscscan" / "combined" / "combinedAllLabels.json"])
    assert {lab.chain for lab in bsc} == {"bsc"}
    assert any("invalid address" in x for x in w)  # "No matching records found" keys
    ftm, w = load_labels([root / "ftmscan" / "combined" / "combinedAllLabels.json"])
    assert len(ftm) == 0 and "tracer does not support" in w[0]


@needs_labels
def test_eth_labels_layouts():
    root = LABELS / "eth-labels"
    accounts = (
        root / "accounts-api-branch" / "data" / "etherscan" / "tornado-cash" / "accounts.json"
    )
    index, _ = load_labels([accounts])
    lab = index.role_of("ethereum", TC_01).label
    assert lab.role == "mixer" and lab.label == "Tornado.Cash: 0.1 ETH"
    text = accounts.read_text().splitlines()
    assert TC_01 in text[int(lab.origin.rsplit(":", 1)[1]) - 1]
    base = root / "accounts-api-branch" / "data" / "basescan"
    some = sorted(base.glob("*/accounts.json"))[0]
    assert {x.chain for x in load_labels([some])[0]} <= {"base"}
    heists, _ = load_labels([root / "master-branch" / "src" / "mainnet" / "phish-hack" / "all.csv"])
    assert len(heists) > 5000 and {x.role for x in heists} == {"thief"}
    assert sniff(root / "accounts-api-branch" / "data" / "basescan" / "aave" / "tokens.json") == (
        "eth-labels-json"
    )


@needs_labels
def test_forta_datasets():
    root = LABELS / "forta-labelled-datasets" / "labels"
    index, warnings = load_labels([root / "1" / "etherscan_malicious_labels.csv"])
    assert len(index) > 7000 and {lab.role for lab in index} == {"thief"}
    contracts, _ = load_labels([root / "1" / "malicious_smart_contracts.csv"])
    assert "0x04ae3226c80e8c04d35e6e56089345bdd06da6de" in {x.address for x in contracts}
    op, _ = load_labels([root / "10" / "malicious_smart_contracts.csv"])
    assert {x.chain for x in op} == {"optimism"}


def test_slug_roles():
    assert slug_role("binance", "Binance 14")[0] == "exchange"
    assert slug_role("binance-deposit", None)[0] == "deposit"
    assert slug_role("tornado-cash", "Tornado.Cash: 100 ETH")[0] == "mixer"
    assert slug_role("tornado-cash", "Tornado.Cash: Governance Vesting")[0] == "other"
    assert slug_role("bridge", "Avalanche: Bridge")[0] == "bridge"
    assert slug_role("celer-network", "Celer Network: cBridge 2.0")[0] == "bridge"
    assert slug_role("celer-network", "Celer Network: CELR Token")[0] == "other"
    assert slug_role("ofac-sanctions-lists", "Ronin Bridge Exploiter")[0] == "sanctioned"
    assert slug_role("phish-hack", "Fake_Phishing1")[0] == "thief"
    assert slug_role("uniswap", "Uniswap V2: Router 2")[0] == "swap"
    assert slug_role("defi", "Harmony Exploiter 3")[0] == "thief"


# --------------------------------------------------------------------------------------------
# OFAC sdn_advanced.xml (Treasury's schema, a tiny synthetic file)

SDN_XML = """<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <DateOfIssue><Year>2024</Year><Month>9</Month><Day>27</Day></DateOfIssue>
  <ReferenceValueSets>
    <FeatureTypeValues>
      <FeatureType ID="8">Website</FeatureType>
      <FeatureType ID="344">Digital Currency Address - XBT</FeatureType>
      <FeatureType ID="345">Digital Currency Address - ETH</FeatureType>
      <FeatureType ID="686">Digital Currency Address - LTC</FeatureType>
      <FeatureType ID="887">Digital Currency Address - TRX</FeatureType>
    </FeatureTypeValues>
  </ReferenceValueSets>
  <DistinctParties>
    <DistinctParty FixedRef="1">
      <Profile ID="1" PartySubTypeID="4">
        <Identity ID="1" FixedRef="1" Primary="true">
          <Alias FixedRef="1" AliasTypeID="1403" Primary="true">
            <DocumentedName ID="1" FixedRef="1">
              <DocumentedNamePart><NamePartValue NamePartGroupID="1">LAZARUS GROUP</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
          <Alias FixedRef="1" AliasTypeID="1400" Primary="false">
            <DocumentedName ID="2" FixedRef="1">
              <DocumentedNamePart><NamePartValue NamePartGroupID="1">APPLEWORM</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="10" FeatureTypeID="345">
          <FeatureVersion ID="11" ReliabilityID="1">
            <VersionDetail DetailTypeID="1432">0x098B716B8Aaf21512996dC57EB0615e2383E2f96</VersionDetail>
          </FeatureVersion>
        </Feature>
        <Feature ID="12" FeatureTypeID="345">
          <FeatureVersion ID="13" ReliabilityID="1">
            <VersionDetail DetailTypeID="1432">0x098B716B8Aaf21512996dC57EB0615e2383E2f97</VersionDetail>
          </FeatureVersion>
        </Feature>
        <Feature ID="14" FeatureTypeID="8">
          <FeatureVersion ID="15"><VersionDetail DetailTypeID="1432">lazarus.example</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="16" FeatureTypeID="686">
          <FeatureVersion ID="17"><VersionDetail DetailTypeID="1432">LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb</VersionDetail></FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="2">
      <Profile ID="2" PartySubTypeID="3">
        <Identity ID="2" FixedRef="2" Primary="true">
          <Alias FixedRef="2" AliasTypeID="1403" Primary="true">
            <DocumentedName ID="3" FixedRef="2">
              <DocumentedNamePart><NamePartValue NamePartGroupID="2">SINBAD.IO</NamePartValue></DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="20" FeatureTypeID="344">
          <FeatureVersion ID="21"><VersionDetail DetailTypeID="1432">1JHdQHkBZiim1cb4hyUh2PbzEbbg6z2TrF</VersionDetail></FeatureVersion>
        </Feature>
        <Feature ID="22" FeatureTypeID="887">
          <FeatureVersion ID="23"><VersionDetail DetailTypeID="1432">TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre</VersionDetail></FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
  </DistinctParties>
</Sanctions>
"""


def test_sdn_advanced_xml(tmp_path):
    path = tmp_path / "sdn_advanced.xml"
    path.write_text(SDN_XML, encoding="utf-8")
    assert sniff(path) == "ofac-sdn-xml"
    index, warnings = load_labels([path])
    assert len(index) == 3
    ronin = index.role_of("ethereum", RONIN).label
    assert ronin.role == "sanctioned" and ronin.entity == "LAZARUS GROUP"
    assert ronin.label == "OFAC SDN: LAZARUS GROUP" and ronin.lastmod == "2024-09-27"
    xml_lines = SDN_XML.splitlines()
    ronin_line = next(i + 1 for i, ln in enumerate(xml_lines) if "2383E2f96<" in ln)
    bad_line = next(i + 1 for i, ln in enumerate(xml_lines) if "2383E2f97<" in ln)
    assert ronin.origin == f"{path}:{ronin_line}"
    assert index.entity_of("bitcoin", "1JHdQHkBZiim1cb4hyUh2PbzEbbg6z2TrF") == "SINBAD.IO"
    assert index.role_of("tron", "TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre").role == "sanctioned"
    assert any(f":{bad_line}: invalid address" in w and "EIP-55" in w for w in warnings)
    assert any("LTC address(es) skipped" in w for w in warnings)


def test_malformed_xml_and_external_entities_are_refused(tmp_path):
    bad = write(tmp_path, "sdn_bad.xml", "<Sanctions><DateOfIssue>\n")
    with pytest.raises(LabelFileError, match=r"sdn_bad.xml:2: malformed XML"):
        load_labels([bad])
    secret = tmp_path / "secret.txt"
    secret.write_text("Digital Currency Address - ETH")
    xxe = write(
        tmp_path,
        "sdn_xxe.xml",
        f"""<?xml version="1.0"?>
        <!DOCTYPE s [<!ENTITY x SYSTEM "file://{secret}">]>
        <Sanctions><ReferenceValueSets><FeatureTypeValues>
        <FeatureType ID="1">&x;</FeatureType>
        </FeatureTypeValues></ReferenceValueSets></Sanctions>
        """,
    )
    with pytest.raises(LabelFileError, match="not an sdn_advanced.xml"):
        load_labels([xxe])  # the external entity is not fetched


# --------------------------------------------------------------------------------------------
# malformed files and bad rows


def test_tracer_csv_bad_rows_are_reported_with_lines(tmp_path):
    p = write(
        tmp_path,
        "mine.csv",
        f"""
        chain,address,label,source,category,role,confidence
        ethereum,{BINANCE_14},Binance 14,https://x.org,exchange,,service_data
        ethereum,{BINANCE_14.upper().replace("0X", "0x")},Binance 14 again,https://x.org,,exchange,50
        ethereum,{checksum_form(BINANCE_14).replace("C", "c", 1)},bad checksum,https://x.org,,,
        tron,TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2,bad base58,https://x.org,,,
        ethereum,{RONIN},"multi
        line label",https://x.org,hacking,,
        dogecoin,DBXu2kgc3xtvCUWFcxFE3r9hEYgmuaaCyD,unsupported,https://x.org,,,
        ethereum,{RONIN},no source,,,,
        ethereum,{RONIN},wrong role,https://x.org,,wizard,
        ethereum,{RONIN},wrong confidence,https://x.org,,,certain
        ethereum,{RONIN},"multi
        line label",https://x.org,hacking,,
        """,
    )
    assert sniff(p) == "tracer-csv"
    batch = import_file(p)
    assert batch.read == 10 and batch.table.num_rows == 3 and batch.skipped == 7
    msgs = "\n".join(batch.warnings)
    assert f"{p}:4: invalid address" in msgs and "EIP-55" in msgs
    assert f"{p}:5: invalid address" in msgs and "base58check" in msgs
    assert f"{p}:8: invalid address" in msgs and "unknown chain 'dogecoin'" in msgs
    assert f"{p}:9: missing label or source, skipped" in msgs
    assert f"{p}:10: unknown role 'wizard', skipped" in msgs
    assert f"{p}:11: unknown confidence 'certain', skipped" in msgs
    assert f"{p}:12: 1 duplicate row(s)" in msgs
    labels = {lab.label: lab for lab in batch_labels(batch)}
    assert labels["multi\nline label"].origin == f"{p}:6"
    assert labels["multi\nline label"].role == "thief"
    assert labels["Binance 14"].role == "exchange" and labels["Binance 14"].confidence == 50


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("x.csv", "a,b,c\n1,2,3\n", "unknown CSV label layout"),
        ("x.json", '"just a string"', "unknown JSON label layout"),
        ("combined/x.json", "{not json", "unknown explorer folder"),
        ("data/etherscan/combined/x.json", "{not json", "malformed JSON"),
        ("sanctioned_addresses_ETH.json", "{}", "empty"),
        ("sanctioned_addresses_ETH.json", '{"a": 1}', "must be an array"),
        ("labels/99/phishing.csv", "address,etherscan_tag\n0x1,x\n", "cannot tell the chain"),
        ("x.xml", "<root/>", "not an OFAC sdn_advanced.xml"),
    ],
)
def test_malformed_files_raise_one_clear_error(tmp_path, name, text, message):
    p = write(tmp_path, name, text)
    if message == "empty":
        index, warnings = load_labels([p])
        assert len(index) == 0 and warnings == [f"{p}: empty list"]
        return
    with pytest.raises(LabelFileError, match=message):
        load_labels([p])


def test_bad_rows_in_scrapes_are_skipped(tmp_path):
    p = write(
        tmp_path,
        "data/etherscan/accounts/exchange.csv",
        f"""
        ,Address,Name Tag,Balance,Txn Count
        0,{BINANCE_14},Binance 14,1 ETH,10
        1,0xnot-an-address,Hacked Exchange,1 ETH,10
        2,,Empty,0 ETH,0
        """,
    )
    index, warnings = load_labels([p])
    assert len(index) == 1
    assert any(f"{p}:3: invalid address" in w for w in warnings)
    assert any(f"{p}:4: invalid address" in w and "empty" in w for w in warnings)


def test_hostile_strings_stay_data(tmp_path):
    evil = "Binance\x1b[31m 14\u202e\x00; {__import__('os').system('echo pwned')}" + "x" * 900
    p = tmp_path / "data" / "etherscan" / "combined" / "c.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({BINANCE_14: {"name": evil, "labels": ["binance"]}}))
    index, warnings = load_labels([p])
    lab = index.role_of("ethereum", BINANCE_14).label
    assert "\x1b" not in lab.label and "\u202e" not in lab.label and "\x00" not in lab.label
    assert "__import__" in lab.label  # kept as text, never evaluated
    assert len(lab.label) <= 500 and any("overlong label" in w for w in warnings)
    from tracer.labels import display_text

    assert display_text("a\x1b[2J\nb\u202ec", 50) == "a [2J b c"


# --------------------------------------------------------------------------------------------
# column-wise validation == tracer.addresses.normalize


def _bech32(hrp: str, version: int, program: bytes) -> str:
    acc = bits = 0
    data = [version]
    for b in program:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    const = A._BECH32_CONST if version == 0 else A._BECH32M_CONST
    pm = A._bech32_polymod(A._bech32_hrp_expand(hrp) + data + [0] * 6) ^ const
    return (
        hrp
        + "1"
        + "".join(A._BECH32_CHARSET[d] for d in data + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])
    )


def _samples(rng: random.Random, n: int) -> list[tuple[str, str]]:
    def rb(k):
        return bytes(rng.getrandbits(8) for _ in range(k))

    out = []
    for _ in range(n):
        evm = "0x" + rb(20).hex()
        out += [
            ("ethereum", evm),
            ("polygon", checksum_form(evm)),
            ("bsc", "0X" + evm[2:].upper()),
            ("tron", base58.b58encode_check(b"\x41" + rb(20)).decode()),
            ("tron", "41" + rb(20).hex()),
            ("bitcoin", base58.b58encode_check(b"\x00" + rb(20)).decode()),
            ("bitcoin", base58.b58encode_check(b"\x00\x00" + rb(19)).decode()),
            ("bitcoin", base58.b58encode_check(b"\x05" + rb(20)).decode()),
            ("bitcoin", base58.b58encode_check(b"\x6f" + rb(20)).decode()),
            ("bitcoin", _bech32("bc", 0, rb(rng.choice((20, 32))))),
            ("bitcoin", _bech32("bc", 1, rb(32)).upper()),
            ("bitcoin", _bech32("bc", rng.choice((1, 2, 16)), rb(rng.choice((2, 20, 40))))),
            ("bitcoin", _bech32("tb", 0, rb(20))),
        ]
    return out


def _corrupt(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice("0123456789abcdefABCDEFxXqpTlIO1 ") + text[i + 1 :]


def test_column_validation_matches_normalize():
    rng = random.Random(20240927)
    good = _samples(rng, 120)
    rows = good + [(c, _corrupt(rng, a)) for c, a in good] + [(c, a[:-1]) for c, a in good[:200]]
    rows += [
        ("ethereum", ""),
        ("ethereum", None),
        (None, BINANCE_14),
        ("fantom", BINANCE_14),
        ("Ethereum", "  " + BINANCE_14 + " "),
        ("ethereum", "0x" + "ab" * 32),
    ]
    canonical, keys, errors = normalize_column([c for c, _ in rows], [a for _, a in rows])
    canonical = canonical.to_pylist()
    for i, (chain, text) in enumerate(rows):
        try:
            expected = normalize(chain, text)
        except Exception:
            expected = None
        assert canonical[i] == expected, (chain, text, errors.get(i))
        if expected is None:
            assert i in errors
        else:
            assert int(keys[i]) == address_key(chain.lower(), expected)


def test_small_and_large_paths_agree():
    rng = random.Random(7)
    rows = _samples(rng, 60)
    rows = rows + [(c, _corrupt(rng, a)) for c, a in rows[:100]] + rows[:50]
    n = len(rows)
    assert n > 512
    table = pa.table(
        {
            "chain": [c for c, _ in rows],
            "address": [a for _, a in rows],
            "line": list(range(2, n + 2)),
            "label": [f"l{i % 7}" for i in range(n)],
            "category": ["user"] * n,
            "entity": [None] * n,
            "role": ["other"] * n,
            "source": ["https://x.org"] * n,
            "confidence": [20] * n,
            "lastmod": [None] * n,
            "concepts": [None] * n,
        },
        schema=RAW_SCHEMA,
    )
    raw = RawBatch("f.csv", "tracer-csv", table)
    big, small = finish(raw), _finish_small(raw)
    assert big.table.to_pylist() == small.table.to_pylist()
    assert sorted(big.warnings) == sorted(small.warnings)
    assert big.skipped == small.skipped > 0


def test_address_forms_normalize_to_one_key():
    tron = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert address_key("tron", normalize("tron", tron_to_hex(tron))) == address_key("tron", tron)
    assert address_key("ethereum", normalize("ethereum", checksum_form(RONIN))) == address_key(
        "ethereum", RONIN
    )
    assert address_key("ethereum", RONIN) != address_key("bsc", RONIN)


def test_unknown_extension_is_not_a_label_file(tmp_path):
    p = write(tmp_path, "notes.md", "hello")
    with pytest.raises(LabelFormatError, match="no label importer"):
        sniff(p)
