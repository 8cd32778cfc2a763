#!/usr/bin/env bash
# The Outbound API's back-pressure: Cisco queues at most 30 import requests and
# answers 503 ("Request processing queue is at capacity") to the next. (At most
# 10,000 records a request: an import of 10,001 is refused.) Another client
# keeps the queue full with imports of 100 records on another Cisco campaign,
# processed at 200 records a second; an ECM campaign is then activated on its
# own Cisco campaign. The feeder's imports meet 503s, back off and retry: every
# contact closed, nothing lost, nothing sent twice.
# e2e-env: ECM_SIM_UCCE_IMPORT_RATE=200
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-timeout: 600
# e2e-seconds: 111
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

ecm_create_fast_strategy E2E 2 >/dev/null
body=$(jq -n --argjson cisco "$(ecm_cisco_json ucce_api:5007)" \
    '{name: "e2e 503", channel: "voice_ivr", strategy: "E2E", cisco: $cisco}')
cid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
[[ $cid =~ ^[0-9]+$ ]] || e2e_fail "campaign not created"
e2e_upload_contacts "$cid" 500 41 >/dev/null

url=$ECM_DEV_SIM_URL/unifiedconfig/config/campaign/5099/import
# The filler's Cisco campaign is not dialled (enabled=false, with its current
# changeStamp), so that its records do not hold up ECM's.
stamp=$(curl -fsS -u "$ECM_DEV_SIM_USER:$ECM_DEV_SIM_PASSWORD" \
    "$ECM_DEV_SIM_URL/unifiedconfig/config/campaign/5099" | sed -n 's:.*<changeStamp>\([0-9]*\)</changeStamp>.*:\1:p')
[[ $stamp =~ ^[0-9]+$ ]] || e2e_fail "no changeStamp for UCCE campaign 5099"
curl -fsS -o /dev/null -X PUT -u "$ECM_DEV_SIM_USER:$ECM_DEV_SIM_PASSWORD" \
    -H 'Content-Type: application/xml' \
    --data "<campaign><enabled>false</enabled><changeStamp>$stamp</changeStamp></campaign>" \
    "$ECM_DEV_SIM_URL/unifiedconfig/config/campaign/5099" || e2e_fail "could not disable campaign 5099"
# import_body FIRST N: an <import> of N records with accounts F<FIRST>..F<FIRST+N-1>.
import_body() {
    awk -v first="$1" -v n="$2" 'BEGIN {
        printf "<import><fileContent><![CDATA[AccountNumber,FirstName,LastName,Phone01\n"
        for (i = first; i < first + n; i++) printf "F%d,Fill,Er,1%010d\n", i, 2125550000 + i
        printf "]]></fileContent><delimiter>,</delimiter><overwriteData>false</overwriteData></import>"
    }'
}
# post BODY OUT [CURL ARGS]: prints the HTTP status (000: no answer in time).
post() {
    curl -sS -o "$2" -w '%{http_code}' -u "$ECM_DEV_SIM_USER:$ECM_DEV_SIM_PASSWORD" \
        -H 'Content-Type: application/xml' --data-binary "@$1" "${@:3}" "$url" || true
}

# 10,001 records: refused whole.
import_body 1000000 10001 >"$E2E_TMP/big.xml"
e2e_assert_eq 400 "$(post "$E2E_TMP/big.xml" "$E2E_TMP/big.out")" "status of an import of 10,001 records"

# The filler keeps the queue full: it posts imports of 100 records (each its
# own accounts) without waiting for one answer before the next, up to 40 at
# a time (an import taken stays queued and is processed), pausing only after
# a 503, until told to stop. The answers are waited for as long as they take,
# so a slow machine only slows the filler: 40 requests in flight are more
# than the queue's 30 however slowly 200 records/s drain them.
fill_one() {
    import_body $(($1 * 1000)) 100 >"$E2E_TMP/fill.$1.xml"
    if [[ $(post "$E2E_TMP/fill.$1.xml" "$E2E_TMP/fill.$1.out" --max-time 120 2>/dev/null) == 503 ]]; then
        mv "$E2E_TMP/fill.$1.out" "$E2E_TMP/full.out"
    fi
    rm -f "$E2E_TMP/fill.$1.xml" "$E2E_TMP/fill.$1.out"
}
filler() {
    local k=0
    while [[ ! -e $E2E_TMP/fill.stop ]]; do
        if (($(jobs -rp | wc -l) >= 40)); then
            wait -n || true
            continue
        fi
        k=$((k + 1))
        fill_one "$k" &
        if [[ -s $E2E_TMP/full.out ]]; then
            sleep 0.2 # sleep-ok: the filler's pace while the queue is full
        fi
    done
    wait
}
filler &
filler_pid=$!
trap 'touch "$E2E_TMP/fill.stop"; wait; rm -rf "$E2E_TMP"' EXIT
queue_full() { [[ -s $E2E_TMP/full.out ]]; }
e2e_wait_for 120 "the Outbound API's queue of 30 full (an import refused with 503)" queue_full
grep -q "queue is at capacity" "$E2E_TMP/full.out" ||
    e2e_fail "the 503 does not say the queue is at capacity: $(head -c 300 "$E2E_TMP/full.out")"
e2e_step "queue full: $(head -c 160 "$E2E_TMP/full.out")"

api POST "/api/v1/campaigns/$cid/activate" -d '{}' >/dev/null || e2e_fail "activate failed"
refused() {
    curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" |
        awk '$1 ~ /^ecm_feeder_errors_total/ && index($1, "ucce_api") && index($1, "unavailable") { s += $2 }
            END { print s + 0 }'
}
some_refused() { (($(refused) > 0)); }
e2e_wait_for 60 "the feeder's import refused with 503" some_refused
e2e_step "the feeder met $(refused) 503 answers and backs off"

touch "$E2E_TMP/fill.stop"
wait "$filler_pid"
e2e_wait_campaign_closed "$cid" 300
e2e_check_campaign "$cid" 500
e2e_assert_ge 1 "$(e2e_sim_stats | jq -r '.refusals.ucce_api.queue_full // 0')" \
    "503s the simulator counted"
