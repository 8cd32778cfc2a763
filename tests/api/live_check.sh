#!/usr/bin/env bash
# Holds a running gateway's answers to api/openapi.yaml: sends requests that
# reach every route (and most documented statuses: created, changed, refused,
# not found, bad input, wrong media type, too large) with curl through
# tests/api/exchange.sh, records them in a JSON-lines log and checks the log
# with tests/api/openapi_check.py --coverage. Exits 1 when an answer does not
# conform (each one printed with the reason).
#
# Needs a running dev stack with an empty database (scripts/devstack.sh
# start; `scripts/devstack.sh reset` empties it) and curl, jq. It creates
# campaigns, strategies, uploads and DNC entries there.
# Usage: ECM_DEV_PORT_BASE=N tests/api/live_check.sh [LOG]
#   LOG defaults to $ECM_DEV_DIR/logs/api-exchanges.jsonl (overwritten).
set -euo pipefail
ECM_SCRIPT="api-live"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=tests/api/exchange.sh
source "$here/exchange.sh"
ecm_env_load
ECM_API_BASE=http://127.0.0.1:$(ecm_port gateway)
ECM_API_LOG=${1:-$ECM_DEV_DIR/logs/api-exchanges.jsonl}
mkdir -p "$(dirname "$ECM_API_LOG")"
: >"$ECM_API_LOG"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
J=(-H 'Content-Type: application/json')
CSV=(-H 'Content-Type: text/csv')

# call METHOD PATH EXPECTED [curl args]: api_call, and a line when the status
# is not the one this script meant to provoke (the document check decides
# whether the answer conforms; this only says the scenario went as planned).
call() {
    local method=$1 path=$2 want=$3
    shift 3
    api_call "$method" "$path" "$@" >"$tmp/last"
    [[ $API_STATUS == "$want" ]] ||
        ecm_warn "note: $method $path answered $API_STATUS, expected $want: $(head -c 300 "$tmp/last")"
}
field() { jq -r "$1" "$tmp/last"; }

ecm_say "requests to $ECM_API_BASE, log $ECM_API_LOG"
future=$(date -u -d '+1 year' +%Y-%m-%dT%H:%M:%SZ)
past=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)
soon=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)

# ---- service routes
call GET /healthz 200
call GET /readyz 200
call GET /metrics 200

# ---- strategies
call GET /api/v1/strategies 200
call POST /api/v1/strategies 201 "${J[@]}" -d '{"name": "Collections", "max_attempts": 6,
  "rules": [{"outcome": "NO_ANSWER", "action": "retry", "delay_seconds": 3600, "max_attempts": 4},
            {"outcome": "INVALID_NUMBER", "action": "retry", "max_attempts": 1, "next_phone": true}]}'
sid=$(field .id)
call POST /api/v1/strategies 409 "${J[@]}" -d '{"name": "Collections", "rules": []}'
call POST /api/v1/strategies 400 "${J[@]}" -d '{"name": "X", "rules": [{"outcome": "NOPE"}]}'
call POST /api/v1/strategies 400 "${J[@]}" -d '{"name": '
call GET "/api/v1/strategies/$sid" 200
call GET /api/v1/strategies/999999 404
call GET "/api/v1/strategies?limit=0" 400
call PUT "/api/v1/strategies/$sid" 200 "${J[@]}" -d '{"name": "Collections 2", "rules": []}'
call PUT /api/v1/strategies/1 409 "${J[@]}" -d '{"name": "Renamed", "rules": []}'
call POST /api/v1/strategies 201 "${J[@]}" -d '{"name": "Spare", "rules": []}'
spare=$(field .id)
call DELETE "/api/v1/strategies/$spare" 204
call DELETE /api/v1/strategies/1 409

# ---- campaigns
window='{"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]}'
call POST /api/v1/campaigns 201 "${J[@]}" -d "{\"name\": \"Voice\", \"channel\": \"voice_ivr\",
  \"strategy_id\": $sid, \"cisco\": {\"kind\": \"uccx\", \"campaign_id\": \"1\"}, \"region\": \"US\",
  \"time_zone\": \"America/Chicago\", \"end_at\": \"$future\", \"call_window\": $window}"
cid=$(field .id)
call POST /api/v1/campaigns 201 "${J[@]}" -d '{"name": "Texts", "channel": "sms",
  "sms": {"template": "Hello {first_name}", "sender": "ECM", "dlr_timeout_s": 3600}}'
sms=$(field .id)
call POST /api/v1/campaigns 400 "${J[@]}" -d '{"name": "No channel"}'
call POST /api/v1/campaigns 400 "${J[@]}" -d '{"name": "Past", "channel": "sms",
  "sms": {"template": "x"}, "end_at": "'"$past"'"}'
