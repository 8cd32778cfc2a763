#!/usr/bin/env bash
# Contact rules as data (issue 16) through the whole stack, on the business
# clock from 07:00 in New York on Thanksgiving Day 2026 (12:00 in London),
# 20 business minutes a real second. Each campaign picks shipped rule sets
# (rules/*.json) through the API; the contacts' jurisdictions come from
# their file (a `state` column) or their number:
#  - Florida (US-FL Florida Telephone Solicitation Act): numbers that never
#    answer, retried every 30 minutes: never before 8 am or after 8 pm
#    local, never a 4th call about one subject in any 24 hours; the calls go
#    on the next day once the first one is 24 h old;
#  - Regulation F: a debt called 7 times in 7 days gets no 8th call, it
#    waits 7 days from its first; a debt whose call was answered (CONNECTED)
#    gets no call in another campaign for 7 days after that conversation;
#  - US federal holidays: nobody called on Thanksgiving, local day, but the
#    next morning;
#  - UK Ofcom: a number whose call was abandoned is not called again for
#    72 hours.
# Every contact held by a rule says so through GET /api/v1/contacts/{id}
# (`held`), naming the rule set. Each check reads the attempts the services
# wrote (business time), in PostgreSQL's own time zone arithmetic.
# e2e-env: ECM_DEV_CLOCK=2026-11-26T12:00:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=1200
# e2e-env: ECM_SIM_NUMBER_RESULTS=0003:8,0002:10,0016:16
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-timeout: 900
# e2e-clock: held
# e2e-seconds: 142
source "$(dirname "$0")/lib.sh"

NY=America/New_York
LONDON=Europe/London
FL_SET="US-FL Florida Telephone Solicitation Act"
REGF_SET="US Regulation F (debt collection)"
HOLIDAY_SET="US federal holidays"
OFCOM_SET="UK Ofcom abandoned calls"
TCPA_SET="US federal (TCPA)"

sql() { ecm_psql -tA -c "$1"; }
ms_of() { sql "SELECT (extract(epoch FROM timestamptz '$1') * 1000)::bigint"; }

api POST /api/v1/strategies -d '{"name": "Often", "max_attempts": 30, "max_attempts_per_day": 30,
    "rules": [{"outcome": "NO_ANSWER", "action": "retry", "delay_seconds": 1800, "max_attempts": 30},
              {"outcome": "ABANDONED", "action": "retry", "delay_seconds": 600, "max_attempts": 5},
              {"outcome": "CONNECTED", "action": "close"}]}' >/dev/null ||
    e2e_fail "POST /api/v1/strategies failed"

# campaign NAME REGION ZONE SETS_JSON: creates and activates a voice
# campaign picking the rule sets; prints its id.
campaign() {
    local body id
    body=$(jq -n --arg name "$1" --arg region "$2" --arg zone "$3" --argjson sets "$4" \
        '{name: $name, channel: "voice_ivr", strategy: "Often", region: $region, time_zone: $zone,
          cisco: {kind: "uccx", campaign_id: "1"}, rule_sets: $sets}')
    id=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    [[ $id =~ ^[0-9]+$ ]] || e2e_fail "campaign '$1' not created"
    api POST "/api/v1/campaigns/$id/activate" -d '{}' >/dev/null || e2e_fail "activate $id failed"
    echo "$id"
}

# upload CAMPAIGN CSV ROWS
upload() {
    local answer
    answer=$(api POST "/api/v1/campaigns/$1/uploads" -H 'Content-Type: text/csv' \
        --data-binary "@$2") || e2e_fail "upload to campaign $1 failed"
    e2e_assert_eq "$3" "$(jq -r .rows_loaded <<<"$answer")" "rows loaded into campaign $1"
}

# held_set CONTACT_ID: the rule set GET /api/v1/contacts/{id} says holds it.
held_set() { api GET "/api/v1/contacts/$1" | jq -r '.held.rule_set // "none"'; }

fl=$(campaign "Florida" US "$NY" "[\"$TCPA_SET\", \"$FL_SET\"]")
{
    echo "account_number,first_name,last_name,phone1,time_zone,state,subject_key"
    for i in 1 2 3 4 5; do printf 'FL%d,Flo,Rida,+1 305 20%d 0003,%s,FL,fl-%d\n' "$i" "$i" "$NY" "$i"; done
} >"$E2E_TMP/fl.csv"
upload "$fl" "$E2E_TMP/fl.csv" 5

