"""Tron exports read with DuckDB: base58 and hex spellings, CSV and Parquet, windows, one-line
errors, delegations and issuer events."""

from __future__ import annotations

import csv
import json
import shutil

import duckdb
import pytest

from tracer.sources import open_source
from tracer.sources.base import SourceError
from tracer.tron import USDT
from tracer.tron.bulk import TronBulkSource
from tracer.tron.sandbox import DATA_DIR, EXPORT_FILES, evm_hex, hex41

GT = json.loads((DATA_DIR / "ground_truth.json").read_text())
A = GT["addresses"]
TOKEN = GT["token"]


@pytest.fixture(scope="module")
def source():
    return TronBulkSource(DATA_DIR)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_the_duckdb_source_name_reads_tron_exports():
    src = open_source("duckdb", "tron", data=DATA_DIR)
    assert isinstance(src, TronBulkSource)
    with pytest.raises(SourceError, match="does not take --cache"):
        open_source("duckdb", "tron", data=DATA_DIR, cache="somewhere")
    with pytest.raises(SourceError, match="--data DIR is required"):
        open_source("duckdb", "tron")


def test_every_address_comes_out_in_base58(source):
    got = source.transfers([A["cons"], A["hot_x"]])
    assert got
    for t in got:
        assert t.from_address.startswith("T") and t.to_address.startswith("T")
        assert t.asset == "native" or t.asset.startswith("T")
        assert len(t.tx_hash) == 64 and not t.tx_hash.startswith("0x")
    # hot_x's noise rows are written with hex 41... addresses: they are found and converted
    assert len([t for t in got if A["hot_x"] in (t.from_address, t.to_address)]) == 154
    assert got == sorted(got, key=lambda t: (t.position, t.transfer_id))


def test_frontier_in_any_spelling(source):
    base = source.transfers([A["cons"]])
    for spelling in (hex41(A["cons"]), "0x" + hex41(A["cons"]), evm_hex(A["cons"])):
        assert source.transfers([spelling]) == base
    with pytest.raises(SourceError, match="checksum"):
        source.transfers(["TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2"])


def test_parquet_with_hex_addresses_and_millisecond_times(source, tmp_path):
    """The same data in another export's spelling: Parquet, 0x/41 hex, times in ms."""
    rows = _rows(DATA_DIR / "token_transfers.csv")
    for i, row in enumerate(rows):
        for column in ("token_address", "from_address", "to_address"):
            text = row[column]
            base = text if text.startswith("T") else None
            if base:
                row[column] = evm_hex(base) if i % 2 else "0x" + hex41(base).upper()
        row["block_timestamp"] = str(int(row["block_timestamp"]) * 1000)
        row["transaction_hash"] = "0x" + row["transaction_hash"].upper()
    (tmp_path / "csv").mkdir()
    _write(tmp_path / "csv" / "token_transfers.csv", rows)
    out = tmp_path / "export"
    (out / "token_transfers").mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{tmp_path / 'csv' / 'token_transfers.csv'}', "
        f"all_varchar = true)) TO '{out / 'token_transfers' / 'part-0.parquet'}' (FORMAT parquet)"
    )
    for name in ("transactions.csv", "tokens.csv", "blacklist_events.csv"):
        shutil.copy(DATA_DIR / name, out / name)
    other = TronBulkSource(out)
    frontier = [A["cons"], A["w1"], A["busy"]]
    assert other.transfers(frontier) == [
        t.__class__(**{**_fields(t), "source": f"duckdb:{out.name}"})
        for t in source.transfers(frontier)
    ]
    assert other.degrees(frontier) == source.degrees(frontier)


def _fields(t):
    return {k: getattr(t, k) for k in t.__dataclass_fields__ if not k.startswith("_")}


def test_degrees_window_and_failures(source):
    degrees = source.degrees([A["busy"], A["w3"], A["w6"]])
    assert degrees[A["busy"]] == 1101 and degrees[A["w6"]] == 1
    w3 = source.transfers([A["w3"]])
    assert degrees[A["w3"]] == len(w3)
    assert [t.success for t in w3].count(False) == 1  # the REVERT TRX transfer
    until = 1_668_000_000 + 25 * 3
    early = source.transfers([A["cons"]], None, until)
    assert early and all(t.timestamp <= until for t in early)
    assert len(early) < len(source.transfers([A["cons"]]))
    late = source.transfers([A["cons"]], until + 1, None)
    assert len(early) + len(late) == len(source.transfers([A["cons"]]))


def test_delegations_and_blacklist(source):
    (d,) = source.delegations([A["dep_y1"]])
    assert (d.from_address, d.to_address, d.resource) == (A["energy_y"], A["dep_y1"], "ENERGY")
    events = source.blacklist_events(TOKEN)
    assert [(e.event, e.address) for e in events][:2] == [
        ("AddedBlackList", A["h1"]),
        ("AddedBlackList", A["h3"]),
    ]
    assert source.blacklist_events(USDT) == []  # another token: no events in this export
    assert source.token_symbols()[TOKEN] == ("USDT", 6)


def test_one_line_errors(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        TronBulkSource(tmp_path / "missing")
    with pytest.raises(SourceError, match="no Tron transfer table"):
        TronBulkSource(tmp_path)
    (tmp_path / "token_transfers.csv").write_text("token_address,from_address\nx,y\n")
    with pytest.raises(SourceError) as error:
        TronBulkSource(tmp_path)
    assert "lacks column(s)" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(SourceError, match="reads Tron exports"):
        TronBulkSource(DATA_DIR, chain="ethereum")


def test_unparseable_value_is_one_line(tmp_path):
    rows = _rows(DATA_DIR / "token_transfers.csv")
    story = next(r for r in rows if r["from_address"] == A["w1"])
    story["value"] = "12abc"
    _write(tmp_path / "token_transfers.csv", [story])
    with pytest.raises(SourceError, match="unparseable value"):
        TronBulkSource(tmp_path).transfers([A["w1"]])


def test_fingerprint_names_every_file(source):
    fp = source.fingerprint()
    assert fp["layout"] == "tron-exports"
    assert sorted(f["path"] for f in fp["files"]) == sorted(EXPORT_FILES)
    assert all(len(f["sha256"]) == 64 for f in fp["files"])
