#!/usr/bin/env bash
# One scheduled backup run over 20 RDS databases on moto, twincloud beside the seeds' runbook
# as a boto3 script (bench/backup_peer.py): wall time and API calls counted at a proxy in
# front of moto; median of REPS runs (default 3), each on a fresh moto.
#   twincloud: (1) the nightly run: 20 snapshots, waits for them, 5 copies to the DR region
#   (the in-flight quota), 15 queued; (2) the same schedule delivered again; (3) the follow-up
#   run that starts the queued copies.
#   peer: one pass of the runbook (snapshot, wait, copy, prune, database by database; it
#   ignores the copy quota, which real RDS would enforce by failing copies beyond 5).
#
#   usage: bench/backup_20dbs.sh [REPS]     (needs the test virtualenv: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
reps=${1:-3}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port) pm=$(free_port) pg=$(free_port) pc=$(free_port)

cargo build -q --release -p twincloud-cli -p twincloud-backup
cargo build -q --release -p twincloud-testkit --example counting_proxy
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
target/release/examples/counting_proxy "http://127.0.0.1:$moto_port" "http://127.0.0.1:$moto_port" "$pm" "$pg" "$pc" & pids+=($!)
for url in "http://127.0.0.1:$moto_port/moto-api/" "http://127.0.0.1:$pc/stats"; do
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.2; done
done
export HOME="$work/home" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1
mkdir -p "$HOME"
cat >"$work/backup.toml" <<TOML
[project]
name = "bench"
state = "$work/state"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[backup.sets]]
name = "nightly"
engine = "rds"
patterns = ["tc-*"]
dr_region = "us-west-2"
TOML
event() { # ID TIME ARGS
  printf '{"twincloud":"schedule","name":"nightly","id":"%s","time":"%s","args":%s}' "$1" "$2" "$3" >"$work/event.json"
}
measure() { # LABEL COMMAND...: appends "label seconds requests" to results
  local label=$1; shift
  curl -fsS -X POST "http://127.0.0.1:$pc/reset" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/last.out" 2>&1 || { cat "$work/last.out"; exit 1; }
  t1=$(date +%s.%N)
  read -r q _ _ _ < <(curl -fsS "http://127.0.0.1:$pc/stats")
  echo "$label $(echo "$t1 - $t0" | bc) $q" >>"$work/results"
}
for rep in $(seq 1 "$reps"); do
  curl -fsS -X POST "http://127.0.0.1:$moto_port/moto-api/reset" >/dev/null
  rm -rf "$work/state"
  AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" .venv/bin/python - <<'PY'
import boto3
rds = boto3.client("rds")
for who in ("tc", "peer"):
    for i in range(20):
        rds.create_db_instance(DBInstanceIdentifier=f"{who}-db{i:02d}", Engine="postgres",
            DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="bench",
            MasterUserPassword="not-a-real-password")
PY
  export AWS_ENDPOINT_URL="http://127.0.0.1:$pm"
  event "run-$rep" "2026-11-22T03:00:00Z" '{}'
  measure "twincloud-nightly" target/release/backup --event "$work/event.json" --config "$work/backup.toml"
  event "run-$rep-again" "2026-11-22T03:00:00Z" '{}'
  measure "twincloud-redelivered" target/release/backup --event "$work/event.json" --config "$work/backup.toml"
  event "follow-$rep" "2026-11-22T03:15:00Z" '{"follow_up":true}'
  measure "twincloud-follow-up" target/release/backup --event "$work/event.json" --config "$work/backup.toml"
  measure "peer-runbook" .venv/bin/python bench/backup_peer.py peer- 2026-11-22T03:00:00Z us-west-2
  unset AWS_ENDPOINT_URL
done
.venv/bin/python - "$work/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, secs, req = line.split()
    rows.setdefault(label, []).append((float(secs), int(req)))
print(f"{'run (20 databases)':28} {'wall s':>8} {'API calls':>10}")
for label in ("twincloud-nightly", "twincloud-redelivered", "twincloud-follow-up", "peer-runbook"):
    v = rows[label]
    print(f"{label:28} {statistics.median(x[0] for x in v):8.2f} {statistics.median(x[1] for x in v):10.0f}")
PY