call GET /api/v1/campaigns 200
call GET "/api/v1/campaigns?limit=1" 200
call GET "/api/v1/campaigns?limit=1&cursor=$(field .next_cursor)" 200
call GET "/api/v1/campaigns?cursor=abc" 400
call GET "/api/v1/campaigns/$cid" 200
call GET "/api/v1/campaigns/$cid" 413 "${J[@]}" --data-binary '{"a body": "on a GET"}'
call GET /api/v1/campaigns/999999 404
call GET /api/v1/campaigns/abc 404
call PATCH "/api/v1/campaigns/$cid" 200 "${J[@]}" -d '{"name": "Voice (renamed)", "start_at": null}'
call PATCH "/api/v1/campaigns/$cid" 400 "${J[@]}" -d '{"channel": "sms"}'
call PATCH "/api/v1/campaigns/$cid" 400 "${J[@]}" -d '{"color": "red"}'
call PATCH /api/v1/campaigns/999999 404 "${J[@]}" -d '{"name": "x"}'

# ---- contact uploads
printf '%s\n' 'account_number,first_name,last_name,phone1,phone2,time_zone,color' \
    'A1,Ann,Lee,+12125550101,,America/New_York,red' 'A2,Bob,Ray,notaphone,,,blue' \
    'A3,Cy,Oh,+12125550101,,,' 'A4,Di,Ng,(212) 555-0104,+12125550105,America/Chicago,' \
    >"$tmp/contacts.csv"
call POST "/api/v1/campaigns/$cid/uploads" 202 "${CSV[@]}" --data-binary "@$tmp/contacts.csv"
upload=$(field .upload_id)
call POST "/api/v1/campaigns/$sms/uploads" 202 "${J[@]}" \
    -d '[{"account_number": "S1", "first_name": "Eve", "phone1": "+12125550106"},
         {"account_number": "S2", "first_name": "Fay", "phone1": "12"}]'
# Chunked: the size is not known ahead (bytes_total null while it runs).
call POST "/api/v1/campaigns/$cid/uploads" 202 "${CSV[@]}" -H 'Transfer-Encoding: chunked' \
    --data-binary $'phone1\n+12125550107\n'
call POST "/api/v1/campaigns/$cid/uploads" 415 -H 'Content-Type: application/xml' -d '<x/>'
call POST "/api/v1/campaigns/$cid/uploads" 415 -F "file=@$tmp/contacts.csv"
call POST "/api/v1/campaigns/$cid/uploads" 422 "${CSV[@]}" --data-binary ''
call POST "/api/v1/campaigns/$cid/uploads" 422 "${CSV[@]}" --data-binary $'first_name\nAnn\n'
call POST /api/v1/campaigns/999999/uploads 404 "${CSV[@]}" --data-binary "@$tmp/contacts.csv"
call GET "/api/v1/uploads/$upload" 200
call GET "/api/v1/uploads/$upload?kind=rejected&limit=1" 200
call GET "/api/v1/uploads/$upload?kind=bogus" 400
call GET /api/v1/uploads/999999 404
call POST "/api/v1/uploads/$upload/resume" 409 "${CSV[@]}" --data-binary "@$tmp/contacts.csv"

# ---- contacts and callbacks (the uploaded ones: ids from the DB)
contact=$(ecm_psql -tAc "SELECT min(id) FROM contacts WHERE campaign_id = $cid")
call GET "/api/v1/contacts/$contact" 200
call GET /api/v1/contacts/999999 404
call POST "/api/v1/campaigns/$cid/activate" 200
call POST "/api/v1/campaigns/$cid/activate" 409
call PATCH "/api/v1/campaigns/$cid" 409 "${J[@]}" -d '{"region": "CA"}'
call POST "/api/v1/contacts/$contact/callback" 200 "${J[@]}" -d "{\"at\": \"$soon\"}"
call POST "/api/v1/contacts/$contact/callback" 422 "${J[@]}" -d "{\"at\": \"$past\"}"
call POST "/api/v1/contacts/$contact/callback" 422 "${J[@]}" -d '{"when": "now"}'
call POST "/api/v1/contacts/$contact/callback" 413 "${J[@]}" \
    -d "{\"at\": \"$soon\", \"pad\": \"$(head -c 2000 /dev/zero | tr '\0' x)\"}"
call GET "/api/v1/contacts/$contact" 200
call POST "/api/v1/campaigns/$cid/pause" 200
call PATCH "/api/v1/campaigns/$cid" 200 "${J[@]}" -d '{"region": "CA"}'
call POST "/api/v1/campaigns/$cid/resume" 200
call POST "/api/v1/campaigns/$cid/stop" 200
call POST "/api/v1/campaigns/$cid/stop" 409
call POST "/api/v1/contacts/$contact/callback" 409 "${J[@]}" -d "{\"at\": \"$soon\"}"
call POST /api/v1/campaigns/999999/pause 404

