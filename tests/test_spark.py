"""--source spark (issue 9): the same transfers, graph and flags as the DuckDB source, on real
Spark in local mode. One SparkSession for the whole module (starting one takes seconds)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not __import__("os").environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java", allow_module_level=True)

import tracer  # noqa: E402
from tracer.allocation import POLICIES  # noqa: E402
from tracer.engine import LedgerJob, TraceParams, run_jobs  # noqa: E402
from tracer.records import Transfer  # noqa: E402
from tracer.sandbox import SANDBOX_DIR  # noqa: E402
from tracer.sources import open_source  # noqa: E402
from tracer.sources.base import SourceError  # noqa: E402
from tracer.sources.bulk import BulkSource  # noqa: E402
from tracer.spark import session as spark_session  # noqa: E402
from tracer.spark import source as spark_source  # noqa: E402
from tracer.spark.runner import SparkLedgerRunner, balance  # noqa: E402
from tracer.spark.source import SparkSource  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import test_bulk_source as cases  # noqa: E402 - the DuckDB source's export fixtures

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
ROOT = Path(__file__).resolve().parents[1]
#: synthetic transfers for the parity test (issue 9: 1M; bench/bench_spark.py runs 1M and 10M)
SYNTH_ROWS = 1_000_000


@pytest.fixture(scope="module")
def spark():
    session = spark_session.get_session("local[2]", {"spark.driver.memory": "2g"})
    yield session
    spark_session.stop_session()


def _records(transfers):
    """Everything a Transfer carries except ``source`` (duckdb:… / spark:…)."""
    fields = [f for f in Transfer.__dataclass_fields__ if f not in ("source", "_id")]
    return [tuple(getattr(t, f) for f in fields) for t in transfers]


def _graph(result):
    def dump(d):
        return json.dumps(
            {k: v for k, v in d.items() if k != "source"}, sort_keys=True, default=str
        )

    g = result.graph
    nodes = sorted((n, dump(d)) for n, d in g.nodes(data=True))
    edges = sorted((u, v, k, dump(d)) for u, v, k, d in g.edges(keys=True, data=True))
    return nodes, edges


def _same_trace(a, b):
    pd.testing.assert_frame_equal(a.flags, b.flags)
    assert _graph(a) == _graph(b)
    assert a.summary() == b.summary()
    pd.testing.assert_frame_equal(a.pruned, b.pruned)


# --------------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def sandbox_sources(spark, tmp_path_factory):
    duck = BulkSource(SANDBOX_DIR, cache_dir=tmp_path_factory.mktemp("duck-index"))
    duck.build_index()
    src = SparkSource(SANDBOX_DIR, spark=spark, ledger_min_transfers=0)
    yield duck, src
    duck.close()
    src.close()


@pytest.mark.parametrize("policy", POLICIES)
def test_sandbox_same_graph_and_flags_under_every_rule(sandbox_sources, policy):
    duck, src = sandbox_sources
    before = src.ledger_runner.rounds_spark
    on_spark = tracer.trace(case="sandbox", source=src, policy=policy)
    on_duckdb = tracer.trace(case="sandbox", source=duck, policy=policy)
    _same_trace(on_spark, on_duckdb)
    assert on_spark.flag_list and on_spark.graph.number_of_edges() > 10
    assert src.ledger_runner.rounds_spark > before  # the ledgers really ran on the executors
    truth = json.loads((SANDBOX_DIR / "ground_truth.json").read_text())
    assert truth  # the sandbox tests check the flags against it; equal flags inherit that


def test_sandbox_transfers_and_degrees_are_identical(sandbox_sources):
    duck, src = sandbox_sources
    seed = "0xa0215f0d5e3646d7f1ad6aee4000137541068118"
    frontier = {seed}
    for _ in range(2):
        for t in duck.transfers(frontier):
            frontier |= {t.from_address, t.to_address}
    assert len(frontier) > 20
    got, want = src.transfers(frontier), duck.transfers(frontier)
    assert _records(got) == _records(want) and len(got) > 100
    assert all(t.source == "spark:data" for t in got)
    assert src.degrees(frontier) == duck.degrees(frontier)
    # a round: degrees brings back the rows of addresses below the fan-out limit with the
    # counts, and the round's transfers are answered from those without another Spark job
    quiet = [a for a, n in duck.degrees(frontier).items() if n <= spark_source.PREFETCH_LIMIT]
    part = sorted(quiet)[::2]
    assert len(part) > 5
    assert src.degrees(part) == duck.degrees(part)
    tracker = src.spark.sparkContext.statusTracker()
    jobs = len(tracker.getJobIdsForGroup())
    assert _records(src.transfers(part)) == _records(duck.transfers(part))
    assert len(tracker.getJobIdsForGroup()) == jobs
    src.prefetch_limit = 1  # busier addresses: their rows come from a job of their own
    try:
        assert src.degrees(part) == duck.degrees(part)
        assert _records(src.transfers(part)) == _records(duck.transfers(part))
        assert len(tracker.getJobIdsForGroup()) > jobs
    finally:
        src.prefetch_limit = spark_source.PREFETCH_LIMIT
    inline = spark_source.INLINE_FRONTIER
    spark_source.INLINE_FRONTIER = 1  # large-frontier path: broadcast joins
    try:
        assert _records(src.transfers(frontier)) == _records(want)
        assert src.degrees(frontier) == duck.degrees(frontier)
    finally:
        spark_source.INLINE_FRONTIER = inline
    window = (1667300000, 1667400000)
    assert _records(src.transfers(frontier, *window)) == _records(duck.transfers(frontier, *window))


# --------------------------------------------------------------------------- synthetic 1M


def _synth():
    spec = importlib.util.spec_from_file_location("bench_synth", ROOT / "bench" / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    meta = _synth().generate(SYNTH_ROWS, folder, addresses=SYNTH_ROWS // 3)
    duck = BulkSource(folder, cache_dir=tmp_path_factory.mktemp("synth-index"))
    duck.build_index()
    src = SparkSource(folder, spark=spark, ledger_min_transfers=0)
    yield folder, meta, duck, src
    duck.close()
    src.close()


@pytest.mark.parametrize("policy", POLICIES)
def test_synthetic_transfers_same_graph_and_flags(synthetic, policy):
    folder, meta, duck, src = synthetic
    # poison taints every later outflow in full: at 6 hops it reaches most of the graph, which
    # takes minutes on Spark local; 3 hops keep the test short and still several rounds
    hops = 3 if policy == "poison" else 6
    kwargs = dict(chain="ethereum", labels=[folder / "labels.yaml"], policy=policy, hops=hops)
    on_spark = tracer.trace(meta["seeds"], source=src, **kwargs)
    on_duckdb = tracer.trace(meta["seeds"], source=duck, **kwargs)
    _same_trace(on_spark, on_duckdb)
    assert on_spark.graph.number_of_edges() > 50 and on_spark.flag_list
    assert on_spark.summary()["rounds"] >= 3


# --------------------------------------------------------------------------- export layouts


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("layout", sorted(cases.EXPORTS))
def test_every_export_layout_gives_the_duckdb_records(spark, tmp_path, layout, fmt):
    folder = cases.EXPORTS[layout](tmp_path / f"export-{layout}", fmt)
    duck = BulkSource(folder, cache_dir=tmp_path / "cache")
    src = SparkSource(folder, spark=spark)
    everyone = {cases.A, cases.B, cases.C, cases.D, cases.K, cases.N, cases.MINER}
    for frontier in ({cases.A}, everyone, {cases.MINER}, {"0x" + "00" * 20}):
        assert _records(src.transfers(frontier)) == _records(duck.transfers(frontier))
        assert src.degrees(frontier) == duck.degrees(frontier)
    since, until = cases._ts(101), cases._ts(103)
    assert _records(src.transfers(everyone, since, until)) == _records(
        duck.transfers(everyone, since, until)
    )
    assert src.degrees(everyone, since=since) == duck.degrees(everyone, since=since)
    got = src.transfers(everyone)
    assert len(got) == len(cases._expected_for(everyone)) > 10
    fp, want = src.fingerprint(), duck.fingerprint()
    assert fp["files"] == want["files"] and fp["layout"] == want["layout"]
    assert fp["kind"] == "spark" and fp["spark"]["master"].startswith("local")
    src.close()
    duck.close()


def test_split_gzip_csv_and_contract_creation(spark, tmp_path):
    import gzip

    folder = tmp_path / "split"
    folder.mkdir()
    header = "token_address,from_address,to_address,value,transaction_hash,log_index,block_number"
    rows = [
        header,
        f"{cases.T.upper().replace('0X', '0x')},{cases.A},{cases.B},7,{cases._h(3)},0,101",
    ]
    (folder / "token_transfers_000.csv").write_text("\n".join(rows) + "\n")
    with gzip.open(folder / "token_transfers_001.csv.gz", "wt") as handle:
        handle.write(f"{header}\n{cases.T},{cases.B},{cases.C},{cases.HUGE},{cases._h(4)},1,102\n")
    (folder / "blocks.csv").write_text(
        "number,timestamp\n100,1600000000\n101,1600000012\n102,1600000024\n"
    )
    (folder / "transactions.csv").write_text(
        "hash,nonce,transaction_index,from_address,to_address,value,block_number\n"
        f"{cases._h(1)},0,0,{cases.A},,5,100\n"
    )
    duck = BulkSource(folder, cache_dir=tmp_path / "cache")
    src = SparkSource(folder, spark=spark)
    for frontier in ({cases.A}, {cases.B}, {cases.A, cases.B, cases.C}):
        assert _records(src.transfers(frontier)) == _records(duck.transfers(frontier))
    created = src.transfers({cases.A})[0]
    assert created.kind == "native" and created.to_address.startswith("0x") and created.amount == 5


# --------------------------------------------------------------------------- the ledger runner


def test_ledger_runner_matches_the_in_process_replay(sandbox_sources, spark):
    duck, _ = sandbox_sources
    seed = "0xa0215f0d5e3646d7f1ad6aee4000137541068118"
    history = [t for t in duck.transfers({seed}) if t.success and t.amount > 0]
    receivers = sorted({t.to_address for t in history if t.from_address == seed})
    histories = {
        a: [t for t in duck.transfers({a}) if t.success and t.amount > 0] for a in receivers
    }
    jobs = [LedgerJob(seed, history, {}, True, 0)] + [
        LedgerJob(a, histories[a], {}, False, 1) for a in receivers
    ]
    params = TraceParams(policy="fifo")
    runner = SparkLedgerRunner(spark, min_transfers=0)
    assert runner(jobs, params) == run_jobs(jobs, params)
    assert runner.rounds_spark == 1 and runner.tasks >= 2
    small = SparkLedgerRunner(spark)  # below the threshold: on the driver
    assert small(jobs, params) == run_jobs(jobs, params) and small.rounds_local == 1
    assert small([], params) == {}
    batches = balance(jobs, 3)
    assert sorted(j.address for b in batches for j in b) == sorted(j.address for j in jobs)
    assert balance(jobs, 3) == batches


# --------------------------------------------------------------------------- bad input


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def test_missing_data_directory(spark, tmp_path):
    with pytest.raises(SourceError) as excinfo:
        SparkSource(tmp_path / "nope", spark=spark)
    assert "does not exist" in _one_line(excinfo)
    with pytest.raises(SourceError) as excinfo:
        open_source("spark", "ethereum")
    assert "--data" in _one_line(excinfo)
    with pytest.raises(SourceError) as excinfo:
        open_source("spark", "ethereum", data=tmp_path, rpc_url="http://127.0.0.1:1")
    assert "--rpc-url" in _one_line(excinfo)


def test_bad_files_are_one_line_errors(spark, tmp_path):
    (tmp_path / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,transaction_hash,log_index,block_number\n"
    )
    with pytest.raises(SourceError) as excinfo:
        SparkSource(tmp_path, spark=spark)
    assert "token_transfers.csv" in _one_line(excinfo) and "value" in _one_line(excinfo)
    (tmp_path / "token_transfers.csv").unlink()
    (tmp_path / "transactions.parquet").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(SourceError) as excinfo:
        SparkSource(tmp_path, spark=spark)
    assert "transactions.parquet" in _one_line(excinfo)
    (tmp_path / "transactions.parquet").unlink()
    (tmp_path / "token_transfers.csv").write_text(
        "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n"
        f"{cases.T},{cases.A},{cases.B},lots,{cases._h(1)},0,100\n"
    )
    src = SparkSource(tmp_path, spark=spark)
    with pytest.raises(SourceError) as excinfo:
        src.transfers({cases.A})
    assert "lots" in _one_line(excinfo)
    with pytest.raises(SourceError) as excinfo:
        src.transfers({cases.A}, since=0)
    assert "time window" in _one_line(excinfo)
    with pytest.raises(SourceError):
        SparkSource(tmp_path, chain="bitcoin", spark=spark)


@pytest.mark.parametrize(
    "master", ["bogus", "local[x]", "spark://", "http://127.0.0.1:7077", "spark://127.0.0.1:1"]
)
def test_bad_master_url(master):
    with pytest.raises(SourceError) as excinfo:
        open_source("spark", "ethereum", data=SANDBOX_DIR, spark_master=master)
    assert "--spark-master" in _one_line(excinfo)


def test_good_master_urls_pass_the_check():
    for master in ("local", "local[2]", "local[*]", "local[2,3]", "yarn", "k8s://https://k:6443"):
        assert spark_session.check_master(master) == master


def test_no_java(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(SourceError) as excinfo:
        spark_session.find_java()
    assert "Java" in _one_line(excinfo)
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError) as excinfo:
        spark_session.find_java()
    assert "no java on PATH" in _one_line(excinfo)


def test_bigquery_data_spec(spark):
    with pytest.raises(SourceError) as excinfo:
        SparkSource("bigquery:not a dataset", spark=spark)
    assert "PROJECT.DATASET" in _one_line(excinfo)
    with pytest.raises(SourceError) as excinfo:
        SparkSource("bigquery:p.d?tables=nope", spark=spark)
    assert "nope" in _one_line(excinfo)
    with pytest.raises(SourceError) as excinfo:  # the connector is not on this classpath
        SparkSource("bigquery:bigquery-public-data.crypto_ethereum", spark=spark)
    assert "bigquery" in _one_line(excinfo).lower()


# --------------------------------------------------------------------------- the CLI


def test_cli_source_spark_writes_the_duckdb_flags(spark, tmp_path):
    from click.testing import CliRunner

    from tracer.cli import cli

    runner = CliRunner()
    outs = {}
    for kind in ("spark", "duckdb"):
        out = tmp_path / kind
        args = [
            "trace",
            "--case",
            "sandbox",
            "--source",
            kind,
            "--policy",
            "fifo",
            "--out",
            str(out),
        ]
        args += ["--cache", str(tmp_path / "cache")] if kind == "duckdb" else []
        result = runner.invoke(cli, [*args, "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outs[kind] = out
    assert (outs["spark"] / "flags.csv").read_bytes() == (outs["duckdb"] / "flags.csv").read_bytes()
    manifest = json.loads((outs["spark"] / "manifest.json").read_text())
    assert manifest["data_fingerprint"]["kind"] == "spark"
    bad = runner.invoke(
        cli,
        [
            "trace",
            "--case",
            "sandbox",
            "--source",
            "spark",
            "--spark-master",
            "nope",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code == 2 and "--spark-master" in bad.output
