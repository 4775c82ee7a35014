"""Importers for the label lists of the field, into validated rows or :class:`~tracer.labels.Label`.

* :mod:`tracer.importers.formats`: readers (OFAC SDN lists and ``sdn_advanced.xml``, Etherscan
  label scrapes in both public layouts, Forta datasets, tracer's flat CSV), chosen by
  :func:`~tracer.importers.formats.sniff`.
* :mod:`tracer.importers._rows`: :func:`finish` validates every address of a file at once, reports
  bad rows as ``"path:line: reason, skipped"`` and drops in-file duplicates.
* :mod:`tracer.importers.tagpack_export`: the way back, findings of a trace as a GraphSense
  TagPack.

GraphSense TagPacks and tracer's own case and entity files (YAML) are read by
:mod:`tracer.labels` and :mod:`tracer.cases`; :func:`labels_to_table` turns their labels into the
same rows, so the label store imports every format through one path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from tracer.importers._normalize import address_key
from tracer.importers._rows import RAW_SCHEMA, STORE_SCHEMA, Batch, RawBatch, finish
from tracer.importers.formats import (
    FORMATS,
    LabelFormatError,
    read_label_file,
    slug_role,
    sniff,
)

__all__ = [
    "FORMATS",
    "RAW_SCHEMA",
    "STORE_SCHEMA",
    "Batch",
    "LabelFormatError",
    "RawBatch",
    "address_key",
    "batch_labels",
    "finish",
    "import_file",
    "labels_to_table",
    "read_label_file",
    "slug_role",
    "sniff",
]


def import_file(path: str | os.PathLike, fmt: str | None = None) -> Batch:
    """Read and validate one non-YAML label file (see :mod:`tracer.importers.formats`)."""
    return finish(read_label_file(path, fmt))


def batch_labels(batch: Batch, tier: str = "imported") -> list:
    """The rows of a validated batch as :class:`tracer.labels.Label` objects (origin path:line)."""
    from tracer.labels import label_unchecked

    t = batch.table
    cols = {name: t.column(name).to_pylist() for name in RAW_SCHEMA.names}
    out = []
    path = batch.path
    for i in range(t.num_rows):
        line = cols["line"][i]
        concepts = cols["concepts"][i]
        out.append(
            label_unchecked(
                chain=cols["chain"][i],
                address=cols["address"][i],
                label=cols["label"][i],
                category=cols["category"][i] or cols["role"][i],
                entity=cols["entity"][i],
                role=cols["role"][i],
                source=cols["source"][i],
                confidence=int(cols["confidence"][i]),
                origin=f"{path}:{line}" if line is not None else path,
                tier=tier,
                lastmod=cols["lastmod"][i],
                concepts=tuple(concepts.split(";")) if concepts else (),
            )
        )
    return out


def labels_to_table(labels: Iterable) -> pa.Table:
    """Labels (already validated) as :data:`STORE_SCHEMA` rows; origin ``path:line`` -> line."""
    cols: dict[str, list] = {name: [] for name in STORE_SCHEMA.names}
    for lab in labels:
        line = None
        head, sep, tail = lab.origin.rpartition(":")
        if sep and tail.isdigit():
            line = int(tail)
        cols["k"].append(address_key(lab.chain, lab.address))
        cols["chain"].append(lab.chain)
        cols["address"].append(lab.address)
        cols["line"].append(line)
        cols["label"].append(lab.label)
        cols["category"].append(lab.category)
        cols["entity"].append(lab.entity)
        cols["role"].append(lab.role)
        cols["source"].append(lab.source)
        cols["confidence"].append(lab.confidence)
        cols["lastmod"].append(lab.lastmod)
        cols["concepts"].append(";".join(lab.concepts) or None)
    return pa.table(cols, schema=STORE_SCHEMA)


def is_label_file(path: Path) -> bool:
    """True for files :func:`sniff` can place (used when walking directories)."""
    try:
        sniff(path)
    except LabelFormatError:
        return False
    return True
