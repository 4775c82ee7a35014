#!/usr/bin/env bash
# Install the anvil binary (a real Ethereum node) from the npm package into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/node_modules/.bin/anvil ]; then exit 0; fi
mkdir -p .tools
npm install --silent --prefix .tools @foundry-rs/anvil-linux-amd64@1.7.1 >/dev/null
test -x .tools/node_modules/.bin/anvil || {
  ln -sf ../@foundry-rs/anvil-linux-amd64/bin/anvil .tools/node_modules/.bin/anvil; }
.tools/node_modules/.bin/anvil --version | head -1
