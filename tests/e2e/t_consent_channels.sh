#!/usr/bin/env bash
# One consent record across channels (issue 16, db/017's consent ledger).
#
# A voice campaign and an SMS campaign hold the same number A. The voice
# contact of A is being dialled (the simulator answers "no answer" for it,
# retried every 2 s); the SMS contact of A waits for a callback a day ahead,
# so nothing is sent to A. Then A texts STOP through Kannel:
#  - the ledger has the STOP (revoke, scope all, source stop_keyword), dnc
#    has A for voice and for SMS, and both contacts of A are closed DNC;
#  - nothing is dispatched to A after the STOP: no attempt to A whose
#    sending_at is later than the STOP's recorded_at (database times; an
#    attempt up to a second after is a take that read the list before the
#    STOP committed, as in t_dnc_midcampaign);
#  - GET /api/v1/consent/A shows the STOP in the history and both channels
#    revoked.
# A number D answered with CallResult 26 (the agent's "do not call") enters
# the ledger through the strategy (source agent_disposition, actor
# strategy), and the SMS contact of D (waiting) is closed DNC with it.
# Then A texts START: the ledger has the grant (start_keyword), A is off
# dnc, and a new voice contact of A is dialled.
# e2e-env: ECM_SIM_NUMBER_RESULTS=0411:8,0426:26
# e2e-env: ECM_SIM_DIAL_RATE=20
# e2e-timeout: 300
# e2e-seconds: 57
source "$(dirname "$0")/lib.sh"

q() { ecm_psql -tA -c "$1"; }
A=+12125550411
D=+12125550426
KEY_A=12125550411
KEY_D=12125550426

# A strategy that retries a no-answer every 2 s many times: the contact of
# A is still being dialled when the STOP arrives.
body=$(jq -n '{name: "Consent", max_attempts: 60, max_attempts_per_day: 60,
    rules: [{outcome: "NO_ANSWER", action: "retry", delay_seconds: 2, max_attempts: 60},
            {outcome: "DNC", action: "close"}, {outcome: "CONNECTED", action: "close"}]}')
api POST /api/v1/strategies -d "$body" >/dev/null || e2e_fail "POST /api/v1/strategies failed"

vid=$(e2e_create_campaign "e2e consent voice" Consent)
sid=$(e2e_create_sms_campaign "e2e consent sms" "Hi {first_name}" kannel 60)
api POST "/api/v1/campaigns/$sid/pause" -d '{}' >/dev/null || e2e_fail "pause $sid failed"
printf 'first_name,last_name,phone1\nAda,Voice,%s\nDan,Voice,%s\n' "$A" "$D" >"$E2E_TMP/voice.csv"
printf 'first_name,last_name,phone1\nAda,Sms,%s\nDan,Sms,%s\n' "$A" "$D" >"$E2E_TMP/sms.csv"
upload() {
    e2e_assert_eq 2 "$(api POST "/api/v1/campaigns/$1/uploads" -H 'Content-Type: text/csv' \
        --data-binary "@$E2E_TMP/$2.csv" | jq -r .rows_loaded)" "rows loaded into $2"
}
upload "$sid" sms
# The SMS contacts wait a day: nothing is sent to A or D. Their callbacks
# are set before the voice contacts exist: D's voice result (26) closes
# D's SMS contact, and a closed contact takes no callback.
tomorrow=$(e2e_iso $(($(ecm_business_now_ms) + 24 * 3600000)))
for id in $(q "SELECT id FROM contacts WHERE campaign_id = $sid ORDER BY id"); do
    e2e_assert_eq waiting "$(api POST "/api/v1/contacts/$id/callback" -d "{\"at\": \"$tomorrow\"}" |
        jq -r .state)" "state of SMS contact $id after its callback"
done
upload "$vid" voice
api POST "/api/v1/campaigns/$sid/resume" -d '{}' >/dev/null || e2e_fail "resume $sid failed"
va=$(q "SELECT id FROM contacts WHERE campaign_id = $vid AND phones[1] = '$A'")
sa=$(q "SELECT id FROM contacts WHERE campaign_id = $sid AND phones[1] = '$A'")
sd=$(q "SELECT id FROM contacts WHERE campaign_id = $sid AND phones[1] = '$D'")
e2e_step "voice campaign $vid (contact $va of A), sms campaign $sid (contacts $sa of A, $sd of D)"

# ---- STOP by SMS blocks voice too --------------------------------------
e2e_wait_for 120 "the voice contact of A dialled twice" \
    bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM attempts WHERE contact_id = $va') >= 2 ))"
e2e_fakesmsc_mo "$A" "STOP"
e2e_wait_for 60 "the STOP in the consent ledger" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*)
    FROM consent_ledger WHERE phone_key = '$KEY_A' AND action = 'revoke' AND scope = 'all'
    AND source = 'stop_keyword' AND campaign_id IS NULL AND actor = 'sms-mo'\") == 1 ))"
e2e_assert_eq "sms,voice" "$(q "SELECT string_agg(channel, ',' ORDER BY channel) FROM dnc
    WHERE phone_key = '$KEY_A' AND campaign_id IS NULL")" "channels A is revoked on"
