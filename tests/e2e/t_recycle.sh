#!/usr/bin/env bash
# Recycling closed contacts without a re-upload (issue 17), on a running
# stack through the Cisco simulator. The business clock stands still the
# whole time (e2e-clock: held) and is moved forward by whole days by the
# scenario, so "older than 3 days" is exact however slow the machine is;
# the contacts live in the zone where it is 10:00 at the start (the legal
# hours are open then and 3 or 7 days later).
#  1. Campaign A (strategy: NO_ANSWER and CONNECTED close): 12 contacts
#     whose number ends 0002 (the simulator answers 8, NO_ANSWER) and 8
#     ending 0001 (10, CONNECTED). Every contact closes after one attempt
#     and the campaign completes.
#  2. The clock moves 3 days and 1 hour on. `ecmctl campaigns recycle
#     --dry-run` of NO_ANSWER older than 3d counts exactly the 12, changing
#     nothing; the run (--yes) re-opens them, and the campaign goes
#     completed -> active; they are dialled again with new account numbers
#     (<contact>-2), the CONNECTED ones are untouched, the simulator sees no
#     account number twice, one ContactsRecycled lists the 12 on Kafka, and
#     the campaign completes again.
#  3. Campaign B has a recycle schedule (NO_ANSWER, older than 3d, at most
#     1 round) set before its contacts close: at the first jump the strategy
#     service re-opens its NO_ANSWER contacts by itself and they are dialled
#     again; 4 more days on, the schedule runs again and re-opens nothing
#     (max_rounds 1).
# e2e-env: ECM_DEV_CLOCK=2026-03-02T13:00:00Z
# e2e-env: ECM_SIM_NUMBER_RESULTS=0001:10,0002:8
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-env: ECM_RECYCLE_INTERVAL_S=3600
# e2e-timeout: 600
# e2e-clock: held
# e2e-seconds: 41
source "$(dirname "$0")/lib.sh"

DAY_MS=86400000
HOUR_MS=3600000
ZONE=$(e2e_zone_at_hour 10)
CTL=$(cd "$ECM_ROOT" && realpath "${ECM_BIN_DIR:-build/bin}")/ecmctl
export ECM_URL=$ECM_DEV_API_URL
sql() { ecm_psql -tA -c "$1"; }
ctl() { "$CTL" "$@"; }

# jump MS: the held clock now stands at business instant MS (later only).
jump() {
    ecm_clock_write "$(ecm_clock_ctl)" held "$1" "$(date -u +%s%3N)" "$(e2e_clock_rate)"
    e2e_wait_for 10 "business time $(e2e_iso "$1")" e2e_clock_stopped_at "$1"
    e2e_step "business clock moved to $(e2e_iso "$1")"
}

body=$(jq -n '{name: "Recycle", max_attempts: 5, max_attempts_per_day: 3,
    rules: [{outcome: "NO_ANSWER", action: "close"}, {outcome: "CONNECTED", action: "close"}]}')
api POST /api/v1/strategies -d "$body" >/dev/null || e2e_fail "POST /api/v1/strategies failed"

# campaign NAME: a voice campaign on UCCX campaign 1 in $ZONE, not active yet.
campaign() {
    local id
    body=$(jq -n --arg name "$1" --arg zone "$ZONE" '{name: $name, channel: "voice_ivr",
        strategy: "Recycle", region: "US", time_zone: $zone, cisco: {kind: "uccx", campaign_id: "1"}}')
    id=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    [[ $id =~ ^[0-9]+$ ]] || e2e_fail "campaign '$1' not created"
    echo "$id"
}

# upload CAMPAIGN PREFIX AREA: 12 no-answer and 8 connected contacts, their
# numbers in area code AREA.
upload() {
    local csv=$E2E_TMP/$2.csv answer
    {
        echo "account_number,first_name,last_name,phone1,time_zone"
        for i in $(seq 10 21); do printf '%sN%02d,No,Answer,+1 %s 5%02d 0002,%s\n' "$2" "$i" "$3" "$i" "$ZONE"; done
        for i in $(seq 10 17); do printf '%sC%02d,Is,Connected,+1 %s 6%02d 0001,%s\n' "$2" "$i" "$3" "$i" "$ZONE"; done
    } >"$csv"
    answer=$(api POST "/api/v1/campaigns/$1/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv") ||
        e2e_fail "upload to campaign $1 failed"
    e2e_assert_eq 20 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded into campaign $1"
}

