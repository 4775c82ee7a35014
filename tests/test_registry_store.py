"""The label store: every real list imported, sources side by side, precedence, exact lookups."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.addresses import checksum_form, normalize, tron_to_hex
from tracer.label_store import LabelStore, LabelStoreError, MergedLabels
from tracer.labels import Label, LabelIndex, load_labels

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
LABELS = SHARED / "labels"
needs_labels = pytest.mark.skipif(
    not LABELS.is_dir(), reason=f"reference label lists not present at {LABELS} (../shared absent)"
)

RONIN = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
BINANCE_14 = "0x28c6c06298d514db089934071355e5743bf21d60"
TC_01 = "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc"
BINANCE_TRON = "TV6MuMXfmLbBqPZvBHdwFsDnQeVfnmiuSi"
BINANCE_BECH32 = "bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3h"


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, timeout=600
    )


def make(address=BINANCE_14, role="other", tier="imported", confidence=50, source="s", **kw):
    return Label(
        chain=kw.pop("chain", "ethereum"),
        address=address,
        label=kw.pop("label", f"{role} {tier}"),
        category=kw.pop("category", role),
        entity=kw.pop("entity", None),
        role=role,
        source=source,
        confidence=confidence,
        origin=kw.pop("origin", "test:1"),
        tier=tier,
        **kw,
    )


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Every list of ../shared/data/labels plus addresses/, imported once: (store, reports)."""
    if not LABELS.is_dir():
        pytest.skip(f"reference label lists not present at {LABELS} (../shared absent)")
    path = tmp_path_factory.mktemp("store") / "labels.duckdb"
    st = LabelStore(path)
    lists = st.import_paths([LABELS])
    registry = st.import_paths([REPO / "addresses"])
    yield st, lists, registry
    st.close()


# --------------------------------------------------------------------------------------------
# every real list


@needs_labels
def test_every_list_imports(real):
    st, report, _ = real
    assert report.failed == []
    files = [p for p in LABELS.rglob("*") if p.is_file()]
    handled = {Path(f.path) for f in report.files}
    label_like = [
        p
        for p in files
        if p.suffix in (".yaml", ".csv", ".json") and not p.name.endswith(".actorpack.yaml")
    ]
    label_like += list(LABELS.rglob("sanctioned_addresses_*.txt"))
    assert {p.resolve() for p in label_like} <= handled
    assert {f.status for f in report.files} == {"imported"}
    formats = {f.format for f in report.files if f.status == "imported"}
    assert {
        "ofac-list",
        "yaml",
        "etherscan-csv",
        "etherscan-combined",
        "eth-labels-json",
    } <= formats
    assert {"eth-labels-csv", "forta-csv"} <= formats
    assert report.imported > 150_000
    # every file that skipped rows says so, naming itself (and the line where it has lines)
    assert report.skipped > 0
    for f in report.files:
        if f.skipped:
            assert f.warnings and all(w.startswith(f.path) for w in f.warnings), f.path
    assert any(":" in w.split(" ", 1)[0] and "invalid address" in w for w in report.warnings)


@needs_labels
def test_real_facts(real):
    st, _, _ = real
    ronin = st.lookup("ethereum", RONIN)
    imported = [lab for lab in ronin if lab.tier == "imported"]
    assert any(
        lab.role == "sanctioned" and "sanctioned_addresses_ETH" in lab.origin for lab in imported
    )
    assert len({lab.source for lab in imported}) >= 4  # OFAC, GraphSense, Etherscan, ...
    binance = st.lookup("ethereum", BINANCE_14)
    assert {lab.role for lab in binance} == {"exchange"}
    assert any(lab.label == "Binance 14" for lab in binance)
    assert st.entity_of("ethereum", BINANCE_14) == "Binance"
    tc = [lab for lab in st.lookup("ethereum", TC_01) if lab.tier == "imported"]
    assert any(lab.role == "mixer" for lab in tc)
    # the registry's tiers decide the engine role, the imported claims stay visible
    assert st.role_of("ethereum", RONIN).label.tier == "case"
    assert st.role_of("ethereum", TC_01).role == "mixer"
    assert st.role_of("ethereum", TC_01).label.tier == "curated"
    assert st.role_of("ethereum", BINANCE_14).label.tier == "curated"


