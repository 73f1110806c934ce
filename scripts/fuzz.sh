#!/usr/bin/env bash
# Fuzzes the decoders and the config parser with cargo-fuzz (libFuzzer), seeded with every
# fixture in events/. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Needs `cargo install cargo-fuzz`. The project's toolchain is stable; RUSTC_BOOTSTRAP lets
# cargo-fuzz use the sanitizer flags it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
for target in ${TARGETS:-decode_json decode_http config_parse}; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  if [ "$target" = config_parse ]; then
    cp twincloud.example.toml "$corpus/example.toml"
  else
    find events -type f -name '*.json' -exec cp {} "$corpus/" \;
  fi
  echo "==> $target for ${secs}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs" -max_len=65536
done
echo "no crash found. A crash leaves its input in fuzz/artifacts/<target>/: add it to events/malformed/ with a .expect file."
