"""The Tron leg of the Deribit pattern, deterministic and synthetic (``--case sandbox-tron``).

Every address is synthetic: 0x41 + the last 20 bytes of keccak('tracer-sandbox-tron:<name>'),
base58check-encoded, and marked synthetic in ``labels.yaml``; transaction ids are
sha256('tracer-sandbox-tron:tx:<n>'). The token is a sandbox USDT (issuer "Tether (sandbox)"),
not the real TR7NHq... contract. The data is written as Tron exports
(:mod:`tracer.tron.bulk` layout) into ``sandbox_data/``: ``token_transfers.csv`` (story rows with
base58 addresses, noise rows with hex ``41...`` ones, times in seconds), ``transactions.csv``
(hex ``41...`` addresses as in ``raw_data``, times in milliseconds, ``contract_type``,
``contract_ret``, ``resource``), ``blacklist_events.csv`` (the issuer's events, addresses as the
20-byte ``0x...`` of event logs), ``tokens.csv``; beside them ``labels.yaml``, ``case.json`` and
``ground_truth.json`` (every flag under every allocation rule, the links, the addresses that
must never appear). ``tests/servers/trongrid_server.py`` serves the same data as TronGrid.

The story (block B0 = 46,000,000, 3-second blocks; amounts in USDT unless TRX):

* before: exchange X pays 100,000 clean USDT to ``cons`` (a withdrawal); exchange Y pays 2,000 TRX
  to the attacker's ``gas_funder``, which sends 30 TRX each to ``w1``, ``w2``, ``w3`` and ``w6``;
* arrivals from the bridge (the Ethereum side's cBridge/SWFT payouts): ``w1`` 500,000, ``w2``
  400,000 and 20,000 TRX, ``w3`` 301,000, ``w4`` 250,000, ``w5`` 460,000. The seeds are
  ``w1``..``w5`` (``w6`` is never reached: the gas-funder link names it as a candidate);
* noise at the seeds: a fake "USDT" token sent "from" ``w1`` to a lookalike of ``cons``, a
  zero-value USDT ``transferFrom``, 1 sun of dust, a failed TRX transfer from ``w3``;
* consolidation at ``cons`` (clean 100,000 first): in ``w1`` 500,000, ``w2`` 400,000; out 300,000
  to ``dep_x1``; in ``w3`` 300,000, ``w4`` 200,000; out 600,000 to ``h1``; ``w5`` -> ``cons3``
  450,000, ``cons3`` -> ``h3`` 50,000 and -> ``cons`` 400,000; out 500,000 to ``h2``, 200,000 to
  ``dep_y1``, 100,000 to the bridge; 200,000 stay. Each rule gives another split (ground truth);
* deposits: exchange X's hot wallet tops ``dep_x1`` up with 5 TRX, then ``dep_x1`` sweeps its
  full 300,000 to the hot wallet; exchange Y's energy provider delegates energy to ``dep_y1``,
  which then sweeps 200,000; ``w2`` pays 19,990 TRX into ``dep_x2`` (labelled deposit), swept
  whole; ``w4`` pays 50,000 straight into exchange Y's hot wallet; ``w3`` sends 1,000 to ``busy``,
  an unlabelled address with 1,100 transfers (the fan-out guard stops there);
* the issuer: AddedBlackList ``h1`` (frozen: ``frozen_balance``), AddedBlackList then
  RemovedBlackList ``h3`` (still freezable), AddedBlackList of an unrelated address;
  ``h2``, ``cons`` and ``w5`` (10,000 left at a seed) are freezable;
* busy exchange traffic at both hot wallets and the bridge.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import base58
from eth_utils import keccak

from tracer.tron import SUN, USDT
from tracer.tron import canonical as _canonical

USDT_UNIT = 10**6
B0 = 46_000_000
T0 = 1_668_000_000  # 2022-11-09T13:20:00Z
BLOCK_SECONDS = 3
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
DATA_DIR = Path(__file__).parent / "sandbox_data"
EXPORT_FILES = ("token_transfers.csv", "transactions.csv", "blacklist_events.csv", "tokens.csv")
DATA_FILES = EXPORT_FILES + ("labels.yaml", "case.json", "ground_truth.json")
SANDBOX_SOURCE = "synthetic: tracer Tron sandbox generator (tracer/tron/sandbox.py)"
ISSUER = "Tether (sandbox)"


def address(name: str, prefix: str = "tracer-sandbox-tron") -> str:
    """Synthetic Tron address of a sandbox actor (base58check of 0x41 + keccak bytes)."""
    body = keccak(text=f"{prefix}:{name}")[-20:]
    return base58.b58encode_check(b"\x41" + body).decode("ascii")


def hex41(addr: str) -> str:
    return base58.b58decode_check(addr).hex()


def evm_hex(addr: str) -> str:
    return "0x" + hex41(addr)[2:]


def lookalike(name: str) -> str:
    """A poisoner's stand-in for ``name``'s address (synthetic; the graph must never hold it)."""
    return address(f"lookalike:{name}")


def block_time(block: int) -> int:
    return T0 + (block - B0) * BLOCK_SECONDS


TOKEN = address("token:usdt")
FAKE_TOKEN = address("token:fake-usdt")


@dataclass
class _Tx:
    block: int
    kind: str  # "trx" (TransferContract), "call" (TriggerSmartContract), "delegate"
    sender: str
    to: str
    value: int = 0  # sun for trx/delegate; call_value for calls
    ret: str = "SUCCESS"
    resource: str = ""
    events: list[tuple[str, str, str, int]] = field(default_factory=list)  # token, from, to, v
    blacklist: list[tuple[str, str]] = field(default_factory=list)  # (event, address)
    hex_addresses: bool = False  # noise: write token rows with hex addresses
    hash: str = ""


class _Chain:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.txs: list[_Tx] = []

    def _add(self, tx: _Tx) -> _Tx:
        tx.hash = hashlib.sha256(f"{self.prefix}:tx:{len(self.txs)}".encode()).hexdigest()
        self.txs.append(tx)
        return tx

    def trx(self, block, sender, to, sun, ret="SUCCESS", noise=False):
        return self._add(_Tx(block, "trx", sender, to, sun, ret, hex_addresses=noise))

    def token(self, block, token, sender, to, value, signer=None, noise=False):
        return self._add(
            _Tx(
                block,
                "call",
                signer or sender,
                token,
                events=[(token, sender, to, value)],
                hex_addresses=noise,
            )
        )

    def delegate(self, block, sender, to, sun, resource="ENERGY"):
        return self._add(_Tx(block, "delegate", sender, to, sun, resource=resource))

    def blacklist(self, block, owner, token, event, who):
        return self._add(_Tx(block, "call", owner, token, blacklist=[(event, who)]))


NAMES = (
    "bridge",
    "gas_funder",
    "w1",
    "w2",
    "w3",
    "w4",
    "w5",
    "w6",
    "cons",
    "cons3",
    "h1",
    "h2",
    "h3",
    "dep_x1",
    "dep_x2",
    "dep_y1",
    "hot_x",
    "hot_y",
    "energy_y",
    "busy",
    "poisoner",
    "failed_rcpt",
    "issuer_owner",
    "blacklisted_other",
)


def _scenario(rng: random.Random) -> tuple[_Chain, dict[str, str]]:
    a = {n: address(n) for n in NAMES}
    a["lookalike_cons"] = lookalike("cons")
    u = USDT_UNIT
    c = _Chain("tracer-sandbox-tron")
    # before: clean USDT at cons, the gas funder gets TRX from exchange Y and pays the waves
    c.token(B0 - 2000, TOKEN, a["hot_x"], a["cons"], 100_000 * u)
    c.trx(B0 - 1900, a["hot_y"], a["gas_funder"], 2_000 * SUN)
    for k, w in enumerate(("w1", "w2", "w3", "w6")):
        c.trx(B0 - 50 + k, a["gas_funder"], a[w], 30 * SUN)
    # arrivals from the bridge
    c.token(B0, TOKEN, a["bridge"], a["w1"], 500_000 * u)
    c.token(B0 + 1, TOKEN, a["bridge"], a["w2"], 400_000 * u)
    c.trx(B0 + 2, a["bridge"], a["w2"], 20_000 * SUN)
    c.token(B0 + 3, TOKEN, a["bridge"], a["w3"], 301_000 * u)
    c.token(B0 + 4, TOKEN, a["bridge"], a["w4"], 250_000 * u)
    c.token(B0 + 5, TOKEN, a["bridge"], a["w5"], 460_000 * u)
    # noise at the seeds: spam token, zero-value transferFrom, dust, a failed TRX transfer
    c.token(B0 + 6, FAKE_TOKEN, a["w1"], a["lookalike_cons"], 500_000 * u, signer=a["poisoner"])
    c.token(B0 + 7, TOKEN, a["w1"], a["lookalike_cons"], 0, signer=a["poisoner"])
    c.trx(B0 + 8, a["poisoner"], a["w1"], 1)
    c.trx(B0 + 9, a["w3"], a["failed_rcpt"], 10 * SUN, ret="REVERT")
    # consolidation, deposits, holders
    c.token(B0 + 10, TOKEN, a["w1"], a["cons"], 500_000 * u)
    c.token(B0 + 11, TOKEN, a["w2"], a["cons"], 400_000 * u)
    c.trx(B0 + 12, a["w2"], a["dep_x2"], 19_990 * SUN)
    c.trx(B0 + 14, a["dep_x2"], a["hot_x"], 19_990 * SUN)
    c.token(B0 + 20, TOKEN, a["cons"], a["dep_x1"], 300_000 * u)
    c.token(B0 + 21, TOKEN, a["w3"], a["cons"], 300_000 * u)
    c.token(B0 + 22, TOKEN, a["w3"], a["busy"], 1_000 * u)
    c.token(B0 + 23, TOKEN, a["w4"], a["cons"], 200_000 * u)
    c.token(B0 + 24, TOKEN, a["w4"], a["hot_y"], 50_000 * u)
    c.trx(B0 + 25, a["hot_x"], a["dep_x1"], 5 * SUN)
    c.token(B0 + 26, TOKEN, a["dep_x1"], a["hot_x"], 300_000 * u)
    c.token(B0 + 30, TOKEN, a["cons"], a["h1"], 600_000 * u)
    c.token(B0 + 31, TOKEN, a["w5"], a["cons3"], 450_000 * u)
    c.token(B0 + 32, TOKEN, a["cons3"], a["h3"], 50_000 * u)
    c.token(B0 + 33, TOKEN, a["cons3"], a["cons"], 400_000 * u)
    c.token(B0 + 40, TOKEN, a["cons"], a["h2"], 500_000 * u)
    c.token(B0 + 50, TOKEN, a["cons"], a["dep_y1"], 200_000 * u)
    c.delegate(B0 + 52, a["energy_y"], a["dep_y1"], 1_000 * SUN)
    c.token(B0 + 53, TOKEN, a["dep_y1"], a["hot_y"], 200_000 * u)
    c.token(B0 + 60, TOKEN, a["cons"], a["bridge"], 100_000 * u)
    # the issuer
    c.blacklist(B0 + 100, a["issuer_owner"], TOKEN, "AddedBlackList", a["h1"])
    c.blacklist(B0 + 101, a["issuer_owner"], TOKEN, "AddedBlackList", a["h3"])
    c.blacklist(B0 + 102, a["issuer_owner"], TOKEN, "AddedBlackList", a["blacklisted_other"])
    c.blacklist(B0 + 150, a["issuer_owner"], TOKEN, "RemovedBlackList", a["h3"])
    _noise(c, a, rng)
    return c, a


def _noise(c: _Chain, a: dict[str, str], rng: random.Random) -> None:
    """Busy unrelated traffic: exchange deposits/withdrawals and top-ups, bridge payouts, a busy
    unlabelled service (the fan-out guard must stop there)."""

    def stranger() -> str:
        return address(f"customer:{rng.randrange(10**9)}")

    def when() -> int:
        return B0 + rng.randrange(-3000, 3000)

    u = USDT_UNIT
    for hot in ("hot_x", "hot_y"):
        for _ in range(120):
            who = stranger()
            if rng.random() < 0.5:
                c.token(when(), TOKEN, who, a[hot], rng.randrange(100, 100_000) * u, noise=True)
            else:
                c.token(when(), TOKEN, a[hot], who, rng.randrange(100, 100_000) * u, noise=True)
        for _ in range(30):
            c.trx(when(), a[hot], stranger(), 5 * SUN, noise=True)
    for _ in range(60):
        c.token(when(), TOKEN, a["bridge"], stranger(), rng.randrange(100, 90_000) * u, noise=True)
    for _ in range(1100):
        if rng.random() < 0.5:
            c.token(when(), TOKEN, stranger(), a["busy"], rng.randrange(1, 5_000) * u, noise=True)
        else:
            c.trx(when(), a["busy"], stranger(), rng.randrange(1, 500) * SUN, noise=True)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_exports(chain: _Chain, out: Path, tokens: list[list]) -> None:
    """The chain as Tron exports (the layout :mod:`tracer.tron.bulk` reads)."""
    txs = sorted(chain.txs, key=lambda t: (t.block, t.hash))
    transfers, transactions, blacklist = [], [], []
    for t in txs:
        ts = block_time(t.block)
        ctype = {
            "trx": "TransferContract",
            "call": "TriggerSmartContract",
            "delegate": "DelegateResourceContract",
        }[t.kind]
        transactions.append(
            [
                t.hash,
                t.block,
                ts * 1000,
                hex41(t.sender),
                hex41(t.to),
                t.value,
                ctype,
                t.ret,
                t.resource,
            ]
        )
        for index, (token, sender, receiver, value) in enumerate(t.events):
            if t.hex_addresses:
                token, sender, receiver = hex41(token), hex41(sender), hex41(receiver)
            transfers.append([token, sender, receiver, value, t.hash, index, t.block, ts])
        for index, (event, who) in enumerate(t.blacklist):
            blacklist.append([t.to, event, evm_hex(who), t.hash, t.block, ts * 1000, index])
    _write_csv(
        out / "token_transfers.csv",
        [
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "log_index",
            "block_number",
            "block_timestamp",
        ],
        transfers,
    )
    _write_csv(
        out / "transactions.csv",
        [
            "hash",
            "block_number",
            "block_timestamp",
            "from_address",
            "to_address",
            "value",
            "contract_type",
            "contract_ret",
            "resource",
        ],
        transactions,
    )
    _write_csv(
        out / "blacklist_events.csv",
        [
            "contract_address",
            "event_name",
            "address",
            "transaction_hash",
            "block_number",
            "block_timestamp",
            "event_index",
        ],
        blacklist,
    )
    _write_csv(out / "tokens.csv", ["address", "symbol", "name", "decimals"], tokens)


def generate(out_dir: Path | str, seed: int = 20221109) -> Path:
    """Write the Tron sandbox exports, labels, case and ground truth into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chain, a = _scenario(random.Random(seed))
    write_exports(
        chain,
        out,
        [
            [TOKEN, "USDT", "Tether USD (sandbox)", 6],
            [FAKE_TOKEN, "USDT", "Tether USD", 6],
        ],
    )
    (out / "labels.yaml").write_text(_labels_yaml(a), encoding="utf-8")
    (out / "case.json").write_text(json.dumps(case(a), indent=2) + "\n", encoding="utf-8")
    (out / "ground_truth.json").write_text(
        json.dumps(ground_truth(a), indent=2) + "\n", encoding="utf-8"
    )
    return out


