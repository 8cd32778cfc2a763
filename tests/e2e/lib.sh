# shellcheck shell=bash
# Helpers for the whole-system scenarios tests/e2e/t_*.sh. A scenario starts
#   source "$(dirname "$0")/lib.sh"
# which turns on `set -euo pipefail`, loads scripts/lib.sh (ecm_start_service,
# ecm_stop_service, ecm_kill9, ecm_wait_ready, ecm_psql, ecm_sim_psql, api,
# ecm_create_campaign, ecm_gen_contacts_csv, ...) and the stack's environment
# (ECM_DEV_API_URL, ECM_DEV_PG_DSN, ECM_DEV_KAFKA_BROKERS, ...).
#
# tests/e2e/run.sh gives every scenario a fresh stack: empty databases, a new
# broker, every process started and ready; it stops the stack afterwards and
# fails the scenario if a process does not exit 0 on SIGTERM. Header lines a
# scenario may carry:
#   # e2e: no-stack          run without a stack (e.g. configuration checks)
#   # e2e-env: NAME=value    set for the stack and the scenario (repeatable)
#   # e2e-timeout: SECONDS   instead of the default 900
# A scenario passes by exiting 0; e2e_fail explains a failure and exits 1.
# It can also run alone against a stack that is up:
#   scripts/devstack.sh start && tests/e2e/t_x.sh

set -euo pipefail
ECM_SCRIPT=${ECM_SCRIPT:-$(basename "$0" .sh)}
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
ecm_env_load
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ecm-e2e.XXXXXX")
trap 'rm -rf "$E2E_TMP"' EXIT

# Prints a progress line.
e2e_step() { printf '  [%s %s] %s\n' "$(date +%T)" "$ECM_SCRIPT" "$*"; }

# Fails the scenario with MSG.
e2e_fail() {
    printf '  [%s %s] FAIL: %s\n' "$(date +%T)" "$ECM_SCRIPT" "$*" >&2
    exit 1
}

# e2e_assert_eq EXPECTED ACTUAL WHAT: fails unless the two strings are equal.
e2e_assert_eq() {
    [[ $1 == "$2" ]] || e2e_fail "$3: expected '$1', got '$2'"
}

# e2e_assert_ge MIN ACTUAL WHAT: fails unless ACTUAL >= MIN (integers).
e2e_assert_ge() {
    [[ $2 =~ ^-?[0-9]+$ ]] || e2e_fail "$3: '$2' is not a number"
    (($2 >= $1)) || e2e_fail "$3: expected at least $1, got $2"
}

# e2e_wait_for SECONDS WHAT CMD...: runs CMD every half second until it
# succeeds; fails the scenario after SECONDS.
e2e_wait_for() {
    local limit=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 < limit)) || e2e_fail "timed out after ${limit}s waiting for: $what"
        sleep 0.5
    done
}

# Creates and activates a voice_ivr campaign with a fast strategy (2 s
# retries); prints its id.
e2e_create_campaign() {
    local name=${1:-"e2e $ECM_SCRIPT"} strategy=${2:-E2E}
    ecm_create_campaign "$name" "$strategy" 1 || e2e_fail "could not create campaign '$name'"
}

# e2e_upload_contacts CAMPAIGN N [SEED]: uploads N generated contacts as
# text/csv; prints the gateway's answer.
e2e_upload_contacts() {
    local cid=$1 n=$2 seed=${3:-$RANDOM} csv
    csv=$E2E_TMP/contacts-$cid-$seed.csv
    ecm_gen_contacts_csv "$n" "$csv" "$seed"
    api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' \
        --data-binary "@$csv" || e2e_fail "upload of $n contacts to campaign $cid failed"
}

# Prints "closed total" for the campaign.
e2e_campaign_progress() {
    ecm_campaign_progress "$1" || e2e_fail "GET /api/v1/campaigns/$1 failed"
}

# e2e_wait_campaign_closed CAMPAIGN [SECONDS]: waits until every contact is
# closed (progress every 15 s); fails after SECONDS (default 600).
e2e_wait_campaign_closed() {
    local cid=$1 limit=${2:-600} t0=$SECONDS last=0 closed total
    while :; do
        read -r closed total < <(e2e_campaign_progress "$cid")
        if ((total > 0 && closed >= total)); then
            e2e_step "campaign $cid: $closed/$total closed after $((SECONDS - t0))s"
            return 0
        fi
        ((SECONDS - t0 < limit)) ||
            e2e_fail "campaign $cid: only $closed/$total closed after ${limit}s"
        if ((SECONDS - last >= 15)); then
            e2e_step "campaign $cid: $closed/$total closed"
            last=$SECONDS
        fi
        sleep 1
    done
}

