#!/usr/bin/env bash
# Contact files from a drop folder (issue 17): ecm-dropbox on a folder of
# the stack, settle time 5 s, scans every 200 ms, claim leases of 5 s.
#  a. A file written under a temporary name, then renamed into <campaign>/,
#     is loaded once (rows at the DB = the file's rows) and archived as
#     <upload id>_<name>.
#  b. A file written slowly in place is not read while the service sees it
#     unsettled; once written whole it loads whole.
#  c. An unknown campaign and a folder that is no campaign id go to the
#     failed folder with a reason file; a file with bad rows is loaded (the
#     good rows) and archived, the bad rows in its upload's report.
#  d. The dropbox is killed (SIGKILL) in the middle of a 200,000-row file;
#     after a restart the gateway's upload is resumed, not posted again:
#     every row exactly once, no duplicates, archived once.
#  e. A second replica on the same folder: each file is loaded once.
# Campaigns are paused: the contacts are loaded, not dialled.
# e2e-timeout: 400
# e2e-seconds: 120
source "$(dirname "$0")/lib.sh"

devstack=$ECM_ROOT/scripts/devstack.sh
count() { ecm_psql -tA -c "$1"; }
export ECM_DEV_DROP_DIR=$ECM_DEV_DIR/drop-e2e
export ECM_DROP_SETTLE_S=5 ECM_DROP_SCAN_MS=200 ECM_DROP_LEASE_S=5
drop=$ECM_DEV_DROP_DIR
# tests/e2e/run.sh keeps the logs of the stack's own processes per scenario;
# the dropboxes' logs start afresh here.
rm -f "$ECM_DEV_DIR/logs/dropbox.log" "$ECM_DEV_DIR/logs/dropbox2.log"
rm -rf "$drop"
mkdir -p "$drop"
drop_port=$((ECM_DEV_PORT_BASE + 86))
"$devstack" drop-start dropbox >"$E2E_TMP/drop-start.log" 2>&1 ||
    e2e_fail "dropbox did not start: $(cat "$E2E_TMP/drop-start.log")"
e2e_step "dropbox on :$drop_port watching $drop"

# metric NAME [PORT]: the dropbox's metric value (0 when absent).
metric() {
    curl -fsS "http://127.0.0.1:${2:-$drop_port}/metrics" |
        awk -v n="$1" '$1 == n { v = $2 } END { printf "%d\n", v + 0 }'
}
new_campaign() {
    local cid
    cid=$(e2e_create_campaign "$1")
    api POST "/api/v1/campaigns/$cid/pause" >/dev/null || e2e_fail "pause campaign $cid"
    echo "$cid"
}
contacts() { count "SELECT count(*) FROM contacts WHERE campaign_id = $1"; }
uploads_of() { count "SELECT count(*) FROM uploads WHERE campaign_id = $1"; }
upload_of() { count "SELECT id FROM uploads WHERE campaign_id = $1"; }
archived() { compgen -G "$drop/archive/*_$1" >/dev/null; }

# ---- a. written, then renamed into <campaign>/
cid_a=$(new_campaign "e2e drop a")
mkdir -p "$drop/$cid_a"
ecm_gen_contacts_csv 500 "$drop/$cid_a/list-a.csv.part" 101
e2e_assert_eq 0 "$(uploads_of "$cid_a")" "uploads while the file has a temporary name"
mv "$drop/$cid_a/list-a.csv.part" "$drop/$cid_a/list-a.csv"
e2e_wait_for 60 "list-a.csv archived" archived list-a.csv
up_a=$(upload_of "$cid_a")
[[ -f $drop/archive/${up_a}_list-a.csv ]] || e2e_fail "archive has $(ls "$drop/archive")"
[[ ! -e $drop/$cid_a/list-a.csv ]] || e2e_fail "list-a.csv still in the drop folder"
api GET "/api/v1/uploads/$up_a" >"$E2E_TMP/a.json"
e2e_assert_eq "done 500 500 0" "$(jq -r '"\(.state) \(.rows_read) \(.rows_loaded) \(.rows_rejected)"' "$E2E_TMP/a.json")" "upload $up_a"
e2e_assert_eq 500 "$(contacts "$cid_a")" "contacts of campaign $cid_a"
e2e_assert_eq "archived drop-" "$(count "SELECT d.state || ' ' || left(u.client_ref, 5) FROM drop_files d JOIN uploads u ON u.id = d.upload_id WHERE d.upload_id = $up_a")" "drop_files row of upload $up_a"
e2e_step "a. renamed file loaded once: upload $up_a, 500 rows, archived as ${up_a}_list-a.csv"

