#!/usr/bin/env bash
# Installs every tool the benchmarks run (Debian packages): the peers nettool is compared with,
# the timing tools (hyperfine, GNU time), a C compiler for the small C programs the scripts
# build (load client, C10K client, minimal greeting server), and what the scripts use to
# watch and pin processes (iproute2's ss, procps, util-linux's taskset). Idempotent, quiet.
set -euo pipefail
packages=(netcat-openbsd ncat socat curl wget wget2 aria2 nginx python3 hyperfine time
  iproute2 procps util-linux gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
