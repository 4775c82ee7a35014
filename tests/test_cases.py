"""Case and curated-entity files in addresses/: schema, sources, validation, load_case, CLI, trace."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracer import api, cases
from tracer.addresses import normalize
from tracer.cases import CASE_ROLES, SEED_ROLES, case_dict, entity_files, list_cases, load_case_file
from tracer.engine import TraceInputError
from tracer.labels import ROLES, load_labels

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CASE_CSV = SHARED / "cases" / "case_addresses.csv"
EXCHANGE_CSV = SHARED / "cases" / "exchange_addresses.csv"
needs_shared = pytest.mark.skipif(
    not CASE_CSV.is_file(), reason=f"reference data not present at {SHARED} (../shared is absent)"
)

REQUIRED_CASES = {
    "deribit-2022",
    "stake-2023",
    "fbi-2023-08",
    "ronin-2022",
    "harmony-2022",
    "wazirx-2024",
    "bybit-2025",
}
BAD_TRON = "TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2"  # a Deribit forfeiture address, as published
DERIBIT_SEED = "0x8d08aad4b2bac2bb761ac4781cf62468c9ec47b4"
TC_100 = "0xa160cdab225685da1d56aa342ad8841c3b53f291"
BINANCE_14 = "0x28c6c06298d514db089934071355e5743bf21d60"
CBRIDGE = "0x5427fefa711eff984124bfbb1ab6fbf5e3da1820"


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def all_cases():
    return {c.name: c for c in list_cases()}


# --------------------------------------------------------------------------------------------
# the files


def test_addresses_dir_is_found_next_to_the_package():
    root = cases.addresses_dir()
    assert root == REPO / "addresses"
    assert (root / "README.md").is_file()


def test_required_cases_exist_and_load(all_cases):
    assert REQUIRED_CASES <= set(all_cases)
    for name, case in all_cases.items():
        assert case.path.stem == name
        assert case.title and case.date and case.since, name
        assert case.seeds, f"{name} has no seed"
        assert case.sources, name


def test_every_row_has_a_source_and_a_known_role(all_cases):
    for case in all_cases.values():
        for row in case.rows:
            assert row["source"].startswith("https://"), (case.name, row)
            assert row["role"] in CASE_ROLES
        for lab in case.labels:
            assert lab.tier == "case" and lab.role in ROLES and lab.source
            assert lab.origin.startswith(str(case.path) + ":")
        for asset in case.assets:
            assert asset["source"].startswith("https://")


def test_bad_deribit_tron_address_is_reported_with_file_and_line(all_cases):
    deribit = all_cases["deribit-2022"]
    assert deribit.invalid == 1
    [warning] = [w for w in deribit.warnings if BAD_TRON in w]
    path, line, rest = warning.split(":", 2)
    assert path == str(deribit.path)
    text = deribit.path.read_text().splitlines()
    assert BAD_TRON in text[int(line) - 1]  # the reported line is the one with the address
    assert "base58check checksum" in rest and rest.endswith("skipped")
    assert all(BAD_TRON not in (r["address"]) for r in deribit.rows)
    # the four other forfeiture rows are kept, with their amounts
    forfeiture = [r for r in deribit.rows if r["role"] == "forfeiture"]
    assert sorted(int(r["amount"]) for r in forfeiture) == [37464, 90408, 267002, 504883]


def test_deribit_facts(all_cases):
    d = all_cases["deribit-2022"]
    by = {(r["chain"], r["address"]): r for r in d.rows}
    assert by[("ethereum", DERIBIT_SEED)]["role"] == "thief"
    assert by[("ethereum", "0x58f56615180a8eea4c462235d9e215f72484b4a3")]["role"] == "victim"
    tc = [r for r in d.rows if r["role"] == "mixer_withdrawal"]
    assert len(tc) == 9 and all(r["asset"] == "ETH" and r["date"] for r in tc)
    assert by[("tron", "TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBnbS")]["role"] == "consolidation"
    assert by[("tron", "TVaV2BBs8tpthbp19QAy7ibmXLoYsomKDD")]["role"] == "gas_funder"
    btc = normalize("bitcoin", "bc1qw5g8lw4kzltpdcraehy2dt6dqda8080xd6vhl4kg4wwsypwerg9s3x6pvk")
    assert by[("bitcoin", btc)]["role"] == "thief" and by[("bitcoin", btc)]["seed"]
    assert {s["chain"] for s in d.seeds} == {"ethereum", "tron", "bitcoin"}
    assert d.seeds[0]["address"] == DERIBIT_SEED  # the first seed picks the default chain
    symbols = {(a["chain"], a["symbol"]) for a in d.assets}
    assert {("ethereum", "USDC"), ("tron", "USDT"), ("bitcoin", "BTC")} <= symbols


def test_bybit_carries_the_fbi_51(all_cases):
    bybit = all_cases["bybit-2025"]
    fbi = [r for r in bybit.rows if "FBI PSA" in r["label"]]
    assert len(fbi) == 51 and len({r["address"] for r in fbi}) == 51
    assert all("ic3.gov/PSA/2025/PSA250226" in r["source"] for r in fbi)
    # the same address named by two sources keeps both labels, and seeds once
    addresses = [s["address"] for s in bybit.seeds]
    assert len(addresses) == len(set(addresses))


@needs_shared
def test_case_files_transcribe_case_addresses_csv(all_cases):
    """Every public fact of case_addresses.csv is in a case file, address as written."""
    names = {
        "Deribit": "deribit-2022",
        "Stake.com": "stake-2023",
        "FBI": "fbi-2023-08",
        "Ronin": "ronin-2022",
        "Harmony": "harmony-2022",
        "WazirX": "wazirx-2024",
        "Bybit": "bybit-2025",
    }
    with CASE_CSV.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        name = names[r["case"].split()[0]]
        text = all_cases[name].path.read_text()
        assert f'address: "{r["address"]}"' in text, (name, r["address"])
        assert json.dumps(r["role"]) in text, (name, r["role"])
        if r["checksum_ok"] == "True":
            canonical = normalize(r["chain"], r["address"])
            assert any(
                x["address"] == canonical and x["chain"] == r["chain"] for x in all_cases[name].rows
            ), (name, r["address"])
    per_case = {}
    for r in rows:
        per_case[names[r["case"].split()[0]]] = per_case.get(names[r["case"].split()[0]], 0) + 1
    for name, count in per_case.items():
        case = all_cases[name]
        assert len(case.rows) + case.invalid == count, name


def test_entities_cover_the_curated_services():
    labels, warnings = load_labels([REPO / "addresses" / "entities"])
    assert warnings == []
    assert {lab.tier for lab in labels} == {"curated"}
    roles = {}
    for lab in labels:
        roles.setdefault(lab.role, set()).add(lab.chain)
        assert lab.source.startswith("https://")
    assert roles["exchange"] >= {"ethereum", "tron", "bitcoin"}
    assert roles["mixer"] >= {"ethereum", "bitcoin"}
    assert "bridge" in roles and "issuer" in roles
    assert labels.role_of("ethereum", TC_100).role == "mixer"
    assert labels.entity_of("ethereum", BINANCE_14) == "Binance"
    assert labels.role_of("ethereum", CBRIDGE).role == "bridge"
    usdt = labels.role_of("tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
    assert usdt.role == "issuer" and usdt.label.entity == "Tether"
    funders = [lab for lab in labels if lab.category == "deposit_funder"]
    assert len(funders) >= 3 and all(lab.role == "exchange" for lab in funders)


@needs_shared
def test_entities_transcribe_exchange_addresses_csv():
    labels, _ = load_labels([REPO / "addresses" / "entities" / "exchanges.yaml"])
    with EXCHANGE_CSV.open(newline="") as fh:
        for r in csv.DictReader(fh):
            match = labels.role_of(r["chain"], r["address"])
            assert match is not None and match.role == "exchange", r["address"]


# --------------------------------------------------------------------------------------------
# schema errors, on small files


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def test_case_file_errors_are_reported_per_row(tmp_path):
    p = _write(
        tmp_path,
        "mini.yaml",
        """
        kind: tracer-case
        schema: 1
        name: mini
        title: Mini
        date: 2024-01-02
        sources:
          s: {url: "https://example.org/a"}
        addresses:
          - {chain: ethereum, address: "0x28c6c06298d514db089934071355e5743bf21d60", role: thief, label: ok, source: s}
          - {chain: ethereum, address: "0x28c6c06298d514db089934071355e5743bf21d61", role: wizard, label: bad role, source: s}
          - {chain: ethereum, address: "0x28c6c06298d514db089934071355e5743bf21d62", role: thief, label: no source}
          - {chain: ethereum, address: "0x28C6c06298d514db089934071355e5743bf21d60", role: thief, label: bad checksum, source: s}
          - {chain: ethereum, address: 0x28c6c06298d514db089934071355e5743bf21d63, role: victim, label: unquoted hex, source: "https://example.org/b"}
          - {chain: dogecoin, address: "D123", role: thief, label: chain, source: s}
          - {chain: ethereum, address: "0x28c6c06298d514db089934071355e5743bf21d60", role: thief, label: ok, source: s}
        """,
    )
    case = load_case_file(p)
    assert [r["label"] for r in case.rows] == ["ok", "unquoted hex"]
    assert case.since == 1704153600
    lines = {w.split(":")[1]: w for w in case.warnings}
    assert "unknown case role 'wizard'" in lines["10"]
    assert "source must be a key of 'sources' or a URL" in lines["11"]
    assert "EIP-55" in lines["12"]
    assert "unknown chain" in lines["14"]
    assert "duplicate of the row at line 9" in lines["15"]
    assert case.invalid == 4


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: tracer-case\nschema: 1\naddresses: []\n", "missing 'name'"),
        ("kind: tracer-case\nschema: 2\nname: x\naddresses: []\n", "schema 2 not supported"),
        ("kind: tracer-case\nname: other\naddresses: []\n", "'name' is 'other' but the file"),
        ("kind: tracer-case\nname: x\naddresses: {}\n", "'addresses' must be a list"),
        (
            "kind: tracer-case\nname: x\nsources: {s: {}}\naddresses: []\n",
            "source 's' needs a 'url'",
        ),
    ],
)
def test_case_file_structure_errors(tmp_path, text, message):
    p = tmp_path / "x.yaml"
    p.write_text(text)
    with pytest.raises(cases.CaseError, match=message):
        load_case_file(p)


# --------------------------------------------------------------------------------------------
# load_case and the CLI


def test_load_case_returns_the_sandbox_shape():
    d = api.load_case("deribit-2022")
    assert "data" not in d and d["synthetic"] is False
    assert d["seeds"][0] == {
        "chain": "ethereum",
        "address": DERIBIT_SEED,
        "role": "thief",
        "label": d["seeds"][0]["label"],
        "source": d["seeds"][0]["source"],
    }
    assert isinstance(d["since"], int)
    assert {a["symbol"] for a in d["assets"]} == {"USDC", "USDT"}
    assert all(set(a) == {"chain", "address", "symbol", "decimals", "issuer"} for a in d["assets"])
    assert d["labels"][0].endswith("deribit-2022.yaml")
    assert {Path(p).name for p in d["labels"][1:]} == {p.name for p in entity_files()}
    assert any(BAD_TRON in w for w in d["warnings"])
    index, warnings = load_labels(d["labels"])
    assert index.role_of("ethereum", DERIBIT_SEED).label.tier == "case"
    assert index.role_of("ethereum", TC_100).label.tier == "curated"
    assert any(BAD_TRON in w for w in warnings)


def test_unknown_case_lists_the_known_ones():
    with pytest.raises(TraceInputError, match="unknown case 'nope'.*deribit-2022"):
        api.load_case("nope")


def test_seed_roles_are_case_roles():
    assert SEED_ROLES <= set(CASE_ROLES)
    assert case_dict("fbi-2023-08")["seeds"][0]["chain"] == "bitcoin"


def test_cli_cases_lists_counts():
    r = run("cases", "--json")
    assert r.returncode == 0, r.stderr
    listed = {c["name"]: c for c in json.loads(r.stdout)}
    assert REQUIRED_CASES <= set(listed)
    assert listed["deribit-2022"]["skipped"] == 1
    assert listed["bybit-2025"]["addresses"] == 114
    r = run("cases")
    assert r.returncode == 0 and "deribit-2022" in r.stdout and BAD_TRON in r.stdout
    r = run("cases", "deribit-2022", "--json")
    assert json.loads(r.stdout)["seeds"][0]["address"] == DERIBIT_SEED


def test_trace_real_case_without_data_fails_with_one_line(tmp_path):
    r = run("trace", "--case", "deribit-2022", "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--data" in r.stderr and "live --source" in r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------------
# a real case traced over the user's own exports


def _export(directory: Path) -> None:
    """A few ETH transfers from the Deribit theft address, in ethereum-etl CSV layout."""
    directory.mkdir(parents=True, exist_ok=True)
    hot = "0x58f56615180a8eea4c462235d9e215f72484b4a3"
    mid = "0x00000000000000000000000000000000000000a1"
    eth = 10**18
    txs = [  # (hash digit, from, to, ETH, block)
        (1, hot, DERIBIT_SEED, 1000, 16_000_000),
        (2, DERIBIT_SEED, TC_100, 100, 16_000_001),
        (3, DERIBIT_SEED, BINANCE_14, 50, 16_000_002),
        (4, DERIBIT_SEED, mid, 200, 16_000_003),
        (5, mid, CBRIDGE, 200, 16_000_004),
    ]
    t0 = 1667304000  # 2022-11-01T12:00:00Z
    with (directory / "transactions.csv").open("w") as fh:
        fh.write(
            "hash,block_number,transaction_index,from_address,to_address,value,block_timestamp\n"
        )
        for d, a, b, v, blk in txs:
            fh.write(f"0x{d:064x},{blk},0,{a},{b},{v * eth},{t0 + blk - 16_000_000}\n")
    with (directory / "receipts.csv").open("w") as fh:
        fh.write("transaction_hash,status\n")
        for d, *_ in txs:
            fh.write(f"0x{d:064x},1\n")
    with (directory / "blocks.csv").open("w") as fh:
        fh.write("number,timestamp\n")
        for *_, blk in txs:
            fh.write(f"{blk},{t0 + blk - 16_000_000}\n")


def test_trace_deribit_case_over_user_exports(tmp_path):
    data = tmp_path / "exports"
    _export(data)
    result = api.trace(case="deribit-2022", data=data, hops=3)
    assert result.outcome.chain == "ethereum"
    assert DERIBIT_SEED in result.outcome.seeds and len(result.outcome.seeds) == 12
    kinds = {(f.kind, f.address) for f in result.flag_list}
    assert ("mixer", TC_100) in kinds
    assert ("exchange", BINANCE_14) in kinds
    assert ("bridge", CBRIDGE) in kinds
    seed_node = result.graph.nodes[f"ethereum:{DERIBIT_SEED}"]
    assert seed_node["labels"][0]["tier"] == "case"
    tc_node = result.graph.nodes[f"ethereum:{TC_100}"]
    assert tc_node["labels"][0]["tier"] == "curated" and tc_node["role"] == "mixer"
    assert result.manifest["inputs"]["case"] == "deribit-2022"
    assert any(BAD_TRON in w for w in result.warnings)  # the skipped row stays visible


def test_trace_case_cli_with_data_and_label_store(tmp_path):
    from tracer.label_store import LabelStore
    from tracer.labels import Label

    data = tmp_path / "exports"
    _export(data)
    store = tmp_path / "labels.duckdb"
    mid = "0x00000000000000000000000000000000000000a1"
    with LabelStore(store) as st:
        st.add(
            [
                Label(
                    "ethereum",
                    mid,
                    "Peel hop",
                    "user",
                    None,
                    "other",
                    "https://example.org/x",
                    20,
                    "test:1",
                )
            ],
            name="test-labels",
        )
    out = tmp_path / "out"
    r = run(
        "trace",
        "--case",
        "deribit-2022",
        "--data",
        str(data),
        "--label-store",
        str(store),
        "--hops",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["label_store"]["labels"] == 1
    with (out / "flags.csv").open() as fh:
        flagged = {(row["kind"], row["address"]) for row in csv.DictReader(fh)}
    assert ("mixer", TC_100) in flagged and ("bridge", CBRIDGE) in flagged
    nodes = json.loads((out / "graph.json").read_text())["nodes"]
    [node] = [n for n in nodes if n["address"] == mid]
    assert node["labels"][0]["label"] == "Peel hop"
