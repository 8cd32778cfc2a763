#!/usr/bin/env bash
# SIGKILL of the feeder at the worst moments of each Cisco writer, with a
# simulator that imports and dials at once:
#  1. ucce_db, the batch written and committed in Cisco's import table (so
#     imported and dialled) but not yet marked 'sent' in the ECM DB;
#  2. ucce_db, the write into the import table blocked and never committed;
#  3. ucce_api, the import request taken by the Outbound API (so imported and
#     dialled) but not yet marked 'sent';
#  4. uccx, the same with the UCCX REST import: a dialled record is no longer
#     in UCCX's pending list, only in its dialinglist tables.
# After each kill the restarted feeder must reconcile from what the dialer can
# tell (import table, dialing list, import list, UCCX's pending list and
# tables, Dialer_Detail) and re-send only what it does not have: every
# contact closed, duplicates 0.
#
# The moments are made, not hoped for: holding an exclusive lock on ECM's
# outbox stops the feeder between Cisco taking a batch and the ECM DB
# recording it 'sent' (that transaction writes the ContactDispatched events);
# holding one on the import table stops the ODBC write itself. No hold by dial
# rate (ECM_FEEDER_HOLD_MINUTES=0): with results held up by the outbox lock it
# would leave the feeder no room for the batch to be caught.
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-env: ECM_SIM_DIAL_DELAY_MS=0
# e2e-env: ECM_FEEDER_CAPACITY=200
# e2e-env: ECM_FEEDER_HOLD_MINUTES=0
# e2e-env: ECM_FEEDER_BATCH=50
# e2e-timeout: 900
# e2e-seconds: 231
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

# The campaigns are loaded in draft and activated one at a time, each just
# before its round, so that each has work to interrupt.
draft() {
    local body id
    body=$(jq -n --arg name "$1" --argjson cisco "$(ecm_cisco_json "$2")" \
        '{name: $name, channel: "voice_ivr", strategy: "E2E", cisco: $cisco}')
    id=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    [[ $id =~ ^[0-9]+$ ]] || e2e_fail "campaign $1 not created"
    e2e_upload_contacts "$id" 600 "$3" >/dev/null
    echo "$id"
}
activate() { api POST "/api/v1/campaigns/$1/activate" -d '{}' >/dev/null || e2e_fail "activate $1 failed"; }
ecm_create_fast_strategy E2E 2 >/dev/null
db_cid=$(draft "e2e kill ucce_db" ucce_db:5003:Import_5003 31)
api_cid=$(draft "e2e kill ucce_api" ucce_api:5005 32)
uccx_cid=$(draft "e2e kill uccx" 12 33)
# The committed kill on ucce_db gets a campaign of its own, activated with
# the feeder frozen like the others: on the first one, still dispatching
# after its restart, the feeder could already be at capacity when the
# outbox lock is taken, with every result it waits for held by that lock,
# and then no batch ever meets the lock (seen once the strategy kept up).
db2_cid=$(draft "e2e kill ucce_db committed" ucce_db:5004:Import_5004 34)