regf=$(campaign "Debts" US "$NY" "[\"$TCPA_SET\", \"$REGF_SET\"]")
{
    echo "account_number,first_name,last_name,phone1,time_zone,subject_key"
    for i in 1 2 3; do printf 'D%d,Debt,Or,+1 212 30%d 0003,%s,debt-%d\n' "$i" "$i" "$NY" "$i"; done
    printf 'DT,Debt,Talk,+1 212 309 0002,%s,debt-talk\n' "$NY"
} >"$E2E_TMP/regf.csv"
upload "$regf" "$E2E_TMP/regf.csv" 4

hol=$(campaign "Holiday" US "$NY" "[\"$TCPA_SET\", \"$HOLIDAY_SET\"]")
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in 1 2 3 4 5; do printf 'H%d,Holi,Day,+1 646 20%d 0002,%s\n' "$i" "$i" "$NY"; done
} >"$E2E_TMP/hol.csv"
upload "$hol" "$E2E_TMP/hol.csv" 5

uk=$(campaign "London" GB "$LONDON" "[\"$OFCOM_SET\"]")
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in 6 7 8; do printf 'U%d,Lon,Don,+44 20 794%d 0016,%s\n' "$i" "$i" "$LONDON"; done
} >"$E2E_TMP/uk.csv"
upload "$uk" "$E2E_TMP/uk.csv" 3
e2e_step "campaigns Florida $fl, Debts $regf, Holiday $hol, London $uk at $(e2e_iso "$(ecm_business_now_ms)")"

