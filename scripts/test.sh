#!/usr/bin/env bash
# Install everything the tests need into .venv, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"
bash scripts/install-anvil.sh  # a real Ethereum node for the RPC tests
ruff check tracer tests bench
ruff format --check tracer tests bench
python -m pytest "$@"
