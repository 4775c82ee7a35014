"""Deterministic laundering scenario modelled on the Deribit case, written as bulk exports.

The chain is synthetic (every address is derived from a name and marked synthetic in the labels)
and written exactly as ethereum-etl's CLI writes an export: ``blocks.csv``, ``transactions.csv``,
``receipts.csv``, ``token_transfers.csv``, ``traces.csv``, ``tokens.csv``. Beside it:
``labels.yaml`` (a TagPack for the sandbox's services), ``case.json`` (seeds and assets) and
``ground_truth.json`` (every flag a correct trace must raise, with the tainted amount under each
allocation rule, and the addresses that must never appear in the graph).

The story, in hop order from the seed ``thief`` (who takes 1,000 ETH and 3.4M USDT from the
victim's hot wallet):

* fan-out of ETH to ``split1``, ``split2``, ``split3`` and a busy unlabelled address;
* a peel chain ``split1 -> peel2 -> peel3`` shedding ETH into deposit addresses at exchanges A and B,
  ending in a mixer pool;
* ``mix1`` holds 200 clean ETH (an exchange withdrawal) when 300 stolen ETH arrive, then pays
  250 ETH to a deposit address and 250 ETH to a bridge: every rule gives another answer;
* ``swapper`` holds 200k clean USDT, receives 1M stolen USDT, swaps 600k USDT for 480 ETH in a
  pool (token out, internal ETH back in one transaction) and bridges the ETH;
* USDT deposits at both exchanges through deposit addresses that get a gas top-up from the
  exchange's funder and then sweep to the hot wallet; a direct ETH deposit into a hot wallet;
* stolen USDT left sitting (``holder`` and at the seed);
* noise a trace must ignore: a failed ETH and a failed USDT transfer, zero-value USDT
  ``transferFrom`` and a fake "USDT" token sending "from" the thief to lookalike addresses, dust,
  and busy unrelated exchange traffic.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import keccak

ETH = 10**18
USDT = 10**6
B0 = 16_000_000  # block of the theft
T0 = 1_667_300_000  # its time: 2022-11-01T10:53:20Z
BLOCK_SECONDS = 12
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
DATA_DIR = Path(__file__).parent / "data"
EXPORT_FILES = (
    "blocks.csv",
    "transactions.csv",
    "receipts.csv",
    "token_transfers.csv",
    "traces.csv",
    "tokens.csv",
)


def address(name: str) -> str:
    """Synthetic address of a sandbox actor: the last 20 bytes of keccak('tracer-sandbox:name')."""
    return "0x" + keccak(text=f"tracer-sandbox:{name}")[-20:].hex()


def lookalike(name: str) -> str:
    """An address poisoners would craft: same first and last four hex digits as the target."""
    target = address(name)
    middle = keccak(text=f"tracer-sandbox:lookalike:{name}")[-20:].hex()[4:36]
    return target[:6] + middle + target[-4:]


def block_time(block: int) -> int:
    return T0 + (block - B0) * BLOCK_SECONDS


USDT_TOKEN = address("token:usdt")
USDC_TOKEN = address("token:usdc")
FAKE_USDT = address("token:fake-usdt")


@dataclass
class _Tx:
    block: int
    sender: str
    to: str
    value: int = 0
    status: int = 1
    tokens: list[tuple[str, str, str, int]] = field(default_factory=list)  # token, from, to, value
    internal: list[tuple[str, str, int, str]] = field(default_factory=list)  # from, to, value, type
    logs: list[tuple[str, list[str], str]] = field(default_factory=list)  # address, topics, data
    hash: str = ""
    index: int = 0


class _ChainBuilder:
    def __init__(self, prefix: str = "tracer-sandbox") -> None:
        self.txs: list[_Tx] = []
        self.counter = 0
        self.prefix = prefix  # transaction hashes are keccak('<prefix>:tx:<n>')

    def tx(self, block: int, sender: str, to: str, value: int = 0, **kw) -> _Tx:
        t = _Tx(block, sender, to, value, **kw)
        t.hash = "0x" + keccak(text=f"{self.prefix}:tx:{self.counter}").hex()
        self.counter += 1
        self.txs.append(t)
        return t

    def eth(self, block: int, sender: str, to: str, value: int, status: int = 1) -> _Tx:
        return self.tx(block, sender, to, value, status=status)

    def token(self, block: int, token: str, sender: str, to: str, value: int, status: int = 1):
        return self.tx(block, sender, token, 0, status=status, tokens=[(token, sender, to, value)])


def _scenario(rng: random.Random) -> tuple[_ChainBuilder, dict[str, str]]:
    a = {
        n: address(n)
        for n in (
            "victim_hot",
            "victim_cold",
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
            "hot_a",
            "hot_b",
            "funder_a",
            "funder_b",
            "mixer_pool",
            "bridge",
            "dex_pool",
            "busy",
            "failed_rcpt",
            "failed_rcpt2",
        )
    }
    a["lookalike_holder"] = lookalike("holder")
    a["lookalike_dep_b2"] = lookalike("dep_b2")
    c = _ChainBuilder()
    # Before the theft: the victim's hot wallet is funded; clean money reaches mix1 and swapper.
    c.eth(B0 - 1000, a["victim_cold"], a["victim_hot"], 5000 * ETH)
    c.token(B0 - 1000, USDT_TOKEN, a["victim_cold"], a["victim_hot"], 10_000_000 * USDT)
    c.eth(B0 - 500, a["hot_a"], a["mix1"], 200 * ETH)
    c.token(B0 - 400, USDT_TOKEN, a["hot_b"], a["swapper"], 200_000 * USDT)
    # The theft.
    c.eth(B0, a["victim_hot"], a["thief"], 1000 * ETH)
    c.token(B0, USDT_TOKEN, a["victim_hot"], a["thief"], 3_400_000 * USDT)
    # ETH fan-out, and a failed transfer that moves nothing.
    c.eth(B0 + 10, a["thief"], a["split1"], 400 * ETH)
    c.eth(B0 + 10, a["thief"], a["split2"], 300 * ETH)
    c.eth(B0 + 10, a["thief"], a["split3"], 290 * ETH)
    c.eth(B0 + 10, a["thief"], a["busy"], 10 * ETH)
    c.eth(B0 + 11, a["thief"], a["failed_rcpt"], 100 * ETH, status=0)
    c.token(B0 + 12, USDT_TOKEN, a["thief"], a["failed_rcpt2"], 50_000 * USDT, status=0)
    # USDT fan-out.
    c.token(B0 + 20, USDT_TOKEN, a["thief"], a["swapper"], 1_000_000 * USDT)
    c.token(B0 + 20, USDT_TOKEN, a["thief"], a["holder"], 1_500_000 * USDT)
    c.token(B0 + 20, USDT_TOKEN, a["thief"], a["dep_a3"], 400_000 * USDT)
    c.token(B0 + 20, USDT_TOKEN, a["thief"], a["mid1"], 300_000 * USDT)
    # Address poisoning: zero-value transferFrom and a fake USDT naming the thief as sender; dust.
    poisoner = address("poisoner")
    c.tx(B0 + 21, poisoner, USDT_TOKEN, tokens=[(USDT_TOKEN, a["thief"], a["lookalike_holder"], 0)])
    c.tx(
        B0 + 22,
        poisoner,
        FAKE_USDT,
        tokens=[(FAKE_USDT, a["thief"], a["lookalike_holder"], 1_500_000 * USDT)],
    )
    c.eth(B0 + 23, a["lookalike_holder"], a["thief"], 10**12)
    # Peel chain into two deposit addresses and a mixer.
    c.eth(B0 + 30, a["split1"], a["dep_a1"], 40 * ETH)
    c.eth(B0 + 31, a["split1"], a["peel2"], 360 * ETH)
    c.eth(B0 + 35, a["dep_a1"], a["hot_a"], 40 * ETH - 2_100_000 * 10**9)
    c.eth(B0 + 40, a["peel2"], a["dep_b1"], 30 * ETH)
    c.eth(B0 + 41, a["peel2"], a["peel3"], 330 * ETH)
    c.eth(B0 + 45, a["dep_b1"], a["hot_b"], 30 * ETH - 2_100_000 * 10**9)
    for k in range(3):
        c.eth(B0 + 50 + k, a["peel3"], a["mixer_pool"], 100 * ETH)
    # Mixing of stolen and clean funds at mix1.
    c.eth(B0 + 60, a["split2"], a["mix1"], 300 * ETH)
    c.eth(B0 + 70, a["mix1"], a["dep_a2"], 250 * ETH)
    c.eth(B0 + 71, a["mix1"], a["bridge"], 250 * ETH)
    c.eth(B0 + 75, a["dep_a2"], a["hot_a"], 250 * ETH - 2 * 10**15)
    # Direct deposit into a hot wallet.
    c.eth(B0 + 80, a["split3"], a["hot_b"], 200 * ETH)  # part of its funds: not a deposit
    # Swap USDT -> ETH in one transaction (token out, internal ETH back), then bridge the ETH.
    c.tx(
        B0 + 90,
        a["swapper"],
        a["dex_pool"],
        tokens=[(USDT_TOKEN, a["swapper"], a["dex_pool"], 600_000 * USDT)],
        internal=[(a["dex_pool"], a["swapper"], 480 * ETH, "call")],
    )
    c.eth(B0 + 95, a["swapper"], a["bridge"], 480 * ETH)
    # USDT deposits swept after a gas top-up from the exchange's funder.
    c.eth(B0 + 100, a["funder_a"], a["dep_a3"], 5 * 10**15)
    c.token(B0 + 105, USDT_TOKEN, a["dep_a3"], a["hot_a"], 400_000 * USDT)
    c.token(B0 + 110, USDT_TOKEN, a["mid1"], a["dep_b2"], 300_000 * USDT)
    c.tx(
        B0 + 111,
        poisoner,
        FAKE_USDT,
        tokens=[(FAKE_USDT, a["mid1"], a["lookalike_dep_b2"], 300_000 * USDT)],
    )
    c.eth(B0 + 112, a["funder_b"], a["dep_b2"], 5 * 10**15)
    c.token(B0 + 115, USDT_TOKEN, a["dep_b2"], a["hot_b"], 300_000 * USDT)
    _noise(c, a, rng)
    return c, a


def _noise(c: _ChainBuilder, a: dict[str, str], rng: random.Random) -> None:
    """Busy, unrelated traffic: exchange deposits/withdrawals, funder top-ups, a busy service."""

    def stranger() -> str:
        return address(f"customer:{rng.randrange(10**9)}")

    def when() -> int:
        return B0 + rng.randrange(-2000, 2000)

    for hot, funder in (("hot_a", "funder_a"), ("hot_b", "funder_b")):
        for _ in range(150):
            who = stranger()
            if rng.random() < 0.5:
                c.eth(when(), who, a[hot], rng.randrange(1, 50) * ETH // 10)
            else:
                c.token(when(), USDT_TOKEN, a[hot], who, rng.randrange(100, 100_000) * USDT)
        for _ in range(40):
            c.eth(when(), a[funder], stranger(), 5 * 10**15)
    for _ in range(100):
        c.token(when(), USDT_TOKEN, a["victim_hot"], stranger(), rng.randrange(10, 50_000) * USDT)
    for _ in range(30):
        c.token(when(), USDC_TOKEN, stranger(), a["hot_a"], rng.randrange(10, 50_000) * USDT)
    for _ in range(1200):  # an unlabelled busy service: the fan-out guard must stop here
        if rng.random() < 0.5:
            c.eth(when(), stranger(), a["busy"], rng.randrange(1, 1000) * ETH // 100)
        else:
            c.eth(when(), a["busy"], stranger(), rng.randrange(1, 1000) * ETH // 100)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def generate(out_dir: Path | str, seed: int = 20221101) -> Path:
    """Write the sandbox exports, labels, case and ground truth into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    c, a = _scenario(rng)
    write_exports(
        c,
        out,
        [
            [USDT_TOKEN, "USDT", "Tether USD (sandbox)", 6, 10**15, B0 - 5000],
            [USDC_TOKEN, "USDC", "USD Coin (sandbox)", 6, 10**15, B0 - 5000],
            [FAKE_USDT, "USDT", "Tether USD", 6, 10**20, B0 - 5000],
        ],
    )
    (out / "labels.yaml").write_text(_labels_yaml(a), encoding="utf-8")
    (out / "case.json").write_text(json.dumps(_case(a), indent=2) + "\n", encoding="utf-8")
    (out / "ground_truth.json").write_text(
        json.dumps(_ground_truth(a), indent=2) + "\n", encoding="utf-8"
    )
    return out


