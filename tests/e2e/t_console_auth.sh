#!/usr/bin/env bash
# Console sign-in as a browser does it (curl with a cookie jar, no API key):
# the dev stack's admin signs in (HttpOnly, SameSite=Strict cookie), a change
# without the CSRF token is refused and changes nothing, the admin creates a
# viewer and a supervisor, the viewer is refused a change, the supervisor
# makes one, five wrong passwords lock the viewer (then even the right one
# gets the same 401, and the audit log says locked), sign-out ends the
# session; the audit rows name the users.
# e2e-timeout: 300
# e2e-seconds: 43
source "$(dirname "$0")/lib.sh"

[[ -n ${ECM_DEV_CONSOLE_PASSWORD:-} ]] || e2e_fail "no console password (ECM_DEV_CONSOLE_PASSWORD)"

# web JAR METHOD PATH [BODY [CSRF]]: one request with the cookie jar JAR
# (read and written) and no API key; the body in $E2E_TMP/body, the headers
# in $E2E_TMP/headers; prints the status. Logged for openapi_check as api()
# logs its exchanges.
web() {
    local jar=$1 method=$2 path=$3 body=${4:-} csrf=${5:-} status ctype
    local args=(-sS --max-time 60 -X "$method" -b "$jar" -c "$jar" -o "$E2E_TMP/body"
        -D "$E2E_TMP/headers" -w '%{http_code}')
    [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
    [[ -z $csrf ]] || args+=(-H "X-CSRF-Token: $csrf")
    status=$(curl "${args[@]}" "$ECM_DEV_API_URL$path")
    if [[ -n ${ECM_API_EXCHANGE_LOG:-} ]]; then
        ctype=$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' "$E2E_TMP/headers" | tr -d '\r')
        jq -cn --arg m "$method" --arg p "$path" --argjson s "$status" --arg ct "$ctype" \
            --rawfile b "$E2E_TMP/body" \
            '{method: $m, path: $p, status: $s, content_type: $ct, body: $b}' >>"$ECM_API_EXCHANGE_LOG"
    fi
    echo "$status"
}

# sign_in JAR NAME PASSWORD: prints the status; the CSRF token is then in
# $E2E_TMP/body's csrf_token.
sign_in() {
    web "$1" POST /api/v1/session "$(jq -cn --arg n "$2" --arg p "$3" '{name: $n, password: $p}')"
}

count() { ecm_psql -tA -c "$1"; }

admin=$E2E_TMP/admin.jar
e2e_assert_eq 201 "$(sign_in "$admin" "$ECM_DEV_CONSOLE_USER" "$ECM_DEV_CONSOLE_PASSWORD")" \
    "the dev admin signs in"
admin_csrf=$(jq -r .csrf_token "$E2E_TMP/body")
cookie=$(grep -i '^set-cookie:' "$E2E_TMP/headers")
for attr in HttpOnly SameSite=Strict Path=/; do
    [[ $cookie == *"; $attr"* ]] || e2e_fail "the session cookie lacks $attr: $cookie"
done
grep -q '^#HttpOnly_.*ecm_session' "$admin" || e2e_fail "curl's jar holds no HttpOnly ecm_session"
e2e_assert_eq 200 "$(web "$admin" GET /api/v1/session)" "GET /api/v1/session with the cookie"
e2e_assert_eq admin "$(jq -r .role "$E2E_TMP/body")" "the session's role"
e2e_step "signed in as $ECM_DEV_CONSOLE_USER: $(sed 's/ecm_session=[0-9a-f]*/ecm_session=<token>/' <<<"${cookie%$'\r'}")"

campaign='{"name": "console", "channel": "voice_ivr", "cisco": {"kind": "uccx", "campaign_id": "7"}}'
e2e_assert_eq 403 "$(web "$admin" POST /api/v1/campaigns "$campaign")" "a change without X-CSRF-Token"
e2e_assert_eq "CSRF token missing or wrong" "$(jq -r .detail "$E2E_TMP/body")" "the 403's detail"
e2e_assert_eq 403 "$(web "$admin" POST /api/v1/campaigns "$campaign" "$(printf "0%.0s" {1..64})")" \
    "a change with a wrong X-CSRF-Token"
e2e_assert_eq 0 "$(count "SELECT count(*) FROM campaigns")" "campaigns after the refused changes"
e2e_step "a change without its CSRF token: 403, nothing made"

e2e_assert_eq 201 "$(web "$admin" POST /api/v1/users \
    '{"name": "sue", "role": "viewer", "password": "sue-password-1"}' "$admin_csrf")" "admin creates a viewer"
sue_id=$(jq -r .id "$E2E_TMP/body")
e2e_assert_eq 201 "$(web "$admin" POST /api/v1/users \
    '{"name": "sam", "role": "supervisor", "password": "sam-password-1"}' "$admin_csrf")" \
    "admin creates a supervisor"
e2e_step "admin created users sue (viewer, id $sue_id) and sam (supervisor)"

sue=$E2E_TMP/sue.jar
e2e_assert_eq 201 "$(sign_in "$sue" sue sue-password-1)" "sue signs in"
sue_csrf=$(jq -r .csrf_token "$E2E_TMP/body")
e2e_assert_eq 403 "$(web "$sue" POST /api/v1/campaigns "$campaign" "$sue_csrf")" "a viewer's change"
refused=$(jq -r .detail "$E2E_TMP/body")
e2e_assert_eq 200 "$(web "$sue" GET /api/v1/campaigns)" "a viewer's read"
e2e_step "the viewer reads, and is refused a change: $refused"

sam=$E2E_TMP/sam.jar
e2e_assert_eq 201 "$(sign_in "$sam" SAM sam-password-1)" "sam signs in (the name in another case)"
sam_csrf=$(jq -r .csrf_token "$E2E_TMP/body")
e2e_assert_eq 201 "$(web "$sam" POST /api/v1/campaigns "$campaign" "$sam_csrf")" "a supervisor's change"
cid=$(jq -r .id "$E2E_TMP/body")
e2e_step "the supervisor created campaign $cid"

# Five wrong passwords in a row lock sue; then the right one gets the same 401.
e2e_assert_eq 401 "$(sign_in "$E2E_TMP/x.jar" nobody sue-password-1)" "an unknown name"
unknown=$(jq -r .detail "$E2E_TMP/body")
for i in 1 2 3 4 5; do
    e2e_assert_eq 401 "$(sign_in "$E2E_TMP/x.jar" sue wrong-password-$i)" "wrong password $i"
    e2e_assert_eq "$unknown" "$(jq -r .detail "$E2E_TMP/body")" "the answer to wrong password $i"
done
e2e_assert_eq 401 "$(sign_in "$E2E_TMP/x.jar" sue sue-password-1)" "the right password, locked"
e2e_assert_eq "$unknown" "$(jq -r .detail "$E2E_TMP/body")" "the answer while locked"
e2e_assert_eq 1 "$(count "SELECT count(*) FROM users WHERE name = 'sue' AND locked_until > now()")" \
    "sue locked"
e2e_assert_eq 1 "$(count "SELECT count(*) FROM audit_log WHERE action = 'user.lock'
    AND resource = 'user/$sue_id' AND actor_name = 'sue'")" "the audit log says sue was locked"
e2e_assert_eq 1 "$(count "SELECT count(*) FROM audit_log WHERE action = 'session.refused'
    AND resource = 'user/$sue_id' AND summary->>'reason' = 'locked'")" "the refusal while locked audited"
e2e_step "5 wrong passwords locked sue; the right one then gets: $unknown"
# Sam (another user) is not locked out.
e2e_assert_eq 201 "$(sign_in "$E2E_TMP/sam2.jar" sam sam-password-1)" "the lock is per user"

e2e_assert_eq 403 "$(web "$admin" DELETE /api/v1/session)" "sign-out without the CSRF token"
e2e_assert_eq 204 "$(web "$admin" DELETE /api/v1/session "" "$admin_csrf")" "sign-out"
e2e_assert_eq 401 "$(web "$admin" GET /api/v1/session)" "the session after sign-out"
e2e_assert_eq 401 "$(web "$admin" GET /api/v1/campaigns)" "a read after sign-out"
e2e_step "signed out: the session is over"

# The audit rows name the users who made the changes (the first admin was
# made on the command line by the dev stack).
rows=$(count "SELECT action || ' by ' || actor_kind || ':' || actor_name FROM audit_log
    WHERE action IN ('user.create', 'campaign.create', 'session.end') ORDER BY id")
e2e_assert_eq "user.create by cli:ecm-gateway users
user.create by user:admin
user.create by user:admin
campaign.create by user:sam
session.end by user:admin" "$rows" "audit rows"
e2e_assert_eq 0 "$(count "SELECT count(*) FROM audit_log WHERE summary::text LIKE '%password-%'")" \
    "audit rows holding a password"
e2e_step "audit: $(tr '\n' ';' <<<"$rows")"
