#!/usr/bin/env bash
# The 1,000-contact campaign again, with the feeder and result-sync each killed
# with SIGKILL once mid-run and restarted: the same end state, nothing lost,
# no account number dialled twice.
# e2e-env: ECM_SIM_DIAL_RATE=150
# e2e-timeout: 720
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

cid=$(e2e_create_campaign "e2e kill -9")
e2e_upload_contacts "$cid" 1000 11 >"$E2E_TMP/upload.json"
e2e_assert_eq 1000 "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"

attempts() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid"; }
results() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid AND status = 'done'"; }

e2e_wait_for 120 "300 attempts dispatched" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = $cid\") >= 300 ))"
e2e_step "killing the feeder with SIGKILL at $(attempts) attempts"
ecm_kill9 feeder
sleep 2
ecm_start_service feeder
e2e_step "feeder restarted"

before=$(results)
e2e_wait_for 120 "more results" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = $cid AND status = 'done'\") > $before + 200 ))"
e2e_step "killing result-sync with SIGKILL at $(results) results"
ecm_kill9 result-sync
sleep 2
ecm_start_service result-sync
e2e_step "result-sync restarted"

e2e_wait_campaign_closed "$cid" 600
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" 1000
