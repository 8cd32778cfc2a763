#!/usr/bin/env bash
# Rule sets and a campaign's contact rules through the API (issue 16), every
# call through api() so that tests/e2e/run.sh holds each answer to
# api/openapi.yaml:
#  - the shipped sets (rules/*.json, loaded by migration 016) list and read
#    back in the files' shape, hours as "HH:MM";
#  - who may: a viewer reads, a supervisor may not change a set (403), a
#    request without a key is 401; an admin creates (201), replaces (200)
#    and deletes (204); a bad body is 422 naming the member, a taken name
#    409; a set in use is not deleted (409);
#  - a shipped set edited becomes the customer's own (shipped: false, the
#    answer's notice says why);
#  - campaigns: the default pick (US federal (TCPA) in the US, none in GB),
#    picks by name and id with blackout dates, shown with names and ids; an
#    active campaign's picks change without a pause and rules_generation,
#    which the dispatchers' caches follow, moves;
#  - each change is one audit row (GET /api/v1/audit) saying what changed;
#  - ecmctl rules list / show / apply against the same stack.
# e2e-timeout: 300
# e2e-seconds: 64
source "$(dirname "$0")/lib.sh"

[[ -n ${ECM_API_KEY:-} ]] || e2e_fail "no dev admin key (ECM_API_KEY)"
ADMIN=$ECM_API_KEY
CTL=$(cd "$ECM_ROOT" && realpath "${ECM_BIN_DIR:-build/bin}")/ecmctl
export ECM_URL=$ECM_DEV_API_URL
FL="US-FL Florida Telephone Solicitation Act"
TCPA="US federal (TCPA)"

sql() { ecm_psql -tA -c "$1"; }
generation() { sql "SELECT n FROM rules_generation"; }

# as KEY METHOD PATH [ARGS...]: api() with another key.
as() {
    local key=$1
    shift
    ECM_API_KEY=$key api "$@"
}

# refused STATUS WHAT KEY METHOD PATH [ARGS...]: the call fails with STATUS
# (its problem's status); prints the problem's detail.
refused() {
    local want=$1 what=$2 out
    shift 2
    if out=$(as "$@" 2>&1 >/dev/null); then
        e2e_fail "$what: went through"
    fi
    out=$(grep -m 1 "^{" <<<"$out" || true)
    e2e_assert_eq "$want" "$(jq -r .status <<<"$out" 2>/dev/null)" "$what: status ($out)"
    jq -r '.detail // ""' <<<"$out"
}

# new_key ROLE NAME: prints the key made through the API.
new_key() {
    api POST /api/v1/keys -d "$(jq -n --arg r "$1" --arg n "$2" '{role: $r, name: $n}')" |
        jq -r .key
}
viewer=$(new_key viewer "rule sets viewer")
supervisor=$(new_key supervisor "rule sets supervisor")
[[ $viewer == ecm_* && $supervisor == ecm_* ]] || e2e_fail "keys not made"

# ---- 1. the shipped sets, read by a viewer
list=$(as "$viewer" GET '/api/v1/rule-sets?limit=200')
for name in "$TCPA" "$FL" "US Regulation F (debt collection)" "US federal holidays" \
    "UK Ofcom abandoned calls"; do
    [[ $(jq --arg n "$name" '[.items[] | select(.name == $n and .shipped)] | length' <<<"$list") == 1 ]] ||
        e2e_fail "shipped set '$name' not listed: $list"
done
fl_id=$(jq --arg n "$FL" '.items[] | select(.name == $n) | .id' <<<"$list")
fl=$(as "$viewer" GET "/api/v1/rule-sets/$fl_id")
e2e_assert_eq "08:00-20:00" "$(jq -r '.rules[] | select(.kind == "hours") | "\(.start)-\(.end)"' <<<"$fl")" \
    "Florida hours"
e2e_assert_eq "3 86400 subject" \
    "$(jq -r '.rules[] | select(.kind == "cap") | "\(.max_attempts) \(.window_s) \(.scope)"' <<<"$fl")" \
    "Florida cap"
