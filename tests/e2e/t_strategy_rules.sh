#!/usr/bin/env bash
# The strategy's rules on a running stack, with business time 1,200 times
# faster than real time (20 business minutes a second) once the set-up is
# done: the clock stands still while the stack starts and the scenario sets
# up (e2e-clock: held). The contacts live in the fixed-offset zone
# (Etc/GMT-N) where it is 08:00 then: the legal hours (08:00-21:00) are
# open. Every wait is for a state, bounded in business time:
#  - next-phone rotation: the simulator answers "not in service" (3) for every
#    number ending in 0001 and "connected" (10) for 0002, so a contact moves
#    to its next phone after each invalid number and closes CONNECTED on the
#    first good one, or INVALID_NUMBER when it has no further phone;
#  - per-day cap: no-answers (0003 -> 8) retried every 10 minutes under a cap
#    of 2 a day: once every contact has been called on 3 local days (or is
#    closed, as it would be at once if the cap did not hold), no contact has
#    more than 2 attempts in one of ITS local days (PostgreSQL's AT TIME
#    ZONE, not the services' ICU), and the calls went on over the following
#    local days, each in the local morning;
#  - expiry at end_at: a campaign ending 4 business hours after it starts
#    ends 'expired', its contacts closed EXPIRED and no attempt dispatched at
#    or after end_at; a paused campaign reaching its end is expired by the
#    scheduler, which closes its contacts (loaded 'queued', never taken)
#    EXPIRED with a ContactClosed event each.
# Strategies are created through POST /api/v1/strategies.
# e2e-env: ECM_DEV_CLOCK=2026-03-04T13:00:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=1200
# e2e-env: ECM_SIM_NUMBER_RESULTS=0001:3,0002:10,0003:8
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-timeout: 720
# e2e-clock: held
# e2e-seconds: 176
source "$(dirname "$0")/lib.sh"

HOUR_MS=3600000
ZONE=$(e2e_zone_at_hour 8)

iso() { e2e_iso "$1"; }
local_time() { TZ=$ZONE date -d "@$(($1 / 1000))" '+%F %H:%M'; }
business_time() { echo "$(local_time "$(ecm_business_now_ms)") $ZONE"; }

# strategy NAME PER_DAY RULES_JSON: creates a strategy (max 20 attempts).
strategy() {
    local body
    body=$(jq -n --arg name "$1" --argjson per_day "$2" --argjson rules "$3" \
        '{name: $name, max_attempts: 20, max_attempts_per_day: $per_day, rules: $rules}')
    api POST /api/v1/strategies -d "$body" >/dev/null || e2e_fail "POST /api/v1/strategies '$1' failed"
}

# campaign NAME STRATEGY [EXTRA_JSON]: creates and activates a voice
# campaign in $ZONE; prints its id.
campaign() {
    local body id extra=${3:-'{}'}
    body=$(jq -n --arg name "$1" --arg strategy "$2" --arg zone "$ZONE" --argjson extra "$extra" \
        '{name: $name, channel: "voice_ivr", strategy: $strategy, region: "US",
          time_zone: $zone, cisco: {kind: "uccx", campaign_id: "1"}} + $extra')
    id=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    [[ $id =~ ^[0-9]+$ ]] || e2e_fail "campaign '$1' not created"
    api POST "/api/v1/campaigns/$id/activate" -d '{}' >/dev/null || e2e_fail "activate $id failed"
    echo "$id"
}

# upload CAMPAIGN CSV_FILE ROWS: uploads and checks every row loaded.
upload() {
    local answer
    answer=$(api POST "/api/v1/campaigns/$1/uploads" -H 'Content-Type: text/csv' \
        --data-binary "@$2") || e2e_fail "upload to campaign $1 failed"
    e2e_assert_eq "$3" "$(jq -r .rows_loaded <<<"$answer")" "rows loaded into campaign $1"
}

sql() { ecm_psql -tA -c "$1"; }

retry_rule() { # OUTCOME DELAY MAX [NEXT_PHONE]
    jq -n --arg o "$1" --argjson d "$2" --argjson m "$3" --argjson np "${4:-false}" \
        '{outcome: $o, action: "retry", delay_seconds: $d, max_attempts: $m, next_phone: $np}'
}
close_rule() { jq -n --arg o "$1" '{outcome: $o, action: "close"}'; }

