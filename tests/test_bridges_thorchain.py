"""THORChain decoder: memo grammar, router events, Bitcoin OP_RETURN memos, vault-checked exact
linking (forged OUT rejected), refunds, Midgard fallback over a loopback server fed with a real
refund response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.servers.midgard_server import MidgardServer
from tracer.bitcoin.model import BtcTx, TxIn, TxOut
from tracer.bitcoin.script import synthetic_output
from tracer.bridges import default_registry
from tracer.bridges.base import RawLog
from tracer.bridges.midgard import MidgardClient, parse_action
from tracer.bridges.thorchain import (
    DEPOSIT,
    TRANSFER_OUT,
    TRANSFER_OUT_AND_CALL,
    TRANSFER_OUT_AND_CALL_V5,
    ThorchainDecoder,
    VaultFileError,
    load_vaults,
)
from tracer.bridges.thormemo import (
    MemoError,
    op_return_data,
    outbound_memo,
    parse_asset,
    parse_memo,
    thor_txid,
    utxo_memo,
)
from tracer.sources.base import SourceError

FIXTURES = Path(__file__).parent / "fixtures" / "midgard"
ROUTER = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146"
ETH_VAULT = "0x" + "a1" * 20
FORGER = "0x" + "66" * 20
USER = "0x" + "11" * 20
DEST_ETH = "0xc6ebf3bd612844a533f63a702149bb09f356f5d8"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
BTC_VAULT = synthetic_output("thor-vault")[0]
BTC_USER = synthetic_output("btc-user")[0]
BTC_FORGER = synthetic_output("forger")[0]
# the real refund case (API_NOTES 6.2)
REAL_SENDER = "bc1qafsug8uvhxga5ua9q99k46nhd680e97n26egzc"
REAL_INBOUND = "08933D25AD065A6C96E60BA2A0E5DED23810E8A303D3E06192BD9393149D5002"
REAL_MEMO = "=:e:0xc6ebf3bd612844a533f63a702149bb09f356f5d8:2272314978/3/5:t:30"


def topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def deposit_log(memo: str, amount: int = 10**18, asset: str = "0x" + "00" * 20, **kw) -> RawLog:
    data = "0x" + encode(["uint256", "string"], [amount, memo]).hex()
    fields = dict(
        chain="ethereum",
        address=ROUTER,
        topics=(DEPOSIT, topic(kw.pop("vault", ETH_VAULT)), topic(asset)),
        data=data,
        tx_hash=tx(1),
        log_index=3,
        block=100,
        time=1_700_000_000,
        tx_from=USER,
    )
    fields.update(kw)
    return RawLog(**fields)


def transfer_out_log(
    memo: str, *, vault=ETH_VAULT, to=DEST_ETH, asset="0x" + "00" * 20, amount=5 * 10**17, n=2
) -> RawLog:
    data = "0x" + encode(["address", "uint256", "string"], [asset, amount, memo]).hex()
    return RawLog(
        "ethereum",
        ROUTER,
        (TRANSFER_OUT, topic(vault), topic(to)),
        data,
        tx(n),
        7,
        200,
        1_700_000_600,
        vault,
    )


def btc_tx(txid: str, sender: str, outputs: list[tuple[str | None, int, str]], height=800_000):
    outs = tuple(
        TxOut(
            i,
            value,
            (addr,) if addr else (),
            "nulldata" if addr is None else "witness_v0_keyhash",
            script,
        )
        for i, (addr, value, script) in enumerate(outputs)
    )
    return BtcTx(
        txid,
        height,
        "00" * 32,
        1_700_001_000,
        1,
        2,
        0,
        200,
        150,
        (TxIn("ab" * 32, 0, sender, 10**9),),
        outs,
    )


def op_return(text: str) -> str:
    data = text.encode()
    if len(data) <= 75:
        return "6a" + bytes([len(data)]).hex() + data.hex()
    return "6a4c" + bytes([len(data)]).hex() + data.hex()


def decoder(**kw) -> ThorchainDecoder:
    d = ThorchainDecoder(**kw)
    d.add_vaults(
        [
            {"chain": "ETH", "address": ETH_VAULT, "router": ROUTER},
            {"chain": "BTC", "address": BTC_VAULT},
        ]
    )
    return d


# ------------------------------------------------------------------------------------ memos


def test_topic0s_are_the_keccak_of_the_router_signatures():
    sigs = {
        DEPOSIT: "Deposit(address,address,uint256,string)",
        TRANSFER_OUT: "TransferOut(address,address,address,uint256,string)",
        TRANSFER_OUT_AND_CALL: "TransferOutAndCall(address,address,uint256,address,address,uint256,string)",
        TRANSFER_OUT_AND_CALL_V5: "TransferOutAndCall(address,address,uint256,address,address,uint256,string,bytes,string)",
    }
    for t0, sig in sigs.items():
        assert t0 == "0x" + keccak(text=sig).hex()


def test_real_memo_examples_parse():
    m = parse_memo("=:THOR.RUNE:thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym:19779138111")
    assert (m.action, m.asset.text, m.limit) == ("swap", "THOR.RUNE", 19779138111)
    assert m.destination == "thor1el4ufmhll3yw7zxzszvfakrk66j7fx0tvcslym"
    m = parse_memo("=:ETH.ETH:0x4C92A5e7::t:10")
    assert m.limit is None and m.affiliates == (("t", 10),)
    m = parse_memo(REAL_MEMO)
    assert m.asset.text == "ETH.ETH" and m.asset.tracer_chain == "ethereum"
    assert (m.limit, m.stream_interval, m.stream_quantity, m.streaming) == (2272314978, 3, 5, True)
    out = parse_memo("OUT:85CEF3183958A805643C6BD93169AC2ED30051C21F19CBF5B26161CC5AF89659")
    assert out.is_outbound and out.txid.startswith("85CEF318")


@pytest.mark.parametrize("name", ["SWAP", "swap", "s", "S", "="])
def test_swap_aliases_and_short_assets(name):
    m = parse_memo(f"{name}:b:{BTC_USER}")
    assert m.action == "swap" and m.asset.text == "BTC.BTC" and m.asset.tracer_chain == "bitcoin"


def test_asset_forms():
    assert parse_asset("r").text == "THOR.RUNE"
    assert parse_asset("tr").text == "TRON.TRX"
    assert parse_asset("RUNE").text == "THOR.RUNE"
    usdt = parse_asset("ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7")
    assert (usdt.ticker, usdt.evm_contract, usdt.is_gas) == ("USDT", USDT, False)
    assert parse_asset("eth.usdt-ec7").contract == "EC7"
    assert (
        parse_asset("BTC/BTC").kind == "synth"
        and parse_asset("BTC/BTC").tracer_chain == "thorchain"
    )
    assert parse_asset("ETH~ETH").kind == "trade"
    assert parse_asset("BTC-BTC").kind == "secured"
    assert parse_asset("e").is_gas


def test_limits_streaming_affiliates_refund_address_and_pipe():
    m = parse_memo(f"SWAP:ETH.ETH:{DEST_ETH}/{USER}:1.5e8/10/0:t/ss:10/25:agg:0xtarget:2e6|payload")
    assert m.destination == DEST_ETH and m.refund_address == USER
    assert (m.limit, m.stream_interval, m.stream_quantity) == (150_000_000, 10, 0)
    assert m.affiliates == (("t", 10), ("ss", 25))
    assert (m.dex_aggregator, m.dex_target, m.dex_limit) == ("agg", "0xtarget", 2_000_000)
    assert parse_memo("=:b:addr:0/1/0").stream_interval == 1
    assert parse_memo("=:b:addr:::").limit is None


def test_outbound_txids_are_uppercase_hex_without_0x():
    h = "0x" + "ab" * 32
    assert thor_txid(h) == "AB" * 32
    assert outbound_memo("out", h) == "OUT:" + "AB" * 32
    assert outbound_memo("refund", "cd" * 32) == "REFUND:" + "CD" * 32
    assert parse_memo("refund:" + "ab" * 32).txid == "AB" * 32


@pytest.mark.parametrize(
    "memo",
    [
        "",
        "   ",
        "FOO:bar",
        "=",
        "=:",
        "=:ZZZ.X:addr",
        "=:e:addr:abc",
        "=:e:addr:1/x",
        "=:e:addr::t:20000",
        "=:e:addr:::10",
        "=:e:addr::a/b:1/2/3",
        "OUT:",
        "OUT:xyz",
        "REFUND:" + "ab" * 31,
        "=:e:\x00addr",
        "=:e:" + "a" * 300,
        "=:e:/refund",
    ],
)
def test_malformed_memos_give_one_line_errors(memo):
    with pytest.raises(MemoError) as info:
        parse_memo(memo)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_non_text_memos():
    with pytest.raises(MemoError):
        parse_memo(b"\xff\xfe")
    with pytest.raises(MemoError):
        parse_memo(None)


def test_op_return_memos():
    long = "=:ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7:" + DEST_ETH[:20]
    assert op_return_data(op_return("OUT:AB")) == b"OUT:AB"
    assert op_return_data(op_return(long)) == long.encode()  # OP_PUSHDATA1
    assert op_return_data("6a") is None and op_return_data("zz") is None
    assert op_return_data("6a05abcd") is None  # length mismatch
    assert op_return_data("0014" + "00" * 20) is None
    # Bifrost concatenates every OP_RETURN output's data in order
    assert utxo_memo([op_return("=:e:"), "0014" + "00" * 20, op_return("0xabc")]) == "=:e:0xabc"
    assert utxo_memo(["0014" + "00" * 20]) is None
    with pytest.raises(MemoError):
        utxo_memo(["6a02fffe"])


# ------------------------------------------------------------------------------------ EVM


def test_router_deposit_decodes():
    d = decoder()
    dep = d.decode_deposit(deposit_log(f"=:b:{BTC_USER}:0/3/0:t:30", amount=3 * 10**18))
    assert dep is not None
    assert (dep.bridge, dep.chain, dep.contract, dep.sender) == (
        "thorchain",
        "ethereum",
        ROUTER,
        USER,
    )
    assert (dep.asset, dep.amount, dep.dest_chain, dep.recipient) == (
        "native",
        3 * 10**18,
        "bitcoin",
        BTC_USER,
    )
    assert dep.link_key == "00" * 31 + "01"
    tok = d.decode_deposit(
        deposit_log(
            f"SWAP:ETH.ETH:{DEST_ETH.upper().replace('0X', '0x')}", asset=USDT, amount=10**6
        )
    )
    assert tok.asset == USDT and tok.dest_chain == "ethereum" and tok.recipient == DEST_ETH


def test_deposit_with_bad_memo_is_kept_for_its_refund_and_noted():
    d = decoder()
    dep = d.decode_deposit(deposit_log("=:NOPE.X:someone"))
    assert dep is not None and dep.dest_chain is None and dep.recipient is None
    assert "THORChain refunds it" in d.skipped[-1][1]


def test_deposit_to_an_unlisted_vault_is_skipped():
    d = decoder()
    assert d.decode_deposit(deposit_log("=:b:x", vault=FORGER)) is None
    assert "not a known THORChain vault" in d.skipped[-1][1]


def test_logs_from_other_contracts_or_topics_are_ignored():
    d = decoder()
    assert d.decode_deposit(deposit_log("=:b:x", address="0x" + "22" * 20)) is None
    assert d.decode_release(deposit_log("=:b:x")) is None
    assert d.skipped == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda log: log.__class__(**{**_fields(log), "data": log.data[:70]}),
        lambda log: log.__class__(**{**_fields(log), "data": log.data + "00"}),
        lambda log: log.__class__(**{**_fields(log), "topics": log.topics[:2]}),
        lambda log: log.__class__(
            **{**_fields(log), "topics": (log.topics[0], "0x" + "ff" * 32, log.topics[2])}
        ),
        lambda log: log.__class__(
            **{
                **_fields(log),
                "data": "0x" + "00" * 31 + "01" + "00" * 31 + "40" + "00" * 31 + "ff",
            }
        ),
        lambda log: log.__class__(**{**_fields(log), "tx_hash": "0x1234"}),
    ],
)
def test_malformed_logs_are_skipped_with_a_reason(mutate):
    d = decoder()
    good = deposit_log("=:b:x")
    assert d.decode_deposit(mutate(good)) is None
    assert d.skipped and d.skipped[-1][1].startswith("malformed THORChain Deposit")
    out = mutate(transfer_out_log("OUT:" + "AB" * 32))
    if out.tx_hash != "0x1234":  # an outbound's own hash is not its link key
        assert d.decode_release(out) is None


def _fields(log: RawLog) -> dict:
    return {k: getattr(log, k) for k in log.__slots__}


def test_transfer_out_from_a_listed_vault_links_exactly():
    d = decoder()
    dep = d.decode_deposit(
        deposit_log(f"=:ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7:{DEST_ETH}")
    )
    rel = d.decode_release(
        transfer_out_log(outbound_memo("out", dep.tx_hash), asset=USDT, amount=2500 * 10**6)
    )
    assert rel is not None and (rel.kind, rel.asset, rel.recipient, rel.contract) == (
        "out",
        USDT,
        DEST_ETH,
        ROUTER,
    )
    links = d.link([dep], [rel])
    assert len(links) == 1
    link = links[0]
    assert (link.linkage, link.confidence, link.fee) == ("exact", 1.0, None)
    assert "recipient matches the memo destination" in link.evidence
    assert f"paid by listed vault(s) {ETH_VAULT}" in link.evidence


def test_forged_out_from_a_non_vault_is_rejected():
    d = decoder()
    dep = d.decode_deposit(deposit_log(f"=:e:{DEST_ETH}"))
    forged = d.decode_release(
        transfer_out_log(outbound_memo("out", dep.tx_hash), vault=FORGER, to=FORGER)
    )
    assert forged is None
    assert "not a known THORChain vault" in d.skipped[-1][1] and "forged" in d.skipped[-1][1]
    assert d.link([dep], []) == []
    # a decoder with no vault list at all trusts nobody
    bare = ThorchainDecoder()
    assert bare.decode_release(transfer_out_log(outbound_memo("out", dep.tx_hash))) is None


def test_vault_internal_memos_are_not_releases():
    d = decoder()
    assert d.decode_release(transfer_out_log("MIGRATE:12345")) is None
    assert "migrate memo" in d.skipped[-1][1]
    assert d.decode_release(transfer_out_log("not a memo")) is None


def test_transfer_out_and_call_both_variants():
    d = decoder()
    memo = "OUT:" + "CD" * 32
    target = "0x" + "33" * 20
    v4 = (
        "0x"
        + encode(
            ["address", "uint256", "address", "address", "uint256", "string"],
            [target, 7 * 10**17, USDT, DEST_ETH, 123, memo],
        ).hex()
    )
    rel = d.decode_release(
        RawLog("ethereum", ROUTER, (TRANSFER_OUT_AND_CALL, topic(ETH_VAULT)), v4, tx(9), 1, 5, 6)
    )
    assert (rel.recipient, rel.asset, rel.amount, rel.link_key) == (
        DEST_ETH,
        "native",
        7 * 10**17,
        "CD" * 32,
    )
    v5 = (
        "0x"
        + encode(
            ["address", "uint256", "address", "uint256", "string", "bytes", "string"],
            [target, 8 * 10**17, USDT, 1, memo, b"\x01\x02", "bc1qorigin"],
        ).hex()
    )
    rel5 = d.decode_release(
        RawLog(
            "ethereum",
            ROUTER,
            (TRANSFER_OUT_AND_CALL_V5, topic(ETH_VAULT), topic(DEST_ETH)),
            v5,
            tx(10),
            1,
            5,
            6,
        )
    )
    assert (rel5.recipient, rel5.amount, rel5.kind) == (DEST_ETH, 8 * 10**17, "out")


# ------------------------------------------------------------------------------------ Bitcoin


def test_bitcoin_inbound_to_ethereum_outbound_links_exactly():
    d = decoder()
    inbound = btc_tx(
        "aa" * 32,
        BTC_USER,
        [
            (BTC_VAULT, 50_000_000, ""),
            (None, 0, op_return(f"=:e:{DEST_ETH}:0/3/0")),
            (BTC_USER, 1_000, ""),
        ],
    )
    dep = d.deposit_from_btc(inbound)
    assert (dep.chain, dep.contract, dep.sender, dep.amount, dep.log_index) == (
        "bitcoin",
        BTC_VAULT,
        BTC_USER,
        50_000_000,
        0,
    )
    assert (dep.dest_chain, dep.recipient, dep.link_key) == ("ethereum", DEST_ETH, "AA" * 32)
    rel = d.decode_release(transfer_out_log("OUT:" + "AA" * 32, amount=9 * 10**18))
    [link] = d.link([dep], [rel])
    assert link.releases == (rel,) and link.fee is None and link.linkage == "exact"


def test_ethereum_inbound_to_bitcoin_outbound_and_forged_btc_out():
    d = decoder()
    dep = d.decode_deposit(deposit_log(f"=:b:{BTC_USER}"))
    memo = outbound_memo("out", dep.tx_hash)
    real = btc_tx(
        "bb" * 32,
        BTC_VAULT,
        [(BTC_USER, 4_000_000, ""), (BTC_VAULT, 9_000, ""), (None, 0, op_return(memo))],
    )
    fake = btc_tx(
        "cc" * 32,
        BTC_FORGER,
        [(BTC_FORGER + "", 1, "")][:0]
        + [(synthetic_output("decoy")[0], 4_000_000, ""), (None, 0, op_return(memo))],
    )
    rel = d.release_from_btc(real)
    assert (rel.chain, rel.recipient, rel.amount, rel.contract, rel.log_index) == (
        "bitcoin",
        BTC_USER,
        4_000_000,
        BTC_VAULT,
        0,
    )
    assert d.release_from_btc(fake) is None
    assert "not a known THORChain vault" in d.skipped[-1][1]
    [link] = d.link([dep], [rel])
    assert link.releases == (rel,)
    # a BTC transaction without memo is not THORChain's business
    assert d.deposit_from_btc(btc_tx("dd" * 32, BTC_USER, [(BTC_VAULT, 5, "")])) is None
    assert d.release_from_btc(btc_tx("dd" * 32, BTC_VAULT, [(BTC_USER, 5, "")])) is None


def test_refund_goes_back_to_the_sender_with_its_fee():
    d = decoder()
    inbound = btc_tx(
        "ee" * 32, BTC_USER, [(BTC_VAULT, 117_646_000, ""), (None, 0, op_return(REAL_MEMO))]
    )
    dep = d.deposit_from_btc(inbound)
    refund = btc_tx(
        "ff" * 32,
        BTC_VAULT,
        [(BTC_USER, 117_553_237, ""), (None, 0, op_return("REFUND:" + "EE" * 32))],
    )
    rel = d.release_from_btc(refund)
    assert rel.kind == "refund"
    [link] = d.link([dep], [rel])
    assert link.fee == 117_646_000 - 117_553_237
    assert "refunded to the sender" in link.evidence


def test_two_inbounds_in_one_transaction_are_ambiguous():
    d = decoder()
    a = d.decode_deposit(deposit_log("=:b:x", log_index=1))
    b = d.decode_deposit(deposit_log("=:b:x", log_index=2))
    rel = d.decode_release(transfer_out_log(outbound_memo("out", a.tx_hash)))
    assert d.link([a, b], [rel]) == []
    assert "ambiguous" in d.skipped[-1][1]


def test_inbound_without_outbound_stays_unlinked():
    d = decoder()
    assert d.link([d.decode_deposit(deposit_log("=:b:x"))], []) == []


# ------------------------------------------------------------------------------------ vaults / registry


def test_load_vaults_accepts_inbound_addresses_shape(tmp_path):
    path = tmp_path / "inbound.json"
    path.write_text(
        json.dumps(
            [
                {"chain": "BTC", "pub_key": "thorpub1...", "address": BTC_VAULT, "halted": False},
                {
                    "chain": "ETH",
                    "address": ETH_VAULT.upper().replace("0X", "0x"),
                    "router": ROUTER,
                },
                {"chain": "ethereum", "address": "0x" + "a2" * 20},
            ]
        )
    )
    vaults, routers = load_vaults(path)
    assert vaults["bitcoin"] == {BTC_VAULT}
    assert vaults["ethereum"] == {ETH_VAULT, "0x" + "a2" * 20}
    assert routers["ethereum"] == {ROUTER}
    for bad in (
        {"x": 1},
        [1],
        [{"chain": "NOPE", "address": "x"}],
        [{"chain": "BTC", "address": "bc1qbad"}],
    ):
        with pytest.raises(VaultFileError):
            load_vaults(bad)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(VaultFileError) as info:
        load_vaults(tmp_path / "bad.json")
    assert "cannot read" in str(info.value)


def test_registered_for_the_ethereum_routers():
    registry = default_registry()
    assert registry.decoder_for("ethereum", ROUTER).name == "thorchain"
    assert (
        registry.decoder_for("ethereum", "0x3624525075b88b24ecc29ce226b0cec1ffcb6976").name
        == "thorchain"
    )


# ------------------------------------------------------------------------------------ Midgard


def real_refund() -> dict:
    return json.loads((FIXTURES / "actions_refund.json").read_text())


def test_real_refund_action_parses():
    action = parse_action(real_refund()["actions"][0])
    assert (action.type, action.status, action.time) == ("refund", "success", 1704846972)
    assert action.memo == REAL_MEMO and "price limit" in action.reason
    assert action.outs[0].txid == "" and action.outs[1].coins[0].amount == 117553237


def test_midgard_fills_in_when_destination_data_is_absent():
    with MidgardServer(real_refund()["actions"]) as server:
        d = decoder(midgard=MidgardClient(server.url, backoff=0.0))
        inbound = btc_tx(
            REAL_INBOUND.lower(),
            REAL_SENDER,
            [(BTC_VAULT, 117_646_000, ""), (None, 0, op_return(REAL_MEMO))],
        )
        dep = d.deposit_from_btc(inbound)
        assert (
            dep.dest_chain == "ethereum"
            and dep.recipient == "0xc6ebf3bd612844a533f63a702149bb09f356f5d8"
        )
        [link] = d.link([dep], [])
        assert server.requests[0] == ("/v2/actions", {"txid": REAL_INBOUND, "limit": "50"})
    [rel] = link.releases
    assert (rel.chain, rel.kind, rel.recipient, rel.amount) == (
        "bitcoin",
        "refund",
        REAL_SENDER,
        117_553_237,
    )
    assert rel.tx_hash == "772ead20ed7d60fbfba15eea0dc2cf71dfe945605a4caed79db8a852d005e212"
    assert (link.linkage, link.confidence, link.fee) == ("exact", 0.9, 117_646_000 - 117_553_237)
    assert any("THOR.RUNE" in e and "not followed" in e for e in link.evidence)
    assert any("price limit" in e for e in link.evidence)


def test_midgard_conversion_to_base_units_and_unknown_inbound():
    action = dict(real_refund()["actions"][0])
    action["type"] = "swap"
    action["metadata"] = {"swap": {"memo": REAL_MEMO}}
    action["out"] = [
        {
            "address": DEST_ETH.upper().replace("0X", "0x"),
            "coins": [{"amount": "564938548", "asset": "ETH.ETH"}],
            "height": "14207900",
            "txID": "AB" * 32,
        },
        {
            "address": DEST_ETH,
            "coins": [
                {"amount": "150", "asset": "ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7"}
            ],
            "txID": "AC" * 32,
        },
    ]
    with MidgardServer([action]) as server:
        d = decoder(midgard=MidgardClient(server.url, backoff=0.0))
        dep = d.deposit_from_btc(
            btc_tx(
                REAL_INBOUND.lower(),
                REAL_SENDER,
                [(BTC_VAULT, 117_646_000, ""), (None, 0, op_return(REAL_MEMO))],
            )
        )
        [link] = d.link([dep], [])
        other = d.deposit_from_btc(
            btc_tx("12" * 32, REAL_SENDER, [(BTC_VAULT, 5, ""), (None, 0, op_return(REAL_MEMO))])
        )
        assert d.link([other], []) == []
        assert "no action" in d.skipped[-1][1]
    usdt, eth = link.releases  # ordered by block: the USDT leg has no height of its own
    assert (eth.chain, eth.asset, eth.amount, eth.kind) == (
        "ethereum",
        "native",
        564938548 * 10**10,
        "out",
    )
    assert eth.tx_hash == "0x" + "ab" * 32 and eth.recipient == DEST_ETH
    assert (usdt.asset, usdt.amount) == (USDT, 1)  # 150 (1e8) -> 1 base unit of a 6-decimal token
    assert "recipient matches the memo destination" in link.evidence


def test_midgard_pagination_follows_next_page_token():
    base = real_refund()["actions"][0]
    actions = []
    for i in range(60):
        a = json.loads(json.dumps(base))
        a["date"] = str(int(a["date"]) + i)
        a["height"] = str(int(a["height"]) + i)
        actions.append(a)
    with MidgardServer(actions) as server:
        client = MidgardClient(server.url, backoff=0.0)
        found = client.actions(REAL_INBOUND.lower())
        assert len(found) == 60 and client.requests == 2
        assert "nextPageToken" in server.requests[1][1]
        assert len({a.date_ns for a in found}) == 60  # no action twice
    same_height = [dict(a, height=base["height"]) for a in actions] + [dict(actions[0], date="1")]
    with MidgardServer(same_height) as server:  # 61 actions in one block: 50 + 11
        client = MidgardClient(server.url, backoff=0.0)
        assert len(client.actions(REAL_INBOUND)) == 61 and client.requests == 2


def test_midgard_rate_limits_errors_and_garbage():
    actions = real_refund()["actions"]
    with MidgardServer(actions, throttle=lambda n: n <= 2, garble=lambda n: n == 3) as server:
        client = MidgardClient(server.url, backoff=0.0, max_backoff=0.0)
        assert len(client.actions(REAL_INBOUND)) == 1
        assert len(server.requests) == 4  # 429, 429, truncated body, good
    with MidgardServer(actions, fail=lambda n: True) as server:
        client = MidgardClient(server.url, backoff=0.0, max_backoff=0.0, retries=2)
        with pytest.raises(SourceError) as info:
            client.actions(REAL_INBOUND)
        assert "failed after 2 attempts" in str(info.value)
    with MidgardServer(actions) as server:
        with pytest.raises(SourceError) as info:
            MidgardClient(server.url + "/nope", backoff=0.0).actions(REAL_INBOUND)
        assert "HTTP 404" in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(SourceError):
            MidgardClient(server.url).actions("not-a-hash")
    with pytest.raises(SourceError):
        MidgardClient("ftp://example.org")


def test_midgard_failure_leaves_the_deposit_unlinked_with_a_reason():
    with MidgardServer(real_refund()["actions"], fail=lambda n: True) as server:
        d = decoder(midgard=MidgardClient(server.url, backoff=0.0, max_backoff=0.0, retries=1))
        dep = d.deposit_from_btc(
            btc_tx(
                REAL_INBOUND.lower(),
                REAL_SENDER,
                [(BTC_VAULT, 117_646_000, ""), (None, 0, op_return(REAL_MEMO))],
            )
        )
        assert d.link([dep], []) == []
        assert "Midgard lookup failed" in d.skipped[-1][1]


def test_midgard_responses_are_stored_and_replayed_offline(tmp_path):
    with MidgardServer(real_refund()["actions"]) as server:
        MidgardClient(server.url, cache=str(tmp_path)).actions(REAL_INBOUND)
        url = server.url
    again = MidgardClient(url, cache=str(tmp_path), retries=1)
    assert len(again.actions(REAL_INBOUND)) == 1 and again.http.sent == 0


# ------------------------------------------------------------------------------------ UTXO sources


def test_utxo_inbound_behind_a_transfer_and_vault_outbounds_from_a_bitcoin_source():
    from tracer.bitcoin.memory import MemoryBtcSource
    from tracer.records import Transfer

    inbound = btc_tx(
        "a1" * 32, BTC_USER, [(BTC_VAULT, 7_000_000, ""), (None, 0, op_return(f"=:e:{DEST_ETH}"))]
    )
    refund_in = btc_tx(
        "a2" * 32, BTC_USER, [(BTC_VAULT, 9_000_000, ""), (None, 0, op_return("=:NOPE.X:x"))]
    )
    refund = btc_tx(
        "a3" * 32,
        BTC_VAULT,
        [(BTC_USER, 8_990_000, ""), (None, 0, op_return("REFUND:" + "A2" * 32))],
    )
    forged = btc_tx(
        "a4" * 32, BTC_FORGER, [(BTC_USER, 1, ""), (None, 0, op_return("OUT:" + "A1" * 32))]
    )
    source = MemoryBtcSource([inbound, refund_in, refund, forged])
    d = decoder(utxo_sources={"bitcoin": source})
    assert d.knows("bitcoin", BTC_VAULT)  # UTXO vaults are registered contracts
    t = Transfer(
        "bitcoin",
        "native",
        BTC_USER,
        BTC_VAULT,
        7_000_000,
        8,
        inbound.txid,
        0,
        800_000,
        1_700_001_000,
        kind="utxo",
    )
    dep = d.deposit_from_transfer(t)
    assert dep is not None and dep.dest_chain == "ethereum" and dep.link_key == "A1" * 32
    change = Transfer(
        "bitcoin",
        "native",
        BTC_USER,
        BTC_VAULT,
        1,
        8,
        inbound.txid,
        1,
        800_000,
        1_700_001_000,
        kind="utxo",
    )
    assert d.deposit_from_transfer(change) is None  # not the vault output
    rels = d.releases("bitcoin", 1_700_000_000, 1_700_002_000)
    assert [r.tx_hash for r in rels] == [refund.txid]  # the forged OUT is not a vault's
    dep2 = d.deposit_from_btc(refund_in)
    [link] = d.link([dep2], rels)
    assert link.releases[0].kind == "refund" and link.fee == 10_000
    assert d.releases("ethereum", 0, 2**40) == []


def test_real_inbound_addresses_shape_skips_untraced_chains():
    entries = [
        {
            "chain": "BTC",
            "address": BTC_VAULT,
            "pub_key": "thorpub1addwnpepq",
            "halted": False,
            "gas_rate": "10",
            "gas_rate_units": "satsperbyte",
        },
        {"chain": "LTC", "address": "ltc1qsomething", "halted": False},
        {"chain": "GAIA", "address": "cosmos1something", "halted": False},
        {"chain": "ETH", "address": ETH_VAULT, "router": ROUTER, "halted": False},
    ]
    vaults, routers = load_vaults(entries)
    assert set(vaults) == {"bitcoin", "ethereum"} and routers == {"ethereum": frozenset({ROUTER})}


def test_decodes_router_logs_read_from_an_ethereum_etl_export(tmp_path):
    """The same logs through the bulk provider (DuckDB over an ethereum-etl ``logs.csv``)."""
    import csv

    from tracer.bridges.events import DuckDBLogs

    dep = deposit_log(
        f"=:ETH.USDT-0XDAC17F958D2EE523A2206206994597C13D831EC7:{USER}", amount=2 * 10**18
    )
    out = transfer_out_log(outbound_memo("out", dep.tx_hash), to=USER)
    forged = transfer_out_log(outbound_memo("out", dep.tx_hash), vault=FORGER, n=3)
    with open(tmp_path / "logs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "log_index",
                "transaction_hash",
                "transaction_index",
                "block_hash",
                "block_number",
                "address",
                "data",
                "topics",
                "block_timestamp",
                "tx_from",
            ]
        )
        for log in (dep, out, forged):
            w.writerow(
                [
                    log.log_index,
                    log.tx_hash,
                    0,
                    "0x" + "00" * 32,
                    log.block,
                    log.address.upper().replace("0X", "0x"),
                    log.data,
                    ",".join(log.topics),
                    log.time,
                    log.tx_from,
                ]
            )
    provider = DuckDBLogs(tmp_path, "ethereum")
    logs = provider.logs([ROUTER])
    assert len(logs) == 3
    d = decoder()
    deposits = [x for x in (d.decode_deposit(log) for log in logs) if x]
    releases = [x for x in (d.decode_release(log) for log in logs) if x]
    assert len(deposits) == 1 and deposits[0].sender == USER and deposits[0].amount == 2 * 10**18
    assert len(releases) == 1 and releases[0].recipient == USER  # the forged one is skipped
    [link] = d.link(deposits, releases)
    assert link.deposit.link_key == thor_txid(dep.tx_hash)


# ------------------------------------------------------------------------------------ real outbound

# A real THORChain Bitcoin outbound (block 825,310): the vault bc1qsqwy… pays an LP withdrawal
# of inbound 85CEF318… (shapeshift/unchained fixture thorchainLpOutbound; see fixtures/README).
REAL_VAULT = "bc1qsqwywyfq3dhrmu3kh8emh2l6u5hde7szxpg99j"
REAL_LP = "bc1qpaue8hq4zcyzsys02pr0yxr60s6hsz6yt6h493"
REAL_OUT_TXID = "9fc8843b239a50c1f00c38788c5dea2060c97bb17a5786291751210b78513a8a"
REAL_LP_INBOUND = "85CEF3183958A805643C6BD93169AC2ED30051C21F19CBF5B26161CC5AF89659"
REAL_OP_RETURN = (
    "6a444f55543a38354345463331383339353841383035363433433642443933313639414332454433303035"
    "314332314631394342463542323631363143433541463839363539"
)


def real_outbound() -> BtcTx:
    outs = (
        TxOut(
            0,
            914306,
            (REAL_LP,),
            "witness_v0_keyhash",
            "00140f7993dc15160828120f5046f2187a7c35780b44",
        ),
        TxOut(
            1,
            9743111148,
            (REAL_VAULT,),
            "witness_v0_keyhash",
            "0014801c4711208b6e3df236b9f3bbabfae52edcfa02",
        ),
        TxOut(2, 0, (), "nulldata", REAL_OP_RETURN),
    )
    vin = (
        TxIn(
            "30cad15d229dd83b32d847cadf980f9d2f77c1c38b56ddebb9358e724f895886",
            1,
            REAL_VAULT,
            9744053842,
        ),
    )
    return BtcTx(
        REAL_OUT_TXID,
        825310,
        "00000000000000000003d61a48a55bcc1d7aaa2ccb5eb9268f1458bbecc6c9d7",
        1704980055,
        None,
        1,
        0,
        None,
        None,
        vin,
        outs,
    )


def test_real_bitcoin_outbound_decodes_and_agrees_with_midgard():
    d = ThorchainDecoder()
    d.add_vaults([{"chain": "BTC", "address": REAL_VAULT}])
    rel = d.release_from_btc(real_outbound())
    assert (rel.kind, rel.link_key, rel.recipient, rel.amount, rel.log_index, rel.contract) == (
        "out",
        REAL_LP_INBOUND,
        REAL_LP,
        914306,
        0,
        REAL_VAULT,
    )
    # the LP's withdrawal request (inbound) as THORChain saw it: 10001 sat, memo -:BTC.BTC:3300
    inbound = btc_tx(
        REAL_LP_INBOUND.lower(),
        REAL_LP,
        [(REAL_VAULT, 10001, ""), (None, 0, op_return("-:BTC.BTC:3300"))],
    )
    dep = d.deposit_from_btc(inbound)
    assert dep.dest_chain is None and parse_memo(dep.memo).action == "withdraw"
    [link] = d.link([dep], [rel])
    assert link.fee is None and any("liquidity withdrawal" in e for e in link.evidence)
    # Midgard's record of the same inbound names the same outbound
    actions = json.loads((FIXTURES / "actions_withdraw.json").read_text())["actions"]
    with MidgardServer(actions) as server:
        m = ThorchainDecoder(midgard=MidgardClient(server.url))
        m.add_vaults([{"chain": "BTC", "address": REAL_VAULT}])
        [via_midgard] = m.link([m.deposit_from_btc(inbound)], [])
    [mrel] = via_midgard.releases
    assert (mrel.tx_hash, mrel.recipient, mrel.amount, mrel.kind) == (
        REAL_OUT_TXID,
        REAL_LP,
        914306,
        "out",
    )
    # the same transaction sent by anyone but the vault is a forgery
    forged = real_outbound()
    forged = BtcTx(
        forged.txid,
        forged.block_height,
        forged.block_hash,
        forged.block_time,
        None,
        1,
        0,
        None,
        None,
        (TxIn("11" * 32, 0, BTC_FORGER, 10**6),),
        forged.outputs,
    )
    assert d.release_from_btc(forged) is None


# Router logs as THORNode's own Bifrost tests record them (gitlab.com/thorchain/thornode,
# bifrost/pkg/chainclients/ethereum test fixtures): the v2+ layout (asset indexed) and the v1
# layout (2 topics, asset in the data). Data hex verbatim.
BIFROST_ROUTER = "0xe65e9d372f8cacc7b6dfcd4af6507851ed31bb44"
BIFROST_DEPOSIT_V2 = (
    "0x"
    "0000000000000000000000000000000000000000000000004563918244f40000"
    "0000000000000000000000000000000000000000000000000000000000000040"
    "0000000000000000000000000000000000000000000000000000000000000038"
    "4144443a4554482e4554483a7474686f72313678786e30636164727575773661"
    "327177707633356176306d6568727976647a7a6a7a3361660000000000000000"
)
BIFROST_DEPOSIT_V1 = (
    "0x"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000f4240"
    "0000000000000000000000000000000000000000000000000000000000000060"
    "0000000000000000000000000000000000000000000000000000000000000038"
    "4144443a4554482e4554483a7474686f723137303471753333746c6d346c7574"
    "6363343638303879683334387a726d7239796e6d77346c380000000000000000"
)


def test_router_v1_and_v2_deposit_layouts_from_thornode_fixtures():
    d = ThorchainDecoder(contracts={})
    d.add_contract("ethereum", BIFROST_ROUTER)
    v2 = RawLog(
        "ethereum",
        BIFROST_ROUTER,
        (DEPOSIT, topic("0x58e99c9c4a20f5f054c737389fdd51d7ed9c7d2a"), "0x" + "00" * 32),
        BIFROST_DEPOSIT_V2,
        "0xa132791c8f868ac84bcffc0c2c8076f35c0b8fa1f7358428917892f0edddc550",
        0,
        34,
        1,
    )
    dep = d.decode_deposit(v2)
    assert (dep.asset, dep.amount, dep.memo) == (
        "native",
        5 * 10**18,
        "ADD:ETH.ETH:tthor16xxn0cadruuw6a2qwpv35av0mehryvdzzjz3af",
    )
    assert dep.dest_chain is None  # add liquidity: nothing is paid out
    v1 = RawLog(
        "ethereum",
        BIFROST_ROUTER,
        (DEPOSIT, topic("0xfb337706200a55009e6bbd41e4dc164d59bc9aa2")),
        BIFROST_DEPOSIT_V1,
        "0xc318fc70ec225c3e5e5fd3f59e205fdfb4d27ef878dd321b30278d891db0c6a9",
        0,
        6,
        1,
    )
    dep1 = d.decode_deposit(v1)
    assert (dep1.asset, dep1.amount, dep1.memo) == (
        "native",
        10**6,
        "ADD:ETH.ETH:tthor1704qu33tlm4lutcc46808yh348zrmr9ynmw4l8",
    )


def test_router_v1_transfer_out_layout():
    d = decoder()
    data = (
        "0x"
        + encode(
            ["address", "address", "uint256", "string"],
            [DEST_ETH, USDT, 2837574101, "OUT:" + "F6" * 32],
        ).hex()
    )
    log = RawLog("ethereum", ROUTER, (TRANSFER_OUT, topic(ETH_VAULT)), data, tx(40), 1, 72, 1)
    rel = d.decode_release(log)
    assert (rel.recipient, rel.asset, rel.amount, rel.link_key) == (
        DEST_ETH,
        USDT,
        2837574101,
        "F6" * 32,
    )
