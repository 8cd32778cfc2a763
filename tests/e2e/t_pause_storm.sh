#!/usr/bin/env bash
# A voice campaign paused and resumed twelve times while UCCX holds its
# records: each pause takes back what the dialer has not dialled yet (the
# attempt 'withdrawn', its contact queued again), each resume sends on. At
# the end every contact is closed — none kept waiting for the next morning
# because a withdrawn attempt, never dialled, was counted against the day's
# cap (it was, until session 28) — ECM's attempts equal the simulator's
# records and no account number reached it twice.
# e2e-env: ECM_SIM_RESULT_MIX=8:70,10:20,9:10
# e2e-env: ECM_SIM_DIAL_RATE=100
# e2e-env: ECM_FEEDER_CAPACITY=40
# e2e-env: ECM_FEEDER_BATCH=20
# e2e-timeout: 600
# e2e-seconds: 60
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

q() { ecm_psql -tA -c "$1"; }
vid=$(e2e_create_campaign "e2e pause storm")
e2e_upload_contacts "$vid" 800 43 >/dev/null

attempts_over() { (($(q "SELECT count(*) FROM attempts WHERE campaign_id = $vid") >= $1)); }
# Every attempt out at the dialer decided by the feeder's withdrawal
# (withdrawn, or kept because the dialer has it) or answered.
none_undecided() {
    (($(q "SELECT count(*) FROM attempts WHERE campaign_id = $vid
        AND status IN ('sending', 'sent') AND NOT withdraw_kept") == 0))
}
for i in $(seq 12); do
    n=$(q "SELECT count(*) FROM attempts WHERE campaign_id = $vid")
    e2e_wait_for 120 "cycle $i: 20 attempts more than $n" attempts_over $((n + 20))
    api POST "/api/v1/campaigns/$vid/pause" >/dev/null || e2e_fail "pause $i refused"
    e2e_wait_for 120 "cycle $i: the paused campaign's records decided" none_undecided
    api POST "/api/v1/campaigns/$vid/resume" >/dev/null || e2e_fail "resume $i refused"
done
withdrawn=$(q "SELECT count(*) FROM attempts WHERE campaign_id = $vid AND status = 'withdrawn'")
e2e_step "12 pauses and resumes: $withdrawn attempts withdrawn from UCCX undialled"
e2e_assert_ge 1 "$withdrawn" "attempts withdrawn by the pauses"
e2e_wait_campaign_closed "$vid" 300
e2e_campaign_summary "$vid"
e2e_check_campaign "$vid" 800