@needs_labels
def test_lookups_are_exact_for_every_address_form(real):
    st, _, _ = real
    assert st.lookup("ethereum", checksum_form(RONIN)) == st.lookup("ethereum", RONIN)
    assert st.lookup("ethereum", "0X" + RONIN[2:].upper()) == st.lookup("ethereum", RONIN)
    tron = st.lookup("tron", BINANCE_TRON)
    assert tron and tron == st.lookup("tron", tron_to_hex(BINANCE_TRON))
    assert tron == st.lookup("tron", "0x" + tron_to_hex(BINANCE_TRON))
    btc = st.lookup("bitcoin", BINANCE_BECH32)
    assert btc and btc == st.lookup("bitcoin", BINANCE_BECH32.upper())
    assert st.lookup("bsc", RONIN) == []  # an Ethereum label is not a BSC label
    assert st.lookup("ethereum", RONIN[:-1] + "7") == []
    many = st.lookup_many("ethereum", [RONIN, checksum_form(BINANCE_14), "0x" + "00" * 19 + "01"])
    assert set(many) >= {RONIN, BINANCE_14}
    assert many[RONIN] == st.lookup("ethereum", RONIN)


@needs_labels
def test_lookup_many_matches_lookup(real):
    st, _, _ = real
    addresses = [
        r[0]
        for r in st.con.execute(
            "SELECT DISTINCT address FROM labels WHERE chain = 'ethereum' ORDER BY address LIMIT 300"
        ).fetchall()
    ]
    rng = random.Random(1)
    addresses += ["0x" + bytes(rng.getrandbits(8) for _ in range(20)).hex() for _ in range(100)]
    many = st.lookup_many("ethereum", addresses)
    for a in addresses:
        assert many.get(a, []) == st.lookup("ethereum", a)
    roles = st.role_of_many("ethereum", addresses)
    # the precomputed roles table decides exactly as sorting every label does
    assert {a: tuple(m) for a, m in roles.items()} == {
        a: tuple(st.role_of("ethereum", a)) for a in addresses if st.lookup("ethereum", a)
    }
    several = [a for a in addresses if len(st.lookup("ethereum", a)) > 1]
    assert several  # the real lists name many addresses more than once


@needs_labels
def test_store_agrees_with_the_in_memory_index(tmp_path):
    ofac = LABELS / "ofac-sdn-0xB10C"
    index, _ = load_labels([ofac])
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.import_paths([ofac])
        assert len(st) == len(index)
        for lab in index:
            assert lab in st.lookup(lab.chain, lab.address)


# --------------------------------------------------------------------------------------------
# behaviour on small stores


def test_precedence_and_sources_side_by_side(tmp_path):
    labels = [
        make(role="exchange", tier="imported", confidence=90, source="list a"),
        make(role="mixer", tier="imported", confidence=90, source="list b"),
        make(role="thief", tier="curated", confidence=10, source="team"),
        make(role="victim", tier="case", confidence=5, source="case file", entity="Victim Ltd"),
    ]
    with LabelStore(tmp_path / "s.duckdb") as st:
        assert st.add(labels, name="mine") == 4
        found = st.lookup("ethereum", BINANCE_14)
        assert [lab.tier for lab in found] == ["case", "curated", "imported", "imported"]
        assert [lab.role for lab in found[2:]] == ["exchange", "mixer"]  # role priority tie-break
        assert found == LabelIndex(labels).lookup("ethereum", BINANCE_14)
        assert st.role_of("ethereum", BINANCE_14).role == "victim"
        assert st.entity_of("ethereum", BINANCE_14) == "Victim Ltd"
        assert {lab.origin for lab in found} == {"test:1"}
        assert st.remove("mine") == 4 and len(st) == 0


def test_reimport_unchanged_replaced_duplicate(tmp_path):
    src = tmp_path / "data" / "etherscan" / "accounts" / "exchange.csv"
    src.parent.mkdir(parents=True)
    src.write_text(f",Address,Name Tag,Balance,Txn Count\n0,{BINANCE_14},Binance 14,1 ETH,1\n")
    with LabelStore(tmp_path / "s.duckdb") as st:
        first = st.import_paths([src])
        assert [f.status for f in first.files] == ["imported"] and len(st) == 1
        again = st.import_paths([src])
        assert [f.status for f in again.files] == ["unchanged"] and len(st) == 1
        src.write_text(
            f",Address,Name Tag,Balance,Txn Count\n0,{BINANCE_14},Binance 14,1 ETH,1\n"
            f"1,{RONIN},Somebody,1 ETH,1\n"
        )
        changed = st.import_paths([src])
        assert [f.status for f in changed.files] == ["replaced"] and len(st) == 2
        # the same content under another path is another claim (the path can carry meaning:
        # OFAC's ARB and BSC lists are byte-identical, so are eth-labels folders of two chains)
        copy = tmp_path / "data" / "bscscan" / "accounts" / "exchange.csv"
        copy.parent.mkdir(parents=True)
        shutil.copy(src, copy)
        st.import_paths([copy])
        assert len(st) == 4 and len(st.lookup("bsc", RONIN)) == 1
        st.remove(copy)
        [entry] = st.files()
        assert (
            entry["rows"] == 2 and entry["format"] == "etherscan-csv" and len(entry["sha256"]) == 64
        )
        desc = st.describe()
        assert desc["labels"] == 2 and desc["files"][0]["sha256"] == entry["sha256"]


