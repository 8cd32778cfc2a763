#!/usr/bin/env bash
# An upload cut off by a crash (issue 12). Two gateways run against one
# database: the stack's and a second one started here on another port.
#  1. While the stack's gateway streams a slow upload for several lease
#     lengths (its timer renews the lease), the second one, sweeping every
#     second, does not mark it: the upload ends 'done'.
#  2. The stack's gateway is killed (SIGKILL) in the middle of a 300,000-row
#     upload; once its lease is past, a gateway marks the upload
#     'interrupted' with the last committed line, and an UploadInterrupted
#     goes out on uploads.changed.
#  3. A resume with another file (one byte changed in the loaded part) is
#     refused with nothing loaded; `ecmctl upload --resume` with the same
#     file loads the rest: every row exactly once, no duplicates, the report
#     on the file's own lines, totals for the whole file.
# e2e-env: ECM_GATEWAY_UPLOAD_LEASE_S=5
# e2e-env: ECM_GATEWAY_UPLOAD_SWEEP_S=1
# e2e-timeout: 600
# e2e-seconds: 82
source "$(dirname "$0")/lib.sh"

ROWS=300000
ecmctl=$ECM_BIN_DIR/ecmctl
[[ -x $ecmctl ]] || e2e_fail "$ecmctl not built"
count() { ecm_psql -tA -c "$1"; }
upload_field() { api GET "/api/v1/uploads/$1" | jq -r ".$2"; }

# ---- a second gateway on another port, same database
ecm_service_env gateway
port2=$((ECM_DEV_PORT_BASE + 88))
env "${ECM_SVC_ENV[@]}" ECM_HTTP_PORT="$port2" "$ECM_SVC_BIN" \
    </dev/null >>"$ECM_DEV_DIR/logs/gateway2.log" 2>&1 &
gw2=$!
trap 'kill -TERM $gw2 2>/dev/null || true; wait $gw2 2>/dev/null || true' EXIT
e2e_wait_for 30 "second gateway ready on :$port2" \
    curl -fsS -o /dev/null "http://127.0.0.1:$port2/readyz"
e2e_step "second gateway up on :$port2 (pid $gw2)"

# ---- 1. the owner alive: the other gateway leaves its upload alone
cid=$(e2e_create_campaign "e2e upload resume")
ecm_gen_contacts_csv 20000 "$E2E_TMP/slow.csv" 7
# 20,000 rows make one batch, loaded at the end: until then only the
# owner's timer renews the lease. At 50 kB/s the body takes ~25 s, several
# lease lengths (5 s).
curl -sS -o "$E2E_TMP/slow.json" -w '%{http_code}' --limit-rate 50k "${ECM_AUTH[@]}" \
    -H 'Content-Type: text/csv' --data-binary "@$E2E_TMP/slow.csv" \
    "$ECM_DEV_API_URL/api/v1/campaigns/$cid/uploads" >"$E2E_TMP/slow.status" &
slow=$!
e2e_wait_for 30 "the slow upload started" \
    bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM uploads WHERE campaign_id = $cid') == 1 ))"
