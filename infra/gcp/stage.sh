#!/usr/bin/env bash
# Stages the Cloud Run image's build context for one function: the release binary that the
# Lambda zip also holds (built here with cargo-lambda unless BOOTSTRAP names one already
# built), the PostgreSQL client bundle for the backup function, and infra/gcp/Dockerfile.
#
#   usage: infra/gcp/stage.sh FUNCTION OUT_DIR
#   BOOTSTRAP=path   use this binary instead of building (e.g. .aws-sam/build/...)
#   prints the binary's size and the context's, in bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
fn=${1:?usage: stage.sh FUNCTION OUT_DIR}
out=${2:?usage: stage.sh FUNCTION OUT_DIR}
bootstrap=${BOOTSTRAP:-target/lambda/${fn}/bootstrap}
if [ -z "${BOOTSTRAP:-}" ]; then
  [ -d .venv/bin ] && export PATH="$PWD/.venv/bin:$PATH"
  cargo lambda build --release --bin "$fn" >&2
fi
[ -f "$bootstrap" ] || { echo "no binary at $bootstrap" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/pgsql"
cp infra/gcp/Dockerfile "$out/Dockerfile"
cp "$bootstrap" "$out/function"
chmod 755 "$out/function"
if [ "$fn" = backup ]; then
  infra/pg-layer/build.sh "$out" >&2
fi
echo "binary $(stat -c %s "$out/function") bytes; context $(du -sb "$out" | cut -f1) bytes (+ gcr.io/distroless/cc-debian12)"
