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
#   # e2e-clock: held        the business clock (ECM_DEV_CLOCK, _RATE) stands at
#                            its start until the scenario calls
#                            e2e_clock_release: set-up takes no business time
#   # e2e-seconds: SECONDS   about how long it takes in run.sh (its "--- PASS
#                            name (Ns)" line), which starts the longest
#                            first; for the order only, never a bound
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

# ---------------------------------------------------------------- waiting
# A scenario never sleeps a fixed time assuming that something is done by
# then: it waits for the state with e2e_wait_for, bounded generously. Waits
# in business time take their real-time bound from the stack's clock rate
# (e2e_wall_s). tests/e2e/run.sh refuses a bare `sleep` in a scenario unless
# the line says why with `# sleep-ok: <why>` (a fault that must last, or a
# pause before checking that something did NOT happen; then prefer waiting
# for a marker that proves the system went past the point where it would
# have happened).

# e2e_wait_for [--quiet] [--until-business MS] [--every S] [--say FUNC]
#              SECONDS WHAT CMD...
# Runs CMD (output discarded) every S seconds (default 0.5) until it
# succeeds; returns 0 then. Gives up after SECONDS of real time, or as soon
# as business time is past MS (--until-business): fails the scenario naming
# WHAT, or with --quiet returns 1 (the caller cleans up or asserts itself).
# --say FUNC: every 15 s, FUNC's output is printed as a progress line.
e2e_wait_for() {
    # Locals are prefixed: CMD runs in this scope and must see its own
    # variables (t0, what, ...), not these.
    local _w_quiet=0 _w_until_ms="" _w_every=0.5 _w_say="" _w_limit _w_what
    local _w_t0=$SECONDS _w_last=$SECONDS
    while [[ ${1-} == --* ]]; do
        case $1 in
        --quiet) _w_quiet=1 ;;
        --until-business) _w_until_ms=$2 && shift ;;
        --every) _w_every=$2 && shift ;;
        --say) _w_say=$2 && shift ;;
        *) e2e_fail "e2e_wait_for: unknown option $1" ;;
        esac
        shift
    done
    _w_limit=$1 _w_what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        local _w_why=''
        ((SECONDS - _w_t0 < _w_limit)) || _w_why="${_w_limit}s"
        if [[ -z $_w_why && -n $_w_until_ms ]] && (($(ecm_business_now_ms) > _w_until_ms)); then
            _w_why="business time $(e2e_iso "$_w_until_ms")"
        fi
        if [[ -n $_w_why ]]; then
            ((_w_quiet)) && return 1
            [[ -z $_w_say ]] || _w_what+=" ($("$_w_say" 2>&1))"
            e2e_fail "gave up after $((SECONDS - _w_t0))s (limit: $_w_why) waiting for: $_w_what"
        fi
        if [[ -n $_w_say ]] && ((SECONDS - _w_last >= 15)); then
            e2e_step "waiting for $_w_what: $("$_w_say" 2>&1)"
            _w_last=$SECONDS
        fi
        sleep "$_w_every"
    done
}

# Prints the business clock's rate against real time (1 for a real clock).
e2e_clock_rate() { ecm_clock_rate; }

# e2e_clock_release [--until MS]: the clock held by `# e2e-clock: held` (or
# by e2e_clock_hold, or stopped at an earlier --until) runs on from the
# instant it stands at; with --until it stands still again at MS, so the
# scenario can look at that state with all the time it needs.
e2e_clock_release() {
    local until_ms="" from_ms
    [[ ${1-} != --until ]] || until_ms=$2
    from_ms=$(ecm_business_now_ms)
    ecm_clock_release ${until_ms:+"$until_ms"} ||
        e2e_fail "e2e_clock_release: the stack's clock is not held (header '# e2e-clock: held')"
    e2e_step "business clock released at $(e2e_iso "$from_ms")${until_ms:+, to stop at $(e2e_iso "$until_ms")}"
}

# e2e_clock_hold: the clock stands still about where it is (see ecm_clock_hold
# in scripts/lib.sh: to stop at a known instant, e2e_clock_release --until).
e2e_clock_hold() {
    ecm_clock_hold || e2e_fail "e2e_clock_hold: the stack's clock has no control file (header '# e2e-clock: held')"
    e2e_step "business clock held at $(e2e_iso "$(ecm_business_now_ms)")"
}

# e2e_clock_stopped_at MS: succeeds when business time stands at MS (a
# release --until MS has run its course).
e2e_clock_stopped_at() { (($(ecm_business_now_ms) == $1)); }

# e2e_wall_s UNTIL_MS: a generous bound in real seconds for business time to
# reach UNTIL_MS at the clock's rate: twice the real time that takes, plus
# 60 s (the services' own work after the instant must fit in too).
e2e_wall_s() {
    awk -v d="$(($1 - $(ecm_business_now_ms)))" -v rate="$(e2e_clock_rate)" \
        'BEGIN { s = d > 0 ? d / 1000 / rate : 0; printf "%d\n", 2 * s + 61 }'
}

# Succeeds when business time is at or past MS.
e2e_business_reached() { (($(ecm_business_now_ms) >= $1)); }

