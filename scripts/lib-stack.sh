# shellcheck shell=bash
# Part of scripts/lib.sh (sourced by it): starting or stopping several stack
# processes together, each still waited for and reported on its own.

# ---------------------------------------------------------------- many processes

# 0 while stack process NAME (started by ecm_spawn_service) runs: its pid
# lives and its wrapper wrote no exit file. Cheaper than ecm_pid, for polling
# a process this shell just started.
ecm__alive() {
    local pid
    [[ ! -e $(ecm__exitfile "$1") ]] || return 1
    read -r pid 2>/dev/null <"$(ecm__pidfile "$1")" || return 1
    kill -0 "$pid" 2>/dev/null
}

# Starts NAME... together (each as ecm_start_service does, the gateway's admin
# key and console user included) and waits until every one is ready or has
# failed. Each failure is reported by name with its log's last 20 lines.
# Returns 1 if any did not get ready within ECM_READY_TIMEOUT_S.
ecm_start_services() {
    local n i pending=() still rc=0 t0=$SECONDS hook=() spawns=() run=$ECM_DEV_DIR/run
    local hook_out=$run/gateway-hook.out names=("$@")
    # Spawned together too: each spawn is mostly the shell's own work.
    for n in "${names[@]}"; do
        ecm_spawn_service "$n" >"$run/$n.spawn" 2>&1 &
        spawns+=($!)
    done
    for ((i = 0; i < ${#names[@]}; i++)); do
        n=${names[i]}
        if wait "${spawns[i]}"; then pending+=("$n"); else rc=1; fi
        cat "$run/$n.spawn" >&2
        rm -f "$run/$n.spawn"
    done
    while ((${#pending[@]})); do
        still=()
        for n in "${pending[@]}"; do
            if ecm_ready_probe "$n"; then
                if [[ $n == gateway ]]; then
                    (ecm_api_key_ensure && ecm_console_user_ensure) >"$hook_out" 2>&1 &
                    hook=($!)
                fi
            elif ! ecm__alive "$n"; then
                ecm_warn "$n exited (status $(ecm_exit_code "$n")) before it was ready; last lines of $ECM_DEV_DIR/logs/$n.log:"
                tail -n 20 "$ECM_DEV_DIR/logs/$n.log" >&2
                rc=1
            elif ((SECONDS - t0 >= ECM_READY_TIMEOUT_S)); then
                ecm_warn "$n not ready on :$(ecm_http_port "$n") after ${ECM_READY_TIMEOUT_S}s; last lines of $ECM_DEV_DIR/logs/$n.log:"
                tail -n 20 "$ECM_DEV_DIR/logs/$n.log" >&2
                rc=1
            else
                still+=("$n")
            fi
        done
        pending=("${still[@]}")
        ((${#pending[@]} == 0)) || sleep 0.2
    done
    if ((${#hook[@]})); then
        wait "${hook[0]}" || rc=1
        cat "$hook_out" >&2
        ecm_env_load # the admin key the hook made
    fi
    return $rc
}

# Waits until second $2 (of $SECONDS) for stack process $1 to have exited;
# returns 1 on timeout. A process gone without an exit file (its wrapper was
# killed too) gets exit status "unknown" after 5 s.
ecm__wait_exit_until() {
    local name=$1 deadline=$2 pid pf ef i
    pf=$(ecm__pidfile "$name")
    ef=$(ecm__exitfile "$name")
    pid=$(cat "$pf" 2>/dev/null || true)
    while :; do
        [[ -e $ef ]] && return 0
        ((SECONDS < deadline)) || return 1
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            for ((i = 0; i < 50; i++)); do
                [[ -e $ef ]] && return 0
                sleep 0.1
            done
            echo "unknown" >"$ef"
            return 0
        fi
        sleep 0.1
    done
}

# Stops NAME... together: SIGTERM to every one that runs (saying "stopping
# NAME" with --say), then each gets ECM_STOP_TIMEOUT_S from its SIGTERM to
# exit before SIGKILL. Returns 0 when each exited 0 on SIGTERM, or was not
# running because it never started, exited 0 or was killed by ecm_kill9;
# otherwise prints how each other one ended and returns 1.
ecm_stop_services() {
    local say=0 n pid code rc=0 names=() pids=() deadline i
    [[ ${1:-} != --say ]] || {
        say=1
        shift
    }
    for n in "$@"; do
        if ! pid=$(ecm_pid "$n"); then
            code=$(ecm_exit_code "$n")
            if [[ -n $code && $code != 0 && ! -e $ECM_DEV_DIR/run/$n.killed ]]; then
                ecm_warn "$n had already exited with status $code; see $ECM_DEV_DIR/logs/$n.log"
                rc=1
            fi
            continue
        fi
        ((say == 0)) || ecm_say "stopping $n"
        kill -TERM "$pid" 2>/dev/null || true
        names+=("$n")
        pids+=("$pid")
    done
    deadline=$((SECONDS + ECM_STOP_TIMEOUT_S))
    for ((i = 0; i < ${#names[@]}; i++)); do
        n=${names[i]}
        if ! ecm__wait_exit_until "$n" "$deadline"; then
            ecm_warn "$n did not exit within ${ECM_STOP_TIMEOUT_S}s of SIGTERM: SIGKILL"
            kill -KILL "${pids[i]}" 2>/dev/null || true
            ecm__wait_exit_until "$n" $((SECONDS + 5)) || true
            rc=1
            continue
        fi
        code=$(ecm_exit_code "$n")
        if [[ $code != 0 ]]; then
            ecm_warn "$n exited with status $code on SIGTERM (expected 0); see $ECM_DEV_DIR/logs/$n.log"
            rc=1
        fi
    done
    return $rc
}
