"""One Bitcoin transaction record, and its mapping to and from every source's shape.

:class:`BtcTx` is what the Bitcoin sources return and what the UTXO engine reads. It is built from

* Bitcoin Core ``getblock <hash> 2|3`` / ``getrawtransaction <txid> true`` objects
  (:func:`from_core`), amounts in BTC as JSON numbers (parsed as decimals, never floats);
* Esplora transaction objects (:func:`from_esplora`), amounts in satoshi;
* bitcoin-etl / BigQuery ``crypto_bitcoin.transactions`` rows (:func:`from_etl`), amounts in
  satoshi (integers, decimal strings or NUMERIC);

and written back as a bitcoin-etl row (:func:`to_etl`, field for field what bitcoin-etl's
``export_blocks_and_transactions`` writes) or an Esplora object (:func:`to_esplora`, for the
loopback test server). Amounts are integer satoshi everywhere; a value that is not a whole number
of satoshi is an error, not a rounding.

Input values and addresses come from the spent output ("prevout"). When a source cannot give
them (Bitcoin Core without undo data, a bitcoin-etl export that was never enriched), the input
carries ``value=None`` and the engine refuses to allocate that transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tracer.bitcoin.script import (
    CORE_TO_ESPLORA,
    core_asm,
    esplora_asm,
    from_esplora_type,
    nonstandard_address,
    script_address,
)
from tracer.sources.base import SourceError

SATOSHI = 10**8
COIN_DECIMALS = 8


@dataclass(frozen=True, slots=True)
class TxIn:
    prev_txid: str
    prev_vout: int
    address: str | None  # owner of the spent output (None: unknown or no address)
    value: int | None  # satoshi of the spent output (None: not known to the source)
    script_type: str | None = None  # Core name of the spent output's script type
    sequence: int | None = None
    script_asm: str = ""  # scriptSig
    script_hex: str = ""
    required_signatures: int | None = None
    witness: tuple[str, ...] = ()

    @property
    def outpoint(self) -> str:
        return f"{self.prev_txid}:{self.prev_vout}"


@dataclass(frozen=True, slots=True)
class TxOut:
    index: int
    value: int
    addresses: tuple[str, ...]  # bitcoin-etl style: usually one; empty for OP_RETURN
    script_type: str  # Core name
    script_hex: str = ""
    script_asm: str = ""
    required_signatures: int | None = None

    @property
    def address(self) -> str | None:
        """The owner the engine follows: the single address, or None (OP_RETURN, bare multisig
        with several keys)."""
        return self.addresses[0] if len(self.addresses) == 1 else None


@dataclass(frozen=True, slots=True)
class BtcTx:
    txid: str
    block_height: int | None  # None: unconfirmed
    block_hash: str | None
    block_time: int | None
    index: int | None  # position in the block when the source knows it (Esplora does not)
    version: int
    locktime: int
    size: int | None
    vsize: int | None
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    coinbase: bool = False
    weight: int | None = None
    coinbase_param: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.block_height is not None

    @property
    def input_value(self) -> int | None:
        if any(i.value is None for i in self.inputs):
            return None
        return sum(i.value for i in self.inputs)  # type: ignore[misc]

    @property
    def output_value(self) -> int:
        return sum(o.value for o in self.outputs)

    @property
    def fee(self) -> int | None:
        """Satoshi paid to the miner (0 for a coinbase); None if an input value is unknown."""
        if self.coinbase:
            return 0
        total = self.input_value
        return None if total is None else total - self.output_value

    def addresses(self) -> set[str]:
        out = {i.address for i in self.inputs if i.address}
        out.update(o.address for o in self.outputs if o.address)
        return out


# ------------------------------------------------------------------------------ amounts


def btc_to_sat(value, where: str = "") -> int:
    """Exact satoshi of a BTC amount given as Decimal, str, int or (last resort) float."""
    if isinstance(value, bool) or value is None:
        raise SourceError(f"missing BTC amount{where}")
    if isinstance(value, float):
        value = Decimal(repr(value))  # shortest repr round-trips the JSON text
    try:
        sat = Decimal(value) * SATOSHI
    except (InvalidOperation, TypeError, ValueError):
        raise SourceError(f"not a BTC amount{where}: {str(value)[:40]!r}") from None
    if sat != sat.to_integral_value():
        raise SourceError(f"BTC amount{where} is not a whole number of satoshi: {value}")
    return int(sat)


def parse_sat(value, where: str = "") -> int | None:
    """Exact satoshi integer from an int, a decimal string ('123', '123.000000000') or Decimal."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SourceError(f"not a satoshi amount{where}: {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise SourceError(f"not a satoshi amount{where}: {str(value)[:40]!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise SourceError(f"satoshi amount{where} is not an integer: {str(value)[:40]}")
    return int(number)


def loads(text: str | bytes):
    """JSON with numbers that have a fraction as Decimal (BTC amounts stay exact)."""
    return json.loads(text, parse_float=Decimal)


# ------------------------------------------------------------------------------ Bitcoin Core


def _core_output(vout: dict, where: str) -> TxOut:
    spk = vout.get("scriptPubKey") or {}
    addresses = spk.get("addresses")
    if addresses:
        addrs = tuple(addresses)
    elif spk.get("address") is not None:
        addrs = (spk["address"],)
    else:
        addrs = ()
    script_hex = spk.get("hex") or ""
    kind = spk.get("type") or "nonstandard"
    if not addrs and kind == "pubkey" and script_hex:
        addrs = (script_address(script_hex)[1],)  # Core >= 22 dropped it; bitcoin-etl keeps it
    return TxOut(
        index=int(vout.get("n", 0)),
        value=btc_to_sat(vout.get("value"), where),
        addresses=addrs,
        script_type=kind,
        script_hex=script_hex,
        script_asm=spk.get("asm") or "",
        required_signatures=spk.get("reqSigs"),
    )


def from_core(
    tx: dict,
    block: dict | None = None,
    index: int | None = None,
    prevouts: dict[str, TxOut] | None = None,
) -> BtcTx:
    """A Core verbose transaction (inside ``getblock`` 2/3 or from ``getrawtransaction``).

    Input values come from ``vin[].prevout`` (verbosity 3 / getrawtransaction 2) or from
    ``prevouts`` (outpoint -> spent output, e.g. resolved with ``getrawtransaction``).
    """
    txid = tx.get("txid") or tx.get("hash")
    if not isinstance(txid, str):
        raise SourceError("Bitcoin Core transaction without txid")
    where = f" in transaction {txid}"
    inputs: list[TxIn] = []
    coinbase = False
    coinbase_param = None
    for vin in tx.get("vin") or []:
        if "coinbase" in vin:
            coinbase = True
            coinbase_param = vin["coinbase"]
            continue
        outpoint = f"{vin.get('txid')}:{vin.get('vout')}"
        spent: TxOut | None = None
        if isinstance(vin.get("prevout"), dict):
            p = vin["prevout"]
            spent = _core_output({"n": vin.get("vout"), **p}, where)
        elif prevouts is not None:
            spent = prevouts.get(outpoint)
        sig = vin.get("scriptSig") or {}
        inputs.append(
            TxIn(
                prev_txid=vin.get("txid"),
                prev_vout=int(vin.get("vout")),
                address=spent.address if spent else None,
                value=spent.value if spent else None,
                script_type=spent.script_type if spent else None,
                sequence=vin.get("sequence"),
                script_asm=sig.get("asm") or "",
                script_hex=sig.get("hex") or "",
                required_signatures=spent.required_signatures if spent else None,
                witness=tuple(vin.get("txinwitness") or ()),
            )
        )
    outputs = tuple(_core_output(v, where) for v in tx.get("vout") or [])
    if block is not None:
        height, bhash, btime = block.get("height"), block.get("hash"), block.get("time")
    else:
        height, bhash, btime = tx.get("height"), tx.get("blockhash"), tx.get("blocktime")
    return BtcTx(
        txid=txid,
        block_height=height,
        block_hash=bhash,
        block_time=btime,
        index=index,
        version=int(tx.get("version", 1)),
        locktime=int(tx.get("locktime", 0)),
        size=tx.get("size"),
        vsize=tx.get("vsize"),
        weight=tx.get("weight"),
        inputs=tuple(inputs),
        outputs=outputs,
        coinbase=coinbase,
        coinbase_param=coinbase_param,
    )


def block_from_core(block: dict, prevouts: dict[str, TxOut] | None = None) -> list[BtcTx]:
    """Every transaction of a ``getblock <hash> 2|3`` result, in block order."""
    txs = block.get("tx") or []
    if txs and not isinstance(txs[0], dict):
        raise SourceError("getblock returned txids only: ask for verbosity 2 or 3")
    return [from_core(t, block, i, prevouts) for i, t in enumerate(txs)]


# ------------------------------------------------------------------------------ bitcoin-etl


def _etl_addresses(out: TxOut) -> list[str]:
    if out.addresses:
        return list(out.addresses)
    return [nonstandard_address(out.script_hex)]


def to_etl(tx: BtcTx) -> dict:
    """The row bitcoin-etl writes for ``tx`` (``transactions.json``), field for field.

    Outputs without an address become ``type: nonstandard`` with bitcoin-etl's stand-in address;
    inputs of an unenriched transaction carry ``value: null`` and count as 0 in ``input_value``
    (so ``fee`` is negative), exactly as bitcoin-etl writes them.
    """
    inputs = []
    for i, txin in enumerate(tx.inputs):
        known = txin.value is not None
        inputs.append(
            {
                "index": i,
                "spent_transaction_hash": txin.prev_txid,
                "spent_output_index": txin.prev_vout,
                "script_asm": txin.script_asm,
                "script_hex": txin.script_hex,
                "sequence": txin.sequence,
                "required_signatures": txin.required_signatures if known else None,
                "type": txin.script_type if known else None,
                "addresses": [txin.address] if known and txin.address else [],
                "value": txin.value,
            }
        )
    outputs = [
        {
            "index": o.index,
            "script_asm": o.script_asm,
            "script_hex": o.script_hex,
            "required_signatures": o.required_signatures,
            "type": o.script_type if o.addresses else "nonstandard",
            "addresses": _etl_addresses(o),
            "value": o.value,
        }
        for o in tx.outputs
    ]
    input_value = sum(i.value or 0 for i in tx.inputs)
    output_value = tx.output_value
    return {
        "hash": tx.txid,
        "size": tx.size,
        "virtual_size": tx.vsize,
        "version": tx.version,
        "lock_time": tx.locktime,
        "block_number": tx.block_height,
        "block_hash": tx.block_hash,
        "block_timestamp": tx.block_time,
        "is_coinbase": tx.coinbase,
        "index": tx.index,
        "inputs": inputs,
        "outputs": outputs,
        "input_count": len(inputs),
        "output_count": len(outputs),
        "input_value": input_value,
        "output_value": output_value,
        "fee": 0 if tx.coinbase else input_value - output_value,
    }


def _etl_output_address(addresses, script_hex: str | None, kind: str | None) -> tuple:
    addrs = tuple(a for a in (addresses or ()) if a)
    if script_hex and script_hex.startswith("6a"):
        return ()  # OP_RETURN: bitcoin-etl names it "nonstandard..."; it has no owner
    return addrs


def from_etl(row: dict) -> BtcTx:
    """A bitcoin-etl / BigQuery ``transactions`` row (dict with nested inputs/outputs)."""
    txid = row.get("hash")
    if not isinstance(txid, str) or not txid:
        raise SourceError("bitcoin-etl row without a transaction hash")
    where = f" in transaction {txid}"
    inputs = []
    for i in sorted(row.get("inputs") or [], key=lambda x: x.get("index") or 0):
        addrs = [a for a in (i.get("addresses") or ()) if a]
        inputs.append(
            TxIn(
                prev_txid=i.get("spent_transaction_hash"),
                prev_vout=int(i.get("spent_output_index")),
                address=addrs[0] if len(addrs) == 1 else None,
                value=parse_sat(i.get("value"), where),
                script_type=i.get("type"),
                sequence=i.get("sequence"),
                script_asm=i.get("script_asm") or "",
                script_hex=i.get("script_hex") or "",
                required_signatures=i.get("required_signatures"),
            )
        )
    outputs = []
    for o in sorted(row.get("outputs") or [], key=lambda x: x.get("index") or 0):
        script_hex = o.get("script_hex") or ""
        addrs = _etl_output_address(o.get("addresses"), script_hex, o.get("type"))
        kind = o.get("type") or "nonstandard"
        if script_hex.startswith("6a"):
            kind = "nulldata"
        value = parse_sat(o.get("value"), where)
        outputs.append(
            TxOut(
                index=int(o.get("index") or 0),
                value=0 if value is None else value,
                addresses=addrs,
                script_type=kind,
                script_hex=script_hex,
                script_asm=o.get("script_asm") or "",
                required_signatures=o.get("required_signatures"),
            )
        )
    block = row.get("block_number")
    return BtcTx(
        txid=txid,
        block_height=None if block is None else int(block),
        block_hash=row.get("block_hash"),
        block_time=None if row.get("block_timestamp") is None else int(row["block_timestamp"]),
        index=None if row.get("index") is None else int(row["index"]),
        version=int(row.get("version") or 1),
        locktime=int(row.get("lock_time") or 0),
        size=row.get("size"),
        vsize=row.get("virtual_size"),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        coinbase=bool(row.get("is_coinbase")),
    )


# ------------------------------------------------------------------------------ Esplora


def _esplora_output(o: dict, index: int, where: str) -> TxOut:
    script_hex = o.get("scriptpubkey") or ""
    kind = from_esplora_type(o.get("scriptpubkey_type")) or "nonstandard"
    address = o.get("scriptpubkey_address")
    if address:
        addrs: tuple[str, ...] = (address,)
    elif kind == "nulldata" or script_hex.startswith("6a"):
        addrs, kind = (), "nulldata"
    elif script_hex:
        addrs = (script_address(script_hex)[1],)  # p2pk key -> P2PKH, else bitcoin-etl stand-in
    else:
        addrs = ()
    value = o.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        value = parse_sat(value, where)
    return TxOut(
        index=index,
        value=value,
        addresses=addrs,
        script_type=kind,
        script_hex=script_hex,
        script_asm=o.get("scriptpubkey_asm") or "",
    )


def from_esplora(obj: dict) -> BtcTx:
    """An Esplora ``/tx/:txid`` object (also the items of ``/address/:a/txs``)."""
    txid = obj.get("txid")
    if not isinstance(txid, str):
        raise SourceError("Esplora transaction without txid")
    where = f" in transaction {txid}"
    inputs = []
    coinbase = False
    for vin in obj.get("vin") or []:
        if vin.get("is_coinbase"):
            coinbase = True
            continue
        prev = vin.get("prevout")
        spent = _esplora_output(prev, int(vin.get("vout", 0)), where) if prev else None
        inputs.append(
            TxIn(
                prev_txid=vin.get("txid"),
                prev_vout=int(vin.get("vout")),
                address=spent.address if spent else None,
                value=spent.value if spent else None,
                script_type=spent.script_type if spent else None,
                sequence=vin.get("sequence"),
                script_asm=vin.get("scriptsig_asm") or "",
                script_hex=vin.get("scriptsig") or "",
                witness=tuple(vin.get("witness") or ()),
            )
        )
    outputs = tuple(_esplora_output(o, n, where) for n, o in enumerate(obj.get("vout") or []))
    status = obj.get("status") or {}
    confirmed = bool(status.get("confirmed"))
    weight = obj.get("weight")
    return BtcTx(
        txid=txid,
        block_height=status.get("block_height") if confirmed else None,
        block_hash=status.get("block_hash") if confirmed else None,
        block_time=status.get("block_time") if confirmed else None,
        index=None,
        version=int(obj.get("version", 1)),
        locktime=int(obj.get("locktime", 0)),
        size=obj.get("size"),
        vsize=None if weight is None else (weight + 3) // 4,
        weight=weight,
        inputs=tuple(inputs),
        outputs=outputs,
        coinbase=coinbase,
    )


def _esplora_prevout(o: TxOut | None) -> dict | None:
    if o is None:
        return None
    d = {
        "scriptpubkey": o.script_hex,
        "scriptpubkey_asm": esplora_asm(o.script_hex) if o.script_hex else o.script_asm,
        "scriptpubkey_type": CORE_TO_ESPLORA.get(o.script_type, "unknown"),
    }
    if o.addresses and o.script_type not in ("nulldata", "nonstandard", "pubkey"):
        d["scriptpubkey_address"] = o.addresses[0]
    d["value"] = o.value
    return d


def to_esplora(tx: BtcTx, spent: dict[str, TxOut] | None = None, with_status: bool = True) -> dict:
    """Esplora's JSON for ``tx`` (as electrs serializes it: omitted fields, null coinbase
    prevout). ``spent`` maps outpoints to the spent outputs when the inputs do not carry them."""
    vin = []
    if tx.coinbase:
        vin.append(
            {
                "txid": "0" * 64,
                "vout": 4294967295,
                "prevout": None,
                "scriptsig": tx.coinbase_param or "",
                "scriptsig_asm": "",
                "is_coinbase": True,
                "sequence": 4294967295,
            }
        )
    for i in tx.inputs:
        prev = (spent or {}).get(i.outpoint)
        if prev is None and i.value is not None:
            script_hex = ""
            kind = i.script_type or "nonstandard"
            prev = TxOut(i.prev_vout, i.value, (i.address,) if i.address else (), kind, script_hex)
        item = {
            "txid": i.prev_txid,
            "vout": i.prev_vout,
            "prevout": _esplora_prevout(prev),
            "scriptsig": i.script_hex,
            "scriptsig_asm": i.script_asm,
        }
        if i.witness:
            item["witness"] = list(i.witness)
        item["is_coinbase"] = False
        item["sequence"] = i.sequence if i.sequence is not None else 4294967295
        vin.append(item)
    weight = tx.weight if tx.weight is not None else (tx.vsize or tx.size or 0) * 4
    d = {
        "txid": tx.txid,
        "version": tx.version,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [_esplora_prevout(o) for o in tx.outputs],
        "size": tx.size,
        "weight": weight,
        "fee": tx.fee if tx.fee is not None else 0,
    }
    if with_status:
        d["status"] = esplora_status(tx)
    return d


def esplora_status(tx: BtcTx) -> dict:
    if not tx.confirmed:
        return {"confirmed": False}
    return {
        "confirmed": True,
        "block_height": tx.block_height,
        "block_hash": tx.block_hash,
        "block_time": tx.block_time,
    }


def core_json(tx: BtcTx) -> dict:
    """A verbose Core transaction object for ``tx`` (used by the loopback RPC in tests)."""
    vin = []
    if tx.coinbase:
        vin.append({"coinbase": tx.coinbase_param or "00", "sequence": 4294967295})
    for i in tx.inputs:
        vin.append(
            {
                "txid": i.prev_txid,
                "vout": i.prev_vout,
                "scriptSig": {"asm": i.script_asm, "hex": i.script_hex},
                "sequence": i.sequence if i.sequence is not None else 4294967295,
            }
        )
    vout = []
    for o in tx.outputs:
        spk = {"asm": core_asm(o.script_hex) if o.script_hex else o.script_asm, "hex": o.script_hex}
        spk["type"] = o.script_type
        if o.address and o.script_type not in ("nulldata", "nonstandard"):
            spk["address"] = o.address
        vout.append({"value": Decimal(o.value) / SATOSHI, "n": o.index, "scriptPubKey": spk})
    return {
        "txid": tx.txid,
        "hash": tx.txid,
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }


# ------------------------------------------------------------------------------ ordering


def chain_order(txs: Iterable[BtcTx]) -> list[BtcTx]:
    """Confirmed transactions in chain order: block, then (inside a block) parents before the
    transactions spending them, then txid. Sources that know the in-block index (Core,
    bitcoin-etl) and those that do not (Esplora) give the same order."""
    txs = [t for t in txs if t.confirmed]
    by_block: dict[int, list[BtcTx]] = {}
    for t in txs:
        by_block.setdefault(t.block_height, []).append(t)  # type: ignore[arg-type]
    out: list[BtcTx] = []
    for height in sorted(by_block):
        depth = _depths(by_block[height])
        out.extend(sorted(by_block[height], key=lambda t: (depth[t.txid], t.txid)))
    return out


def _depths(group: list[BtcTx]) -> dict[str, int]:
    """Inside one block: 0 for a transaction spending nothing from the block, else 1 + the
    depth of its deepest parent in the block (iterative, no recursion limit)."""
    byid = {t.txid: t for t in group}
    depth: dict[str, int] = {}
    for start in sorted(byid):
        stack = [start]
        while stack:
            txid = stack[-1]
            if txid in depth:
                stack.pop()
                continue
            parents = [
                i.prev_txid
                for i in byid[txid].inputs
                if i.prev_txid in byid and i.prev_txid != txid
            ]
            todo = [p for p in parents if p not in depth and p not in stack]
            if todo:
                stack.extend(todo)
                continue
            depth[txid] = max((depth.get(p, 0) + 1 for p in parents), default=0)
            stack.pop()
    return depth


def order_key(tx: BtcTx, depth: int = 0) -> tuple:
    return (tx.block_height if tx.block_height is not None else 1 << 62, depth, tx.txid)
