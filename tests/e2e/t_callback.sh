#!/usr/bin/env bash
# Callbacks at the customer's time. Cisco's results say "callback requested"
# (CallResult 14) but not when; the agent desktop or CRM gives the time with
# POST /api/v1/contacts/{id}/callback. One campaign, window 09:00-20:00
# every day, its CALLBACK_REQUESTED rule retrying after 12 hours (so without
# a time the retry lands on the next local morning); business time runs
# 1,800 times faster than real time, but only when the scenario says so: it
# stands still while the stack starts and the scenario sets up (e2e-clock:
# held), runs to 09:30 local and stops there while the first attempts are
# looked at and A's and D's callbacks posted, then runs free. The campaign
# and its contacts live in the fixed-offset zone (Etc/GMT-N) where it is
# 06:xx when the scenario begins; callback times are local times of that
# first day.
# The simulator answers 14 for numbers ending 0014 and 10 (connected) for
# 0010.
#  - C (0010): while the campaign is still a draft, a callback at 12:00
#    moves each contact to 'waiting'; its first attempt goes at or after it
#    instead of at the 09:00 opening.
#  - A (0014): once their first attempt is out, a callback at 17:00; the
#    second attempt goes at or after it, the same local day, not on the
#    next morning the rule would have given.
#  - B (0014): no callback: the second attempt waits for the rule's 12 hours,
#    i.e. the next local morning.
#  - D (0014): a callback at 20:30, after the window closes: it waits for the
#    next opening (09:00 the next day), it is not called at 20:30.
# Every attempt inside the window in the contacts' time (PostgreSQL's AT
# TIME ZONE); every stored callback time used once (cleared); a closed contact
# refuses a callback (409) and a time in the past is 422.
# e2e-env: ECM_DEV_CLOCK=2026-03-04T12:00:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=1800
# e2e-env: ECM_SIM_NUMBER_RESULTS=0014:14,0010:10
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-timeout: 300
# e2e-clock: held
# e2e-seconds: 95
source "$(dirname "$0")/lib.sh"

HOUR_MS=3600000

# The zone whose local time is 06:xx now.
ZONE=$(e2e_zone_at_hour 6)

sql() { ecm_psql -tA -c "$1"; }
iso() { e2e_iso "$1"; }
local_time() { TZ=$ZONE date -d "@$(($1 / 1000))" '+%F %H:%M'; }
business_time() { local_time "$(ecm_business_now_ms)"; }
# Business now plus N ms, on a whole second (the API answers in ms).
ahead() { echo $((($(ecm_business_now_ms) + $1) / 1000 * 1000)); }
# The instant of local time HH:MM on the first local day, in ms.
at_local() { echo $(($(TZ=$ZONE date -d "$start_day $1" +%s) * 1000)); }
# Fails unless business time is still before local HH:MM of the first day
# (an assertion: the clock stands still there, whatever the machine's speed).
before_local() {
    [[ $(business_time) < "$start_day $1" ]] ||
        e2e_fail "local time is already $(business_time) in $ZONE, $2: the clock did not stand still"
}

# callback ID AT_MS: POSTs the callback; prints the answer.
callback() {
    api POST "/api/v1/contacts/$1/callback" -d "{\"at\": \"$(iso "$2")\"}" ||
        e2e_fail "POST /api/v1/contacts/$1/callback failed"
}
# status_of_callback ID AT_TEXT: the HTTP status of a callback request.
status_of_callback() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST "${ECM_AUTH[@]}" \
        -H 'Content-Type: application/json' -d "{\"at\": \"$2\"}" \
        "$ECM_DEV_API_URL/api/v1/contacts/$1/callback"
}
ids_of() { sql "SELECT id FROM contacts WHERE campaign_id = $cid AND account_number LIKE '$1%'
    ORDER BY id"; }

rules=$(jq -n '[{outcome: "CALLBACK_REQUESTED", action: "retry", delay_seconds: 43200,
    max_attempts: 2}, {outcome: "CONNECTED", action: "close"}]')
