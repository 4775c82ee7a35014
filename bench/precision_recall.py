"""Precision and recall of flagged exchange deposit addresses against the sandboxes' ground truth.

For every allocation rule, trace each bundled sandbox and compare the ``exchange_deposit`` flags
(address, asset) with the deposit addresses its ``ground_truth.json`` lists for that rule:

* ``labels``: the sandbox's own labels (deposit addresses partly labelled, as in real life);
* ``behaviour``: the same with every deposit-address label removed, so only behaviour (Victor's
  heuristic on Ethereum, consolidation sweeps on Bitcoin) can find them.

Also counts how many true positives carry exactly the tainted amount the ground truth gives.
A chain whose sandbox is not there (Tron: ``sandbox-tron``, landing with issue 5) gets a
placeholder row; the script picks it up by case name once it exists. ``--anvil`` adds the Ethereum sandbox replayed on a
local anvil node and exported over JSON-RPC (needs anvil; about a minute).

    python bench/precision_recall.py [--anvil] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")
PENDING = {"tron": "sandbox-tron"}


def _strip_deposit_labels(labels: list[str], folder: Path) -> list[str]:
    out = []
    for i, path in enumerate(labels):
        pack = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        pack["tags"] = [t for t in pack.get("tags", []) if str(t.get("category", "")) != "deposit"]
        target = folder / f"labels-{i}.yaml"
        target.write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
        out.append(str(target))
    return out


def _register(case: dict) -> None:
    from tracer.chains import Asset, register_asset

    for a in case.get("assets", []):
        register_asset(
            Asset(
                a["chain"],
                a["address"],
                a["symbol"],
                a["decimals"],
                a.get("issuer"),
                stablecoin=bool(a.get("issuer")),
            )
        )


def _expected(truth: dict, policy: str) -> dict[tuple[str, str], int | str]:
    return {
        (f["address"], f["asset"]): f["amounts"][policy]
        for f in truth["flags"]
        if f["kind"] == "exchange_deposit" and policy in f["amounts"]
    }


def _exact(flag, amount, truth: dict, case: dict) -> bool:
    from tracer.chains import get_chain
    from tracer.records import parse_units

    if truth.get("units") == "satoshi" or isinstance(amount, int):
        return flag.tainted == int(amount)
    if flag.asset == "native":
        decimals = get_chain(flag.chain).native_decimals
    else:
        known = {a["address"]: a["decimals"] for a in case.get("assets", [])}
        info = get_chain(flag.chain).assets.get(flag.asset)
        decimals = known.get(flag.asset, info.decimals if info else 6)
    return flag.tainted == parse_units(str(amount), decimals)


def measure(name: str, case: dict, truth: dict, behaviour_only: bool, tmp: Path) -> list[dict]:
    import tracer

    chain = case["seeds"][0]["chain"]
    seeds = [s["address"] for s in case["seeds"] if s["chain"] == chain]
    labels = list(case.get("labels", []))
    _register(case)  # the case's own tokens (sandbox USDT), as tracer.trace(case=...) does
    if behaviour_only:
        labels = _strip_deposit_labels(labels, tmp)
    rows = []
    for policy in POLICIES:
        result = tracer.trace(
            seeds,
            chain=chain,
            data=case["data"],
            labels=labels,
            policy=policy,
            since=case.get("since"),
        )
        got = {(f.address, f.asset): f for f in result.flag_list if f.kind == "exchange_deposit"}
        want = _expected(truth, policy)
        tp = set(got) & set(want)
        rows.append(
            {
                "data": name,
                "chain": chain,
                "labels": "behaviour only" if behaviour_only else "sandbox labels",
                "policy": policy,
                "expected": len(want),
                "flagged": len(got),
                "tp": len(tp),
                "fp": len(set(got) - set(want)),
                "fn": len(set(want) - set(got)),
                "precision": len(tp) / len(got) if got else 1.0,
                "recall": len(tp) / len(want) if want else 1.0,
                "exact_amounts": sum(_exact(got[k], want[k], truth, case) for k in tp),
            }
        )
    return rows


def datasets(anvil: bool, tmp: Path):
    from tracer.api import load_case
    from tracer.engine import TraceInputError

    eth = load_case("sandbox")
    yield (
        "ethereum sandbox (bulk CSV)",
        eth,
        json.loads((Path(eth["data"]) / "ground_truth.json").read_text()),
    )
    if anvil:
        from tracer.sandbox import anvil as node
        from tracer.sandbox.export import export

        out = tmp / "anvil-export"
        state = node.default_state_path(node.build_plan())  # a saved replay is reused
        with node.start_sandbox(state=state, automine=False) as box:
            export(box.rpc, out, box.plan)
        case = json.loads((out / "case.json").read_text())
        case["data"], case["labels"] = str(out), [str(out / "labels.yaml")]
        yield "ethereum sandbox on anvil", case, json.loads((out / "ground_truth.json").read_text())
    btc = load_case("sandbox-bitcoin")
    yield "bitcoin sandbox", btc, json.loads((Path(btc["data"]) / "ground_truth.json").read_text())
    for chain, case_name in PENDING.items():
        try:
            case = load_case(case_name)
        except TraceInputError:
            yield f"{chain} sandbox", None, None
            continue
        yield (
            f"{chain} sandbox",
            case,
            json.loads((Path(case["data"]) / "ground_truth.json").read_text()),
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anvil", action="store_true", help="also the sandbox replayed on anvil")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, case, truth in datasets(args.anvil, Path(tmp)):
            if case is None:
                rows.append({"data": name, "pending": True})
                continue
            for behaviour_only in (False, True):
                rows += measure(name, case, truth, behaviour_only, Path(tmp))
    if args.json:
        for r in rows:
            print(json.dumps(r, sort_keys=True))
        return 0
    print(
        "| data | labels | rule | expected | flagged | TP | FP | FN | precision | recall | exact amounts |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.get("pending"):
            print(f"| {r['data']} | – | – | – | – | – | – | – | pending | pending | – |")
            continue
        print(
            f"| {r['data']} | {r['labels']} | {r['policy']} | {r['expected']} | {r['flagged']} | "
            f"{r['tp']} | {r['fp']} | {r['fn']} | {r['precision']:.2f} | {r['recall']:.2f} | "
            f"{r['exact_amounts']}/{r['tp']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
