"""CLI of the attribution registry (issue 3): ``tracer cases`` and ``tracer labels ...``.

Registered in :mod:`tracer.cli`. Every text that comes from a label list is shown through
:func:`tracer.labels.display_text` inside ``rich.text.Text`` (no markup, no control characters).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

__all__ = ["cases_command", "labels_group"]

_STORE_HELP = "Label store file (default: $TRACER_LABEL_STORE, else ~/.cache/tracer/labels.duckdb)."


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=False, width=200)


def _t(value, limit: int = 80):
    from rich.text import Text

    from tracer.labels import display_text

    return Text(display_text(value, limit))


# --------------------------------------------------------------------------------------------
# tracer cases


@click.command("cases")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cases_command(name: str | None, as_json: bool) -> None:
    """List the cases in addresses/cases with counts, or show one case's seeds and assets."""
    from rich.table import Table

    from tracer.cases import addresses_dir, find_case, list_cases, load_case_file

    if name:
        case = load_case_file(find_case(name))
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "name": case.name,
                        "title": case.title,
                        "date": case.date,
                        "since": case.since,
                        "path": str(case.path),
                        "seeds": case.seeds,
                        "assets": case.assets,
                        "addresses": case.rows,
                        "sources": case.sources,
                        "warnings": case.warnings,
                    },
                    indent=1,
                )
            )
            return
        con = _console()
        con.print(_t(f"{case.name}: {case.title} ({case.date})", 200))
        con.print(_t(case.summary, 400))
        table = Table(title=f"{len(case.rows)} addresses, {len(case.seeds)} seeds")
        for col in ("chain", "address", "role", "seed", "amount", "label", "source"):
            table.add_column(col, overflow="fold")
        for r in case.rows:
            amount = " ".join(x for x in (r.get("amount"), r.get("asset")) if x)
            table.add_row(
                _t(r["chain"]),
                _t(r["address"], 100),
                _t(r["role"]),
                _t("yes" if r["seed"] else ""),
                _t(amount),
                _t(r["label"], 60),
                _t(r["source"], 50),
            )
        con.print(table)
        if case.assets:
            con.print(
                _t(
                    "assets: "
                    + ", ".join(
                        f"{a['symbol']} ({a['chain']}{', ' + a['address'] if a.get('address') not in (None, 'native') else ''})"
                        for a in case.assets
                    ),
                    400,
                )
            )
        for w in case.warnings:
            con.print(_t("warning: " + w, 300), style="yellow")
        return

    cases = list_cases()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": c.name,
                        "title": c.title,
                        "date": c.date,
                        "addresses": len(c.rows),
                        "seeds": len(c.seeds),
                        "chains": dict(sorted(c.chains().items())),
                        "sources": len(c.sources),
                        "skipped": c.invalid,
                    }
                    for c in cases
                ],
                indent=1,
            )
        )
        return
    where = addresses_dir()
    if not cases:
        click.echo(f"no case files found (addresses dir: {where or 'not found'})")
        return
    table = Table(title=f"cases in {where / 'cases'}")
    for col in ("name", "date", "title", "addresses", "seeds", "chains", "sources", "skipped"):
        table.add_column(col, overflow="fold")
    for c in cases:
        chains = ", ".join(f"{k} {v}" for k, v in sorted(c.chains().items()))
        table.add_row(
            _t(c.name),
            _t(c.date),
            _t(c.title, 50),
            _t(len(c.rows)),
            _t(len(c.seeds)),
            _t(chains),
            _t(len(c.sources)),
            _t(c.invalid or ""),
        )
    con = _console()
    con.print(table)
    for c in cases:
        for w in c.warnings:
            con.print(_t("warning: " + w, 300), style="yellow")


# --------------------------------------------------------------------------------------------
# tracer labels


@click.group("labels")
def labels_group() -> None:
    """Label store: import lists, show every label of an address, export findings as a TagPack."""


