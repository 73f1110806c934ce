#!/usr/bin/env bash
# Preliminary bucket-sync benchmark, local directory → S3 on moto, twincloud against rclone
# (its defaults, and its best flags) in one run on the same data: 2,000 objects of 1–64 KiB
# plus 4 of 24 MiB. Prints wall time and peak memory of a first copy and of a no-change pass.
# The full benchmark of issue 4 (S3 ↔ GCS, 1 % changed, bytes and requests at a proxy) comes
# with the streaming sync engine.
#   usage: bench/sync_vs_rclone.sh        (needs the test virtualenv: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break; sleep 0.2; done
cargo build -q --release -p twincloud-cli
.venv/bin/python - "$work/data" <<'PY'
import os, random, sys
random.seed(7)
root = sys.argv[1]
for i in range(2000):
    d = f"{root}/t{i % 20:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/obj-{i:05d}.bin", "wb").write(os.urandom(random.randint(1024, 64 * 1024)))
for i in range(4):
    open(f"{root}/big-{i}.bin", "wb").write(os.urandom(24 * 1024 * 1024))
PY
export HOME="$work/home" AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
mkdir -p "$HOME"
s3=":s3,provider=Other,endpoint='http://127.0.0.1:$port',access_key_id=test,secret_access_key=test,force_path_style=true:"
run() { # label bucket command...
  local label=$1 bucket=$2; shift 2
  curl -fsS -X PUT "http://127.0.0.1:$port/$bucket" >/dev/null
  for pass in "first copy" "no change"; do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1
    read -r secs kib <"$work/t"
    printf '| %s | %s | %s | %s |\n' "$label" "$pass" "$secs" "$((kib / 1024))"
  done
}
echo "| tool | pass | wall (s) | peak memory (MiB) |"
echo "|---|---|---:|---:|"
run "rclone 1.75 defaults" rclone-default .venv/bin/rclone copy "$work/data" "${s3}rclone-default/p"
run "rclone 1.75 --checksum --transfers 64 --checkers 64 --fast-list" rclone-best .venv/bin/rclone copy "$work/data" "${s3}rclone-best/p" --checksum --transfers 64 --checkers 64 --fast-list
run "twincloud sync --concurrency 64" twincloud "$root/target/release/twincloud" sync "$work/data" s3://twincloud/p --concurrency 64
