#!/usr/bin/env bash
# SMS through the real Kannel of the dev stack, two figures from one run:
#   1. a plain client (curl --parallel) on Kannel's sendsms at concurrency C:
#      N requests, how fast they are accepted (HTTP 202) and how fast they reach
#      the fake SMSC (fakesmsc's log);
#   2. ECM end to end: an sms campaign of N contacts through Kannel, from the
#      upload until every contact is closed (send -> DLR -> result), in
#      messages per second. This half needs build/bin/ecm-sms; without it the
#      bench says so and skips it.
# It prints figures and never passes or fails on them; it exits non-zero only
# when it could not measure at all (stack not up).
#   bench/sms_kannel.sh [-n N] [-c C] [--keep]
#   -n N     messages in each half (default 2000)
#   -c C     concurrency of the plain client (default: ECM_SMS_CONCURRENCY, the
#            sms service's requests in flight per gateway, or its default 16)
#   --keep   leave a stack this script started running
# Uses a running dev stack (same ECM_DEV_DIR / ECM_DEV_PORT_BASE) when Kannel
# is up in it; otherwise starts one and stops it at the end.
set -euo pipefail
ECM_SCRIPT=bench-sms
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

n=2000
conc=${ECM_SMS_CONCURRENCY:-16}
keep=0
while (($#)); do
    case $1 in
    -n)
        n=${2:?-n needs a number}
        shift
        ;;
    -c)
        conc=${2:?-c needs a number}
        shift
        ;;
    --keep) keep=1 ;;
    -h | --help)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || ecm_die "-n: '$n' is not a positive number"
[[ $conc =~ ^[1-9][0-9]*$ ]] || ecm_die "-c: '$conc' is not a positive number"
command -v curl >/dev/null || ecm_die "curl not found"

ecm_env_load
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ecm-bench-sms.XXXXXX")
started=0
cleanup() {
    rm -rf "$tmp"
    if ((started && !keep)); then
        "$ECM_ROOT/scripts/devstack.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if ! ecm_kannel_ready; then
    ecm_say "no ready Kannel in $ECM_DEV_DIR: starting the dev stack (log: $ECM_DEV_DIR/logs/bench-stack.log)"
    started=1
    # The service's own rate limit would otherwise be the figure: lift it so
    # the run measures ECM and Kannel, not the token bucket.
    export ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-5000}
    if ! "$ECM_ROOT/scripts/devstack.sh" start >"$ECM_DEV_DIR/logs/bench-stack.log" 2>&1; then
        tail -n 20 "$ECM_DEV_DIR/logs/bench-stack.log" >&2
        ecm_die "the dev stack did not start"
    fi
fi

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.1f", n / t; else print "n/a" }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Lines fakesmsc logged for destinations starting with PREFIX.
fake_received() {
    [[ -f $ECM_DEV_FAKESMSC_LOG ]] || {
        echo 0
        return
    }
    grep -c "Got message [0-9]*: <[^ ]* $1" "$ECM_DEV_FAKESMSC_LOG" || true
}

echo "== SMS through Kannel $(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo '?'), fake SMSC, $(nproc) CPUs"
echo "   N=$n messages per half, plain client concurrency C=$conc"

