#!/bin/bash
# initdb on first start (POSTGRES_USER, default postgres; POSTGRES_PASSWORD,
# required; POSTGRES_DB, default the user's name; scram-sha-256 from any
# address), then the *.sql of /docker-entrypoint-initdb.d, then postgres in
# the foreground (SIGTERM: smart shutdown, as the official image).
set -euo pipefail
# The socket in /tmp: the only writable place besides PGDATA when the root
# file system is read-only (the pod mounts an emptyDir there).
sock=${POSTGRES_SOCKET_DIR:-/tmp}
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    pw=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth=scram-sha-256 --encoding=UTF8 --no-locale >/dev/null
    rm -f "$pw"
    {
        echo "listen_addresses = '*'"
        echo "max_connections = ${POSTGRES_MAX_CONNECTIONS:-300}"
    } >>"$PGDATA/postgresql.conf"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$sock" -w start >/dev/null
    export PGPASSWORD=$POSTGRES_PASSWORD
    [[ $db == postgres ]] || psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [[ -e $f ]] || continue
        echo "pg-entrypoint: $f" >&2
        psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U "$user" -d "$db" -f "$f"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "pg-entrypoint: initialised $PGDATA" >&2
fi
exec postgres -D "$PGDATA" -c unix_socket_directories="$sock"