strategy Rotation 10 "$(jq -s . <(retry_rule INVALID_NUMBER 0 1 true) <(close_rule CONNECTED) \
    <(retry_rule NO_ANSWER 600 20))"
strategy Daily 2 "$(jq -s . <(retry_rule NO_ANSWER 600 20) <(close_rule CONNECTED))"
strategy Expiry 10 "$(jq -s . <(retry_rule NO_ANSWER 1200 20) <(close_rule CONNECTED))"
e2e_step "strategies Rotation, Daily (2 a day), Expiry created; business time $(business_time)"

# ---------------------------------------------------------------- set up

rot=$(campaign "rotation" Rotation)
{
    echo "account_number,first_name,last_name,phone1,phone2,phone3,time_zone"
    for i in $(seq 20 29); do
        printf 'R2%02d,Two,Phones,+1 212 3%02d 0001,+1 212 4%02d 0002,,%s\n' "$i" "$i" "$i" "$ZONE"
        printf 'R3%02d,Three,Phones,+1 212 5%02d 0001,+1 212 6%02d 0001,+1 212 7%02d 0002,%s\n' \
            "$i" "$i" "$i" "$i" "$ZONE"
        printf 'RX%02d,All,Invalid,+1 213 3%02d 0001,+1 213 4%02d 0001,,%s\n' "$i" "$i" "$i" "$ZONE"
    done
} >"$E2E_TMP/rotation.csv"
upload "$rot" "$E2E_TMP/rotation.csv" 30

daily=$(campaign "daily cap" Daily)
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in $(seq 20 29); do
        printf 'D%02d,Day,Cap,+1 646 2%02d 0003,%s\n' "$i" "$i" "$ZONE"
    done
} >"$E2E_TMP/daily.csv"
upload "$daily" "$E2E_TMP/daily.csv" 10

# Paused before its contacts arrive: they are loaded 'queued' and stay so
# (nothing takes a paused campaign's contacts) until its end, when the
# scheduler expires it and closes them.
end2_ms=$(($(ecm_business_now_ms) + 2 * HOUR_MS))
exp2=$(campaign "expiry paused" Expiry "{\"end_at\": \"$(iso $end2_ms)\"}")
api POST "/api/v1/campaigns/$exp2/pause" -d '{}' >/dev/null || e2e_fail "pause $exp2 failed"
end1_ms=$(($(ecm_business_now_ms) + 4 * HOUR_MS))
exp1=$(campaign "expiry" Expiry "{\"end_at\": \"$(iso $end1_ms)\"}")
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in $(seq 20 29); do
        printf 'E%02d,End,At,+1 718 2%02d 0003,%s\n' "$i" "$i" "$ZONE"
    done
} >"$E2E_TMP/expiry.csv"
upload "$exp2" "$E2E_TMP/expiry.csv" 10
upload "$exp1" "$E2E_TMP/expiry.csv" 10
set_up=$(business_time)
e2e_step "campaigns rotation $rot, daily $daily, expiry $exp1 (ends $(iso $end1_ms))," \
    "expiry $exp2 (paused, ends $(iso $end2_ms)); business time $set_up"
# Positive marker before checking that nothing took the paused campaign's
# contacts: the active one, loaded after it, has had every contact called.
exp1_called() { (($(sql "SELECT count(DISTINCT contact_id) FROM attempts WHERE campaign_id = $exp1") >= 10)); }
# Business time runs, but stands still an hour before the expiry campaign's
# end until all its contacts have been called (they are due at once): how
# fast the dialling goes does not decide whether they are called in time.
e2e_clock_release --until $((end1_ms - HOUR_MS))
e2e_wait_for --quiet --until-business "$end1_ms" 120 "every contact of $exp1 called" exp1_called ||
    e2e_fail "campaign $exp1: only $(sql "SELECT count(DISTINCT contact_id) FROM attempts
        WHERE campaign_id = $exp1") of 10 contacts called before its end $(iso "$end1_ms")" \
        "(set-up ended at $set_up)"
e2e_clock_release
e2e_step "paused campaign $exp2: contacts $(sql "SELECT string_agg(state || ':' || n, ' ')
    FROM (SELECT state, count(*) n FROM contacts WHERE campaign_id = $exp2 GROUP BY 1) x")"
e2e_assert_eq "paused 10" "$(sql "SELECT c.state || ' ' || count(*) FROM campaigns c
    JOIN contacts k ON k.campaign_id = c.id AND k.state = 'queued' AND k.attempts = 0
    WHERE c.id = $exp2 GROUP BY c.state")" "paused campaign $exp2 with its contacts queued"

