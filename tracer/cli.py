"""Command line: ``tracer trace ...`` and friends. Bad input exits 2 with one line, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns every expected error into one line on stderr and exit status 2."""

    def invoke(self, ctx):
        from tracer.addresses import InvalidAddress
        from tracer.engine import TraceInputError
        from tracer.labels import LabelFileError
        from tracer.sources.base import SourceError

        try:
            return super().invoke(ctx)
        except (TraceInputError, SourceError, LabelFileError, InvalidAddress) as e:
            _fail(str(e))
        except BrokenPipeError:  # output piped into head & co.: not an error
            sys.stderr.close()
            sys.exit(0)
        except OSError as e:
            _fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        except KeyboardInterrupt:
            _fail("interrupted", code=130)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    line = " ".join(str(message).split())
    click.echo(f"tracer: error: {line}", err=True)
    sys.exit(code)


@click.group(cls=_Group)
@click.version_option(package_name="tracer")
def cli() -> None:
    """Trace stolen crypto hop by hop and flag where a freeze can still be requested."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage errors become one line and exit 2, like every bad input."""
    try:
        code = cli.main(args=argv, prog_name="tracer", standalone_mode=False)
    except click.UsageError as e:
        _fail(e.format_message())
    except click.ClickException as e:
        _fail(e.format_message())
    except click.Abort:
        _fail("aborted", code=130)
    sys.exit(code or 0)


@cli.command("trace")
@click.argument("seeds", nargs=-1)
@click.option("--case", help="Named case whose seeds to use (sandbox is bundled).")
@click.option("--chain", help="ethereum, tron or bitcoin (default: from the case or the seeds).")
@click.option(
    "--asset",
    "assets",
    multiple=True,
    help="Asset to follow from the seeds: contract address or 'native' (repeatable).",
)
@click.option("--source", default="duckdb", show_default=True, help="Data source.")
@click.option("--data", type=click.Path(path_type=Path), help="Directory of bulk exports.")
@click.option("--rpc-url", help="JSON-RPC endpoint (live sources).")
@click.option("--api-url", help="Explorer API base URL (Etherscan-compatible, Esplora, TronGrid).")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    help="Case store of raw responses and indexes (replay offline, resume).",
)
@click.option("--rps", type=float, help="Request budget per second for live providers.")
@click.option(  # issue 4: live EVM sources (rpc, etherscan)
    "--from-block",
    type=click.IntRange(0),
    help="Live EVM sources: first block to read (default: the node's first block).",
)
@click.option(
    "--to-block", type=click.IntRange(0), help="Live EVM sources: last block (default: the head)."
)
@click.option(
    "--node-chain-id",
    type=click.IntRange(1),
    help="Live EVM sources: the chain id the node reports for --chain (a local node: 31337).",
)
@click.option(  # issue 9 (tracer/spark)
    "--spark-master",
    help="With --source spark: Spark master URL (default local[2]; spark://HOST:PORT, yarn, k8s://).",
)
@click.option(
    "--labels",
    "labels",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Label file (GraphSense TagPack YAML); repeatable.",
)
@click.option(  # issue 3 (tracer/label_store.py)
    "--label-store",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Label store to merge in (built with `tracer labels import`).",
)
@click.option(
    "--policy",
    default="haircut",
    show_default=True,
    type=click.Choice(["poison", "haircut", "fifo", "lifo", "tiho"]),
)
@click.option("--hops", default=6, show_default=True, type=click.IntRange(1, 100))
@click.option("--min-amount", help="Minimum tainted amount to follow, in token units.")
@click.option("--since", help="Start of the time window (ISO-8601 UTC or epoch seconds).")
@click.option("--until", help="End of the time window.")
@click.option(
    "--fan-out",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Do not expand unlabelled addresses with more transfers (0: no guard).",
)
@click.option(  # issue 10 (tracer/crosschain.py)
    "--follow",
    "follow",
    multiple=True,
    metavar="CHAIN=DIR",
    help="Follow bridges onto CHAIN, whose bulk exports are in DIR (repeatable).",
)
@click.option(  # issue 10
    "--bridges",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV of extra bridge addresses: chain,contract,bridge[,contract|vault] (bridge = decoder name).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Output directory."
)
@click.option("--quiet", is_flag=True, help="No progress or summary on stderr.")
def trace_command(
    seeds,
    case,
    chain,
    assets,
    source,
    data,
    rpc_url,
    api_url,
    cache,
    rps,
    from_block,
    to_block,
    node_chain_id,
    spark_master,
    labels,
    label_store,
    policy,
    hops,
    min_amount,
    since,
    until,
    fan_out,
    follow,
    bridges,
    out,
    quiet,
) -> None:
    """Trace from SEEDS (or --case) and write graph.graphml, graph.json, flags.csv, manifest.json."""
    from rich.console import Console

    from tracer.api import trace
    from tracer.engine import TraceInputError

    followed: dict[str, str] = {}
    for item in follow:  # issue 10: --follow CHAIN=DIR
        name, sep, where = item.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise TraceInputError(f"--follow {item[:60]!r}: expected CHAIN=DIR")
        if name.strip().lower() in followed:
            raise TraceInputError(f"--follow {name.strip()[:30]!r} given twice")
        followed[name.strip().lower()] = where.strip()

    console = Console(stderr=True, quiet=quiet)
    with console.status("tracing…") as status:

        def progress(round_no: int, frontier: int, edges: int) -> None:
            status.update(
                f"round {round_no}: expanded {frontier} address(es), {edges} tainted "
                "transfer(s) so far"
            )

        result = trace(
            list(seeds),
            case=case,
            chain=chain,
            source=source,
            data=data,
            labels=labels,
            label_store=label_store,  # issue 3
            policy=policy,
            hops=hops,
            min_amount=min_amount,
            since=since,
            until=until,
            fan_out=fan_out,
            assets=list(assets) or None,
            progress=progress,
            follow=followed or None,  # issue 10
            bridges=bridges,
            source_options={
                "rpc_url": rpc_url,
                "api_url": api_url,
                "cache": cache,
                "rps": rps,
                # only when given (other sources reject options they do not know)
                **({"spark_master": spark_master} if spark_master else {}),  # issue 9
                **_given(from_block=from_block, to_block=to_block, node_chain_id=node_chain_id),
            },
        )
        status.update("writing outputs…")
        result.export(out)
    for w in result.warnings[:20]:
        console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    if not quiet:
        _summary(console, result, out)


