#!/usr/bin/env bash
# The 1,000-contact campaign again, with the feeder and result-sync each killed
# with SIGKILL once mid-run and restarted: the same end state, nothing lost,
# no account number dialled twice.
#
# The feeder is killed at the worst moment: the simulator is frozen (SIGSTOP)
# so that a batch is recorded 'sending' and its POST is in flight; the feeder
# dies, the simulator resumes, and the restarted feeder must reconcile that
# batch with the dialer instead of re-sending it. A small UCCX capacity keeps
# the feeder busy for the whole run, so there is always work to interrupt.
# e2e-env: ECM_SIM_DIAL_RATE=150
# e2e-env: ECM_FEEDER_CAPACITY=100
# e2e-env: ECM_FEEDER_BATCH=50
# e2e-timeout: 720
# e2e-seconds: 97
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

cid=$(e2e_create_campaign "e2e kill -9")
e2e_upload_contacts "$cid" 1000 11 >"$E2E_TMP/upload.json"
e2e_assert_eq 1000 "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"

count() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid $1"; }
at_least() { (($(count "$2") >= $1)); }
sim_campaign() {
    curl -fsS -o /dev/null -X PUT -u "$ECM_DEV_SIM_USER:$ECM_DEV_SIM_PASSWORD" \
        "$ECM_DEV_SIM_URL/adminapi/campaign/1/state/$1" || e2e_fail "could not $1 the UCCX campaign"
}
killed_batch_resolved() {
    (($(ecm_psql -tA -c "SELECT count(*) FROM attempts
        WHERE account_number IN ($in_flight) AND status = 'sending'") == 0))
}

# Dialling stops (imports still answer), so no result can settle the
# interrupted batch: only the restarted feeder's reconciliation can. The
# feeder sends a batch only when it has room (ECM_FEEDER_CAPACITY attempts
# not yet resulted); frozen with none, it sends nothing: then the dialer
# works on until more attempts are out, and the freeze is tried again.
sim=$(ecm_pid cisco-sim)
freeze_with_a_batch_sending() {
    local try out
    for try in 1 2 3 4 5; do
        out=$(count "")
        e2e_wait_for 120 "$((out + 100)) attempts dispatched" at_least $((out + 100)) ""
        sim_campaign disable
        kill -STOP "$sim"
        e2e_step "simulator frozen at $(count "") attempts (try $try)"
        if e2e_wait_for --quiet 30 "a batch left 'sending'" at_least 1 "AND status = 'sending'"; then
            return 0
        fi
        kill -CONT "$sim"
        sim_campaign enable
    done
    return 1
}
e2e_wait_for 120 "200 attempts dispatched" at_least 200 ""
freeze_with_a_batch_sending || e2e_fail "no batch was left 'sending' in five freezes of the simulator"
in_flight=$(ecm_psql -tA -c "SELECT string_agg(quote_literal(account_number), ',')
    FROM attempts WHERE campaign_id = $cid AND status = 'sending'")
sending=$(count "AND status = 'sending'")
e2e_step "killing the feeder with SIGKILL with $sending attempts 'sending'"
ecm_kill9 feeder
kill -CONT "$sim"
ecm_start_service feeder
e2e_step "feeder restarted"
e2e_wait_for 60 "the batch left 'sending' reconciled" killed_batch_resolved
reconciled=$(curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" |
    awk '/^ecm_feeder_reconciled_total/ { s += $2 } END { print s + 0 }')
e2e_assert_ge "$sending" "$reconciled" "attempts reconciled by the restarted feeder"
e2e_step "restarted feeder reconciled $reconciled attempts" \
    "($(curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" | grep '^ecm_feeder_reconciled_total' | tr '\n' ' '))"
sim_campaign enable

before=$(count "AND status = 'done'")
e2e_wait_for 120 "200 more results" at_least $((before + 200)) "AND status = 'done'"
# A UCCX campaign's results come through the result-sync that reads UCCX's
# own tables (result-sync-uccx); that is the one killed.
e2e_step "killing result-sync-uccx with SIGKILL at $(count "AND status = 'done'") results"
ecm_kill9 result-sync-uccx
sleep 1 # sleep-ok: the fault itself: result-sync stays down while results pile up
ecm_start_service result-sync-uccx
e2e_step "result-sync-uccx restarted"

e2e_wait_campaign_closed "$cid" 600
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" 1000
