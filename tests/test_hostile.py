"""Labels, entity names, token symbols and even transaction hashes come from strangers.

A trace over a MemorySource whose labels (a TagPack), token symbol, issuer name and one
transaction hash carry HTML, script-breaking sequences, spreadsheet formulas, control characters,
bidi overrides and line separators; and the bundled sandbox traced through the CLI with its
labels replaced by the same strings. Every output must stay inert: report.html (checked as text
and in headless Chromium: no dialog, no error, no request, the text shown literally), packets
(Markdown rendered to HTML has no markup from the data; CSV cells cannot be formulas; file names
are slugs), flags.csv, GraphML/GEXF (valid XML), and the terminal.
"""

from __future__ import annotations

import csv
import html.parser
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import tracer
from tracer.chains import CHAINS, Asset
from tracer.cli import cli
from tracer.packets import build_packets
from tracer.records import Transfer
from tracer.sandbox import SANDBOX_DIR
from tracer.sources.memory import MemorySource

HOSTILE = {
    "img": "<img src=x onerror=alert(1)>",
    "formula": '=HYPERLINK("http://evil.example","click")',
    "script": "</script><script>alert(2)</script>",
    "comment": "<!--<script>alert(3)//",
    "controls": "Ex\x00ch\x07ange\x1b[31m\r\n\tB",
    "rtl": "Exchange \u202egnp.exe",
    "separators": "line\u2028sep\u2029para",
    "plus": "+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "md": "[click](http://evil.example) ![x](http://evil.example/x.png) *bold* `code` | cell",
}
ETH = 10**18


def _addr(n: int) -> str:
    return f"0x{n:040x}"


SEED, DEP, HOT, MIXER, HOLDER, DEP2 = (_addr(0x1000 + i) for i in range(6))
TOKEN = _addr(0x7777)  # an unregistered token with a hostile symbol
STABLE = _addr(0x5555)  # a stablecoin whose issuer name is hostile
BAD_TX = "0x" + "ab" * 28 + "</script><img src=x>"


class HostileSource(MemorySource):
    def token_symbols(self):
        return {TOKEN: (HOSTILE["script"] + HOSTILE["formula"], 6)}


def _tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def _transfers() -> list[Transfer]:
    def t(i, asset, frm, to, amount, block, kind="token", tx=None):
        return Transfer(
            "ethereum",
            asset,
            frm,
            to,
            amount,
            18 if asset == "native" else 6,
            tx or _tx(i),
            i if kind == "token" else None,
            block,
            1_700_000_000 + block * 12,
            0,
            True,
            "memory",
            kind,
        )

    return [
        t(1, "native", _addr(0x9999), SEED, 100 * ETH, 10, "native"),
        t(2, TOKEN, _addr(0x9999), SEED, 5_000_000, 10),
        t(3, STABLE, _addr(0x9999), SEED, 9_000_000, 10),
        # the token into a labelled deposit address, swept to the labelled hot wallet
        t(4, TOKEN, SEED, DEP, 5_000_000, 20, tx=BAD_TX),
        t(5, TOKEN, DEP, HOT, 5_000_000, 30),
        # ETH: a behaviour-only deposit, a mixer
        t(6, "native", SEED, DEP2, 40 * ETH, 21, "native"),
        t(7, "native", DEP2, HOT, 40 * ETH - 10**15, 31, "native"),
        t(8, "native", SEED, MIXER, 50 * ETH, 22, "native"),
        # the stablecoin left at a holder and at the seed
        t(9, STABLE, SEED, HOLDER, 6_000_000, 23),
    ]


def _tagpack(path: Path) -> Path:
    tags = [
        {
            "address": HOT,
            "label": HOSTILE["img"],
            "category": "exchange",
            "actor": HOSTILE["formula"],
            "source": HOSTILE["script"],
        },
        {
            "address": DEP,
            "label": HOSTILE["controls"] + HOSTILE["rtl"],
            "category": "deposit",
            "actor": HOSTILE["formula"],
            "source": HOSTILE["separators"],
        },
        {
            "address": MIXER,
            "label": HOSTILE["comment"] + HOSTILE["md"],
            "category": "mixing_service",
            "actor": HOSTILE["plus"],
            "source": HOSTILE["at"] + HOSTILE["minus"],
        },
    ]
    doc = {
        "title": HOSTILE["script"],
        "creator": HOSTILE["img"],
        "currency": "ETH",
        "confidence": "ownership",
        "tags": tags,
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_trace(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    patch = pytest.MonkeyPatch()
    patch.setitem(
        CHAINS["ethereum"].assets,
        STABLE,
        Asset(
            "ethereum", STABLE, HOSTILE["at"], 6, HOSTILE["img"] + HOSTILE["rtl"] + "/../../x", True
        ),
    )
    try:
        result = tracer.trace(
            [SEED],
            chain="ethereum",
            source=HostileSource(_transfers()),
            labels=[_tagpack(base / "labels.yaml")],
            assets=["native", TOKEN, STABLE],
        )
        out = base / "out"
        result.export(out)
    finally:
        patch.undo()
    kinds = {(f.kind, f.address) for f in result.flag_list}
    assert ("exchange_deposit", DEP) in kinds and ("exchange_deposit", DEP2) in kinds
    assert ("mixer", MIXER) in kinds and ("freezable_balance", HOLDER) in kinds
    return out


def _everything_hostile_appears_escaped(text: str) -> None:
    assert "<img" not in text.lower()
    assert text.count("<script") == 2 and text.count("</script>") == 2  # ours: data + code
    assert "<!--" not in text
    assert "\u2028" not in text and "\u2029" not in text and "\u202e" not in text
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(k, v or "") for k, v in attrs]


def test_report_keeps_hostile_strings_inert(hostile_trace):
    text = (hostile_trace / "report.html").read_text(encoding="utf-8")
    _everything_hostile_appears_escaped(text)
    parser = _Tags()
    parser.feed(text)
    allowed = {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "h1",
        "h2",
        "p",
        "b",
        "code",
        "ul",
        "li",
        "main",
        "section",
        "div",
        "svg",
        "defs",
        "marker",
        "path",
        "g",
        "button",
        "aside",
        "noscript",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "span",
        "dl",
        "dt",
        "dd",
        "br",
        "footer",
        "script",
        "i",
    }
    assert parser.tags <= allowed, parser.tags - allowed
    assert not any(k.startswith("on") for k, _ in parser.attrs)
    # the data block parses back to the strings (made visible: controls and bidi marked)
    block = text.split('<script type="application/json" id="tracer-data">')[1].split("</script>")[0]
    payload = json.loads(block)
    labels = [lab["label"] for n in payload["nodes"] for lab in n["labels"]]
    assert HOSTILE["img"] in labels
    assert any("[U+202E]" in lab and "[U+0000]" in lab and "[U+001B]" in lab for lab in labels)
    assert HOSTILE["comment"] + HOSTILE["md"] in labels
    symbols = {f["symbol"] for f in payload["flags"].values()}
    assert HOSTILE["script"] + HOSTILE["formula"] in symbols
    # explorer links are percent-encoded, never a way out of the attribute
    hop = next(
        h for f in payload["flags"].values() for h in f["evidence_path"] if h["tx_hash"] == BAD_TX
    )
    assert hop["tx_url"].startswith("https://etherscan.io/tx/0xabab") and "<" not in hop["tx_url"]


def test_report_in_chromium_runs_no_hostile_code(hostile_trace, tmp_path):
    from test_report import HAVE_CHROMIUM, Chromium

    if not HAVE_CHROMIUM:
        pytest.skip("Chromium not installed (apt-get install chromium; scripts/test.sh)")
    b = Chromium(tmp_path)
    try:
        page = hostile_trace / "report.html"
        b.open(page)
        shown = []
        for node in (HOT, DEP, MIXER, HOLDER):
            b.eval(f"window.tracerReport.select('ethereum:{node}')")
            shown.append(b.eval("document.getElementById('panel').innerText"))
        b.pump(0.5)
        assert b.problems() == []  # no alert() dialog, no exception, no CSP violation
        assert b.requests() == [page.resolve().as_uri()]  # no <img src=x> fetched
        assert b.eval("document.querySelectorAll('img, iframe, object, embed').length") == 0
        assert b.eval("document.querySelectorAll('script').length") == 2
        text = "\n".join(shown)
        assert HOSTILE["img"] in text  # shown literally
        assert "=HYPERLINK(" in text and "[U+202E]" in text
        assert b.eval("document.querySelectorAll('#graph g.node').length") == 6
        b.screenshot(tmp_path / "hostile.png")
    finally:
        b.close()


def test_csv_cells_cannot_be_formulas(hostile_trace, tmp_path):
    build_packets(hostile_trace, tmp_path / "packets")
    files = [hostile_trace / "flags.csv", hostile_trace / "nodes.csv", hostile_trace / "edges.csv"]
    files += sorted((tmp_path / "packets").glob("*.csv"))
    seen_guarded = 0
    for path in files:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]", cell), (
                        path.name,
                        cell,
                    )
                    stripped = cell.lstrip(" ")
                    if stripped[:1] in ("=", "+", "-", "@"):
                        assert re.fullmatch(r"[+-]?\d+(\.\d+)?", stripped), (path.name, cell)
                    if cell.startswith("'=") or cell.startswith("'+") or cell.startswith("'@"):
                        seen_guarded += 1
    assert seen_guarded >= 3  # the formulas were there, and were guarded


