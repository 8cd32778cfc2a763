#!/usr/bin/env bash
# 500 slow clients against the running gateway (tests/e2e/slow_clients.py):
# a third drip their headers, a third a JSON body, a third a CSV upload, one
# byte every 2 s, from 50 loopback addresses (10 each, under the per-client
# cap). While they are all connected, a normal GET /api/v1/campaigns still
# answers 200 within the server's request deadline (ECM_HTTP_REQUEST_TIMEOUT_S),
# and the gateway's /metrics shows them open. Then the server ends every one
# of them: dripped headers and bodies at the deadline (408), uploads past the
# concurrent-upload cap at once (429), admitted uploads once they fall below
# the minimum rate; none is left open.
# The deadline is long enough for the checks below to run while the slow
# clients are still held, however loaded the machine.
# e2e-env: ECM_HTTP_REQUEST_TIMEOUT_S=60
# e2e-timeout: 600
# e2e-seconds: 82
source "$(dirname "$0")/lib.sh"

deadline=${ECM_HTTP_REQUEST_TIMEOUT_S:-30}
count=500
port=$(ecm_port gateway)
gw_metrics() { curl -fsS --max-time 10 "$ECM_DEV_API_URL/metrics"; }
metric() { awk -v m="$1" '$1 == m { v = $2 } END { print int(v + 0) }'; }
# One timed GET: "<status> <seconds>".
timed_get() {
    curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --max-time $((deadline * 3)) \
        "${ECM_AUTH[@]}" "$ECM_DEV_API_URL/api/v1/campaigns" || echo "000 -"
}

cid=$(e2e_create_campaign "e2e slow clients")
e2e_step "campaign $cid created; baseline GET: $(timed_get)"

python3 "$ECM_ROOT/tests/e2e/slow_clients.py" --port "$port" --campaign "$cid" --count "$count" \
    --sources 50 --interval 2 --max-seconds $((deadline * 5)) >"$E2E_TMP/slow.out" &
slow_pid=$!
e2e_wait_for 120 "the slow clients to connect" grep -q '^OPEN' "$E2E_TMP/slow.out"
opened=$(sed -n 's/^OPEN //p' "$E2E_TMP/slow.out")
e2e_assert_eq "$count" "$opened" "slow connections made"

# Dripped headers and bodies hold their connection until the deadline; the
# uploads past ECM_GATEWAY_MAX_UPLOADS were answered 429 at once.
held=$((count * 2 / 3))
before=$(gw_metrics | metric ecm_http_connections_open)
e2e_assert_ge "$held" "$before" "connections open before the GETs"
for i in 1 2 3 4 5; do
    read -r code secs < <(timed_get)
    e2e_assert_eq 200 "$code" "GET /api/v1/campaigns #$i while $before slow clients are connected"
    awk -v s="$secs" -v d="$deadline" 'BEGIN { exit !(s < d) }' ||
        e2e_fail "GET #$i took ${secs}s, not within the ${deadline}s request deadline"
    e2e_step "GET /api/v1/campaigns #$i: $code in ${secs}s"
done
after=$(gw_metrics | metric ecm_http_connections_open)
e2e_assert_ge "$held" "$after" "connections still open after the GETs"
e2e_step "the slow clients were connected throughout ($before, then $after open)"

# The server ends every slow connection; the script returns once none is open.
e2e_wait_for $((deadline * 6)) "the slow clients to be cut" bash -c "! kill -0 $slow_pid"
wait "$slow_pid" || e2e_fail "slow_clients.py failed"
summary=$(tail -n 1 "$E2E_TMP/slow.out")
e2e_step "slow clients: $summary"
e2e_assert_eq 0 "$(jq -r .still_open <<<"$summary")" "slow connections the server left open"
e2e_assert_eq "$count" "$(jq -r .closed_by_server <<<"$summary")" "slow connections ended by the server"
max_open=$(jq -r '.open_s.max' <<<"$summary")
awk -v s="$max_open" -v d="$deadline" 'BEGIN { exit !(s < 3 * d) }' ||
    e2e_fail "a slow connection stayed ${max_open}s, past 3 x the ${deadline}s deadline"
m=$(gw_metrics)
cut=$(metric 'ecm_http_requests_cut_total{reason="deadline"}' <<<"$m")
slow=$(metric 'ecm_http_requests_cut_total{reason="slow_body"}' <<<"$m")
e2e_assert_ge $((count * 2 / 3)) "$cut" "requests cut at the deadline"
e2e_assert_ge 1 "$slow" "uploads cut below the minimum rate"
e2e_assert_ge 1 "$(jq -r '.status["429"] // 0' <<<"$summary")" "uploads turned away with 429"
e2e_step "cut at the deadline: $cut, uploads too slow: $slow"

read -r code secs < <(timed_get)
e2e_assert_eq 200 "$code" "GET /api/v1/campaigns after the slow clients"
e2e_step "after: GET $code in ${secs}s"
