#!/usr/bin/env bash
# ecmctl, the command line, against the running stack, every verb:
# 1. --help on every verb (exit 0, usage and the exit codes); exit 2 for a
#    bad argument, 3 without an answer, 1 for a refusal (problem on stderr);
# 2. campaigns create (flags, --file), show, list (table and --json),
#    activate, pause, resume, stop (and a refused second stop);
# 3. upload of 100,000 generated rows plus a few bad ones to a draft
#    campaign: the progress bar is redrawn many times (stderr captured, not
#    a terminal: --progress) and counts every row sent; exit 4 for the
#    rejected rows, 0 with --allow-rejects; the summary's counts are the
#    upload report's;
# 4. export round trip: contacts.csv of that campaign holds exactly the
#    account numbers of the file's loaded rows;
# 5. watch of a 50-contact campaign ends by itself (exit 0) once every
#    contact is closed, one line a change; watch on a draft ends on Ctrl-C
#    (130); attempts.csv has one row per attempt the API counts;
# 6. dnc add, add again, ls, rm, per campaign, import (exit 4 / 0);
# 7. keys create -> the new key works with ecmctl (and its role holds) ->
#    revoke -> 401 (exit 1, "set ECM_API_KEY").
# e2e-env: ECM_SIM_RESULT_MIX=10:100
# e2e-timeout: 300
# e2e-seconds: 62
source "$(dirname "$0")/lib.sh"

CTL=$(cd "$ECM_ROOT" && realpath "${ECM_BIN_DIR:-build/bin}")/ecmctl
ctl() { "$CTL" "$@"; }
export ECM_URL=$ECM_DEV_API_URL
# expect_rc CODE WHAT CMD...: runs CMD (stdout to $E2E_TMP/out, stderr to
# $E2E_TMP/err) and fails unless it exits CODE.
expect_rc() {
    local want=$1 what=$2 rc=0
    shift 2
    "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" || rc=$?
    ((rc == want)) || e2e_fail "$what: exit $rc, expected $want (stderr: $(head -c 600 "$E2E_TMP/err"))"
}
t0=$SECONDS

# ---- 1. help and exit codes
for verb in campaigns upload watch dnc export keys; do
    expect_rc 0 "$verb --help" ctl "$verb" --help
    grep -q "usage: ecmctl $verb" "$E2E_TMP/out" || e2e_fail "$verb --help has no usage"
    grep -q "Exit codes: 0 done; 1 refused" "$E2E_TMP/out" || e2e_fail "$verb --help has no exit codes"
done
expect_rc 0 "ecmctl --help" ctl --help
grep -q "4 rows rejected" "$E2E_TMP/out" || e2e_fail "ecmctl --help does not list exit 4"
expect_rc 2 "no verb" ctl
expect_rc 2 "unknown verb" ctl frobnicate
expect_rc 2 "an id that is not one" ctl campaigns show abc
expect_rc 2 "upload without a file" ctl upload 1
expect_rc 3 "nobody listening" env ECM_URL=http://127.0.0.1:1 "$CTL" campaigns list
expect_rc 1 "no such campaign" ctl campaigns show 999999
grep -q "HTTP 404 No such campaign" "$E2E_TMP/err" || e2e_fail "404 not told: $(cat "$E2E_TMP/err")"
expect_rc 1 "no key" env ECM_API_KEY= "$CTL" campaigns list
grep -q "set ECM_API_KEY" "$E2E_TMP/err" || e2e_fail "a 401 does not say to set ECM_API_KEY"
e2e_step "help and exit codes checked"

# ---- 2. campaigns
ecm_create_fast_strategy E2E 1 >/dev/null || e2e_fail "no E2E strategy"
expect_rc 0 "campaigns create (flags)" ctl campaigns create --name "ctl Zoë voice" \
    --channel voice_ivr --strategy E2E --cisco uccx:1 --time-zone America/Chicago \
    --window mon-fri=08:00-21:00 --window sat,sun=10:00-14:00
vid=$(cat "$E2E_TMP/out")
[[ $vid =~ ^[0-9]+$ ]] || e2e_fail "campaigns create printed '$vid', not an id"
expect_rc 0 "campaigns show --json" ctl campaigns show "$vid" --json
e2e_assert_eq '["10:00","14:00"]' "$(jq -c '.call_window.sun[0]' "$E2E_TMP/out")" "sunday's window"
e2e_assert_eq "uccx:1" "$(jq -r '"\(.cisco.kind):\(.cisco.campaign_id)"' "$E2E_TMP/out")" "cisco target"
jq -n '{name: "ctl upload target", channel: "voice_ivr", strategy: "E2E",
        cisco: {kind: "uccx", campaign_id: "2"}}' >"$E2E_TMP/c.json"