# ---- b. written slowly in place
cid_b=$(new_campaign "e2e drop b")
mkdir -p "$drop/$cid_b"
ecm_gen_contacts_csv 2000 "$E2E_TMP/slow.csv" 202
total=$(stat -c %s "$E2E_TMP/slow.csv")
half=$((total / 2))
before=$(metric ecm_drop_files_unsettled_total)
head -c "$half" "$E2E_TMP/slow.csv" >"$drop/$cid_b/slow.csv"
unsettled_twice() { (($(metric ecm_drop_files_unsettled_total) >= before + 2)); }
e2e_wait_for 30 "the half-written file seen unsettled twice" unsettled_twice
e2e_assert_eq 0 "$(uploads_of "$cid_b")" "uploads of the half-written file"
tail -c +$((half + 1)) "$E2E_TMP/slow.csv" >>"$drop/$cid_b/slow.csv"
cmp -s "$E2E_TMP/slow.csv" "$drop/$cid_b/slow.csv" || e2e_fail "slow.csv not written whole"
e2e_wait_for 60 "slow.csv archived" archived slow.csv
up_b=$(upload_of "$cid_b")
e2e_assert_eq 1 "$(uploads_of "$cid_b")" "uploads of slow.csv"
e2e_assert_eq "done 2000 2000 0" "$(api GET "/api/v1/uploads/$up_b" | jq -r '"\(.state) \(.rows_read) \(.rows_loaded) \(.rows_rejected)"')" "upload $up_b"
e2e_assert_eq 2000 "$(contacts "$cid_b")" "contacts of campaign $cid_b"
e2e_step "b. slow file not read while unsettled (seen $(($(metric ecm_drop_files_unsettled_total) - before)) times); loaded whole"

# ---- c. failures, and rejected rows that are no failure
cid_c=$(new_campaign "e2e drop c")
missing=$(($(count "SELECT coalesce(max(id), 0) FROM campaigns") + 1000))
ecm_gen_contacts_csv 10 "$drop/${missing}_unknown.csv" 303
mkdir -p "$drop/not-a-campaign"
ecm_gen_contacts_csv 10 "$drop/not-a-campaign/x.csv" 304
mkdir -p "$drop/$cid_c"
ecm_gen_contacts_csv 100 "$E2E_TMP/bad.csv" 305
# Rows 10, 20 and 30 (lines 11, 21, 31) get a number with letters.
awk -F, -v OFS=, 'NR > 1 && (NR - 1) % 10 == 0 && NR <= 31 { $4 = "12-AB" } { print }' \
    "$E2E_TMP/bad.csv" >"$drop/$cid_c/.badrows.csv.XyZ123"
mv "$drop/$cid_c/.badrows.csv.XyZ123" "$drop/$cid_c/badrows.csv"
failed_both() { [[ -f $drop/failed/${missing}_unknown.csv.reason.txt && -f $drop/failed/x.csv.reason.txt ]]; }
e2e_wait_for 60 "two files in the failed folder with their reasons" failed_both
e2e_wait_for 60 "badrows.csv archived" archived badrows.csv
[[ -f $drop/failed/${missing}_unknown.csv && -f $drop/failed/x.csv ]] || e2e_fail "failed has $(ls "$drop/failed")"
grep -q "reason: .*$missing" "$drop/failed/${missing}_unknown.csv.reason.txt" ||
    e2e_fail "unknown campaign's reason: $(cat "$drop/failed/${missing}_unknown.csv.reason.txt")"
grep -q "folder 'not-a-campaign' is not a campaign id" "$drop/failed/x.csv.reason.txt" ||
    e2e_fail "folder's reason: $(cat "$drop/failed/x.csv.reason.txt")"
up_c=$(upload_of "$cid_c")
e2e_assert_eq "done 100 97 3" "$(api GET "/api/v1/uploads/$up_c" | jq -r '"\(.state) \(.rows_read) \(.rows_loaded) \(.rows_rejected)"')" "upload $up_c"
e2e_assert_eq "11 21 31" "$(count "SELECT string_agg(line_no::text, ' ' ORDER BY line_no) FROM upload_rows WHERE upload_id = $up_c AND kind = 'rejected'")" "rejected lines in the report"
e2e_assert_eq 2 "$(count "SELECT count(*) FROM drop_files WHERE state = 'failed' AND moved_at IS NOT NULL")" "failed drop files"
e2e_step "c. unknown campaign: $(sed -n 's/^reason: //p' "$drop/failed/${missing}_unknown.csv.reason.txt" | cut -c1-90)"
e2e_step "c. bad rows: upload $up_c archived with 3 rejected rows in its report"