# e2e_wait_business [--say FUNC] MS: waits until business time is at or past MS.
e2e_wait_business() {
    local opts=()
    while (($# > 1)); do opts+=("$1") && shift; done
    e2e_wait_for --every 0.2 "${opts[@]}" "$(e2e_wall_s "$1")" "business time $(e2e_iso "$1")" \
        e2e_business_reached "$1"
}

# e2e_iso MS: the instant as RFC 3339 UTC (seconds).
e2e_iso() { date -u -d "@$(($1 / 1000))" +%FT%TZ; }

# e2e_zone_at_hour H: the fixed-offset zone (Etc/GMT-N, no DST) where
# business time now is H:xx local. The stack's start-up takes a varying part
# of a business day at a fast clock; a scenario whose contacts live in this
# zone starts at a known local time however long that took.
e2e_zone_at_hour() {
    local utc_hour off
    utc_hour=$(date -u -d "@$(($(ecm_business_now_ms) / 1000))" +%-H)
    off=$(($1 - utc_hour))
    ((off >= -12)) || off=$((off + 24))
    ((off <= 14)) || off=$((off - 24))
    if ((off > 0)); then
        echo "Etc/GMT-$off"
    elif ((off < 0)); then
        echo "Etc/GMT+$((-off))"
    else
        echo UTC
    fi
}

# e2e_create_campaign [NAME [STRATEGY [TARGET]]]: creates and activates a
# voice_ivr campaign with a fast strategy (2 s retries) on Cisco TARGET
# (default UCCX campaign 1; "ucce_api:5001", "ucce_db:5002:Import_5002");
# prints its id.
e2e_create_campaign() {
    local name=${1:-"e2e $ECM_SCRIPT"} strategy=${2:-E2E} target=${3:-1}
    ecm_create_campaign "$name" "$strategy" "$target" || e2e_fail "could not create campaign '$name'"
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

# e2e_campaign_closed CAMPAIGN: succeeds when every contact is closed.
e2e_campaign_closed() {
    local closed total
    read -r closed total < <(e2e_campaign_progress "$1")
    ((total > 0 && closed >= total))
}

# e2e_wait_campaign_closed CAMPAIGN [SECONDS]: waits until every contact is
# closed (progress every 15 s); fails after SECONDS (default 600).
e2e_wait_campaign_closed() {
    local cid=$1 t0=$SECONDS
    e2e__progress() { echo "$(e2e_campaign_progress "$cid" | tr ' ' /) closed"; }
    if ! e2e_wait_for --quiet --every 1 --say e2e__progress "${2:-600}" \
        "every contact of campaign $cid closed" e2e_campaign_closed "$cid"; then
        e2e_open_contacts "$cid" >&2 || true
        e2e_fail "gave up after $((SECONDS - t0))s waiting for every contact of campaign $cid" \
            "closed ($(e2e__progress))"
    fi
    e2e_step "campaign $cid: $(e2e__progress) after $((SECONDS - t0))s"
}

# e2e_open_contacts CAMPAIGN: what a failed wait for a campaign's end prints,
# short enough for the tail of a log: its first five open contacts (state,
# counters, times, the campaign's state) and each one's attempts (status,
# outcome, account number, times), then what the Cisco simulator holds of
# the first one's attempts.
e2e_open_contacts() {
    ecm_psql -tA -F ' ' -c "SELECT 'open contact ' || k.id || ': ' || k.state
        || ' attempts=' || k.attempts || ' phone_index=' || k.phone_index
        || ' next_attempt_at=' || coalesce(k.next_attempt_at::text, '-')
        || ' updated_at=' || k.updated_at || ' campaign ' || c.state
        || coalesce(' held: ' || k.hold_reason, '')
        || coalesce((SELECT string_agg(' | #' || a.attempt || ' ' || a.status || ' '
            || coalesce(a.outcome, '-') || ' ' || a.account_number || ' sent '
            || coalesce(a.sent_at::text, '-') || ' result ' || coalesce(a.result_at::text, '-'),
            '' ORDER BY a.attempt)
            FROM attempts a WHERE a.contact_id = k.id), '')
        FROM contacts k JOIN campaigns c ON c.id = k.campaign_id
        WHERE k.campaign_id = $1 AND k.state <> 'closed' ORDER BY k.id LIMIT 5" 2>&1
    local accounts
    accounts=$(ecm_psql -tA -c "SELECT string_agg(quote_literal(a.account_number), ',')
        FROM attempts a WHERE a.contact_id = (SELECT min(id) FROM contacts
            WHERE campaign_id = $1 AND state <> 'closed')" 2>/dev/null) || return 0
    [[ -n $accounts ]] || return 0
    ecm_sim_psql -tA -F ' ' -c "SELECT 'at the simulator: ' || coalesce(string_agg(account_number
        || ' ' || status || ' received ' || received_at || ' dialed '
        || coalesce(dialed_at::text, '-') || ' result ' || coalesce(call_result::text, '-'),
        ' | ' ORDER BY account_number), 'none of its attempts')
        FROM sim_contacts WHERE account_number IN ($accounts)" 2>&1
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
