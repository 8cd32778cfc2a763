#!/usr/bin/env bash
# Pausing stops dispatch at once, resuming continues, nothing is lost or sent
# twice. A 400-contact voice campaign (most calls unanswered, 2 s retries)
# fed to the simulator 40 at a time, and a 300-contact SMS campaign (sms-sim
# at 10/s) are paused while contacts are still queued: no
# attempt is recorded after the pause was answered (a batch recorded before
# it may still reach the dialer or gateway), nothing is recorded while they
# stay paused, and after POST .../resume both run to the end with the usual
# whole-campaign checks (every contact closed, ECM's attempts = the
# simulator's rows, no account number or message id twice).
# e2e-env: ECM_SIM_RESULT_MIX=8:70,10:20,9:10
# e2e-env: ECM_SIM_DIAL_RATE=100
# e2e-env: ECM_FEEDER_CAPACITY=40
# e2e-env: ECM_FEEDER_BATCH=20
# e2e-env: ECM_SMS_RATE_HTTP=10
# e2e-timeout: 600
# e2e-seconds: 151
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

q() { ecm_psql -tA -c "$1"; }
attempts_of() { q "SELECT count(*) FROM attempts WHERE campaign_id = $1"; }

vid=$(e2e_create_campaign "e2e pause voice")
sid=$(e2e_create_sms_campaign "e2e pause sms" "Hi {first_name}" http 30)
e2e_upload_contacts "$vid" 400 41 >/dev/null
e2e_upload_contacts "$sid" 300 42 >/dev/null
e2e_step "campaigns $vid (voice, 400) and $sid (sms, 300) running"

e2e_wait_for 120 "voice campaign mid-way (150 attempts)" \
    bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM attempts WHERE campaign_id = $vid') >= 150 ))"
e2e_wait_for 60 "sms campaign mid-way (60 attempts)" \
    bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM attempts WHERE campaign_id = $sid') >= 60 ))"

# Database time just after each answer: an attempt's sending_at is the start
# of the transaction that recorded it, and that transaction held the campaign
# row share-locked, so it committed before the pause did.
api POST "/api/v1/campaigns/$vid/pause" >/dev/null || e2e_fail "pause of $vid refused"
v_paused=$(q "SELECT clock_timestamp()")
api POST "/api/v1/campaigns/$sid/pause" >/dev/null || e2e_fail "pause of $sid refused"
s_paused=$(q "SELECT clock_timestamp()")
v_at=$(attempts_of "$vid")
s_at=$(attempts_of "$sid")
v_queued=$(q "SELECT count(*) FROM contacts WHERE campaign_id = $vid AND state = 'queued'")
s_queued=$(q "SELECT count(*) FROM contacts WHERE campaign_id = $sid AND state = 'queued'")
e2e_assert_ge 1 "$v_queued" "voice contacts queued at the pause"
e2e_assert_ge 1 "$s_queued" "sms contacts queued at the pause"
e2e_step "paused with $v_at voice and $s_at sms attempts recorded," \
    "$v_queued and $s_queued contacts queued"

# Before looking for what must not happen, the point where it would have:
# every voice result is in, and no contact of either campaign waits for a
# retry still to come (all are due: an active campaign would take them now).
# Then a few dispatch ticks (200 ms) more.
all_due() {
    (($(q "SELECT count(*) FROM contacts WHERE (campaign_id = $vid AND state = 'dispatched')
        OR (campaign_id IN ($vid, $sid) AND state = 'waiting'
            AND next_attempt_at > $(ecm_business_now_sql))") == 0))
}
t_due=$SECONDS
e2e_wait_for 120 "every open contact of the paused campaigns due" all_due
e2e_step "every open contact due $((SECONDS - t_due))s after the pause"
sleep 3 # sleep-ok: nothing must happen; every contact has been due since the marker above
for pair in "$vid:$v_paused" "$sid:$s_paused"; do
    c=${pair%%:*} t=${pair#*:}
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $c
        AND sending_at > '$t'")" "campaign $c: attempts recorded after the pause answer"
done
e2e_assert_eq "$v_at" "$(attempts_of "$vid")" "voice attempts while paused"
e2e_assert_eq "$s_at" "$(attempts_of "$sid")" "sms attempts while paused"
open_v=$(q "SELECT count(*) FROM contacts WHERE campaign_id = $vid AND state <> 'closed'")
e2e_assert_ge 1 "$open_v" "voice contacts still open while paused"
e2e_step "nothing recorded while paused; $open_v voice contacts wait"

api POST "/api/v1/campaigns/$vid/resume" >/dev/null || e2e_fail "resume of $vid refused"
api POST "/api/v1/campaigns/$sid/resume" >/dev/null || e2e_fail "resume of $sid refused"
e2e_step "resumed"
e2e_wait_campaign_closed "$vid" 300
e2e_wait_campaign_closed "$sid" 120
e2e_campaign_summary "$vid"
e2e_check_campaign "$vid" 400
e2e_assert_ge $((v_at + 1)) "$(attempts_of "$vid")" "voice attempts after the resume"

e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts WHERE campaign_id = $sid
    AND (state <> 'closed' OR outcome IS NULL)")" "sms contacts not closed"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $sid
    AND (status <> 'done' OR outcome IS NULL)")" "sms attempts without a result"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts c WHERE c.campaign_id = $sid
    AND c.attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = c.id)")" \
    "sms contacts whose attempts counter differs from their attempts rows"
stats=$(e2e_smssim_stats)
e2e_assert_eq "$(attempts_of "$sid")" "$(jq -r '[.by_outcome[]] | add' <<<"$stats")" \
    "sms attempts (ECM) vs messages (sms-sim)"
e2e_assert_eq 0 "$(jq -r .duplicate_message_ids <<<"$stats")" "message ids received twice"
e2e_step "sms campaign $sid consistent: $(attempts_of "$sid") attempts, 0 duplicates"
