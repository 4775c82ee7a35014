"""Tron addresses on the real Deribit case addresses: every spelling lands on one base58 id, the
corrupted one is rejected, never repaired."""

from __future__ import annotations

import csv
from pathlib import Path

import base58
import pytest

from tracer.addresses import InvalidAddress, normalize, tron_from_hex, tron_to_evm, tron_to_hex
from tracer.tron import USDT, AddressBook, canonical, tx_id

CASES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cases" / "case_addresses.csv"
BAD = "TFeDK4Wea8ciDLaUe5W2QRSw9WvSqzV4p2"  # listed with 794,636 USDT; fails base58check


def _rows() -> list[dict]:
    if not CASES.is_file():
        pytest.skip(f"{CASES} not present")
    with open(CASES, newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["chain"] == "tron"]


def test_the_case_file_has_the_deribit_tron_addresses():
    rows = _rows()
    assert len(rows) >= 12
    assert {r["checksum_ok"] for r in rows} == {"True", "False"}
    assert [r["address"] for r in rows if r["checksum_ok"] == "False"] == [BAD]


def test_every_valid_address_in_every_spelling():
    for row in _rows():
        if row["checksum_ok"] != "True":
            continue
        text = row["address"]
        assert normalize("tron", text) == text
        hex41 = tron_to_hex(text)
        assert len(hex41) == 42 and hex41.startswith("41")
        for spelling in (
            hex41,
            hex41.upper(),
            "0x" + hex41,
            tron_to_evm(text),  # 20 bytes, as TRC-20 logs carry it
            "  " + text + "\n",
        ):
            assert canonical(spelling) == text, spelling
        assert tron_from_hex(tron_to_evm(text)) == text


def test_the_bad_checksum_is_rejected_with_one_line():
    with pytest.raises(InvalidAddress) as error:
        canonical(BAD)
    message = str(error.value)
    assert "checksum" in message and "\n" not in message
    assert AddressBook().get(BAD) is None
    # one character off in a real address is caught the same way
    real = "TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBnbS"
    with pytest.raises(InvalidAddress, match="checksum"):
        canonical(real[:-1] + ("T" if real[-1] != "T" else "U"))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("0x" + "ab" * 20 + "ff", "hex form"),
        ("42" + "ab" * 20, "must start with 41"),
        ("TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBnb0", "not base58"),
        ("TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBn", "bad length"),
        ("0x58f56615180a8eea4c462235d9e215f72484b4a3x", "hex"),
    ],
)
def test_malformed_spellings(text, reason):
    with pytest.raises(InvalidAddress, match=reason):
        canonical(text)


def test_a_non_tron_base58check_payload_is_rejected():
    other = base58.b58encode_check(b"\x00" + bytes(20)).decode()  # a Bitcoin-style version byte
    with pytest.raises(InvalidAddress):
        canonical(other)


def test_usdt_contract_and_transaction_ids():
    assert canonical(USDT) == USDT
    assert tron_to_hex(USDT) == "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert tx_id("0xAB" + "c" * 62) == "ab" + "c" * 62
    book = AddressBook()
    assert book("41a614f803b6fd780986a42c78ec9c7f77e6ded13c") == USDT
    assert book.get("") is None and book.get(None) is None