def test_markdown_packets_render_without_markup_from_the_data(hostile_trace, tmp_path):
    from markdown_it import MarkdownIt

    out = tmp_path / "packets"
    files = build_packets(hostile_trace, out)
    for p in files:  # slugs only, all inside OUT
        assert p.parent == out and re.fullmatch(r"[a-z0-9-]+(\.md|\.csv)", p.name), p.name
    mdit = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    issuer = [p for p in files if p.name.startswith("issuer-")]
    assert issuer and all("x" in p.name for p in issuer)  # "../../x" became part of a slug
    for p in files:
        if p.suffix != ".md":
            continue
        text = p.read_text(encoding="utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202e]", text)
        rendered = mdit.render(text)
        parser = _Tags()
        parser.feed(rendered)
        assert parser.tags <= {
            "h1",
            "h2",
            "h3",
            "p",
            "ul",
            "li",
            "strong",
            "em",
            "code",
            "a",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
        }, parser.tags
        hrefs = [v for k, v in parser.attrs if k == "href"]
        assert all(
            h.startswith("https://etherscan.io/") or re.fullmatch(r"[a-z0-9-]+\.md", h)
            for h in hrefs
        ), hrefs
        assert "evil.example" not in "".join(hrefs)
    tether = issuer[0].read_text(encoding="utf-8")
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in tether  # escaped, still readable


