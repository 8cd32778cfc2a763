#!/usr/bin/env bash
# A number added to the DNC list mid-campaign is never dispatched again. A
# 300-contact voice campaign (mostly unanswered, 2 s retries, dialled at
# 30/s) and a 300-contact SMS campaign (sms-sim at 10/s) run; mid-way,
# through POST /api/v1/dnc: 20 voice contacts get both numbers listed, 10
# their first only, and likewise 20 and 10 SMS contacts not yet sent. Then:
# no attempt on a listed number is recorded after its entry was created;
# contacts with one number left go on with it; contacts with none left end
# closed DNC (voice: unless the result of an earlier attempt closed them
# first); the whole-campaign checks still hold.
#
# Times compared are database times (attempts.sending_at, the start of the
# transaction that took the contact, and dnc.created_at). An entry whose
# insert is still committing while a take reads the list is not seen by it,
# so an attempt up to a second after created_at is not counted as a breach.
# e2e-env: ECM_SIM_RESULT_MIX=8:85,10:10,9:5
# e2e-env: ECM_SIM_DIAL_RATE=30
# e2e-env: ECM_SMS_RATE_HTTP=10
# e2e-timeout: 600
# e2e-seconds: 109
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

q() { ecm_psql -tA -c "$1"; }
# dnc_add_all FILE: a global DNC entry through the API for every number in
# FILE (one a line), eight requests at a time.
dnc_add_all() {
    # shellcheck disable=SC2016
    xargs -P 8 -I '{}' bash -c 'api POST /api/v1/dnc \
        -d "{\"phone\": \"$1\", \"reason\": \"e2e mid-campaign\"}" >/dev/null' _ '{}' <"$1" ||
        e2e_fail "POST /api/v1/dnc refused a number of $1"
}

vid=$(e2e_create_campaign "e2e dnc voice")
sid=$(e2e_create_sms_campaign "e2e dnc sms" "Hi {first_name}" http 30)
e2e_upload_contacts "$vid" 300 51 >/dev/null
e2e_upload_contacts "$sid" 300 52 >/dev/null
e2e_step "campaigns $vid (voice, 300) and $sid (sms, 300) running"

e2e_wait_for 120 "voice campaign mid-way (200 attempts)" \
    bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM attempts WHERE campaign_id = $vid') >= 200 ))"

# Voice: open contacts that were called already (they are between attempts).
q "SELECT id, phones[1], phones[2] FROM contacts WHERE campaign_id = $vid
   AND state <> 'closed' AND attempts >= 1 ORDER BY id LIMIT 30" >"$E2E_TMP/voice"
e2e_assert_eq 30 "$(wc -l <"$E2E_TMP/voice")" "open voice contacts picked"
# SMS: contacts not sent yet.
q "SELECT id, phones[1], phones[2] FROM contacts WHERE campaign_id = $sid
   AND attempts = 0 AND state <> 'closed' ORDER BY id DESC LIMIT 30" >"$E2E_TMP/sms"
e2e_assert_eq 30 "$(wc -l <"$E2E_TMP/sms")" "unsent sms contacts picked"

both=() first=() sms=() sms_first=()
: >"$E2E_TMP/numbers"
k=0
while IFS='|' read -r id p1 p2; do
    if ((k < 20)); then
        printf '%s\n%s\n' "$p1" "$p2" >>"$E2E_TMP/numbers"
        both+=("$id")
    else
        printf '%s\n' "$p1" >>"$E2E_TMP/numbers"
        first+=("$id")
    fi
    k=$((k + 1))
done <"$E2E_TMP/voice"
k=0
while IFS='|' read -r id p1 p2; do
    if ((k < 20)); then
        printf '%s\n%s\n' "$p1" "$p2" >>"$E2E_TMP/numbers"
        sms+=("$id")
    else
        printf '%s\n' "$p1" >>"$E2E_TMP/numbers"
        sms_first+=("$id")
    fi
    k=$((k + 1))
done <"$E2E_TMP/sms"
dnc_add_all "$E2E_TMP/numbers"
e2e_step "DNC: both numbers of ${#both[@]} voice and ${#sms[@]} sms contacts," \
    "the first of ${#first[@]} voice and ${#sms_first[@]} sms contacts"
