#!/usr/bin/env bash
# Builds the Debian package and checks it with lintian.
# Usage: scripts/package.sh [BUILD_DIR [OUT_DIR]]
#   BUILD_DIR  default build-release; configured as a release build (Release, no tests) when it
#              is not configured yet, used as it is configured otherwise
#   OUT_DIR    where the .deb goes (default BUILD_DIR/packages)
# Prints the path of the .deb on stdout; lintian's findings go to stderr, and an error among
# them fails the script. The package holds what `cmake --install` installs (the stripped
# binary and its HTTP module, the man pages, the completions) plus the copyright file, the changelog and the
# example systemd units; its Depends come from dpkg-shlibdeps.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-release}
out_dir=${2:-$build_dir/packages}

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNETTOOL_TESTS=OFF >/dev/null
fi
# Only what the package holds (not the unit tests of a test build).
cmake --build "$build_dir" --parallel "$(nproc)" --target nettool_dist nettool_http_module_dist \
  >/dev/null
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
if ! log=$(cd "$build_dir" && cpack -G DEB -B "$out_dir" 2>&1); then
  echo "$log" >&2
  exit 1
fi
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
deb=$(ls "$out_dir"/nettool_"${version}"_*.deb)

if command -v lintian >/dev/null; then
  # Root is fine for reading a package (lintian only warns about it); its findings are ours.
  findings=$(lintian --display-info "$deb" 2>&1 | grep -v 'running with root privileges' || true)
  [[ -z "$findings" ]] || echo "$findings" >&2
  if grep -q '^E: ' <<<"$findings"; then
    echo "nettool: lintian found errors in $deb" >&2
    exit 1
  fi
else
  echo "nettool: lintian is not installed, so $deb was not checked (scripts/install-deps.sh installs it)" >&2
fi
echo "$deb"