api POST /api/v1/strategies -d "$(jq -n --argjson rules "$rules" \
    '{name: "Callback", max_attempts: 5, max_attempts_per_day: 5, rules: $rules}')" \
    >/dev/null || e2e_fail "POST /api/v1/strategies failed"
body=$(jq -n --arg zone "$ZONE" '{name: "callbacks", channel: "voice_ivr", strategy: "Callback", region: "US",
    time_zone: $zone, cisco: {kind: "uccx", campaign_id: "1"},
    call_window: ([["mon","tue","wed","thu","fri","sat","sun"][] | {(.): [["09:00", "20:00"]]}]
                  | add)}')
cid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "campaign not created"
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in $(seq 21 25); do printf 'CBA%02d,Ann,Asked,+1 212 2%02d 0014,%s\n' "$i" "$i" "$ZONE"; done
    for i in $(seq 21 24); do printf 'CBB%02d,Bo,Rule,+1 212 3%02d 0014,%s\n' "$i" "$i" "$ZONE"; done
    for i in $(seq 21 23); do printf 'CBC%02d,Cy,Early,+1 212 4%02d 0010,%s\n' "$i" "$i" "$ZONE"; done
    for i in $(seq 21 22); do printf 'CBD%02d,Di,Late,+1 212 5%02d 0014,%s\n' "$i" "$i" "$ZONE"; done
} >"$E2E_TMP/callback.csv"
answer=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/callback.csv") || e2e_fail "upload failed"
e2e_assert_eq 14 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded"
start_day=$(TZ=$ZONE date -d "@$(($(ecm_business_now_ms) / 1000))" +%F)
e2e_step "draft campaign $cid, 14 contacts in $ZONE; business time $(business_time) there"

# ---------------------------------------------------------------- C: before any attempt

c_at=$(at_local 12:00)
before_local 11:00 "C's callbacks at 12:00"
for id in $(ids_of CBC); do
    a=$(callback "$id" "$c_at")
    e2e_assert_eq "waiting $(iso "$c_at" | sed 's/Z$/.000Z/')" \
        "$(jq -r '.state + " " + .next_attempt_at' <<<"$a")" "contact $id after its callback"
done
api POST "/api/v1/campaigns/$cid/activate" -d '{}' >/dev/null || e2e_fail "activate failed"
e2e_step "C: callbacks at $(local_time "$c_at") before any attempt; campaign activated"

# ---------------------------------------------------------------- A, D: attempt out

# Business time runs to 09:30 local and stands there: the first attempts go
# at the 09:00 opening, and the callbacks below are posted at 09:30 however
# long the dispatch and this script take.
e2e_clock_release --until "$(at_local 09:30)"
e2e_wait_for 60 "first attempts of A and D" bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*)
    FROM contacts WHERE campaign_id = $cid AND account_number ~ '^CB[AD]' AND attempts >= 1\") == 7 ))"
a_at=$(at_local 17:00)
d_at=$(at_local 20:30)
before_local 15:30 "A's callbacks at 17:00"
for id in $(ids_of CBA); do
    a=$(callback "$id" "$a_at")
    [[ $(jq -r .state <<<"$a") =~ ^(dispatched|waiting)$ ]] || e2e_fail "contact $id: $a"
done
for id in $(ids_of CBD); do callback "$id" "$d_at" >/dev/null; done
e2e_step "A: callbacks at $(local_time "$a_at"), D: at $(local_time "$d_at") (after the window);" \
    "business time $(business_time)"
e2e_assert_eq 422 "$(status_of_callback "$(ids_of CBA | head -n 1)" 2026-03-01T12:00:00Z)" \
    "status of a callback in the past"
e2e_clock_release

# ---------------------------------------------------------------- the run

e2e_wait_campaign_closed "$cid" 120
e2e_step "every contact closed; business time $(business_time)"
e2e_assert_eq 409 "$(status_of_callback "$(ids_of CBC | head -n 1)" "$(iso "$(ahead "$HOUR_MS")")")" \
    "status of a callback for a closed contact"