def _labels_yaml(a: dict[str, str]) -> str:
    tags = [
        ("hot_x", "Exchange X: hot wallet (synthetic)", "exchange", "exchange-x"),
        ("dep_x2", "Exchange X: deposit address (synthetic)", "deposit", "exchange-x"),
        ("hot_y", "Exchange Y: hot wallet (synthetic)", "exchange", "exchange-y"),
        ("energy_y", "Exchange Y: energy provider (synthetic)", "exchange", "exchange-y"),
        ("bridge", "Bridge payout wallet on Tron (synthetic)", "defi_bridge", "sandbox-bridge"),
    ]
    lines = [
        "title: tracer Tron sandbox labels (synthetic addresses)",
        "creator: tracer",
        "description: Labels of the synthetic Tron sandbox. Every address here is synthetic.",
        f"source: '{SANDBOX_SOURCE}'",
        "currency: TRX",
        "network: TRX",
        "confidence: ownership",
        "lastmod: 2022-11-09",
        "tags:",
    ]
    for name, label, category, actor in tags:
        lines += [
            f"- address: '{a[name]}'",
            f"  label: '{label}'",
            f"  category: {category}",
            f"  actor: {actor}",
        ]
    return "\n".join(lines) + "\n"


def case(a: dict[str, str] | None = None) -> dict:
    a = a or {n: address(n) for n in NAMES}
    return {
        "name": "sandbox-tron",
        "title": "Synthetic Tron leg of the Deribit 2022 laundering pattern",
        "synthetic": True,
        "seeds": [
            {"chain": "tron", "address": a[w], "role": "bridge arrival", "source": SANDBOX_SOURCE}
            for w in ("w1", "w2", "w3", "w4", "w5")
        ],
        "since": block_time(B0 - 100),
        "assets": [
            {
                "chain": "tron",
                "address": TOKEN,
                "symbol": "USDT",
                "decimals": 6,
                "issuer": ISSUER,
            }
        ],
    }


