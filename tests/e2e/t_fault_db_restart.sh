#!/usr/bin/env bash
# The dev PostgreSQL stopped (pg_ctl -m fast: every connection cut) for ~5 s
# in the middle of a campaign, then started again. Every service rides it
# out: /readyz answers 503 while the DB is gone and 200 after, no process
# exits or restarts, and the campaign ends with nothing lost and no account
# number dialled twice. The Cisco simulator keeps its state in the same
# cluster, so it has to ride it out too.
# e2e-env: ECM_SIM_DIAL_RATE=150
# e2e-env: ECM_FEEDER_CAPACITY=100
# e2e-env: ECM_FEEDER_BATCH=50
# e2e-timeout: 300
# e2e-seconds: 84
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=600
down_s=5

# HTTP status of NAME's /readyz ("000" when it does not answer at all).
readyz() {
    curl -s -o /dev/null --max-time 8 -w '%{http_code}' \
        "http://127.0.0.1:$(ecm_http_port "$1")/readyz" || true
}
is_ready() { [[ $(readyz "$1") == 200 ]]; }
is_unready() { [[ $(readyz "$1") == 503 ]]; }
count() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid $1"; }
at_least() { (($(count "$2") >= $1)); }

# Every process must be the one that was started: same pid, still running.
# (Optional processes of the stack that are not running are left out.)
e2e_record_processes

cid=$(e2e_create_campaign "e2e db restart")
e2e_upload_contacts "$cid" "$n" 31 >"$E2E_TMP/upload.json"
e2e_assert_eq "$n" "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"
e2e_wait_for 60 "150 results" at_least 150 "AND status = 'done'"
e2e_step "stopping PostgreSQL at $(count "AND status = 'done'") results of $(count "") attempts"

# If the scenario fails while the DB is down, the next one still finds it up.
trap 'ecm_pg_running || ecm_pg_start >/dev/null 2>&1 || true; rm -rf "$E2E_TMP"' EXIT
t0=$SECONDS
ecm_pg_stop >/dev/null || e2e_fail "pg_ctl stop failed"
for s in "${ECM_SERVICES[@]}"; do
    e2e_wait_for 60 "$s /readyz 503 while the DB is down" is_unready "$s"
done
e2e_step "every service reports not ready after $((SECONDS - t0))s"
while ((SECONDS - t0 < down_s)); do sleep 0.5; done # sleep-ok: the outage lasts down_s
e2e_same_processes "while the DB was down"
ecm_pg_start >/dev/null || e2e_fail "PostgreSQL did not start again"
e2e_step "PostgreSQL back after $((SECONDS - t0))s"

t1=$SECONDS
for s in "${ECM_SERVICES[@]}"; do
    e2e_wait_for 60 "$s /readyz 200 after the DB came back" is_ready "$s"
done
e2e_step "every service ready again $((SECONDS - t1))s after the DB came back"
e2e_same_processes "after the DB came back"

e2e_wait_campaign_closed "$cid" 150
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" "$n"
e2e_same_processes "at the end"
