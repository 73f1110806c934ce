#!/usr/bin/env bash
# Directory to directory, when the stores are fast: 20,000 files of 0-16 KB in 100 folders,
# a first copy and a pass with nothing changed, twincloud beside rclone (its defaults: size and
# modification time; and --checksum). Wall time, CPU (user + system) and peak memory, one run
# each, on a fresh destination for the first copies. With STRACE=1, the system calls of
# twincloud's first copy are counted (strace -c -f).
#
# It runs in WORK (default: a directory in /dev/shm, a tmpfs): there the engine is measured,
# not the disk. twincloud fsyncs every file before renaming it into place; on a disk, that is
# what dominates (FILES=500 WORK=/var/tmp/x measures it there).
#
#   usage: [FILES=20000] [WORK=dir] bench/sync_dir_vs_rclone.sh   (needs the test virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cargo lambda build --release --bin twincloud >/dev/null 2>&1
tc=$PWD/target/lambda/twincloud/bootstrap
files=${FILES:-20000}
base=${WORK:-/dev/shm}
mkdir -p "$base"
work=$(mktemp -d -p "$base")
trap 'rm -rf "$work"' EXIT
python3 - "$work/src" "$files" <<'PY'
import os, random, sys
random.seed(11)
root = sys.argv[1]
for i in range(int(sys.argv[2])):
    d = f"{root}/d{i % 100:03d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/f{i:05d}.dat", "wb").write(os.urandom(random.randint(0, 16 * 1024)))
PY
echo "$(du -sb "$work/src" | cut -f1) bytes in $(find "$work/src" -type f | wc -l) files"
export HOME="$work/home" RCLONE_CONFIG="$work/rclone.conf"; mkdir -p "$HOME"; : >"$RCLONE_CONFIG"
run() { # name cmd...
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -o "$work/time.out" -f "%U %S %M" "${@:2}" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  read -r u s m <"$work/time.out"
  printf '| %s | %.2f | %.2f | %.2f | %.0f |\n' "$1" "$(echo "$t1 - $t0" | bc)" "$u" "$s" "$(echo "$m / 1024" | bc -l)"
}
echo
echo "| pass, tool | wall (s) | user (s) | system (s) | peak MiB |"
echo "|---|---:|---:|---:|---:|"
run "first copy, rclone" rclone copy "$work/src" "$work/r" --transfers 16 --checkers 16
run "first copy, twincloud" "$tc" sync "$work/src" "$work/t" --quiet
run "nothing changed, rclone (defaults)" rclone copy "$work/src" "$work/r" --transfers 16 --checkers 16
run "nothing changed, rclone --checksum" rclone copy "$work/src" "$work/r" --checksum --transfers 16 --checkers 16
run "nothing changed, twincloud" "$tc" sync "$work/src" "$work/t" --quiet
if [ "${STRACE:-}" = 1 ] && command -v strace >/dev/null; then
  rm -rf "$work/t2"
  strace -c -f -o "$work/strace" "$tc" sync "$work/src" "$work/t2" --quiet >/dev/null
  echo; echo "twincloud first copy, system calls:"; head -n 25 "$work/strace"
fi