# ---------------------------------------------------------------- day 1
# Until 10:00 in New York: the answered debt call is in, then a second debt
# campaign holds a contact of that debt.
phase1=$(ms_of "2026-11-26 10:00 America/New_York")
e2e_clock_release --until "$phase1"
e2e_wait_for "$(e2e_wall_s "$phase1")" "business time 10:00 in New York" e2e_clock_stopped_at "$phase1"
talked() { [[ $(sql "SELECT count(*) FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE k.subject_key = 'debt-talk' AND a.outcome = 'CONNECTED'") == 1 ]]; }
e2e_wait_for 120 "the debt-talk call answered" talked
# outcome_at: when ECM learnt the outcome, in business time.
talked_at=$(sql "SELECT (extract(epoch FROM a.outcome_at) * 1000)::bigint FROM attempts a
    JOIN contacts k ON k.id = a.contact_id WHERE k.subject_key = 'debt-talk' AND a.outcome = 'CONNECTED'")
regf2=$(campaign "Debts again" US "$NY" "[\"$TCPA_SET\", \"$REGF_SET\"]")
{
    echo "account_number,first_name,last_name,phone1,time_zone,subject_key"
    printf 'DT2,Debt,Talk,+1 212 319 0003,%s,debt-talk\n' "$NY"
} >"$E2E_TMP/regf2.csv"
upload "$regf2" "$E2E_TMP/regf2.csv" 1
dt2=$(sql "SELECT id FROM contacts WHERE campaign_id = $regf2")
held_quiet() { [[ $(sql "SELECT state FROM contacts WHERE id = $dt2") == waiting ]]; }
e2e_wait_for 120 "the second debt-talk contact held" held_quiet
e2e_assert_eq "$REGF_SET" "$(held_set "$dt2")" "rule set holding the debt-talk contact of campaign $regf2"
e2e_assert_ge "$((talked_at + 7 * 86400000))" "$(sql "SELECT (extract(epoch FROM next_attempt_at)
    * 1000)::bigint FROM contacts WHERE id = $dt2")" "next attempt of the debt-talk contact"
e2e_step "Reg F: the debt talked about at $(e2e_iso "$talked_at") waits 7 days in campaign $regf2:" \
    "$(api GET "/api/v1/contacts/$dt2" | jq -r .held.reason)"
h1=$(sql "SELECT id FROM contacts WHERE campaign_id = $hol ORDER BY id LIMIT 1")
e2e_assert_eq "$HOLIDAY_SET" "$(held_set "$h1")" "rule set holding a holiday contact on Thanksgiving"

# ---------------------------------------------------------------- day 2
end=$(ms_of "2026-11-27 12:00 America/New_York")
e2e_clock_release --until "$end"
e2e_wait_for "$(e2e_wall_s "$end")" "business time 12:00 on 27 November in New York" \
    e2e_clock_stopped_at "$end"
# Let every result of the calls made by then arrive: nothing is 'sending' or
# 'sent' any more (the clock stands still, so nothing new goes out).
settled() { [[ $(sql "SELECT count(*) FROM attempts WHERE status IN ('sending', 'sent')") == 0 ]]; }
e2e_wait_for 120 "every attempt's result in" settled

# Florida: hours 08:00-20:00 local, at most 3 in any 24 h per subject.
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts a WHERE a.campaign_id = $fl
    AND ((a.dispatched_at AT TIME ZONE '$NY')::time < '08:00'
      OR (a.dispatched_at AT TIME ZONE '$NY')::time >= '20:00')")" "Florida attempts outside 8 am - 8 pm"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE a.campaign_id = $fl AND (SELECT count(*) FROM attempts b JOIN contacts kb ON kb.id = b.contact_id
      WHERE kb.subject_key = k.subject_key AND b.dispatched_at > a.dispatched_at - interval '24 hours'
        AND b.dispatched_at <= a.dispatched_at) > 3")" "Florida attempts that were a 4th in 24 hours"
e2e_assert_eq 5 "$(sql "SELECT count(*) FROM (SELECT contact_id FROM attempts WHERE campaign_id = $fl
    GROUP BY 1 HAVING count(*) FILTER (WHERE (dispatched_at AT TIME ZONE '$NY')::date = '2026-11-26') = 3
       AND count(*) FILTER (WHERE (dispatched_at AT TIME ZONE '$NY')::date = '2026-11-27') >= 1) x")" \
    "Florida contacts called 3 times on the 26th and again on the 27th"
fl1=$(sql "SELECT id FROM contacts WHERE campaign_id = $fl ORDER BY id LIMIT 1")
fl_held() { [[ $(held_set "$fl1") == "$FL_SET" ]]; }
e2e_wait_for 60 "a Florida contact held by the Florida set" fl_held
e2e_step "Florida: $(sql "SELECT count(*) FROM attempts WHERE campaign_id = $fl") attempts, 3 a day;" \
    "$(api GET "/api/v1/contacts/$fl1" | jq -r .held.reason)"

# Regulation F: 7 calls per debt, then nothing until 7 days after the first.
e2e_assert_eq "debt-1:7 debt-2:7 debt-3:7" "$(sql "SELECT string_agg(k.subject_key || ':' || n, ' '
    ORDER BY k.subject_key) FROM (SELECT contact_id, count(*) n FROM attempts WHERE campaign_id = $regf
    GROUP BY 1) a JOIN contacts k ON k.id = a.contact_id WHERE k.subject_key LIKE 'debt-_'")" \
    "calls per debt by the end"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts k WHERE k.campaign_id = $regf
    AND k.subject_key LIKE 'debt-_' AND (k.state <> 'waiting' OR k.next_attempt_at <
      (SELECT min(dispatched_at) FROM attempts WHERE contact_id = k.id) + interval '7 days')")" \
    "debts waiting less than 7 days from their first call"
d1=$(sql "SELECT id FROM contacts WHERE campaign_id = $regf AND subject_key = 'debt-1'")
e2e_assert_eq "$REGF_SET" "$(held_set "$d1")" "rule set holding debt-1"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $regf2")" \
    "calls about the debt talked about, in the 7 days after"

# Holiday: nothing on Thanksgiving (local), every contact the next morning.
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $hol
    AND (dispatched_at AT TIME ZONE '$NY')::date = '2026-11-26'")" "calls on Thanksgiving"
e2e_assert_eq 5 "$(sql "SELECT count(DISTINCT contact_id) FROM attempts WHERE campaign_id = $hol
    AND (dispatched_at AT TIME ZONE '$NY')::date = '2026-11-27'
    AND (dispatched_at AT TIME ZONE '$NY')::time >= '08:00'")" "holiday contacts called on the 27th"

# UK: one call each (abandoned), the next not before 72 h after its outcome
# (outcome_at: when ECM learnt it, business time).
e2e_assert_eq "3 3" "$(sql "SELECT count(*) || ' ' || count(DISTINCT contact_id) FROM attempts
    WHERE campaign_id = $uk")" "UK attempts and contacts"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts k JOIN attempts a ON a.contact_id = k.id
    WHERE k.campaign_id = $uk AND (a.outcome IS DISTINCT FROM 'ABANDONED'
      OR k.next_attempt_at < a.outcome_at + interval '72 hours')")" \
    "UK contacts due again sooner than 72 h after an abandoned call"
u1=$(sql "SELECT id FROM contacts WHERE campaign_id = $uk ORDER BY id LIMIT 1")
e2e_assert_eq "$OFCOM_SET" "$(held_set "$u1")" "rule set holding a UK contact"
e2e_step "UK: $(api GET "/api/v1/contacts/$u1" | jq -r .held.reason)"
held_total=$(curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" |
    awk '/^ecm_gate_held_total/ { s += $2 } END { print s + 0 }')
e2e_step "the feeder's gate held $held_total contacts back (ecm_gate_held_total)"
