"""ERC-20 ``Transfer`` log decoding, without an ABI library.

``Transfer(address indexed from, address indexed to, uint256 value)`` has topic0
:data:`TRANSFER_TOPIC`, the two padded addresses in topics 1 and 2, and the value as one 32-byte
word of data. ERC-721 emits the same topic0 with a fourth topic (the token id) and no data: it is
not a fungible transfer and is rejected here, as is every log that does not have exactly three
topics and exactly 32 bytes of data (early tokens that did not index ``from``/``to`` included).

Addresses are taken from the low 20 bytes of the topics, as ethereum-etl and BigQuery's
``token_transfers`` do. Decoding is plain slicing and ``int(x, 16)``: generic ABI decoding costs
about a millisecond per event, this costs about a microsecond.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tracer.records import Transfer

#: keccak-256 of ``Transfer(address,address,uint256)``.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

_HEX = frozenset("0123456789abcdefABCDEF")


def _hex_text(value) -> str | None:
    """A hex string with its 0x prefix, from str, bytes or HexBytes; None if neither."""
    if isinstance(value, str):
        return value if value[:2] in ("0x", "0X") else "0x" + value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    return None


def _split_topics(topics) -> list | None:
    if topics is None:
        return None
    if isinstance(topics, str):
        # ethereum-etl CSV writes the topics comma-joined; tolerate JSON-ish brackets and quotes
        text = topics.strip().strip("[]")
        return [t.strip().strip("'\"") for t in text.split(",") if t.strip()] if text else []
    if isinstance(topics, Sequence) or hasattr(topics, "__iter__"):
        return list(topics)
    return None


def _topic_address(topic) -> str | None:
    text = _hex_text(topic)
    if text is None or len(text) != 66 or not _HEX.issuperset(text[2:]):
        return None
    return "0x" + text[26:].lower()


def decode_transfer_log(address, topics, data) -> tuple[str, str, int] | None:
    """``(from, to, value)`` of an ERC-20 ``Transfer`` log, or None if the log is anything else.

    ``address`` is the emitting contract (kept for symmetry with the log; not needed to decode).
    ``topics`` is a list of hex strings (or bytes), or one comma-joined string as in
    ethereum-etl's ``logs.csv``. ``data`` is the hex data (or bytes). Malformed input gives None.
    """
    topics = _split_topics(topics)
    if not topics or len(topics) != 3:
        return None
    topic0 = _hex_text(topics[0])
    if topic0 is None or topic0.lower() != TRANSFER_TOPIC:
        return None
    sender = _topic_address(topics[1])
    receiver = _topic_address(topics[2])
    text = _hex_text(data)
    if sender is None or receiver is None or text is None or len(text) != 66:
        return None
    try:
        value = int(text[2:], 16)
    except ValueError:
        return None
    return sender, receiver, value


def _int(value, default=None) -> int | None:
    """JSON-RPC quantities are hex strings; tolerate ints and decimal strings."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    try:
        text = str(value)
        return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
    except ValueError:
        return default


def transfer_from_rpc_log(
    log: Mapping,
    *,
    chain: str = "ethereum",
    timestamp: int | None = None,
    decimals: int | None = None,
    success: bool = True,
    source: str = "rpc",
) -> Transfer | None:
    """A :class:`Transfer` from one JSON-RPC log object (``eth_getLogs`` / ``eth_getFilterLogs``).

    Returns None for logs that are not fungible Transfer events, for malformed logs and for logs
    marked ``removed`` (dropped by a reorg). The block time comes from ``timestamp`` or, when the
    node supplies it, the log's ``blockTimestamp``; otherwise it is 0 and the caller must fill it
    from the block.
    """
    if log.get("removed") is True:
        return None
    token = _hex_text(log.get("address"))
    decoded = decode_transfer_log(token, log.get("topics"), log.get("data"))
    if decoded is None or token is None or len(token) != 42:
        return None
    tx_hash = _hex_text(log.get("transactionHash"))
    block = _int(log.get("blockNumber"))
    log_index = _int(log.get("logIndex"))
    if tx_hash is None or block is None or log_index is None:
        return None
    if timestamp is None:
        timestamp = _int(log.get("blockTimestamp"), 0)
    sender, receiver, value = decoded
    return Transfer(
        chain=chain,
        asset=token.lower(),
        from_address=sender,
        to_address=receiver,
        amount=value,
        decimals=decimals,
        tx_hash=tx_hash.lower(),
        log_index=log_index,
        block_number=block,
        timestamp=timestamp,
        tx_index=_int(log.get("transactionIndex"), 0),
        success=success,
        source=source,
        kind="token",
    )
