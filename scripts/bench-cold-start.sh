#!/usr/bin/env bash
# Builds every function as it deploys (scripts/package.sh: sam build) and measures the cold
# start of each on the local backend, beside the Python peers. Needs the test virtualenv
# (scripts/test.sh creates it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
[ "${SKIP_BUILD:-}" = 1 ] || scripts/package.sh >/dev/null
.venv/bin/python bench/cold_start.py target/sam "${1:-30}"
