"""The sandbox scenario replayed on a real Ethereum node (anvil) as signed transactions.

:func:`build_plan` turns every transaction of :func:`tracer.sandbox.generator._scenario` into a
real one: plain ETH transfers, calls of real contracts (``contracts/``: a USDT-like token with
Tether's blacklist, a USDC-like token with Circle's, a fake "USDT" poisoning token, a fixed-rate
USDT→ETH swap pool, a 100 ETH mixer pool, a bridge, and a contract that rejects ETH), each signed
(EIP-1559, byte-identical to eth-account's ``sign_transaction``) by an actor whose private key is
``keccak("tracer-sandbox-key:" + name)``. :func:`replay` deploys the contracts and mines the story
on a node started with ``--no-mining``: every generator block that holds transactions becomes one
block, with the generator's timestamp and its transactions in the generator's order. Blocks are
numbered densely (the theft keeps its number, 16,000,000); the times between them are the
generator's, multiples of 12 s. A node mines about 150 blocks a second with this state (its cost
per block grows with the number of accounts), so the ~2,300 empty generator blocks are left out.

Gas is free on the node (gas price and base fee 0, and every transaction says so), so ETH moves
exactly as in the story. Balances that the story takes as given come from outside the chain:
``anvil_setBalance`` for ETH (the victim's cold wallet, exchange hot wallets and funders, the
busy service, customers, the poisoner's lookalike and the swap pool's reserve), and the issuers'
own functions for tokens (Tether ``issue`` then transfers from its treasury, Circle ``mint``).
:func:`build_plan` computes the least such funding by simulating the story and refuses to fund any
address on the laundering path: the stolen funds move only by real transactions.

Where a real chain cannot do what the synthetic one says, the replay differs (``DEVIATIONS``):

* The failed 100 ETH transfer: a node never mines a transfer to an EOA that fails, nor one
  whose value exceeds the sender's balance (the thief holds 0 ETH at the generator's block). It
  goes to a contract that rejects ETH, at the start of the block of the thief's previous
  transaction (the fan-out, when the thief still holds 1,000 ETH), and is mined with status 0.
* The failed 50,000 USDT transfer runs out of gas (explicit gas limit 25,000): the thief holds
  enough USDT then. A reverted transaction leaves no log, so unlike the generator's export it has
  no row in ``token_transfers``.
* The swap needs an ``approve`` first (same block, just before the swap); the pool pulls the
  USDT with ``transferFrom`` and pays the ETH with a low-level call (an internal transfer).
* Setup comes before the story: two blocks (deployments, then funding), and after it one block
  in which Tether blacklists ``holder`` (``AddedBlackList``), leaving a frozen balance.
* Block numbers are dense (no empty blocks), so blocks between two story events are fewer than
  the generator's; timestamps are the generator's.
* ``holder`` and ``lookalike_holder`` are keys with a salt (``KEY_SALTS``), found by a birthday
  search so that their addresses share the first and last four hex digits, as a poisoner's vanity
  address does; ``lookalike_dep_b2`` only receives and is derived like the generator's.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from eth_abi import encode
from eth_utils import keccak

from tracer.sandbox import generator as gen
from tracer.sandbox.node import REPO_ROOT, AnvilNode, NodeError, start_anvil

# contracts/ of a checkout; tracer/_contracts inside an installed wheel (setup.py ships it there)
CONTRACTS_DIR = next(
    (
        d
        for d in (REPO_ROOT / "contracts", Path(__file__).resolve().parents[1] / "_contracts")
        if (d / "artifacts").is_dir()
    ),
    REPO_ROOT / "contracts",
)
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
CHAIN_ID = 31337
SEED = 20221101  # the generator's default seed
KEY_PREFIX = "tracer-sandbox-key:"
#: Salts of the vanity pair (see :func:`grind_vanity_pair`): ``holder#6300`` and
#: ``lookalike_holder#15642`` have addresses with the same first and last four hex digits.
KEY_SALTS = {"holder": 6300, "lookalike_holder": 15642}
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SETUP_BLOCKS = 2  # deployments, funding
SWAP_WEI_PER_UNIT = 480 * gen.ETH // (600_000 * gen.USDT)  # the story's rate: 0.0008 ETH/USDT
MIXER_DENOMINATION = 100 * gen.ETH
BRIDGE_DST_CHAIN = 56
GAS_TRANSFER = 21_000
GAS_CALL = 150_000
GAS_CREATE = 3_000_000
GAS_FAILED_ETH = 50_000
GAS_FAILED_TOKEN = 25_000  # enough to start transfer(), too little to finish it
DEVIATIONS = [
    "failed ETH transfer: sent to a contract that rejects ETH at the start of the thief's "
    "fan-out block (a node cannot mine it where the thief holds 0 ETH)",
    "failed USDT transfer: out of gas; a reverted transaction has no Transfer log",
    "swap: approve in the same block before the swap",
    "setup blocks (deployments, funding) before the story; Tether blacklists holder after it",
    "block numbers dense (no empty blocks; the theft keeps 16,000,000); timestamps unchanged",
    "holder and lookalike_holder: salted keys forming a vanity pair (first/last 4 hex digits)",
]

#: Contracts in deployment order: (story name, artifact, deployer actor). Each deployer deploys
#: before sending anything else, so every address is fixed by (deployer key, nonce).
DEPLOYMENTS = (
    ("usdt", "SandboxTetherToken", "tether"),
    ("usdc", "SandboxUSDC", "circle"),
    ("fake_usdt", "FakeTetherToken", "poisoner"),
    ("dex_pool", "SandboxSwapPool", "deployer"),
    ("mixer_pool", "SandboxMixer", "deployer"),
    ("bridge", "SandboxBridge", "deployer"),
    ("failed_rcpt", "SandboxNoEther", "deployer"),
)
#: Who may be funded from outside the chain, by asset (names, or prefixes ending in ':').
FUNDABLE = {
    "native": (
        "victim_cold",
        "victim_hot",
        "hot_a",
        "hot_b",
        "funder_a",
        "funder_b",
        "busy",
        "dex_pool",
        "lookalike_holder",
        "poisoner",
        "customer:",
    ),
    "usdt": ("victim_cold", "victim_hot", "hot_a", "hot_b"),
    "usdc": ("customer:",),
}


class ReplayError(NodeError):
    """The node did not end up with the chain the plan describes."""


# ---------------------------------------------------------------------- keys and addresses


def private_key(name: str) -> bytes:
    """The sandbox actor's private key: keccak('tracer-sandbox-key:' + name[#salt])."""
    salt = KEY_SALTS.get(name)
    key = keccak(text=KEY_PREFIX + name + (f"#{salt}" if salt is not None else ""))
    if not 0 < int.from_bytes(key, "big") < SECP256K1_N:  # pragma: no cover - 2**-128
        raise ValueError(f"key of {name!r} is not a valid secp256k1 scalar")
    return key


