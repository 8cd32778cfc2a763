#!/usr/bin/env bash
# An SMS campaign through the generic HTTP/JSON gateway (sms-sim) with a mixed
# outcome: rejected sends, undelivered DLRs and missing DLRs. Retries and
# closures follow the strategy (Default's SMS rules with 2 s delays: delivered
# and rejected close, undelivered and expired retry up to 2 times), missing
# DLRs end as SMS_EXPIRED after the campaign's DLR timeout, ECM's outcome
# counts equal the simulator's, and no message id reached it twice.
# e2e-env: ECM_SMSSIM_MIX=delivered:55,undelivered:20,rejected:10,nodlr:15
# e2e-env: ECM_SMS_DLR_SCAN_MS=500
# e2e-timeout: 420
# e2e-seconds: 43
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=300
cid=$(e2e_create_sms_campaign "e2e sms mixed" "Hi {first_name}, your order shipped." http 4)
e2e_upload_contacts "$cid" "$n" 23 >/dev/null
e2e_wait_campaign_closed "$cid" 300
e2e_campaign_summary "$cid"

q() { ecm_psql -tA -c "$1"; }
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $cid
    AND (status <> 'done' OR outcome IS NULL)")" "attempts without a result"

# The strategy: what each closed contact went through.
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts c WHERE c.campaign_id = $cid
    AND c.outcome IN ('SMS_DELIVERED', 'SMS_REJECTED')
    AND c.outcome <> (SELECT a.outcome FROM attempts a WHERE a.contact_id = c.id
                      ORDER BY a.attempt DESC LIMIT 1)")" \
    "delivered/rejected contacts whose last attempt says otherwise"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts c WHERE c.campaign_id = $cid
    AND c.outcome IN ('SMS_UNDELIVERED', 'SMS_EXPIRED')
    AND (SELECT count(*) FROM attempts a WHERE a.contact_id = c.id
         AND a.outcome = c.outcome) <> 2")" \
    "undelivered/expired contacts closed before or after their 2nd such attempt"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts a JOIN contacts c ON c.id = a.contact_id
    WHERE c.campaign_id = $cid AND a.outcome = 'SMS_REJECTED' AND a.attempt < c.attempts")" \
    "contacts retried after a rejection"
e2e_assert_ge 1 "$(q "SELECT count(*) FROM contacts WHERE campaign_id = $cid
    AND attempts > 1")" "contacts retried"

# ECM and the gateway agree on what happened to every message.
stats=$(e2e_smssim_stats)
for pair in delivered:SMS_DELIVERED undelivered:SMS_UNDELIVERED rejected:SMS_REJECTED \
    nodlr:SMS_EXPIRED; do
    sim=$(jq -r ".by_outcome.${pair%%:*}" <<<"$stats")
    ecm=$(q "SELECT count(*) FROM attempts WHERE campaign_id = $cid AND outcome = '${pair#*:}'")
    e2e_assert_eq "$sim" "$ecm" "attempts ${pair#*:} (ECM) vs ${pair%%:*} (sms-sim)"
done
e2e_assert_ge 1 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $cid
    AND outcome = 'SMS_EXPIRED'")" "attempts expired for want of a DLR"
e2e_assert_eq 0 "$(jq -r .duplicate_message_ids <<<"$stats")" "message ids received twice"
e2e_step "strategy followed; sms-sim and ECM agree: $(jq -c .by_outcome <<<"$stats")"