def test_graph_files_are_valid_xml(hostile_trace):
    from lxml import etree

    for name in ("graph.graphml", "graph.gexf"):
        tree = etree.parse(str(hostile_trace / name))
        assert "<img src=x onerror=alert(1)>" in etree.tostring(tree, encoding="unicode").replace(
            "&lt;", "<"
        ).replace("&gt;", ">")


def test_terminal_listing_strips_controls(hostile_trace):
    run = CliRunner().invoke(cli, ["review", str(hostile_trace)])
    assert run.exit_code == 0, run.output
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e\u2028\u2029]", run.output)
    assert "=HYPERLINK(" in run.output


def test_sandbox_with_hostile_labels_through_the_cli(tmp_path):
    data = tmp_path / "sandbox"
    shutil.copytree(SANDBOX_DIR, data, ignore=shutil.ignore_patterns(".tracer"))
    pack = yaml.safe_load((data / "labels.yaml").read_text(encoding="utf-8"))
    for i, tag in enumerate(pack["tags"]):
        tag["label"] = [HOSTILE["img"], HOSTILE["script"], HOSTILE["comment"], HOSTILE["rtl"]][
            i % 4
        ]
        tag["actor"] = [HOSTILE["formula"], HOSTILE["plus"], HOSTILE["at"]][i % 3]
    pack["source"] = HOSTILE["separators"] + HOSTILE["controls"]
    (data / "labels.yaml").write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
    case = json.loads((data / "case.json").read_text())
    out = tmp_path / "out"
    run = CliRunner().invoke(
        cli,
        [
            "trace",
            case["seeds"][0]["address"],
            "--data",
            str(data),
            "--labels",
            str(data / "labels.yaml"),
            "--since",
            str(case["since"]),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert run.exit_code == 0, run.output
    _everything_hostile_appears_escaped((out / "report.html").read_text(encoding="utf-8"))
    run = CliRunner().invoke(cli, ["packets", str(out), "--out", str(tmp_path / "packets")])
    assert run.exit_code == 0, run.output
    names = [p.name for p in (tmp_path / "packets").iterdir()]
    assert all(re.fullmatch(r"[a-z0-9-]+\.(md|csv)", n) for n in names), names
    assert any(n.startswith("exchange-hyperlink-http") for n in names)
