"""report.html in a real headless Chromium, driven over the Chrome DevTools protocol.

The page must load from file:// without a console error, a CSP violation or a single network
request, draw one SVG node per address of the trace, pan and zoom, show a node's flags and
evidence when it is clicked (a real mouse event at the node's position), and be byte-identical
for the same trace. A screenshot is saved under the test's tmp dir.

Chromium: Debian's /usr/bin/chromium (scripts/test.sh installs it; $TRACER_CHROMIUM overrides).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracer.cli import cli

CHROMIUM = os.environ.get("TRACER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)
needs_chromium = pytest.mark.skipif(
    not HAVE_CHROMIUM, reason="Chromium not installed (apt-get install chromium; scripts/test.sh)"
)


class Chromium:
    """Headless Chromium with a fresh profile, one page, and a tiny CDP client."""

    def __init__(self, tmp: Path, width: int = 1400, height: int = 1000):
        from contextlib import ExitStack

        from websockets.sync.client import connect

        self.tmp = tmp
        self._stack = ExitStack()
        profile = tmp / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a stale one from a reuse
        self.log = open(tmp / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        self.next_id = 0
        self.events: list[dict] = []
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.is_file() and port_file.read_text().strip()):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Chromium did not start; see {tmp / 'chromium.log'}")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            self.ws = self._stack.enter_context(
                connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            )
            for domain in ("Runtime", "Log", "Page", "Network"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Collect events for a while (they arrive between command replies)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = json.loads(self.ws.recv(timeout=max(0.05, end - time.monotonic())))
            except TimeoutError:
                break
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, path: Path) -> None:
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        deadline = time.monotonic() + 30
        while self.eval("document.readyState") != "complete" or not self.eval(
            "document.body && document.body.getAttribute('data-ready') === '1'"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("page did not become ready: " + json.dumps(self.problems()))
            time.sleep(0.05)
        self.pump(0.3)

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1},
            )

    def drag(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0, "y": y0})
        self.send(
            "Input.dispatchMouseEvent",
            {
                "type": "mousePressed",
                "x": x0,
                "y": y0,
                "button": "left",
                "buttons": 1,
                "clickCount": 1,
            },
        )
        for i in range(1, 6):
            self.send(
                "Input.dispatchMouseEvent",
                {
                    "type": "mouseMoved",
                    "x": x0 + (x1 - x0) * i / 5,
                    "y": y0 + (y1 - y0) * i / 5,
                    "button": "left",
                    "buttons": 1,
                },
            )
        self.send(
            "Input.dispatchMouseEvent",
            {
                "type": "mouseReleased",
                "x": x1,
                "y": y1,
                "button": "left",
                "buttons": 1,
                "clickCount": 1,
            },
        )

    def wheel(self, x: float, y: float, delta: float) -> None:
        self.send(
            "Input.dispatchMouseEvent",
            {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta},
        )

    def screenshot(self, path: Path) -> Path:
        data = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}
        )
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries (CSP violations), dialogs."""
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                out.append(f"console.{p['type']}: " + json.dumps(p.get("args", []))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append("log: " + p["entry"].get("text", "")[:500])
            elif m == "Page.javascriptDialogOpening":
                out.append("dialog: " + p.get("message", ""))
        return out

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.log.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    run = CliRunner().invoke(cli, ["trace", "--case", "sandbox", "--out", str(out), "--quiet"])
    assert run.exit_code == 0, run.output
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium not installed (apt-get install chromium; scripts/test.sh)")
    b = Chromium(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def _node_center(b: Chromium, node_id: str) -> tuple[float, float]:
    rect = b.eval(
        "(() => { const g = [...document.querySelectorAll('#graph g.node')]"
        f".find(e => e.getAttribute('data-id') === {json.dumps(node_id)});"
        " const r = g.querySelector('circle').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return rect[0], rect[1]


# ------------------------------------------------------------------ the file


def test_trace_writes_a_deterministic_self_contained_report(traced, tmp_path):
    report = traced / "report.html"
    text = report.read_text(encoding="utf-8")
    manifest = json.loads((traced / "manifest.json").read_text(encoding="utf-8"))
    assert "report.html" in manifest["outputs"]
    # same trace again: byte-identical; rebuilt from the files: identical too
    again = tmp_path / "again"
    assert (
        CliRunner()
        .invoke(cli, ["trace", "--case", "sandbox", "--out", str(again), "--quiet"])
        .exit_code
        == 0
    )
    assert (again / "report.html").read_bytes() == report.read_bytes()
    rebuilt = tmp_path / "rebuilt.html"
    run = CliRunner().invoke(cli, ["report", str(traced), "--no-workspace", "--out", str(rebuilt)])
    assert run.exit_code == 0, run.output
    assert rebuilt.read_bytes() == report.read_bytes()
    # nothing to fetch: no URL in a src/href attribute other than explorer links, a strict CSP
    assert "Content-Security-Policy" in text and "connect-src 'none'" in text
    for needle in ("<script src", "<link ", "@import", "url(http", "cdn", "googleapis"):
        assert needle not in text.lower(), needle
    # no time of the run inside
    assert time.strftime("%Y-%m-%d") not in text


def test_report_data_matches_the_trace(traced):
    from tracer.freeze import load_trace
    from tracer.report import rank_flags, report_payload

    data = load_trace(traced)
    payload = report_payload(data, rank_flags(data))
    assert len(payload["nodes"]) == data.graph.number_of_nodes()
    assert set(payload["flags"]) == {f["flag_id"] for f in data.flags}
    assert not payload["truncated"]
    # a big graph is cut down to the evidence (seeds, flagged addresses, path hops)
    G = data.graph
    for i in range(40):  # side branches on no flag's path
        extra = f"ethereum:0x{i:040x}"
        G.add_node(extra, address=f"0x{i:040x}", chain="ethereum", role="intermediate", hop=3)
        G.add_edge(next(iter(G.nodes)), extra, key=f"extra{i}", asset="native", amount=1, tainted=1)
    small = report_payload(data, rank_flags(data), max_nodes=30)
    assert small["truncated"] and small["total_nodes"] == len(payload["nodes"]) + 40
    assert {n["id"] for n in small["nodes"]} == {n["id"] for n in payload["nodes"]}


# ------------------------------------------------------------------ in the browser


@needs_chromium
def test_report_in_headless_chromium(traced, browser, tmp_path):
    from tracer.freeze import load_trace

    data = load_trace(traced)
    b = browser
    b.events.clear()
    b.open(traced / "report.html")
    assert b.problems() == []
    # the page itself is the only request: nothing from the network
    assert b.requests() == [(traced / "report.html").resolve().as_uri()]

    # the graph: one SVG node per address, edges drawn
    assert (
        b.eval("document.querySelectorAll('#graph g.node').length") == data.graph.number_of_nodes()
    )
    assert b.eval("document.querySelectorAll('#graph path.edge').length") >= 20
    ids = b.eval(
        "[...document.querySelectorAll('#graph g.node')].map(e => e.getAttribute('data-id'))"
    )
    assert sorted(ids) == sorted(data.graph.nodes)

    # click the deposit address dep_a3 (a real mouse event where it is drawn)
    dep = next(
        f
        for f in data.flags
        if f["kind"] == "exchange_deposit" and f["symbol"] == "USDT" and f["hops"] == 1
    )
    x, y = _node_center(b, f"ethereum:{dep['address']}")
    b.click(x, y)
    panel = b.eval("document.getElementById('panel').innerText")
    assert dep["flag_id"] in panel
    assert dep["address"] in panel
    assert "gas top-up" in panel and "Path from the theft" in panel
    assert (
        b.eval("document.getElementById('panel').getAttribute('data-node')")
        == f"ethereum:{dep['address']}"
    )
    assert b.eval("document.querySelectorAll('#graph path.edge.hl').length") >= 1
    links = b.eval("[...document.querySelectorAll('#panel a[href]')].map(a => a.href)")
    assert any(u == f"https://etherscan.io/tx/{dep['path'][0]}" for u in links)
    b.screenshot(tmp_path / "report-selected.png")

    # an address without flags says so
    quiet = next(n for n, d in data.graph.nodes(data=True) if d["role"] == "intermediate")
    b.click(*_node_center(b, quiet))
    assert "No flag at this address" in b.eval("document.getElementById('panel').innerText")

    # zoom with the wheel, pan by dragging the background
    before = b.eval("document.getElementById('viewport').getAttribute('transform')")
    b.wheel(300, 300, -300)
    zoomed = b.eval("document.getElementById('viewport').getAttribute('transform')")
    assert zoomed != before and b.eval("window.tracerReport.view.k") > 1
    box = b.eval(
        "(() => { const r = document.getElementById('graph').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"
    )
    x0, y0 = box[0] + box[2] - 20, box[1] + box[3] - 40  # a corner: background
    vx = b.eval("window.tracerReport.view.x")
    b.drag(x0, y0, x0 - 120, y0 - 60)
    assert abs(b.eval("window.tracerReport.view.x") - (vx - 120)) < 2
    b.send("Runtime.evaluate", {"expression": "document.getElementById('zoom-fit').click()"})

    # a row of the flags table selects its address
    freeze = next(f for f in data.flags if f["kind"] == "freezable_balance" and f["hops"] == 1)
    b.eval(f"document.querySelector('#flags-table tr[data-flag=\"{freeze['flag_id']}\"]').click()")
    assert (
        b.eval("document.getElementById('panel').getAttribute('data-node')")
        == f"ethereum:{freeze['address']}"
    )
    assert freeze["flag_id"] in b.eval("document.getElementById('panel').innerText")

    shot = b.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 20_000
    assert b.problems() == []