# ---- DNC: global, per campaign, uploads
call POST /api/v1/dnc 201 "${J[@]}" -d '{"phone": "(212) 555-0190", "reason": "asked"}'
call POST /api/v1/dnc 200 "${J[@]}" -d '{"phone": "+1 212 555 0190"}'
call POST /api/v1/dnc 400 "${J[@]}" -d '{"phone": "+1 212 555 0190", "extra": 1}'
call POST /api/v1/dnc 400 "${J[@]}" -d '{"reason": "no phone"}'
call POST /api/v1/dnc 201 "${J[@]}" -d "{\"phone\": \"+12125550191\", \"campaign_id\": $sms}"
call POST /api/v1/dnc 404 "${J[@]}" -d '{"phone": "+12125550192", "campaign_id": 999999}'
call GET /api/v1/dnc 200
call GET "/api/v1/dnc?scope=all&limit=1" 200
call GET "/api/v1/dnc?scope=some" 400
call GET "/api/v1/dnc?phone=%2B12125550190" 200
call GET "/api/v1/dnc?phone=not-a-phone" 400
call GET /api/v1/dnc/%2B12125550190 200
call GET "/api/v1/dnc/%2B12125550191?campaign_id=$sms" 200
call GET /api/v1/dnc/%2B12125550199 404
call DELETE /api/v1/dnc/%2B12125550190 204
call DELETE /api/v1/dnc/%2B12125550190 404
call POST "/api/v1/campaigns/$sms/dnc" 201 "${J[@]}" -d '{"phone": "+12125550193"}'
call POST "/api/v1/campaigns/$sms/dnc" 400 "${J[@]}" -d '{"phone": "+12125550193", "campaign_id": 1}'
call POST /api/v1/campaigns/999999/dnc 404 "${J[@]}" -d '{"phone": "+12125550193"}'
call GET "/api/v1/campaigns/$sms/dnc" 200
call GET "/api/v1/campaigns/$sms/dnc/%2B12125550193" 200
call DELETE "/api/v1/campaigns/$sms/dnc/%2B12125550193" 204
call GET "/api/v1/campaigns/$sms/dnc/%2B12125550193" 404
printf '%s\n' 'phone,reason' '+12125550194,list' 'bad,' >"$tmp/dnc.csv"
call POST /api/v1/dnc/uploads 202 "${CSV[@]}" --data-binary "@$tmp/dnc.csv"
dnc_upload=$(field .upload_id)
call GET "/api/v1/uploads/$dnc_upload" 200
call POST "/api/v1/campaigns/$sms/dnc/uploads" 202 "${CSV[@]}" --data-binary "@$tmp/dnc.csv"
call POST /api/v1/dnc/uploads 415 "${J[@]}" -d '[]'
call POST /api/v1/dnc/uploads 422 "${CSV[@]}" --data-binary $'number\n+12125550195\n'

# ---- the document, exports, keys, audit, and the guard's answers
call GET /api/v1/openapi.yaml 200 -H 'Authorization: Bearer nope'
call GET "/api/v1/campaigns/$cid/attempts.csv" 200
call GET "/api/v1/campaigns/$cid/contacts.csv" 200
call GET /api/v1/campaigns/999999/contacts.csv 404
call POST /api/v1/keys 201 "${J[@]}" -d '{"name": "live viewer", "role": "viewer"}'
kid=$(field .id)
viewer=$(field .key)
call POST /api/v1/keys 400 "${J[@]}" -d '{"name": "x", "role": "root"}'
call POST /api/v1/keys 415 -H 'Content-Type: text/plain' -d '{"name": "x", "role": "viewer"}'
call GET "/api/v1/keys?limit=1" 200
call GET "/api/v1/keys/$kid" 200
call GET /api/v1/keys/nothex 404
call GET /api/v1/campaigns 200 -H "Authorization: Bearer $viewer"
call POST /api/v1/campaigns 403 -H "Authorization: Bearer $viewer" "${J[@]}" -d '{}'
call GET /api/v1/audit 403 -H "Authorization: Bearer $viewer"
call DELETE "/api/v1/keys/$kid" 204
call GET /api/v1/campaigns 401 -H "Authorization: Bearer $viewer"
call GET /api/v1/campaigns 401 -H 'Authorization: Bearer ecm_malformed'
call GET "/api/v1/audit?limit=2" 200
call GET "/api/v1/audit?action=key.revoke&resource=key/$kid" 200
call GET "/api/v1/audit?since=yesterday-ish" 400
call GET "/api/v1/audit?cursor=x" 400

n=$(wc -l <"$ECM_API_LOG")
ecm_say "$n exchanges recorded; checking them against api/openapi.yaml"
/usr/bin/python3 "$here/openapi_check.py" --coverage "$ECM_API_LOG"