state_of() { sql "SELECT state FROM campaigns WHERE id = $1"; }
completed() { [[ $(state_of "$1") == completed ]]; }
outcomes_of() {
    sql "SELECT string_agg(outcome || ':' || n, ' ' ORDER BY outcome) FROM (SELECT outcome,
        count(*) n FROM contacts WHERE campaign_id = $1 GROUP BY 1) x"
}

a=$(campaign "recycle by hand")
b=$(campaign "recycle on schedule")
upload "$a" A 212
upload "$b" B 646
ctl recycle-schedule set "$b" --outcome NO_ANSWER --older-than 3d --max-rounds 1 >"$E2E_TMP/out" ||
    e2e_fail "ecmctl recycle-schedule set $b failed"
ctl campaigns recycle-schedule show "$b" >"$E2E_TMP/out" || e2e_fail "recycle-schedule show failed"
grep -q 'older than 3d' "$E2E_TMP/out" || e2e_fail "schedule of $b: $(cat "$E2E_TMP/out")"
t0=$(ecm_business_now_ms)
for c in "$a" "$b"; do
    api POST "/api/v1/campaigns/$c/activate" -d '{}' >/dev/null || e2e_fail "activate $c failed"
done
e2e_step "campaigns $a (by hand) and $b (schedule) active at $(e2e_iso "$t0"), contacts in $ZONE"

# ---------------------------------------------------------------- round 1
for c in "$a" "$b"; do
    e2e_wait_for 240 "campaign $c completed" completed "$c"
    e2e_assert_eq "CONNECTED:8 NO_ANSWER:12" "$(outcomes_of "$c")" "outcomes of campaign $c"
done
# The schedule of B ran while its contacts were young (or not at all yet):
# nothing re-opened.
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE recycled > 0")" "contacts recycled before the jump"
e2e_step "round 1: both campaigns completed, 12 NO_ANSWER and 8 CONNECTED each"

# ---------------------------------------------------------------- by hand
jump $((t0 + 3 * DAY_MS + HOUR_MS))
ctl campaigns recycle "$a" --outcome NO_ANSWER --older-than 3d --dry-run >"$E2E_TMP/dry" ||
    e2e_fail "dry run failed: $(cat "$E2E_TMP/dry")"
grep -q "campaign $a: 12 contacts match (NO_ANSWER 12)" "$E2E_TMP/dry" ||
    e2e_fail "dry run of $a: $(cat "$E2E_TMP/dry")"
e2e_assert_eq completed "$(state_of "$a")" "campaign $a after the dry run"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $a AND state <> 'closed'")" \
    "open contacts of $a after the dry run"
# A day younger than the closes: nothing matches.
api POST "/api/v1/campaigns/$a/recycle" -d '{"outcomes": ["NO_ANSWER"], "older_than": "4d",
    "dry_run": true}' >"$E2E_TMP/dry4" || e2e_fail "dry run 4d failed"
e2e_assert_eq 0 "$(jq -r .contacts "$E2E_TMP/dry4")" "contacts of $a closed more than 4 days ago"
api POST "/api/v1/campaigns/$a/recycle" -d '{"outcomes": ["DNC"], "older_than": "1d"}' \
    >/dev/null 2>&1 && e2e_fail "a recycle of DNC contacts was accepted"
# Without --yes it shows the count and asks; "n" re-opens nothing.
echo n | ctl campaigns recycle "$a" --outcome NO_ANSWER --older-than 3d >"$E2E_TMP/no" 2>&1 ||
    e2e_fail "recycle answered 'n' failed: $(cat "$E2E_TMP/no")"
grep -q "Re-open 12 contacts of campaign $a? \[y/N\]" "$E2E_TMP/no" || e2e_fail "no question: $(cat "$E2E_TMP/no")"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $a AND state <> 'closed'")" \
    "open contacts of $a after answering no"
ctl campaigns recycle "$a" --outcome NO_ANSWER --older-than 3d --yes >"$E2E_TMP/run" 2>&1 ||
    e2e_fail "recycle failed: $(cat "$E2E_TMP/run")"
