"""Write a trace result into an output directory: graph files, flags, pruned edges, manifest.

Files are written into a scratch folder first and moved into place at the end, manifest last, so
a run killed midway never leaves a half-written set behind (the manifest marks a complete run).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from tracer.exports import export_all, safe_cell
from tracer.flags import FLAG_COLUMNS

_NUMERIC_FLAG_COLUMNS = {"hops", "confidence"}
PRUNED_COLUMNS = [
    "transfer_id",
    "tx_hash",
    "block",
    "from_address",
    "to_address",
    "asset",
    "amount",
    "reason",
]


def write_flags_csv(flags, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FLAG_COLUMNS)
        for flag in flags:
            row = flag.row()
            w.writerow(
                [row[c] if c in _NUMERIC_FLAG_COLUMNS else safe_cell(row[c]) for c in FLAG_COLUMNS]
            )


def write_pruned_csv(pruned, path: Path) -> None:
    rows = sorted(pruned, key=lambda tr: (tr[0].position, tr[0].transfer_id))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(PRUNED_COLUMNS)
        for t, reason in rows:
            w.writerow(
                [
                    safe_cell(t.transfer_id),
                    safe_cell(t.tx_hash),
                    t.block_number,
                    safe_cell(t.from_address),
                    safe_cell(t.to_address),
                    safe_cell(t.asset),
                    str(t.amount),
                    reason,
                ]
            )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_outputs(result, directory: Path) -> dict[str, Path]:
    """Everything a trace produces, deterministic byte for byte for the same inputs."""
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=directory))
    try:
        written = {k: Path(v) for k, v in export_all(result.graph, scratch).items()}
        write_flags_csv(result.flag_list, scratch / "flags.csv")
        written["flags"] = scratch / "flags.csv"
        write_pruned_csv(result.outcome.pruned, scratch / "pruned.csv")
        written["pruned"] = scratch / "pruned.csv"
        cross = getattr(result, "crosschain", None)  # issue 10: bridge hops and stops
        if cross is not None:
            from tracer.crosschain import write_bridge_csvs

            written.update(write_bridge_csvs(cross, scratch))
        manifest = dict(result.manifest)
        # --- report.html (issue 7, tracer/report.py): built from the files just written ---
        from tracer.report import write_trace_report

        written["report"] = write_trace_report(scratch, manifest)
        # --- end report.html ---
        files = {}
        for p in sorted(scratch.rglob("*")):
            if p.is_file():
                files[p.relative_to(scratch).as_posix()] = _sha256(p)
        manifest["outputs"] = files
        (scratch / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        final: dict[str, Path] = {}
        old_manifest = directory / "manifest.json"
        if old_manifest.exists():
            old_manifest.unlink()  # the set is incomplete until the new manifest lands
        for name, p in list(written.items()) + [("manifest", scratch / "manifest.json")]:
            target = directory / p.relative_to(scratch)
            if target.is_dir():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
            final[name] = target
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
