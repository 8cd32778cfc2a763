#!/usr/bin/env bash
# Contact lists as people really send them, through the running gateway: a
# CSV full of trouble (BOM, CRLF, quoted newlines, stray quotes, empty lines,
# extra and missing columns, non-ASCII names, numbers written every which
# way, letters, too short) and a JSON array. Every row is loaded with the
# right E.164 number or reported on its line with its reason, as the report
# (GET /api/v1/uploads/{id}, paged by cursor) says; the same file again is all
# duplicates; a DNC list uploaded as CSV closes the contacts it covers.
# e2e-timeout: 300
# e2e-seconds: 44
source "$(dirname "$0")/lib.sh"

data=$ECM_ROOT/tests/data/upload

# Every report row of upload ID as "line kind reason" lines, two per page.
report() {
    local id=$1 after=0 page next
    while :; do
        page=$(api GET "/api/v1/uploads/$id?limit=2&after=$after") ||
            e2e_fail "GET /api/v1/uploads/$id failed"
        jq -r '.rows[] | "\(.line) \(.kind) \(.reason)"' <<<"$page"
        next=$(jq -r '.next_after' <<<"$page")
        [[ $next != null ]] || break
        after=$next
    done
}

# Contacts of upload ID as "line account phones types state outcome".
contacts() {
    ecm_psql -tA -F ' ' -v id="$1" <<'EOF'
SELECT line_no, account_number, phones::text, phone_types::text, state, coalesce(outcome, '-')
FROM contacts WHERE upload_id = :id ORDER BY line_no
EOF
}

cid=$(e2e_create_campaign "e2e upload trouble")
e2e_step "campaign $cid created"

api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$data/trouble.csv" >"$E2E_TMP/csv.json" || e2e_fail "CSV upload failed"
up=$(jq -r .upload_id "$E2E_TMP/csv.json")
e2e_assert_eq "17 8 8 1 0" "$(jq -r '"\(.rows_read) \(.rows_loaded) \(.rows_rejected) \(.rows_duplicate) \(.rows_dnc)"' "$E2E_TMP/csv.json")" "CSV counts (read loaded rejected duplicate dnc)"
e2e_assert_eq "$(stat -c %s "$data/trouble.csv")" "$(jq -r .progress.bytes_read "$E2E_TMP/csv.json")" "bytes read"

report "$up" >"$E2E_TMP/report"
cat >"$E2E_TMP/expected" <<'EOF'
7 rejected phone2: '212 555 O1OO' contains letters
8 rejected phone1: '555-12' too short
10 rejected expected 7 fields, found 4
11 rejected expected 7 fields, found 8
16 duplicate +12125550100 is already on line 2 of this file
17 rejected time_zone: 'Mars/Olympus' is not a time zone name
19 rejected phone1: '1-800-FLOWERS' contains letters
20 rejected phone1: '212-555-0105 x12' has an extension
21 rejected no phone number (phone1 .. phone10 are empty)
EOF
diff -u "$E2E_TMP/expected" "$E2E_TMP/report" || e2e_fail "CSV report differs (see diff)"
e2e_step "CSV: 9 report rows on the right lines"

contacts "$up" | cut -d' ' -f1-4 >"$E2E_TMP/contacts"
cat >"$E2E_TMP/expected" <<'EOF'
2 A01 {+12125550100} {fixed_line_or_mobile}
3 A02 {+442079460958} {fixed_line}
4 A03 {+33142685300} {fixed_line}
9 A06 {+16465550101} {fixed_line_or_mobile}
13 A09 {+923001234567} {mobile}
18 A12 {+61293744000,+16465550104} {fixed_line,fixed_line_or_mobile}
22 A16 {+12125550106} {fixed_line_or_mobile}
23 A17 {+33612345678} {mobile}
EOF
diff -u "$E2E_TMP/expected" "$E2E_TMP/contacts" || e2e_fail "loaded contacts differ (see diff)"
e2e_step "CSV: 8 contacts loaded with E.164 numbers and types"

# Only the duplicates, by filter.
dups=$(api GET "/api/v1/uploads/$up?kind=duplicate" | jq -r '[.rows[].line] | join(",")')
e2e_assert_eq "16" "$dups" "duplicate lines"

# The same file again: the good rows are duplicates of the first upload's.
api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$data/trouble.csv" >"$E2E_TMP/again.json" || e2e_fail "second upload failed"
e2e_assert_eq "0 9" "$(jq -r '"\(.rows_loaded) \(.rows_duplicate)"' "$E2E_TMP/again.json")" "second upload: loaded duplicate"
reason=$(api GET "/api/v1/uploads/$(jq -r .upload_id "$E2E_TMP/again.json")?kind=duplicate&limit=1" |
    jq -r '.rows[0].reason')
e2e_assert_eq "+12125550100 is already a contact of this campaign (upload $up, line 2)" "$reason" "cross-upload duplicate"
e2e_step "same file again: 9 duplicates naming upload $up"