def _rule(**amounts) -> dict[str, str]:
    if "all" in amounts:
        return {p: amounts["all"] for p in POLICIES}
    return {p: amounts[p] for p in POLICIES}


def ground_truth(a: dict[str, str]) -> dict:
    """Expected flags, hand-derived from the story (amounts in token units: USDT or TRX)."""
    usdt, trx = TOKEN, "native"
    flags = [
        # cons: 100k clean, +500k +400k stolen, 300k out (haircut 9/10; fifo 100k clean first)
        (
            "dep_x1",
            "exchange_deposit",
            "Exchange X",
            usdt,
            _rule(poison="300000", haircut="270000", fifo="200000", lifo="300000", tiho="300000"),
        ),
        ("dep_x2", "exchange_deposit", "Exchange X", trx, _rule(all="19990")),
        # after 1,000k of 965k tainted at cons: every later outflow is 96.5% tainted (haircut)
        (
            "dep_y1",
            "exchange_deposit",
            "Exchange Y",
            usdt,
            _rule(poison="200000", haircut="193000", fifo="200000", lifo="200000", tiho="200000"),
        ),
        ("hot_y", "exchange", "Exchange Y", usdt, _rule(all="50000")),
        (
            "bridge",
            "bridge",
            "Sandbox Bridge",
            usdt,
            _rule(poison="100000", haircut="96500", fifo="100000", lifo="100000", tiho="100000"),
        ),
        # 600k out of 1,200k holding 1,130k tainted: haircut 565k
        (
            "h1",
            "frozen_balance",
            ISSUER,
            usdt,
            _rule(poison="600000", haircut="565000", fifo="600000", lifo="600000", tiho="600000"),
        ),
        (
            "h2",
            "freezable_balance",
            ISSUER,
            usdt,
            _rule(poison="500000", haircut="482500", fifo="500000", lifo="500000", tiho="500000"),
        ),
        ("h3", "freezable_balance", ISSUER, usdt, _rule(all="50000")),
        # what stays at cons: fifo keeps the last stolen lot, lifo/tiho the clean 100k + 100k
        (
            "cons",
            "freezable_balance",
            ISSUER,
            usdt,
            _rule(poison="200000", haircut="193000", fifo="200000", lifo="100000", tiho="100000"),
        ),
        ("w5", "freezable_balance", ISSUER, usdt, _rule(all="10000")),
        ("busy", "high_degree", "", usdt, _rule(all="1000")),
    ]
    return {
        "chain": "tron",
        "seeds": [a[w] for w in ("w1", "w2", "w3", "w4", "w5")],
        "flags": [
            {"name": n, "address": a[n], "kind": k, "entity": e, "asset": asset, "amounts": amt}
            for n, k, e, asset, amt in flags
        ],
        "links": [
            {
                "kind": "shared_gas_funder",
                "address": a["gas_funder"],
                "members": sorted(a[w] for w in ("w1", "w2", "w3")),
                "also_funded": [a["w6"]],
            },
            {
                "kind": "consolidation",
                "address": a["cons"],
                "members": sorted(a[w] for w in ("w1", "w2", "w3", "w4", "cons3")),
                "also_funded": [],
            },
        ],
        "deposit_preparation": {
            "dep_x1": "TRX top-up",
            "dep_y1": "energy delegation",
        },
        "never_in_graph": {
            n: a[n]
            for n in (
                "lookalike_cons",
                "failed_rcpt",
                "gas_funder",
                "w6",
                "energy_y",
                "poisoner",
                "blacklisted_other",
            )
        }
        | {"fake_token": FAKE_TOKEN},
        "addresses": a,
        "token": TOKEN,
    }