[[ $(jq '[.rules[] | select(.source != null and .checked_on != null)] | length' <<<"$fl") == \
    $(jq '.rules | length' <<<"$fl") ]] || e2e_fail "a shipped rule without source or checked_on: $fl"
e2e_assert_eq "$fl_id" "$(as "$viewer" GET '/api/v1/rule-sets?jurisdiction=US-FL' | jq '.items[0].id')" \
    "list by jurisdiction"
e2e_step "shipped sets listed and read by a viewer (Florida: set $fl_id)"

# ---- 2. who may change a set
body=$(jq -n '{name: "Acme weekday hours", jurisdiction: "US", description: "our own",
    rules: [{kind: "hours", says: "Weekdays 9 to 6 only", wdays: [1, 2, 3, 4, 5],
             start: "09:00", end: "18:00"},
            {kind: "day_off", says: "Company holiday", day: "2026-12-26"},
            {kind: "cap", says: "2 a day", max_attempts: 2, window: "24 hours"}]}')
refused 401 "no key" "" POST /api/v1/rule-sets -d "$body" >/dev/null
refused 403 "viewer creates" "$viewer" POST /api/v1/rule-sets -d "$body" >/dev/null
refused 403 "supervisor creates" "$supervisor" POST /api/v1/rule-sets -d "$body" >/dev/null
bad=$(jq '.rules[0].start = "25:00"' <<<"$body")
detail=$(refused 422 "a time that is none" "$ADMIN" POST /api/v1/rule-sets -d "$bad")
[[ $detail == "rules[0].start: '25:00' is not a time"* ]] || e2e_fail "422 detail: $detail"
detail=$(refused 409 "a taken name" "$ADMIN" POST /api/v1/rule-sets -d "$(jq --arg n "$TCPA" '.name = $n' <<<"$body")")
[[ $detail == *"exists already"* ]] || e2e_fail "409 detail: $detail"
gen0=$(generation)
own=$(api POST /api/v1/rule-sets -d "$body")
own_id=$(jq .id <<<"$own")
[[ $own_id =~ ^[0-9]+$ ]] || e2e_fail "set not created: $own"
e2e_assert_eq "false 3 86400 contact" "$(jq -r '"\(.shipped) \(.rule_count) \(.rules[2].window_s) \(.rules[2].scope)"' <<<"$own")" \
    "the new set as stored"
(($(generation) > gen0)) || e2e_fail "rules_generation did not move on create"
replaced=$(jq '.rules[2].max_attempts = 3 | .description = "ours, edited"' <<<"$own")
refused 403 "supervisor replaces" "$supervisor" PUT "/api/v1/rule-sets/$own_id" -d "$replaced" >/dev/null
e2e_assert_eq 3 "$(api PUT "/api/v1/rule-sets/$own_id" -d "$replaced" | jq '.rules[2].max_attempts')" \
    "cap after PUT"
e2e_step "set $own_id: 401 without a key, 403 viewer/supervisor, 422 and 409 named, created and replaced by admin"

# ---- 3. a shipped set edited becomes the customer's own
edited=$(jq '.rules |= map(if .kind == "cap" then .channel = "voice" else . end)' <<<"$fl")
answer=$(api PUT "/api/v1/rule-sets/$fl_id" -d "$edited")
e2e_assert_eq false "$(jq .shipped <<<"$answer")" "Florida shipped after the edit"
[[ $(jq -r .notice <<<"$answer") == *"will not overwrite"* ]] || e2e_fail "no notice: $answer"
e2e_assert_eq f "$(sql "SELECT shipped FROM rule_sets WHERE id = $fl_id")" "Florida shipped in the DB"
e2e_step "shipped Florida set edited: now the customer's own, the answer says so"

