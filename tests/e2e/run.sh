#!/usr/bin/env bash
# Runs the whole-system scenarios tests/e2e/t_*.sh (or those named), each on a
# fresh dev stack (see tests/e2e/lib.sh for the headers a scenario may carry),
# and ends with "N passed, N failed"; exits 1 if any failed.
#   tests/e2e/run.sh [t_name ...]
# Each scenario's output and the stack's logs end up in .dev/logs/e2e/<name>/.
# Every answer a scenario gets through api() (scripts/lib.sh) is logged to
# api-exchanges.jsonl there (ECM_API_EXCHANGE_LOG) and, once the scenario
# passed, held to api/openapi.yaml by tests/api/openapi_check.py: an answer
# that does not conform, or a route or status the document lacks, fails it.
set -euo pipefail
ECM_SCRIPT=e2e
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$here/../../scripts/lib.sh"

# Kannel sends its delivery reports on its own time and retries one the sms
# service does not take; a report still on its way when the stack stops
# finds the service gone, and smsbox then exits 1 on SIGTERM. So before the
# stop, wait until no report has come for 2 s (30 s at most).
sms_reports_quiet() {
    local prev=-1 n _
    for _ in $(seq 15); do
        n=$(ecm_psql -tA -c "SELECT count(*) FROM sms_dlrs" 2>/dev/null) || return 0
        [[ $n == "$prev" ]] && return 0
        prev=$n
        sleep 2
    done
}
devstack=$ECM_ROOT/scripts/devstack.sh

