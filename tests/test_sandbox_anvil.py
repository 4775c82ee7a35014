"""The sandbox replayed on a real node (anvil), exported, and traced under every rule.

One replay per session (or its saved state from pytest's cache): deploy the contracts, send every transaction of the scenario signed by its
actor, export the chain over JSON-RPC, trace the export, check the generator's ground truth; then
what only a real chain shows (receipt statuses, Tether's blacklist, the fake token, the swap's
internal transfer), that a saved state reloads to the same chain, and the CLI.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import signal
import time

import pytest

pytest.importorskip(
    "eth_account", reason="eth-account signs the sandbox replay (pip install eth-account)"
)

from click.testing import CliRunner  # noqa: E402
from eth_abi import decode  # noqa: E402

import tracer  # noqa: E402
from tracer.chains import CHAINS, Asset  # noqa: E402
from tracer.cli import cli  # noqa: E402
from tracer.records import parse_units  # noqa: E402
from tracer.sandbox import anvil  # noqa: E402
from tracer.sandbox import generator as gen  # noqa: E402
from tracer.sandbox.export import ADDED_BLACKLIST_TOPIC, EXPORT_FILES, export  # noqa: E402
from tracer.sandbox.node import NodeError, find_anvil  # noqa: E402
from tracer.sources.bulk import BulkSource  # noqa: E402

pytestmark = pytest.mark.skipif(
    find_anvil() is None, reason="anvil not installed: run scripts/install-anvil.sh"
)
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
OUTPUT_FILES = EXPORT_FILES + ("labels.yaml", "case.json", "ground_truth.json")
LAUNDERING = (
    "thief",
    "split1",
    "split2",
    "split3",
    "peel2",
    "peel3",
    "mix1",
    "swapper",
    "holder",
    "mid1",
    "dep_a1",
    "dep_a2",
    "dep_a3",
    "dep_b1",
    "dep_b2",
)


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def box(request, tmp_path_factory):
    """The replay, saved in pytest's cache: later runs load it while the contracts, scenario and
    anvil are unchanged (a fresh clone, as in CI, replays)."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("tracer-sandbox-anvil") if cache else tmp_path_factory.mktemp("anvil")
    state = folder / "state.json"
    started = time.monotonic()
    with anvil.start_sandbox(state=state, automine=False) as b:
        b.stats["seconds"] = round(time.monotonic() - started, 2)
        yield b


