"""The Ethereum -> bridge -> Tron leg of the Deribit pattern (``--case sandbox-xchain``).

Deterministic and synthetic: Ethereum addresses are the last 20 bytes of
keccak('tracer-sandbox-xchain:<name>'), Tron ones base58check of 0x41 + the same for
'tracer-sandbox-xchain-tron:<name>'. The Ethereum side is written by
:func:`tracer.sandbox.generator.write_exports` (ethereum-etl layout plus ``logs.csv`` with the
cBridge ``Send`` events), the Tron side by :func:`tracer.tron.sandbox.write_exports` plus a
``logs.csv`` with the ``Relay`` events (addresses as the 20-byte ``0x`` form of Tron logs).
Tokens are sandbox USDT on both chains (issuer "Tether (sandbox)").

The story (amounts in USDT):

* the victim exchange pays 2,500,000 to ``thief`` (the seed); ``a1`` already holds 200,000
  clean (an exchange withdrawal);
* ``thief`` pays ``a1`` 1,000,000, ``a2`` 600,000, ``a3`` 200,000, ``a4`` 200,000,
  ``a5`` 150,000 and keeps 350,000;
* **exact**: ``a1`` bridges 1,000,000 through cBridge to Tron ``w1`` (``Send``); the ``Relay``
  pays ``w1`` 999,000 (fee 1,000). Each rule gives another tainted share of the deposit;
* **inferred**: ``a2`` pays 600,000 into the SWFT-like desk; its Tron payout wallet pays ``w2``
  597,000 twelve minutes later. ``w2``'s TRX came from the gas funder that also funded ``w1``;
* decoys: ``decoy1`` bridges 1,000,000 through cBridge to ``decoy_w1`` (999,000 relayed one
  block after ``w1``'s), ``decoy2`` pays the desk 600,000 twelve seconds after ``a2`` and
  ``decoy_w2`` gets 597,000 two minutes after ``w2`` (funded by another funder), and a
  look-alike ``forger`` contract emits a ``Relay`` with ``a1``'s transfer id paying
  ``decoy_w3`` one block before the real one: never linked;
* stops: ``a3`` bridges 200,000 to BSC (no BSC data: ``no_destination_data``), ``a4`` pays
  200,000 into a labelled bridge no decoder knows (``no_decoder``), ``a5`` pays the desk 150,000
  and two strangers each get 149,250 half a minute apart (``ambiguous``);
* on Tron: ``w1`` pays all 999,000 into exchange X's deposit address ``dep_x`` (topped up with
  TRX by the exchange, then swept); ``w2`` pays ``cons`` 597,000, ``cons`` pays ``h1``
  400,000 (blacklisted by the issuer: frozen) and keeps 197,000 (freezable);
* busy unrelated traffic at the exchanges, the bridge and the desk on both chains.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import base58
from eth_utils import keccak

from tracer.bridges.base import TRON_CHAIN_ID
from tracer.bridges.cbridge import RELAY_TOPIC, SEND_TOPIC, transfer_id
from tracer.sandbox import generator as eth
from tracer.tron import SUN
from tracer.tron import sandbox as tron

DATA_DIR = Path(__file__).parent / "sandbox_data"
PREFIX = "tracer-sandbox-xchain"
U = 10**6  # USDT base units
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
SANDBOX_SOURCE = "synthetic: tracer cross-chain sandbox generator (tracer/bridges/sandbox.py)"
ISSUER = "Tether (sandbox)"
EB = 16_058_300  # Ethereum block of the theft: 2022-11-09T13:13:20Z
TB = tron.B0  # Tron block 46,000,000: 2022-11-09T13:20:00Z
ETH_FILES = (
    "blocks.csv",
    "transactions.csv",
    "receipts.csv",
    "token_transfers.csv",
    "traces.csv",
    "tokens.csv",
    "logs.csv",
)
TRON_FILES = tron.EXPORT_FILES + ("logs.csv",)
TOP_FILES = ("labels_ethereum.yaml", "labels_tron.yaml", "case.json", "ground_truth.json")


def eth_address(name: str) -> str:
    return "0x" + keccak(text=f"{PREFIX}:{name}")[-20:].hex()


def tron_address(name: str) -> str:
    return tron.address(name, prefix=f"{PREFIX}-tron")


ETH_NAMES = (
    "victim_hot",
    "exchange_z",
    "thief",
    "a1",
    "a2",
    "a3",
    "a4",
    "a5",
    "cbridge",
    "swft",
    "other_bridge",
    "decoy1",
    "decoy2",
)
TRON_NAMES = (
    "cbridge_tron",
    "relayer",
    "swft_tron",
    "gas_funder",
    "decoy_funder",
    "w1",
    "w2",
    "decoy_w1",
    "decoy_w2",
    "decoy_w3",
    "forger",
    "stranger_p",
    "stranger_q",
    "cons",
    "h1",
    "dep_x",
    "hot_x",
    "issuer_owner",
)
ETH_USDT = eth_address("token:usdt")
TRON_USDT = tron_address("token:usdt")


def _word(value: int | str) -> str:
    if isinstance(value, str):  # 0x + 40 hex (address) or 0x + 64 hex (bytes32)
        return value[2:].rjust(64, "0")
    return value.to_bytes(32, "big").hex()


def _tron20(address: str) -> str:
    """A Tron address as the 20-byte ``0x`` hex its EVM-style logs carry."""
    return "0x" + base58.b58decode_check(address)[1:].hex()


def _send(sender, receiver20, amount, dst, nonce) -> tuple[str, list[str], str]:
    tid = transfer_id(sender, receiver20, ETH_USDT, amount, dst, nonce, 1)
    data = "0x" + "".join(
        _word(x) for x in (tid, sender, receiver20, ETH_USDT, amount, dst, nonce, 5000)
    )
    return tid, [SEND_TOPIC], data


def _scenario(rng: random.Random):
    a = {n: eth_address(n) for n in ETH_NAMES}
    t = {n: tron_address(n) for n in TRON_NAMES}
    c = eth._ChainBuilder(prefix=PREFIX)
    relays: list[
        tuple[int, str, str, int, str]
    ] = []  # tron block, sender, receiver, amount, src id
    nonce = [0]

    def bridge(block, sender, receiver20, amount, dst=TRON_CHAIN_ID):
        nonce[0] += 1
        tid, topics, data = _send(sender, receiver20, amount, dst, nonce[0])
        tx = c.token(block, ETH_USDT, sender, a["cbridge"], amount)
        tx.logs.append((a["cbridge"], topics, data))
        return tid

    c.token(EB - 100, ETH_USDT, a["exchange_z"], a["a1"], 200_000 * U)
    c.token(EB - 90, ETH_USDT, a["exchange_z"], a["decoy1"], 1_000_000 * U)
    c.token(EB - 80, ETH_USDT, a["exchange_z"], a["decoy2"], 600_000 * U)
    c.token(EB, ETH_USDT, a["victim_hot"], a["thief"], 2_500_000 * U)
    for k, (who, amount) in enumerate(
        (("a1", 1_000_000), ("a2", 600_000), ("a3", 200_000), ("a4", 200_000), ("a5", 150_000))
    ):
        c.token(EB + 5 + k, ETH_USDT, a["thief"], a[who], amount * U)
    tid_a1 = bridge(EB + 20, a["a1"], _tron20(t["w1"]), 1_000_000 * U)
    tid_decoy = bridge(EB + 21, a["decoy1"], _tron20(t["decoy_w1"]), 1_000_000 * U)
    bridge(EB + 22, a["a3"], a["a3"], 200_000 * U, dst=56)  # to BSC: no data for it
    c.token(EB + 25, ETH_USDT, a["a2"], a["swft"], 600_000 * U)
    c.token(EB + 26, ETH_USDT, a["decoy2"], a["swft"], 600_000 * U)
    c.token(EB + 27, ETH_USDT, a["a4"], a["other_bridge"], 200_000 * U)
    c.token(EB + 28, ETH_USDT, a["a5"], a["swft"], 150_000 * U)

    tc = tron._Chain(f"{PREFIX}-tron")
    tc.trx(TB - 300, t["hot_x"], t["gas_funder"], 1_000 * SUN)
    tc.trx(TB - 200, t["gas_funder"], t["w1"], 50 * SUN)
    tc.trx(TB - 199, t["gas_funder"], t["w2"], 50 * SUN)
    tc.trx(TB - 198, t["hot_x"], t["decoy_funder"], 1_000 * SUN)
    tc.trx(TB - 150, t["decoy_funder"], t["decoy_w2"], 50 * SUN)
    relays.append((TB + 100, a["a1"], t["w1"], 999_000 * U, tid_a1))
    # a forged Relay: a look-alike contract replays a1's transfer id to pay a decoy first
    relays.append((TB + 99, a["a1"], t["decoy_w3"], 999_000 * U, tid_a1, t["forger"]))
    relays.append((TB + 101, a["decoy1"], t["decoy_w1"], 999_000 * U, tid_decoy))
    tc.token(TB + 200, TRON_USDT, t["swft_tron"], t["w2"], 597_000 * U)
    tc.token(TB + 240, TRON_USDT, t["swft_tron"], t["decoy_w2"], 597_000 * U)
    tc.token(TB + 300, TRON_USDT, t["swft_tron"], t["stranger_p"], 149_250 * U)
    tc.token(TB + 310, TRON_USDT, t["swft_tron"], t["stranger_q"], 149_250 * U)
    # the Tron side of the laundering
    tc.token(TB + 400, TRON_USDT, t["w1"], t["dep_x"], 999_000 * U)
    tc.trx(TB + 401, t["hot_x"], t["dep_x"], 5 * SUN)
    tc.token(TB + 402, TRON_USDT, t["dep_x"], t["hot_x"], 999_000 * U)
    tc.token(TB + 410, TRON_USDT, t["w2"], t["cons"], 597_000 * U)
    tc.token(TB + 420, TRON_USDT, t["cons"], t["h1"], 400_000 * U)
    tc.blacklist(TB + 500, t["issuer_owner"], TRON_USDT, "AddedBlackList", t["h1"])
    _noise(c, tc, a, t, rng, bridge, relays)
    logs = []
    for block, sender, receiver, amount, src_tid, *forged in sorted(relays):
        emitter = forged[0] if forged else t["cbridge_tron"]
        tx = tc.token(block, TRON_USDT, emitter, receiver, amount, signer=t["relayer"])
        dest_tid = "0x" + keccak(text=f"{PREFIX}:relay:{src_tid}").hex()
        data = "0x" + "".join(
            _word(x)
            for x in (dest_tid, sender, _tron20(receiver), _tron20(TRON_USDT), amount, 1, src_tid)
        )
        logs.append(
            [
                1,
                tx.hash,
                block,
                tron.block_time(block),
                _tron20(emitter),
                data,
                RELAY_TOPIC,
            ]
        )
    return c, tc, a, t, logs


def _noise(c, tc, a, t, rng: random.Random, bridge, relays) -> None:
    """Unrelated users: exchange traffic, cBridge and desk customers (amounts 1,000-90,000:
    never within tolerance of the story's deposits)."""

    def eth_stranger() -> str:
        return eth_address(f"customer:{rng.randrange(10**9)}")

    def tron_stranger() -> str:
        return tron_address(f"customer:{rng.randrange(10**9)}")

    for _ in range(80):
        block = EB + rng.randrange(-300, 300)
        if rng.random() < 0.5:
            c.token(
                block, ETH_USDT, eth_stranger(), a["exchange_z"], rng.randrange(1, 90) * 1000 * U
            )
        else:
            c.token(
                block, ETH_USDT, a["exchange_z"], eth_stranger(), rng.randrange(1, 90) * 1000 * U
            )
    for _ in range(15):
        who, dest = eth_stranger(), tron_stranger()
        amount = rng.randrange(1, 90) * 1000 * U
        block = EB + rng.randrange(-300, 300)
        c.token(block - 1, ETH_USDT, a["exchange_z"], who, amount)
        tid = bridge(block, who, _tron20(dest), amount)
        relays.append((TB + (block - EB) * 4 + 30, who, dest, amount - amount // 1000, tid))
    for _ in range(15):
        who = eth_stranger()
        amount = rng.randrange(1, 90) * 1000 * U
        block = EB + rng.randrange(-300, 300)
        c.token(block - 1, ETH_USDT, a["exchange_z"], who, amount)
        c.token(block, ETH_USDT, who, a["swft"], amount)
        tc.token(
            TB + (block - EB) * 4 + 60,
            TRON_USDT,
            t["swft_tron"],
            tron_stranger(),
            amount - amount * 5 // 1000,
        )
    for _ in range(80):
        block = TB + rng.randrange(-1000, 1000)
        if rng.random() < 0.5:
            tc.token(block, TRON_USDT, tron_stranger(), t["hot_x"], rng.randrange(1, 90) * 1000 * U)
        else:
            tc.token(block, TRON_USDT, t["hot_x"], tron_stranger(), rng.randrange(1, 90) * 1000 * U)


def generate(out_dir: Path | str, seed: int = 20221109) -> Path:
    """Write both chains' exports, labels, case and ground truth into ``out_dir``."""
    out = Path(out_dir)
    (out / "ethereum").mkdir(parents=True, exist_ok=True)
    (out / "tron").mkdir(parents=True, exist_ok=True)
    c, tc, a, t, logs = _scenario(random.Random(seed))
    eth.write_exports(
        c,
        out / "ethereum",
        [[ETH_USDT, "USDT", "Tether USD (sandbox)", 6, 10**15, EB - 5000]],
    )
    tron.write_exports(tc, out / "tron", [[TRON_USDT, "USDT", "Tether USD (sandbox)", 6]])
    tron._write_csv(
        out / "tron" / "logs.csv",
        [
            "log_index",
            "transaction_hash",
            "block_number",
            "block_timestamp",
            "address",
            "data",
            "topics",
        ],
        logs,
    )
    (out / "labels_ethereum.yaml").write_text(_labels(a, "ETH"), encoding="utf-8")
    (out / "labels_tron.yaml").write_text(_labels(t, "TRX"), encoding="utf-8")
    (out / "case.json").write_text(json.dumps(case(a, t), indent=2) + "\n", encoding="utf-8")
    (out / "ground_truth.json").write_text(
        json.dumps(ground_truth(a, t), indent=2) + "\n", encoding="utf-8"
    )
    return out


_TAGS = {
    "victim_hot": ("Victim exchange: hot wallet (synthetic)", "exchange", "victim-exchange"),
    "exchange_z": ("Exchange Z: hot wallet (synthetic)", "exchange", "exchange-z"),
    "cbridge": ("Celer cBridge (synthetic)", "defi_bridge", "celer-cbridge"),
    "swft": ("SWFT-like swap desk: deposit address (synthetic)", "defi_bridge", "swft-desk"),
    "other_bridge": ("Unknown bridge (synthetic)", "defi_bridge", "unknown-bridge"),
    "cbridge_tron": ("Celer cBridge on Tron (synthetic)", "defi_bridge", "celer-cbridge"),
    "swft_tron": (
        "SWFT-like swap desk: Tron payout wallet (synthetic)",
        "defi_bridge",
        "swft-desk",
    ),
    "hot_x": ("Exchange X: hot wallet (synthetic)", "exchange", "exchange-x"),
}


def _labels(addresses: dict[str, str], currency: str) -> str:
    lines = [
        f"title: tracer cross-chain sandbox labels, {currency} (synthetic addresses)",
        "creator: tracer",
        "description: Labels of the synthetic cross-chain sandbox. Every address is synthetic.",
        f"source: '{SANDBOX_SOURCE}'",
        f"currency: {currency}",
        f"network: {currency}",
        "confidence: ownership",
        "lastmod: 2022-11-09",
        "tags:",
    ]
    for name in sorted(addresses):
        if name not in _TAGS:
            continue
        label, category, actor = _TAGS[name]
        lines += [
            f"- address: '{addresses[name]}'",
            f"  label: '{label}'",
            f"  category: {category}",
            f"  actor: {actor}",
        ]
    return "\n".join(lines) + "\n"


def case(a: dict[str, str], t: dict[str, str]) -> dict:
    """``case.json``: the seed, both sandbox USDTs, the chain to follow and the bridges."""
    return {
        "name": "sandbox-xchain",
        "title": "Synthetic Ethereum -> bridge -> Tron leg of the Deribit 2022 pattern",
        "synthetic": True,
        "seeds": [
            {"chain": "ethereum", "address": a["thief"], "role": "thief", "source": SANDBOX_SOURCE}
        ],
        "since": eth.block_time(EB),
        "assets": [
            {
                "chain": "ethereum",
                "address": ETH_USDT,
                "symbol": "USDT",
                "decimals": 6,
                "issuer": ISSUER,
            },
            {
                "chain": "tron",
                "address": TRON_USDT,
                "symbol": "USDT",
                "decimals": 6,
                "issuer": ISSUER,
            },
        ],
        "follow": {"tron": "tron"},  # relative to the case directory
        "bridges": [
            {"chain": "ethereum", "contract": a["cbridge"], "bridge": "cbridge"},
            {"chain": "tron", "contract": t["cbridge_tron"], "bridge": "cbridge"},
            {"chain": "ethereum", "contract": a["swft"], "bridge": "swft"},
            {"chain": "tron", "contract": t["swft_tron"], "bridge": "swft"},
        ],
    }


def _rule(**amounts) -> dict[str, str]:
    if "all" in amounts:
        return {p: amounts["all"] for p in POLICIES}
    return {p: amounts[p] for p in POLICIES}


def ground_truth(a: dict[str, str], t: dict[str, str]) -> dict:
    """Expected hops, stops and flags, hand-derived from the story (token units).

    ``a1`` holds 200,000 clean when 1,000,000 stolen arrive and bridges 1,000,000: haircut
    taints 1,000,000 x 1,000,000 / 1,200,000 = 833,333.333333 (floor in base units); fifo
    spends the clean 200,000 first (800,000 tainted); poison, lifo and tiho taint all of it.
    The release carries ``999,000 x tainted / 1,000,000`` across (floor in base units).
    """
    deposit_a1 = _rule(
        poison="1000000", haircut="833333.333333", fifo="800000", lifo="1000000", tiho="1000000"
    )
    carried_a1 = _rule(
        poison="999000", haircut="832499.999999", fifo="799200", lifo="999000", tiho="999000"
    )
    held_a1 = _rule(poison="200000", haircut="166666.666667", fifo="200000", lifo="0", tiho="0")
    cbridge_in = _rule(
        poison="1200000", haircut="1033333.333333", fifo="1000000", lifo="1200000", tiho="1200000"
    )
    flags = [
        ("ethereum", "thief", "freezable_balance", ISSUER, ETH_USDT, _rule(all="350000")),
        ("ethereum", "a1", "freezable_balance", ISSUER, ETH_USDT, held_a1),
        ("ethereum", "cbridge", "bridge", "Celer Cbridge", ETH_USDT, cbridge_in),
        ("ethereum", "swft", "bridge", "Swft Desk", ETH_USDT, _rule(all="750000")),
        ("ethereum", "other_bridge", "bridge", "Unknown Bridge", ETH_USDT, _rule(all="200000")),
        ("tron", "dep_x", "exchange_deposit", "Exchange X", TRON_USDT, carried_a1),
        ("tron", "h1", "frozen_balance", ISSUER, TRON_USDT, _rule(all="400000")),
        ("tron", "cons", "freezable_balance", ISSUER, TRON_USDT, _rule(all="197000")),
    ]
    book = {**a, **t}
    return {
        "chains": ["ethereum", "tron"],
        "seeds": [a["thief"]],
        "hops": [
            {
                "bridge": "cbridge",
                "linkage": "exact",
                "sender": a["a1"],
                "recipient": t["w1"],
                "deposited": "1000000",
                "released": "999000",
                "fee": "1000",
                "tainted": deposit_a1,
                "carried": carried_a1,
            },
            {
                "bridge": "swft",
                "linkage": "inferred",
                "sender": a["a2"],
                "recipient": t["w2"],
                "deposited": "600000",
                "released": "597000",
                "fee": "3000",
                "tainted": _rule(all="600000"),
                "carried": _rule(all="597000"),
                "evidence": "shared gas funder",
            },
        ],
        "stops": [
            {"sender": a["a3"], "contract": a["cbridge"], "reason": "no_destination_data"},
            {"sender": a["a4"], "contract": a["other_bridge"], "reason": "no_decoder"},
            {"sender": a["a5"], "contract": a["swft"], "reason": "ambiguous"},
        ],
        "flags": [
            {
                "chain": chain,
                "name": name,
                "address": book[name],
                "kind": kind,
                "entity": entity,
                "asset": asset,
                "amounts": amounts,
            }
            for chain, name, kind, entity, asset, amounts in flags
        ],
        "decoys": {
            n: book[n]
            for n in (
                "decoy1",
                "decoy2",
                "decoy_w1",
                "decoy_w2",
                "decoy_w3",
                "stranger_p",
                "stranger_q",
            )
        },
        "addresses": {"ethereum": a, "tron": t},
        "tokens": {"ethereum": ETH_USDT, "tron": TRON_USDT},
    }


def load_case() -> dict:
    """The case dict :func:`tracer.api.load_case` returns for ``sandbox-xchain``."""
    info = json.loads((DATA_DIR / "case.json").read_text(encoding="utf-8"))
    info["data"] = str(DATA_DIR / "ethereum")
    info["labels"] = [str(DATA_DIR / "labels_ethereum.yaml"), str(DATA_DIR / "labels_tron.yaml")]
    info["follow"] = {k: str(DATA_DIR / v) for k, v in info.get("follow", {}).items()}
    return info


if __name__ == "__main__":
    generate(DATA_DIR)