ids_both=$(IFS=,; echo "${both[*]}")
ids_first=$(IFS=,; echo "${first[*]}")
ids_sms=$(IFS=,; echo "${sms[*]}")
ids_sms_first=$(IFS=,; echo "${sms_first[*]}")

e2e_wait_campaign_closed "$vid" 300
e2e_wait_campaign_closed "$sid" 120
e2e_campaign_summary "$vid"
e2e_campaign_summary "$sid"

# The rule itself, for every listed number of both campaigns.
breach="SELECT a.contact_id, a.attempt, a.phone, a.sending_at, d.created_at FROM attempts a
    JOIN dnc d ON d.phone_key = regexp_replace(a.phone, '[^0-9]', '', 'g')
    WHERE a.campaign_id IN ($vid, $sid) AND d.campaign_id IS NULL
    AND a.sending_at > d.created_at + interval '1 second'"
n_breach=$(q "SELECT count(*) FROM ($breach) b")
if ((n_breach > 0)); then
    ecm_psql -c "$breach LIMIT 10" >&2
    e2e_fail "$n_breach attempts on numbers after they joined the DNC list"
fi
late=$(q "SELECT count(*) FROM attempts a JOIN dnc d
    ON d.phone_key = regexp_replace(a.phone, '[^0-9]', '', 'g')
    WHERE a.campaign_id IN ($vid, $sid) AND a.sending_at > d.created_at")
e2e_step "no attempt on a listed number after its entry ($late within its first second)"

# Voice contacts with both numbers listed: closed DNC, unless the result of an
# attempt made before closed them first.
e2e_assert_ge 1 "$(q "SELECT count(*) FROM contacts WHERE id IN ($ids_both)
    AND outcome = 'DNC'")" "voice contacts closed DNC"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts c WHERE c.id IN ($ids_both)
    AND c.outcome <> 'DNC' AND c.outcome IS DISTINCT FROM (SELECT a.outcome FROM attempts a
        WHERE a.contact_id = c.id ORDER BY a.attempt DESC LIMIT 1)")" \
    "voice contacts of both numbers closed otherwise than DNC or by their last result"
# First number listed: any later attempt went to the second.
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts WHERE id IN ($ids_first)
    AND outcome = 'DNC'")" "voice contacts with a number left closed DNC"
moved=$(q "SELECT count(*) FROM attempts a JOIN contacts c ON c.id = a.contact_id
    JOIN dnc d ON d.phone_key = regexp_replace(c.phones[1], '[^0-9]', '', 'g')
    WHERE c.id IN ($ids_first) AND a.phone = c.phones[2] AND a.sending_at > d.created_at")
e2e_step "$moved attempts went to the second number of contacts whose first is listed"
e2e_check_campaign "$vid" 300

# SMS contacts listed before any attempt: closed DNC, nothing sent.
e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts c WHERE c.id IN ($ids_sms)
    AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = c.id)
    AND (c.state <> 'closed' OR c.outcome <> 'DNC')")" \
    "unsent sms contacts not closed DNC"
e2e_assert_ge 1 "$(q "SELECT count(*) FROM contacts c WHERE c.id IN ($ids_sms)
    AND c.outcome = 'DNC' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = c.id)")" \
    "sms contacts closed DNC before sending"
# (The sender keeps going while the list is written: a contact picked unsent
# may have had its message sent just before its entry; after it, only the
# second number may be used.)
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts a JOIN contacts c ON c.id = a.contact_id
    JOIN dnc d ON d.phone_key = regexp_replace(c.phones[1], '[^0-9]', '', 'g')
    AND d.campaign_id IS NULL
    WHERE c.id IN ($ids_sms_first) AND a.phone <> c.phones[2] AND a.sending_at > d.created_at")" \
    "sms attempts after the entry of contacts whose first number was listed, not on the second"
stats=$(e2e_smssim_stats)
e2e_assert_eq 0 "$(jq -r .duplicate_message_ids <<<"$stats")" "message ids received twice"
metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$(ecm_http_port feeder)/metrics" || true)
e2e_step "feeder: $(grep -E '^ecm_gate_closed_total\{outcome="DNC"\}' <<<"$metrics" || echo 'no gate DNC closes (closed by the API)')"