# A scenario waits for a state (e2e_wait_for, tests/e2e/lib.sh), never for a
# fixed time it assumes is enough. Prints each `sleep` in the scenarios
# (t_*.sh) and checks.sh whose line does not say why with
# `# sleep-ok: <why>`; returns 1 if there is one.
lint_sleeps() {
    awk '
        /# sleep-ok: *[^ ]/ { next }
        {
            code = $0
            sub(/(^|[ \t])#.*$/, "", code)
            if (code ~ /(^|[^A-Za-z0-9_.-])sleep([ \t]|$)/) {
                printf "%s:%d: %s\n", FILENAME, FNR, $0
                bad = 1
            }
        }
        END { exit bad }' "$here"/t_*.sh "$here"/checks.sh
}
default_timeout=${ECM_E2E_TIMEOUT_S:-900}

scenarios=()
if (($#)); then
    for a in "$@"; do
        a=$(basename "$a" .sh)
        [[ -f $here/$a.sh ]] || ecm_die "no scenario $here/$a.sh"
        scenarios+=("$here/$a.sh")
    done
else
    for f in "$here"/t_*.sh; do [[ -e $f ]] && scenarios+=("$f"); done
fi
((${#scenarios[@]})) || ecm_die "no scenarios in $here"

pg_was_running=0
ecm_pg_running && pg_was_running=1

# Header value(s) of a scenario: `# KEY: value` lines.
header() { sed -n "s/^# $2: *//p" "$1"; }

# The queue runs longest first (`# e2e-seconds: N`, tests/e2e/lib.sh), so
# the slowest scenario does not start last and run alone while the other
# lanes are idle. A scenario without the header counts as 0 s; ties keep
# their order.
by_length=()
for f in "${scenarios[@]}"; do
    s=$(header "$f" e2e-seconds | head -n 1)
    [[ ${s:=0} =~ ^[0-9]+$ ]] || ecm_die "$f: e2e-seconds must be a whole number (got '$s')"
    by_length+=("$s"$'\t'"$f")
done
mapfile -t scenarios < <(printf '%s\n' "${by_length[@]}" | sort -s -t $'\t' -k1,1nr | cut -f 2-)

# Moves the stack processes' logs into DIR: each scenario's stack writes fresh ones.
collect_logs() {
    local n
    mkdir -p "$1"
    for n in "${ECM_PROCS[@]/%/.log}" "${ECM_EXTRA_LOGS[@]}"; do
        [[ ! -f $ECM_DEV_DIR/logs/$n ]] || mv "$ECM_DEV_DIR/logs/$n" "$1/"
    done
}
# Logs of an earlier stack are kept apart rather than mixed into the first scenario's.
collect_logs "$ECM_DEV_DIR/logs/before-e2e"

failed_lint=0
if ! lint_sleeps >"$ECM_DEV_DIR/logs/e2e-lint.log"; then
    cat "$ECM_DEV_DIR/logs/e2e-lint.log"
    echo "--- FAIL lint: a bare sleep above; wait for the state with e2e_wait_for" \
        "(tests/e2e/lib.sh), or say why a fixed pause is right with '# sleep-ok: <why>'"
    failed_lint=1
fi
# Runs scenario $1 on the stack of $ECM_DEV_DIR: prints its output and a
# "--- PASS|FAIL name" line, and adds "pass|fail name" to $results.
run_one() {
    local f=$1 name out t0 verdict reason rc log
    name=$(basename "$f" .sh)
    out=$log_root/$name
    rm -rf "$out"
    mkdir -p "$out"
    t0=$SECONDS
    verdict=pass
    reason=
    (
        # No drop folder service unless a scenario asks for one (t_drop_folder).
        export ECM_DEV_DROP_DIR=
        # Scenario-specific settings reach the stack and the scenario, nothing else.
        while IFS= read -r kv; do
            [[ -n $kv ]] && export "${kv?}"
        done < <(header "$f" e2e-env)
        # The business clock held at its start until the scenario releases it.
        [[ $(header "$f" e2e-clock) != *held* ]] || export ECM_DEV_CLOCK_HELD=1
        timeout_s=$(header "$f" e2e-timeout | head -n 1)
        timeout_s=${timeout_s:-$default_timeout}
        stack=1
        [[ $(header "$f" e2e) == *no-stack* ]] && stack=0
        echo "=== $name"
        if ((stack)); then
            if ! "$devstack" reset >"$out/stack-start.log" 2>&1 ||
                ! "$devstack" start >>"$out/stack-start.log" 2>&1; then
                cat "$out/stack-start.log"
                echo "stack did not start"
                exit 3
            fi
        fi
        rc=0
        export ECM_API_EXCHANGE_LOG=$out/api-exchanges.jsonl
        : >"$ECM_API_EXCHANGE_LOG"
        ECM_SCRIPT=$name timeout -k 10 "$timeout_s" bash "$f" 2>&1 | tee "$out/scenario.log" ||
            rc=${PIPESTATUS[0]}
        ((rc != 124)) || echo "timed out after ${timeout_s}s"
        if ((rc == 0)); then
            if /usr/bin/python3 "$ECM_ROOT/tests/api/openapi_check.py" "$ECM_API_EXCHANGE_LOG" \
                >"$out/openapi-check.txt" 2>&1; then
                tail -n 1 "$out/openapi-check.txt" | sed 's/^/  /'
            else
                sed 's/^/  /' "$out/openapi-check.txt"
                rc=5
            fi
        fi
        if ((stack)); then
            sms_reports_quiet
            if ! "$devstack" stop --keep-pg >"$out/stack-stop.log" 2>&1; then
                cat "$out/stack-stop.log"
                ((rc != 0)) || rc=4
            fi
        fi
        exit "$rc"
    ) || {
        rc=$?
        verdict=fail
        case $rc in
        3) reason="stack did not start" ;;
        4) reason="a process crashed or did not exit 0 on SIGTERM (see stack-stop.log)" ;;
        5) reason="an answer does not conform to api/openapi.yaml (see openapi-check.txt)" ;;
        124) reason="timed out" ;;
        *) reason="exit $rc" ;;
        esac
    }
    collect_logs "$out"
    echo "$verdict $name" >>"$results"
    if [[ $verdict == pass ]]; then
        echo "--- PASS $name ($((SECONDS - t0))s)"
    else
        echo "--- FAIL $name ($((SECONDS - t0))s): $reason; logs in $out"
        for log in "$out"/*.log; do
            case $(basename "$log") in scenario.log | stack-*.log) continue ;; esac
            if grep -qiE '"level":"(error|fatal)"|AddressSanitizer|runtime error| PANIC: ' "$log"; then
                echo "    last lines of $(basename "$log"):"
                tail -n 20 "$log" | sed 's/^/      /'
            fi
        done
    fi
    return 0
}

# Lanes: with ECM_E2E_JOBS=N (default 2 on a machine with 2 or more cores)
# N scenarios run at once, each lane on a stack of its own: lane 1 on
# $ECM_DEV_DIR and its ports, lane k on $ECM_DEV_DIR/lanes/k and the port
# block 100*(k-1) above. Most of a scenario's time is spent waiting for the
# business clock or a peer, so two lanes take little more than half the
# time of one. Each lane takes the next scenario from one queue, longest
# first; a scenario's output is printed whole once it ends, so the log
# reads as if they ran one after the other (each with its lane on the
# first line).
jobs=${ECM_E2E_JOBS:-$(($(nproc) >= 2 ? 2 : 1))}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || ecm_die "ECM_E2E_JOBS must be a whole number >= 1 (got '$jobs')"
((jobs <= ${#scenarios[@]})) || jobs=${#scenarios[@]}
log_root=$ECM_DEV_DIR/logs/e2e
work=$(mktemp -d "${TMPDIR:-/tmp}/ecm-e2e-run.XXXXXX")
results=$work/results
: >"$results"
printf '%s\n' "${scenarios[@]}" >"$work/queue"
echo 0 >"$work/next"

# Prints the next scenario of the queue; fails when none is left.
claim() {
    local fd n f
    exec {fd}>>"$work/queue.lock"
    flock "$fd"
    n=$(<"$work/next")
    f=$(sed -n "$((n + 1))p" "$work/queue")
    echo $((n + 1)) >"$work/next"
    exec {fd}>&-
    [[ -n $f ]] && echo "$f"
}

# Lane $1: its stack's directory and ports, then scenarios until the queue
# is empty; the stack's PostgreSQL is stopped at the end unless it is lane
# 1's and was running before.
lane() {
    local k=$1 f fd
    if ((k > 1)); then
        export ECM_DEV_DIR=$ECM_DEV_DIR/lanes/$k
        export ECM_DEV_PORT_BASE=$((ECM_DEV_PORT_BASE + 100 * (k - 1)))
        mkdir -p "$ECM_DEV_DIR/logs"
        ecm_env_load
    fi
    while f=$(claim); do
        if ((jobs == 1)); then
            run_one "$f"
            continue
        fi
        echo "... $(basename "$f" .sh) started in lane $k"
        run_one "$f" >"$work/lane-$k.out" 2>&1
        exec {fd}>>"$work/print.lock"
        flock "$fd"
        sed "1s/\$/ (lane $k)/" "$work/lane-$k.out"
        exec {fd}>&-
    done
    if ((k > 1 || !pg_was_running)); then
        "$devstack" stop >/dev/null 2>&1 || true
    fi
}

if ((jobs == 1)); then
    lane 1
else
    lane_pids=()
    for ((k = 1; k <= jobs; k++)); do
        lane "$k" &
        lane_pids+=($!)
    done
    for p in "${lane_pids[@]}"; do wait "$p" || true; done
fi

passed=$(grep -c '^pass ' "$results" || true)
mapfile -t failed_names < <(sed -n 's/^fail //p' "$results")
((failed_lint == 0)) || failed_names+=(lint)
# A scenario no lane took (a lane died): counted as failed.
for f in "${scenarios[@]}"; do
    name=$(basename "$f" .sh)
    grep -qE "^(pass|fail) $name\$" "$results" || failed_names+=("$name (not run)")
done
rm -rf "$work"
failed=${#failed_names[@]}
((failed == 0)) || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
