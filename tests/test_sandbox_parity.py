"""Parity (issue 4, item 5): the sandbox replayed on a real node (anvil) and traced three ways.

1. through the node itself (``--source rpc``: eth_getLogs, trace_filter, receipts);
2. through a loopback Etherscan v2 server (tests/servers/etherscan_server.py) whose tables are read
   straight from the same node (tests/servers/node_tables.py), not from the export;
3. through the node's bulk export (``tracer sandbox export``, DuckDB).

The three give the same graph, the same flags and the same pruned transfers under every rule
tested, from the API and from the command line.
"""

from __future__ import annotations

import csv
import filecmp
import json
from pathlib import Path

import pytest

pytest.importorskip(
    "eth_account", reason="eth-account signs the sandbox replay (pip install eth-account)"
)

from click.testing import CliRunner  # noqa: E402
from servers.etherscan_server import EtherscanServer, ExplorerData  # noqa: E402
from servers.node_tables import node_tables  # noqa: E402

import tracer  # noqa: E402
from tracer.chains import CHAINS, Asset  # noqa: E402
from tracer.cli import cli  # noqa: E402
from tracer.sandbox import anvil  # noqa: E402
from tracer.sandbox.export import export  # noqa: E402
from tracer.sandbox.node import find_anvil  # noqa: E402
from tracer.sources import open_source  # noqa: E402
from tracer.sources.base import SourceError  # noqa: E402

pytestmark = pytest.mark.skipif(
    find_anvil() is None, reason="anvil not installed: run scripts/install-anvil.sh"
)
POLICIES = ("haircut", "fifo", "poison", "lifo", "tiho")
SAME = ("flags.csv", "nodes.csv", "pruned.csv")


@pytest.fixture(scope="module")
def box(request, tmp_path_factory):
    """The replay, loaded from pytest's cache when test_sandbox_anvil.py saved it there."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("tracer-sandbox-anvil") if cache else tmp_path_factory.mktemp("anvil")
    with anvil.start_sandbox(state=folder / "state.json", automine=False) as b:
        yield b


@pytest.fixture(scope="module")
def exported(box, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    export(box.rpc, out, box.plan)
    return out


@pytest.fixture(scope="module")
def case(exported):
    """The exported case; its sandbox stablecoins registered for the trace (undone after)."""
    case = json.loads((exported / "case.json").read_text(encoding="utf-8"))
    patch = pytest.MonkeyPatch()
    for a in case["assets"]:
        asset = Asset(a["chain"], a["address"], a["symbol"], a["decimals"], a["issuer"], True)
        patch.setitem(CHAINS["ethereum"].assets, a["address"], asset)
    yield case
    patch.undo()


@pytest.fixture(scope="module")
def explorer(box):
    """An Etherscan-compatible server answering from the node's own chain (chain id 31337)."""
    with EtherscanServer(ExplorerData(tables=node_tables(box.url), chain_id=anvil.CHAIN_ID)) as s:
        yield s


def _trace(case, exported, policy, source, options=None):
    return tracer.trace(
        [s["address"] for s in case["seeds"]],
        chain="ethereum",
        source=source,
        data=exported if source == "duckdb" else None,
        labels=[exported / "labels.yaml"],
        policy=policy,
        since=case["since"],
        source_options=options,
    )