def _given(**options) -> dict:
    """The options the user gave (a source that cannot use one says so; unset ones stay out)."""
    return {k: v for k, v in options.items() if v is not None}


def _summary(console, result, out: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    s = result.summary()
    console.print(
        Text(
            f"{s['nodes']} addresses, {s['edges']} tainted transfers, {s['flags']} "
            f"flags ({result.outcome.params.policy}); {s['source_queries']} source "
            f"queries in {s['rounds']} rounds → {out}"
        )
    )
    cross = getattr(result, "crosschain", None)  # issue 10
    if cross is not None:
        exact = sum(1 for h in cross.hops if h.link.linkage == "exact")
        console.print(
            Text(
                f"cross-chain: {len(cross.legs)} leg(s), {exact} exact and "
                f"{len(cross.hops) - exact} inferred bridge hop(s), {len(cross.stops)} bridge "
                "stop(s) (bridges.csv, bridge_stops.csv)"
            )
        )
    if not result.flag_list:
        return
    table = Table(title="flags", show_lines=False)
    for col in ("kind", "address", "entity", "tainted", "asset", "hops", "conf"):
        table.add_column(col, overflow="fold")
    for f in result.flag_list[:30]:
        row = f.row()
        table.add_row(
            Text(f.kind),
            Text(f.address),
            Text(f.entity[:30]),
            Text(row["tainted_amount"]),
            Text(f.symbol[:12]),
            Text(str(f.hops)),
            Text(f"{f.confidence:.2f}"),
        )
    console.print(table)
    if len(result.flag_list) > 30:
        console.print(f"… {len(result.flag_list) - 30} more in flags.csv")


@cli.group()
def sandbox() -> None:
    """The bundled synthetic scenario."""


@sandbox.command("generate")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path))
def sandbox_generate(out: Path) -> None:
    """Write the sandbox exports, labels, case and ground truth into OUT."""
    from tracer.sandbox.generator import generate

    generate(out)
    click.echo(str(out))


# --- sandbox on a real node (anvil): `sandbox up`, `sandbox export` ------------------------
# Owned by the sandbox-node work (tracer/sandbox/anvil.py, tracer/sandbox/export.py).


