#!/usr/bin/env bash
# A strategy that moves contacts between channels (issue 17).
#
# Voice to SMS: a voice campaign (Cisco simulator, UCCX campaign 1) with an
# SMS template on Kannel; its strategy retries BUSY every 2 s (at most 3)
# and switches to SMS after 2 busy calls. The simulator answers by number:
#  - B1, B2 (busy): called twice, then exactly one SMS each at the fake SMSC;
#  - C (connected): called once, no SMS;
#  - D (busy, its number revoked for SMS only through the consent API): called
#    three times (the SMS-only entry blocks no call), no SMS, and its
#    channel_note says every mobile number is on the SMS list;
#  - F (busy, a London fixed line only): called three times, no SMS, its
#    channel_note says it has no mobile number;
#  - E (busy London fixed line first, a US number second): called twice on
#    the first, then the SMS goes to the second (the first that may be
#    mobile).
# Attempts are numbered 1..n across channels and each records its channel
# (attempts.channel is what ContactDispatched carries: the feeder reads it
# back for the event, the SMS sender sets SMS); GET /api/v1/contacts shows
# the same.
#
# SMS to voice: an SMS campaign on the generic gateway (sms-sim, every
# message undelivered) with a Cisco target; SMS_UNDELIVERED switches to
# voice: its contact R is texted once, then called exactly once (voice_agent,
# connected).
#
# The simulator's records equal ECM's voice attempts on the target, with no
# account number twice (UCCX codes there: 1 connected). Every wait is for a state, with a generous bound.
# e2e-env: ECM_DEV_CLOCK=2026-03-04T16:00:00Z
# e2e-env: ECM_SIM_NUMBER_RESULTS=0901:9,0902:9,0911:10,0921:9,0931:9,0941:9,0951:10
# e2e-env: ECM_SIM_DIAL_RATE=20
# e2e-env: ECM_SMSSIM_MIX=undelivered:100
# e2e-timeout: 300
# e2e-seconds: 67
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

q() { ecm_psql -tA -c "$1"; }
# status_of METHOD PATH [CURL ARGS]: the HTTP status of one API call.
status_of() {
    local m=$1 p=$2
    shift 2
    curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -X "$m" \
        -H 'Content-Type: application/json' \
        ${ECM_API_KEY:+-H "Authorization: Bearer $ECM_API_KEY"} "$@" "$ECM_DEV_API_URL$p"
}
B1=+12125550901
B2=+12125550902
C=+12125550911
D=+12125550921
F=+442079460931
E1=+442079460941
E2=+12125550942
R=+12125550951

# ---- voice -> SMS --------------------------------------------------------
body=$(jq -n '{name: "Busy to SMS", max_attempts: 10, max_attempts_per_day: 10,
    rules: [{outcome: "BUSY", action: "retry", delay_seconds: 2, max_attempts: 3,
             switch_channel: "sms", switch_after: 2},
            {outcome: "CONNECTED", action: "close"}]}')
api POST /api/v1/strategies -d "$body" >/dev/null || e2e_fail "POST /api/v1/strategies failed"

# Without a template the strategy can't be followed: 422 naming sms.template.
voice=$(jq -n '{name: "e2e switch voice", channel: "voice_ivr", strategy: "Busy to SMS",
    cisco: {kind: "uccx", campaign_id: "1"}}')
e2e_assert_eq 422 "$(status_of POST /api/v1/campaigns -d "$voice")" \
    "status of a campaign switching to SMS without a template"
voice=$(jq --arg s "$ECM_DEV_SMS_SENDER" '.sms = {template: "Hi {first_name}, please call us.",
    sender: $s, gateway: "kannel", dlr_timeout_s: 60}' <<<"$voice")
vid=$(api POST /api/v1/campaigns -d "$voice" | jq -r '.id // empty')
[[ $vid =~ ^[0-9]+$ ]] || e2e_fail "could not create the voice campaign"