@labels_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--store", type=click.Path(path_type=Path), help=_STORE_HELP)
@click.option(
    "--tier",
    type=click.Choice(["case", "curated", "imported"]),
    help="Tier for every file (default: case/entity files keep theirs, lists are 'imported').",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    help="Write every warning (each skipped row with file:line) to this file.",
)
@click.option("--quiet", is_flag=True, help="Only errors and the totals.")
def labels_import(paths, store, tier, report, quiet) -> None:
    """Import label files and directories into the store.

    Formats: GraphSense TagPacks, tracer case/entity files, OFAC SDN lists (0xB10C's per-asset
    .txt/.json and Treasury's sdn_advanced.xml), Etherscan label scrapes (brianleect and dawsbot
    layouts), Forta datasets, tracer CSV (chain,address,label,source,...). Every address is
    validated; bad rows are reported with file and line and skipped. Re-importing an unchanged
    file does nothing; a changed file replaces its earlier labels. Exits 2 if a file could not
    be read at all (the others are imported).
    """
    from tracer.label_store import LabelStore

    counter = {"n": 0}

    def progress(fr) -> None:
        counter["n"] += 1
        if quiet:
            return
        if fr.status in ("imported", "replaced"):
            msg = f"{fr.status:9} {fr.imported:>9,} labels  {fr.skipped:>6,} skipped  {fr.path}"
        elif fr.status == "failed":
            return
        else:
            msg = f"{fr.status:9} {'':>34}{fr.path}"
        click.echo(msg)

    with LabelStore(store) as st:
        result = st.import_paths(paths, tier=tier, progress=progress)
        total = len(st)
        where = st.path
    warnings = result.warnings
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("".join(w + "\n" for w in warnings), encoding="utf-8")
    for w in warnings[:20]:
        click.echo("warning: " + _plain(w), err=True)
    if len(warnings) > 20:
        more = f" (all in {report})" if report else " (use --report FILE to keep them all)"
        click.echo(f"... {len(warnings) - 20} more warnings{more}", err=True)
    for f in result.failed:
        click.echo("error: " + _plain(f.error or f.path), err=True)
    click.echo(
        f"{len(result.files)} file(s): {result.imported:,} labels imported, "
        f"{result.skipped:,} rows skipped, {len(result.failed)} file(s) failed; "
        f"store {where} holds {total:,} labels"
    )
    if result.failed:
        sys.exit(2)


def _plain(text: str) -> str:
    from tracer.labels import display_text

    return display_text(text, 400)


def _registry_index():
    """Labels of addresses/ (case files: tier case, entity files: tier curated)."""
    from tracer.cases import addresses_dir
    from tracer.labels import LabelIndex, load_labels

    root = addresses_dir()
    if root is None:
        return LabelIndex(), []
    dirs = [p for p in (root / "cases", root / "entities") if p.is_dir()]
    return load_labels(dirs, strict=False) if dirs else (LabelIndex(), [])


def _guess_chain(text: str) -> str:
    """Chain an invalid address is most likely meant for, so the error names the right rules."""
    t = text.strip()
    if t[:2].lower() == "0x":
        return "ethereum"
    if t[:1] == "T" or t[:2] == "41":
        return "tron"
    return "bitcoin"


