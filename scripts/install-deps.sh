#!/usr/bin/env bash
# Installs the Debian packages nettool needs to build and test, and nothing else.
# Idempotent and quiet: when everything is present it prints nothing and does not touch apt.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake make pkg-config
  # fuzzing (scripts/fuzz.sh): clang, libFuzzer's runtime, llvm-symbolizer for readable reports
  clang libclang-rt-14-dev llvm
  # libraries (see ARCHITECTURE.md for what each one is used for)
  libcli11-dev libfmt-dev libcurl4-openssl-dev libssl-dev libexpected-dev
  nlohmann-json3-dev libmnl-dev libgtest-dev libgmock-dev
  # tests: runner and real peers on loopback
  python3 python3-pytest python3-pytest-timeout python3-jsonschema netcat-openbsd curl wget openssl
  mount util-linux
  iproute2 time groff-base
  # docs and completion tests: the completions checked and run in zsh and fish (bash is there)
  zsh fish
  # install and package tests: objcopy (split symbols), cpack's dpkg-shlibdeps and file,
  # lintian, man -l; serve's socket-activation test: systemd-socket-activate (systemd
  # installs and runs its tools in a container without systemd as PID 1)
  binutils dpkg-dev file lintian man-db systemd
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "nettool: installing missing packages: ${missing[*]}" >&2
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
