#!/usr/bin/env bash
# Kannel for the dev stack, in the foreground (scripts/devstack.sh starts it as
# the process "kannel"): writes the configuration (ecm_kannel_write_conf in
# scripts/lib.sh), starts bearerbox, then fakesmsc (Kannel's fake SMSC client,
# which receives every MT; its log is $ECM_DEV_DIR/logs/fakesmsc.log), then
# smsbox, and watches them. On SIGTERM or SIGINT it stops smsbox, bearerbox and
# fakesmsc in that order and exits 0 when each ended cleanly, 1 otherwise. When
# smsbox dies on its own it is started again, as a deployment's supervisor
# would (Kannel 1.4.5's smsbox can PANIC in conn_unregister when hundreds of
# its callback connections are reset at once: an sms replica SIGKILLed in
# scripts/chaos.sh at 100,000); more than 5 deaths
# in 5 minutes, or bearerbox or fakesmsc dying, stops the others and exits 1.
#   scripts/kannel.sh [conf]   conf: only write the configuration, print its path
set -euo pipefail
ECM_SCRIPT=kannel
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ecm_env_load

conf=$(ecm_kannel_write_conf)
[[ ${1:-} != conf ]] || {
    echo "$conf"
    exit 0
}

bearerbox=$ECM_KANNEL_BIN_DIR/bearerbox
smsbox=$ECM_KANNEL_BIN_DIR/smsbox
for b in "$bearerbox" "$smsbox" "$ECM_FAKESMSC"; do
    [[ -x $b ]] || ecm_die "$b not found: run scripts/install-deps.sh (packages kannel, kannel-extras)"
done
logs=$ECM_DEV_DIR/logs
fakesmsc_log=$ECM_DEV_FAKESMSC_LOG

stop_requested=0
trap 'stop_requested=1' TERM INT

bb_pid='' sb_pid='' fs_pid=''

# Sends SIG to PID (if alive) and waits up to SECS for it; prints its exit
# status, or "killed" after a SIGKILL.
stop_child() {
    local pid=$1 sig=$2 secs=$3 what=$4 t0=$SECONDS rc=0
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < secs)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            ecm_warn "$what did not stop within ${secs}s of SIG$sig: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 1
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    # fakesmsc leaves through SIGINT's handler with 0; the boxes exit 0 on SIGTERM.
    if ((rc != 0)); then
        ecm_warn "$what exited with status $rc"
        return 1
    fi
}

# Stops everything and exits: 0 when each ended cleanly and $1 (default 0) is 0.
shutdown() {
    local rc=${1:-0}
    stop_child "$sb_pid" TERM 15 smsbox || rc=1
    stop_child "$bb_pid" TERM 20 bearerbox || rc=1
    # bearerbox closing the fake SMSC ends fakesmsc; SIGINT in case it did not.
    stop_child "$fs_pid" INT 5 fakesmsc || rc=1
    ecm_say "stopped (status $rc)"
    exit "$rc"
}

# Waits up to ECM_READY_TIMEOUT_S for CMD to succeed while PID lives.
wait_until() {
    local pid=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@"; do
        ((stop_requested == 0)) || shutdown
        if ! kill -0 "$pid" 2>/dev/null; then
            ecm_warn "$what exited during start-up; see $logs"
            shutdown 1
        fi
        if ((SECONDS - t0 >= ECM_READY_TIMEOUT_S)); then
            ecm_warn "$what not up after ${ECM_READY_TIMEOUT_S}s; see $logs"
            shutdown 1
        fi
        sleep 0.2
    done
}

# Probes for wait_until. The page is captured first: with pipefail, grep -q
# ending early could fail the pipeline through curl's SIGPIPE.
# shellcheck disable=SC2317 # called through wait_until
status_has() {
    local st
    st=$(ecm_kannel_status) || return 1
    [[ -z $1 ]] || grep -qE "$1" <<<"$st"
}
# shellcheck disable=SC2317
status_answers() { status_has ''; }
# shellcheck disable=SC2317
fake_online() { status_has '^[[:space:]]+fake\[fake\][[:space:]].*\(online'; }
# shellcheck disable=SC2317
smsbox_connected() { status_has '^[[:space:]]+smsbox:'; }

ecm_say "bearerbox $conf (as $(id -un))"
# -v 2: warnings and worse on stderr (this log); the full log is bearerbox.log.
"$bearerbox" -v 2 "$conf" &
bb_pid=$!
wait_until "$bb_pid" bearerbox status_answers

ecm_say "fakesmsc -> 127.0.0.1:$(ecm_port kannel-fake) (log: $fakesmsc_log)"
# -m 0: sends nothing, only receives; every MT is one "Got message" line.
"$ECM_FAKESMSC" -H 127.0.0.1 -r "$(ecm_port kannel-fake)" -m 0 "0 0 text unused" \
    </dev/null >>"$fakesmsc_log" 2>&1 &
fs_pid=$!
wait_until "$fs_pid" fakesmsc fake_online

start_smsbox() {
    "$smsbox" -v 2 "$conf" &
    sb_pid=$!
    wait_until "$sb_pid" smsbox smsbox_connected
}

ecm_say "smsbox, sendsms on 127.0.0.1:$(ecm_port kannel-sendsms)"
start_smsbox
ecm_say "ready: sendsms $ECM_DEV_KANNEL_SENDSMS_URL, status $ECM_DEV_KANNEL_STATUS_URL"

sb_deaths=() # when smsbox died on its own (SECONDS), the last 5 minutes
while ((stop_requested == 0)); do
    # Returns when a child ends or a trapped signal arrives.
    wait -n "$bb_pid" "$sb_pid" "$fs_pid" 2>/dev/null || true
    ((stop_requested == 0)) || break
    for p in bearerbox:$bb_pid fakesmsc:$fs_pid; do
        if ! kill -0 "${p#*:}" 2>/dev/null; then
            ecm_warn "${p%%:*} (pid ${p#*:}) died; stopping Kannel"
            stop_requested=2
        fi
    done
    if ((stop_requested == 0)) && ! kill -0 "$sb_pid" 2>/dev/null; then
        rc=0
        wait "$sb_pid" 2>/dev/null || rc=$?
        recent=()
        for t in "${sb_deaths[@]}" "$SECONDS"; do ((SECONDS - t > 300)) || recent+=("$t"); done
        sb_deaths=("${recent[@]}")
        if ((${#sb_deaths[@]} > 5)); then
            ecm_warn "smsbox (pid $sb_pid) died (status $rc), ${#sb_deaths[@]} times in 5 minutes; stopping Kannel"
            stop_requested=2
        else
            ecm_warn "smsbox (pid $sb_pid) died (status $rc); starting it again (see smsbox.log)"
            start_smsbox
        fi
    fi
done
if ((stop_requested == 2)); then
    shutdown 1
fi
shutdown
