"""Build small test chains on a real anvil node: deploy the fixture ERC-20 and ETH splitter, send
real transactions (anvil impersonates any sender; gas is free on the test node), and remember
what was meant to move so tests can compare a source's records with it."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from eth_abi import encode
from eth_utils import keccak

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ARTIFACTS = json.loads((FIXTURES / "TestContracts.json").read_text())["contracts"]
GENESIS_TIME = 1_700_000_000
BLOCK_INTERVAL = 12


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def call_data(signature: str, types: list[str], values: list) -> str:
    return selector(signature) + encode(types, values).hex()


@dataclass(frozen=True)
class Expected:
    """A transfer the builder meant to make."""

    kind: str  # native | token | internal
    asset: str
    sender: str
    receiver: str
    amount: int
    success: bool = True

    def key(self) -> tuple:
        return (self.kind, self.asset, self.sender, self.receiver, self.amount, self.success)


def record_key(t) -> tuple:
    return (t.kind, t.asset, t.from_address, t.to_address, t.amount, t.success)


class Chain:
    """JSON-RPC helper for one anvil node."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self._id = 0
        self.expected: list[Expected] = []
        self.call("anvil_autoImpersonateAccount", [True])
        self.call("anvil_setBlockTimestampInterval", [BLOCK_INTERVAL])
        self.accounts = [a.lower() for a in self.call("eth_accounts")]
        self._batching = False
        self._queued: list[str] = []

    def call(self, method: str, params: list | None = None):
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}
        reply = self.session.post(self.url, json=body, timeout=60).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def send(self, sender: str, to: str | None = None, data: str = "0x", value: int = 0) -> str:
        tx = {
            "from": sender,
            "data": data,
            "value": hex(value),
            "gasPrice": "0x0",
            "gas": hex(15_000_000),
        }
        if to is not None:
            tx["to"] = to
        tx_hash = self.call("eth_sendTransaction", [tx])
        if self._batching:
            self._queued.append(tx_hash)
        return tx_hash

    def receipt(self, tx_hash: str) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = self.call("eth_getTransactionReceipt", [tx_hash])
            if r is not None:
                return r
            time.sleep(0.005)
        raise RuntimeError(f"transaction {tx_hash} was not mined")

    def tx(self, sender: str, to: str | None = None, data: str = "0x", value: int = 0) -> dict:
        return self.receipt(self.send(sender, to, data, value))

    @contextmanager
    def one_block(self):
        """Every transaction sent inside goes into one block (mined on exit)."""
        self.call("evm_setAutomine", [False])
        self._batching, self._queued = True, []
        try:
            yield
            self.call("evm_mine", [])
        finally:
            self.call("evm_setAutomine", [True])
            self._batching = False
        for h in self._queued:
            if self.receipt(h)["status"] != "0x1":
                raise RuntimeError(f"transaction {h} failed inside a batch block")

    # ------------------------------------------------------------------ contracts

    def deploy_token(self, sender: str, name: str, symbol: str, decimals: int, supply: int) -> str:
        args = encode(["string", "string", "uint8", "uint256"], [name, symbol, decimals, supply])
        r = self.tx(sender, None, ARTIFACTS["TestToken"]["bytecode"] + args.hex())
        token = r["contractAddress"].lower()
        self.expected.append(Expected("token", token, "0x" + "0" * 40, sender, supply))
        return token

    def deploy_splitter(self, sender: str, value: int = 0) -> str:
        r = self.tx(sender, None, ARTIFACTS["Splitter"]["bytecode"], value)
        splitter = r["contractAddress"].lower()
        if value:
            self.expected.append(Expected("native", "native", sender, splitter, value))
        return splitter

    def token_transfer(self, token: str, sender: str, to: str, amount: int, ok: bool = True):
        data = call_data("transfer(address,uint256)", ["address", "uint256"], [to, amount])
        h = self.send(sender, token, data)
        if ok:
            self.expected.append(Expected("token", token, sender, to.lower(), amount))
        return h if self._batching else self.receipt(h)

    def token_batch(self, token: str, sender: str, tos: list[str], amounts: list[int]):
        data = call_data(
            "batchTransfer(address[],uint256[])", ["address[]", "uint256[]"], [tos, amounts]
        )
        h = self.send(sender, token, data)
        for to, amount in zip(tos, amounts, strict=True):
            self.expected.append(Expected("token", token, sender, to.lower(), amount))
        return h if self._batching else self.receipt(h)

    def eth(self, sender: str, to: str, value: int):
        h = self.send(sender, to, "0x", value)
        self.expected.append(Expected("native", "native", sender, to.lower(), value))
        return h if self._batching else self.receipt(h)

    def split(self, splitter: str, sender: str, tos: list[str], values: list[int], ok=True):
        data = call_data("split(address[],uint256[])", ["address[]", "uint256[]"], [tos, values])
        total = sum(values) if ok else 1
        r = self.tx(sender, splitter, data, total)
        self.expected.append(Expected("native", "native", sender, splitter, total, ok))
        for to, value in zip(tos, values, strict=True):
            self.expected.append(Expected("internal", "native", splitter, to.lower(), value, ok))
        return r

    def try_pay(self, splitter: str, sender: str, to: str, value: int):
        data = call_data("tryPay(address,uint256)", ["address", "uint256"], [to, value])
        r = self.tx(sender, splitter, data, value)
        self.expected.append(Expected("native", "native", sender, splitter, value))
        # the inner payment is undone by the caught revert of its parent frame
        self.expected.append(Expected("internal", "native", splitter, to.lower(), value, False))
        return r


