#!/usr/bin/env bash
# A store that is not the bottleneck: the same copies as bench/sync_cpu_large.sh and
# bench/sync_cpu_split.sh, local -> S3, into s3s-fs (an S3 server in Rust over a directory)
# instead of moto, so that the client's own speed shows in wall time. twincloud beside rclone
# (--checksum, its best flags); wall time and the tool's CPU seconds, a fresh server each line.
#
#   usage: bench/sync_s3s_fs.sh   (needs the test virtualenv; installs s3s-fs 0.14.1, the
#          last release for this toolchain, into target/s3s-fs with cargo install once)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
s3s=${S3S_FS:-$PWD/target/s3s-fs/bin/s3s-fs}
[ -x "$s3s" ] || cargo install -q s3s-fs@0.14.1 --locked --features binary --root target/s3s-fs
cargo lambda build --release --bin twincloud >/dev/null 2>&1
tc=$PWD/target/lambda/twincloud/bootstrap
work=$(mktemp -d); spid=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fresh() {
  [ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true; }
  rm -rf "$work/store"; mkdir -p "$work/store/dst"
  "$s3s" --host 127.0.0.1 --port "$port" --access-key test --secret-key testtesttest "$work/store" >"$work/s3s.log" 2>&1 & spid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
}
.venv/bin/python - "$work" <<'PY'
import os, random, sys
random.seed(7)
root = sys.argv[1]
for i in range(2000):
    d = f"{root}/small/t{i % 20:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/obj-{i:05d}.bin", "wb").write(os.urandom(random.randint(1024, 64 * 1024)))
os.makedirs(f"{root}/big")
for i in range(4):
    open(f"{root}/big/big-{i}.bin", "wb").write(os.urandom(24 * 1024 * 1024))
PY
export HOME="$work/home" RCLONE_CONFIG="$work/rclone.conf" AWS_ENDPOINT_URL="http://127.0.0.1:$port" \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=testtesttest AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
s3r=":s3,provider=Other,endpoint='http://127.0.0.1:$port',access_key_id=test,secret_access_key=testtesttest,force_path_style=true:"
run() { # name cmd...
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -o "$work/time.out" -f "%U %S" "${@:2}" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf '| %s | %.2f | %.2f |\n' "$1" "$(echo "$t1 - $t0" | bc)" "$(awk '{print $1 + $2}' "$work/time.out")"
}
echo "| objects, tool (local -> S3 on s3s-fs) | wall (s) | tool CPU (s) |"
echo "|---|---:|---:|"
for what in small big; do
  fresh; run "$what, rclone" rclone copy "$work/$what" "${s3r}dst/r" --checksum --transfers 64 --checkers 64 --fast-list
  fresh; run "$what, twincloud" "$tc" sync "$work/$what" "s3://dst/t" --quiet
done