e2e_wait_for 60 "the voice contact of A closed" bash -c "[[ \$(ecm_psql -tA -c \"SELECT state
    FROM contacts WHERE id = $va\") == closed ]]"
e2e_assert_eq "closed DNC" "$(q "SELECT state || ' ' || outcome FROM contacts WHERE id = $va")" \
    "voice contact of A after the STOP"
e2e_assert_eq "closed DNC" "$(q "SELECT state || ' ' || outcome FROM contacts WHERE id = $sa")" \
    "SMS contact of A after the STOP"
stop_at=$(q "SELECT recorded_at FROM consent_ledger WHERE phone_key = '$KEY_A' AND source = 'stop_keyword'")
dialled=$(q "SELECT count(*) FROM attempts WHERE contact_id = $va")
e2e_step "STOP recorded at $stop_at; contact $va had $dialled attempts"

# The history and state through the API.
consent=$(api GET "/api/v1/consent/%2B$KEY_A") || e2e_fail "GET /api/v1/consent/A failed"
e2e_assert_eq "revoke stop_keyword all sms-mo" \
    "$(jq -r '.history[-1] | "\(.action) \(.source) \(.scope) \(.actor)"' <<<"$consent")" \
    "A's latest consent entry"
e2e_assert_eq "revoked revoked" \
    "$(jq -r '.state[] | select(.campaign_id == null) | "\(.voice.state) \(.sms.state)"' <<<"$consent")" \
    "A's global state (voice, sms)"

# ---- an agent's DNC disposition enters the ledger ----------------------
e2e_wait_for 120 "D's agent DNC in the consent ledger" bash -c "(( \$(ecm_psql -tA -c \"SELECT
    count(*) FROM consent_ledger WHERE phone_key = '$KEY_D' AND action = 'revoke'
    AND scope = 'all' AND source = 'agent_disposition' AND actor = 'strategy'\") == 1 ))"
e2e_assert_eq "closed DNC" "$(q "SELECT state || ' ' || outcome FROM contacts
    WHERE campaign_id = $vid AND phones[1] = '$D'")" "voice contact of D"
e2e_assert_eq "closed DNC" "$(q "SELECT state || ' ' || outcome FROM contacts WHERE id = $sd")" \
    "SMS contact of D after the agent's DNC"
e2e_assert_eq "agent_disposition" "$(api GET "/api/v1/consent/%2B$KEY_D" |
    jq -r '.history[-1].source')" "D's consent history"

# ---- nothing was dispatched to A after the STOP --------------------------
# By now the voice campaign has run on (D's call was dialled and its result
# applied); the contact of A is closed, so the feeder can't take it again.
e2e_assert_eq "$dialled" "$(q "SELECT count(*) FROM attempts WHERE contact_id = $va")" \
    "attempts of contact $va since it was closed"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE regexp_replace(phone, '[^0-9]', '', 'g')
    = '$KEY_A' AND sending_at > '$stop_at'::timestamptz + interval '1 second'")" \
    "attempts to A dispatched after its STOP"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $sid")" \
    "SMS attempts (the SMS contacts waited, then were closed)"

# ---- START lets a new contact of A be contacted again ------------------
e2e_fakesmsc_mo "$A" "START"
e2e_wait_for 60 "A off dnc" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM dnc
    WHERE phone_key = '$KEY_A'\") == 0 ))"
e2e_assert_eq "grant start_keyword all" "$(q "SELECT action || ' ' || source || ' ' || scope
    FROM consent_ledger WHERE phone_key = '$KEY_A' ORDER BY at DESC, id DESC LIMIT 1")" \
    "A's latest ledger entry"
e2e_assert_eq "granted granted" "$(api GET "/api/v1/consent/%2B$KEY_A" |
    jq -r '.state[] | select(.campaign_id == null) | "\(.voice.state) \(.sms.state)"')" \
    "A's global state after START"
vid2=$(e2e_create_campaign "e2e consent voice again" Consent)
printf 'first_name,last_name,phone1\nAda,Again,%s\n' "$A" >"$E2E_TMP/again.csv"
e2e_assert_eq 1 "$(api POST "/api/v1/campaigns/$vid2/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/again.csv" | jq -r .rows_loaded)" "A loaded again after START"
e2e_wait_for 120 "the new contact of A dialled" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*)
    FROM attempts WHERE campaign_id = $vid2\") >= 1 ))"
# The old contacts stay closed: a START does not reopen them.
e2e_assert_eq "closed closed" "$(q "SELECT string_agg(state, ' ') FROM contacts WHERE id IN ($va, $sa)")" \
    "the contacts the STOP closed"
# Both first campaigns completed (every contact closed); the last one stops.
e2e_assert_eq "completed completed" "$(q "SELECT string_agg(state, ' ' ORDER BY id) FROM campaigns
    WHERE id IN ($vid, $sid)")" "states of the first two campaigns"
api POST "/api/v1/campaigns/$vid2/stop" -d '{}' >/dev/null || e2e_fail "stop $vid2 failed"
e2e_step "consent across channels: STOP, agent DNC and START hold"
