#!/usr/bin/env bash
# A 10,000-contact SMS campaign through the real Kannel (bearerbox + smsbox +
# fake SMSC): every contact closed SMS_DELIVERED, and the fake SMSC's client
# received exactly one message for every contact's number — none missing,
# none twice.
# e2e-env: ECM_SMS_RATE_KANNEL=600
# e2e-env: ECM_SMS_CONCURRENCY=32
# e2e-timeout: 600
# e2e-seconds: 46
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=10000
cid=$(e2e_create_sms_campaign "e2e sms kannel" \
    "Hello {first_name}, your appointment is confirmed. Reply STOP to opt out." kannel 120)
e2e_upload_contacts "$cid" "$n" 21 >"$E2E_TMP/upload.json"
e2e_assert_eq "$n" "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"
e2e_wait_campaign_closed "$cid" 480
e2e_campaign_summary "$cid"

e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts
    WHERE campaign_id = $cid AND outcome IS DISTINCT FROM 'SMS_DELIVERED'")" \
    "contacts not closed SMS_DELIVERED"
e2e_assert_eq "$n" "$(ecm_psql -tA -c "SELECT count(*) FROM attempts
    WHERE campaign_id = $cid AND encoding = 'GSM7' AND segments = 1")" \
    "attempts sent as one GSM-7 segment"

# Every number got exactly one message at the fake SMSC.
e2e_wait_for 120 "fakesmsc to log $n messages" bash -c "(( \$(ecm_fakesmsc_count | awk '{ n += \$2 } END { print n + 0 }') >= $n ))"
ecm_psql -tA -c "SELECT phones[1] FROM contacts WHERE campaign_id = $cid ORDER BY 1" \
    >"$E2E_TMP/numbers"
e2e_fakesmsc_count | sort >"$E2E_TMP/received"
awk '{ print $1 " 1" }' "$E2E_TMP/numbers" | sort >"$E2E_TMP/expected"
if ! diff -q "$E2E_TMP/expected" "$E2E_TMP/received" >/dev/null; then
    diff "$E2E_TMP/expected" "$E2E_TMP/received" | head -20 >&2
    e2e_fail "the fake SMSC did not receive exactly one message per contact"
fi
e2e_step "fake SMSC received exactly one message for each of the $n numbers"