def fresh(n: int, salt: str = "addr") -> list[str]:
    """Deterministic fresh addresses (no keys needed: anvil impersonates them)."""
    return ["0x" + keccak(text=f"{salt}:{i}")[-20:].hex() for i in range(n)]


def build_case(chain: Chain) -> dict:
    """A small theft: tokens and ETH from a seed through a fan-out, a contract split, a caught
    revert, a failed transaction, a zero-value poisoning transfer and a second hop."""
    a0 = chain.accounts[0]
    seed, y1, y2, z1, z2, z3, w, v = fresh(8, "case")
    token = chain.deploy_token(a0, "Test USD", "TUSD", 6, 10**15)
    splitter = chain.deploy_splitter(a0, 5 * 10**18)
    chain.token_transfer(token, a0, seed, 1_000_000 * 10**6)
    chain.eth(a0, seed, 20 * 10**18)
    chain.token_transfer(token, seed, y1, 600_000 * 10**6)
    chain.token_transfer(token, seed, y2, 400_000 * 10**6)
    chain.split(splitter, seed, [z1, z2], [3 * 10**18, 2 * 10**18])
    chain.try_pay(splitter, seed, z3, 10**18)
    chain.split(splitter, seed, [z1], [10**30], ok=False)  # reverts: failed top-level + inner
    chain.token_transfer(token, w, seed, 0)  # zero-value "poisoning" transfer into the seed
    with chain.one_block():
        chain.token_transfer(token, y1, v, 100_000 * 10**6)
        chain.token_transfer(token, y2, v, 50_000 * 10**6)
        chain.eth(seed, y1, 10**18)
    return {
        "token": token,
        "splitter": splitter,
        "seed": seed,
        "y1": y1,
        "y2": y2,
        "z1": z1,
        "z2": z2,
        "z3": z3,
        "w": w,
        "v": v,
        "deployer": a0,
    }


def build_tree(chain: Chain, token: str, fanout: int, depth: int, salt: str = "tree") -> list:
    """A fan-out tree: the deployer funds a root with tokens and ETH, then every address of a
    level pays ``fanout`` fresh addresses of the next level, tokens and ETH, each level mined in
    one block. Returns the levels (level 0 is the root)."""
    a0 = chain.accounts[0]
    (root,) = fresh(1, f"{salt}:root")
    chain.token_transfer(token, a0, root, fanout**depth * 10**9)
    chain.eth(a0, root, fanout**depth * 10**15)
    levels = [[root]]
    for level in range(depth):
        children = fresh(len(levels[-1]) * fanout, f"{salt}:{level + 1}")
        amount = fanout ** (depth - level - 1)
        with chain.one_block():
            for i, parent in enumerate(levels[-1]):
                kids = children[i * fanout : (i + 1) * fanout]
                chain.token_batch(token, parent, kids, [amount * 10**9] * fanout)
                for kid in kids:
                    chain.eth(parent, kid, amount * 10**15 // 2)
        levels.append(children)
    return levels