def _edges(path: Path) -> list[dict]:
    with open(path / "edges.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # which source found the transfer: the only column allowed to differ
        assert row.pop("source").split(":")[0] in ("duckdb", "rpc", "etherscan"), row
    return rows


def _same(folders: dict[str, Path]) -> None:
    (first, base), *others = folders.items()
    for name, folder in others:
        for file in SAME:
            assert filecmp.cmp(base / file, folder / file, shallow=False), (first, name, file)
        assert _edges(base) == _edges(folder), (first, name)


@pytest.mark.parametrize("policy", POLICIES)
def test_rpc_etherscan_and_bulk_export_agree(box, exported, case, explorer, policy, tmp_path):
    node = {"node_chain_id": anvil.CHAIN_ID}
    results = {
        "duckdb": _trace(case, exported, policy, "duckdb"),
        "rpc": _trace(case, exported, policy, "rpc", {"rpc_url": box.url, **node}),
        "etherscan": _trace(case, exported, policy, "etherscan", {"api_url": explorer.url, **node}),
    }
    for name, result in results.items():
        result.export(tmp_path / name)
    _same({name: tmp_path / name for name in results})
    stats = [r.manifest["stats"] for r in results.values()]
    assert stats[0] == stats[1] == stats[2]
    assert stats[0]["flags"] > 5 and stats[0]["pruned"].get("failed_transaction")
    fp = results["rpc"].manifest["data_fingerprint"]
    assert fp["node_chain_id"] == anvil.CHAIN_ID and fp["chain_id"] == 1
    assert fp["blocks"] == {"from": box.plan.genesis, "to": box.plan.last_block}
    assert fp["coverage"]["native"].startswith("complete")
    assert results["etherscan"].manifest["data_fingerprint"]["node_chain_id"] == anvil.CHAIN_ID
    assert not results["rpc"].warnings and not results["etherscan"].warnings


def test_cli_traces_the_node_like_its_export(box, exported, case, explorer, tmp_path):
    """Same trace from the command line: bulk export, the node, the explorer, and the node
    limited to the story's blocks with --from-block/--to-block."""
    seeds = [s["address"] for s in case["seeds"]]
    assets = ["--asset", "native"] + [x for a in case["assets"] for x in ("--asset", a["address"])]
    common = [*seeds, "--labels", str(exported / "labels.yaml"), "--since", str(case["since"])]
    common += [*assets, "--policy", "fifo", "--quiet"]
    node = ["--node-chain-id", str(anvil.CHAIN_ID)]
    runs = {
        "duckdb": ["--data", str(exported)],
        "rpc": ["--source", "rpc", "--rpc-url", box.url, *node, "--cache", str(tmp_path / "c1")],
        "etherscan": ["--source", "etherscan", "--api-url", explorer.url, *node],
        "rpc-range": [
            "--source",
            "rpc",
            "--rpc-url",
            box.url,
            *node,
            "--from-block",
            str(box.plan.first_story_block),
            "--to-block",
            str(box.plan.last_block),
        ],
    }
    for name, extra in runs.items():
        run = CliRunner().invoke(cli, ["trace", *common, *extra, "--out", str(tmp_path / name)])
        assert run.exit_code == 0, (name, run.output)
    _same({name: tmp_path / name for name in runs})
    manifest = json.loads((tmp_path / "rpc-range" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data_fingerprint"]["blocks"] == {
        "from": box.plan.first_story_block,
        "to": box.plan.last_block,
    }


def test_node_chain_id_and_block_options_are_checked(box, exported, tmp_path):
    with pytest.raises(SourceError, match="--node-chain-id"):  # anvil's 31337 is not mainnet
        open_source("rpc", "ethereum", rpc_url=box.url)
    with pytest.raises(SourceError, match="positive chain id"):
        open_source("rpc", "ethereum", rpc_url=box.url, node_chain_id="zero")
    runner = CliRunner()
    run = runner.invoke(
        cli,
        ["trace", "0x" + "11" * 20, "--data", str(exported), "--from-block", "5"]
        + ["--out", str(tmp_path / "x")],
    )
    assert run.exit_code == 2
    assert "--source duckdb does not take --from-block" in run.output
    # a live source never gets a case's bundled data files (it fails on the node's id instead)
    run = runner.invoke(
        cli,
        ["trace", "--case", "sandbox", "--source", "rpc", "--rpc-url", box.url]
        + ["--out", str(tmp_path / "y"), "--quiet"],
    )
    assert run.exit_code == 2 and "--node-chain-id" in run.output, run.output