def _sandbox_node():
    """tracer.sandbox.anvil, or a one-line error if its signing libraries are missing."""
    try:
        from tracer.sandbox import anvil
    except ImportError as e:
        raise click.ClickException(
            f"the sandbox node needs {e.name or e} (pip install eth-account coincurve)"
        ) from None
    return anvil


@sandbox.command("up")
@click.option("--port", type=click.IntRange(1, 65535), help="RPC port (default: a free one).")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Saved replay to load, or to write after replaying (reused while unchanged).",
)
@click.option("--detach", is_flag=True, help="Leave the node running in the background.")
@click.option(
    "--pid-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("tracer-sandbox.pid"),
    show_default=True,
    help="With --detach: where to write the node's process id.",
)
def sandbox_up(port, state, detach, pid_file) -> None:
    """Start anvil on 127.0.0.1 with the sandbox replayed as real transactions.

    Prints the RPC URL and runs until Ctrl-C (or, with --detach, writes PID_FILE and returns)."""
    import time

    from tracer.sandbox.node import NodeError

    anvil = _sandbox_node()

    try:
        if detach:
            plan = anvil.build_plan()
            path = state or anvil.default_state_path(plan)
            if not anvil.state_matches(path, plan):
                with anvil.start_sandbox(state=path, automine=False):
                    pass
            pid, url = anvil.launch_detached(path, port)
            pid_file.write_text(f"{pid}\n", encoding="utf-8")
            click.echo(url)
            click.echo(
                f"anvil running as pid {pid} (pid file {pid_file}); stop it with: kill {pid}"
            )
            return
        box = anvil.start_sandbox(port=port, state=state)
    except NodeError as e:
        raise click.ClickException(str(e)) from None
    try:
        how = "loaded from " + str(state) if box.reused_state else "replayed"
        click.echo(box.url)
        click.echo(
            f"{len(box.plan.steps)} transactions {how}; blocks {box.plan.genesis}.."
            f"{box.plan.last_block}; thief {box.plan.addresses['thief']}, USDT "
            f"{box.plan.contracts['usdt']}. Ctrl-C stops the node.",
            err=True,
        )
        while box.node.process.poll() is None:
            time.sleep(0.5)
        raise click.ClickException(f"anvil exited with status {box.node.process.returncode}")
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        box.stop()


@sandbox.command("export")
@click.option("--rpc-url", help="Node holding the replay (default: start one, replay, stop it).")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Without --rpc-url: saved replay to load or write.",
)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False))
def sandbox_export(rpc_url, state, out) -> None:
    """Write the node's chain as ethereum-etl CSV exports with labels, case and ground truth."""
    import json

    from tracer.sandbox.node import NodeError

    anvil = _sandbox_node()
    from tracer.sandbox.export import export

    try:
        if rpc_url:
            stats = export(rpc_url, out)
        else:
            with anvil.start_sandbox(state=state, automine=False) as box:
                stats = export(box.rpc, out, box.plan)
        case = json.loads((out / "case.json").read_text(encoding="utf-8"))
    except NodeError as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(out))
    click.echo(
        f"{stats['blocks']} blocks, {stats['transactions']} transactions, "
        f"{stats['token_transfers']} token transfers, {stats['traces']} traces; trace it with: "
        f"tracer trace {case['seeds'][0]['address']} --data {out} --labels {out / 'labels.yaml'} "
        f"--since {case['since']} "
        + " ".join(f"--asset {a}" for a in ["native"] + [x["address"] for x in case["assets"]])
        + " --out OUT",
        err=True,
    )


# --- recovery review (issue 7): tracer/freeze.py, review.py, packets.py, report.py ---------
from tracer.freeze import freeze_command  # noqa: E402
from tracer.packets import packets_command  # noqa: E402
from tracer.report import report_command  # noqa: E402
from tracer.review import review_command  # noqa: E402

cli.add_command(freeze_command)
cli.add_command(review_command)
cli.add_command(packets_command)
cli.add_command(report_command)
# --- end recovery review ----------------------------------------------------------------

# --- attribution registry (issue 3): tracer/importers/commands.py ------------------------
from tracer.importers.commands import cases_command, labels_group  # noqa: E402

cli.add_command(cases_command)
cli.add_command(labels_group)
# --- end attribution registry -----------------------------------------------------------


if __name__ == "__main__":
    main()
