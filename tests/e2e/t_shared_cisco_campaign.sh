#!/usr/bin/env bash
# Two ECM campaigns feed one Cisco campaign (UCCE Outbound API campaign 5006),
# each with its own calling window: A calls 09:00-17:00, B 12:00-17:00 (New
# York time, every day). Business time starts on a Monday at 09:30 in New
# York, held while the scenario sets up, then runs 600 times faster and stops
# at 11:59: by then A has been dialling and B has dispatched nothing. Then it
# runs on until both are done. Every result lands in the campaign of its own
# contact (they are told apart by the account number alone), and the records
# Cisco dialled on the shared campaign are exactly the attempts of the two.
# e2e-env: ECM_DEV_CLOCK=2026-11-02T14:30:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=600
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-timeout: 600
# e2e-clock: held
# e2e-seconds: 49
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

ecm_create_fast_strategy E2E 2 >/dev/null
create() {
    local name=$1 from=$2 body id
    body=$(jq -n --arg name "$name" --arg from "$from" '{name: $name, channel: "voice_ivr",
        strategy: "E2E", cisco: {kind: "ucce_api", campaign_id: "5006"},
        time_zone: "America/New_York",
        call_window: ([["mon","tue","wed","thu","fri","sat","sun"][] | {(.): [[$from, "17:00"]]}]
                      | add)}')
    id=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    [[ $id =~ ^[0-9]+$ ]] || e2e_fail "campaign $name not created"
    api POST "/api/v1/campaigns/$id/activate" -d '{}' >/dev/null || e2e_fail "activate $name failed"
    echo "$id"
}
upload() {
    local cid=$1 prefix=$2 area=$3 answer
    {
        echo "account_number,first_name,last_name,phone1,time_zone"
        for i in $(seq 100 399); do
            printf '%s%d,Ann,Lee,+1 %s 234 %04d,America/New_York\n' "$prefix" "$i" "$area" "$((i * 7))"
        done
    } >"$E2E_TMP/$prefix.csv"
    answer=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
        --data-binary "@$E2E_TMP/$prefix.csv") || e2e_fail "upload to $cid failed"
    e2e_assert_eq 300 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded into campaign $cid"
}
a=$(create "shared A" 09:00)
b=$(create "shared B" 12:00)
# B's numbers differ from A's (another area code): one phone, one contact.
upload "$a" A 212
upload "$b" B 646
e2e_step "campaigns $a (09:00-17:00) and $b (12:00-17:00) on Cisco campaign 5006"

# The clock stops a minute before B's window opens: at 12:00 itself B may
# already be dispatched.
noon_ms=$(date -u -d 2026-11-02T16:59:00Z +%s%3N)
e2e_clock_release --until "$noon_ms"
done_a() { (($(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $a
    AND status = 'done'") >= 100)); }
e2e_wait_for 120 "100 results of campaign A before noon" done_a
e2e_wait_for 300 "business time standing at 11:59" e2e_clock_stopped_at "$noon_ms"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $b")" \
    "attempts of campaign B before its window opens"
e2e_step "at 11:59: A has $(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $a") attempts, B none"
e2e_clock_release

e2e_wait_campaign_closed "$a" 300
e2e_wait_campaign_closed "$b" 300
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts a JOIN contacts c
    ON c.id = a.contact_id WHERE a.campaign_id <> c.campaign_id")" \
    "attempts recorded in another campaign than their contact's"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $b
    AND (dispatched_at AT TIME ZONE 'America/New_York')::time < '12:00'")" \
    "attempts of B dispatched before 12:00 New York time"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts c WHERE campaign_id = $b
    AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = c.id)
    AND outcome IS DISTINCT FROM 'EXPIRED'")" "contacts of B never attempted"
e2e_check_campaign "$a" 300
e2e_check_campaign "$b" 300
