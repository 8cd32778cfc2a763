#!/usr/bin/env bash
# The ECM dev stack on one machine, everything under .dev/ of the working tree:
# a private PostgreSQL 15 cluster, the dev Kafka broker, the Cisco simulator,
# Kannel (bearerbox, smsbox, fakesmsc), the SMS gateway simulator and the
# services. See `usage` below and scripts/lib.sh for the ports.
set -euo pipefail
ECM_SCRIPT=devstack
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
usage: scripts/devstack.sh COMMAND
  start [NAME...]   start PostgreSQL, then NAME... (default: ${ECM_PROCS[*]}),
                    each waited for until ready; ${ECM_OPTIONAL[*]} is skipped (with a
                    warning) while its binary is not built
  stop [--keep-pg]  SIGTERM every process in reverse order (SIGKILL after
                    ${ECM_STOP_TIMEOUT_S}s), then stop PostgreSQL; exits 1 if a process did not
                    exit 0 on SIGTERM
  status            what runs, on which port, ready or not
  env               export lines for the shell: eval "\$(scripts/devstack.sh env)"
  reset             stop the processes, keep PostgreSQL, drop and re-create the
                    databases (${ECM_DEV_DATABASES[*]}), empty Kannel's store
Ports from ECM_DEV_PORT_BASE=$ECM_DEV_PORT_BASE; binaries from ECM_BIN_DIR=$ECM_BIN_DIR;
logs in $ECM_DEV_DIR/logs. Other ECM_* variables pass through to the processes.
Business clock: ECM_DEV_CLOCK=midday (default: 12:00 UTC today, so legal calling
hours are open), real, or an RFC 3339 instant; ECM_DEV_CLOCK_RATE=n runs it n
times faster; ECM_DEV_CLOCK_HELD=1 holds it at its start until released (a test's
set-up takes no business time; control file $ECM_DEV_DIR/run/clock.ctl, see
scripts/lib.sh ecm_clock_release). Fixed at start in $ECM_DEV_DIR/run/clock.env
until reset.
EOF
}

cmd_start() {
    local names=("$@") n
    ((${#names[@]})) || names=("${ECM_PROCS[@]}")
    ecm_pg_start
    ecm_clock_init
    for n in "${names[@]}"; do
        [[ $n == pg ]] && continue
        if ecm_skippable "$n"; then
            ecm_warn "warning: skipping $n: $ECM_BIN_DIR/ecm-$n is not built"
            continue
        fi
        if ecm_pid "$n" >/dev/null; then
            ecm_say "$n already running (pid $(ecm_pid "$n"))"
            continue
        fi
        ecm_say "starting $n on :$(ecm_http_port "$n")"
        ecm_start_service "$n" || exit 1
    done
    if [[ " ${names[*]} " == *" gateway "* ]]; then
        ecm_say "ready: API $ECM_DEV_API_URL, logs in $ECM_DEV_DIR/logs"
    fi
    if [[ " ${names[*]} " == *" kannel "* ]]; then
        ecm_say "kannel: sendsms $ECM_DEV_KANNEL_SENDSMS_URL (user $ECM_DEV_KANNEL_USER), MTs in $ECM_DEV_FAKESMSC_LOG"
    fi
}

# Stops the processes in reverse start order; returns 1 if one broke the
# SIGTERM contract (exit 0 within the bound).
stop_processes() {
    local i n rc=0
    for ((i = ${#ECM_PROCS[@]} - 1; i >= 0; i--)); do
        n=${ECM_PROCS[i]}
        ! ecm_pid "$n" >/dev/null || ecm_say "stopping $n"
        ecm_stop_service "$n" || rc=1
    done
    return $rc
}

cmd_stop() {
    local keep_pg=0 rc=0
    [[ ${1:-} == --keep-pg ]] && keep_pg=1
    stop_processes || rc=1
    # The next start sets the business clock afresh.
    rm -f "$(ecm__clock_file)" "$(ecm__clock_ctl_file)"
    ((keep_pg)) || ecm_pg_stop || rc=1
    return $rc
}

cmd_status() {
    ecm_env_load
    local n pid state
    if ecm_pg_running; then
        if pg_isready -q -h 127.0.0.1 -p "$ECM_DEV_PG_PORT" -t 1; then state=ready; else state=starting; fi
        printf '%-12s %-22s :%-6s %s\n' postgres "running" "$ECM_DEV_PG_PORT" "$state"
    else
        printf '%-12s %-22s :%-6s\n' postgres "stopped" "$ECM_DEV_PG_PORT"
    fi
    for n in "${ECM_PROCS[@]}"; do
        local port
        port=$(ecm_http_port "$n")
        if pid=$(ecm_pid "$n"); then
            if ecm_ready_probe "$n"; then
                state=ready
            else
                state="not ready"
            fi
            printf '%-12s %-22s :%-6s %s\n' "$n" "running (pid $pid)" "$port" "$state"
        elif ecm_skippable "$n"; then
            printf '%-12s %-22s :%-6s\n' "$n" "not built" "$port"
        elif [[ -n $(ecm_exit_code "$n") ]]; then
            printf '%-12s %-22s :%-6s\n' "$n" "exited ($(ecm_exit_code "$n"))" "$port"
        else
            printf '%-12s %-22s :%-6s\n' "$n" "not started" "$port"
        fi
    done
}

cmd_reset() {
    stop_processes 2>/dev/null || true
    # Pid files too: a pid of a stopped stack may name another process by now.
    rm -f "$ECM_DEV_DIR"/run/*.exit "$ECM_DEV_DIR"/run/*.pid "$ECM_DEV_DIR"/run/*.killed \
        "$(ecm__clock_file)" "$(ecm__clock_ctl_file)"
    # Messages Kannel stored for a stack whose databases are going away, and
    # what its fake SMSC received for them.
    ecm_env_load
    rm -rf "$ECM_DEV_DIR/kannel/store"
    rm -f "$ECM_DEV_FAKESMSC_LOG"
    ecm_pg_start
    ecm_say "re-creating databases ${ECM_DEV_DATABASES[*]}"
    ecm_pg_reset_dbs
}

case ${1:-} in
start)
    shift
    cmd_start "$@"
    ;;
stop)
    shift
    cmd_stop "$@"
    ;;
status) cmd_status ;;
env)
    ecm_env_load
    ecm_env_print
    ;;
reset) cmd_reset ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
