"""Compile the sandbox contracts with solc (npm ``solc``, solcjs) into committed JSON artifacts.

    python contracts/build.py          # compile, write contracts/artifacts/<Contract>.json
    python contracts/build.py --check  # compile and fail if the committed artifacts differ

The compiler is the npm package ``solc`` at ``SOLC_VERSION``, installed on first use into
``.tools/solc`` (``npm install --prefix .tools/solc solc@<version>``); it runs offline. Tests and
CI read the committed artifacts and never need the compiler. Each artifact holds the ABI, the
creation and runtime bytecode, the compiler version and settings, and the SHA-256 of its source,
so a stale artifact is detectable without compiling (``tracer.sandbox.anvil`` checks it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

SOLC_VERSION = "0.8.26"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ARTIFACTS = HERE / "artifacts"
SOLCJS = REPO / ".tools" / "solc" / "node_modules" / ".bin" / "solcjs"
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def _solcjs() -> Path:
    if not SOLCJS.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--prefix",
                str(SOLCJS.parents[2]),
                f"solc@{SOLC_VERSION}",
            ],
            check=True,
        )
    version = subprocess.run(
        [str(SOLCJS), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    if not version.startswith(SOLC_VERSION + "+"):
        sys.exit(f"solcjs at {SOLCJS} is {version}, expected {SOLC_VERSION}")
    return SOLCJS


def compile_all() -> dict[str, dict]:
    """Artifacts by contract name, compiled from every contracts/*.sol."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(HERE.glob("*.sol"))}
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    solcjs = _solcjs()
    version = subprocess.run(
        [str(solcjs), "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    done = subprocess.run(
        [str(solcjs), "--standard-json"],
        input=json.dumps(request),
        check=True,
        capture_output=True,
        text=True,
    )
    # solcjs may print notices before the JSON document
    output = json.loads(done.stdout[done.stdout.index("{") :])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        sys.exit("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    artifacts = {}
    for source_name, contracts in sorted(output["contracts"].items()):
        digest = hashlib.sha256(sources[source_name].encode()).hexdigest()
        for contract_name, out in sorted(contracts.items()):
            if not out["evm"]["bytecode"]["object"]:
                continue  # interfaces
            artifacts[contract_name] = {
                "contractName": contract_name,
                "sourceName": source_name,
                "sourceSha256": digest,
                "compiler": {"name": "solc", "version": version, "settings": SETTINGS},
                "abi": out["abi"],
                "bytecode": "0x" + out["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def _render(artifact: dict) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    artifacts = compile_all()
    if "--check" in argv:
        stale = [
            name
            for name, art in artifacts.items()
            if not (ARTIFACTS / f"{name}.json").is_file()
            or (ARTIFACTS / f"{name}.json").read_text(encoding="utf-8") != _render(art)
        ]
        if stale:
            print("stale artifacts: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(artifacts)} artifacts up to date")
        return 0
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("*.json"):
        if old.stem not in artifacts:
            old.unlink()
    for name, art in artifacts.items():
        (ARTIFACTS / f"{name}.json").write_text(_render(art), encoding="utf-8")
    print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
