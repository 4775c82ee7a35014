"""Exports: every file loads back with its own tool, hostile strings stay inert, output is stable."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import networkx as nx
import pytest
from lxml import etree

from tracer.exports import (
    EDGE_COLUMNS,
    FORMATS,
    NODE_COLUMNS,
    export_all,
    read_node_link_json,
    safe_cell,
    write_edges_csv,
    write_gexf,
    write_graphml,
    write_neo4j,
    write_node_link_json,
    write_nodes_csv,
    xml_safe,
)
from tracer.records import iso_utc

BIG = 2**200
HOSTILE_SYMBOL = '=HYPERLINK("http://x")'
HOSTILE_LABEL = "Hot wallet <script>alert(1)</script>\x00\x1b & co"

SEED = "0x1111111111111111111111111111111111111111"
MID = "0x2222222222222222222222222222222222222222"
DEPOSIT = "0x3333333333333333333333333333333333333333"
TOKEN = "0xdac17f958d2ee523a2206206994597c13d831ec7"
TRON_A = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRON_B = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
TRON_USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
BTC_A = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
BTC_B = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"


def _node(G: nx.MultiDiGraph, chain: str, address: str, role: str, hop: int, **extra) -> str:
    key = f"{chain}:{address}"
    G.add_node(
        key,
        address=address,
        chain=chain,
        role=role,
        entity=extra.pop("entity", ""),
        labels=extra.pop("labels", []),
        hop=hop,
        tainted_held=extra.pop("tainted_held", {}),
        tainted_received=extra.pop("tainted_received", {}),
        stop_reason=extra.pop("stop_reason", ""),
        degree_seen=extra.pop("degree_seen", 0),
        **extra,
    )
    return key


def _edge(G, u, v, *, tx, log_index=-1, kind="token", block=100, **attrs) -> str:
    key = {"native": f"{tx}:tx", "internal": f"{tx}:trace:{attrs.get('trace_address', '')}"}.get(
        kind, f"{tx}:{log_index}"
    )
    timestamp = 1_700_000_000 + block
    data = {
        "chain": G.nodes[u]["chain"],
        "asset": "native",
        "symbol": "ETH",
        "decimals": 18,
        "amount": 0,
        "tainted": 0,
        "tx_hash": tx,
        "log_index": log_index,
        "trace_address": "",
        "block": block,
        "timestamp": timestamp,
        "time": iso_utc(timestamp),
        "hop": 1,
        "kind": kind,
        "swap": "",
        "source": "duckdb:/data/eth",
        "parents": [],
    }
    data.update(attrs)
    G.add_edge(u, v, key=key, **data)
    return key


def build_graph(reverse: bool = False) -> nx.MultiDiGraph:
    """A small trace per docs/graph-schema.md; ``reverse`` inserts everything in reverse order."""
    G = nx.MultiDiGraph()
    G.graph.update(
        policy="fifo",
        seeds=[f"ethereum:{SEED}"],
        chain="ethereum",
        parameters={"max_hops": 5, "min_amount": 2**70},
        tracer_version="0.1.0",
    )
    nodes = [
        ("ethereum", SEED, "seed", 0, {"tainted_received": {}}),
        (
            "ethereum",
            MID,
            "intermediate",
            1,
            {
                "labels": [
                    {
                        "label": HOSTILE_LABEL,
                        "category": "=cmd|' /C calc'!A0",
                        "entity": "",
                        "source": "labels.csv",
                        "confidence": 40,
                    }
                ],
                "tainted_received": {"native": 10**18, TOKEN: BIG},
                "tainted_held": {TOKEN: BIG - 5},
                "degree_seen": 7,
            },
        ),
        (
            "ethereum",
            DEPOSIT,
            "deposit",
            2,
            {
                "entity": "@Binance\ud800",
                "stop_reason": "exchange",
                "labels": [
                    {
                        "label": "Binance 14",
                        "category": "exchange",
                        "entity": "Binance",
                        "source": "etherscan",
                        "confidence": 95,
                    }
                ],
            },
        ),
        ("tron", TRON_A, "intermediate", 1, {"tainted_received": {TRON_USDT: 5_000_000}}),
        ("tron", TRON_B, "holder", 2, {"tainted_held": {TRON_USDT: 2_500_000}}),
        ("bitcoin", BTC_A, "seed", 0, {}),
        ("bitcoin", BTC_B, "mixer", 1, {"stop_reason": "mixer"}),
    ]
    for chain, address, role, hop, extra in reversed(nodes) if reverse else nodes:
        _node(G, chain, address, role, hop, **extra)

    s, m, d = f"ethereum:{SEED}", f"ethereum:{MID}", f"ethereum:{DEPOSIT}"
    ta, tb, ba, bb = f"tron:{TRON_A}", f"tron:{TRON_B}", f"bitcoin:{BTC_A}", f"bitcoin:{BTC_B}"
    edges = [
        (s, m, {"tx": "0xaa", "kind": "native", "amount": 10**18, "tainted": 10**18}),
        (
            s,
            m,
            {
                "tx": "0xab",
                "log_index": 3,
                "asset": TOKEN,
                "symbol": HOSTILE_SYMBOL,
                "amount": BIG,
                "tainted": BIG,
            },
        ),
        (
            m,
            d,
            {
                "tx": "0xac",
                "block": 105,
                "kind": "internal",
                "trace_address": "0,1",
                "amount": 5 * 10**17,
                "tainted": 5 * 10**17,
                "hop": 2,
                "parents": ["0xaa:tx"],
            },
        ),
        (
            m,
            d,
            {
                "tx": "0xad",
                "block": 106,
                "log_index": 0,
                "asset": "0x4444444444444444444444444444444444444444",
                "symbol": "-2+3",
                "decimals": -1,
                "amount": 12345,
                "tainted": 0,
                "hop": 2,
                "swap": "in",
                "parents": ["0xab:3", "0xaa:tx"],
            },
        ),
        (
            ta,
            tb,
            {
                "tx": "f" * 64,
                "block": 60_000_000,
                "log_index": 1,
                "asset": TRON_USDT,
                "symbol": "USDT",
                "decimals": 6,
                "amount": 2_500_000,
                "tainted": 2_500_000,
                "source": "rpc:api.trongrid.io",
            },
        ),
        (
            ba,
            bb,
            {
                "tx": "e" * 64,
                "block": 800_000,
                "log_index": 1,
                "kind": "utxo",
                "symbol": "BTC",
                "decimals": 8,
                "amount": 150_000_000,
                "tainted": 150_000_000,
            },
        ),
    ]
    for u, v, attrs in reversed(edges) if reverse else edges:
        _edge(G, u, v, **attrs)
    return G


@pytest.fixture()
def graph() -> nx.MultiDiGraph:
    return build_graph()


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _dict_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- guards


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        (HOSTILE_SYMBOL, "'" + HOSTILE_SYMBOL),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "' =1"),
        ("\r=1", "' =1"),
        ("  =1", "'  =1"),
        ("-1", "-1"),
        ("+2.5", "+2.5"),
        (-1, "-1"),
        (2**200, str(2**200)),
        (None, ""),
        ("USDT", "USDT"),
        ("a\x00b\x1bc", "abc"),
        ("line\nbreak", "line break"),
        ("lone\ud800", "lone\ufffd"),
        ("Binance 14", "Binance 14"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_xml_safe_strips_only_illegal_characters():
    text = "a\x00b\x1b\x08c\ud800\udfff\ufffe\uffffd\t\n\r<&>é漢🙂"
    assert xml_safe(text) == "abcd\t\n\r<&>é漢🙂"
    assert xml_safe(None) == ""
    assert xml_safe(5) == "5"


# --------------------------------------------------------------------------- GraphML / GEXF


def test_graphml_round_trip(graph, tmp_path):
    path = write_graphml(graph, tmp_path / "g.graphml")
    etree.parse(str(path))  # strict XML parse, hostile strings included
    H = nx.read_graphml(path, force_multigraph=True)
    assert set(H.nodes) == set(graph.nodes)
    assert sorted((u, v, k) for u, v, k in H.edges(keys=True)) == sorted(graph.edges(keys=True))

    token = H.edges[f"ethereum:{SEED}", f"ethereum:{MID}", "0xab:3"]
    assert token["amount"] == str(BIG) and token["tainted"] == str(BIG)
    assert token["amount_display"] == _units(BIG, 18)
    assert token["symbol"] == HOSTILE_SYMBOL
    assert token["block"] == 100 and token["log_index"] == 3
    assert H.edges[f"ethereum:{MID}", f"ethereum:{DEPOSIT}", "0xac:trace:0,1"]["parents"] == (
        '["0xaa:tx"]'
    )
    unknown = H.edges[f"ethereum:{MID}", f"ethereum:{DEPOSIT}", "0xad:0"]
    assert unknown["decimals"] == -1
    assert unknown.get("amount_display", "") == ""  # networkx < 3.3 drops empty <data>

    mid = H.nodes[f"ethereum:{MID}"]
    labels = json.loads(mid["labels"])
    assert labels[0]["label"] == HOSTILE_LABEL  # JSON escapes the controls: XML-legal, exact
    assert json.loads(mid["tainted_received"]) == {"native": str(10**18), TOKEN: str(BIG)}
    assert json.loads(mid["tainted_held_display"])[TOKEN] == _units(BIG - 5, 18)
    assert H.nodes[f"ethereum:{DEPOSIT}"]["entity"] == "@Binance"  # lone surrogate dropped
    assert H.graph["policy"] == "fifo"
    assert json.loads(H.graph["parameters"]) == {"max_hops": 5, "min_amount": 2**70}


def _units(amount: int, decimals: int) -> str:
    from tracer.records import format_units

    return format_units(amount, decimals)


def test_gexf_round_trip(graph, tmp_path):
    path = write_gexf(graph, tmp_path / "g.gexf")
    raw = path.read_bytes()
    assert b"lastmodifieddate" not in raw
    etree.parse(str(path))
    H = nx.read_gexf(path)
    assert set(H.nodes) == set(graph.nodes)
    assert sorted(H.edges(keys=True)) == sorted(graph.edges(keys=True))
    for node, data in H.nodes(data=True):
        assert data["label"].startswith(graph.nodes[node]["address"])
    assert H.nodes[f"ethereum:{DEPOSIT}"]["label"] == f"{DEPOSIT} (@Binance)"
    token = H.edges[f"ethereum:{SEED}", f"ethereum:{MID}", "0xab:3"]
    assert token["amount"] == str(BIG)
    assert token["symbol"] == HOSTILE_SYMBOL
    assert token["id"] == "0xab:3"
    assert "<script>" in H.nodes[f"ethereum:{MID}"]["labels"]


def test_xml_exports_survive_any_string(tmp_path):
    G = nx.MultiDiGraph()
    nasty = "".join(chr(c) for c in range(0x20)) + "\ud800\udc00\ufffe\uffff]]><!--&\x7f\x85"
    G.add_node("ethereum:0xa", address="0xa", chain="ethereum", role="seed", entity=nasty)
    G.add_node("ethereum:0xb", address="0xb", chain="ethereum", role=nasty, labels=[{"x": nasty}])
    G.add_edge("ethereum:0xa", "ethereum:0xb", key=f"k{nasty}", symbol=nasty, amount=-(2**70))
    for writer, reader in ((write_graphml, nx.read_graphml), (write_gexf, nx.read_gexf)):
        path = writer(G, tmp_path / f"nasty.{writer.__name__}")
        etree.parse(str(path))
        H = reader(path)
        assert H.number_of_edges() == 1
    write_node_link_json(G, tmp_path / "nasty.json")
    json.loads((tmp_path / "nasty.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- JSON


def test_node_link_json_round_trip(graph, tmp_path):
    path = write_node_link_json(graph, tmp_path / "g.json")
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    assert list(document) == sorted(document)  # sort_keys
    token = next(e for e in document["edges"] if e["key"] == "0xab:3")
    assert token["amount"] == str(BIG) and token["source"] == "duckdb:/data/eth"
    assert token["from"] == f"ethereum:{SEED}" and token["to"] == f"ethereum:{MID}"
    blocks = [e["block"] for e in document["edges"]]
    assert blocks == sorted(blocks)

    kwargs = {"source": "from", "target": "to"}
    try:
        H = nx.node_link_graph(document, edges="edges", **kwargs)
    except TypeError:  # networkx < 3.4
        H = nx.node_link_graph(document, link="edges", **kwargs)
    assert set(H.nodes) == set(graph.nodes)
    assert sorted(H.edges(keys=True)) == sorted(graph.edges(keys=True))

    back = read_node_link_json(path)
    for u, v, k, data in graph.edges(keys=True, data=True):
        assert back.edges[u, v, k] == data
    for node, data in graph.nodes(data=True):
        expected = dict(data)
        if node == f"ethereum:{DEPOSIT}":
            expected["entity"] = "@Binance\ufffd"  # unencodable surrogate replaced
        assert back.nodes[node] == expected
    assert back.graph == graph.graph


# --------------------------------------------------------------------------- CSV


def test_edges_csv(graph, tmp_path):
    rows = _read_csv(write_edges_csv(graph, tmp_path / "edges.csv"))
    assert tuple(rows[0]) == EDGE_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == graph.number_of_edges()
    keys = [(int(r["block"]), r["tx_hash"], int(r["log_index"]), r["key"]) for r in records]
    assert keys == sorted(keys)

    token = next(r for r in records if r["key"] == "0xab:3")
    assert token["symbol"] == "'" + HOSTILE_SYMBOL
    assert token["amount"] == str(BIG) and int(token["tainted"]) == BIG
    assert token["amount_display"] == _units(BIG, 18)
    assert token["from_address"] == SEED and token["from_node"] == f"ethereum:{SEED}"
    native = next(r for r in records if r["key"] == "0xaa:tx")
    assert native["log_index"] == "-1"  # numeric column, not guarded
    assert native["amount_display"] == "1"
    swap = next(r for r in records if r["key"] == "0xad:0")
    assert swap["decimals"] == "-1" and swap["amount_display"] == ""
    assert swap["symbol"] == "'-2+3"
    assert json.loads(swap["parents"]) == ["0xab:3", "0xaa:tx"]
    btc = next(r for r in records if r["chain"] == "bitcoin")
    assert btc["to_address"] == BTC_B and btc["amount_display"] == "1.5"
    _assert_no_formula_or_control(rows[1:], numeric={"decimals", "log_index"}, header=rows[0])


def _assert_no_formula_or_control(rows, numeric, header):
    for row in rows:
        for name, cell in zip(header, row, strict=True):
            assert not re.search(r"[\x00-\x1f\x7f]", cell), (name, cell)
            if name not in numeric and cell[:1] in ("=", "+", "@"):
                pytest.fail(f"unguarded cell {name}={cell!r}")


def test_nodes_csv(graph, tmp_path):
    rows = _read_csv(write_nodes_csv(graph, tmp_path / "nodes.csv"))
    assert tuple(rows[0]) == NODE_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["node"] for r in records] == sorted(graph.nodes)
    mid = next(r for r in records if r["address"] == MID)
    assert json.loads(mid["tainted_received"]) == {"native": str(10**18), TOKEN: str(BIG)}
    assert json.loads(mid["tainted_received_display"]) == {"native": "1", TOKEN: _units(BIG, 18)}
    assert json.loads(mid["labels"])[0]["category"] == "=cmd|' /C calc'!A0"  # inside JSON: inert
    assert "\\u0000" in mid["labels"] and "\x00" not in mid["labels"]
    deposit = next(r for r in records if r["address"] == DEPOSIT)
    assert deposit["entity"] == "'@Binance\ufffd"
    tron = next(r for r in records if r["address"] == TRON_B)
    assert json.loads(tron["tainted_held_display"]) == {TRON_USDT: "2.5"}
    assert tron["hop"] == "2" and tron["degree_seen"] == "0"
    _assert_no_formula_or_control(rows[1:], numeric=set(), header=rows[0])


# --------------------------------------------------------------------------- Neo4j

_NEO4J_FIELD = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)?"
    r"(?::(?P<type>ID\(Address\)|START_ID\(Address\)|END_ID\(Address\)|TYPE|LABEL"
    r"|int|long|string|datetime|string\[\]))?$"
)


def test_neo4j(graph, tmp_path):
    directory = write_neo4j(graph, tmp_path / "neo4j")
    nodes = _read_csv(directory / "nodes.csv")
    rels = _read_csv(directory / "relationships.csv")
    for field in nodes[0] + rels[0]:
        assert _NEO4J_FIELD.match(field), field
        assert _NEO4J_FIELD.match(field).group(0), field
    assert nodes[0][0] == "key:ID(Address)" and ":LABEL" in nodes[0]
    assert {"hop:int", "degree_seen:int"} <= set(nodes[0])
    assert rels[0][:3] == [":START_ID(Address)", ":END_ID(Address)", ":TYPE"]
    assert {"timestamp:long", "block:long", "hop:int", "log_index:int"} <= set(rels[0])
    assert "amount" in rels[0] and "tainted" in rels[0]  # strings: they exceed long

    node_rows = [dict(zip(nodes[0], row, strict=True)) for row in nodes[1:]]
    ids = {row["key:ID(Address)"] for row in node_rows}
    assert ids == set(graph.nodes)
    labels = {row["address"]: row[":LABEL"] for row in node_rows}
    assert labels[DEPOSIT] == "Address;Deposit" and labels[BTC_B] == "Address;Mixer"
    for row in node_rows:
        assert row[":LABEL"].split(";")[0] == "Address"

    rel_rows = [dict(zip(rels[0], row, strict=True)) for row in rels[1:]]
    assert len(rel_rows) == graph.number_of_edges()
    for row in rel_rows:
        assert row[":START_ID(Address)"] in ids and row[":END_ID(Address)"] in ids
        assert row[":TYPE"] == "TRANSFER"
        for typed in ("timestamp:long", "block:long", "hop:int", "log_index:int", "decimals:int"):
            assert re.fullmatch(r"-?\d+", row[typed]), (typed, row[typed])
    token = next(r for r in rel_rows if r["key"] == "0xab:3")
    assert token["amount"] == str(BIG) and token["symbol"] == "'" + HOSTILE_SYMBOL
    swap = next(r for r in rel_rows if r["key"] == "0xad:0")
    assert swap["parents:string[]"] == "0xab:3;0xaa:tx"
    assert swap["time:datetime"].endswith("Z")

    script = (directory / "import.sh").read_text(encoding="utf-8")
    assert "neo4j-admin database import full" in script
    assert '--nodes=Address="$DIR/nodes.csv"' in script
    assert '--relationships=TRANSFER="$DIR/relationships.csv"' in script


# --------------------------------------------------------------------------- export_all


def test_export_all_is_deterministic(tmp_path):
    first = export_all(build_graph(), tmp_path / "a")
    second = export_all(build_graph(reverse=True), tmp_path / "b")
    assert list(first) == list(FORMATS)
    assert {k: p.relative_to(tmp_path / "a") for k, p in first.items()} == {
        k: p.relative_to(tmp_path / "b") for k, p in second.items()
    }
    assert first["graphml"] == tmp_path / "a" / "graph.graphml"
    assert first["neo4j"].is_dir()
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    assert {str(p) for p in files_a} == {
        "graph.graphml",
        "graph.gexf",
        "graph.json",
        "edges.csv",
        "nodes.csv",
        "neo4j/nodes.csv",
        "neo4j/relationships.csv",
        "neo4j/import.sh",
    }
    for rel in files_a:
        data = (tmp_path / "a" / rel).read_bytes()
        assert data == (tmp_path / "b" / rel).read_bytes(), rel
        assert b"\r\n" not in data, rel
        data.decode("utf-8")


def test_export_all_subset_and_unknown(graph, tmp_path):
    paths = export_all(graph, tmp_path / "out", formats=["edges_csv", "json"])
    assert list(paths) == ["json", "edges_csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["edges.csv", "graph.json"]
    with pytest.raises(ValueError, match="unknown export format"):
        export_all(graph, tmp_path / "out", formats=["xlsx"])


def test_duplicate_transfer_keys_get_unique_xml_ids(tmp_path):
    G = nx.MultiDiGraph()
    for n in ("bitcoin:a", "bitcoin:b", "bitcoin:c"):
        G.add_node(n, address=n.split(":")[1], chain="bitcoin")
    G.add_edge("bitcoin:a", "bitcoin:c", key="tx:0", amount=1)
    G.add_edge("bitcoin:b", "bitcoin:c", key="tx:0", amount=2)
    H = nx.read_graphml(write_graphml(G, tmp_path / "d.graphml"))
    assert H.number_of_edges() == 2
    H = nx.read_gexf(write_gexf(G, tmp_path / "d.gexf"))
    assert H.number_of_edges() == 2