# A psql session holding a lock until told to let go: lock_hold DSN SQL.
# lock.out is emptied here, before psql starts, and each hold waits for its
# own marker: the background psql's own redirection opens the FIFO first
# (blocking until the echo below) and only then truncates lock.out, so a
# check made meanwhile read the previous hold's "locked" and went on while
# the lock was not taken yet (seen 15 times in 200 on the loaded machine).
# The feeder, let go at once, could then fill its capacity and mark it all
# 'sent' before the LOCK came, and with every result held by the lock no
# batch was left to meet it: the stall in "ucce_api taken" (CI) and
# "ucce_db committed".
LOCK_N=0
lock_hold() {
    LOCK_N=$((LOCK_N + 1))
    rm -f "$E2E_TMP/lock.fifo"
    mkfifo "$E2E_TMP/lock.fifo"
    : >"$E2E_TMP/lock.out"
    psql -X -q -v ON_ERROR_STOP=1 "$1" <"$E2E_TMP/lock.fifo" >>"$E2E_TMP/lock.out" 2>&1 &
    LOCK_PID=$!
    exec 7>"$E2E_TMP/lock.fifo"
    echo "BEGIN; $2; SELECT 'locked $LOCK_N';" >&7
    e2e_wait_for 30 "the lock taken" grep -qw "locked $LOCK_N" "$E2E_TMP/lock.out"
}
lock_release() {
    echo "ROLLBACK;" >&7
    exec 7>&-
    wait "$LOCK_PID" || e2e_fail "the lock session failed: $(cat "$E2E_TMP/lock.out")"
}
sending() {
    ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND status = 'sending'"
}
sending_accounts() {
    ecm_psql -tA -c "SELECT string_agg(quote_literal(account_number), ',' ORDER BY 1)
        FROM attempts WHERE campaign_id = $1 AND status = 'sending'"
}
# How many of the campaign's 'sending' attempts the simulator has dialled
# (UCCX's tables for the UCCX campaign, Dialer_Detail for the others).
dialled_sending() {
    local accts
    accts=$(sending_accounts "$1")
    [[ -n $accts ]] || {
        echo 0
        return
    }
    if (($1 == uccx_cid)); then
        ecm_sim_psql -tA -c "SELECT count(*) FROM (SELECT accountnumber FROM dialinglist
            WHERE callresult > 0 UNION ALL SELECT accountnumber FROM dialinglisthistory
            WHERE callresult > 0) d WHERE accountnumber IN ($accts)"
    else
        ecm_sim_psql -tA -c "SELECT count(*) FROM Dialer_Detail WHERE AccountNumber IN ($accts)"
    fi
}
some_sending_dialled() { (($(dialled_sending "$1") > 0)); }
some_sending() { (($(sending "$1") > 0)); }
none_of() { (($(ecm_psql -tA -c "SELECT count(*) FROM attempts
    WHERE account_number IN ($1) AND status = 'sending'") == 0)); }
# reconciled present|resent: the feeder's count, all kinds.
reconciled() {
    curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" |
        awk -v r="result=\"$1\"" '$1 ~ /^ecm_feeder_reconciled_total/ && index($1, r) { s += $2 }
            END { print s + 0 }'
}

# What every session of the stack's PostgreSQL waits on, the campaign's
# attempts by status (when they were sent, against when the lock session
# began) and, when gdb is there, where the feeder and the simulator are:
# printed when a round never gets its batch.
stuck_report() {
    e2e_step "attempts of campaign $1 by status: $(ecm_psql -tA -c "SELECT string_agg(status || '=' || n, ' ')
        FROM (SELECT status, count(*) n FROM attempts WHERE campaign_id = $1 GROUP BY 1) s")"
    ecm_psql -tA -F ' ' -c "SELECT status, count(*), 'sent from', min(sent_at)::time(3), 'to', max(sent_at)::time(3)
        FROM attempts WHERE campaign_id = $1 GROUP BY 1" | sed 's/^/    times: /'
    ecm_psql -tA -F ' ' -c "SELECT 'lock session since', xact_start::time(3), state FROM pg_stat_activity
        WHERE application_name = 'psql' AND query LIKE '%locked%'" | sed 's/^/    /'
    ecm_psql -tA -F ' | ' -c "SELECT datname, coalesce(application_name, ''), state,
        coalesce(wait_event_type || ':' || wait_event, ''), now() - xact_start,
        left(regexp_replace(query, '\s+', ' ', 'g'), 120)
        FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
        ORDER BY xact_start NULLS LAST" | sed 's/^/    pg: /'
    ecm_psql -tA -c "SELECT 'blocked pid ' || pid || ' by ' || pg_blocking_pids(pid)::text
        FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0" | sed 's/^/    /'
    local p pid
    command -v gdb >/dev/null || return 0
    for p in feeder cisco-sim; do
        pid=$(ecm_pid "$p") || continue
        gdb -p "$pid" -batch -ex "thread apply all bt" 2>/dev/null |
            grep -E '^Thread| in (fd_|sim_|ecm_|main|PQ|SQL)' | grep -v 'rdk:' |
            sed "s/^/    $p: /" | head -80
    done
}

# kill_dialled CAMPAIGN WHAT: the feeder killed while attempts Cisco has
# already dialled are still 'sending' in the ECM DB.
# With a third argument the campaign is activated first, the feeder frozen
# meanwhile, so that its first batches meet the lock.
kill_dialled() {
    local cid=$1 what=$2 accts n fpid
    if [[ -n ${3-} ]]; then
        fpid=$(ecm_pid feeder)
        kill -STOP "$fpid"
        activate "$cid"
    fi
    lock_hold "$ECM_DEV_PG_DSN" "LOCK TABLE outbox IN EXCLUSIVE MODE"
    # The feeder goes on only once PostgreSQL has granted the lock.
    e2e_assert_eq 1 "$(ecm_psql -tA -c "SELECT count(*) FROM pg_locks
        WHERE relation = 'outbox'::regclass AND mode = 'ExclusiveLock' AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" \
        "$what: the outbox lock granted before the feeder goes on"
    [[ -z ${3-} ]] || kill -CONT "$fpid"
    if ! e2e_wait_for --quiet 120 "$what: a batch dialled by Cisco" some_sending_dialled "$cid"; then
        stuck_report "$cid"
        e2e_fail "gave up after 120s waiting for: $what: a batch dialled by Cisco still 'sending' in ECM"
    fi
    n=$(dialled_sending "$cid")
    accts=$(sending_accounts "$cid")
    ecm_kill9 feeder
    # Results must not settle the batch first: only the reconciliation may.
    # (Both readers wait on the outbox lock: killed, not stopped.)
    ecm_kill9 result-sync
    ecm_kill9 result-sync-uccx
    lock_release
    e2e_step "$what: feeder killed with $(sending "$cid") attempts 'sending', $n of them dialled"
    ecm_start_service feeder
    e2e_wait_for 120 "$what: the attempts left 'sending' reconciled" none_of "$accts"
    e2e_assert_ge "$n" "$(reconciled present)" "$what: attempts found at Cisco on reconciliation"
    e2e_assert_eq 0 "$(reconciled resent)" "$what: attempts Cisco had that were sent again"
    e2e_step "$what: reconciled: found at Cisco $(reconciled present), sent again 0"
    ecm_start_service result-sync
    ecm_start_service result-sync-uccx
}

# The import table locked: the feeder's INSERT waits, uncommitted, and dies.
# (The feeder frozen while the campaign is activated and the lock taken.)
fpid=$(ecm_pid feeder)
kill -STOP "$fpid"
activate "$db_cid"
lock_hold "$ECM_DEV_SIM_PG_DSN" "LOCK TABLE Import_5003 IN ACCESS EXCLUSIVE MODE"
kill -CONT "$fpid"
e2e_wait_for 120 "ucce_db: a batch 'sending' while the import table is locked" some_sending "$db_cid"
accts=$(sending_accounts "$db_cid")
n=$(sending "$db_cid")
ecm_kill9 feeder
lock_release
e2e_step "ucce_db uncommitted: feeder killed with $n attempts 'sending' (its INSERT blocked)"
ecm_start_service feeder
e2e_wait_for 120 "ucce_db uncommitted: the attempts left 'sending' re-sent" none_of "$accts"
# The batch whose INSERT was blocked never reached Cisco: it must be re-sent.
e2e_assert_ge 1 "$(reconciled resent)" "ucce_db uncommitted: attempts re-sent on reconciliation"
e2e_step "ucce_db uncommitted: re-sent $(reconciled resent)"

# One campaign dispatching at a time: the feeder stopped on another's batch
# would not show this one's.
e2e_wait_campaign_closed "$db_cid" 600
kill_dialled "$db2_cid" "ucce_db committed" activate
e2e_wait_campaign_closed "$db2_cid" 600
kill_dialled "$api_cid" "ucce_api taken" activate
e2e_wait_campaign_closed "$api_cid" 600
kill_dialled "$uccx_cid" "uccx taken" activate
e2e_wait_campaign_closed "$uccx_cid" 600

for cid in "$db_cid" "$db2_cid" "$api_cid" "$uccx_cid"; do
    e2e_check_campaign "$cid" 600
done