# ---------------------------------------------------------------- expiry

campaign_state() { sql "SELECT state FROM campaigns WHERE id = $1"; }
e2e_wait_business $((end1_ms + HOUR_MS / 4))
# Contacts out with the dialer at the end close when their result comes.
e2e_wait_for 120 "every contact of $exp1 and $exp2 closed" bash -c "(( \$(ecm_psql -tA -c \
    \"SELECT count(*) FROM contacts WHERE campaign_id IN ($exp1, $exp2) AND state <> 'closed'\") == 0 ))"
e2e_assert_eq expired "$(campaign_state "$exp2")" "state of the paused campaign $exp2 after its end"
# The active one may have closed its last contacts EXPIRED before end_at (no
# retry fitted), which completes it; otherwise the scheduler expires it.
[[ $(campaign_state "$exp1") =~ ^(expired|completed)$ ]] ||
    e2e_fail "campaign $exp1 is $(campaign_state "$exp1") after its end"
for c in "$exp1" "$exp2"; do
    e2e_assert_eq "10 EXPIRED" "$(sql "SELECT count(*) || ' ' || string_agg(DISTINCT outcome, ',')
        FROM contacts WHERE campaign_id = $c")" "contacts of campaign $c and their outcome"
    e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
        WHERE a.campaign_id = $c AND a.dispatched_at >= c.end_at")" \
        "attempts of campaign $c dispatched at or after end_at"
done
e2e_assert_ge 10 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $exp1")" \
    "attempts of campaign $exp1 before its end"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $exp2")" \
    "attempts of the paused campaign $exp2"
e2e_step "campaign $exp1: $(sql "SELECT count(*) FROM attempts WHERE campaign_id = $exp1") attempts" \
    "before its end ($(campaign_state "$exp1")), paused $exp2 expired; every contact EXPIRED"
# One ContactClosed on Kafka for each contact the scheduler closed (the
# outbox relays them after the commit: wait until all ten are there).
sql "SELECT id FROM contacts WHERE campaign_id = $exp2 ORDER BY id" >"$E2E_TMP/exp2-ids"
closed_events() {
    timeout 30 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t contacts.closed -o beginning -e \
        -f '%k\n' >"$E2E_TMP/closed-keys" 2>/dev/null || true
    grep -cxF -f "$E2E_TMP/exp2-ids" "$E2E_TMP/closed-keys" || true
}
all_closed_events() { (($(closed_events) >= 10)); }
e2e_wait_for --every 1 120 "10 ContactClosed events of campaign $exp2" all_closed_events
e2e_assert_eq 10 "$(closed_events)" "ContactClosed events for the contacts of campaign $exp2"

# ---------------------------------------------------------------- rotation

e2e_wait_campaign_closed "$rot" 120
attempts_of() { # ACCOUNT: "phone-suffix:outcome ..." in attempt order
    sql "SELECT string_agg(right(a.phone, 4) || ':' || a.outcome, ' ' ORDER BY a.attempt)
        FROM attempts a JOIN contacts k ON k.id = a.contact_id
        WHERE k.campaign_id = $rot AND k.account_number = '$1'"
}
for i in $(seq 20 29); do
    e2e_assert_eq "0001:INVALID_NUMBER 0002:CONNECTED" "$(attempts_of "R2$i")" "attempts of R2$i"
    e2e_assert_eq "0001:INVALID_NUMBER 0001:INVALID_NUMBER 0002:CONNECTED" "$(attempts_of "R3$i")" \
        "attempts of R3$i"
    e2e_assert_eq "0001:INVALID_NUMBER 0001:INVALID_NUMBER" "$(attempts_of "RX$i")" "attempts of RX$i"
done
e2e_assert_eq "INVALID_NUMBER:10 CONNECTED:20" "$(sql "SELECT string_agg(outcome || ':' || n, ' '
    ORDER BY outcome DESC) FROM (SELECT outcome, count(*) n FROM contacts
    WHERE campaign_id = $rot GROUP BY 1) x")" "final outcomes of the rotation campaign"
# Each attempt dialled a different number of the contact, in order.
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE k.campaign_id = $rot AND a.phone <> k.phones[a.attempt]")" \
    "attempts not on the contact's phone number <attempt>"
e2e_step "next-phone rotation: 2- and 3-phone contacts reached on their good number"

