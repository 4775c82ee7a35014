"""Findings as a GraphSense TagPack: valid header and concepts, and a lossless round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tracer import api
from tracer.importers.tagpack_export import (
    NODE_CATEGORIES,
    tagpack_from_output,
    tagpack_from_result,
    write_tagpack,
)
from tracer.labels import load_labels, load_tagpack

#: GraphSense concept ids (tagpack-tool HEAD, API_NOTES section 7) the export may use.
GRAPHSENSE_CONCEPTS = {
    "perpetrator",
    "exchange",
    "mixing_service",
    "defi_bridge",
    "defi_dex",
    "defi_token",
}
GRAPHSENSE_CONFIDENCE = {"forensic"}


@pytest.fixture(scope="module")
def sandbox_result():
    return api.trace(case="sandbox", policy="haircut")


def test_export_is_a_valid_tagpack(sandbox_result, tmp_path):
    doc = tagpack_from_result(sandbox_result, lastmod="2024-01-01")
    for field in ("title", "creator", "source", "tags"):
        assert doc[field]
    assert doc["confidence"] in GRAPHSENSE_CONFIDENCE and doc["is_public"] is False
    assert doc["source"].startswith("tracer ") and "manifest sha256:" in doc["source"]
    assert len(doc["tags"]) == sandbox_result.graph.number_of_nodes()
    for tag in doc["tags"]:
        assert tag["currency"] == tag["network"] == "ETH"
        assert tag.get("category", "perpetrator") in GRAPHSENSE_CONCEPTS
        context = json.loads(tag["context"])  # valid JSON text, as the schema requires
        assert context["tracer_role"] in {r for _, r in NODE_CATEGORIES.values()} | {"other"}
    path = write_tagpack(doc, tmp_path / "findings.yaml")
    assert yaml.safe_load(path.read_text()) == doc


def test_round_trip_keeps_roles_and_flags(sandbox_result, tmp_path):
    doc = tagpack_from_result(sandbox_result, lastmod="2024-01-01")
    path = write_tagpack(doc, tmp_path / "findings.yaml")
    labels, warnings = load_tagpack(path)
    assert warnings == []
    assert len(labels) == len(doc["tags"])
    by_address = {lab.address: lab for lab in labels}
    g = sandbox_result.graph
    for _, d in g.nodes(data=True):
        lab = by_address[d["address"]]
        assert lab.confidence == 50 and lab.lastmod == "2024-01-01"
        assert lab.source == doc["source"]
        expected = NODE_CATEGORIES.get(d["role"], (None, "other"))[1]
        flagged_deposit = any(
            f.kind == "exchange_deposit" and f.address == d["address"]
            for f in sandbox_result.flag_list
        )
        assert lab.role == ("deposit" if flagged_deposit else expected), d["address"]
    seeds = set(sandbox_result.outcome.seeds)
    assert {a for a, lab in by_address.items() if lab.category == "perpetrator"} == seeds
    for f in sandbox_result.flag_list:
        assert f.kind in by_address[f.address].label
    # loads as an ordinary label file, next to others
    index, _ = load_labels([path])
    assert len(index) == len(labels)


def test_flagged_only_and_cli_export(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracer.cli",
            "trace",
            "--case",
            "sandbox",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    pack = tmp_path / "findings.yaml"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracer.cli",
            "labels",
            "export-tagpack",
            str(out),
            "--out",
            str(pack),
            "--flagged-only",
            "--lastmod",
            "2024-02-02",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(pack.read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    import hashlib

    assert hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() in doc["source"]
    flagged = {row.split(",")[2] for row in (out / "flags.csv").read_text().splitlines()[1:]}
    assert {t["address"] for t in doc["tags"]} == flagged
    assert doc["lastmod"] == "2024-02-02" and manifest["parameters"]["policy"] in doc["title"]
    labels, warnings = load_tagpack(pack)
    assert warnings == [] and len(labels) == len(flagged)
    # the same directory read twice gives the same pack
    assert tagpack_from_output(out, lastmod="2024-02-02", flagged_only=True) == doc
    # and a trace can use it as labels
    again = api.trace(case="sandbox", labels=[pack])
    assert again.flag_list


def test_export_of_an_incomplete_directory_fails_clearly(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracer.cli",
            "labels",
            "export-tagpack",
            str(tmp_path),
            "--out",
            str(tmp_path / "x.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "no manifest.json" in r.stderr
