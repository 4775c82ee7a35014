"""The Bitcoin leg of the sandbox: a deterministic synthetic laundering story with ground truth.

Every address is a valid mainnet encoding (P2WPKH, P2PKH, P2SH, P2TR) of a hash derived from a
name (:func:`tracer.bitcoin.script.synthetic_output`): no key exists for any of them, and the
labels mark them synthetic. The same transactions are written as a bitcoin-etl export
(``sandbox_data/transactions.json``) and served by the loopback Esplora server of the tests
(``tests/servers/esplora_server.py``), which also gets one unconfirmed transaction that a trace
must ignore. Amounts in satoshi (1 BTC = 100,000,000); blocks from ``H0`` = 760,000, ten minutes
apart; every fee is explicit.

The story (seed: ``thief``):

1. Before the theft: the victim's hot wallet holds 150 BTC; Exchange B's hot wallet ``hot_b``
   pays a customer withdrawal of 30 BTC to ``merge1`` (change back to ``hot_b``); customers
   fund deposit addresses ``cust_a1`` (1.5), ``cust_a2`` (0.7) at Exchange A and ``cust_b1`` (2)
   at Exchange B; CoinJoin makers and Whirlpool peers get their coins; a miner's coinbase
   (with an OP_RETURN commitment).
2. Theft (H0): ``victim_hot`` 150 BTC -> ``thief`` 100 BTC + change 49.9998 BTC (fee 0.0002).
   A lookalike address dusts the thief with 546 sat (the seed is fully tainted: it stays there).
3. Peel chain, one input -> payment + change, fee 10,000 each:
   ``P1`` thief -> ``dep_a1`` 10 BTC (Exchange A deposit address, labelled) + ``peel1``;
   ``P2`` peel1 -> ``peel2`` + ``dep_b1`` 5 BTC (Exchange B deposit, unlabelled; change first);
   ``P3`` peel2 -> ``premix1`` 0.05005 BTC (a Whirlpool premix) + ``peel3``;
   ``P4`` peel3 -> ``merge1`` 20 BTC + ``peel4``;
   ``P5`` peel4 -> ``hot_b`` 1 BTC (straight into Exchange B's hot wallet), ``busy`` 0.5 BTC (an
   unlabelled address with over 1,000 transactions) and ``peel5`` 63.44945 BTC, which stays put
   (its spend in the mempool is not confirmed).
4. ``WP`` Whirlpool CoinJoin: ``premix1`` and four peers, 5 x 0.05005 BTC in, 5 x 0.05 BTC out
   (fee 25,000): the trace stops, a mixer flag of 0.05005 BTC under every rule.
5. ``MIX``: ``merge1`` spends [vin 0: the clean 30 BTC withdrawal, vin 1: the stolen 20 BTC]
   into ``dep_a2`` 25 BTC (vout 0) and ``next1`` 24.9999 BTC (vout 1), fee 10,000. Per rule:

   ======== ================= ================= =============
   rule     dep_a2 (25 BTC)   next1             fee
   ======== ================= ================= =============
   poison   2,500,000,000     2,499,990,000     10,000
   haircut  1,000,000,000     999,996,000       4,000   (each × 20/50)
   fifo     0                 1,999,990,000     10,000  (clean 30 pays dep_a2 first)
   lifo     2,000,000,000     0                 0       (last input first)
   tiho     2,000,000,000     0                 0       (taint to the largest output)
   ======== ================= ================= =============

6. ``CJ`` JoinMarket-like CoinJoin: ``next1`` and three makers, four equal 5 BTC outputs and
   four change outputs (fee 20,000): the trace stops there with a mixer flag of ``next1``'s
   taint (none under lifo and tiho, where ``next1`` is clean).
7. Sweeps (consolidations, one output each, fee 20,000):
   ``SWEEP_B`` [``cust_b1``, ``dep_b1``, ``hot_b``] -> ``hot_b``: ``dep_b1`` is co-spent with
   Exchange B's labelled wallet, so it is in its cluster: the trace stops at ``dep_b1`` and flags
   it as an exchange deposit (5 BTC).
   ``SWEEP_A`` [``cust_a1``, ``dep_a1``, ``cust_a2``, ``dep_a2``] -> ``hot_a`` (labelled):
   ``dep_a1`` (10 BTC) and ``dep_a2`` (its rule amount; not reached under fifo) are exchange
   deposits. ``hot_a`` receives (input order cust 1.5 / dep_a1 10 / cust 0.7 / dep_a2 25, output
   37.1998 BTC, fee 0.0002): poison 3,719,980,000; haircut 1,999,989,247 (2e9 × 3,719,980,000 /
   3,720,000,000 = 1,999,989,247.31, the fee's 10,752.69 takes the leftover satoshi: 10,753);
   fifo 1,000,000,000; lifo 3,000,000,000; tiho 3,000,000,000. It is not flagged itself: its
   traced coins all came through flagged deposit addresses.

``ground_truth.json`` lists every flag per rule (absent = no flag under that rule), the held and
received amounts above, the peel chain and CoinJoin findings, and addresses that must never
appear in the graph.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tracer.bitcoin.etl import write_etl_json
from tracer.bitcoin.model import BtcTx, TxIn, TxOut
from tracer.bitcoin.script import core_asm, op_return_script, synthetic_output

DATA_DIR = Path(__file__).parent / "sandbox_data"
CASE_NAME = "sandbox-bitcoin"
BTC = 100_000_000
H0 = 760_000
T0 = 1_666_000_000  # 2022-10-17T09:46:40Z
POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
FEE = 10_000
BUSY_TXS = 1010
SOURCE = "synthetic: tracer Bitcoin sandbox generator (tracer/bitcoin/sandbox.py)"

KINDS = {
    "dep_a1": "p2pkh",
    "dep_a2": "p2pkh",
    "cust_a1": "p2pkh",
    "cust_a2": "p2sh",
    "next1": "p2tr",
    "miner": "p2pkh",
}


def address(name: str) -> str:
    return synthetic_output(name, KINDS.get(name, "p2wpkh"))[0]


def block_time(height: int) -> int:
    return T0 + (height - H0) * 600


def txid(name: str) -> str:
    return hashlib.sha256(f"tracer-sandbox-btc:tx:{name}".encode()).hexdigest()


def _out(index: int, name: str | None, value: int, script: str | None = None) -> TxOut:
    if name is None:
        return TxOut(index, value, (), "nulldata", script or "", core_asm(script or "6a"))
    addr, script_hex, kind = synthetic_output(name, KINDS.get(name, "p2wpkh"))
    return TxOut(index, value, (addr,), kind, script_hex, core_asm(script_hex), 1)


class _Chain:
    def __init__(self) -> None:
        self.txs: list[BtcTx] = []
        self.outputs: dict[str, TxOut] = {}
        self.counter = 0

    def external(self, name: str, value: int) -> tuple[str, int]:
        """An outpoint from outside the data (funds with history we do not have)."""
        prev = txid(f"outside:{name}:{self.counter}")
        self.counter += 1
        self.outputs[f"{prev}:0"] = _out(0, name, value)
        return prev, 0

    def tx(self, name: str, height: int | None, spends, pays, coinbase: bool = False) -> str:
        """``spends``: outpoints (txid, vout); ``pays``: (owner name or None, value[, script])."""
        h = txid(name)
        inputs = []
        for prev, vout in spends:
            spent = self.outputs[f"{prev}:{vout}"]
            inputs.append(
                TxIn(
                    prev_txid=prev,
                    prev_vout=vout,
                    address=spent.address,
                    value=spent.value,
                    script_type=spent.script_type,
                    sequence=4294967293,
                    required_signatures=spent.required_signatures,
                )
            )
        outputs = tuple(
            _out(i, p[0], p[1], p[2] if len(p) > 2 else None) for i, p in enumerate(pays)
        )
        size = 10 + 148 * len(inputs) + 34 * len(outputs) + (60 if coinbase else 0)
        tx = BtcTx(
            txid=h,
            block_height=height,
            block_hash=None if height is None else _block_hash(height),
            block_time=None if height is None else block_time(height),
            index=None,
            version=2,
            locktime=0,
            size=size,
            vsize=size,
            weight=4 * size,
            inputs=tuple(inputs),
            outputs=outputs,
            coinbase=coinbase,
            coinbase_param="03c09a0b" if coinbase else None,
        )
        if not coinbase and tx.fee is not None and tx.fee < 0:
            raise AssertionError(f"{name}: outputs exceed inputs")
        self.txs.append(tx)
        for o in outputs:
            self.outputs[f"{h}:{o.index}"] = o
        return h


def _block_hash(height: int) -> str:
    return (
        "00000000" + hashlib.sha256(f"tracer-sandbox-btc:block:{height}".encode()).hexdigest()[8:]
    )


def transactions(include_mempool: bool = False) -> list[BtcTx]:
    """Every transaction of the story, confirmed ones in block order (index set per block)."""
    c = _Chain()
    # 1. before the theft
    c.tx(
        "coinbase",
        H0 - 60,
        [],
        [("miner", 625_000_000), (None, 0, op_return_script(b"\xaa" * 36))],
        coinbase=True,
    )
    fv = c.tx(
        "fund_victim",
        H0 - 50,
        [c.external("outside1", 200 * BTC)],
        [("victim_hot", 150 * BTC), ("outside1", 50 * BTC - FEE)],
    )
    f2 = c.tx(
        "withdrawal_b",
        H0 - 40,
        [c.external("hot_b", 40 * BTC)],
        [("merge1", 30 * BTC), ("hot_b", 10 * BTC - FEE)],
    )
    f3 = c.tx(
        "fund_customers",
        H0 - 30,
        [c.external("outside2", 5 * BTC)],
        [
            ("cust_a1", 150_000_000),
            ("cust_a2", 70_000_000),
            ("cust_b1", 200_000_000),
            ("outside2", 5 * BTC - 420_000_000 - FEE),
        ],
    )
    f4 = c.tx(
        "fund_makers",
        H0 - 30,
        [c.external("outside3", 30 * BTC)],
        [("mk1", 7 * BTC), ("mk2", 9 * BTC), ("mk3", 12 * BTC), ("outside3", 2 * BTC - FEE)],
    )
    f5 = c.tx(
        "fund_whirlpool_peers",
        H0 - 20,
        [c.external("outside4", BTC)],
        [(f"wp_peer{k}", 5_005_000) for k in range(1, 5)]
        + [("outside4", BTC - 4 * 5_005_000 - FEE)],
    )
    # 2. theft and dust
    theft = c.tx(
        "theft", H0, [(fv, 0)], [("thief", 100 * BTC), ("victim_change", 50 * BTC - 2 * FEE)]
    )
    c.tx(
        "dust",
        H0,
        [c.external("lookalike", 100_000)],
        [("thief", 546), ("lookalike", 100_000 - 546 - 1_000)],
    )
    # 3. peel chain
    p1 = c.tx("P1", H0 + 1, [(theft, 0)], [("dep_a1", 10 * BTC), ("peel1", 90 * BTC - FEE)])
    p2 = c.tx("P2", H0 + 2, [(p1, 1)], [("peel2", 8_499_980_000), ("dep_b1", 5 * BTC)])
    p3 = c.tx("P3", H0 + 3, [(p2, 0)], [("premix1", 5_005_000), ("peel3", 8_494_965_000)])
    p4 = c.tx("P4", H0 + 4, [(p3, 1)], [("merge1", 20 * BTC), ("peel4", 6_494_955_000)])
    p5 = c.tx(
        "P5", H0 + 5, [(p4, 1)], [("hot_b", BTC), ("busy", BTC // 2), ("peel5", 6_344_945_000)]
    )
    # 4. Whirlpool
    c.tx(
        "WP",
        H0 + 6,
        [(f5, 0), (p3, 0), (f5, 1), (f5, 2), (f5, 3)],
        [(f"postmix{k}", 5_000_000) for k in range(1, 6)],
    )
    # 5. mixing clean and stolen coins at merge1
    mix = c.tx("MIX", H0 + 8, [(f2, 0), (p4, 0)], [("dep_a2", 25 * BTC), ("next1", 2_499_990_000)])
    # 6. JoinMarket-like CoinJoin
    c.tx(
        "CJ",
        H0 + 10,
        [(f4, 0), (mix, 1), (f4, 1), (f4, 2)],
        [
            ("cj_out0", 5 * BTC),
            ("cj_chg_mk2", 4 * BTC),
            ("cj_out1", 5 * BTC),
            ("cj_chg_taker", 1_999_970_000),
            ("cj_out2", 5 * BTC),
            ("cj_chg_mk1", 2 * BTC),
            ("cj_chg_mk3", 7 * BTC),
            ("cj_out3", 5 * BTC),
        ],
    )
    # 7. sweeps
    c.tx("SWEEP_B", H0 + 12, [(f3, 2), (p2, 1), (f2, 1)], [("hot_b", 1_699_970_000)])
    c.tx("SWEEP_A", H0 + 13, [(f3, 0), (p1, 0), (f3, 1), (mix, 0)], [("hot_a", 3_719_980_000)])
    # busy unlabelled service: more transactions than the fan-out guard allows
    for k in range(BUSY_TXS):
        height = H0 - 200 + (k % 400)
        if k % 2:
            c.tx(
                f"busy_in{k}",
                height,
                [c.external(f"stranger{k}", 1_000_000 + k)],
                [("busy", 1_000_000 + k - 1_000)],
            )
        else:
            c.tx(
                f"busy_out{k}",
                height,
                [c.external("busy", 2_000_000 + k)],
                [(f"stranger{k}", 2_000_000 + k - 1_000)],
            )
    if include_mempool:
        c.tx("peel5_unconfirmed", None, [(p5, 2)], [("laundry", 6_344_945_000 - FEE)])
    confirmed = sorted((t for t in c.txs if t.confirmed), key=lambda t: (t.block_height, t.txid))
    out: list[BtcTx] = []
    index_in_block: dict[int, int] = {}
    from dataclasses import replace

    for t in _topological(confirmed):
        k = index_in_block.get(t.block_height, 0)
        index_in_block[t.block_height] = k + 1
        out.append(replace(t, index=k))
    if include_mempool:
        out.extend(t for t in c.txs if not t.confirmed)
    return out


def _topological(txs: list[BtcTx]) -> list[BtcTx]:
    """Coinbase first in each block, then parents before children, then txid."""
    from tracer.bitcoin.model import chain_order

    ordered = chain_order(txs)
    return sorted(ordered, key=lambda t: (t.block_height, not t.coinbase))


NAMES = (
    "thief", "victim_hot", "victim_change", "lookalike", "miner", "peel1", "peel2", "peel3",
    "peel4", "peel5", "dep_a1", "dep_a2", "dep_b1", "cust_a1", "cust_a2", "cust_b1", "hot_a",
    "hot_b", "premix1", "merge1", "next1", "busy", "mk1", "mk2", "mk3", "postmix1", "cj_out0",
    "cj_chg_taker", "laundry",
)  # fmt: skip


def _labels_yaml(a: dict[str, str]) -> str:
    tags = [
        ("victim_hot", "Victim exchange: hot wallet (synthetic)", "victim", "victim-exchange"),
        ("hot_a", "Exchange A: hot wallet (synthetic)", "exchange", "exchange-a"),
        ("dep_a1", "Exchange A: deposit address (synthetic)", "deposit", "exchange-a"),
        ("hot_b", "Exchange B: hot wallet (synthetic)", "exchange", "exchange-b"),
    ]
    lines = [
        "title: tracer Bitcoin sandbox labels (synthetic addresses)",
        "creator: tracer",
        "description: Labels of the synthetic Bitcoin sandbox. Every address here is synthetic "
        "(a valid mainnet encoding of a hash nobody holds a key for).",
        f"source: '{SOURCE}'",
        "currency: BTC",
        "network: BTC",
        "confidence: ownership",
        "lastmod: 2022-10-17",
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


def _per_rule(**amounts) -> dict[str, str]:
    if "all" in amounts:
        return {p: str(amounts["all"]) for p in POLICIES}
    return {p: str(v) for p, v in amounts.items()}


def ground_truth() -> dict:
    a = {n: address(n) for n in NAMES}
    wp, cj = "coinjoin:" + txid("WP"), "coinjoin:" + txid("CJ")
    flags = [
        ("dep_a1", a["dep_a1"], "exchange_deposit", "Exchange A", _per_rule(all=10 * BTC)),
        ("dep_b1", a["dep_b1"], "exchange_deposit", "Exchange B", _per_rule(all=5 * BTC)),
        (
            "dep_a2",
            a["dep_a2"],
            "exchange_deposit",
            "Exchange A",
            _per_rule(poison=25 * BTC, haircut=10 * BTC, lifo=20 * BTC, tiho=20 * BTC),
        ),
        ("hot_b", a["hot_b"], "exchange", "Exchange B", _per_rule(all=BTC)),
        ("whirlpool", wp, "mixer", "Whirlpool", _per_rule(all=5_005_000)),
        (
            "joinmarket",
            cj,
            "mixer",
            "JoinMarket-like CoinJoin",
            _per_rule(poison=2_499_990_000, haircut=999_996_000, fifo=1_999_990_000),
        ),
        ("busy", a["busy"], "high_degree", "", _per_rule(all=BTC // 2)),
    ]
    return {
        "chain": "bitcoin",
        "case": CASE_NAME,
        "seeds": [a["thief"]],
        "units": "satoshi",
        "flags": [
            {"name": n, "address": addr, "kind": k, "entity": e, "asset": "native", "amounts": amt}
            for n, addr, k, e, amt in flags
        ],
        "held": {
            "peel5": {"address": a["peel5"], "amounts": _per_rule(all=6_344_945_000)},
            "thief": {"address": a["thief"], "amounts": _per_rule(all=546)},
        },
        "received": {
            "hot_a": {
                "address": a["hot_a"],
                "amounts": _per_rule(
                    poison=3_719_980_000,
                    haircut=1_999_989_247,
                    fifo=10 * BTC,
                    lifo=30 * BTC,
                    tiho=30 * BTC,
                ),
            },
            "next1": {
                "address": a["next1"],
                "amounts": _per_rule(poison=2_499_990_000, haircut=999_996_000, fifo=1_999_990_000),
            },
        },
        "seed_taint": str(100 * BTC + 546),
        "peel_chain": [txid(n) for n in ("P1", "P2", "P3", "P4")],
        "coinjoins": {txid("WP"): "Whirlpool", txid("CJ"): "JoinMarket-like CoinJoin"},
        "never_in_graph": {
            n: a[n]
            for n in (
                "victim_hot",
                "victim_change",
                "lookalike",
                "miner",
                "cust_a1",
                "cust_b1",
                "mk1",
                "postmix1",
                "cj_out0",
                "cj_chg_taker",
                "laundry",
            )
        },  # fmt: skip
        "addresses": a,
        "txids": {
            n: txid(n)
            for n in (
                "theft",
                "P1",
                "P2",
                "P3",
                "P4",
                "P5",
                "WP",
                "MIX",
                "CJ",
                "SWEEP_A",
                "SWEEP_B",
            )
        },  # fmt: skip
    }


def case() -> dict:
    return {
        "name": CASE_NAME,
        "title": "Synthetic Bitcoin laundering leg: peel chain, CoinJoins, exchange sweeps",
        "synthetic": True,
        "seeds": [
            {"chain": "bitcoin", "address": address("thief"), "role": "thief", "source": SOURCE}
        ],
        "since": block_time(H0),
    }


def generate(out_dir: str | Path = DATA_DIR) -> Path:
    """Write ``transactions.json`` (bitcoin-etl), ``labels.yaml``, ``case.json`` and
    ``ground_truth.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_etl_json(transactions(), out / "transactions.json")
    a = {n: address(n) for n in NAMES}
    (out / "labels.yaml").write_text(_labels_yaml(a), encoding="utf-8")
    (out / "case.json").write_text(json.dumps(case(), indent=2) + "\n", encoding="utf-8")
    (out / "ground_truth.json").write_text(
        json.dumps(ground_truth(), indent=2) + "\n", encoding="utf-8"
    )
    return out


DATA_FILES = ("transactions.json", "labels.yaml", "case.json", "ground_truth.json")


def load_case() -> dict:
    """The case dict :func:`tracer.api.load_case` returns for ``sandbox-bitcoin``."""
    info = json.loads((DATA_DIR / "case.json").read_text(encoding="utf-8"))
    info["data"] = str(DATA_DIR)
    info["labels"] = [str(DATA_DIR / "labels.yaml")]
    return info


if __name__ == "__main__":
    generate(DATA_DIR)
