#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server:
#
#   bash .ci/postgres.sh make test-postgres-pass
#
# It starts Debian's PostgreSQL (/usr/lib/postgresql/*/bin) on a private
# unix socket (no TCP port), with fsync off since the data is thrown away,
# migrates the gatehouse_template database every test copies, exports
# GATEHOUSE_TEST_DATABASE for the command, and always stops the server and
# removes its data, however the command ends. Under root (CI) the server
# runs as the postgres user (runuser), since PostgreSQL refuses root.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres.sh: no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2
  exit 1
fi

# The server trusts every local connection, so its socket directory is the
# owner's only (mode 0700; root, running the tests in CI, passes anyway).
dir=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
chmod 0700 "$dir"
as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" --shell /bin/false postgres
  chown postgres "$dir"
  as=(runuser -u postgres --)
fi

stop() {
  if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1; then
    [ -f "$dir/data/postmaster.pid" ] && kill -9 "$(head -n1 "$dir/data/postmaster.pid")" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT

"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
  "-k $dir -c listen_addresses='' -c unix_socket_permissions=0700 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=128MB" >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }

export GATEHOUSE_TEST_DATABASE="postgres://postgres@/postgres?host=$dir&sslmode=disable"
"$bin/psql" -X -q -v ON_ERROR_STOP=1 "$GATEHOUSE_TEST_DATABASE" -c "CREATE DATABASE gatehouse_template"
GATEHOUSE_DATABASE="postgres://postgres@/gatehouse_template?host=$dir&sslmode=disable" \
  go run . migrate --config /dev/null >/dev/null
echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $dir"

set +e
"$@"
rc=$?
exit $rc
