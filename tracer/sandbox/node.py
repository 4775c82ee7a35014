"""Start a real Ethereum node (anvil, from the npm package @foundry-rs/anvil-linux-amd64) on loopback.

The binary is looked up in ``$TRACER_ANVIL``, then ``.tools/node_modules/.bin/anvil`` under the
repository (where ``scripts/install-anvil.sh`` puts it), then ``PATH``. Gas is free on the sandbox
node (gas price and base fee 0) so ETH amounts move exactly as the scenario says.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class NodeError(RuntimeError):
    pass


def find_anvil() -> str | None:
    candidates = [
        os.environ.get("TRACER_ANVIL"),
        str(REPO_ROOT / ".tools" / "node_modules" / ".bin" / "anvil"),
        shutil.which("anvil"),
    ]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AnvilNode:
    """A running anvil process; use as a context manager or call ``stop()``."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rpc(self, method: str, params: list | None = None):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        req = urllib.request.Request(self.url, body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            reply = json.loads(r.read())
        if "error" in reply:
            raise NodeError(f"{method}: {reply['error']}")
        return reply["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_anvil(
    port: int | None = None,
    chain_id: int = 31337,
    timestamp: int | None = None,
    state: Path | None = None,
    extra_args: list[str] | None = None,
) -> AnvilNode:
    """Start anvil on 127.0.0.1 and wait until it answers. ``state`` persists the chain."""
    binary = find_anvil()
    if binary is None:
        raise NodeError(
            "anvil not found: run scripts/install-anvil.sh (npm package "
            "@foundry-rs/anvil-linux-amd64) or set TRACER_ANVIL"
        )
    port = port or free_port()
    args = [
        binary,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--gas-price",
        "0",
        "--block-base-fee-per-gas",
        "0",
        "--silent",
    ]
    if timestamp is not None:
        args += ["--timestamp", str(timestamp)]
    if state is not None:
        args += ["--state", str(state)]
    args += extra_args or []
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    node = AnvilNode(proc, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise NodeError(f"anvil exited: {err[-1] if err else proc.returncode}")
        try:
            node.rpc("eth_chainId")
            return node
        except OSError:
            time.sleep(0.1)
    node.stop()
    raise NodeError("anvil did not answer within 30 s")