grep -q "campaign $a: 12 contacts re-opened" "$E2E_TMP/run" || e2e_fail "recycle of $a: $(cat "$E2E_TMP/run")"
grep -q "completed -> active" "$E2E_TMP/run" || e2e_fail "campaign $a not reactivated: $(cat "$E2E_TMP/run")"
e2e_step "$(tail -n 1 "$E2E_TMP/run")"
e2e_wait_for 240 "campaign $a completed again" completed "$a"

e2e_assert_eq "CONNECTED:8 NO_ANSWER:12" "$(outcomes_of "$a")" "outcomes of campaign $a after round 2"
e2e_assert_eq "12" "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $a AND recycled = 1
    AND attempts = 2 AND round_first_attempt = 2 AND account_number LIKE 'AN%'")" \
    "NO_ANSWER contacts of $a re-opened once and called twice"
e2e_assert_eq "8" "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $a AND recycled = 0
    AND attempts = 1 AND account_number LIKE 'AC%'")" "CONNECTED contacts of $a untouched"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM attempts a JOIN contacts k ON k.id = a.contact_id
    WHERE a.campaign_id = $a AND a.account_number <> k.id || '-' || a.attempt")" \
    "attempts of $a whose account number is not <contact>-<attempt>"
e2e_assert_eq 12 "$(sql "SELECT count(*) FROM attempts WHERE campaign_id = $a AND attempt = 2
    AND dispatched_at >= to_timestamp($((t0 + 3 * DAY_MS)) / 1000.0)")" \
    "second attempts of $a, dispatched after the jump"
e2e_assert_eq 1 "$(sql "SELECT count(*) FROM recycles WHERE campaign_id = $a AND contacts = 12
    AND actor <> 'schedule'")" "recycles logged for $a"
e2e_assert_eq 1 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'campaign.recycle'
    AND resource = 'campaign/$a'")" "audit rows of the recycle of $a"
recycled_events() {
    timeout 30 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t contacts.recycled -o beginning -e \
        -f '%k\n' 2>/dev/null | grep -cx "$a" || true
}
has_recycled_event() { (($(recycled_events) >= 1)); }
e2e_wait_for --every 1 60 "a ContactsRecycled keyed by campaign $a on Kafka" has_recycled_event
e2e_assert_eq 1 "$(recycled_events)" "ContactsRecycled events of campaign $a"
e2e_step "by hand: 12 NO_ANSWER contacts dialled again as <contact>-2, the 8 CONNECTED untouched"

# ---------------------------------------------------------------- schedule
e2e_wait_for 240 "campaign $b's NO_ANSWER contacts called twice" bash -c "(( \$(ecm_psql -tA -c \
    \"SELECT count(*) FROM contacts WHERE campaign_id = $b AND recycled = 1 AND attempts = 2
    AND state = 'closed'\") == 12 ))"
e2e_wait_for 240 "campaign $b completed again" completed "$b"
e2e_assert_eq 8 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $b AND recycled = 0
    AND attempts = 1 AND outcome = 'CONNECTED'")" "CONNECTED contacts of $b untouched"
e2e_assert_eq "schedule 12" "$(sql "SELECT string_agg(actor || ' ' || contacts, ',') FROM recycles
    WHERE campaign_id = $b")" "recycles of $b"
e2e_step "schedule: campaign $b's 12 NO_ANSWER contacts re-opened by the strategy service and called again"

# Four days on the schedule is due again; with max_rounds 1 it re-opens
# nothing. Its last run moving past the jump shows that it ran.
t2=$((t0 + 7 * DAY_MS + HOUR_MS))
jump "$t2"
ran_again() {
    (($(sql "SELECT count(*) FROM campaign_recycle_schedules WHERE campaign_id = $b
        AND last_run_at >= to_timestamp($t2 / 1000.0)") == 1))
}
e2e_wait_for 60 "the schedule of $b run at $(e2e_iso "$t2")" ran_again
e2e_assert_eq completed "$(state_of "$b")" "campaign $b after the schedule's second run"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $b AND (recycled > 1
    OR state <> 'closed')")" "contacts of $b re-opened a second time"
e2e_assert_eq 1 "$(sql "SELECT count(*) FROM recycles WHERE campaign_id = $b")" "recycles of $b"
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" "duplicate account numbers"
e2e_step "max_rounds 1: nothing re-opened at the schedule's second run; 0 duplicates at the simulator"
