"""Bitcoin sources against real loopback servers: Esplora paging and 429s, the case store (replay
offline, resume), Bitcoin Core errors, bitcoin-etl bad input."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest
from servers.bitcoin_core_server import CoreServer
from servers.esplora_server import EsploraServer

import tracer
from tracer.bitcoin.core import CoreSource
from tracer.bitcoin.esplora import EsploraSource
from tracer.bitcoin.etl import EtlSource, write_etl_json
from tracer.bitcoin.model import BtcTx, TxIn, TxOut
from tracer.bitcoin.script import synthetic_output
from tracer.sources import open_source
from tracer.sources.base import SourceError


def addr(name: str) -> str:
    return synthetic_output(name, namespace="tracer-test-src")[0]


def history(owner: str, n: int, start: int = 700_000) -> list[BtcTx]:
    """``n`` transactions paying ``owner``, one per block."""
    txs = []
    for k in range(n):
        txid = hashlib.sha256(f"{owner}:{k}".encode()).hexdigest()
        prev = hashlib.sha256(f"prev:{owner}:{k}".encode()).hexdigest()
        txs.append(
            BtcTx(
                txid, start + k, f"{start + k:064x}", 1_650_000_000 + 600 * k, 1, 2, 0, 110, 110,
                (TxIn(prev, 0, addr(f"payer{k}"), 10_000 + k, "witness_v0_keyhash"),),
                (TxOut(0, 9_000 + k, (owner,), "witness_v0_keyhash", "0014" + "00" * 20),),
            )
        )  # fmt: skip
    return txs


def fast(url: str, **kw) -> EsploraSource:
    return EsploraSource(url, backoff=0.001, **kw)


@pytest.mark.parametrize("n,pages", [(60, 3), (50, 3), (25, 2), (24, 1), (0, 1)])
def test_esplora_pages_by_25_with_last_seen_txid(n, pages):
    owner = addr(f"owner{n}")
    txs = history(owner, n)
    with EsploraServer(txs) as server:
        got = fast(server.url).address_history(owner)
        paths = list(server.requests)
    assert sorted(t.txid for t in got) == sorted(t.txid for t in txs)
    assert len(paths) == pages
    assert paths[0] == f"/api/address/{owner}/txs/chain"
    newest_first = sorted(txs, key=lambda t: t.block_height, reverse=True)
    for k, path in enumerate(paths[1:], start=1):
        assert path == f"/api/address/{owner}/txs/chain/{newest_first[25 * k - 1].txid}"


def test_esplora_stops_when_the_server_ignores_the_cursor():
    owner = addr("stuck")

    class Stuck(EsploraServer):
        def route(self, path):  # a cursor the server ignores: the first page again
            return super().route(path.rsplit("/", 1)[0] if path.count("/") > 5 else path)

    with Stuck(history(owner, 30)) as server:
        with pytest.raises(SourceError, match="repeats a transaction"):
            fast(server.url).address_history(owner)


def test_esplora_backs_off_on_429_and_gives_up_with_one_line():
    owner = addr("busy429")
    txs = history(owner, 30)
    with EsploraServer(txs, throttle=lambda n: n <= 3) as server:
        src = fast(server.url)
        assert len(src.address_history(owner)) == 30
        assert server.rate_limited == 3 and src.http.retried == 3
    with EsploraServer(txs, throttle=lambda n: True) as server:
        with pytest.raises(SourceError) as err:
            EsploraSource(server.url, backoff=0.001, retries=3).address_history(owner)
    assert "429" in str(err.value) and "\n" not in str(err.value)


def test_esplora_errors_and_degrees():
    owner = addr("deg")
    with EsploraServer(history(owner, 7)) as server:
        src = fast(server.url)
        with pytest.raises(SourceError, match="HTTP 404: Transaction not found"):
            src.transaction("00" * 32)
        with pytest.raises(SourceError, match="HTTP 400: Invalid Bitcoin address"):
            src._get("/address/bc1qnotanaddress/txs/chain", "history")
        assert src.degrees([owner, "nonstandard" + "0" * 40]) == {
            owner: 7,
            "nonstandard" + "0" * 40: 0,
        }
        assert src.address_history("nonstandard" + "0" * 40) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_esplora_store_replays_offline_and_resumes(tmp_path):
    owners = [addr(f"r{k}") for k in range(3)]
    txs = [t for o in owners for t in history(o, 30)]
    port = _free_port()
    cache = tmp_path / "case-store"
    # first run dies on its 4th request (the provider keeps refusing)
    with EsploraServer(txs, port=port, throttle=lambda n: n >= 4) as server:
        with pytest.raises(SourceError):
            EsploraSource(server.url, cache=cache, backoff=0.001, retries=2).address_txs(owners)
        first = [p for p in server.requests]
    # second run resumes: what was stored is not asked again
    with EsploraServer(txs, port=port) as server:
        src = EsploraSource(server.url, cache=cache, backoff=0.001)
        got = src.address_txs(owners)
        resumed = list(server.requests)
    assert len(got) == 90
    assert len(set(first[:3]) & set(resumed)) == 0 and len(resumed) == 6 - 3
    # third run: the server is gone, everything comes from the store
    src = EsploraSource(f"http://127.0.0.1:{port}/api", cache=cache, backoff=0.001, retries=1)
    assert [t.txid for t in src.address_txs(owners)] == [t.txid for t in got]
    assert src.http.sent == 0
    assert src.fingerprint()["store"]["responses"] == 6


def test_bitcoin_core_errors_are_one_line():
    tx = history(addr("core"), 2)
    with CoreServer(txs=tx, txindex=False) as server:
        src = CoreSource(server.url, backoff=0.001)
        with pytest.raises(SourceError, match="-txindex"):
            src.raw_transaction(tx[0].txid)
        with pytest.raises(SourceError, match="no address index"):
            src.address_txs([addr("core")])
        assert "secretpassword" not in json.dumps(src.fingerprint())
    with CoreServer(txs=tx, jsonrpc_2=True, throttle=lambda n: n == 1) as server:
        src = CoreSource(server.url, backoff=0.001, start_height=tx[0].block_height)
        assert [t.txid for t in src.address_txs([addr("core")])] == [t.txid for t in tx]
        with pytest.raises(SourceError, match=r"error -5: No such mempool or blockchain"):
            src.raw_transaction("ff" * 32)
        with pytest.raises(SourceError, match="Block not found"):
            src.rpc.call("getblock", ["ab" * 32, 3])


def test_bitcoin_etl_bad_input(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        EtlSource(tmp_path / "missing")
    (tmp_path / "blocks.json").write_text("{}\n")
    with pytest.raises(SourceError, match="no bitcoin-etl transactions export"):
        EtlSource(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "transactions.json").write_text('{"hash": "ab", "block_number": 1, \n')
    with pytest.raises(SourceError) as err:
        EtlSource(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(SourceError, match="bitcoin-etl serves bitcoin"):
        open_source("bitcoin-etl", "ethereum", data=str(bad))
    with pytest.raises(SourceError, match="does not take --rpc-url"):
        open_source("bitcoin-etl", "bitcoin", data=str(bad), rpc_url="http://x")


def test_unenriched_export_cannot_be_traced(tmp_path):
    """bitcoin-etl without ``enrich_transactions``: inputs carry no address and no value."""
    from dataclasses import replace

    seed = addr("seed")
    txs = [
        replace(t, inputs=(TxIn(t.inputs[0].prev_txid, 0, None, None, None),))
        for t in history(seed, 1)
    ]
    spend = BtcTx(
        "cc" * 32, 700_010, "11" * 32, 1_650_010_000, 0, 2, 0, 100, 100,
        (TxIn(txs[0].txid, 0, None, None, None),),
        (TxOut(0, 8_000, (addr("next"),), "witness_v0_keyhash"),),
    )  # fmt: skip
    write_etl_json(txs + [spend], tmp_path / "transactions.json")
    with pytest.raises(SourceError, match="not enriched"):
        tracer.trace([seed], chain="bitcoin", data=str(tmp_path))
