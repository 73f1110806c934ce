#!/usr/bin/env bash
# Builds the Lambda layer of PostgreSQL's client programs (pg_dump, pg_restore, psql) from
# Debian's postgresql-client package, with every shared library they load, the C library and
# its loader included: the programs run on Lambda's provided.al2023 whatever its own libraries.
# Lambda mounts the layer at /opt, so the programs land in /opt/pgsql/bin, where the backup
# function looks for them.
#
#   usage: infra/pg-layer/build.sh OUT_DIR [PG_MAJOR]
#     OUT_DIR/pgsql/...        the layer's content (zip OUT_DIR's content, or let SAM do it)
#   PG_MAJOR (default: the newest installed, else 15) must be at least the servers' major:
#   a pg_dump dumps servers of its own version and older.
#
# The architecture is the build machine's: run it on arm64 (or in an arm64 container) for the
# arm64 functions.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR [PG_MAJOR]}
major=${2:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)}
major=${major:-15}
bin=/usr/lib/postgresql/$major/bin
if [ ! -x "$bin/pg_dump" ]; then
  echo "installing postgresql-client-$major from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -q "postgresql-client-$major" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "postgresql-client-$major" >/dev/null; }
fi
root="$out/pgsql"
rm -rf "$root"
mkdir -p "$root/bin" "$root/libexec" "$root/lib"
loader=""
for p in pg_dump pg_restore psql; do
  cp "$bin/$p" "$root/libexec/$p"
  # Every library the program loads, as the loader resolves it here.
  while read -r lib; do
    cp -L -n "$lib" "$root/lib/" 2>/dev/null || true
  done < <(ldd "$bin/$p" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}')
  [ -n "$loader" ] || loader=$(ldd "$bin/$p" | awk '/ld-linux/{print ($3 ~ /^\//) ? $3 : $1; exit}')
done
loader_name=$(basename "$loader")
cp -L -n "$loader" "$root/lib/$loader_name"
for p in pg_dump pg_restore psql; do
  cat >"$root/bin/$p" <<SH
#!/bin/sh
# Runs Debian's $p with its own libraries and loader (see infra/pg-layer/build.sh).
here=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "\$here/lib/$loader_name" --library-path "\$here/lib" "\$here/libexec/$p" "\$@"
SH
  chmod 755 "$root/bin/$p"
done
strip --strip-unneeded "$root"/libexec/* "$root"/lib/*.so* 2>/dev/null || true
echo "$("$root/bin/pg_dump" --version) for $(uname -m): $(du -sh "$root" | cut -f1) in $root" >&2
