#!/usr/bin/env bash
# Faults at scale: a voice and an SMS campaign (through the real Kannel) of
# N contacts each at once on a fresh dev stack with R replicas of each ECM
# service, and every S seconds one ECM process chosen at random killed with
# SIGKILL and restarted: the gateway while an upload streams through it (the
# upload is then resumed with ecmctl), the outbox relay's holder, any
# feeder, result-sync, strategy or sms replica. At the end: every contact
# closed, ECM's attempts = the simulator's dials and the fake SMSC's
# messages, 0 lost, 0 double dials, 0 double SMS, the outbox empty; prints
# the figures (tests/e2e/workload.sh does the run and the checks;
# tests/e2e/t_chaos.sh is the small version CI runs).
#   scripts/chaos.sh [-n N] [-r R] [-s S] [--seed SEED]
#     -n N   contacts per campaign (default 100000)
#     -r R   replicas of each service (default 2; 1 to 3)
#     -s S   seconds between kills (default 5)
# Exits 1 when a check fails. Stops the stack at the end.
set -euo pipefail
ECM_SCRIPT=chaos
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

n=100000 replicas=2 every=5 seed=$RANDOM
while (($#)); do
    case $1 in
    -n) n=${2:?-n needs a number} && shift ;;
    -r) replicas=${2:?-r needs a number} && shift ;;
    -s) every=${2:?-s needs a number} && shift ;;
    --seed) seed=${2:?--seed needs a number} && shift ;;
    -h | --help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || ecm_die "-n: '$n' is not a positive number"
[[ $replicas =~ ^[1-3]$ ]] || ecm_die "-r: '$replicas' is not 1, 2 or 3"
[[ $every =~ ^[1-9][0-9]*$ ]] || ecm_die "-s: '$every' is not a positive number of seconds"
devstack=$ECM_ROOT/scripts/devstack.sh
out=$ECM_DEV_DIR/logs/chaos
mkdir -p "$out"
trap '"$devstack" stop >/dev/null 2>&1 || true' EXIT
export ECM_DEV_REPLICAS=$replicas ECM_DEV_DROP_DIR=
export ECM_SIM_DIAL_RATE=${ECM_SIM_DIAL_RATE:-2000} ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-1000}
export ECM_SMS_CONCURRENCY=${ECM_SMS_CONCURRENCY:-32}
# A killed sms replica's messages without a DLR are sent again after this
# (docs/replicas.md): above Kannel's DLR retry window, below the run's bound.
export ECM_SMS_RESEND_AFTER_S=${ECM_SMS_RESEND_AFTER_S:-180}
# A cut upload is marked interrupted (and can be resumed) after 5 s.
export ECM_GATEWAY_UPLOAD_LEASE_S=${ECM_GATEWAY_UPLOAD_LEASE_S:-5}
export ECM_GATEWAY_UPLOAD_SWEEP_S=${ECM_GATEWAY_UPLOAD_SWEEP_S:-1}

ecm_say "$n + $n contacts, $replicas replica(s), a kill every ${every}s, seed $seed;" \
    "load: $(uptime | sed 's/.*load average: //')"
"$devstack" reset >"$out/stack.log" 2>&1
"$devstack" start >>"$out/stack.log" 2>&1 || ecm_die "stack did not start (see $out/stack.log)"
rc=0
"$ECM_ROOT/tests/e2e/workload.sh" -n "$n" --chaos "$every" --seed "$seed" \
    --timeout $((600 + n / 20)) 2>&1 | tee "$out/run.log" || rc=${PIPESTATUS[0]}
ecm_say "load after: $(uptime | sed 's/.*load average: //'); logs in $out and $ECM_DEV_DIR/logs"
"$devstack" stop --keep-pg >>"$out/stack.log" 2>&1 || {
    ecm_warn "a process did not stop cleanly (see $out/stack.log)"
    rc=1
}
exit "$rc"