@labels_group.command("show")
@click.argument("address")
@click.option("--chain", help="Chain (default: from the address form; 0x... means ethereum).")
@click.option("--store", type=click.Path(path_type=Path), help=_STORE_HELP)
@click.option("--no-registry", is_flag=True, help="Leave out the cases and entities of addresses/.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def labels_show(address, chain, store, no_registry, as_json) -> None:
    """Every label of ADDRESS, side by side with its source, confidence, date and tier.

    Sources: the label store (if it exists, or --store), the curated entities and the case files
    of addresses/. The first row is the label whose role the engine uses (tier case > curated >
    imported, then confidence, then role priority).
    """
    from rich.table import Table

    from tracer.addresses import detect_chain, normalize
    from tracer.label_store import LabelStore, MergedLabels, default_store_path

    chain = (chain or detect_chain(address) or _guess_chain(address)).lower()
    canonical = normalize(chain, address)
    sources = []
    if not no_registry:
        index, _ = _registry_index()
        sources.append(index)
    store_path = store or default_store_path()
    st = None
    if store is not None or Path(store_path).is_file():
        st = LabelStore(store_path, read_only=True)
        sources.append(st)
    merged = MergedLabels(*sources)
    labels = merged.lookup(chain, canonical)
    match = merged.role_of(chain, canonical)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "chain": chain,
                    "address": canonical,
                    "engine_role": match.role if match else None,
                    "labels": [
                        {
                            "tier": lab.tier,
                            "role": lab.role,
                            "label": lab.label,
                            "entity": lab.entity,
                            "category": lab.category,
                            "confidence": lab.confidence,
                            "source": lab.source,
                            "lastmod": lab.lastmod,
                            "origin": lab.origin,
                        }
                        for lab in labels
                    ],
                },
                indent=1,
            )
        )
        return
    con = _console()
    if not labels:
        con.print(_t(f"no labels for {canonical} on {chain}", 200))
        if chain == "ethereum" and canonical.startswith("0x"):
            con.print(
                _t(
                    "(an 0x address may be labelled on another EVM chain: try --chain bsc, polygon, ...)",
                    200,
                )
            )
        return
    table = Table(title=f"{len(labels)} label(s) for {canonical} on {chain}")
    for col in (
        "#",
        "tier",
        "role",
        "label",
        "entity",
        "category",
        "conf",
        "date",
        "source",
        "origin",
    ):
        table.add_column(col, overflow="fold")
    for i, lab in enumerate(labels, 1):
        table.add_row(
            _t(i),
            _t(lab.tier),
            _t(lab.role),
            _t(lab.label, 60),
            _t(lab.entity or "", 30),
            _t(lab.category, 24),
            _t(lab.confidence),
            _t(lab.lastmod or ""),
            _t(lab.source, 90),
            _t(lab.origin, 90),
        )
    con.print(table)
    roles = sorted({lab.role for lab in labels})
    best = match.label
    con.print(
        _t(
            f"engine role: {match.role} ({match.name}) from #1: tier {best.tier}, confidence "
            f"{best.confidence}"
            + (f"; sources disagree: roles {', '.join(roles)}" if len(roles) > 1 else ""),
            300,
        )
    )
    if st is not None:
        st.close()


@labels_group.command("stats")
@click.option("--store", type=click.Path(path_type=Path), help=_STORE_HELP)
def labels_stats(store) -> None:
    """Counts in the label store by tier, role and chain, and the files imported."""
    from tracer.label_store import LabelStore

    with LabelStore(store, read_only=True) as st:
        stats = st.stats()
        files = st.files()
    click.echo(
        f"{st.path}: {stats['labels']:,} labels for {stats['addresses']:,} addresses from "
        f"{len(files):,} file(s)"
    )
    for key in ("tier", "role", "chain"):
        click.echo(f"  by {key}: " + ", ".join(f"{k} {v:,}" for k, v in stats[key].items()))


@labels_group.command("export-tagpack")
@click.argument("out_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="TagPack YAML to write."
)
@click.option("--flagged-only", is_flag=True, help="Only flagged addresses, not every traced one.")
@click.option("--title", help="TagPack title (default: from the case and policy).")
@click.option("--creator", default="tracer", show_default=True)
@click.option("--lastmod", help="Date of the findings (default: today, UTC).")
def labels_export_tagpack(out_dir, out, flagged_only, title, creator, lastmod) -> None:
    """Write the traced and flagged addresses of a trace output OUT_DIR as a GraphSense TagPack."""
    from tracer.importers.tagpack_export import tagpack_from_output, write_tagpack

    doc = tagpack_from_output(
        out_dir, title=title, creator=creator, lastmod=lastmod, flagged_only=flagged_only
    )
    write_tagpack(doc, out)
    click.echo(f"{out}: {len(doc['tags'])} tag(s)")
