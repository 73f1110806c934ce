#!/usr/bin/env bash
# Builds the notifier as it is deployed to Lambda and compares its cold start with a Python
# peer doing the same job. Needs the test virtualenv (scripts/test.sh creates it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo lambda build --release --locked --bin notifier --x86-64 --lambda-dir target/lambda >/dev/null
.venv/bin/python bench/cold_start.py target/lambda/notifier/bootstrap "${1:-30}"
