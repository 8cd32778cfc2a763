#!/usr/bin/env bash
# "Why is this contact (not) being contacted now?" through the whole stack:
# GET /api/v1/contacts/{id}/eligibility, the dispatchers' own gate judging
# one contact. Business time stands still at Monday 2026-03-09 14:00 UTC
# (e2e-clock: held, never released), so every local time below is known
# however slow the machine is. One voice campaign, window 09:00-18:00 every
# day in the contact's own zone:
#  - Karachi contacts (19:00 there): waiting, and the answer says the window
#    opens at 09:00 the next morning in Asia/Karachi (+05:00);
#  - a London contact (14:00 there) is called; the simulator answers
#    connected (numbers ending 0010), the strategy closes it: the answer says
#    closed with outcome CONNECTED;
#  - a number of a Karachi contact goes on the global DNC list: it is closed
#    DNC and the answer names the list and since when (business time);
#  - the campaign paused: the last Karachi contact's answer says so.
# e2e-env: ECM_DEV_CLOCK=2026-03-09T14:00:00Z
# e2e-env: ECM_SIM_NUMBER_RESULTS=0010:10
# e2e-env: ECM_SIM_DIAL_RATE=200
# e2e-timeout: 300
# e2e-clock: held
# e2e-seconds: 33
source "$(dirname "$0")/lib.sh"

sql() { ecm_psql -tA -c "$1"; }
# why ID: the eligibility answer of contact ID (JSON).
why() { api GET "/api/v1/contacts/$1/eligibility" || e2e_fail "GET eligibility of contact $1 failed"; }
# field ID JQ: one member of contact ID's answer.
field() { why "$1" | jq -r "$2"; }
state_is() { [[ $(field "$1" .state) == "$2" ]]; }

window='{"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
         "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]], "sat": [["09:00", "18:00"]],
         "sun": [["09:00", "18:00"]]}'
body=$(jq -n --argjson w "$window" '{name: "e2e eligibility", channel: "voice_ivr",
    cisco: {kind: "uccx", campaign_id: "1"}, time_zone: "UTC", call_window: $w}')
cid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "campaign not created"
cat >"$E2E_TMP/contacts.csv" <<'EOF'
account_number,first_name,last_name,phone1,time_zone
K1,Kamran,Ali,+92 21 3456 7801,Asia/Karachi
K2,Sana,Khan,+92 21 3456 7802,Asia/Karachi
L1,Lucy,Brown,+44 20 7946 0010,Europe/London
EOF
answer=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/contacts.csv") || e2e_fail "upload failed"
e2e_assert_eq 3 "$(jq -r .rows_loaded <<<"$answer")" "rows loaded"
id_of() { sql "SELECT id FROM contacts WHERE campaign_id = $cid AND account_number = '$1'"; }
k1=$(id_of K1) k2=$(id_of K2) l1=$(id_of L1)

# A draft campaign dispatches nothing, and says so.
e2e_assert_eq campaign_not_active "$(field "$k1" .state)" "K1 while the campaign is a draft"
api POST "/api/v1/campaigns/$cid/activate" >/dev/null || e2e_fail "activate failed"
e2e_step "campaign $cid active: K1 $k1, K2 $k2 (Karachi), L1 $l1 (London)"

# Karachi: 19:00 there, the window opens at 09:00 tomorrow, its time.
now=$(field "$k1" .at)
e2e_assert_eq "2026-03-09T14:00:00.000Z" "$now" "the business instant judged"
e2e_assert_eq waiting "$(field "$k1" .state)" "K1 outside its window"
e2e_assert_eq "2026-03-10T04:00:00.000Z" "$(field "$k1" .until)" "K1 may go at"
e2e_assert_eq "2026-03-10T09:00:00+05:00" "$(field "$k1" .until_local)" "K1 may go at, its time"
e2e_assert_eq "2026-03-09T19:00:00+05:00" "$(field "$k1" .local_time)" "K1's time now"
e2e_assert_eq Asia/Karachi "$(field "$k1" .zone)" "K1's zone"
why "$k1" | jq -e '.reason | test("Tue 2026-03-10 09:00 \\(Asia/Karachi\\)")' >/dev/null ||
    e2e_fail "K1's reason does not say when its window opens: $(field "$k1" .reason)"
e2e_step "K1: $(field "$k1" .reason)"

# London: called now, the simulator connects it, the strategy closes it.
e2e_wait_for 120 "L1 closed" state_is "$l1" closed
e2e_assert_eq CONNECTED "$(field "$l1" .outcome)" "L1's outcome"
why "$l1" | jq -e '.reason | startswith("Closed with outcome CONNECTED")' >/dev/null ||
    e2e_fail "L1's reason: $(field "$l1" .reason)"
e2e_step "L1: $(field "$l1" .reason)"

# K1's number on the global list: closed DNC; which list, since when.
api POST /api/v1/dnc -d '{"phone": "+922134567801", "reason": "asked not to be called"}' \
    >/dev/null || e2e_fail "POST /api/v1/dnc failed"
e2e_wait_for 30 "K1 closed DNC" state_is "$k1" closed
e2e_assert_eq DNC "$(field "$k1" .outcome)" "K1's outcome"
entry=$(why "$k1" | jq -c '[.dnc[] | select(.channel == "voice")][0]')
e2e_assert_eq true "$(jq -r .listed <<<"$entry")" "K1's number listed for voice"
e2e_assert_eq global "$(jq -r .scope <<<"$entry")" "K1's list"
e2e_assert_eq "$now" "$(jq -r .since <<<"$entry")" "K1 listed since (business time)"
e2e_assert_eq "asked not to be called" "$(jq -r .reason <<<"$entry")" "K1's listing reason"
why "$k1" | jq -e '.reason | test("on the global list for voice since 2026-03-09T14:00:00.000Z")' \
    >/dev/null || e2e_fail "K1's reason does not name the list: $(field "$k1" .reason)"
e2e_step "K1: $(field "$k1" .reason)"

# Paused: K2 says so.
api POST "/api/v1/campaigns/$cid/pause" >/dev/null || e2e_fail "pause failed"
e2e_assert_eq campaign_not_active "$(field "$k2" .state)" "K2 in a paused campaign"
e2e_assert_eq paused "$(field "$k2" .campaign.state)" "K2's campaign state"
why "$k2" | jq -e '.reason | test("is paused")' >/dev/null ||
    e2e_fail "K2's reason does not say paused: $(field "$k2" .reason)"
e2e_step "K2: $(field "$k2" .reason)"

# A contact that does not exist: 404.
status=$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $ECM_API_KEY" \
    "$ECM_DEV_API_URL/api/v1/contacts/987654321/eligibility")
e2e_assert_eq 404 "$status" "an unknown contact"