# D's number may not be texted (scope sms), it may be called.
consent=$(jq -n --arg p "$D" '{phone: $p, scope: "sms", action: "revoke", reason: "e2e"}')
api POST /api/v1/consent -d "$consent" >/dev/null || e2e_fail "POST /api/v1/consent failed"
e2e_assert_eq sms "$(q "SELECT string_agg(channel, ',') FROM dnc
    WHERE phone_key = regexp_replace('$D', '[^0-9]', '', 'g')")" "channels D is blocked on"

printf 'first_name,last_name,phone1,phone2\n' >"$E2E_TMP/voice.csv"
for p in "B1:$B1:" "B2:$B2:" "C:$C:" "D:$D:" "F:$F:" "E:$E1:$E2"; do
    IFS=: read -r n p1 p2 <<<"$p"
    printf '%s,Switch,%s,%s\n' "$n" "$p1" "$p2" >>"$E2E_TMP/voice.csv"
done
e2e_assert_eq 6 "$(api POST "/api/v1/campaigns/$vid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/voice.csv" | jq -r .rows_loaded)" "rows loaded into the voice campaign"
api POST "/api/v1/campaigns/$vid/activate" >/dev/null || e2e_fail "activate $vid failed"
e2e_step "voice campaign $vid with an SMS template, 6 contacts"

# ---- SMS -> voice --------------------------------------------------------
body=$(jq -n '{name: "Undelivered to voice", max_attempts: 5, max_attempts_per_day: 5,
    rules: [{outcome: "SMS_UNDELIVERED", action: "retry", delay_seconds: 2, max_attempts: 1,
             switch_channel: "voice"},
            {outcome: "CONNECTED", action: "close"}]}')
api POST /api/v1/strategies -d "$body" >/dev/null || e2e_fail "POST /api/v1/strategies failed"
sms=$(jq -n --arg s "$ECM_DEV_SMS_SENDER" '{name: "e2e switch sms", channel: "sms",
    strategy: "Undelivered to voice",
    sms: {template: "Hi {first_name}", sender: $s, gateway: "http", dlr_timeout_s: 60}}')
e2e_assert_eq 422 "$(status_of POST /api/v1/campaigns -d "$sms")" \
    "status of an SMS campaign switching to voice without a Cisco target"
sid=$(api POST /api/v1/campaigns -d "$(jq '.cisco = {kind: "uccx", campaign_id: "1"}' <<<"$sms")" |
    jq -r '.id // empty')
[[ $sid =~ ^[0-9]+$ ]] || e2e_fail "could not create the SMS campaign"
printf 'first_name,last_name,phone1\nR,Switch,%s\n' "$R" >"$E2E_TMP/sms.csv"
e2e_assert_eq 1 "$(api POST "/api/v1/campaigns/$sid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/sms.csv" | jq -r .rows_loaded)" "rows loaded into the SMS campaign"
api POST "/api/v1/campaigns/$sid/activate" >/dev/null || e2e_fail "activate $sid failed"
e2e_step "SMS campaign $sid with a Cisco target, 1 contact"

e2e_wait_campaign_closed "$vid" 240
e2e_wait_campaign_closed "$sid" 120

contact() { q "SELECT id FROM contacts WHERE campaign_id = $1 AND phones[1] = '$2'"; }
history() {
    q "SELECT string_agg(attempt || ':' || channel || ':' || outcome, ' ' ORDER BY attempt)
        FROM attempts WHERE contact_id = $1"
}

# ---- what each contact went through --------------------------------------
for n in "$B1" "$B2"; do
    id=$(contact "$vid" "$n")
    e2e_assert_eq "1:voice_ivr:BUSY 2:voice_ivr:BUSY 3:sms:SMS_DELIVERED" "$(history "$id")" \
        "attempts of busy contact $id ($n)"
done
e2e_assert_eq "1:voice_ivr:CONNECTED" "$(history "$(contact "$vid" "$C")")" "attempts of C"
for n in "$D" "$F"; do
    e2e_assert_eq "1:voice_ivr:BUSY 2:voice_ivr:BUSY 3:voice_ivr:BUSY" \
        "$(history "$(contact "$vid" "$n")")" "attempts of $n (SMS step skipped)"