# ---- 4. campaigns pick sets
campaign() { # NAME EXTRA_JSON [KEY]: prints the campaign answer
    as "${3:-$supervisor}" POST /api/v1/campaigns -d "$(jq -n --arg n "$1" --argjson x "$2" \
        '{name: $n, channel: "voice_ivr", cisco: {kind: "uccx", campaign_id: "1"}} + $x')"
}
us=$(campaign "rules default US" '{}')
e2e_assert_eq "$TCPA" "$(jq -r '[.rule_sets[].name] | join("|")' <<<"$us")" "default picks in the US"
gb=$(campaign "rules default GB" '{"region": "GB"}')
e2e_assert_eq 0 "$(jq '.rule_sets | length' <<<"$gb")" "default picks in GB"
detail=$(refused 400 "an unknown set" "$supervisor" POST /api/v1/campaigns -d "$(jq -n \
    '{name: "x", channel: "sms", sms: {template: "Hi"}, rule_sets: ["Atlantis"]}')")
[[ $detail == "rule_sets[0]: no rule set named 'Atlantis'" ]] || e2e_fail "unknown set: $detail"
picks=$(jq -n --argjson own "$own_id" --arg fl "$FL" \
    '{rule_sets: [$own, $fl], blackout_dates: [{date: "2026-12-31", reason: "year end"},
      {date: "2026-12-24"}]}')
c=$(campaign "rules picked" "$picks")
cid=$(jq .id <<<"$c")
e2e_assert_eq "Acme weekday hours:$own_id|$FL:$fl_id" \
    "$(jq -r '[.rule_sets[] | "\(.name):\(.id)"] | join("|")' <<<"$c")" "picks by name and id"
e2e_assert_eq "2026-12-24:|2026-12-31:year end" \
    "$(jq -r '[.blackout_dates[] | "\(.date):\(.reason)"] | join("|")' <<<"$(as "$viewer" GET "/api/v1/campaigns/$cid")")" \
    "blackout dates as GET shows them"
api POST "/api/v1/campaigns/$cid/activate" -d '{}' >/dev/null || e2e_fail "activate $cid"
gen1=$(generation)
patched=$(as "$supervisor" PATCH "/api/v1/campaigns/$cid" -d "$(jq -n --arg t "$TCPA" \
    '{rule_sets: [$t], blackout_dates: [{date: "2026-12-25", reason: "Christmas"}]}')")
e2e_assert_eq "active $TCPA 2026-12-25" \
    "$(jq -r '"\(.state) \([.rule_sets[].name] | join("|")) \(.blackout_dates[0].date)"' <<<"$patched")" \
    "the active campaign's picks, changed without a pause"
(($(generation) > gen1)) || e2e_fail "rules_generation did not move on the PATCH"
e2e_assert_eq 0 "$(sql "SELECT count(*) FROM campaign_rule_sets WHERE campaign_id = $cid
    AND rule_set_id = $own_id")" "the dropped pick in the DB"
e2e_step "campaigns: default picks (US: TCPA, GB: none), picks by name and id, active campaign $cid re-picked"

# ---- 5. a set in use is not deleted
c2=$(campaign "rules keeps own" "$(jq -n --argjson own "$own_id" '{rule_sets: [$own]}')")
detail=$(refused 409 "delete a set in use" "$ADMIN" DELETE "/api/v1/rule-sets/$own_id")
[[ $detail == "1 campaign(s) use rule set $own_id"* ]] || e2e_fail "409 detail: $detail"
refused 403 "supervisor deletes" "$supervisor" DELETE "/api/v1/rule-sets/$own_id" >/dev/null
as "$supervisor" PATCH "/api/v1/campaigns/$(jq .id <<<"$c2")" -d '{"rule_sets": []}' >/dev/null ||
    e2e_fail "could not drop the set from the campaign"
api DELETE "/api/v1/rule-sets/$own_id" >/dev/null || e2e_fail "delete $own_id"
refused 404 "the deleted set" "$viewer" GET "/api/v1/rule-sets/$own_id" >/dev/null
e2e_step "set $own_id: 409 while a campaign used it, 204 once none did"

# ---- 6. one audit row a change, saying what changed
audit=$(api GET "/api/v1/audit?resource=rule_set/$own_id&limit=50")
e2e_assert_eq "rule_set.create rule_set.delete rule_set.update" \
    "$(jq -r '[.items[].action] | sort | join(" ")' <<<"$audit")" "audit rows of set $own_id"