def load_case() -> dict:
    """The case dict :func:`tracer.api.load_case` returns for ``sandbox-tron``."""
    info = json.loads((DATA_DIR / "case.json").read_text(encoding="utf-8"))
    info["data"] = str(DATA_DIR)
    info["labels"] = [str(DATA_DIR / "labels.yaml")]
    return info


# ---------------------------------------------------------------------------------------------
# A small synthetic history for the REAL Deribit forfeiture seeds (tests of
# `tracer trace --case deribit-2022 --chain tron --source trongrid --api-url URL` against the
# loopback server). The addresses come from the public complaint excerpt
# (../shared/data/cases/case_addresses.csv); every transfer between them is invented, and
# the other actors (bridge, exchange) are synthetic. Never bundled as data: tests write it.

DERIBIT = {
    "cons": "TCxWVTbtoqLbthFrdyyJ6cV8aK5UXXBnbS",  # consolidation, waves 1-3
    "gas_funder": "TVaV2BBs8tpthbp19QAy7ibmXLoYsomKDD",  # TRX gas funder of wave 1
    "cons3": "TR6RGkw4aMAUgTTMmCrNLA41urrLBLH3BF",  # wave-3 consolidation
    "l1": "TQdNvhGKQtVKNhBSJ1xbisxiNxUCgPBzCM",
    "l2": "TEGTuvMgEMcLP21GLa3XUCSsgZn4pbgggw",
    "l3": "TWcfg4q4wH36J5R4Au8KnPFrxcrQd1YenP",
    "l4": "TWXhVnNi4bUiii7g13YyWQuR1gacsp2mno",
    "f1": "TF3JRez3XpJJYDCJ4hPtA1BTyxRurYsHTd",  # 267,002 USDT
    "f2": "TBABZTh7p3tZGMnMefQkjqZuuyQK4iBCkS",  # 504,883 USDT
    "f4": "TT8WVp65uEJM4xdAkx2hJerQX5moeZYUEw",  # 90,408 USDT
    "f5": "TN6iW22qfXM2c6L8amCvcGx3WcvTShvbMP",  # 37,464 USDT
}
DERIBIT_FROZEN = {"f1": 267_002, "f2": 504_883, "f4": 90_408, "f5": 37_464}
DERIBIT_SYNTHETIC = ("bridge", "hot", "dep", "issuer_owner")


