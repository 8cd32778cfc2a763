#!/usr/bin/env bash
# Personal callbacks on UCCE (issue 15). A ucce_api campaign of 8 contacts:
# the simulator's agent 1001 answers numbers ending 0007 with CallResult 14
# and a personal callback 30 minutes later (ECM_SIM_PERSONAL_CALLBACKS), the
# others (0010) connect. The Logger runs in New York time, the campaign in
# UTC. Business time stands still while the first round is dialled and
# looked at, then runs 60 times faster than real time.
#  - each 0007 contact waits flagged for agent 1001 until the callback time
#    the dialer reported (Dialer_Detail.CallbackDateTime, New York time);
#  - one of them is put on DNC while it waits: it closes DNC, no personal
#    callback is written for it;
#  - for each of the other three, exactly one Personal_Callback_List row
#    (AgentID 1001, CallStatus P when written, the same CallbackDateTime the
#    agent asked for, in the Logger's zone), which the simulator dials at
#    that time (SentToDialerDateTime not before it); its result (10) closes
#    the contact CONNECTED in this campaign after 2 attempts;
#  - ECM's attempts are the simulator's dials (Dialer_Detail), 0 duplicates.
# The simulator's Logger clock is the stack's business clock.
# e2e-env: ECM_DEV_CLOCK=2026-03-04T12:00:00Z
# e2e-env: ECM_DEV_CLOCK_RATE=60
# e2e-env: ECM_SIM_PERSONAL_CALLBACKS=0007:1001:30
# e2e-env: ECM_SIM_NUMBER_RESULTS=0007:10,0010:10
# e2e-env: ECM_SIM_LOGGER_TIME_ZONE=America/New_York
# e2e-env: ECM_UCCE_LOGGER_TIME_ZONE=America/New_York
# e2e-env: ECM_UCCE_PERSONAL_CALLBACK=table
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-timeout: 300
# e2e-clock: held
# e2e-seconds: 64
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

CISCO_ID=5101
sql() { ecm_psql -tA -c "$1"; }
sim_sql() { ecm_sim_psql -tA -c "$1"; }

rules=$(jq -n '[{outcome: "CALLBACK_REQUESTED", action: "retry", delay_seconds: 43200,
    max_attempts: 3}, {outcome: "CONNECTED", action: "close"}]')
api POST /api/v1/strategies -d "$(jq -n --argjson rules "$rules" \
    '{name: "PCB", max_attempts: 5, max_attempts_per_day: 5, rules: $rules}')" \
    >/dev/null || e2e_fail "POST /api/v1/strategies failed"
body=$(jq -n --arg id "$CISCO_ID" '{name: "personal callbacks", channel: "voice_agent",
    strategy: "PCB", region: "US", time_zone: "UTC", cisco: {kind: "ucce_api", campaign_id: $id},
    call_window: ([["mon","tue","wed","thu","fri","sat","sun"][] | {(.): [["08:00", "20:00"]]}]
                  | add)}')
cid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "campaign not created"
{
    echo "account_number,first_name,last_name,phone1,time_zone"
    for i in 1 2 3 4; do printf 'PCB%d,Pat,Callback,+1 212 55%d 0007,UTC\n' "$i" "$i"; done
    for i in 1 2 3 4; do printf 'NOW%d,Nat,Direct,+1 212 56%d 0010,UTC\n' "$i" "$i"; done
} >"$E2E_TMP/pcb.csv"
answer=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/pcb.csv") || e2e_fail "upload failed"
e2e_assert_eq 8 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded"
api POST "/api/v1/campaigns/$cid/activate" -d '{}' >/dev/null || e2e_fail "activate failed"
e2e_step "campaign $cid (ucce_api:$CISCO_ID) active, 8 contacts; clock held at $(e2e_iso "$(ecm_business_now_ms)")"

# ---------------------------------------------------------------- first round, clock held