# ---- d. SIGKILL in the middle of a 200,000-row file
ROWS=200000
cid_d=$(new_campaign "e2e drop d")
mkdir -p "$drop/$cid_d"
ecm_gen_contacts_csv "$ROWS" "$drop/$cid_d/big.csv.part" 404
mv "$drop/$cid_d/big.csv.part" "$drop/$cid_d/big.csv"
midway() {
    local n
    n=$(count "SELECT coalesce(max(rows_loaded), 0) FROM uploads WHERE campaign_id = $cid_d")
    ((n > 0 && n < ROWS))
}
e2e_wait_for --every 0.1 120 "some of the 200,000 rows loaded" midway
ecm_kill9 dropbox
up_d=$(upload_of "$cid_d")
at_kill=$(count "SELECT rows_loaded FROM uploads WHERE id = $up_d")
e2e_step "dropbox killed with upload $up_d at $at_kill rows loaded"
interrupted() { [[ $(count "SELECT state FROM uploads WHERE id = $up_d") == interrupted ]]; }
e2e_wait_for 60 "the gateway marks upload $up_d interrupted (its client is gone)" interrupted
"$devstack" drop-start dropbox >"$E2E_TMP/drop-start.log" 2>&1 ||
    e2e_fail "dropbox did not restart: $(cat "$E2E_TMP/drop-start.log")"
e2e_wait_for 180 "big.csv archived" archived big.csv
e2e_assert_eq 1 "$(uploads_of "$cid_d")" "uploads of big.csv (resumed, not posted again)"
# The generator makes a few numbers libphonenumber rejects: every row is
# loaded or rejected, none twice.
api GET "/api/v1/uploads/$up_d" >"$E2E_TMP/d.json"
e2e_assert_eq "done $ROWS $ROWS 0" "$(jq -r '"\(.state) \(.rows_read) \(.rows_loaded + .rows_rejected) \(.rows_duplicate)"' "$E2E_TMP/d.json")" "upload $up_d: state, rows read, loaded + rejected, duplicates"
loaded_d=$(jq -r .rows_loaded "$E2E_TMP/d.json")
e2e_assert_eq "$loaded_d $loaded_d" "$(count "SELECT count(*) || ' ' || count(DISTINCT account_number) FROM contacts WHERE campaign_id = $cid_d")" "contacts and distinct account numbers"
e2e_assert_ge 1 "$(count "SELECT resumes FROM uploads WHERE id = $up_d")" "resumes of upload $up_d"
e2e_assert_ge 1 "$(metric ecm_drop_uploads_resumed_total)" "uploads resumed by the new dropbox"
e2e_assert_eq 1 "$(find "$drop/archive" -name '*_big.csv' | wc -l)" "big.csv in the archive"
[[ -f $drop/archive/${up_d}_big.csv ]] || e2e_fail "archive has $(ls "$drop/archive")"
e2e_step "d. upload $up_d resumed after the kill: $ROWS rows once each, archived once"

# ---- e. two replicas, one folder
"$devstack" drop-start dropbox2 $((ECM_DEV_PORT_BASE + 87)) >"$E2E_TMP/drop2.log" 2>&1 ||
    e2e_fail "second dropbox did not start: $(cat "$E2E_TMP/drop2.log")"
ecm_pid dropbox2 >/dev/null || e2e_fail "the second dropbox is not known as dropbox2"
cids=()
for i in 1 2 3 4; do
    cid=$(new_campaign "e2e drop e$i")
    cids+=("$cid")
    mkdir -p "$drop/$cid"
    ecm_gen_contacts_csv 300 "$E2E_TMP/e$i.csv" $((500 + i))
done
for i in 1 2 3 4; do
    mv "$E2E_TMP/e$i.csv" "$drop/${cids[i - 1]}/e$i.csv"
done
all_archived() { for i in 1 2 3 4; do archived "e$i.csv" || return 1; done; }
e2e_wait_for 120 "the four files archived" all_archived
for i in 1 2 3 4; do
    cid=${cids[i - 1]}
    e2e_assert_eq "1 300" "$(uploads_of "$cid") $(contacts "$cid")" "campaign $cid: uploads and contacts"
    e2e_assert_eq 1 "$(find "$drop/archive" -name "*_e$i.csv" | wc -l)" "e$i.csv in the archive"
done
e2e_assert_eq 0 "$(count "SELECT count(*) FROM drop_files WHERE state IN ('claimed', 'uploading') OR moved_at IS NULL")" "drop files not finished"
by1=$(metric ecm_drop_files_uploaded_total)
by2=$(metric ecm_drop_files_uploaded_total $((ECM_DEV_PORT_BASE + 87)))
e2e_step "e. two replicas: four files loaded once each (uploaded by the first since its restart: $by1, by the second: $by2)"