def write_exports(c: _ChainBuilder, out: Path, tokens: list[list]) -> None:
    """The chain as ethereum-etl exports (blocks, transactions, receipts, token_transfers,
    traces, tokens; ``logs.csv`` too when a transaction carries extra event logs, written after
    its token transfers in log-index order). Also used by the cross-chain sandbox."""
    c.txs.sort(key=lambda t: (t.block, t.hash))
    by_block: dict[int, list[_Tx]] = {}
    for t in c.txs:
        by_block.setdefault(t.block, []).append(t)
    blocks, txs, receipts, transfers, traces, logs = [], [], [], [], [], []
    first, last = min(by_block), max(by_block)
    parent = "0x" + keccak(text=f"tracer-sandbox:block:{first - 1}").hex()
    for number in range(first, last + 1):
        block_hash = "0x" + keccak(text=f"tracer-sandbox:block:{number}").hex()
        in_block = by_block.get(number, [])
        log_index = 0
        cumulative = 0
        for i, t in enumerate(in_block):
            t.index = i
            gas_used = 21000 if not t.tokens and not t.internal else 65000
            cumulative += gas_used
            txs.append(
                [
                    t.hash,
                    i,
                    block_hash,
                    number,
                    i,
                    t.sender,
                    t.to,
                    t.value,
                    100000,
                    20 * 10**9,
                    "0x" if not t.tokens else "0xa9059cbb",
                    block_time(number),
                    "",
                    "",
                    0,
                ]
            )
            receipts.append(
                [t.hash, i, block_hash, number, cumulative, gas_used, "", "", t.status, 20 * 10**9]
            )
            error = "" if t.status else "Reverted"
            traces.append(
                [
                    number,
                    t.hash,
                    i,
                    t.sender,
                    t.to,
                    t.value,
                    "0x",
                    "0x",
                    "call",
                    "call",
                    "",
                    100000,
                    gas_used,
                    len(t.internal),
                    "",
                    error,
                    t.status,
                    f"call_{t.hash}_",
                ]
            )
            for k, (src, dst, value, kind) in enumerate(t.internal):
                traces.append(
                    [
                        number,
                        t.hash,
                        i,
                        src,
                        dst,
                        value,
                        "0x",
                        "0x",
                        "call",
                        kind,
                        "",
                        50000,
                        2300,
                        0,
                        str(k),
                        error,
                        t.status,
                        f"call_{t.hash}_{k}",
                    ]
                )
            # A reverted transaction leaves no logs on a real chain, but some exporters and
            # explorers still list its transfers: the sandbox keeps them to test the guard.
            for token, src, dst, value in t.tokens:
                transfers.append([token, src, dst, value, t.hash, log_index, number])
                log_index += 1
            for emitter, topics, data in t.logs:
                logs.append(
                    [log_index, t.hash, i, block_hash, number, emitter, data, ",".join(topics)]
                )
                log_index += 1
        blocks.append(
            [
                number,
                block_hash,
                parent,
                address("miner"),
                30_000_000,
                cumulative,
                block_time(number),
                len(in_block),
                10 * 10**9,
            ]
        )
        parent = block_hash
    _write_csv(
        out / "blocks.csv",
        [
            "number",
            "hash",
            "parent_hash",
            "miner",
            "gas_limit",
            "gas_used",
            "timestamp",
            "transaction_count",
            "base_fee_per_gas",
        ],
        blocks,
    )
    _write_csv(
        out / "transactions.csv",
        [
            "hash",
            "nonce",
            "block_hash",
            "block_number",
            "transaction_index",
            "from_address",
            "to_address",
            "value",
            "gas",
            "gas_price",
            "input",
            "block_timestamp",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "transaction_type",
        ],
        txs,
    )
    _write_csv(
        out / "receipts.csv",
        [
            "transaction_hash",
            "transaction_index",
            "block_hash",
            "block_number",
            "cumulative_gas_used",
            "gas_used",
            "contract_address",
            "root",
            "status",
            "effective_gas_price",
        ],
        receipts,
    )
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
        ],
        transfers,
    )
    _write_csv(
        out / "traces.csv",
        [
            "block_number",
            "transaction_hash",
            "transaction_index",
            "from_address",
            "to_address",
            "value",
            "input",
            "output",
            "trace_type",
            "call_type",
            "reward_type",
            "gas",
            "gas_used",
            "subtraces",
            "trace_address",
            "error",
            "status",
            "trace_id",
        ],
        traces,
    )
    _write_csv(
        out / "tokens.csv",
        ["address", "symbol", "name", "decimals", "total_supply", "block_number"],
        tokens,
    )
    if logs:
        _write_csv(
            out / "logs.csv",
            [
                "log_index",
                "transaction_hash",
                "transaction_index",
                "block_hash",
                "block_number",
                "address",
                "data",
                "topics",
            ],
            logs,
        )