def test_failed_file_does_not_stop_the_others(tmp_path):
    good = tmp_path / "sanctioned_addresses_ETH.txt"
    good.write_text(RONIN + "\nnot-an-address\n")
    bad = tmp_path / "broken.json"
    bad.write_text('"nope"')
    with LabelStore(tmp_path / "s.duckdb") as st:
        report = st.import_paths([good, bad])
        assert [f.status for f in report.files] == ["imported", "failed"]
        assert "unknown JSON label layout" in report.failed[0].error
        assert f"{good}:2: invalid address" in report.warnings[0]
        assert report.files[0].skipped == 1 and len(st) == 1
        with pytest.raises(Exception, match="unknown JSON label layout"):
            st.import_paths([bad], strict=True)


def test_read_only_and_missing_stores(tmp_path):
    with pytest.raises(LabelStoreError, match="label store not found"):
        LabelStore(tmp_path / "none.duckdb", read_only=True)
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add([make()])
    with LabelStore(tmp_path / "s.duckdb", read_only=True) as ro:
        assert len(ro) == 1
        with pytest.raises(LabelStoreError, match="read-only"):
            ro.import_paths([tmp_path])
    import duckdb

    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(LabelStoreError, match="not a label store"):
        LabelStore(other)


def test_merged_labels_show_each_claim_once(tmp_path):
    a = make(role="exchange", source="a")
    b = make(role="thief", tier="case", source="b")
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add([a], name="x")
        index = LabelIndex([a, b])
        merged = MergedLabels(index, st)
        assert merged.lookup("ethereum", BINANCE_14) == [b, a]
        assert merged.role_of("ethereum", BINANCE_14).role == "thief"
        assert merged.lookup("ethereum", RONIN) == []
        assert len(merged) == 3


def test_prefetch_answers_a_frontier_from_memory(tmp_path):
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add([make(role="exchange"), make(address=RONIN, role="sanctioned")])
        frontier = [checksum_form(BINANCE_14), RONIN, "0x" + "00" * 19 + "02", "not an address"]
        assert st.prefetch("ethereum", frontier) == 2
        st.con.close()  # every answer must now come from memory
        assert st.role_of("ethereum", BINANCE_14).role == "exchange"
        assert st.role_of("ethereum", RONIN).role == "sanctioned"
        assert st.lookup("ethereum", "0x" + "00" * 19 + "02") == []
        st.con = __import__("duckdb").connect(str(tmp_path / "s.duckdb"))


def test_iteration_and_stats(tmp_path):
    labels = [make(address=RONIN, role="sanctioned"), make(role="exchange")]
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add(labels)
        assert sorted(st, key=Label.sort_key) == sorted(labels, key=Label.sort_key)
        stats = st.stats()
        assert stats["labels"] == 2 and stats["addresses"] == 2
        assert stats["role"] == {"sanctioned": 1, "exchange": 1}


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_import_show_stats(tmp_path):
    lists = tmp_path / "lists"
    ofac = lists / "sanctioned_addresses_ETH.txt"
    ofac.parent.mkdir()
    ofac.write_text(f"{checksum_form(RONIN)}\n0xdeadbeef\n")
    (lists / "broken.csv").write_text("what,ever\n1,2\n")
    store = tmp_path / "s.duckdb"
    report = tmp_path / "report.txt"
    r = run("labels", "import", str(lists), "--store", str(store), "--report", str(report))
    assert r.returncode == 2, r.stderr  # one file failed, the other was imported
    assert "unknown CSV label layout" in r.stderr
    assert "1 labels imported" in r.stdout
    assert f"{ofac}:2: invalid address" in report.read_text()
    r = run("labels", "show", RONIN.upper().replace("0X", "0x"), "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["address"] == RONIN and shown["engine_role"] == "thief"  # the Ronin case file
    tiers = [lab["tier"] for lab in shown["labels"]]
    assert tiers[0] == "case" and "imported" in tiers
    r = run("labels", "show", RONIN, "--store", str(store), "--no-registry")
    assert r.returncode == 0 and "sanctioned" in r.stdout and "engine role: sanctioned" in r.stdout
    r = run("labels", "show", "TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2")
    assert r.returncode == 2 and "tron address" in r.stderr and "base58check" in r.stderr
    r = run("labels", "stats", "--store", str(store))
    assert r.returncode == 0 and "1 labels" in r.stdout
    r = run("labels", "stats", "--store", str(tmp_path / "missing.duckdb"))
    assert r.returncode == 2 and "label store not found" in r.stderr


def test_cli_show_without_store_uses_the_registry(tmp_path, monkeypatch):
    r = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "labels", "show", TC_01, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "TRACER_LABEL_STORE": str(tmp_path / "none.duckdb")},
    )
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["engine_role"] == "mixer" and shown["labels"][0]["tier"] == "curated"
    assert normalize("ethereum", shown["address"]) == TC_01


