#!/usr/bin/env bash
# Throughput with 1 and with 2 replicas of every ECM service, and the
# replica kill run at full size, one after the other on fresh stacks:
#   1. ECM_DEV_REPLICAS=1: a voice and an SMS campaign (through the real
#      Kannel) of N contacts each at once, upload to the last contact closed;
#   2. ECM_DEV_REPLICAS=2: the same;
#   3. unless --no-kill: ECM_DEV_REPLICAS=2 again, one replica of each
#      service and the outbox relay's holder killed with SIGKILL mid-run.
# Each run is tests/e2e/workload.sh: every contact closed once, attempts =
# the simulator's dials and the fake SMSC's messages, 0 twice; it prints
# attempts/s and SMS/s end to end. Figures only: nothing here fails on
# time. The machine's load (uptime) is printed beside them.
#   bench/replicas.sh [-n N] [--no-kill]     (N default 20000)
# Stops the stack at the end (and one that was running at the start: each
# run resets the databases).
set -euo pipefail
ECM_SCRIPT=bench-replicas
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

n=20000 kill=1
while (($#)); do
    case $1 in
    -n) n=${2:?-n needs a number} && shift ;;
    --no-kill) kill=0 ;;
    -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || ecm_die "-n: '$n' is not a positive number"
devstack=$ECM_ROOT/scripts/devstack.sh
out=$ECM_DEV_DIR/logs/bench-replicas
mkdir -p "$out"
trap '"$devstack" stop >/dev/null 2>&1 || true' EXIT
# The simulator dials as fast as ECM feeds it; Kannel's pace is the sms
# service's to keep (t_sms_kannel_10000's settings).
export ECM_SIM_DIAL_RATE=${ECM_SIM_DIAL_RATE:-20000} ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-2000}
export ECM_SMS_CONCURRENCY=${ECM_SMS_CONCURRENCY:-32} ECM_DEV_DROP_DIR=
# The --kill-each run's SMS rate includes this wait for the killed sms
# replica's messages without a DLR (docs/replicas.md).
export ECM_SMS_RESEND_AFTER_S=${ECM_SMS_RESEND_AFTER_S:-180}

# run NAME REPLICAS [workload args]: one run on a fresh stack; prints its figures line.
run() {
    local name=$1 replicas=$2 log=$out/$1.log
    shift 2
    ecm_say "$name: $replicas replica(s), $n + $n contacts ($*) — load: $(uptime | sed 's/.*load average: //')"
    "$devstack" reset >"$out/$name-stack.log" 2>&1
    ECM_DEV_REPLICAS=$replicas "$devstack" start >>"$out/$name-stack.log" 2>&1 ||
        ecm_die "$name: stack did not start (see $out/$name-stack.log)"
    if ! ECM_DEV_REPLICAS=$replicas "$ECM_ROOT/tests/e2e/workload.sh" -n "$n" --timeout 1800 "$@" \
        >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        ecm_die "$name: the run failed its checks (log: $log)"
    fi
    grep -E '^(workload|kills by)' "$log" | sed "s/^/  $name: /"
    "$devstack" stop --keep-pg >>"$out/$name-stack.log" 2>&1 ||
        ecm_warn "$name: a process did not stop cleanly (see $out/$name-stack.log)"
}

run one-replica 1
run two-replicas 2
((kill == 0)) || run two-replicas-kill9 2 --kill-each
ecm_say "load after: $(uptime | sed 's/.*load average: //'); logs in $out"