SANDBOX_SOURCE = "synthetic: tracer sandbox generator (tracer/sandbox/generator.py)"


def _labels_yaml(a: dict[str, str]) -> str:
    tags = [
        ("victim_hot", "Victim exchange: hot wallet (synthetic)", "victim", "victim-exchange"),
        ("hot_a", "Exchange A: hot wallet (synthetic)", "exchange", "exchange-a"),
        ("funder_a", "Exchange A: deposit funder (synthetic)", "exchange", "exchange-a"),
        ("dep_a1", "Exchange A: deposit address (synthetic)", "deposit", "exchange-a"),
        ("hot_b", "Exchange B: hot wallet (synthetic)", "exchange", "exchange-b"),
        ("funder_b", "Exchange B: deposit funder (synthetic)", "exchange", "exchange-b"),
        ("mixer_pool", "Mixer pool 100 ETH (synthetic)", "mixing_service", "sandbox-mixer"),
        ("bridge", "Bridge (synthetic)", "defi_bridge", "sandbox-bridge"),
    ]
    lines = [
        "title: tracer sandbox labels (synthetic addresses)",
        "creator: tracer",
        "description: Labels of the synthetic sandbox chain. Every address here is synthetic.",
        f"source: '{SANDBOX_SOURCE}'",
        "currency: ETH",
        "network: ETH",
        "confidence: ownership",
        "lastmod: 2022-11-01",
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


def _case(a: dict[str, str]) -> dict:
    return {
        "name": "sandbox",
        "title": "Synthetic laundering scenario modelled on the Deribit 2022 hack",
        "synthetic": True,
        "seeds": [
            {"chain": "ethereum", "address": a["thief"], "role": "thief", "source": SANDBOX_SOURCE}
        ],
        "since": block_time(B0),
        "assets": [
            {
                "chain": "ethereum",
                "address": USDT_TOKEN,
                "symbol": "USDT",
                "decimals": 6,
                "issuer": "Tether (sandbox)",
            },
            {
                "chain": "ethereum",
                "address": USDC_TOKEN,
                "symbol": "USDC",
                "decimals": 6,
                "issuer": "Circle (sandbox)",
            },
        ],
    }


def _per_rule(**amounts) -> dict[str, str]:
    if "all" in amounts:
        return {p: amounts["all"] for p in POLICIES}
    return {p: amounts[p] for p in POLICIES}


def _ground_truth(a: dict[str, str]) -> dict:
    """Expected flags, hand-derived from the story above (amounts in token units)."""
    usdt, eth = USDT_TOKEN, "native"
    flags = [
        ("dep_a1", "exchange_deposit", "Exchange A", eth, _per_rule(all="40")),
        ("dep_b1", "exchange_deposit", "Exchange B", eth, _per_rule(all="30")),
        # mix1: 200 clean then 300 stolen; pays 250 to dep_a2, then 250 to the bridge
        (
            "dep_a2",
            "exchange_deposit",
            "Exchange A",
            eth,
            _per_rule(poison="250", haircut="150", fifo="50", lifo="250", tiho="250"),
        ),
        ("dep_a3", "exchange_deposit", "Exchange A", usdt, _per_rule(all="400000")),
        ("dep_b2", "exchange_deposit", "Exchange B", usdt, _per_rule(all="300000")),
        ("hot_b", "exchange", "Exchange B", eth, _per_rule(all="200")),
        ("mixer_pool", "mixer", "Sandbox Mixer", eth, _per_rule(all="300")),
        # 250 from mix1 + ETH from the swap of 600k USDT (of 1.2M, 1M stolen) for 480 ETH
        (
            "bridge",
            "bridge",
            "Sandbox Bridge",
            eth,
            _per_rule(poison="730", haircut="550", fifo="570", lifo="530", tiho="530"),
        ),
        ("holder", "freezable_balance", "Tether (sandbox)", usdt, _per_rule(all="1500000")),
        ("thief", "freezable_balance", "Tether (sandbox)", usdt, _per_rule(all="200000")),
        (
            "swapper",
            "freezable_balance",
            "Tether (sandbox)",
            usdt,
            _per_rule(
                poison="600000", haircut="500000", fifo="600000", lifo="400000", tiho="400000"
            ),
        ),
        ("busy", "high_degree", "", eth, _per_rule(all="10")),
    ]
    return {
        "chain": "ethereum",
        "seeds": [a["thief"]],
        "flags": [
            {"name": n, "address": a[n], "kind": k, "entity": e, "asset": asset, "amounts": amt}
            for n, k, e, asset, amt in flags
        ],
        "never_in_graph": {
            n: a[n]
            for n in (
                "lookalike_holder",
                "lookalike_dep_b2",
                "failed_rcpt",
                "failed_rcpt2",
                "victim_hot",
                "victim_cold",
                "funder_a",
                "funder_b",
            )
        }
        | {"fake_usdt": FAKE_USDT},
        "addresses": a,
    }


if __name__ == "__main__":
    generate(DATA_DIR)