def deribit_history(out_dir: Path | str) -> dict:
    """Write a synthetic history for the real Deribit Tron seeds as Tron exports (plus a label
    file for its synthetic exchange and bridge); returns the expected outcome."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a = {k: _canonical(v) for k, v in DERIBIT.items()}
    for name in DERIBIT_SYNTHETIC:
        a[name] = address(name, prefix="tracer-deribit-demo")
    u = USDT_UNIT
    c = _Chain("tracer-deribit-demo")
    b = B0 + 20_000
    for k, w in enumerate(("l1", "l2", "l3", "l4", "cons", "cons3")):
        c.trx(b + k, a["gas_funder"], a[w], 50 * SUN)
    for k, (w, amount) in enumerate((("l1", 700_000), ("l2", 600_000), ("l3", 500_000))):
        c.token(b + 10 + k, USDT, a["bridge"], a[w], amount * u)
        c.token(b + 20 + k, USDT, a[w], a["cons"], amount * u)
    c.token(b + 13, USDT, a["bridge"], a["l4"], 300_000 * u)
    c.token(b + 23, USDT, a["l4"], a["cons"], 300_000 * u)
    c.token(b + 30, USDT, a["bridge"], a["cons3"], 628_320 * u)
    c.token(b + 31, USDT, a["cons3"], a["cons"], 628_320 * u)
    for k, (name, amount) in enumerate(DERIBIT_FROZEN.items()):
        c.token(b + 40 + k, USDT, a["cons"], a[name], amount * u)
    c.token(b + 50, USDT, a["cons"], a["dep"], 1_000_000 * u)
    c.trx(b + 51, a["hot"], a["dep"], 5 * SUN)
    c.token(b + 52, USDT, a["dep"], a["hot"], 1_000_000 * u)
    for k, name in enumerate(DERIBIT_FROZEN):
        c.blacklist(b + 100 + k, a["issuer_owner"], USDT, "AddedBlackList", a[name])
    write_exports(c, out, [[USDT, "USDT", "Tether USD", 6]])
    labels = out / "labels.yaml"
    labels.write_text(
        "\n".join(
            [
                "title: synthetic services of the Deribit Tron demo history",
                "creator: tracer",
                f"source: '{SANDBOX_SOURCE}'",
                "currency: TRX",
                "network: TRX",
                "confidence: ownership",
                "lastmod: 2022-11-09",
                "tags:",
                f"- address: '{a['hot']}'",
                "  label: 'Demo exchange: hot wallet (synthetic)'",
                "  category: exchange",
                "  actor: demo-exchange",
                f"- address: '{a['bridge']}'",
                "  label: 'Demo bridge payout wallet (synthetic)'",
                "  category: defi_bridge",
                "  actor: demo-bridge",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    held = 2_100_000 + 628_320 - sum(DERIBIT_FROZEN.values()) - 1_000_000
    return {
        "addresses": a,
        "labels": str(labels),
        "frozen": {a[n]: str(v) for n, v in DERIBIT_FROZEN.items()},
        "deposit": (a["dep"], "1000000"),
        "freezable": (a["cons"], str(held)),
        "gas_funder": a["gas_funder"],
        "gas_members": sorted([a["cons"], a["cons3"]]),
        "gas_also_funded": sorted(a[w] for w in ("l1", "l2", "l3", "l4")),
    }


if __name__ == "__main__":
    generate(DATA_DIR)