expect_rc 0 "campaigns create --file" ctl campaigns create --file "$E2E_TMP/c.json"
uid=$(cat "$E2E_TMP/out")
expect_rc 0 "campaigns show" ctl campaigns show "$uid"
grep -q "state      draft" "$E2E_TMP/out" || e2e_fail "show: $(cat "$E2E_TMP/out")"
for step in activate:active pause:paused resume:active stop:stopped; do
    expect_rc 0 "campaigns ${step%%:*}" ctl campaigns "${step%%:*}" "$vid"
    e2e_assert_eq "campaign $vid: ${step#*:}" "$(cat "$E2E_TMP/out")" "campaigns ${step%%:*}"
done
expect_rc 1 "a second stop" ctl campaigns stop "$vid"
grep -q "HTTP 409" "$E2E_TMP/err" || e2e_fail "second stop: $(cat "$E2E_TMP/err")"
expect_rc 0 "campaigns list" ctl campaigns list
grep -Eq "^ +$vid  ctl Zoë voice +voice_ivr +stopped " "$E2E_TMP/out" ||
    e2e_fail "list has no row for $vid: $(cat "$E2E_TMP/out")"
expect_rc 0 "campaigns list --json" ctl campaigns list --json
e2e_assert_eq 2 "$(jq '.items | length' "$E2E_TMP/out")" "campaigns in list --json"
e2e_step "campaigns: create, show, list, state changes checked"

# ---- 3. upload of 100,000 rows with a few bad ones
csv=$E2E_TMP/contacts.csv
ecm_gen_contacts_csv 100000 "$csv" 7
printf 'BAD-1,Bad,Letters,notaphone,\nBAD-2,Bad,Short,12,\nBAD-3,Bad,Empty,,\n' >>"$csv"
rows=$(($(wc -l <"$csv") - 1))
u0=$SECONDS
expect_rc 4 "upload with rejected rows" ctl upload "$uid" "$csv" --progress
e2e_step "upload of $rows rows: $((SECONDS - u0))s"
draws=$(tr -cd '\r' <"$E2E_TMP/err" | wc -c)
e2e_assert_ge 50 "$draws" "progress redraws on stderr"
last=$(tr '\r' '\n' <"$E2E_TMP/err" | grep 'rows sent' | tail -n 1)
[[ $last == *"100%"* ]] || e2e_fail "the bar did not reach 100%: $last"
e2e_assert_eq "$rows" "$(sed -E 's/.* ([0-9,]+) rows sent.*/\1/' <<<"$last" | tr -d ,)" "rows sent"
grep -q "rows rejected: " "$E2E_TMP/err" || e2e_fail "no rejected count on stderr"
read -r up_id loaded rejected < <(sed -nE \
    's/^upload ([0-9]+) done: [0-9,]+ rows read, ([0-9,]+) loaded, ([0-9,]+) rejected.*/\1 \2 \3/p' \
    "$E2E_TMP/out" | tr -d ,)
[[ -n ${up_id:-} ]] || e2e_fail "no summary: $(cat "$E2E_TMP/out")"
report=$(api GET "/api/v1/uploads/$up_id?kind=rejected&limit=1000") || e2e_fail "no report"
e2e_assert_eq "$rejected" "$(jq .rows_rejected <<<"$report")" "rejected: summary vs report"
e2e_assert_eq "$loaded" "$(jq .rows_loaded <<<"$report")" "loaded: summary vs report"
e2e_assert_ge 3 "$rejected" "rows rejected"
for line in $((rows - 1)) "$rows" $((rows + 1)); do
    jq -e --argjson l "$line" '.rows | any(.line == $l)' <<<"$report" >/dev/null ||
        e2e_fail "bad row on line $line not in the report"
done
jq -r '.rows[].line' <<<"$report" >"$E2E_TMP/rejected_lines"
# The bar ends with the server's rejected count; while the file went, the
# upload was found by the reference ecmctl sent (ECM-Upload-Ref).
[[ $last == *", $rejected rejected"* ]] || e2e_fail "the bar's last line lacks the rejected count: $last"
ref=$(ecm_psql -tA -c "SELECT client_ref FROM uploads WHERE id = $up_id")
[[ $ref =~ ^[0-9a-f]{32}$ ]] || e2e_fail "upload $up_id has no client reference ('$ref')"
e2e_assert_eq "$up_id" "$(api GET "/api/v1/uploads?client_ref=$ref" | jq -r '.items[0].id')" \
    "upload found by its client reference"