@pytest.fixture(scope="module")
def exported(box, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export(box.rpc, out, box.plan)
    BulkSource(out).build_index()
    return out


@pytest.fixture(scope="module")
def truth(exported):
    return json.loads((exported / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def case(exported):
    """The exported case, with its sandbox stablecoins registered for the trace (undone after)."""
    case = json.loads((exported / "case.json").read_text(encoding="utf-8"))
    patch = pytest.MonkeyPatch()
    for a in case["assets"]:
        asset = Asset(a["chain"], a["address"], a["symbol"], a["decimals"], a["issuer"], True)
        patch.setitem(CHAINS["ethereum"].assets, a["address"], asset)
    yield case
    patch.undo()


@pytest.fixture(scope="module", params=POLICIES)
def result(request, exported, truth, case):
    return tracer.trace(
        truth["seeds"],
        chain="ethereum",
        data=exported,
        labels=[exported / "labels.yaml"],
        policy=request.param,
        since=case["since"],
    )


def _call(box, contract: str, data: bytes, sender: str | None = None):
    call = {"to": contract, "data": "0x" + data.hex()}
    if sender:
        call["from"] = sender
    return box.rpc.call("eth_call", [call, "latest"])


# ------------------------------------------------------------------ the chain is the story


def test_replay_keeps_the_story_blocks_and_times(box, truth):
    plan = box.plan
    assert plan.block_map[gen.B0] == gen.B0  # the theft keeps its block number
    theft = box.rpc.call("eth_getBlockByNumber", [hex(gen.B0), False])
    assert int(theft["timestamp"], 16) == gen.block_time(gen.B0)
    assert int(box.rpc.call("eth_blockNumber"), 16) == plan.last_block
    generator_blocks = {t.block for t in anvil._generator_story(anvil.SEED)[0]}
    # one node block per story block; B0+11 held only the failed ETH transfer, which a node can
    # mine only earlier (see anvil.DEVIATIONS)
    assert set(plan.block_map) == generator_blocks - {gen.B0 + 11}
    assert truth["node"]["contracts"] == plan.contracts
    assert box.stats["transactions"] == len(plan.steps) > 1700


def test_only_off_chain_origins_are_funded(box):
    plan = box.plan
    funded = {a for book in plan.funding.values() for a in book}
    for name in LAUNDERING:
        assert plan.addresses[name] not in funded, name
    assert plan.funding["native"][plan.contracts["dex_pool"]] == 480 * gen.ETH
    assert plan.funding["native"][plan.addresses["victim_cold"]] == 5000 * gen.ETH


def test_transactions_are_signed_as_eth_account_signs_them(box):
    from eth_account import Account
    from eth_utils import to_checksum_address

    steps = box.plan.steps
    sample = (
        steps[::150] + [s for s in steps if s.to is None][:1] + [s for s in steps if s.value][:1]
    )
    for s in sample:
        tx = {
            "type": 2,
            "chainId": anvil.CHAIN_ID,
            "nonce": s.nonce,
            "gas": s.gas,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "value": s.value,
            "data": s.data,
        }
        if s.to is not None:
            tx["to"] = to_checksum_address(s.to)
        signed = Account.from_key(anvil.private_key(s.sender)).sign_transaction(tx)
        assert bytes(signed.raw_transaction) == s.raw, s.what
        assert Account.recover_transaction(s.raw).lower() == anvil.actor_address(s.sender)


def test_lookalikes_share_first_and_last_four_hex_digits(box):
    a = box.plan.addresses
    for target, fake in (("holder", "lookalike_holder"), ("dep_b2", "lookalike_dep_b2")):
        assert a[fake] != a[target]
        assert a[fake][:6] == a[target][:6] and a[fake][-4:] == a[target][-4:], fake
    # the poisoner's lookalike is a real key: it signs the dust transaction
    assert any(s.sender == "lookalike_holder" for s in box.plan.steps)


def test_contract_artifacts_match_their_sources():
    artifacts = anvil.load_artifacts()  # raises if a source changed after compiling
    assert {a for _, a, _ in anvil.DEPLOYMENTS} <= set(artifacts)


# ------------------------------------------------------------------ ground truth, every rule


def test_every_expected_flag_with_its_amount(result, truth):
    policy = result.outcome.params.policy
    got = {(f.address, f.kind, f.asset): f for f in result.flag_list}
    for exp in truth["flags"]:
        key = (exp["address"], exp["kind"], exp["asset"])
        assert key in got, f"{policy}: missing flag {exp['name']} {exp['kind']}"
        flag = got[key]
        decimals = 18 if exp["asset"] == "native" else 6
        assert flag.tainted == parse_units(exp["amounts"][policy], decimals), (policy, exp["name"])
        if exp["entity"]:
            assert flag.entity == exp["entity"], (policy, exp["name"], flag.entity)


def test_no_unexpected_flags(result, truth):
    expected = {(e["address"], e["kind"], e["asset"]) for e in truth["flags"]}
    assert {(f.address, f.kind, f.asset) for f in result.flag_list} == expected


def test_noise_never_in_graph(result, truth):
    addresses = {d["address"] for _, d in result.graph.nodes(data=True)}
    for name, address in truth["never_in_graph"].items():
        assert address not in addresses, name
    assets = {d["asset"] for *_, d in result.graph.edges(data=True)}
    assert truth["never_in_graph"]["fake_usdt"] not in assets


def test_pruned_records_failed_and_zero_value(result):
    assert {"failed_transaction", "zero_value"} <= set(result.pruned["reason"])


def test_deposit_flags_carry_evidence_and_path(result, truth):
    a = truth["addresses"]
    flags = {f.address: f for f in result.flag_list if f.kind == "exchange_deposit"}
    dep = flags[a["dep_a3"]]
    assert "gas top-up" in dep.evidence and "forwarded" in dep.evidence
    assert dep.confidence > 0.9
    assert len(dep.path) == dep.hops == 1
    labelled = flags[a["dep_a1"]]
    assert "label:" in labelled.evidence and "behaviour:" in labelled.evidence
    assert flags[a["dep_a2"]].hops == 3


def test_swap_continues_in_the_other_asset(result, truth):
    G = result.graph
    assert {d["swap"] for *_, d in G.edges(data=True) if d["swap"]} == {"in", "out"}
    assert G.nodes[f"ethereum:{truth['addresses']['dex_pool']}"]["role"] == "swap"


# ------------------------------------------------------------------ what a real chain shows


def test_failed_transactions_are_mined_with_status_0(box, exported, truth):
    failed = truth["failed_transactions"]
    assert len(failed) == 2
    receipts = {r["transaction_hash"]: r for r in _rows(exported / "receipts.csv")}
    transfers = {r["transaction_hash"] for r in _rows(exported / "token_transfers.csv")}
    for f in failed:
        assert receipts[f["tx_hash"]]["status"] == "0"
        assert box.rpc.call("eth_getTransactionReceipt", [f["tx_hash"]])["status"] == "0x0"
        assert f["tx_hash"] not in transfers  # a reverted transaction leaves no log
    eth = next(f for f in failed if f["value"] != "0")
    assert int(eth["value"]) == 100 * gen.ETH
    assert eth["to"] == truth["addresses"]["failed_rcpt"]
    tops = [r for r in _rows(exported / "traces.csv") if r["transaction_hash"] == eth["tx_hash"]]
    assert [(t["trace_address"], t["status"], t["error"]) for t in tops] == [("", "0", "Reverted")]


def test_tether_blacklist_freezes_holder(box, exported, truth):
    usdt = box.plan.contracts["usdt"]
    abi = anvil.load_artifacts()["SandboxTetherToken"]["abi"]
    holder, thief = truth["addresses"]["holder"], truth["addresses"]["thief"]
    assert [(b["name"], b["address"], b["token"], b["frozen"]) for b in truth["blacklisted"]] == [
        ("holder", holder, usdt, str(1_500_000 * gen.USDT))
    ]
    logs = [r for r in _rows(exported / "logs.csv") if r["address"] == usdt]
    assert [
        r["topics"] for r in logs if r["transaction_hash"] == truth["blacklisted"][0]["tx_hash"]
    ] == [ADDED_BLACKLIST_TOPIC]
    listed = _call(box, usdt, anvil.calldata(abi, "isBlackListed", holder))
    assert decode(["bool"], bytes.fromhex(listed[2:])) == (True,)
    balance = _call(box, usdt, anvil.calldata(abi, "balanceOf", holder))
    assert int(balance, 16) == 1_500_000 * gen.USDT  # the frozen balance
    with pytest.raises(NodeError):  # a blacklisted holder cannot move it
        _call(box, usdt, anvil.calldata(abi, "transfer", thief, 1), sender=holder)
    ok = _call(box, usdt, anvil.calldata(abi, "transfer", holder, 1), sender=thief)
    assert decode(["bool"], bytes.fromhex(ok[2:])) == (True,)


def test_fake_token_copies_tethers_symbol_not_its_address(box, exported, truth):
    tokens = {r["address"]: r for r in _rows(exported / "tokens.csv")}
    usdt, fake = box.plan.contracts["usdt"], box.plan.contracts["fake_usdt"]
    assert fake != usdt
    assert tokens[fake]["symbol"] == tokens[usdt]["symbol"] == "USDT"
    assert tokens[fake]["name"] == "Tether USD" and tokens[fake]["decimals"] == "6"
    thief = truth["addresses"]["thief"]
    spam = [
        r
        for r in _rows(exported / "token_transfers.csv")
        if r["token_address"] == fake and r["from_address"] == thief
    ]
    assert [(r["to_address"], r["value"]) for r in spam] == [
        (truth["addresses"]["lookalike_holder"], str(1_500_000 * gen.USDT))
    ]


def test_swap_pays_eth_as_an_internal_transfer(box, exported, truth):
    a = truth["addresses"]
    pool, swapper = a["dex_pool"], a["swapper"]
    swap = next(s for s in box.plan.steps if s.to == pool)
    rows = [r for r in _rows(exported / "traces.csv") if r["transaction_hash"] == swap.hash]
    top = [r for r in rows if r["trace_address"] == ""]
    assert [(r["from_address"], r["to_address"], r["value"]) for r in top] == [(swapper, pool, "0")]
    paid = [r for r in rows if r["value"] != "0"]
    assert [(r["from_address"], r["to_address"], r["value"], r["status"]) for r in paid] == [
        (pool, swapper, str(480 * gen.ETH), "1")
    ]
    assert paid[0]["trace_address"] == "1" and paid[0]["trace_id"] == f"call_{swap.hash}_1"
    pulled = [
        r for r in _rows(exported / "token_transfers.csv") if r["transaction_hash"] == swap.hash
    ]
    assert [(r["from_address"], r["to_address"], r["value"]) for r in pulled] == [
        (swapper, pool, str(600_000 * gen.USDT))
    ]


def test_bridge_deposits_carry_transfer_ids(truth):
    bridged = truth["bridge_transfers"]
    assert sorted((b["sender"], b["amount"]) for b in bridged) == [
        ("mix1", str(250 * gen.ETH)),
        ("swapper", str(480 * gen.ETH)),
    ]
    assert len({b["transfer_id"] for b in bridged}) == 2


# ------------------------------------------------------------------ state reuse and the CLI


def test_saved_state_reloads_to_the_same_export(box, exported, tmp_path):
    assert anvil.state_matches(box.state, box.plan)
    with anvil.start_sandbox(state=box.state, automine=False) as again:
        assert again.reused_state
        export(again.rpc, tmp_path / "again", again.plan)
    for name in OUTPUT_FILES:
        assert filecmp.cmp(exported / name, tmp_path / "again" / name, shallow=False), name


def test_cli_export_from_a_running_node(box, exported, tmp_path):
    run = CliRunner().invoke(
        cli, ["sandbox", "export", "--rpc-url", box.url, "--out", str(tmp_path / "cli")]
    )
    assert run.exit_code == 0, run.output
    for name in OUTPUT_FILES:
        assert filecmp.cmp(exported / name, tmp_path / "cli" / name, shallow=False), name


def test_cli_up_detached_serves_the_saved_replay(box, tmp_path):
    pid_file = tmp_path / "sandbox.pid"
    run = CliRunner().invoke(
        cli, ["sandbox", "up", "--detach", "--state", str(box.state), "--pid-file", str(pid_file)]
    )
    assert run.exit_code == 0, run.output
    pid = int(pid_file.read_text())
    url = run.output.splitlines()[0]
    try:
        rpc = anvil.Rpc(url)
        assert int(rpc.call("eth_blockNumber"), 16) == box.plan.last_block
        rpc.close()
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)  # our child: the CLI ran in this process
        except ChildProcessError:  # already reaped by subprocess's own clean-up
            pass
