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
python -m pip install -q -e ".[notebooks]"  # issue 8: notebooks/ run by tests/test_notebooks.py
bash scripts/install-anvil.sh  # a real Ethereum node for the RPC tests
# --- headless Chromium for the report tests (issue 7: tests/test_report.py, test_hostile.py) ---
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q chromium
  else
    echo "note: /usr/bin/chromium missing (apt-get install chromium as root): browser tests skip" >&2
  fi
fi
# --- end Chromium ---
ruff check tracer tests bench
ruff format --check tracer tests bench
python -m pytest "$@"
