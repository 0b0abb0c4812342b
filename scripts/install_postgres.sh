#!/usr/bin/env bash
# Make a PostgreSQL server (initdb, pg_ctl, postgres) available to the local twin, from Debian's packages.
#
# Nothing to do when a server is already installed (/usr/lib/postgresql/<v>/bin, or RETAIL_LAKE_PG_BIN).
# Otherwise, as root: apt-get install postgresql. Without root: apt-get download the server package and the
# libraries it needs, and dpkg -x them into build/postgres (retail_lake/twin/postgres.py finds them there).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=build/postgres

has_server() { [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

if [ -n "${RETAIL_LAKE_PG_BIN:-}" ] && has_server "$RETAIL_LAKE_PG_BIN"; then exit 0; fi
for dir in /usr/lib/postgresql/*/bin "$TARGET"/usr/lib/postgresql/*/bin; do
  if has_server "$dir"; then exit 0; fi
done

command -v apt-get >/dev/null 2>&1 || {
  echo "error: no PostgreSQL server found and apt-get is not available: install PostgreSQL 15+ and set" \
       "RETAIL_LAKE_PG_BIN to its bin directory (initdb, pg_ctl, postgres)." >&2; exit 1; }

if [ "$(id -u)" = "0" ]; then
  echo "installing PostgreSQL from Debian's packages (apt-get install postgresql) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  exit 0
fi

echo "extracting PostgreSQL from Debian's packages into $TARGET (no root: apt-get download + dpkg -x) ..."
server=$(apt-cache depends postgresql 2>/dev/null | awk '/Depends: postgresql-[0-9]+$/ {print $2; exit}')
[ -n "$server" ] || { echo "error: apt-cache knows no postgresql-<version> package; run apt-get update as root" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the server package and the libraries it links that a minimal machine may lack
packages=("$server" libpq5 libllvm14 libicu72 libxslt1.1 libxml2 libsystemd0 liblz4-1 libzstd1 libssl3)
(cd "$work" && for p in "${packages[@]}"; do apt-get download -qq "$p" 2>/dev/null || true; done)
ls "$work"/"$server"_*.deb >/dev/null 2>&1 || { echo "error: apt-get download $server failed" >&2; exit 1; }
rm -rf "$TARGET" && mkdir -p "$TARGET"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$TARGET"; done
for dir in "$TARGET"/usr/lib/postgresql/*/bin; do
  if has_server "$dir"; then echo "PostgreSQL server extracted: $dir"; exit 0; fi
done
echo "error: the extracted packages hold no initdb/pg_ctl/postgres under $TARGET" >&2
exit 1