e2e_assert_eq "2 3" \
    "$(jq -r '.items[] | select(.action == "rule_set.update") | .summary.rules |
        "\(.removed[0].max_attempts) \(.added[0].max_attempts)"' <<<"$audit")" \
    "the update row's cap, removed and added"
e2e_assert_eq "ours, edited" \
    "$(jq -r '.items[] | select(.action == "rule_set.update") | .summary.description.to' <<<"$audit")" \
    "the update row says what changed"
e2e_assert_eq "false" \
    "$(api GET "/api/v1/audit?resource=rule_set/$fl_id&action=rule_set.update" | jq '.items[0].summary.shipped.to')" \
    "the Florida edit's row says it is no longer shipped"
changed=$(api GET "/api/v1/audit?resource=campaign/$cid&action=campaign.update" | jq '.items[0].summary')
e2e_assert_eq "$TCPA" "$(jq -r '.rule_sets.to[0].name' <<<"$changed")" "campaign update row: picks to"
e2e_assert_eq 2 "$(jq '.rule_sets.from | length' <<<"$changed")" "campaign update row: picks from"
e2e_step "audit rows: create, update (what changed), delete; the campaign's picks from/to"

# ---- 7. ecmctl
"$CTL" rules list >"$E2E_TMP/out" || e2e_fail "ecmctl rules list"
grep -Eq "^ +$fl_id +US-FL +own +2 +[0-9]+ +$FL$" "$E2E_TMP/out" || e2e_fail "rules list: $(cat "$E2E_TMP/out")"
"$CTL" rules show "$FL" >"$E2E_TMP/out" || e2e_fail "ecmctl rules show"
grep -q "hours    every day 08:00-20:00" "$E2E_TMP/out" || e2e_fail "rules show: $(cat "$E2E_TMP/out")"
jq -n '{name: "ctl applied", jurisdiction: "US-NY", rules: [{kind: "quiet", says: "A week after a talk",
    after_outcome: "CONNECTED", quiet: "7 days", scope: "subject"}]}' >"$E2E_TMP/set.json"
"$CTL" rules apply "$E2E_TMP/set.json" >"$E2E_TMP/out" || e2e_fail "rules apply (create)"
grep -q "created: 1 rules" "$E2E_TMP/out" || e2e_fail "rules apply: $(cat "$E2E_TMP/out")"
jq '.rules[0].quiet = "3 days"' "$E2E_TMP/set.json" >"$E2E_TMP/set2.json"
"$CTL" rules apply "$E2E_TMP/set2.json" >"$E2E_TMP/out" || e2e_fail "rules apply (replace)"
grep -q "replaced: 1 rules" "$E2E_TMP/out" || e2e_fail "rules apply again: $(cat "$E2E_TMP/out")"
e2e_assert_eq 259200 "$(sql "SELECT quiet_s FROM rules r JOIN rule_sets s ON s.id = r.rule_set_id
    WHERE s.name = 'ctl applied'")" "the applied quiet period"
ECM_API_KEY=$supervisor "$CTL" rules apply "$E2E_TMP/set.json" >"$E2E_TMP/out" 2>"$E2E_TMP/err" &&
    e2e_fail "a supervisor applied a set"
grep -q "HTTP 403" "$E2E_TMP/err" || e2e_fail "supervisor apply: $(cat "$E2E_TMP/err")"
id=$("$CTL" campaigns create --name "ctl picks" --channel sms --sms-template Hi \
    --rule-set "$TCPA" --rule-set "ctl applied" --blackout 2026-12-24:closed) ||
    e2e_fail "campaigns create --rule-set"
"$CTL" campaigns show "$id" >"$E2E_TMP/out" || e2e_fail "campaigns show $id"
{ grep -q "ctl applied" "$E2E_TMP/out" && grep -q "2026-12-24  closed" "$E2E_TMP/out"; } ||
    e2e_fail "campaigns show: $(cat "$E2E_TMP/out")"
e2e_step "ecmctl rules list/show/apply and campaigns create --rule-set/--blackout"
