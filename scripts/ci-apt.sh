#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, quietly and only when missing.
set -euo pipefail
packages=(chromium nats-server) # the suites that drive real binaries add them here (chromium: test/browser; nats-server: the JetStream durable tests, the fleet tests and the NATS bench)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