def test_trace_asks_the_store_once_per_round_not_per_address(tmp_path, monkeypatch):
    import tracer

    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add([make(address=RONIN, role="sanctioned")], name="x")
    calls = {"frontier": 0, "single": 0}
    role_of_many, has_key = LabelStore.role_of_many, LabelStore._has_key

    def frontier_query(self, *a, **kw):
        calls["frontier"] += 1
        return role_of_many(self, *a, **kw)

    def single_query(self, *a, **kw):  # counts the lookups that go on to query the database
        found = has_key(self, *a, **kw)
        calls["single"] += found
        return found

    monkeypatch.setattr(LabelStore, "role_of_many", frontier_query)
    monkeypatch.setattr(LabelStore, "_has_key", single_query)
    result = tracer.trace(case="sandbox", label_store=tmp_path / "s.duckdb")
    assert 0 < calls["frontier"] <= result.outcome.rounds
    assert calls["single"] == 0  # no address of the sandbox is in this store
    assert result.flags.equals(tracer.trace(case="sandbox").flags)


def _same_key(prefix: str, rest: str) -> str:
    """An EVM address whose 64-bit store key is that of every other with the same 8 bytes."""
    return "0x" + prefix * 8 + rest * 12


def test_roles_table_is_exact_when_keys_collide(tmp_path):
    """Keys are 64 bits: two addresses sharing one key, or a probe sharing a labelled address's
    key, are told apart by the address itself."""
    a, b, c = (_same_key("ab", x) for x in ("01", "02", "03"))
    single, probe = _same_key("cd", "01"), _same_key("cd", "02")
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add(
            [
                make(address=a, role="exchange", entity="A"),
                make(address=a, role="mixer", tier="curated"),
                make(address=b, role="bridge"),
                make(address=single, role="sanctioned"),
            ]
        )
        roles = st.role_of_many("ethereum", [a, b, c, single, probe, "0xnot"])
        assert {x: m.role for x, m in roles.items()} == {
            a: "mixer",
            b: "bridge",
            single: "sanctioned",
        }
        assert roles[a] == st.role_of("ethereum", a) and roles[a].label.tier == "curated"
        assert roles[single].name == "sanctioned imported"
        assert st.prefetch("ethereum", [probe, checksum_form(single)]) == 1
        assert st.role_of("ethereum", probe) is None
        assert st.role_of("ethereum", single).role == "sanctioned"


def test_roles_follow_every_change_of_the_store(tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "chain,address,label,source,category\n"
        f"ethereum,{RONIN},Ronin exploiter,https://example.org/a,exchange\n",
        encoding="utf-8",
    )
    with LabelStore(tmp_path / "s.duckdb") as st:
        st.add([make(address=BINANCE_14, role="exchange")], name="first")
        st.import_paths([csv_file])
        assert st.role_of_many("ethereum", [RONIN])[RONIN].role == "exchange"
        csv_file.write_text(  # the list changes: its rows are replaced, row ids move
            "chain,address,label,source,category\n"
            f"ethereum,{RONIN},Ronin exploiter,https://example.org/a,mixer\n",
            encoding="utf-8",
        )
        st.remove("first")
        st.import_paths([csv_file])
        roles = st.role_of_many("ethereum", [RONIN, BINANCE_14])
        assert [(a, m.role, m.label.label) for a, m in roles.items()] == [
            (RONIN, "mixer", "Ronin exploiter")
        ]


def test_store_without_a_roles_table(tmp_path):
    """A store written before the roles table: read-only it answers from the label rows,
    opened for writing it gets the table."""
    import duckdb

    path = tmp_path / "old.duckdb"
    with LabelStore(path) as st:
        st.add([make(address=RONIN, role="sanctioned"), make(role="exchange")])
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE roles")
    con.close()
    with LabelStore(path, read_only=True) as st:
        assert {a: m.role for a, m in st.role_of_many("ethereum", [RONIN, BINANCE_14]).items()} == {
            RONIN: "sanctioned",
            BINANCE_14: "exchange",
        }
    with LabelStore(path) as st:
        assert st.con.execute("SELECT count(*) FROM roles").fetchall() == [(2,)]
        assert st.role_of_many("ethereum", [RONIN])[RONIN].role == "sanctioned"