# ------------------------------------------------------------ 1. plain client
# Destinations 1999<run><n>: apart from campaign numbers and from earlier runs.
run_id=$(printf '%03d' $((RANDOM % 1000)))
prefix=1999$run_id
cfg=$tmp/curl.cfg
awk -v n="$n" -v url="$ECM_DEV_KANNEL_SENDSMS_URL" -v user="$ECM_DEV_KANNEL_USER" \
    -v pass="$ECM_DEV_KANNEL_PASSWORD" -v prefix="$prefix" -v from="$ECM_DEV_SMS_SENDER" 'BEGIN {
    for (i = 1; i <= n; i++) {
        printf "url = \"%s?user=%s&pass=%s&from=%s&to=%s%06d&text=Bench+message+%d\"\n",
            url, user, pass, from, prefix, i, i
        print "output = \"/dev/null\""
    }
}' >"$cfg"
before=$(fake_received "$prefix")
t0=$(now)
curl --parallel --parallel-max "$conc" -s -K "$cfg" -w '%{http_code}\n' >"$tmp/codes" 2>"$tmp/curl.err" || true
t1=$(now)
accepted=$(grep -c '^202$' "$tmp/codes" || true)
other=$((n - accepted))
deadline=$((SECONDS + 120))
got=0
while :; do
    got=$(($(fake_received "$prefix") - before))
    ((got < accepted && SECONDS < deadline)) || break
    sleep 0.1
done
t2=$(now)
echo
echo "-- plain client on sendsms (no DLR requested)"
printf '   accepted (202)       %6d of %d (%d other answers) in %ss: %s req/s\n' \
    "$accepted" "$n" "$other" "$(secs "$t0" "$t1")" "$(rate "$accepted" "$(secs "$t0" "$t1")")"
printf '   at the fake SMSC     %6d in %ss from the first request: %s msg/s\n' \
    "$got" "$(secs "$t0" "$t2")" "$(rate "$got" "$(secs "$t0" "$t2")")"
((got >= accepted)) || echo "   (fakesmsc had not received every accepted message after 120 s)"

# ------------------------------------------------------------ 2. ECM end to end
echo
echo "-- ECM end to end through Kannel (upload -> send -> DLR -> contact closed)"
if [[ ! -x $ECM_BIN_DIR/ecm-sms ]]; then
    echo "   SKIPPED: $ECM_BIN_DIR/ecm-sms is not built yet"
    exit 0
fi
missing=()
for p in gateway strategy sms; do ecm_pid "$p" >/dev/null || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "   SKIPPED: not running in this stack: ${missing[*]} (scripts/devstack.sh start)"
    exit 0
fi
ecm_create_fast_strategy Bench 2 >/dev/null
cid=$(ecm_create_sms_campaign "Bench SMS $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "Hello {first_name}, this is a benchmark message." kannel Bench 120) || {
    echo "   SKIPPED: could not create an sms campaign (see $ECM_DEV_DIR/logs/gateway.log)"
    exit 0
}
csv=$tmp/contacts.csv
ecm_gen_contacts_csv "$n" "$csv" "$RANDOM"
t0=$(now)
api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv" \
    >"$tmp/upload.json" || {
    echo "   SKIPPED: upload failed"
    exit 0
}
deadline=$((SECONDS + ${ECM_BENCH_TIMEOUT_S:-900}))
closed=0 total=0 shown=$SECONDS
while :; do
    read -r closed total < <(ecm_campaign_progress "$cid" || echo "0 0")
    ((total > 0 && closed >= total)) && break
    if ((SECONDS >= deadline)); then
        echo "   gave up after ${ECM_BENCH_TIMEOUT_S:-900}s (ECM_BENCH_TIMEOUT_S)"
        break
    fi
    if ((SECONDS - shown >= 15)); then
        echo "   ... $closed of $total closed"
        shown=$SECONDS
    fi
    sleep 0.5
done
t1=$(now)
printf '   campaign %s: %d of %d contacts closed in %ss: %s msg/s end to end\n' \
    "$cid" "$closed" "$total" "$(secs "$t0" "$t1")" "$(rate "$closed" "$(secs "$t0" "$t1")")"
api GET "/api/v1/campaigns/$cid" 2>/dev/null |
    jq -r '.counts | to_entries[] | "   \(.key): \(.value | tostring)"' 2>/dev/null || true
echo "   sms service: ECM_SMS_CONCURRENCY=${ECM_SMS_CONCURRENCY:-16 (default)}," \
    "ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-100 (default)} msg/s; plain client C=$conc"
