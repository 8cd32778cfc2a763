#!/usr/bin/env bash
# The ECM dev stack on one machine, everything under .dev/ of the working tree:
# a private PostgreSQL 15 cluster, the dev Kafka broker, the Cisco simulator,
# Kannel (bearerbox, smsbox, fakesmsc), the SMS gateway simulator and the
# services. See `usage` below and scripts/lib.sh for the ports.
set -euo pipefail
ECM_SCRIPT=devstack
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The drop folder: $ECM_DEV_DIR/drop unless ECM_DEV_DROP_DIR says otherwise
# (set but empty: no dropbox, as the scenarios run the stack).
ECM_DEV_DROP_DIR=${ECM_DEV_DROP_DIR-$ECM_DEV_DIR/drop}

usage() {
    cat <<EOF
usage: scripts/devstack.sh COMMAND
  start [NAME...]   start PostgreSQL, then NAME... (default: ${ECM_PROCS[*]}):
                    the broker, simulators and Kannel together, then the services
                    together, then the dropbox, each waited for until ready;
                    ${ECM_OPTIONAL[*]} is skipped (with a warning) while its binary is not built
  stop [--keep-pg]  SIGTERM the processes in the reverse steps (SIGKILL after
                    ${ECM_STOP_TIMEOUT_S}s each), then stop PostgreSQL; exits 1 if a process
                    did not exit 0 on SIGTERM
  status            what runs, on which port, ready or not
  env               export lines for the shell: eval "\$(scripts/devstack.sh env)"
  reset             stop the processes, keep PostgreSQL, drop and re-create the
                    databases (${ECM_DEV_DATABASES[*]}), empty Kannel's store
Drop folder: start also runs ecm-dropbox (port base+86), after the gateway, on
ECM_DEV_DROP_DIR (default $ECM_DEV_DIR/drop; set it empty for none) with a
supervisor API key it makes ($ECM_DEV_DIR/secrets/drop-api-key): a file put in
<campaign id>/ there is uploaded, then moved to archive/ or failed/
(docs/dropfolder.md). "start dropbox" starts it alone.
Console: starting the gateway makes the admin user "admin" once per database,
its random password in $ECM_DEV_DIR/secrets/console-password ("env" prints
both as ECM_DEV_CONSOLE_USER and ECM_DEV_CONSOLE_PASSWORD); the dev gateway's
session cookie is not Secure (plain HTTP on loopback).
Replicas: ECM_DEV_REPLICAS=N (1 to $ECM_MAX_REPLICAS, default 1) runs N of each of
${ECM_REPLICATED[*]}: replica k >= 2 is the stack
process NAME-k (feeder-2), on port base+50.. (k = 2) or base+60.. (k = 3), with
its own pid and log, on the same database and consumer groups; "start feeder-2"
starts one alone; stop and status see every replica that runs.
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

# ---- the drop folder's service (ecm-dropbox), run unless ECM_DEV_DROP_DIR is empty
DROP_NAME=dropbox
drop_port() { echo $((ECM_DEV_PORT_BASE + 86)); }

# The dropbox's supervisor API key, made once per database like the admin
# key (a key file the database no longer knows, after a reset, is replaced).
# Prints the key file's path.
drop_key_ensure() {
    local file=$ECM_DEV_DIR/secrets/drop-api-key key code
    key=$(cat "$file" 2>/dev/null || true)
    if [[ -n $key ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
            -H "Authorization: Bearer $key" "$ECM_DEV_API_URL/api/v1/uploads?limit=1" || true)
        [[ $code == 200 ]] || key=
    fi
    if [[ -z $key ]]; then
        key=$(ECM_PG_DSN=$ECM_DEV_PG_DSN "$ECM_BIN_DIR/ecm-gateway" keys create \
            --role supervisor --name "dev stack dropbox" 2>>"$ECM_DEV_DIR/logs/keys.log") ||
            ecm_die "could not create the dropbox's API key (see $ECM_DEV_DIR/logs/keys.log)"
        (umask 077 && printf '%s\n' "$key" >"$file")
    fi
    echo "$file"
}

# drop_env [PORT]: the dropbox's environment in DROP_ENV (port default
# base+86): the stack's database, broker and gateway, the folder
# $ECM_DEV_DROP_DIR, the key file; ECM_DROP_* from the caller win.
drop_env() {
    local port=${1:-$(drop_port)} clock keyfile=${ECM_DROP_API_KEY_FILE:-}
    ecm_env_load
    [[ -n ${ECM_DEV_DROP_DIR:-} ]] || ecm_die "ECM_DEV_DROP_DIR is not set"
    mkdir -p "$ECM_DEV_DROP_DIR"
    [[ -n $keyfile ]] || keyfile=$(drop_key_ensure) || exit 1
    DROP_ENV=("ECM_HTTP_BIND=${ECM_HTTP_BIND:-127.0.0.1}" "ECM_HTTP_PORT=$port"
        "ECM_PG_DSN=$ECM_DEV_PG_DSN" "ECM_KAFKA_BROKERS=$ECM_DEV_KAFKA_BROKERS"
        "ECM_DROP_DIR=$ECM_DEV_DROP_DIR" "ECM_DROP_API_URL=$ECM_DEV_API_URL"
        "ECM_DROP_API_KEY_FILE=$keyfile"
        "ECM_DROP_SCAN_MS=${ECM_DROP_SCAN_MS:-500}" "ECM_DROP_SETTLE_S=${ECM_DROP_SETTLE_S:-3}")
    while IFS= read -r clock; do
        [[ -z $clock ]] || DROP_ENV+=("$clock")
    done < <(ecm_clock_env)
}

# drop_start [NAME [PORT]]: starts an ecm-dropbox as stack process NAME
# (default dropbox; pid and exit files as every process's, so ecm_pid,
# ecm_kill9 and ecm_stop_service work on it) and waits until it is ready.
drop_start() {
    local name=${1:-$DROP_NAME} port=${2:-$(drop_port)} bin=$ECM_BIN_DIR/ecm-dropbox pf ef log i
    [[ -x $bin ]] || ecm_die "$bin not found: build first"
    if [[ $name != "$DROP_NAME" ]]; then
        # ecm_pid knows a process by its binary's name (ecm-NAME): another
        # replica runs through a link of that name.
        mkdir -p "$ECM_DEV_DIR/run/bin"
        ln -sfn "$bin" "$ECM_DEV_DIR/run/bin/ecm-$name"
        bin=$ECM_DEV_DIR/run/bin/ecm-$name
    fi
    if ecm_pid "$name" >/dev/null; then
        ecm_say "$name already running (pid $(ecm_pid "$name"))"
        return 0
    fi
    drop_env "$port"
    pf=$ECM_DEV_DIR/run/$name.pid
    ef=$ECM_DEV_DIR/run/$name.exit
    log=$ECM_DEV_DIR/logs/$name.log
    rm -f "$pf" "$ef" "$ECM_DEV_DIR/run/$name.killed"
    ecm_say "starting $name on :$port (folder $ECM_DEV_DROP_DIR)"
    # The same wrapper as scripts/lib.sh's ecm_spawn_service: only a parent
    # can read the exit status.
    # shellcheck disable=SC2016
    setsid bash -c '
        pf=$1 ef=$2
        shift 2
        "$@" &
        child=$!
        echo "$child" >"$pf.tmp" && mv "$pf.tmp" "$pf"
        wait "$child"
        echo $? >"$ef.tmp" && mv "$ef.tmp" "$ef"
    ' ecm-wrap "$pf" "$ef" env "${DROP_ENV[@]}" "$bin" </dev/null >>"$log" 2>&1 &
    for ((i = 0; i < 100; i++)); do
        [[ -s $pf ]] && break
        sleep 0.05
    done
    for ((i = 0; i < ECM_READY_TIMEOUT_S * 5; i++)); do
        curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
        if ! ecm_pid "$name" >/dev/null; then
            ecm_warn "$name exited before it was ready; last lines of $log:"
            tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    ecm_warn "$name not ready on :$port after ${ECM_READY_TIMEOUT_S}s"
    tail -n 20 "$log" >&2
    return 1
}

# Starts the processes NAME... in three steps, each process of a step
# started together with the others and all waited for: what the services
# need (the broker, the simulators, Kannel), then the services (each
# migrates the ECM DB at start under an advisory lock: the first applies the
# migrations, the others wait for it and find nothing left to do), then the
# dropbox (a client of the gateway).
cmd_start() {
    local names=("$@") n infra=() services=() drop=0 ckpt
    ((${#names[@]})) || names=("${ECM_PROCS[@]}")
    if [[ -n ${ECM_DEV_DROP_DIR:-} && " ${names[*]} " == *" gateway "* &&
        " ${names[*]} " != *" $DROP_NAME "* ]]; then
        names+=("$DROP_NAME")
    fi
    ecm_pg_start
    # What a reset's new databases left dirty is written out now, beside the
    # start, rather than by the next reset's DROP DATABASE (its checkpoint).
    ecm__psql_admin -c CHECKPOINT >/dev/null 2>&1 &
    ckpt=$!
    ecm_clock_init
    for n in "${names[@]}"; do
        [[ $n == pg ]] && continue
        if [[ $n == "$DROP_NAME" ]]; then
            drop=1
            continue
        fi
        if ecm_skippable "$n"; then
            ecm_warn "warning: skipping $n: $ECM_BIN_DIR/ecm-$n is not built"
            continue
        fi
        if ecm_pid "$n" >/dev/null; then
            ecm_say "$n already running (pid $(ecm_pid "$n"))"
            continue
        fi
        ecm_say "starting $n on :$(ecm_http_port "$n")"
        if [[ " ${ECM_REPLICATED[*]} " == *" $(ecm_replica_base "$n") "* ]]; then
            services+=("$n")
        else
            infra+=("$n")
        fi
    done
    ecm_start_services "${infra[@]}" || exit 1
    ecm_start_services "${services[@]}" || exit 1
    if ((drop)); then
        drop_start || exit 1
    fi
    wait "$ckpt" || true
    if [[ " ${names[*]} " == *" gateway "* ]]; then
        ecm_say "ready: API $ECM_DEV_API_URL, logs in $ECM_DEV_DIR/logs"
    fi
    if [[ " ${names[*]} " == *" kannel "* ]]; then
        ecm_say "kannel: sendsms $ECM_DEV_KANNEL_SENDSMS_URL (user $ECM_DEV_KANNEL_USER), MTs in $ECM_DEV_FAKESMSC_LOG"
    fi
}

# Stops the processes in reverse order of start's steps, the processes of a
# step together; returns 1 if one broke the SIGTERM contract (exit 0 within
# the bound).
stop_processes() {
    local n k i rc=0 services infra=()
    # The dropboxes first (a test's second replica too): they are the
    # gateway's clients.
    ecm_stop_services --say "$DROP_NAME" "$DROP_NAME"2 || rc=1
    # The services together, unless replicas run (whatever ECM_DEV_REPLICAS
    # says now: the stack may have been started with more). Then one after
    # the other as they started, backwards: a member told to stop while its
    # group rebalances after another member left takes ~5 s to close.
    services=()
    for n in "${ECM_REPLICATED[@]}"; do
        for ((k = ECM_MAX_REPLICAS; k >= 2; k--)); do
            ! ecm__alive "$n-$k" || services+=("$n-$k")
        done
    done
    if ((${#services[@]})); then
        for ((k = ${#ECM_REPLICATED[@]} - 1; k >= 0; k--)); do
            for ((i = ECM_MAX_REPLICAS; i >= 1; i--)); do
                n=${ECM_REPLICATED[k]}
                ((i == 1)) || n+=-$i
                ecm_stop_services --say "$n" || rc=1
            done
        done
    else
        ecm_stop_services --say "${ECM_REPLICATED[@]}" || rc=1
    fi
    for n in "${ECM_PROCS[@]}"; do
        [[ " ${ECM_REPLICATED[*]} " == *" $(ecm_replica_base "$n") "* ]] || infra=("$n" "${infra[@]}")
    done
    ecm_stop_services --say "${infra[@]}" || rc=1
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
        printf '%-18s %-22s :%-6s %s\n' postgres "running" "$ECM_DEV_PG_PORT" "$state"
    else
        printf '%-18s %-22s :%-6s\n' postgres "stopped" "$ECM_DEV_PG_PORT"
    fi
    if pid=$(ecm_pid "$DROP_NAME"); then
        printf '%-18s %-22s :%-6s %s\n' "$DROP_NAME" "running (pid $pid)" "$(drop_port)" \
            "folder ${ECM_DEV_DROP_DIR:-?}"
    fi
    local procs=("${ECM_PROCS[@]}")
    # Replicas started with a larger ECM_DEV_REPLICAS than this shell's.
    while IFS= read -r n; do
        [[ " ${procs[*]} " == *" $n "* || ! -e $ECM_DEV_DIR/run/$n.pid ]] || procs+=("$n")
    done < <(ecm_replica_names "$ECM_MAX_REPLICAS")
    for n in "${procs[@]}"; do
        local port
        port=$(ecm_http_port "$n")
        if pid=$(ecm_pid "$n"); then
            if ecm_ready_probe "$n"; then
                state=ready
            else
                state="not ready"
            fi
            printf '%-18s %-22s :%-6s %s\n' "$n" "running (pid $pid)" "$port" "$state"
        elif ecm_skippable "$n"; then
            printf '%-18s %-22s :%-6s\n' "$n" "not built" "$port"
        elif [[ -n $(ecm_exit_code "$n") ]]; then
            printf '%-18s %-22s :%-6s\n' "$n" "exited ($(ecm_exit_code "$n"))" "$port"
        else
            printf '%-18s %-22s :%-6s\n' "$n" "not started" "$port"
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
drop-start)
    # drop-start NAME PORT: one more ecm-dropbox on the same folder (a
    # second replica, for tests); stopped by "stop" when named dropbox2.
    shift
    ecm_pg_start
    ecm_clock_init
    drop_start "$@"
    ;;
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