# Prints GET /sim/stats of the Cisco simulator (JSON).
e2e_sim_stats() {
    curl -fsS --max-time 10 "$ECM_DEV_SIM_URL/sim/stats" || e2e_fail "GET /sim/stats failed"
}

# ---------------------------------------------------------------- SMS

# e2e_fakesmsc_count [--segments] [DEST]: what Kannel's fake SMSC client
# received. Without DEST: "DEST COUNT" lines (sorted); with DEST: that count.
# A concatenated message counts once; --segments counts each segment.
e2e_fakesmsc_count() {
    ecm_fakesmsc_count "$@"
}

# Prints how many messages fakesmsc received in all (concatenated ones once).
e2e_fakesmsc_total() {
    ecm_fakesmsc_count | awk '{ n += $2 } END { print n + 0 }'
}

# Prints "DEST COUNT" for every destination that received more than one message.
e2e_fakesmsc_repeats() {
    ecm_fakesmsc_count | awk '$2 > 1'
}

# e2e_fakesmsc_mo FROM TEXT [TO]: injects an inbound SMS (e.g. STOP) from FROM
# through Kannel (second fake SMSC, fakesmsc client); smsbox passes it to the
# sms service's /sms/mo. "ucs2:<url-encoded UTF-16BE>" sends Unicode.
e2e_fakesmsc_mo() {
    ecm_fakesmsc_mo "$@" || e2e_fail "MO '$2' from $1 could not be injected through Kannel"
    e2e_step "MO '$2' from $1 injected through Kannel"
}

# Prints GET /sim/stats of the SMS gateway simulator (JSON).
e2e_smssim_stats() {
    ecm_smssim_stats || e2e_fail "GET $ECM_DEV_SMSSIM_URL/sim/stats failed"
}

# e2e_smssim_unavailable SECONDS: sms-sim answers 503 to /send for SECONDS.
e2e_smssim_unavailable() {
    curl -fsS --max-time 10 -X POST "$ECM_DEV_SMSSIM_URL/sim/unavailable?seconds=$1" >/dev/null ||
        e2e_fail "POST /sim/unavailable failed"
    e2e_step "sms-sim answers 503 for ${1}s"
}

# e2e_smssim_mo FROM TEXT: an inbound SMS through the generic gateway: sms-sim
# forwards it to the sms service's /sms/mo; fails unless that answered 2xx.
e2e_smssim_mo() {
    curl -fsS --max-time 15 -X POST -G "$ECM_DEV_SMSSIM_URL/sim/mo" --data-urlencode "from=$1" \
        --data-urlencode "text=$2" >/dev/null || e2e_fail "MO '$2' from $1 through sms-sim failed"
    e2e_step "MO '$2' from $1 sent through sms-sim"
}

# e2e_create_sms_campaign NAME TEMPLATE GATEWAY [DLR_TIMEOUT_S [STRATEGY]]:
# creates and activates an sms campaign (GATEWAY kannel or http, sender
# $ECM_DEV_SMS_SENDER, fast strategy E2E by default); prints its id.
e2e_create_sms_campaign() {
    local name=$1 template=$2 gateway=$3 dlr_timeout=${4:-60} strategy=${5:-E2E}
    ecm_create_sms_campaign "$name" "$template" "$gateway" "$strategy" "$dlr_timeout" ||
        e2e_fail "could not create sms campaign '$name'"
}

# e2e_kafka_produce TOPIC FILE: publishes FILE's bytes as one message.
e2e_kafka_produce() {
    kcat -q -P -b "$ECM_DEV_KAFKA_BROKERS" -t "$1" "$2" || e2e_fail "kcat produce to $1 failed"
}

# e2e_kafka_consume TOPIC COUNT [SECONDS]: prints up to COUNT messages from the
# beginning of TOPIC as kcat JSON envelopes (one a line, with headers and the
# payload base64-less as kcat gives it), stopping at the end of the topic.
e2e_kafka_consume() {
    timeout "${3:-30}" kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t "$1" -o beginning -e \
        -c "$2" -J || true
}

# Scenarios poll with `bash -c "... ecm_psql ..."`: the helpers must reach
# child shells too.
# shellcheck disable=SC2046
export -f $(compgen -A function | grep -E '^(ecm_|ecm__|e2e_|api$)')
