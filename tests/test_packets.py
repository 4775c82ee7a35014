"""Freeze points: issuer blacklist checks, ranking with evidence paths, request packets.

The blacklist checks run against real data where it exists: the logs table of the sandbox
replayed on anvil (a Tether-like token that blacklists ``holder``) and the same node's
``isBlackListed``/``balanceOf`` by eth_call, after the test moves and freezes funds on it; and
GraphSense's usdt_blacklist TagPack from ../shared/data when present.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracer.cli import cli
from tracer.freeze import (
    Answer,
    EventsProvider,
    FreezeCheck,
    Holding,
    TagPackProvider,
    check_freeze,
    decode_blacklist_log,
    holdings,
    load_trace,
    rank_flags,
    write_freeze,
)
from tracer.packets import build_packets
from tracer.review import ReviewLog
from tracer.sandbox import SANDBOX_DIR

GROUND_TRUTH = json.loads((SANDBOX_DIR / "ground_truth.json").read_text())
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
USDT_BLACKLIST = SHARED / "labels" / "graphsense-tagpacks" / "packs" / "usdt_blacklist.yaml"
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


def _keccak(text: str) -> str:
    from eth_utils import keccak

    return "0x" + keccak(text=text).hex()


def _word(address: str) -> str:
    return address[2:].rjust(64, "0")


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    out = tmp_path_factory.mktemp("packets") / "out"
    run = CliRunner().invoke(cli, ["trace", "--case", "sandbox", "--out", str(out), "--quiet"])
    assert run.exit_code == 0, run.output
    return out


# ------------------------------------------------------------------ blacklist events


def test_topics_are_the_keccak_of_the_event_signatures():
    import tracer.freeze as fz
    from tracer.sandbox.export import ADDED_BLACKLIST_TOPIC

    topics = fz.BLACKLIST_TOPICS
    assert topics[_keccak("AddedBlackList(address)")] == ("AddedBlackList", "added")
    assert topics[_keccak("RemovedBlackList(address)")] == ("RemovedBlackList", "removed")
    assert topics[_keccak("DestroyedBlackFunds(address,uint256)")] == (
        "DestroyedBlackFunds",
        "destroyed",
    )
    assert topics[_keccak("Blacklisted(address)")] == ("Blacklisted", "added")
    assert topics[_keccak("UnBlacklisted(address)")] == ("UnBlacklisted", "removed")
    assert ADDED_BLACKLIST_TOPIC in topics  # what the anvil sandbox's token emits


def test_decode_tether_and_circle_forms():
    who = "0x" + "ab" * 20
    # Tether: address not indexed, in the data; DestroyedBlackFunds adds the burnt balance
    assert decode_blacklist_log([_keccak("AddedBlackList(address)")], "0x" + _word(who)) == (
        "AddedBlackList",
        "added",
        who,
        None,
    )
    burnt = "0x" + _word(who) + hex(5_000_000)[2:].rjust(64, "0")
    assert decode_blacklist_log(_keccak("DestroyedBlackFunds(address,uint256)"), burnt) == (
        "DestroyedBlackFunds",
        "destroyed",
        who,
        5_000_000,
    )
    # Circle: address indexed (topic 1), comma-joined topics as ethereum-etl writes them
    topics = _keccak("Blacklisted(address)") + ",0x" + _word(who)
    assert decode_blacklist_log(topics, "0x") == ("Blacklisted", "added", who, None)
    # anything else: None
    assert (
        decode_blacklist_log([_keccak("Transfer(address,address,uint256)")], "0x" + _word(who))
        is None
    )
    assert decode_blacklist_log([_keccak("AddedBlackList(address)")], "0x1234") is None
    assert decode_blacklist_log([_keccak("AddedBlackList(address)")], "0x" + "ff" * 32) is None


def _holding(address, token="0x" + "11" * 20, tainted=1_000_000, issuer="Tether", symbol="USDT"):
    return Holding("FRE-x" + address[-4:], "ethereum", address, token, symbol, issuer, tainted, 6)


def test_events_from_a_logs_table_csv_and_parquet(tmp_path):
    usdt, usdc = "0x" + "11" * 20, "0x" + "22" * 20
    a, b, c = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
    added, removed = _keccak("AddedBlackList(address)"), _keccak("RemovedBlackList(address)")
    destroyed = _keccak("DestroyedBlackFunds(address,uint256)")
    rows = [  # ethereum-etl logs.csv: topics comma-joined
        (0, "0x01", 10, usdt, "0x" + _word(a), added),
        (1, "0x02", 11, usdt, "0x" + _word(b), added),
        (0, "0x03", 12, usdt, "0x" + _word(b), removed),
        (2, "0x04", 13, usdt, "0x" + _word(a) + hex(7)[2:].rjust(64, "0"), destroyed),
        (0, "0x05", 14, usdc, "0x", _keccak("Blacklisted(address)") + ",0x" + _word(c)),
        (
            1,
            "0x05",
            14,
            usdt,
            "0x" + _word(c) + "00" * 32,
            _keccak("Transfer(address,address,uint256)"),
        ),
    ]
    export = tmp_path / "export"
    export.mkdir()
    with open(export / "logs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["log_index", "transaction_hash", "block_number", "address", "data", "topics"])
        w.writerows(rows)
    provider = EventsProvider.from_logs(export)
    hs = [
        _holding(a),
        _holding(b),
        _holding(c),
        _holding(c, token=usdc, issuer="Circle", symbol="USDC"),
    ]
    answers = provider.check(hs)
    assert (answers[0].listed, answers[0].destroyed) == (True, 7)
    assert answers[1].listed is False and "RemovedBlackList" in answers[1].detail
    assert answers[2].listed is False and "no blacklist event" in answers[2].detail
    assert answers[3].listed is True and "Blacklisted" in answers[3].detail
    # BigQuery layout: Parquet with topics as a list
    bq = tmp_path / "bq" / "logs"
    bq.mkdir(parents=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "log_index": [r[0] for r in rows],
            "transaction_hash": [r[1] for r in rows],
            "block_number": [r[2] for r in rows],
            "address": [r[3] for r in rows],
            "data": [r[4] for r in rows],
            "topics": [r[5].split(",") for r in rows],  # BigQuery: ARRAY<STRING>
        }
    )
    pq.write_table(table, bq / "logs-000000000000.parquet")
    parquet = EventsProvider.from_logs(tmp_path / "bq", tokens=[usdt])
    assert [x.listed for x in parquet.check(hs[:3])] == [True, False, False]
    assert EventsProvider.from_logs(tmp_path / "nothing-here") is None


def test_events_from_a_users_csv(tmp_path):
    usdt = "0x" + "11" * 20
    a = "0x" + "a1" * 20
    path = tmp_path / "blacklist.csv"
    path.write_text(
        "token,address,event,tx_hash,block_number\n"
        f"{usdt},{a.upper().replace('0X', '0x')},AddedBlackList,0xfeed,100\n"
        f"{usdt},not-an-address,AddedBlackList,0xbad,101\n",
        encoding="utf-8",
    )
    provider = EventsProvider.from_csv(path)
    assert provider.skipped == 1
    other = _holding("0x" + "b2" * 20)
    usdc = _holding(a, token="0x" + "22" * 20)
    listed, clean, unknown = provider.check([_holding(a), other, usdc])
    assert listed.listed and "0xfeed" in listed.detail
    assert clean.listed is False  # the file covers this token
    assert unknown is None  # ... but not that one


def test_tagpack_is_a_weak_signal(tmp_path):
    a = "0x" + "a1" * 20
    pack = tmp_path / "bl.yaml"
    pack.write_text(
        "title: test blacklist\ncreator: t\nlabel: USDT_blacklisted\nsource: https://example.org\n"
        "currency: ETH\ncategory: black_list\nconfidence: ledger_immanent\nlastmod: 2023-02-22\n"
        f'tags:\n- address: \'{a}\'\n  context: \'{{"transaction": "0xf00", "token": "USDT"}}\'\n',
        encoding="utf-8",
    )
    provider = TagPackProvider([pack])
    hit, miss, other_token = provider.check(
        [_holding(a), _holding("0x" + "b2" * 20), _holding(a, symbol="USDC", issuer="Circle")]
    )
    assert hit.listed and hit.strength == "weak" and "0xf00" in hit.detail
    assert miss is None and other_token is None  # weak: never "not listed"
    (check,) = check_freeze([_holding(a)], [provider])
    assert (check.status, check.certainty, check.recoverable) == ("frozen", "weak", 0)


@pytest.mark.skipif(not USDT_BLACKLIST.is_file(), reason="../shared/data not present")
def test_graphsense_usdt_blacklist():
    provider = TagPackProvider([USDT_BLACKLIST])
    assert sum(len(v) for v in provider.entries.values()) >= 770
    listed = "0x8faff11fde21191e7fd50806dcbcdd49265d51a0"
    usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"
    (answer,) = provider.check([_holding(listed, token=usdt)])
    assert (
        answer.listed
        and "0x6115b7a669e777ec657489159ad86d937948176c466fb1fe3fd999e0ef05578d" in answer.detail
    )


class _Fixed:
    def __init__(self, name, strength, answers):
        self.name, self.strength, self.answers = name, strength, answers

    def check(self, holdings):
        return [self.answers.get(h.address) for h in holdings]


def test_check_settles_on_one_status():
    a, b, c, d, e = ("0x" + x * 20 for x in ("a1", "b2", "c3", "d4", "e5"))
    live = _Fixed(
        "rpc",
        "live",
        {
            a: Answer("rpc", "live", True, balance=10, detail="isBlackListed = true"),
            b: Answer("rpc", "live", False, balance=0, detail="balance 0"),
            c: Answer("rpc", "live", False, balance=400_000, detail="part gone"),
            d: Answer("rpc", "live", False, balance=5_000_000, detail="all there"),
        },
    )
    data = _Fixed(
        "logs",
        "data",
        {
            a: Answer("logs", "data", False, detail="no event"),
            d: Answer("logs", "data", True, detail="AddedBlackList"),
            e: Answer("logs", "data", False, detail="no event"),
        },
    )
    checks = {
        c_.address: c_ for c_ in check_freeze([_holding(x) for x in (a, b, c, d, e)], [data, live])
    }
    assert (checks[a].status, checks[a].certainty) == ("frozen", "live")
    assert "disagree" in checks[a].summary
    assert (checks[b].status, checks[b].recoverable) == ("moved", 0)
    assert (checks[c].status, checks[c].recoverable) == ("freezable", 400_000)
    assert "moved on" in checks[c].summary
    assert (checks[d].status, checks[d].certainty) == ("freezable", "live")  # live beats the data
    assert (checks[e].status, checks[e].certainty, checks[e].recoverable) == (
        "freezable",
        "data",
        1_000_000,
    )
    (unchecked,) = check_freeze([_holding(a)], [])
    assert (unchecked.status, unchecked.certainty) == ("freezable", "unchecked")


# ------------------------------------------------------------------ ranking and evidence


@pytest.mark.parametrize("policy", POLICIES)
def test_evidence_paths_match_the_flags_under_every_rule(tmp_path, policy):
    import tracer

    result = tracer.trace(case="sandbox", policy=policy)
    result.export(tmp_path)
    data = load_trace(tmp_path)
    ranked = rank_flags(data)
    assert sorted(r["flag_id"] for r in ranked) == sorted(f.flag_id for f in result.flag_list)
    by_id = {f.flag_id: f for f in result.flag_list}
    for r in ranked:
        flag = by_id[r["flag_id"]]
        hops = r["evidence_path"]
        assert r["path_note"] == ""
        hashes = []
        for h in hops:
            if not hashes or hashes[-1] != h["tx_hash"]:
                hashes.append(h["tx_hash"])
        assert tuple(hashes) == flag.path, r["flag_id"]
        if hops:  # a connected path from a seed to the flagged address, every hop complete
            assert hops[0]["from"] in result.outcome.seeds
            assert hops[-1]["to"] == flag.address
            for x, y in zip(hops, hops[1:], strict=False):
                assert x["to"] == y["from"]
            for h in hops:
                assert h["block"] > 0 and h["time"].endswith("Z") and int(h["tainted"]) > 0
                assert h["tx_url"] == f"https://etherscan.io/tx/{h['tx_hash']}"
        assert r["address_url"] == f"https://etherscan.io/address/{flag.address}"
    # order: what can be recovered first, leads next; within, larger share first
    states = [r["state"] for r in ranked]
    assert states == sorted(states, key=["act", "investigate", "closed"].index)
    act = [r for r in ranked if r["state"] == "act"]
    assert [r["share"] for r in act] == sorted((r["share"] for r in act), reverse=True)
    assert {r["kind"] for r in ranked if r["state"] == "investigate"} == {
        "bridge",
        "mixer",
        "high_degree",
    }


def test_ranking_uses_freeze_checks_reviews_and_prices(traced):
    from decimal import Decimal

    data = load_trace(traced)
    flags = {f["flag_id"]: f for f in data.flags}
    held = [f for f in data.flags if f["kind"] == "freezable_balance"]
    top = max(held, key=lambda f: f["tainted"])
    check = FreezeCheck(
        top["flag_id"],
        "ethereum",
        top["address"],
        top["asset"],
        "USDT",
        "Tether",
        top["tainted"],
        6,
        "frozen",
        "live",
        0,
        "already blacklisted",
    )
    deposit = next(f for f in data.flags if f["kind"] == "exchange_deposit")
    ranked = rank_flags(data, {top["flag_id"]: check}, {deposit["flag_id"]: "dismissed"})
    by_id = {r["flag_id"]: r for r in ranked}
    assert (
        by_id[top["flag_id"]]["state"] == "closed" and by_id[top["flag_id"]]["recoverable"] == "0"
    )
    assert by_id[deposit["flag_id"]]["state"] == "closed"
    assert ranked[-1]["state"] == "closed" and ranked[0]["state"] == "act"
    # deposits show their sweep into the exchange, with the labels of the hot wallet
    dep = by_id[
        next(f for f in flags if flags[f]["kind"] == "exchange_deposit" and f != deposit["flag_id"])
    ]
    assert dep["onward"] and all(h["from"] == dep["address"] for h in dep["onward"])
    assert any("hot wallet" in lab["label"] and lab["source"] for lab in dep["labels"])
    # with prices: by value (1 ETH = 1,000,000 USDT puts every ETH flag first)
    usdt = next(f["asset"] for f in data.flags if f["symbol"] == "USDT")
    priced = rank_flags(data, prices={"native": Decimal(1_000_000), usdt: Decimal(1)})
    act = [r for r in priced if r["state"] == "act"]
    assert act[0]["symbol"] == "ETH" and act[-1]["symbol"] == "USDT"


# ------------------------------------------------------------------ packets


def test_packets_one_per_exchange_and_issuer(traced, tmp_path):
    out = tmp_path / "packets"
    run = CliRunner().invoke(cli, ["packets", str(traced), "--out", str(out)])
    assert run.exit_code == 0, run.output
    index = _rows(out / "index.csv")
    assert sorted((r["role"], r["recipient"]) for r in index) == [
        ("exchange", "Exchange A"),
        ("exchange", "Exchange B"),
        ("issuer", "Tether (sandbox)"),
    ]
    data = load_trace(traced)
    truth = {(e["address"], e["kind"]) for e in GROUND_TRUTH["flags"]}
    for row in index:
        md_text = (out / row["packet"]).read_text(encoding="utf-8")
        flags_csv = _rows(out / row["packet"].replace(".md", ".csv"))
        path_csv = _rows(out / row["packet"].replace(".md", "-path.csv"))
        assert {r["recipient"] for r in flags_csv} == {row["recipient"]}
        mine = [
            f
            for f in data.flags
            if f["entity"] == row["recipient"]
            and f["kind"] in ("exchange_deposit", "exchange", "freezable_balance")
        ]
        assert sorted(r["address"] for r in flags_csv) == sorted(f["address"] for f in mine)
        assert all((r["address"], r["kind"]) in truth for r in flags_csv)
        for f in mine:
            assert f["address"] in md_text and f["flag_id"] in md_text
            for tx in f["path"]:  # every transaction of the path, with its explorer link
                assert f"https://etherscan.io/tx/{tx}" in md_text
                assert any(p["tx_hash"] == tx and p["flag_id"] == f["flag_id"] for p in path_csv)
        assert "## Method" in md_text and "**haircut**" in md_text
        assert "tracer trace --case sandbox --policy haircut --hops 6" in md_text
        assert "labels.yaml sha256" in md_text
    ex_a = (out / next(r["packet"] for r in index if r["recipient"] == "Exchange A")).read_text()
    assert "Swept to exchange wallet" in ex_a and "gas top" in ex_a and "deposit address" in ex_a
    rows = _rows(
        out
        / next(r["packet"] for r in index if r["recipient"] == "Exchange A").replace(".md", ".csv")
    )
    assert all(
        r["label_sources"] and r["swept_in_tx"] for r in rows if r["kind"] == "exchange_deposit"
    )
    # deterministic
    again = tmp_path / "again"
    build_packets(traced, again)
    for p in sorted(out.iterdir()):
        assert p.read_bytes() == (again / p.name).read_bytes(), p.name


def test_packets_follow_reviews_and_freeze_checks(traced, tmp_path):
    ws = tmp_path / "ws"
    data = load_trace(traced)
    dep = next(
        f for f in data.flags if f["kind"] == "exchange_deposit" and f["entity"] == "Exchange B"
    )
    log = ReviewLog(ws)
    log.record(dep["flag_id"], "dismissed", "customer is a known OTC desk", "alice")
    held = sorted(
        (f for f in data.flags if f["kind"] == "freezable_balance"), key=lambda f: -f["tainted"]
    )
    checks = [
        FreezeCheck(
            held[0]["flag_id"],
            "ethereum",
            held[0]["address"],
            held[0]["asset"],
            "USDT",
            "Tether (sandbox)",
            held[0]["tainted"],
            6,
            "frozen",
            "live",
            0,
            "already blacklisted",
        ),
        FreezeCheck(
            held[1]["flag_id"],
            "ethereum",
            held[1]["address"],
            held[1]["asset"],
            "USDT",
            "Tether (sandbox)",
            held[1]["tainted"],
            6,
            "moved",
            "live",
            0,
            "balance gone",
        ),
    ]
    write_freeze(ws / "freeze.json", checks, [])
    out = tmp_path / "p"
    build_packets(traced, out, workspace=ws)
    index = (out / "index.md").read_text()
    assert "1 dismissed in review" in index and "1 moved on" in index
    ex_b = next(out.glob("exchange-exchange-b-*.md")).read_text()
    assert dep["address"] not in ex_b
    tether = next(out.glob("issuer-tether-sandbox-*.md")).read_text()
    frozen_part = tether.split("## Already frozen by the issuer")[1]
    assert held[0]["address"] in frozen_part and held[1]["address"] not in tether
    # kept when asked
    build_packets(traced, tmp_path / "all", workspace=ws, include_dismissed=True)
    assert dep["address"] in next((tmp_path / "all").glob("exchange-exchange-b-*.md")).read_text()


def test_cli_bad_inputs_exit_2(tmp_path):
    run = CliRunner().invoke(cli, ["packets", str(tmp_path), "--out", str(tmp_path / "x")])
    assert run.exit_code == 2 and "not a complete trace output" in run.output
    run = CliRunner().invoke(cli, ["freeze", str(tmp_path)])
    assert run.exit_code == 2


# ------------------------------------------------------------------ on a real node (anvil)


def _anvil_available() -> bool:
    try:
        import eth_account  # noqa: F401

        from tracer.sandbox.node import find_anvil
    except ImportError:
        return False
    return find_anvil() is not None


@pytest.mark.skipif(
    not _anvil_available(), reason="anvil not installed: run scripts/install-anvil.sh"
)
def test_freeze_checks_on_the_anvil_sandbox(request, tmp_path, monkeypatch):
    """The sandbox replayed on anvil blacklists ``holder`` with Tether's AddedBlackList. From the
    exported logs table and by eth_call: holder frozen, thief and swapper freezable. Then on the
    node: swapper moves all its USDT away, the thief part of it, and Tether blacklists the thief
    later: the live check sees it, the data does not."""
    import tracer
    from tracer.chains import CHAINS, Asset
    from tracer.sandbox import anvil
    from tracer.sandbox.export import export

    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("tracer-sandbox-anvil") if cache else tmp_path  # shared with its tests
    with anvil.start_sandbox(state=folder / "state.json", automine=True) as box:
        exported = tmp_path / "export"
        export(box.rpc, exported, box.plan)
        case = json.loads((exported / "case.json").read_text())
        truth = json.loads((exported / "ground_truth.json").read_text())
        for a in case["assets"]:
            monkeypatch.setitem(
                CHAINS["ethereum"].assets,
                a["address"],
                Asset(a["chain"], a["address"], a["symbol"], a["decimals"], a["issuer"], True),
            )
        result = tracer.trace(
            truth["seeds"],
            chain="ethereum",
            data=exported,
            labels=[exported / "labels.yaml"],
            policy="haircut",
            since=case["since"],
        )
        out = tmp_path / "out"
        result.export(out)
        a = truth["addresses"]
        usdt = box.plan.contracts["usdt"]

        # the data: the logs table of the export holds Tether's AddedBlackList(holder)
        run = CliRunner().invoke(cli, ["freeze", str(out)])
        assert run.exit_code == 0, run.output
        doc = json.loads((out / "freeze.json").read_text())
        by = {c["address"]: c for c in doc["checks"]}
        assert set(by) == {a["holder"], a["thief"], a["swapper"]}
        assert (by[a["holder"]]["status"], by[a["holder"]]["certainty"]) == ("frozen", "data")
        assert truth["blacklisted"][0]["tx_hash"] in by[a["holder"]]["summary"]
        assert by[a["thief"]]["status"] == by[a["swapper"]]["status"] == "freezable"
        assert doc["checked_at"].endswith("Z") and doc["providers"][0]["strength"] == "data"

        # the node, as the data left it
        from tracer.freeze import RpcProvider

        data = load_trace(out)
        anvil_provider = RpcProvider(box.url)
        live = {c.address: c for c in check_freeze(holdings(data), [anvil_provider])}
        assert (live[a["holder"]].status, live[a["holder"]].certainty) == ("frozen", "live")
        assert "isBlackListed" in live[a["holder"]].summary
        assert (
            live[a["thief"]].status == "freezable"
            and live[a["thief"]].recoverable == 200_000 * 10**6
        )

        # now funds move and Tether acts, after the data ends
        abi = anvil.load_artifacts()["SandboxTetherToken"]["abi"]
        sink = "0x" + "5e" * 20

        def send(sender, data_):
            box.rpc.call("anvil_impersonateAccount", [sender])
            tx = box.rpc.call(
                "eth_sendTransaction",
                [
                    {
                        "from": sender,
                        "to": usdt,
                        "data": "0x" + data_.hex(),
                        "gas": hex(200_000),
                        "maxFeePerGas": "0x0",
                        "maxPriorityFeePerGas": "0x0",
                    }
                ],
            )
            receipt = box.rpc.call("eth_getTransactionReceipt", [tx])
            if receipt is None:  # not mined yet
                box.rpc.call("evm_mine", [])
                receipt = box.rpc.call("eth_getTransactionReceipt", [tx])
            assert receipt["status"] == "0x1"

        send(a["swapper"], anvil.calldata(abi, "transfer", sink, 600_000 * 10**6))
        send(a["thief"], anvil.calldata(abi, "transfer", sink, 50_000 * 10**6))
        live = {c.address: c for c in check_freeze(holdings(data), [anvil_provider])}
        assert (live[a["swapper"]].status, live[a["swapper"]].recoverable) == ("moved", 0)
        assert (live[a["thief"]].status, live[a["thief"]].recoverable) == (
            "freezable",
            150_000 * 10**6,
        )
        send(anvil.actor_address("tether"), anvil.calldata(abi, "addBlackList", a["thief"]))

        run = CliRunner().invoke(cli, ["freeze", str(out), "--rpc-url", box.url])
        assert run.exit_code == 0, run.output
        by = {c["address"]: c for c in json.loads((out / "freeze.json").read_text())["checks"]}
        assert (by[a["thief"]]["status"], by[a["thief"]]["certainty"]) == ("frozen", "live")
        assert "disagree" in by[a["thief"]]["summary"]  # the data still says not listed
        assert by[a["swapper"]]["status"] == "moved"
        assert {x["provider"].split()[0] for x in by[a["holder"]]["answers"]} == {"rpc", "logs"}

        # the Tether packet: both blacklisted balances under "already frozen", swapper left out
        build_packets(out, tmp_path / "packets")
        tether = next((tmp_path / "packets").glob("issuer-tether-sandbox-*.md")).read_text()
        frozen = tether.split("## Already frozen by the issuer")[1]
        assert a["holder"] in frozen and a["thief"] in frozen and a["swapper"] not in tether