# The same file to a second campaign, rejects accepted.
jq '.name = "ctl second target"' "$E2E_TMP/c.json" >"$E2E_TMP/c2.json"
uid2=$(ctl campaigns create --file "$E2E_TMP/c2.json") || e2e_fail "second campaign"
expect_rc 0 "upload --allow-rejects" ctl upload --campaign "$uid2" "$csv" --allow-rejects --no-progress
e2e_assert_eq 0 "$(tr -cd '\r' <"$E2E_TMP/err" | wc -c)" "redraws with --no-progress"
grep -q "^upload [0-9]* done: .* $rejected rejected" "$E2E_TMP/out" ||
    e2e_fail "second upload: $(cat "$E2E_TMP/out")"
e2e_step "upload: exit 4 with $rejected rejected rows, 0 with --allow-rejects; $draws redraws"

# ---- 4. export round trip: the loaded account numbers come back
expect_rc 0 "export --contacts" ctl export "$uid" --contacts -o "$E2E_TMP/contacts_out.csv"
python3 - "$csv" "$E2E_TMP/contacts_out.csv" "$E2E_TMP/rejected_lines" <<'PY' ||
import csv, sys
src, out, rej = sys.argv[1:]
bad = {int(x) for x in open(rej).read().split()}
# line numbers count the header as line 1
sent = {r["account_number"] for i, r in enumerate(csv.DictReader(open(src, newline="")), start=2)
        if i not in bad}
got = [r["account_number"] for r in csv.DictReader(open(out, newline="", encoding="utf-8"))]
assert len(got) == len(set(got)), "an account number exported twice"
assert set(got) == sent, f"{len(sent - set(got))} loaded rows missing, {len(set(got) - sent)} extra"
PY
    e2e_fail "contacts.csv does not hold the loaded rows"
e2e_assert_eq "$loaded" "$(($(wc -l <"$E2E_TMP/contacts_out.csv") - 1))" "rows in contacts.csv"
e2e_step "export round trip: $loaded contacts out as they went in"

# ---- 5. watch: to the end of a small campaign, and Ctrl-C
wid=$(ctl campaigns create --name "ctl watched" --channel voice_ivr --strategy E2E \
    --cisco uccx:3) || e2e_fail "watched campaign"
ecm_gen_contacts_csv 50 "$E2E_TMP/fifty.csv" 11
ctl upload "$wid" "$E2E_TMP/fifty.csv" >/dev/null || e2e_fail "upload of 50"
ctl campaigns activate "$wid" >/dev/null || e2e_fail "activate $wid"
expect_rc 0 "watch to the end" timeout 180 "$CTL" watch "$wid" --interval 1
e2e_assert_ge 2 "$(wc -l <"$E2E_TMP/out")" "watch lines"
tail -n 1 "$E2E_TMP/out" | grep -Eq " contacts=([1-9][0-9]*) .* closed=\1 " ||
    e2e_fail "watch's last line: $(tail -n 1 "$E2E_TMP/out")"
attempts=$(ctl campaigns show "$wid" --json | jq .counts.attempts)
ctl export "$wid" >"$E2E_TMP/attempts.csv" || e2e_fail "export attempts"
e2e_assert_eq "$attempts" "$(($(wc -l <"$E2E_TMP/attempts.csv") - 1))" "rows in attempts.csv"
# ecmctl itself in the background (not through the function: the signal
# must reach it, not a subshell).
"$CTL" watch "$uid" --interval 1 >"$E2E_TMP/w2" 2>&1 &
wpid=$!
gone() { local s; s=$(ps -o stat= -p "$1") || return 0; [[ $s == Z* ]]; }
e2e_wait_for 30 "watch's first line" test -s "$E2E_TMP/w2"
kill -INT "$wpid"
e2e_wait_for --quiet 30 "watch ending on SIGINT" gone "$wpid" || {
    kill "$wpid"
    e2e_fail "watch did not end on SIGINT"
}
rc=0 && wait "$wpid" || rc=$?
e2e_assert_eq 130 "$rc" "watch exit after Ctrl-C"
e2e_step "watch: ended with the campaign ($(wc -l <"$E2E_TMP/out") lines), 130 on Ctrl-C"