flagged() { sql "SELECT count(*) FROM contacts WHERE campaign_id = $cid AND state = 'waiting'
    AND pcb_agent = '1001' AND pcb_at IS NOT NULL"; }
e2e_wait_for 120 "4 contacts waiting for agent 1001" bash -c "[[ \$(ecm_psql -tA -c \"SELECT count(*)
    FROM contacts WHERE campaign_id = $cid AND state = 'waiting' AND pcb_agent = '1001'\") == 4 ]]"
e2e_wait_for 60 "the 4 direct contacts closed" bash -c "[[ \$(ecm_psql -tA -c \"SELECT count(*)
    FROM contacts WHERE campaign_id = $cid AND account_number LIKE 'NOW%' AND state = 'closed'
    AND outcome = 'CONNECTED'\") == 4 ]]"
e2e_assert_eq 4 "$(flagged)" "contacts flagged for a personal callback"
# The time each asked for, as the Logger writes it (New York), and what the
# dialer reported for the first call.
sql "SELECT split_part(ct.account_number, '-', 1) || ' ' || ct.id || ' ' ||
    to_char(ct.pcb_at AT TIME ZONE 'America/New_York', 'YYYY-MM-DD HH24:MI:SS')
    FROM contacts ct WHERE ct.campaign_id = $cid AND ct.pcb_agent IS NOT NULL ORDER BY ct.id" \
    >"$E2E_TMP/asked"
while read -r _ id at; do
    e2e_assert_eq "$at" "$(sim_sql "SELECT to_char(CallbackDateTime, 'YYYY-MM-DD HH24:MI:SS')
        FROM Dialer_Detail WHERE AccountNumber = '$id-1' AND CallResult = 14
        AND AgentPeripheralNumber = '1001'")" "contact $id's callback time, Dialer_Detail vs ECM"
done <"$E2E_TMP/asked"
e2e_assert_eq 0 "$(sim_sql "SELECT count(*) FROM Personal_Callback_List")" \
    "personal callbacks written before they are due"
read -r _ dnc_id _ < <(tail -n 1 "$E2E_TMP/asked")
dnc_phone=$(sql "SELECT phones[1] FROM contacts WHERE id = $dnc_id")
api POST /api/v1/dnc -d "{\"phone\": \"$dnc_phone\", \"reason\": \"e2e pcb\"}" >/dev/null ||
    e2e_fail "POST /api/v1/dnc failed"
e2e_step "4 personal callbacks waiting ($(cut -d' ' -f3- "$E2E_TMP/asked" | sort -u | tr '\n' ' ')New York);" \
    "contact $dnc_id's number put on DNC"

# ---------------------------------------------------------------- the callbacks

e2e_clock_release
e2e_wait_campaign_closed "$cid" 200

e2e_assert_eq "closed DNC" "$(sql "SELECT state || ' ' || outcome FROM contacts WHERE id = $dnc_id")" \
    "contact $dnc_id, on DNC before its callback"
e2e_assert_eq 0 "$(sim_sql "SELECT count(*) FROM Personal_Callback_List
    WHERE AccountNumber LIKE '$dnc_id-%'")" "personal callbacks written for the DNC contact"
e2e_assert_eq 3 "$(sim_sql "SELECT count(*) FROM Personal_Callback_List")" \
    "Personal_Callback_List rows"
while read -r _ id at; do
    [[ $id == "$dnc_id" ]] && continue
    e2e_assert_eq 1 "$(sim_sql "SELECT count(*) FROM Personal_Callback_List
        WHERE AccountNumber = '$id-2' AND AgentID = 1001 AND CampaignID = $CISCO_ID
        AND CallbackDateTime = '$at' AND InsertedIntoDBDateTime IS NOT NULL
        AND SentToDialerDateTime >= CallbackDateTime AND CallStatus = 'C' AND CallResult = 10")" \
        "contact $id: one personal callback for agent 1001 at $at (New York), dialled then"
    e2e_assert_eq 1 "$(sim_sql "SELECT count(*) FROM Dialer_Detail d JOIN Personal_Callback_List p
        ON p.PersonalCallbackListID = d.DialingListID WHERE d.AccountNumber = '$id-2'
        AND d.AgentPeripheralNumber = '1001' AND d.CampaignID = $CISCO_ID")" \
        "contact $id: the personal callback's Dialer_Detail row"
    e2e_assert_eq "closed CONNECTED 2" "$(sql "SELECT state || ' ' || outcome || ' ' || attempts
        FROM contacts WHERE id = $id AND campaign_id = $cid")" "contact $id after its callback"
done <"$E2E_TMP/asked"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM contacts WHERE campaign_id = $cid
    AND pcb_agent IS NOT NULL AND state <> 'closed'")" "open contacts still flagged"
e2e_check_campaign "$cid" 8
e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.personal_callbacks.duplicate_accounts')" \
    "personal callbacks written twice"
e2e_step "3 personal callbacks written once for agent 1001 at the time asked, dialled, closed CONNECTED;" \
    "the DNC one closed without one"
