#!/usr/bin/env bash
# Contacts in New York, London, Karachi and Sydney on one voice campaign with
# a 09:00-17:00 window, run for 45 business hours across the US change from
# daylight to standard time (2026-11-01 02:00 EDT -> 01:00 EST): no attempt is
# dispatched outside 09:00-17:00 in the called party's own zone. The zones come
# from three places: the contact's time_zone column (New York, Sydney: +1 and
# +61 span several zones), the number itself (London +44, Karachi +92), and
# never the campaign's (Pacific/Honolulu, so a wrong fallback shows at once).
# The check reads local times with PostgreSQL's AT TIME ZONE, not with the ICU
# code the services use. Business time stands at 2026-10-30 23:00 UTC while
# the stack starts and the scenario sets up (e2e-clock: held), then runs
# 1,800 times faster than real time: every zone's first window on the 31st
# is seen whole, however long the set-up took.
# The scenario then watches business time run to Monday 00:00 UTC, and
# waits (bounded in business time) until every zone has been called on two
# local days before it judges.
# e2e-env: ECM_DEV_CLOCK=2026-10-30T23:00:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=1800
# e2e-env: ECM_SIM_RESULT_MIX=8:100
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-timeout: 420
# e2e-clock: held
# e2e-seconds: 121
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

end_ms=$(date -u -d 2026-11-02T00:00:00Z +%s%3N)

# Every no-answer is tried again an hour later, up to 40 times, 12 a day.
ecm_psql -q <<'EOF'
INSERT INTO strategies (name, max_attempts, max_attempts_per_day) VALUES ('Windows', 40, 12);
INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds, max_attempts)
SELECT id, 'NO_ANSWER', 'retry', 3600, 40 FROM strategies WHERE name = 'Windows';
EOF
body=$(jq -n '{name: "four zones", channel: "voice_ivr", strategy: "Windows",
    cisco: {kind: "uccx", campaign_id: "1"}, region: "US", time_zone: "Pacific/Honolulu",
    call_window: {mon: [["09:00", "17:00"]], tue: [["09:00", "17:00"]],
                  wed: [["09:00", "17:00"]], thu: [["09:00", "17:00"]],
                  fri: [["09:00", "17:00"]], sat: [["09:00", "17:00"]],
                  sun: [["09:00", "17:00"]]}}')
cid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "campaign with a call_window not created"
api POST "/api/v1/campaigns/$cid/activate" -d '{}' >/dev/null || e2e_fail "activate failed"

{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in $(seq 10 34); do
        printf 'NY%02d,Ann,York,+1 212 2%02d %04d,America/New_York\n' "$i" "$i" "$((i * 37))"
        printf 'LO%02d,Len,Don,+44 20 7946 0%03d,\n' "$i" "$((i * 11))"
        printf 'KA%02d,Kay,Rachi,+92 21 34%02d %04d,\n' "$i" "$i" "$((i * 53))"
        printf 'SY%02d,Syd,Ney,+61 2 93%02d %04d,Australia/Sydney\n' "$i" "$i" "$((i * 71))"
    done
} >"$E2E_TMP/zones.csv"
answer=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/zones.csv") || e2e_fail "upload failed"
e2e_assert_eq 100 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded"
set_up_ms=$(ecm_business_now_ms)
e2e_step "campaign $cid: 100 contacts in 4 zones, business time $(e2e_iso "$set_up_ms")"
# The clock is held: the set-up took no business time.
e2e_assert_eq "$(date -u -d 2026-10-30T23:00:00Z +%s%3N)" "$set_up_ms" "business time after the set-up"
e2e_clock_release

progress() {
    echo "business time $(e2e_iso "$(ecm_business_now_ms)"), $(ecm_psql -tA -c \
        "SELECT count(*) FROM attempts WHERE campaign_id = $cid") attempts"
}
# Let business time run past Monday 00:00 UTC.
e2e_wait_business --say progress "$end_ms"

# The zone each attempt was made in, by PostgreSQL's own tz database.
zone_sql="SELECT left(ct.account_number, 2) AS grp, a.dispatched_at,
    (a.dispatched_at AT TIME ZONE COALESCE(NULLIF(ct.time_zone, ''),
        NULLIF(ct.phone_zones[array_position(ct.phones, a.phone)], ''), c.time_zone)) AS local
    FROM attempts a JOIN contacts ct ON ct.id = a.contact_id
    JOIN campaigns c ON c.id = ct.campaign_id WHERE a.campaign_id = $cid"

# Every zone called on two local days, 50 times or more (a quarter of what
# its windows allow): usually so by now; else wait, up to 12 business hours.
zones_called() {
    (($(ecm_psql -tA -c "WITH z AS ($zone_sql), g AS (SELECT grp, count(DISTINCT local::date) AS days,
        count(*) AS n FROM z GROUP BY 1) SELECT count(*) FROM g WHERE days >= 2 AND n >= 50") == 4))
}
e2e_wait_for --quiet --every 1 --until-business $((end_ms + 12 * 3600000)) \
    "$(e2e_wall_s $((end_ms + 12 * 3600000)))" "every zone called on two local days" zones_called ||
    e2e_step "not every zone called on two local days at $(e2e_iso "$(ecm_business_now_ms)")"
e2e_step "$(progress)"
ecm_psql -c "WITH z AS ($zone_sql) SELECT grp, local::date AS local_day, count(*) AS attempts,
    min(local::time) AS first_local, max(local::time) AS last_local,
    min(dispatched_at) AS first_utc FROM z GROUP BY 1, 2 ORDER BY 1, 2"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts
    WHERE campaign_id = $cid AND dispatched_at IS NULL")" "attempts without a dispatch time"
e2e_assert_eq 0 "$(ecm_psql -tA -c "WITH z AS ($zone_sql) SELECT count(*) FROM z
    WHERE local::time < '09:00' OR local::time >= '17:00'")" \
    "attempts dispatched outside 09:00-17:00 local"
for grp in NY LO KA SY; do
    e2e_assert_ge 2 "$(ecm_psql -tA -c "WITH z AS ($zone_sql) SELECT count(DISTINCT local::date)
        FROM z WHERE grp = '$grp'")" "$grp: local days with attempts"
    e2e_assert_ge 50 "$(ecm_psql -tA -c "WITH z AS ($zone_sql) SELECT count(*)
        FROM z WHERE grp = '$grp'")" "$grp: attempts"
done
# New York called on both sides of the change, each day from 09:00 local:
# 13:xx UTC on Saturday (EDT), 14:xx UTC on Sunday (EST).
e2e_assert_eq "13" "$(ecm_psql -tA -c "WITH z AS ($zone_sql) SELECT
    to_char(min(dispatched_at) AT TIME ZONE 'UTC', 'HH24') FROM z
    WHERE grp = 'NY' AND local::date = '2026-10-31'")" "hour of the first NY attempt on Oct 31 (UTC)"
e2e_assert_eq "14" "$(ecm_psql -tA -c "WITH z AS ($zone_sql) SELECT
    to_char(min(dispatched_at) AT TIME ZONE 'UTC', 'HH24') FROM z
    WHERE grp = 'NY' AND local::date = '2026-11-01'")" "hour of the first NY attempt on Nov 1 (UTC)"
# Waiting is not dropping: every contact is still open (all no-answers, caps
# far away) and the simulator never got an account number twice.
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts
    WHERE campaign_id = $cid AND state = 'closed'")" "contacts closed"
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" "duplicate account numbers"
e2e_step "no attempt outside its contact's window in 4 zones across the US DST change"
