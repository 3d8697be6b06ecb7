#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs the origin essay's
# server on its defaults (localhost:1024, the greeting, every client served until Ctrl+C).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build >/dev/null
echo "nettool: serving the greeting on localhost:1024; in another terminal try: build/nettool connect localhost 1024 (Ctrl+C stops)" >&2
exec build/nettool serve --greet --keep-open
