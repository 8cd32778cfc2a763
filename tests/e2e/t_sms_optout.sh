#!/usr/bin/env bash
# A STOP sent from the fake SMSC in the middle of a campaign puts the number on
# the DNC list at once: its contact is closed DNC, it gets one confirmation and
# no other message afterwards. START takes it off: the next campaign reaches it.
# The number that opts out must not have been sent anything before its STOP:
# its contact is given a callback a day ahead before the campaign runs, so it
# waits in the campaign (open, 'waiting') while the others are sent, however
# fast that goes; the campaign closes only when the STOP closes it.
# e2e-env: ECM_SMS_RATE_KANNEL=40
# e2e-timeout: 300
# e2e-seconds: 75
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=1500
cid=$(e2e_create_sms_campaign "e2e sms opt-out" "Hi {first_name}, reply STOP to opt out." kannel 60)
# Paused while the contacts arrive: nothing is sent until the resume.
api POST "/api/v1/campaigns/$cid/pause" -d '{}' >/dev/null || e2e_fail "pause $cid failed"
e2e_upload_contacts "$cid" "$n" 27 >/dev/null
# The last contact: called back tomorrow, so it is not sent anything before its STOP.
read -r last number < <(ecm_psql -tA -F ' ' -c "SELECT id, phones[1] FROM contacts
    WHERE campaign_id = $cid ORDER BY id DESC LIMIT 1")
tomorrow=$(e2e_iso $(($(ecm_business_now_ms) + 24 * 3600000)))
e2e_assert_eq waiting "$(api POST "/api/v1/contacts/$last/callback" -d "{\"at\": \"$tomorrow\"}" |
    jq -r .state)" "state of contact $last after its callback at $tomorrow"
api POST "/api/v1/campaigns/$cid/resume" -d '{}' >/dev/null || e2e_fail "resume $cid failed"
e2e_wait_for 60 "the campaign under way" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = $cid\") >= 100 ))"
e2e_assert_eq 0 "$(e2e_fakesmsc_count "$number")" "messages to $number before its STOP"

e2e_fakesmsc_mo "$number" " Stop. "
e2e_wait_for 60 "$number on the DNC list" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM dnc WHERE channel = 'sms' AND campaign_id IS NULL AND phone_key = regexp_replace('$number', '[^0-9]', '', 'g')\") == 1 ))"
e2e_wait_campaign_closed "$cid" 200
e2e_assert_eq DNC "$(ecm_psql -tA -c "SELECT outcome FROM contacts WHERE campaign_id = $cid
    AND phones[1] = '$number'")" "outcome of the contact that sent STOP"
e2e_wait_for 60 "the opt-out confirmation" bash -c "(( \$(ecm_fakesmsc_count '$number') >= 1 ))"
# Before counting what $number got: every message sent so far (each attempt
# of the closed campaign, and the confirmation) has reached the fake SMSC.
sent=$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid")
everything_arrived() { (($(e2e_fakesmsc_total) >= sent + 1)); }
e2e_wait_for 60 "$((sent + 1)) messages at the fake SMSC" everything_arrived
e2e_assert_eq 1 "$(e2e_fakesmsc_count "$number")" \
    "messages to $number after its STOP (only the confirmation)"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts a JOIN contacts c
    ON c.id = a.contact_id WHERE c.campaign_id = $cid AND c.phones[1] = '$number'")" \
    "attempts to the opted-out number"

# START: off the list, a confirmation, and the next campaign reaches the number.
e2e_fakesmsc_mo "$number" "START"
e2e_wait_for 60 "$number off the DNC list" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM dnc WHERE phone_key = regexp_replace('$number', '[^0-9]', '', 'g')\") == 0 ))"
cid2=$(e2e_create_sms_campaign "e2e sms after START" "Welcome back {first_name}." kannel 60)
printf 'first_name,last_name,phone1\nAlex,Again,%s\n' "$number" >"$E2E_TMP/one.csv"
api POST "/api/v1/campaigns/$cid2/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/one.csv" >/dev/null
e2e_wait_campaign_closed "$cid2" 60
e2e_assert_eq SMS_DELIVERED "$(ecm_psql -tA -c "SELECT outcome FROM contacts
    WHERE campaign_id = $cid2")" "outcome after START"
e2e_wait_for 60 "three messages to $number" bash -c "(( \$(ecm_fakesmsc_count '$number') >= 3 ))"
e2e_assert_eq 3 "$(e2e_fakesmsc_count "$number")" \
    "messages to $number: STOP confirmation, START confirmation, the new campaign's"
