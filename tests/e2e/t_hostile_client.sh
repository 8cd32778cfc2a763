#!/usr/bin/env bash
# A hostile client against every route of the gateway (tests/e2e/hostile.py):
# bad ids, invalid UTF-8 in paths, queries and bodies, JSON of every wrong
# shape and type, wrong methods and content types, bodies over every cap,
# huge headers. Every answer must be a 4xx problem+json (valid UTF-8, its
# "status" the HTTP status) or a refusal to read on, never a 5xx or a hang;
# nothing in the database may change; the gateway must still serve after.
# e2e-timeout: 600
# e2e-seconds: 63
source "$(dirname "$0")/lib.sh"

# A fingerprint of everything the API can change: per table, its rows and a
# digest of their text.
fingerprint() {
    local t
    for t in campaigns strategies strategy_rules uploads upload_rows contacts contact_phones \
        attempts dnc; do
        ecm_psql -tA -v t="$t" <<'SQL'
SELECT :'t' || ' ' || count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-')
FROM :"t" r
SQL
    done
}

# Something to aim at: a strategy, a draft campaign (drafts dispatch
# nothing, so nothing moves on its own), an upload with a report, a DNC entry.
sid=$(ecm_create_fast_strategy Hostile 2)
cid=$(api POST /api/v1/campaigns -d '{"name": "hostile target", "channel": "voice_ivr",
      "strategy": "Hostile", "cisco": {"kind": "uccx", "campaign_id": "1"}}' | jq -r .id)
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "could not create the target campaign"
up=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary $'account_number,phone1\nH1,+44 20 7946 0001\nH2,not a number\n' | jq -r .upload_id)
[[ $up =~ ^[0-9]+$ ]] || e2e_fail "could not upload to the target campaign"
api POST /api/v1/dnc -d '{"phone": "+44 20 7946 0002", "reason": "hostile test"}' >/dev/null ||
    e2e_fail "could not add a DNC entry"
# Every outbox row published: the relay's deletes are no change of ours.
outbox_empty() { [[ $(ecm_psql -tA <<<"SELECT count(*) FROM outbox") == 0 ]]; }
e2e_wait_for 120 "the outbox to drain" outbox_empty
fingerprint >"$E2E_TMP/before"
e2e_step "target: strategy $sid, campaign $cid (draft), upload $up, one DNC entry"

"$ECM_ROOT/tests/e2e/hostile.py" "$ECM_DEV_API_URL" --campaign "$cid" --strategy "$sid" \
    --upload "$up" >"$E2E_TMP/hostile.out" 2>&1 || {
    cat "$E2E_TMP/hostile.out" >&2
    e2e_fail "the hostile client found answers that break the contract (above)"
}
e2e_step "$(tail -n 1 "$E2E_TMP/hostile.out")"

fingerprint >"$E2E_TMP/after"
diff -u "$E2E_TMP/before" "$E2E_TMP/after" || e2e_fail "hostile requests changed the database (diff above)"
e2e_step "database unchanged"
ecm_wait_ready gateway || e2e_fail "the gateway is no longer ready"
e2e_step "gateway still ready"