# ---------------------------------------------------------------- per-day cap

local_sql="SELECT k.account_number AS acct,
    (a.dispatched_at AT TIME ZONE '$ZONE') AS local
    FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE a.campaign_id = $daily AND a.outcome IS DISTINCT FROM 'NOT_ATTEMPTED'"
# Until every contact has been called on 3 local days, or is closed (what a
# broken cap would do: 20 attempts 10 minutes apart on the first day). The
# third day's calls are due at its 08:00; give up at noon on the fourth.
day0=$(sql "WITH z AS ($local_sql) SELECT min(local)::date FROM z")
[[ $day0 =~ ^[0-9-]+$ ]] || e2e_fail "no attempt of the daily campaign $daily"
give_up_ms=$(sql "SELECT floor(extract(epoch FROM (DATE '$day0' + 3 + TIME '12:00')
    AT TIME ZONE '$ZONE') * 1000)::bigint")
daily_pending() {
    sql "WITH z AS ($local_sql) SELECT count(*) FROM contacts k WHERE k.campaign_id = $daily
        AND k.state <> 'closed' AND (SELECT count(DISTINCT local::date) FROM z
        WHERE z.acct = k.account_number) < 3"
}
daily_progress() {
    echo "business time $(business_time), $(sql "SELECT count(*) FROM attempts
        WHERE campaign_id = $daily") daily-cap attempts, $(daily_pending) contacts on fewer than 3 days"
}
daily_done() { (($(daily_pending) == 0)); }
e2e_wait_for --quiet --every 1 --say daily_progress --until-business "$give_up_ms" \
    "$(e2e_wall_s "$give_up_ms")" "every daily-cap contact called on 3 local days or closed" \
    daily_done ||
    e2e_step "gave up waiting at $(business_time): $(daily_pending) contacts on fewer than 3 local days"
e2e_step "$(daily_progress)"
ecm_psql -c "WITH z AS ($local_sql) SELECT local::date AS local_day, count(*) AS attempts,
    count(DISTINCT acct) AS contacts, max(n) AS most_per_contact,
    min(local::time) AS first_local, max(local::time) AS last_local
    FROM (SELECT *, count(*) OVER (PARTITION BY acct, local::date) AS n FROM z) y
    GROUP BY 1 ORDER BY 1"
e2e_assert_eq 0 "$(sql "WITH z AS ($local_sql) SELECT count(*) FROM (SELECT acct, local::date
    FROM z GROUP BY 1, 2 HAVING count(*) > 2) x")" "contact-days with more than 2 attempts"
e2e_assert_eq 0 "$(sql "WITH z AS ($local_sql) SELECT count(*) FROM z
    WHERE local::time < '08:00' OR local::time >= '21:00'")" "attempts outside legal hours"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $daily
    AND dispatched_at IS NULL")" "attempts without a dispatch time"
for i in $(seq 20 29); do
    e2e_assert_ge 3 "$(sql "WITH z AS ($local_sql) SELECT count(DISTINCT local::date) FROM z
        WHERE acct = 'D$i'")" "local days with attempts of D$i"
done
# The cap is reached on every full day: each day but the first and the last
# holds two attempts of each contact.
e2e_assert_eq 0 "$(sql "WITH z AS ($local_sql), d AS (SELECT acct, local::date AS day,
    count(*) AS n FROM z GROUP BY 1, 2), r AS (SELECT acct, min(day) AS d0, max(day) AS d1
    FROM d GROUP BY 1) SELECT count(*) FROM d JOIN r USING (acct)
    WHERE day > d0 AND day < d1 AND n <> 2")" "full local days without exactly 2 attempts"
# After a capped day the next calls come in the local morning (the day's
# start, then the legal hours' 08:00), not 24 hours after the first call.
e2e_assert_eq 0 "$(sql "WITH z AS ($local_sql), d AS (SELECT acct, local::date AS day,
    min(local::time) AS first FROM z GROUP BY 1, 2), r AS (SELECT acct, min(day) AS d0
    FROM d GROUP BY 1) SELECT count(*) FROM d JOIN r USING (acct)
    WHERE day > d0 AND first >= '12:00'")" "later local days whose first call is after 12:00"
e2e_step "per-day cap: at most 2 attempts per contact and local day, over $(sql "WITH z AS
    ($local_sql) SELECT count(DISTINCT local::date) FROM z") local days"
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" "duplicate account numbers"