def _pubkey_address(key: bytes) -> str:
    from eth_keys import keys

    return keys.PrivateKey(key).public_key.to_checksum_address().lower()


_ADDRESS_CACHE: dict[str, str] = {}


def actor_address(name: str) -> str:
    """Lower-case address of a sandbox actor (an EOA with :func:`private_key`)."""
    if name not in _ADDRESS_CACHE:
        _ADDRESS_CACHE[name] = _pubkey_address(private_key(name))
    return _ADDRESS_CACHE[name]


def create_address(sender: str, nonce: int) -> str:
    """Address of the contract that ``sender`` creates with ``nonce``."""
    return "0x" + keccak(_rlp([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


def lookalike_of(target: str, name: str) -> str:
    """A lookalike of ``target`` derived like the generator's (first/last four hex digits)."""
    middle = keccak(text=f"tracer-sandbox:lookalike:{name}")[-20:].hex()[4:36]
    return target[:6] + middle + target[-4:]


def grind_vanity_pair(a: str = "holder", b: str = "lookalike_holder") -> tuple[int, int]:
    """Birthday search for salts i, j such that the keys ``a#i`` and ``b#j`` have addresses with
    the same first and last four hex digits (about 2**16 keys a side; seconds with coincurve).
    Its result is pinned in ``KEY_SALTS``; kept to show how the pair was made."""
    seen: tuple[dict[str, int], dict[str, int]] = ({}, {})
    i = 0
    while True:
        for side, base in enumerate((a, b)):
            addr = _pubkey_address(keccak(text=f"{KEY_PREFIX}{base}#{i}"))[2:]
            tag = addr[:4] + addr[-4:]
            other = seen[1 - side].get(tag)
            if other is not None:
                return (other, i) if side == 1 else (i, other)
            seen[side].setdefault(tag, i)
        i += 1


# ---------------------------------------------------------------------- artifacts and ABI


def load_artifacts(directory: Path = ARTIFACTS_DIR) -> dict[str, dict]:
    """Compiled contracts by name; refuses artifacts older than their source."""
    if not directory.is_dir():
        raise NodeError(f"no contract artifacts in {directory} (run contracts/build.py)")
    artifacts = {}
    for path in sorted(directory.glob("*.json")):
        art = json.loads(path.read_text(encoding="utf-8"))
        source = directory.parent / art["sourceName"]
        if source.is_file():
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            if digest != art["sourceSha256"]:
                raise NodeError(
                    f"{path.name} is stale: {source.name} changed (run contracts/build.py)"
                )
        artifacts[art["contractName"]] = art
    missing = [a for _, a, _ in DEPLOYMENTS if a not in artifacts]
    if missing:
        raise NodeError(
            f"missing contract artifacts: {', '.join(missing)} (run contracts/build.py)"
        )
    return artifacts


def _types(abi: list[dict], kind: str, name: str | None = None) -> list[str]:
    for entry in abi:
        if entry["type"] == kind and entry.get("name") == name:
            return [i["type"] for i in entry["inputs"]]
    if kind == "constructor":
        return []
    raise KeyError(f"{name} not in ABI")


def calldata(abi: list[dict], function: str, *args) -> bytes:
    """ABI-encoded call of ``function`` (looked up in ``abi``) with ``args``."""
    types = _types(abi, "function", function)
    selector = keccak(text=f"{function}({','.join(types)})")[:4]
    return selector + encode(types, list(args))


# ---------------------------------------------------------------------- the plan


@dataclass
class Step:
    """One transaction of the replay."""

    block: int  # the generator's block until build_plan numbers the node's blocks
    sender: str  # actor name
    to: str | None  # address; None creates a contract
    value: int = 0
    data: bytes = b""
    gas: int = GAS_TRANSFER
    status: int = 1  # the receipt status the story expects
    what: str = ""
    effects: list[tuple[str, str, str, int]] = field(default_factory=list)  # asset, from, to
    time: int = 0  # block timestamp
    nonce: int = -1
    raw: bytes = b""
    hash: str = ""


@dataclass
class Plan:
    """Everything the replay sends and what the chain must look like afterwards."""

    addresses: dict[str, str]  # story name -> node address (the generator's names)
    contracts: dict[str, str]  # story name -> contract address
    steps: list[Step]  # in chain order
    funding: dict[str, dict[str, int]]  # asset -> address -> amount from outside the chain
    genesis: int  # number of the genesis block
    genesis_time: int
    first_story_block: int
    last_block: int
    names: dict[str, str]  # node address -> actor name (every address the replay uses)
    block_map: dict[int, int]  # generator block -> node block
    fingerprint: str = ""

    def by_block(self) -> dict[int, list[Step]]:
        out: dict[int, list[Step]] = defaultdict(list)
        for s in self.steps:
            out[s.block].append(s)
        return out


def _generator_story(seed: int):
    """The generator's transactions in chain order, and the name behind every address in them."""
    names: dict[str, str] = {}
    real = gen.address

    def recording(name: str) -> str:
        addr = real(name)
        names[addr] = name
        return addr

    with mock.patch.object(gen, "address", recording):
        builder, a = gen._scenario(random.Random(seed))
    names.update({gen.USDT_TOKEN: "usdt", gen.USDC_TOKEN: "usdc", gen.FAKE_USDT: "fake_usdt"})
    for n, addr in a.items():
        names[addr] = n
    txs = sorted(builder.txs, key=lambda t: (t.block, t.hash))
    return txs, names, a


def _fundable(asset: str, name: str) -> bool:
    return any(name == f or (f.endswith(":") and name.startswith(f)) for f in FUNDABLE[asset])


def build_plan(seed: int = SEED, artifacts: dict[str, dict] | None = None) -> Plan:
    """The replay of the generator's scenario as signed transactions (deterministic)."""
    artifacts = artifacts or load_artifacts()
    abi = {name: artifacts[art]["abi"] for name, art, _ in DEPLOYMENTS}
    txs, gnames, ga = _generator_story(seed)
    contracts: dict[str, str] = {}
    deploy_nonce: dict[str, int] = defaultdict(int)
    for name, _, deployer in DEPLOYMENTS:
        contracts[name] = create_address(actor_address(deployer), deploy_nonce[deployer])
        deploy_nonce[deployer] += 1

    def node(name: str) -> str:
        if name in contracts:
            return contracts[name]
        if name == "lookalike_dep_b2":
            return lookalike_of(actor_address("dep_b2"), "dep_b2")
        return actor_address(name)

    def n_of(addr: str) -> str:
        return gnames[addr]

    addresses = {name: node(name) for name in ga}
    steps: list[Step] = []
    mixer_k = 0
    bridge_k = 0
    for t in txs:
        sender = n_of(t.sender)
        if t.internal:  # the swap: token out, ETH back in the same transaction
            ((token, frm, to, amount),) = t.tokens
            ((_, _, eth_out, _),) = t.internal
            pool = contracts[n_of(to)]
            if amount * SWAP_WEI_PER_UNIT != eth_out:
                raise ValueError("swap amounts do not match the pool's fixed rate")
            steps.append(
                Step(
                    t.block,
                    sender,
                    contracts["usdt"],
                    data=calldata(abi["usdt"], "approve", pool, amount),
                    gas=GAS_CALL,
                    what="approve the swap pool",
                )
            )
            steps.append(
                Step(
                    t.block,
                    sender,
                    pool,
                    data=calldata(abi["dex_pool"], "swapTokensForEth", amount),
                    gas=GAS_CALL,
                    what="swap USDT for ETH",
                    effects=[
                        ("usdt", node(sender), pool, amount),
                        ("native", pool, node(sender), eth_out),
                    ],
                )
            )
            continue
        if t.tokens:
            ((token, frm, to, amount),) = t.tokens
            tname = n_of(token)
            src, dst = node(n_of(frm)), node(n_of(to))
            if tname == "fake_usdt":
                data = calldata(abi["fake_usdt"], "transferFrom", src, dst, amount)
                steps.append(
                    Step(t.block, sender, contracts[tname], data=data, gas=GAS_CALL, what="spam")
                )
                continue
            if frm == t.sender:
                data = calldata(abi[tname], "transfer", dst, amount)
                what = f"{tname} transfer"
            else:  # a zero-value transferFrom by a third party: address poisoning
                if amount != 0:
                    raise ValueError("only zero-value transferFrom is sent by third parties")
                data = calldata(abi[tname], "transferFrom", src, dst, amount)
                what = f"zero-value {tname} transferFrom"
            steps.append(
                Step(
                    t.block,
                    sender,
                    contracts[tname],
                    data=data,
                    gas=GAS_CALL if t.status else GAS_FAILED_TOKEN,
                    status=t.status,
                    what=what if t.status else f"failed {what} (out of gas)",
                    effects=[(tname, src, dst, amount)] if t.status else [],
                )
            )
            continue
        to_name = n_of(t.to)
        dst = node(to_name)
        if to_name == "mixer_pool":
            commitment = keccak(text=f"tracer-sandbox:commitment:{mixer_k}")
            mixer_k += 1
            step = Step(
                t.block,
                sender,
                dst,
                t.value,
                calldata(abi["mixer_pool"], "deposit", commitment),
                GAS_CALL,
                what="mixer deposit",
            )
        elif to_name == "bridge":
            bridge_k += 1
            receiver = actor_address(f"bridge_receiver:{sender}")
            step = Step(
                t.block,
                sender,
                dst,
                t.value,
                calldata(abi["bridge"], "sendNative", receiver, BRIDGE_DST_CHAIN, bridge_k),
                GAS_CALL,
                what="bridge deposit",
            )
        elif t.status == 0:
            if to_name != "failed_rcpt":
                raise ValueError(f"cannot make an ETH transfer to {to_name} fail on chain")
            step = Step(
                t.block, sender, dst, t.value, gas=GAS_FAILED_ETH, status=0, what="failed ETH"
            )
            # a node mines it only while the sender holds the value: at the start of the
            # block of the sender's previous transaction
            previous = max(i for i, s in enumerate(steps) if s.sender == sender)
            step.block = steps[previous].block
            at = min(i for i, s in enumerate(steps) if s.block == step.block)
            steps.insert(at, step)
            continue
        else:
            step = Step(t.block, sender, dst, t.value, what="ETH transfer")
        if step.status:
            step.effects.append(("native", node(sender), dst, t.value))
        steps.append(step)

    # Number the node's blocks: one per generator block that holds transactions, in order, the
    # theft keeping its number (B0); setup before, the blacklisting after. Times stay the
    # generator's, so gaps between blocks are multiples of 12 s (like missed slots).
    story_blocks = sorted({s.block for s in steps})
    genesis = gen.B0 - story_blocks.index(gen.B0) - SETUP_BLOCKS - 1
    block_map = {b: genesis + SETUP_BLOCKS + 1 + i for i, b in enumerate(story_blocks)}
    for s in steps:
        s.time = gen.block_time(s.block)
        s.block = block_map[s.block]
    last = block_map[story_blocks[-1]] + 1
    funding = _funding(steps, {v: k for k, v in contracts.items()})
    names = {node(n): n for n in ga}
    setup = _setup_steps(genesis, artifacts, abi, contracts, funding)
    for s in setup:
        s.time = gen.block_time(story_blocks[0] - SETUP_BLOCKS - 1 + s.block - genesis)
    blacklist = Step(
        last,
        "tether",
        contracts["usdt"],
        data=calldata(abi["usdt"], "addBlackList", addresses["holder"]),
        gas=GAS_CALL,
        what="Tether blacklists holder",
        time=gen.block_time(story_blocks[-1] + 1),
    )
    steps = setup + steps + [blacklist]
    nonces: dict[str, int] = defaultdict(int)
    for s in steps:
        s.nonce = nonces[s.sender]
        nonces[s.sender] += 1
        names.setdefault(actor_address(s.sender), s.sender)
    for name, addr in contracts.items():
        names[addr] = name
    plan = Plan(
        addresses,
        contracts,
        steps,
        funding,
        genesis,
        gen.block_time(story_blocks[0] - SETUP_BLOCKS - 1),
        genesis + SETUP_BLOCKS + 1,
        last,
        names,
        block_map,
    )
    plan.fingerprint = _fingerprint(plan, artifacts)
    return plan


def _funding(steps: list[Step], contract_names: dict[str, str]) -> dict[str, dict[str, int]]:
    """Least outside funding per (asset, address) so that no step overdraws, by simulation."""
    balance: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    need: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in steps:
        if s.status == 0 and s.value > balance["native"][actor_address(s.sender)]:
            raise ValueError(f"{s.what}: {s.sender} cannot cover {s.value} wei")
        for asset, src, dst, amount in s.effects:
            balance[asset][src] -= amount
            if balance[asset][src] < 0:
                need[asset][src] += -balance[asset][src]
                balance[asset][src] = 0
            balance[asset][dst] += amount
    names = {actor_address(s.sender): s.sender for s in steps} | contract_names
    out: dict[str, dict[str, int]] = {}
    for asset, book in sorted(need.items()):
        for addr, amount in book.items():
            name = names.get(addr, addr)
            if not _fundable(asset, name):
                raise ValueError(f"{name} would need {amount} {asset} from outside the chain")
        out[asset] = dict(sorted(book.items()))
    return out


def _setup_steps(genesis, artifacts, abi, contracts, funding) -> list[Step]:
    """Deployments (first block) and token funding by the issuers (second block)."""
    steps = []
    args = {
        "usdt": ["Tether USD (sandbox)", "USDT"],
        "usdc": ["USD Coin (sandbox)", "USDC"],
        "dex_pool": [contracts["usdt"], SWAP_WEI_PER_UNIT],
        "mixer_pool": [MIXER_DENOMINATION],
    }
    for name, art, deployer in DEPLOYMENTS:
        a = artifacts[art]
        code = bytes.fromhex(a["bytecode"][2:]) + encode(
            _types(a["abi"], "constructor"), args.get(name, [])
        )
        steps.append(
            Step(genesis + 1, deployer, None, data=code, gas=GAS_CREATE, what=f"deploy {art}")
        )
    fund_block = genesis + 2
    usdt = funding.get("usdt", {})
    if usdt:
        total = sum(usdt.values())
        steps.append(
            Step(
                fund_block,
                "tether",
                contracts["usdt"],
                data=calldata(abi["usdt"], "issue", total),
                gas=GAS_CALL,
                what="Tether issues USDT",
            )
        )
        for addr, amount in usdt.items():
            steps.append(
                Step(
                    fund_block,
                    "tether",
                    contracts["usdt"],
                    data=calldata(abi["usdt"], "transfer", addr, amount),
                    gas=GAS_CALL,
                    what="USDT from Tether's treasury",
                )
            )
    for addr, amount in funding.get("usdc", {}).items():
        steps.append(
            Step(
                fund_block,
                "circle",
                contracts["usdc"],
                data=calldata(abi["usdc"], "mint", addr, amount),
                gas=GAS_CALL,
                what="Circle mints USDC",
            )
        )
    return steps


def _fingerprint(plan: Plan, artifacts: dict[str, dict]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({k: artifacts[k]["bytecode"] for k in sorted(artifacts)}).encode())
    h.update(json.dumps(plan.funding, sort_keys=True).encode())
    for s in plan.steps:
        h.update(
            f"{s.block}|{s.time}|{s.sender}|{s.to}|{s.value}|{s.data.hex()}|{s.gas}|{s.status}\n".encode()
        )
    h.update(f"{CHAIN_ID}|{plan.genesis}|{plan.genesis_time}".encode())
    return h.hexdigest()


def _rlp(item) -> bytes:
    """RLP of bytes, non-negative ints and lists of them."""
    if isinstance(item, list):
        body = b"".join(_rlp(x) for x in item)
        return _rlp_length(len(body), 0xC0) + body
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _rlp_length(len(item), 0x80) + item


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def sign_transaction(key, s: Step) -> tuple[bytes, str]:
    """EIP-1559 transaction of ``s`` (chain ``CHAIN_ID``, fee caps 0, no access list) signed with
    ``key`` (bytes or an ``eth_keys`` private key): the raw bytes and the hash. Byte-identical to eth-account's ``sign_transaction`` of
    the same fields (RFC 6979 signatures; the tests compare them), at a fraction of its cost."""
    from eth_keys import keys

    to = bytes.fromhex(s.to[2:]) if s.to is not None else b""
    fields = [CHAIN_ID, s.nonce, 0, 0, s.gas, to, s.value, s.data, []]
    if isinstance(key, bytes):
        key = keys.PrivateKey(key)
    signature = key.sign_msg_hash(keccak(b"\x02" + _rlp(fields)))
    raw = b"\x02" + _rlp(fields + [signature.v, signature.r, signature.s])
    return raw, "0x" + keccak(raw).hex()


def sign_all(plan: Plan) -> None:
    """Sign every step with its sender's key; fills ``raw`` and ``hash``."""
    from eth_keys import keys

    cache: dict[str, keys.PrivateKey] = {}
    for s in plan.steps:
        if not s.raw:
            key = cache.get(s.sender)
            if key is None:
                key = cache[s.sender] = keys.PrivateKey(private_key(s.sender))
            s.raw, s.hash = sign_transaction(key, s)


# ---------------------------------------------------------------------- JSON-RPC


class Rpc:
    """A minimal JSON-RPC client over one kept-alive HTTP connection, with batches."""

    def __init__(self, url: str, timeout: float = 120):
        self.url = url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NodeError(f"not an http(s) JSON-RPC URL: {url!r}")
        self._parts = parts
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self._parts.hostname, self._parts.port, timeout=self._timeout)
        return self._conn

    def _post(self, body) -> object:
        payload = json.dumps(body).encode()
        path = self._parts.path or "/"
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", path, payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    raise NodeError(f"{self.url}: HTTP {response.status}: {data[:200]!r}")
                return json.loads(data)
            except (http.client.HTTPException, ConnectionError) as error:
                self.close()
                if attempt:
                    raise NodeError(f"{self.url}: {error}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, params: list | None = None):
        self._id += 1
        reply = self._post(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}
        )
        if "error" in reply:
            raise NodeError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply["result"]

    def batch(self, calls: list[tuple[str, list]], size: int = 200) -> list:
        """Results of ``calls`` in order, ``size`` per HTTP request; any error raises."""
        results = []
        for start in range(0, len(calls), size):
            chunk = calls[start : start + size]
            body = []
            for method, params in chunk:
                self._id += 1
                body.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
            replies = self._post(body)
            if not isinstance(replies, list):
                raise NodeError(f"batch answered with {str(replies)[:200]}")
            by_id = {r.get("id"): r for r in replies}
            for request in body:
                reply = by_id.get(request["id"])
                if reply is None or "error" in reply:
                    err = reply["error"] if reply else "no reply"
                    raise NodeError(f"{request['method']} {request['params'][:1]}: {err}")
                results.append(reply["result"])
        return results

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# ---------------------------------------------------------------------- replay


def node_args(plan: Plan) -> list[str]:
    """Extra anvil arguments for a replay: genesis number and time, manual mining, FIFO order."""
    return ["--number", str(plan.genesis), "--no-mining", "--order", "fifo"]


def replay(rpc: Rpc, plan: Plan) -> dict:
    """Send and mine every step on a fresh node started with :func:`node_args`; verify it.

    Returns timing and counts. Raises :class:`ReplayError` if the node is not fresh or any
    receipt differs from the plan (block, position, status)."""
    import time

    started = time.monotonic()
    head = int(rpc.call("eth_blockNumber"), 16)
    if head != plan.genesis:
        raise ReplayError(f"node is at block {head}, not a fresh sandbox node at {plan.genesis}")
    sign_all(plan)
    signed = time.monotonic()
    rpc.batch(
        [
            ("anvil_setBalance", [addr, hex(amount)])
            for addr, amount in plan.funding.get("native", {}).items()
        ]
    )
    by_block = plan.by_block()
    current = plan.genesis
    for number in sorted(by_block):
        if number != current + 1:  # pragma: no cover - build_plan numbers blocks densely
            raise ReplayError(f"plan skips from block {current} to {number}")
        for s in by_block[number]:
            got = rpc.call("eth_sendRawTransaction", ["0x" + s.raw.hex()])
            if got != s.hash:
                raise ReplayError(f"{s.what}: node returned hash {got}, expected {s.hash}")
        rpc.call("evm_mine", [by_block[number][0].time])
        current = number
    mined = time.monotonic()
    verify(rpc, plan)
    return {
        "transactions": len(plan.steps),
        "blocks": current - plan.genesis,
        "sign_seconds": round(signed - started, 2),
        "mine_seconds": round(mined - signed, 2),
        "verify_seconds": round(time.monotonic() - mined, 2),
    }


def verify(rpc: Rpc, plan: Plan) -> None:
    """Every step mined in its block, in plan order, with the expected status."""
    receipts = rpc.batch([("eth_getTransactionReceipt", [s.hash]) for s in plan.steps])
    position: dict[int, int] = defaultdict(int)
    for s, r in zip(plan.steps, receipts, strict=True):
        if r is None:
            raise ReplayError(f"{s.what} ({s.sender}, block {s.block}) was not mined")
        where = (int(r["blockNumber"], 16), int(r["transactionIndex"], 16))
        if where != (s.block, position[s.block]) or int(r["status"], 16) != s.status:
            raise ReplayError(
                f"{s.what} ({s.sender}): mined at {where} with status {int(r['status'], 16)}, "
                f"expected ({s.block}, {position[s.block]}) with status {s.status}"
            )
        position[s.block] += 1


# ---------------------------------------------------------------------- a running sandbox


def _state_meta(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def state_matches(path: Path, plan: Plan) -> bool:
    """Whether ``path`` holds a saved replay of exactly this plan (artifacts and scenario)."""
    meta = _state_meta(path)
    if not path.is_file() or not meta.is_file():
        return False
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        info.get("fingerprint") == plan.fingerprint
        and info.get("bytes") == path.stat().st_size
        and info.get("anvil") == anvil_version()
    )


def anvil_version() -> str:
    """First line of ``anvil --version`` ('' without anvil): saved states are kept per version."""
    import subprocess

    from tracer.sandbox.node import find_anvil

    binary = find_anvil()
    if binary is None:
        return ""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return (done.stdout.strip().splitlines() or [""])[0]


def save_state(rpc: Rpc, path: Path, plan: Plan) -> None:
    """Dump the node's state (anvil_dumpState) into ``path``, atomically, with its fingerprint."""
    import gzip

    blob = bytes.fromhex(rpc.call("anvil_dumpState")[2:])
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(blob)
    os.replace(tmp, path)
    meta = {
        "fingerprint": plan.fingerprint,
        "bytes": path.stat().st_size,
        "genesis": plan.genesis,
        "last_block": plan.last_block,
        "chain_id": CHAIN_ID,
        "anvil": anvil_version(),
    }
    _state_meta(path).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@dataclass
class Sandbox:
    """A running node holding the replayed scenario."""

    node: AnvilNode
    plan: Plan
    rpc: Rpc
    reused_state: bool
    stats: dict
    state: Path | None = None  # where the replay is saved, if anywhere

    @property
    def url(self) -> str:
        return self.node.url

    def stop(self) -> None:
        self.rpc.close()
        self.node.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(
    port: int | None = None, state: Path | str | None = None, automine: bool = True
) -> Sandbox:
    """Start anvil on 127.0.0.1 with the replayed scenario.

    With ``state``, a saved replay of the same plan is loaded instead of replaying (fast); else
    the scenario is replayed and, if ``state`` is given, saved there for next time. With
    ``automine`` the node mines new transactions as they come once the replay is done."""
    plan = build_plan()
    state_path = Path(state).expanduser() if state is not None else None
    if state_path is not None and state_matches(state_path, plan):
        try:
            return _started(plan, port, state_path, automine, load=True)
        except NodeError:  # an unreadable or foreign state: replay instead
            pass
    return _started(plan, port, state_path, automine, load=False)


def _started(plan: Plan, port, state_path: Path | None, automine: bool, load: bool) -> Sandbox:
    if load:
        node = start_anvil(port=port, extra_args=["--load-state", str(state_path)])
    else:
        node = start_anvil(port=port, timestamp=plan.genesis_time, extra_args=node_args(plan))
    rpc = Rpc(node.url)
    try:
        if load:
            sign_all(plan)
            verify(rpc, plan)
            stats = {"transactions": len(plan.steps), "state": str(state_path)}
        else:
            stats = replay(rpc, plan)
            if state_path is not None:
                save_state(rpc, state_path, plan)
        if automine:
            rpc.call("evm_setAutomine", [True])
    except BaseException:
        rpc.close()
        node.stop()
        raise
    return Sandbox(node, plan, rpc, load, stats, state_path)


def default_state_path(plan: Plan) -> Path:
    """Where a replay is cached when no ``--state`` is given (keyed by the plan's fingerprint)."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"tracer-sandbox-{plan.fingerprint[:16]}.json"


def launch_detached(state: Path, port: int | None = None) -> tuple[int, str]:
    """Start anvil in its own session from a saved replay and leave it running: (pid, url)."""
    import subprocess
    import time

    from tracer.sandbox.node import find_anvil, free_port

    binary = find_anvil()
    if binary is None:
        raise NodeError("anvil not found: run scripts/install-anvil.sh or set TRACER_ANVIL")
    port = port or free_port()
    args = [
        binary,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(CHAIN_ID),
        "--gas-price",
        "0",
        "--block-base-fee-per-gas",
        "0",
        "--silent",
        "--load-state",
        str(state),
    ]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    rpc = Rpc(url, timeout=5)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise NodeError(f"anvil exited with status {proc.returncode}")
            try:
                rpc.call("eth_chainId")
                return proc.pid, url
            except (NodeError, OSError):
                time.sleep(0.1)
        proc.terminate()
        raise NodeError("anvil did not answer within 30 s")
    finally:
        rpc.close()
