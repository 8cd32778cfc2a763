#!/usr/bin/env bash
# What the outbox relay's read costs when the rows before it were deleted
# and not yet vacuumed (docs/performance.md, "The outbox relay's read at 1 M
# (session 16)"). In a scratch database on the dev PostgreSQL (db/0*.sql
# applied, autovacuum off for outbox), for each count of dead rows: insert
# them, delete them, insert 2,000 live rows after them, then EXPLAIN
# (ANALYZE, BUFFERS) of
#   head    the relay's read before session 16: ORDER BY id LIMIT 1000 from
#           the lowest id, through every dead index entry;
#   floor   the read from the relay's safe floor: WHERE id > (SELECT floor)
#           ORDER BY id LIMIT 1000 (floor = the last dead id, as the relay has
#           it once it published and deleted those rows);
#   literal the same with the floor as a constant, which the planner
#           estimates by looking up the index's actual lowest id;
#   minmax  the relay's backlog estimate before session 16, max(id) - min(id);
# each in three states: "held" while another transaction's snapshot predates
# the deletes (vacuum cannot remove the rows, nor can a scan mark their index
# entries dead), "first" the first call once that transaction ended, and
# "again" a later call (the entries are marked dead by then). Prints ms and
# shared buffers (hit + read) a call, planning included. Figures only.
#   bench/outbox_dead_rows.sh [DEAD...]     (default: 0 1000000 5000000)
# ECM_DEV_PORT_BASE / ECM_DEV_DIR select the stack; PostgreSQL must be up
# (scripts/devstack.sh start pg).
set -euo pipefail
export ECM_SCRIPT=bench-outbox-dead
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ecm_env_load
cd "$ECM_ROOT"

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(0 1000000 5000000)
db=ecm_outbox_dead_bench
admin=$ECM_DEV_PG_ADMIN_DSN
dsn="${admin/dbname=postgres/dbname=$db}"
psql "$admin" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
for f in db/0*.sql; do
    psql "$dsn" -qX -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null
done
psql "$dsn" -qX -c "ALTER TABLE outbox SET (autovacuum_enabled = false)"

cols="id, topic, msg_key, ce_id::text, ce_type, ce_source, floor(extract(epoch FROM ce_time) * 1000)::bigint, payload"
# SQL adding n rows of a realistic size.
fill() {
    echo "INSERT INTO outbox (topic, msg_key, ce_id, ce_type, ce_source, payload)
          SELECT 'call.results', g::text, gen_random_uuid(), 'ecm.v1.CallResult', 'bench',
                 decode(repeat('ab', 100), 'hex') FROM generate_series(1, $1) g"
}

# "ms buffers" (planning and execution) of the query's third EXPLAIN ANALYZE run when runs=3, else of
# its first.
explain() {
    local q=$1 runs=$2 out="" setup="SET enable_seqscan = on"
    # The relay's transaction keeps its read on the index (ecm_outbox.c).
    [[ $q != *"WHERE id >"* ]] || setup="SET enable_seqscan = off; SET enable_bitmapscan = off"
    for _ in $(seq "$runs"); do
        out=$(psql "$dsn" -qXAt -c "$setup" -c "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) $q")
    done
    jq -r '.[0] | "\(.["Planning Time"] + .["Execution Time"]) \(.Plan["Shared Hit Blocks"] + .Plan["Shared Read Blocks"] + (.Planning["Shared Hit Blocks"] // 0) + (.Planning["Shared Read Blocks"] // 0))"' <<<"$out"
}

# Prints one line: dead rows, read, state, then explain's "ms buffers".
row() {
    local ms buffers
    read -r ms buffers <<<"$4"
    printf '  %10s  %-7s  %-6s  %10.3f ms  %8s buffers\n' "$1" "$2" "$3" "$ms" "$buffers"
}

echo "-- outbox read cost by dead rows before the live ones ($(uptime | sed 's/.*load/load/'))"
printf '  %10s  %-7s  %-6s  %13s  %16s\n' "dead rows" read state "time a call" "shared buffers"
for dead in "${counts[@]}"; do
    psql "$dsn" -qX -c "TRUNCATE outbox RESTART IDENTITY"
    [ "$dead" -eq 0 ] || psql "$dsn" -qX -c "$(fill "$dead")"
    # The holder's snapshot predates the deletes; it ends when terminated.
    psql "$dsn" -qX -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT 1" \
        -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
    holder=$!
    for ((i = 0; ; i++)); do
        [ "$(psql "$dsn" -qXAt -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep(3600)%' AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ] && break
        [ $i -lt 300 ] || ecm_die "the snapshot holder did not start"
        sleep 0.1 # sleep-ok: polling for the holder's session, bounded above
    done
    # ANALYZE: statistics as autovacuum would give them (it is off here).
    psql "$dsn" -qX -c "DELETE FROM outbox" -c "$(fill 2000)" -c "ANALYZE outbox"
    declare -A sql=(
        [head]="SELECT $cols FROM outbox ORDER BY id LIMIT 1000"
        [floor]="SELECT $cols FROM outbox WHERE id > (SELECT $dead::bigint) ORDER BY id LIMIT 1000"
        [literal]="SELECT $cols FROM outbox WHERE id > $dead ORDER BY id LIMIT 1000"
        [minmax]="SELECT max(id) - min(id) + 1 FROM outbox"
    )
    for q in head floor literal minmax; do row "$dead" "$q" held "$(explain "${sql[$q]}" 3)"; done
    psql "$dsn" -qXAt -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep(3600)%' AND pid <> pg_backend_pid()" >/dev/null
    wait "$holder" || true
    for q in head floor literal minmax; do
        row "$dead" "$q" first "$(explain "${sql[$q]}" 1)"
        row "$dead" "$q" again "$(explain "${sql[$q]}" 3)"
    done
done
psql "$admin" -qX -c "DROP DATABASE $db"