ecm_psql -c "SELECT k.account_number, a.attempt, a.outcome,
    to_char(a.dispatched_at AT TIME ZONE '$ZONE', 'MM-DD HH24:MI') AS dispatched_local
    FROM attempts a JOIN contacts k ON k.id = a.contact_id WHERE k.campaign_id = $cid
    ORDER BY 1, 2"

# violations GROUP ATTEMPT CONDITION: attempts ATTEMPT of contacts GROUP
# that break CONDITION (SQL over a = attempt, f = first attempt, both with
# dispatched_at), printed as a count.
violations() {
    sql "SELECT count(*) FROM contacts k JOIN attempts a ON a.contact_id = k.id
        JOIN attempts f ON f.contact_id = k.id AND f.attempt = 1
        WHERE k.campaign_id = $cid AND k.account_number LIKE '$1%' AND a.attempt = $2
        AND NOT ($3)"
}
attempts_of() { sql "SELECT count(*) FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE k.campaign_id = $cid AND k.account_number LIKE '$1%' AND a.attempt = $2"; }
ts() { echo "to_timestamp($1 / 1000.0)"; }
local_day() { echo "($1 AT TIME ZONE '$ZONE')::date"; }
local_clock() { echo "($1 AT TIME ZONE '$ZONE')::time"; }

e2e_assert_eq "3 0 0" "$(attempts_of CBC 1) $(attempts_of CBC 2) $(violations CBC 1 \
    "a.dispatched_at >= $(ts "$c_at") AND a.dispatched_at < $(ts "$c_at") + interval '2 hours'")" \
    "C: first attempts, second attempts, first ones not within 2 h after $(iso "$c_at")"

e2e_assert_eq "5 0" "$(attempts_of CBA 2) $(violations CBA 2 "a.dispatched_at >= $(ts "$a_at")
    AND a.dispatched_at < $(ts "$a_at") + interval '2 hours'
    AND $(local_day a.dispatched_at) = $(local_day f.dispatched_at)")" \
    "A: second attempts, those not within 2 h after $(iso "$a_at") on the first one's day"

e2e_assert_eq "4 0" "$(attempts_of CBB 2) $(violations CBB 2 \
    "a.dispatched_at >= f.dispatched_at + interval '12 hours'
    AND $(local_day a.dispatched_at) > $(local_day f.dispatched_at)")" \
    "B: second attempts, those before the rule's 12 h and the next local day"

e2e_assert_eq "2 0" "$(attempts_of CBD 2) $(violations CBD 2 "a.dispatched_at >= $(ts "$d_at")
    AND $(local_day a.dispatched_at) > $(local_day "$(ts "$d_at")")
    AND $(local_clock a.dispatched_at) < '10:30'")" \
    "D: second attempts, those not at the next morning's opening after $(iso "$d_at")"

e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $cid
    AND ($(local_clock dispatched_at) < '09:00' OR $(local_clock dispatched_at) >= '20:00'
         OR dispatched_at IS NULL)")" "attempts outside the 09:00-20:00 window in $ZONE"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $cid
    AND callback_at IS NOT NULL")" "contacts still holding a callback time"
e2e_assert_eq "CALLBACK_REQUESTED:11 CONNECTED:3" "$(sql "SELECT string_agg(outcome || ':' || n, ' '
    ORDER BY outcome) FROM (SELECT outcome, count(*) n FROM contacts WHERE campaign_id = $cid
    GROUP BY 1) x")" "final outcomes"

# The per-contact history the API gives agrees with the DB.
first_a=$(ids_of CBA | head -n 1)
e2e_assert_eq "closed CALLBACK_REQUESTED 2 1,2 true" "$(api GET "/api/v1/contacts/$first_a" |
    jq -r '[.state, .outcome, .attempts, ([.history[].attempt] | map(tostring) | join(",")),
            (.callback_at == null)] | map(tostring) | join(" ")')" "GET /api/v1/contacts/$first_a"
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" "duplicate account numbers"
e2e_step "callbacks kept: C at/after $(local_time "$c_at"), A same day at/after" \
    "$(local_time "$a_at"), B next morning by the rule, D next morning's opening"
