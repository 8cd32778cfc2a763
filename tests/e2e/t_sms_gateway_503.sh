#!/usr/bin/env bash
# The generic gateway answers 503 for a stretch in the middle of a campaign:
# the sender backs off and retries, every message is still sent, and none
# twice.
# e2e-env: ECM_SMSSIM_MIX=delivered:100
# e2e-env: ECM_SMS_RATE_HTTP=100
# e2e-timeout: 300
# e2e-seconds: 34
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=1000
cid=$(e2e_create_sms_campaign "e2e sms 503" "Hi {first_name}, see you soon." http 60)
e2e_upload_contacts "$cid" "$n" 25 >/dev/null
sent() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid AND status <> 'sending'"; }
e2e_wait_for 60 "200 messages sent" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = $cid AND status <> 'sending'\") >= 200 ))"
e2e_smssim_unavailable 6
e2e_step "sent so far: $(sent)"
e2e_wait_campaign_closed "$cid" 240

stats=$(e2e_smssim_stats)
e2e_assert_ge 1 "$(jq -r .unavailable_answered <<<"$stats")" "503 answers given by sms-sim"
e2e_assert_eq "$n" "$(jq -r .unique_message_ids <<<"$stats")" "messages received by sms-sim"
e2e_assert_eq 0 "$(jq -r .duplicate_message_ids <<<"$stats")" "message ids received twice"
e2e_assert_eq "$n" "$(ecm_psql -tA -c "SELECT count(*) FROM contacts WHERE campaign_id = $cid
    AND outcome = 'SMS_DELIVERED'")" "contacts delivered"
e2e_assert_eq "$n" "$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid")" \
    "attempts (one per contact)"
e2e_step "$(jq -r .unavailable_answered <<<"$stats") requests answered 503; $n messages sent once each"
