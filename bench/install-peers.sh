#!/usr/bin/env bash
# Installs the peers the benchmarks compare nettool with (Debian packages). Idempotent, quiet.
set -euo pipefail
packages=(netcat-openbsd ncat socat curl wget wget2 aria2 nginx python3 time iproute2 procps)
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