slow_id=$(count "SELECT id FROM uploads WHERE campaign_id = $cid")
first_lease=$(count "SELECT extract(epoch FROM lease_until) FROM uploads WHERE id = $slow_id")
wait "$slow" || e2e_fail "slow upload: curl failed"
e2e_assert_eq 202 "$(cat "$E2E_TMP/slow.status")" "slow upload status ($(cat "$E2E_TMP/slow.json"))"
e2e_assert_eq "done 20000" "$(jq -r '"\(.state) \(.rows_read)"' "$E2E_TMP/slow.json")" "slow upload state and rows read"
span=$(count "SELECT round(extract(epoch FROM finished_at) - $first_lease)
              FROM uploads WHERE id = $slow_id")
# The upload outlived its first lease by more than a lease length: it was
# renewed, and the other gateway (sweeping every second) left it alone.
e2e_assert_ge 5 "$span" "seconds the slow upload ran past its first lease"
e2e_assert_eq 0 "$(count "SELECT count(*) FROM uploads WHERE state = 'interrupted'")" "uploads interrupted"
kill -0 "$gw2" 2>/dev/null || e2e_fail "the second gateway is gone (see $ECM_DEV_DIR/logs/gateway2.log)"
e2e_step "slow upload $slow_id done ${span}s past its first lease, not marked by the other gateway"

# ---- 2. kill -9 mid-upload
cid=$(e2e_create_campaign "e2e upload resume 300k")
ecm_gen_contacts_csv "$ROWS" "$E2E_TMP/big.csv" 12
# Six rows rejected, on lines 50001, 100001, ... 300001 (row n is on line n + 1).
awk -F, -v OFS=, 'NR > 1 && (NR - 1) % 50000 == 0 { $4 = "12-AB" } { print }' \
    "$E2E_TMP/big.csv" >"$E2E_TMP/file.csv"
bad_lines="50001 100001 150001 200001 250001 300001"
curl -sS -o "$E2E_TMP/big.json" -H 'Content-Type: text/csv' "${ECM_AUTH[@]}" \
    --data-binary "@$E2E_TMP/file.csv" \
    "$ECM_DEV_API_URL/api/v1/campaigns/$cid/uploads" 2>"$E2E_TMP/big.err" &
big=$!
loaded_some() {
    local n
    n=$(ecm_psql -tA -c "SELECT coalesce(max(rows_loaded), 0) FROM uploads WHERE campaign_id = $cid")
    ((n > 0))
}
e2e_wait_for 300 "some rows of the 300,000 loaded" loaded_some
up=$(count "SELECT id FROM uploads WHERE campaign_id = $cid")
ecm_kill9 gateway
if wait "$big"; then e2e_fail "the upload's client saw no broken connection"; fi
at_kill=$(count "SELECT rows_loaded FROM uploads WHERE id = $up")
e2e_step "gateway killed with upload $up at $at_kill rows loaded"
ecm_start_service gateway
e2e_wait_for 60 "upload $up interrupted" \
    bash -c "[[ \$(ecm_psql -tA -c \"SELECT state FROM uploads WHERE id = $up\") == interrupted ]]"
api GET "/api/v1/uploads/$up" >"$E2E_TMP/interrupted.json"
committed_line=$(jq -r .committed_line "$E2E_TMP/interrupted.json")
loaded=$(jq -r .rows_loaded "$E2E_TMP/interrupted.json")
read_rows=$(jq -r .rows_read "$E2E_TMP/interrupted.json")
e2e_assert_ge 2 "$committed_line" "committed line"
((read_rows < ROWS)) || e2e_fail "the whole file was loaded before the kill ($read_rows rows)"
e2e_assert_eq $((read_rows + 1)) "$committed_line" "committed line (rows read + header)"
e2e_assert_eq "$loaded" "$(count "SELECT count(*) FROM contacts WHERE campaign_id = $cid")" "contacts = rows_loaded"
e2e_assert_eq "/api/v1/uploads/$up/resume" "$(jq -r .resume_url "$E2E_TMP/interrupted.json")" "resume_url"
# How a supervisor finds it without knowing its id: the uploads that read
# interrupted, with their resume URL.
found=$(api GET "/api/v1/uploads?state=interrupted&campaign_id=$cid" |
    jq -r '[.items[] | "\(.id) \(.resume_url)"] | join(",")')
e2e_assert_eq "$up /api/v1/uploads/$up/resume" "$found" "interrupted uploads of campaign $cid"
e2e_step "upload $up interrupted after line $committed_line ($loaded rows loaded)"
e2e_wait_for 30 "UploadInterrupted on uploads.changed" \
    bash -c "e2e_kafka_consume uploads.changed 1 10 | jq -e 'select(.key == \"$up\")' >/dev/null"

# ---- 3. resume: another file refused, the same one loads the rest
sed '5s/ACC/ACX/' "$E2E_TMP/file.csv" >"$E2E_TMP/other.csv"
cmp -s "$E2E_TMP/file.csv" "$E2E_TMP/other.csv" && e2e_fail "other.csv is the same file"
set +e
ECM_URL=$ECM_DEV_API_URL "$ecmctl" upload --resume "$up" "$E2E_TMP/other.csv" \
    >"$E2E_TMP/other.out" 2>&1
rc=$?
set -e
e2e_assert_eq 1 "$rc" "ecmctl exit status for another file ($(cat "$E2E_TMP/other.out"))"
grep -q "Not the same file" "$E2E_TMP/other.out" || e2e_fail "no reason given: $(cat "$E2E_TMP/other.out")"
e2e_assert_eq "interrupted $loaded" "$(jq -r '"\(.state) \(.rows_loaded)"' <<<"$(api GET "/api/v1/uploads/$up")")" "after the refused resume"
e2e_assert_eq "$loaded" "$(count "SELECT count(*) FROM contacts WHERE campaign_id = $cid")" "contacts after the refused resume"
e2e_step "another file refused: $(grep -o 'Not the same file.*' "$E2E_TMP/other.out" | cut -c1-100)"

# The file has rejected rows on purpose: --allow-rejects (exit 0, not 4).
ECM_URL=$ECM_DEV_API_URL "$ecmctl" upload --resume "$up" "$E2E_TMP/file.csv" --allow-rejects \
    >"$E2E_TMP/resume.out" 2>"$E2E_TMP/resume.err" ||
    e2e_fail "ecmctl resume failed: $(cat "$E2E_TMP/resume.out" "$E2E_TMP/resume.err")"
e2e_step "ecmctl: $(head -n 1 "$E2E_TMP/resume.out")"
api GET "/api/v1/uploads/$up?limit=1000" >"$E2E_TMP/done.json"
rejected=$(jq -r .rows_rejected "$E2E_TMP/done.json")
# The generator's numbers are all distinct; a few may not be valid ones.
e2e_assert_ge 6 "$rejected" "rows rejected"
((rejected < 1000)) || e2e_fail "$rejected rows rejected"
final=$((ROWS - rejected))
e2e_assert_eq "upload $up done: $ROWS rows read, $final loaded, $rejected rejected, 0 duplicate, 0 dnc" \
    "$(head -n 1 "$E2E_TMP/resume.out" | sed -E 's/([0-9]),([0-9])/\1\2/g')" "ecmctl's counts (thousands separators left out)"
e2e_assert_eq "report: $ECM_DEV_API_URL/api/v1/uploads/$up" "$(sed -n 2p "$E2E_TMP/resume.out")" "ecmctl's report line"
e2e_assert_eq "$final $final" \
    "$(count "SELECT count(*) || ' ' || count(DISTINCT line_no) FROM contacts WHERE campaign_id = $cid")" \
    "contacts and distinct lines"
# Every line of the file (2 .. ROWS + 1) is once either a contact or a
# report row, never both: line numbers are the file's.
e2e_assert_eq "$ROWS $ROWS 2 $((ROWS + 1))" "$(count "
    SELECT count(*) || ' ' || count(DISTINCT l) || ' ' || min(l) || ' ' || max(l) FROM (
        SELECT line_no AS l FROM contacts WHERE campaign_id = $cid
        UNION ALL SELECT line_no FROM upload_rows WHERE upload_id = $up) x")" \
    "lines covered (rows, distinct, first, last)"
e2e_assert_eq "$rejected rejected" "$(count "SELECT count(*) || ' ' || string_agg(DISTINCT kind, ',')
    FROM upload_rows WHERE upload_id = $up")" "report rows"
for l in $bad_lines; do
    reason=$(jq -r --argjson l "$l" '.rows[] | select(.line == $l) | .reason' "$E2E_TMP/done.json")
    [[ $reason == *"12-AB"* ]] || e2e_fail "line $l: report says '$reason'"
done
e2e_assert_eq "done 2 $((ROWS + 1))" \
    "$(api GET "/api/v1/uploads/$up" | jq -r '"\(.state) \(.resumes) \(.committed_line)"')" \
    "state, resume attempts (the refused one too), committed line"
e2e_step "every row loaded once; report on the file's lines ($bad_lines)"
