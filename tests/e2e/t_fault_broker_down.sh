#!/usr/bin/env bash
# The Kafka broker down for 10 s or more in the middle of a campaign (the dev
# broker's fault injection: POST /broker/down, then /broker/up). Every
# service rides it out: /readyz answers 503 while the broker is gone and 200
# after — except the gateway, which writes events only through the outbox
# and stays ready to serve the API throughout —, no process exits or restarts, events wait in the outbox meanwhile,
# and the campaign ends with nothing lost and no account number dialled
# twice.
# e2e-env: ECM_SIM_DIAL_RATE=150
# e2e-env: ECM_FEEDER_CAPACITY=100
# e2e-env: ECM_FEEDER_BATCH=50
# e2e-timeout: 300
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

n=600
down_s=10

# HTTP status of NAME's /readyz ("000" when it does not answer at all).
readyz() {
    curl -s -o /dev/null --max-time 8 -w '%{http_code}' \
        "http://127.0.0.1:$(ecm_http_port "$1")/readyz" || true
}
is_ready() { [[ $(readyz "$1") == 200 ]]; }
is_unready() { [[ $(readyz "$1") == 503 ]]; }
count() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid $1"; }
at_least() { (($(count "$2") >= $1)); }
outbox_empty() { (($(ecm_psql -tA -c "SELECT count(*) FROM outbox") == 0)); }
broker() {
    curl -fsS -o /dev/null --max-time 10 -X POST \
        "http://127.0.0.1:$(ecm_http_port devbroker)/broker/$1" || e2e_fail "POST /broker/$1 failed"
}

# Every process must be the one that was started: same pid, still running.
# (Optional processes of the stack that are not running are left out.)
e2e_record_processes

cid=$(e2e_create_campaign "e2e broker down")
e2e_upload_contacts "$cid" "$n" 41 >"$E2E_TMP/upload.json"
e2e_assert_eq "$n" "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"
e2e_wait_for 60 "150 results" at_least 150 "AND status = 'done'"
e2e_step "broker down at $(count "AND status = 'done'") results of $(count "") attempts"

# A failure while the broker is down must not leave it down for the stop.
trap 'curl -fsS -o /dev/null --max-time 5 -X POST \
    "http://127.0.0.1:$(ecm_http_port devbroker)/broker/up" || true; rm -rf "$E2E_TMP"' EXIT
t0=$SECONDS
broker down
declare -A unready
max_outbox=0
gateway_unready=0
# One sample of the outage: which services say they are not ready, how many
# events wait. Succeeds once the broker has been down for down_s and every
# service has said so (a loaded machine may take longer than down_s).
sample_down() {
    local s n=0 o
    for s in "${ECM_SERVICES[@]}"; do
        if [[ $s == gateway ]]; then
            is_ready gateway || gateway_unready=$((gateway_unready + 1))
            n=$((n + 1))
            continue
        fi
        [[ -n ${unready[$s]:-} ]] || ! is_unready "$s" || unready[$s]=$((SECONDS - t0))
        [[ -z ${unready[$s]:-} ]] || n=$((n + 1))
    done
    o=$(ecm_psql -tA -c "SELECT count(*) FROM outbox")
    ((o <= max_outbox)) || max_outbox=$o
    ((SECONDS - t0 >= down_s && n == ${#ECM_SERVICES[@]}))
}
e2e_wait_for --quiet 90 "every service not ready while the broker is down" sample_down || true
for s in "${ECM_SERVICES[@]}"; do
    [[ $s == gateway ]] && continue
    [[ -n ${unready[$s]:-} ]] || e2e_fail "$s never reported not ready while the broker was down"
done
((gateway_unready == 0)) || e2e_fail "the gateway was not ready $gateway_unready time(s) while the broker was down"
e2e_step "not ready while the broker was down: $(for s in "${ECM_SERVICES[@]}"; do
    [[ $s == gateway ]] || printf '%s after %ss ' "$s" "${unready[$s]}"
done); the gateway stayed ready"
e2e_step "events waiting in the outbox while the broker was down: up to $max_outbox"
e2e_same_processes "while the broker was down"
broker up
e2e_step "broker up after $((SECONDS - t0))s"

t1=$SECONDS
for s in "${ECM_SERVICES[@]}"; do
    e2e_wait_for 60 "$s /readyz 200 after the broker came back" is_ready "$s"
done
e2e_step "every service ready again $((SECONDS - t1))s after the broker came back"
e2e_same_processes "after the broker came back"

e2e_wait_campaign_closed "$cid" 150
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" "$n"
e2e_wait_for 60 "the outbox drained" outbox_empty
e2e_same_processes "at the end"