# ---- 6. dnc
expect_rc 0 "dnc add" ctl dnc add "(212) 555-0199" --reason "asked on the phone"
e2e_assert_eq "+12125550199 added to the global DNC list" "$(cat "$E2E_TMP/out")" "dnc add"
expect_rc 0 "dnc add again" ctl dnc add 2125550199
grep -q "was already on" "$E2E_TMP/out" || e2e_fail "dnc add again: $(cat "$E2E_TMP/out")"
expect_rc 0 "dnc ls" ctl dnc ls --json
jq -e '.items | any(.phone == "+12125550199" and .reason == "asked on the phone")' \
    "$E2E_TMP/out" >/dev/null || e2e_fail "dnc ls lacks the number"
expect_rc 0 "dnc add --campaign" ctl dnc add 2125550198 --campaign "$uid"
expect_rc 0 "dnc ls --campaign" ctl dnc ls --campaign "$uid"
grep -q "+12125550198  *c$uid " "$E2E_TMP/out" || e2e_fail "dnc ls --campaign: $(cat "$E2E_TMP/out")"
expect_rc 0 "dnc rm --campaign" ctl dnc rm 2125550198 --campaign "$uid"
expect_rc 0 "dnc rm" ctl dnc rm +12125550199
expect_rc 0 "dnc ls after rm" ctl dnc ls --all --phone +12125550199 --json
e2e_assert_eq 0 "$(jq '.items | length' "$E2E_TMP/out")" "entries left after rm"
printf 'phone,reason\n2125550197,import\nnot-a-number,bad\n' >"$E2E_TMP/dnc.csv"
expect_rc 4 "dnc import with a bad row" ctl dnc import "$E2E_TMP/dnc.csv" --progress
grep -q "1 loaded, 1 rejected" "$E2E_TMP/out" || e2e_fail "dnc import: $(cat "$E2E_TMP/out")"
grep -q "rows sent" "$E2E_TMP/err" || e2e_fail "dnc import shows no progress"
expect_rc 0 "dnc import --allow-rejects" ctl dnc import "$E2E_TMP/dnc.csv" --campaign "$uid" \
    --allow-rejects
expect_rc 0 "dnc ls --campaign after import" ctl dnc ls --campaign "$uid" --phone 2125550197 --json
e2e_assert_eq upload "$(jq -r '.items[0].source' "$E2E_TMP/out")" "imported entry's source"
e2e_step "dnc: add, ls, rm, import checked"

# ---- 7. keys: create, use, revoke
expect_rc 0 "keys create" ctl keys create --role supervisor --name "ctl e2e supervisor"
key=$(cat "$E2E_TMP/out")
[[ $key =~ ^ecm_([0-9a-f]{16})_[0-9a-f]+$ ]] || e2e_fail "keys create printed '$key'"
kid=${BASH_REMATCH[1]}
expect_rc 0 "keys ls" ctl keys ls
grep -Eq "^$kid  ctl e2e supervisor +supervisor +active " "$E2E_TMP/out" ||
    e2e_fail "keys ls: $(cat "$E2E_TMP/out")"
expect_rc 0 "the new key lists campaigns" env ECM_API_KEY="$key" "$CTL" campaigns list
expect_rc 0 "the new key creates a campaign" env ECM_API_KEY="$key" "$CTL" \
    campaigns create --name "made by the supervisor key" --channel sms --sms-template "Hi"
expect_rc 1 "a supervisor key lists keys" env ECM_API_KEY="$key" "$CTL" keys ls
grep -q "HTTP 403" "$E2E_TMP/err" || e2e_fail "supervisor keys ls: $(cat "$E2E_TMP/err")"
expect_rc 0 "keys revoke" ctl keys revoke "$kid"
expect_rc 1 "the revoked key" env ECM_API_KEY="$key" "$CTL" campaigns list
grep -q "HTTP 401" "$E2E_TMP/err" && grep -q "set ECM_API_KEY" "$E2E_TMP/err" ||
    e2e_fail "revoked key: $(cat "$E2E_TMP/err")"
expect_rc 0 "keys ls after revoke" ctl keys ls --json
e2e_assert_eq revoked "$(jq -r --arg id "$kid" '.items[] | select(.id == $id) | .state' \
    "$E2E_TMP/out")" "revoked key's state"
e2e_step "keys: created, used, revoked (401); whole scenario $((SECONDS - t0))s"
