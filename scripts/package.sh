#!/usr/bin/env bash
# Builds every function as it deploys and checks what deploys:
#   1. `sam build` on infra/template.yaml, offline: every function through cargo-lambda
#      (BuildMethod rust-cargolambda, one shared release build of the dependencies) and the
#      PostgreSQL client layer (BuildMethod makefile), for the template's default
#      architecture, the one the tests run;
#   2. each function's `bootstrap` zipped as Lambda takes it: prints its size beside the 4 MB
#      target (TARGET_ZIP_BYTES), which no function meets yet (docs/BENCHMARKS.md says why),
#      and fails past the ceiling that holds today's sizes (MAX_ZIP_BYTES, 11 MB): a function
#      that starts linking what it does not use fails the test command;
#   3. the Cloud Run image context of each function from that same binary
#      (infra/gcp/stage.sh with BOOTSTRAP), its size printed.
# Needs the test virtualenv (scripts/test.sh creates it): sam, cargo-lambda and its zig.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
max=${MAX_ZIP_BYTES:-11000000}
target=${TARGET_ZIP_BYTES:-4000000}
build=${SAM_BUILD_DIR:-target/sam}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The real HOME: cargo-lambda keeps its zig linker wrappers there, and the same path every
# time is what lets this build reuse the compiled dependencies of the last one.
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
  sam build --beta-features --template-file infra/template.yaml --build-dir "$build" \
  >"$work/sam.log" 2>&1 || {
    tail -n 40 "$work/sam.log" >&2; echo "sam build failed" >&2; exit 1; }

functions=$(sed -n 's/^FUNCTIONS="\(.*\)"/\1/p' infra/gcp/deploy.sh)
over=0
printf '\n| function | binary (bytes) | Lambda zip (bytes) | against the %s-byte target | ceiling %s |\n|---|---:|---:|---:|---|\n' "$target" "$max"
for fn in $functions; do
  resource=$(echo "$fn" | sed -E 's/(^|-)([a-z])/\U\2/g')Function
  bin="$build/$resource/bootstrap"
  [ -f "$bin" ] || { echo "sam build made no $bin" >&2; exit 1; }
  zip=$work/$fn.zip
  # Zipped as Lambda takes it (deflate, level 9), with the venv's Python: no zip tool needed.
  python -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")' "$bin" "$zip"
  size=$(stat -c %s "$bin"); zsize=$(stat -c %s "$zip")
  verdict=ok; [ "$zsize" -le "$max" ] || { verdict="OVER"; over=1; }
  printf '| %s | %s | %s | %+d | %s |\n' "$fn" "$size" "$zsize" "$((zsize - target))" "$verdict"
done
for p in pg_dump pg_restore psql; do
  [ -x "$build/PgClientLayer/pgsql/bin/$p" ] || { echo "sam build made no layer with $p" >&2; exit 1; }
done
layer=$(find "$build/PgClientLayer" -type f | wc -l)
echo
echo "PostgreSQL client layer: $layer files, $(du -sb "$build/PgClientLayer" | cut -f1) bytes unzipped"
echo "Cloud Run images (gcr.io/distroless/cc-debian12 + the same binary):"
for fn in $functions; do
  resource=$(echo "$fn" | sed -E 's/(^|-)([a-z])/\U\2/g')Function
  printf '  %s: ' "$fn"
  BOOTSTRAP="$build/$resource/bootstrap" infra/gcp/stage.sh "$fn" "$work/image-$fn" 2>/dev/null
done
[ "$over" = 0 ] || { echo "a function's zip is over the ${max}-byte ceiling: it links more than it did" >&2; exit 1; }
