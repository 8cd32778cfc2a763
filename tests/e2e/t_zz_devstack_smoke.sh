#!/usr/bin/env bash
# e2e-env: ECM_SIM_DIAL_RATE=500
source "$(dirname "$0")/lib.sh"
cid=$(e2e_create_campaign)
e2e_upload_contacts "$cid" 200 7 >/dev/null
ecm_kill9 feeder
sleep 1
ecm_start_service feeder
e2e_wait_campaign_closed "$cid" 300
e2e_assert_eq 0 "$(ecm_sim_duplicates)" "duplicates"
grep -q 'ECM_SIM_DIAL_RATE=500' /proc/$(ecm_pid cisco-sim)/environ || e2e_fail "dial rate not passed"