done
e2e_assert_eq "1:voice_ivr:BUSY 2:voice_ivr:BUSY 3:sms:SMS_DELIVERED" \
    "$(history "$(contact "$vid" "$E1")")" "attempts of E"
e2e_assert_eq "$E1 $E1 $E2" "$(q "SELECT string_agg(phone, ' ' ORDER BY attempt) FROM attempts
    WHERE contact_id = $(contact "$vid" "$E1")")" "numbers E was contacted on"

# The API shows the channel and why a switch was skipped.
d=$(api GET "/api/v1/contacts/$(contact "$vid" "$D")") || e2e_fail "GET contact D failed"
e2e_assert_eq "SMS step skipped: every mobile number is on the SMS do-not-contact list" \
    "$(jq -r .channel_note <<<"$d")" "channel_note of D"
e2e_assert_eq "voice_ivr voice_ivr voice_ivr" "$(jq -r '[.history[].channel] | join(" ")' <<<"$d")" \
    "channels in D's history"
e2e_assert_eq "SMS step skipped: no mobile number" \
    "$(api GET "/api/v1/contacts/$(contact "$vid" "$F")" | jq -r .channel_note)" "channel_note of F"
b=$(api GET "/api/v1/contacts/$(contact "$vid" "$B1")") || e2e_fail "GET contact B1 failed"
e2e_assert_eq "sms null" "$(jq -r '"\(.channel) \(.channel_note)"' <<<"$b")" "channel of B1"
e2e_assert_eq "voice_ivr voice_ivr sms" "$(jq -r '[.history[].channel] | join(" ")' <<<"$b")" \
    "channels in B1's history"

# ---- the fake SMSC: one SMS to each switched contact, none to the others --
e2e_wait_for 60 "3 messages at the fake SMSC" bash -c "(( \$(e2e_fakesmsc_total) >= 3 ))"
for n in "$B1" "$B2" "$E2"; do
    e2e_assert_eq 1 "$(e2e_fakesmsc_count "$n")" "messages to $n"
done
for n in "$C" "$D" "$F" "$E1"; do
    e2e_assert_eq 0 "$(e2e_fakesmsc_count "$n")" "messages to $n"
done
e2e_assert_eq 3 "$(e2e_fakesmsc_total)" "messages at the fake SMSC"

# ---- SMS -> voice: texted once, called once --------------------------------
rid=$(contact "$sid" "$R")
e2e_assert_eq "1:sms:SMS_UNDELIVERED 2:voice_agent:CONNECTED" "$(history "$rid")" "attempts of R"
e2e_assert_eq "$rid-2 1" "$(e2e_sim_dialled uccx 1 | grep "^$rid-" | tr '\n' ' ' | sed 's/ $//')" \
    "what the simulator dialled for R"
e2e_assert_eq 0 "$(e2e_fakesmsc_count "$R")" "messages to R through Kannel (it uses sms-sim)"

# ---- the simulator dialled exactly ECM's voice attempts, none twice -------
ecm_psql -tA -F ' ' -c "SELECT account_number, raw_code FROM attempts
    WHERE target = 'uccx:1' AND status <> 'withdrawn'" | sort >"$E2E_TMP/ecm-dialled"
e2e_sim_dialled uccx 1 >"$E2E_TMP/sim-dialled"
diff "$E2E_TMP/ecm-dialled" "$E2E_TMP/sim-dialled" >&2 ||
    e2e_fail "ECM's voice attempts differ from what the simulator dialled"
e2e_assert_eq 14 "$(wc -l <"$E2E_TMP/sim-dialled")" "calls the simulator made (2+2+1+3+3+2+1)"
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" "duplicate account numbers"
e2e_assert_eq 0 "$(q "SELECT count(*) FROM (SELECT contact_id FROM attempts
    WHERE campaign_id IN ($vid, $sid) GROUP BY contact_id
    HAVING max(attempt) <> count(*) OR min(attempt) <> 1) x")" \
    "contacts whose attempts are not numbered 1..n"
e2e_step "channel switch: voice->SMS and SMS->voice hold, skips explained"
