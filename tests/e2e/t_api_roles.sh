#!/usr/bin/env bash
# The role matrix, generated from api/openapi.yaml (tests/e2e/api_roles.py):
# every operation x (no key, malformed key, revoked key, viewer, supervisor,
# admin) answers 401 (with WWW-Authenticate: Bearer) for the first three, 403
# for a role below the operation's least role, and the handler's own answer
# (not 401/403, not 5xx) at or above it; every open route answers 200 without
# a key; every JSON-only operation answers 415 to a text/plain body. The
# objects the paths name are made first, so that allowed calls reach their
# handlers; the keys come from POST /api/v1/keys with the dev admin key.
# Every answer is then held to the document by tests/e2e/run.sh.
# e2e-timeout: 300
# e2e-seconds: 27
source "$(dirname "$0")/lib.sh"

[[ -n ${ECM_API_KEY:-} ]] || e2e_fail "no dev admin key (ECM_API_KEY)"

# new_key ROLE NAME: prints "id key" of a key made through the API.
new_key() {
    api POST /api/v1/keys -d "$(jq -n --arg r "$1" --arg n "$2" '{role: $r, name: $n}')" |
        jq -r '"\(.id) \(.key)"'
}
read -r _ viewer < <(new_key viewer "roles viewer")
read -r _ supervisor < <(new_key supervisor "roles supervisor")
read -r revoked_id revoked < <(new_key viewer "roles revoked")
read -r victim_id _ < <(new_key viewer "roles victim")
for k in "$viewer" "$supervisor" "$revoked"; do
    [[ $k =~ ^ecm_[0-9a-f]{16}_[0-9a-f]{64}$ ]] || e2e_fail "POST /api/v1/keys gave no key: '$k'"
done
api DELETE "/api/v1/keys/$revoked_id" >/dev/null || e2e_fail "could not revoke key $revoked_id"
e2e_step "keys: viewer, supervisor, revoked $revoked_id, one to revoke in the matrix ($victim_id)"

# The objects every path parameter names.
sid=$(api POST /api/v1/strategies -d '{"name": "roles", "rules": []}' | jq -r .id)
cid=$(api POST /api/v1/campaigns -d '{"name": "roles", "channel": "voice_ivr",
    "cisco": {"kind": "uccx", "campaign_id": "1"}}' | jq -r .id)
printf 'account_number,phone1\nR-0,+12125550180\n' >"$E2E_TMP/c.csv"
uid=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
    --data-binary "@$E2E_TMP/c.csv" | jq -r .upload_id)
contact=$(ecm_psql -tA -c "SELECT min(id) FROM contacts WHERE campaign_id = $cid")
phone=+12125550100
api POST /api/v1/dnc -d "{\"phone\": \"$phone\"}" >/dev/null || e2e_fail "global DNC add failed"
api POST "/api/v1/campaigns/$cid/dnc" -d "{\"phone\": \"$phone\"}" >/dev/null ||
    e2e_fail "campaign DNC add failed"
rsid=$(api POST /api/v1/rule-sets -d '{"name": "roles", "jurisdiction": "US",
    "rules": [{"kind": "day_off", "says": "closed", "day": "2026-12-25"}]}' | jq -r .id)
user=$(api POST /api/v1/users -d '{"name": "roles user", "role": "viewer",
    "password": "roles-user-password"}' | jq -r .id)
for v in "$sid" "$cid" "$uid" "$contact" "$rsid" "$user"; do
    [[ $v =~ ^[0-9]+$ ]] || e2e_fail "set-up: an object was not made (strategy $sid, campaign $cid, upload $uid, contact $contact, rule set $rsid)"
done
e2e_step "objects: strategy $sid, campaign $cid, upload $uid, contact $contact, DNC $phone"

ids=$(jq -cn --argjson c "$cid" --argjson u "$uid" --argjson k "$contact" --argjson s "$sid" \
    --argjson rs "$rsid" --arg key "$victim_id" --arg p "$phone" --argjson user "$user" \
    '{campaigns: $c, uploads: $u, contacts: $k, strategies: $s, keys: $key, dnc: $p,
      "rule-sets": $rs, consent: $p, users: $user, assets: "app.js"}')
keys=$(jq -cn --arg r "$revoked" --arg v "$viewer" --arg s "$supervisor" --arg a "$ECM_API_KEY" \
    '{revoked: $r, viewer: $v, supervisor: $s, admin: $a}')
/usr/bin/python3 "$(dirname "$0")/api_roles.py" "$ECM_DEV_API_URL" "$ids" "$keys" >"$E2E_TMP/matrix" ||
    {
        cat "$E2E_TMP/matrix"
        e2e_fail "the role matrix does not hold"
    }
e2e_step "$(tail -n 1 "$E2E_TMP/matrix")"

# The revoke the matrix made went through: the victim key is revoked now.
e2e_assert_eq revoked "$(api GET "/api/v1/keys/$victim_id" | jq -r .state)" "key revoked by the matrix"