# A JSON array: lines are the items' positions.
jid=$(e2e_create_campaign "e2e upload json")
api POST "/api/v1/campaigns/$jid/uploads" -H 'Content-Type: application/json' \
    --data-binary "@$data/trouble.json" >"$E2E_TMP/json.json" || e2e_fail "JSON upload failed"
jup=$(jq -r .upload_id "$E2E_TMP/json.json")
e2e_assert_eq "10 4 5 1" "$(jq -r '"\(.rows_read) \(.rows_loaded) \(.rows_rejected) \(.rows_duplicate)"' "$E2E_TMP/json.json")" "JSON counts"
report "$jup" >"$E2E_TMP/report"
cat >"$E2E_TMP/expected" <<'EOF'
3 rejected phone1: '212 555 O1OO' contains letters
4 rejected not a JSON object
5 duplicate +12125550110 is already on line 1 of this file
6 rejected extra: must be a string or a number
8 rejected 'PHONE1' appears twice
9 rejected no phone number (phone1 .. phone10 are missing)
EOF
diff -u "$E2E_TMP/expected" "$E2E_TMP/report" || e2e_fail "JSON report differs (see diff)"
e2e_assert_eq "1 2 7 10" "$(contacts "$jup" | cut -d' ' -f1 | paste -sd' ')" "JSON items loaded"
e2e_step "JSON array: 4 loaded, 6 reported by position"

# Issue 11's file: a rejected field of multibyte characters among 100 good
# rows. Its reason once quoted the field cut at a byte count, splitting a
# character: PostgreSQL refused the report row and the whole upload answered
# 503 with nothing loaded.
mid=$(e2e_create_campaign "e2e upload multibyte")
bad="a$(printf '\xc3\xa9%.0s' {1..30})"
{
    echo "account_number,phone1"
    for i in $(seq 0 49); do printf 'M%03d,+44 20 7946 %04d\n' "$i" "$((100 + i))"; done
    echo "BAD,$bad"
    for i in $(seq 50 99); do printf 'M%03d,+44 20 7946 %04d\n' "$i" "$((100 + i))"; done
} >"$E2E_TMP/multibyte.csv"
api POST "/api/v1/campaigns/$mid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/multibyte.csv" >"$E2E_TMP/mb.json" || e2e_fail "multibyte upload failed"
e2e_assert_eq "101 100 1" "$(jq -r '"\(.rows_read) \(.rows_loaded) \(.rows_rejected)"' "$E2E_TMP/mb.json")" "multibyte upload: read loaded rejected"
e2e_assert_eq "52 rejected phone1: '$bad' contains letters" "$(report "$(jq -r .upload_id "$E2E_TMP/mb.json")")" "multibyte rejection, quoted whole"
e2e_step "multibyte rejection: 100 rows loaded, 1 reported with its text whole"

# A DNC list by CSV upload for the JSON campaign; a later upload of a listed
# number loads closed DNC (J11), next to a number not listed (J12).
api POST "/api/v1/campaigns/$jid/dnc/uploads" -H 'Content-Type: text/csv' \
    --data-binary $'phone,reason\n+44 20 7946 0961,asked\nnot a number,\n' >"$E2E_TMP/dnc.json" ||
    e2e_fail "DNC upload failed"
e2e_assert_eq "dnc 1 1" "$(jq -r '"\(.kind) \(.rows_loaded) \(.rows_rejected)"' "$E2E_TMP/dnc.json")" "DNC upload"
api POST "/api/v1/campaigns/$jid/uploads" -H 'Content-Type: application/json' \
    --data-binary '[{"account_number": "J11", "phone1": "+44 20 7946 0961"},
        {"account_number": "J12", "phone1": "+44 20 7946 0962"}]' >"$E2E_TMP/j2.json" ||
    e2e_fail "JSON upload of a listed number failed"
e2e_assert_eq "2 1" "$(jq -r '"\(.rows_loaded) \(.rows_dnc)"' "$E2E_TMP/j2.json")" "listed number: loaded dnc"
e2e_assert_eq "1 J11 {+442079460961} {fixed_line} closed DNC" \
    "$(contacts "$(jq -r .upload_id "$E2E_TMP/j2.json")" | head -n 1)" "listed number's contact"
# The campaign is active: the feeder runs, and must leave the closed contact
# alone. Once it has dialled J12, loaded with it, it has been past J11.
attempts_of() {
    ecm_psql -tA -v acct="$1" <<<"SELECT count(*) FROM attempts a JOIN contacts c
        ON c.id = a.contact_id WHERE c.campaign_id = $jid AND c.account_number = :'acct'"
}
j12_dialled() { (($(attempts_of J12) >= 1)); }
e2e_wait_for 120 "the feeder to dial J12, loaded with J11" j12_dialled
e2e_assert_eq "0" "$(attempts_of J11)" "attempts of the listed contact"
e2e_step "DNC list upload: listed number loaded closed, never dispatched"
