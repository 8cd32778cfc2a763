#!/usr/bin/env bash
# SMS through the real Kannel of the dev stack, three figures from one run:
#   1. a plain client (curl --parallel) on Kannel's sendsms at concurrency C:
#      N requests, how fast they are accepted (HTTP 202) and how fast they reach
#      the fake SMSC (fakesmsc's log);
#   2. the FAIR baseline: the same client also asking for DLRs (dlr-mask 31,
#      as ECM does; dlr-url to bench/dlr_sink.py, which counts them), its clock
#      stopped when every accepted message's final DLR has reached the sink;
#   3. ECM end to end: an sms campaign of N contacts through Kannel, from the
#      upload until every contact is closed (send -> DLR applied -> result
#      decided by the strategy), in messages per second, beside both
#      baselines. This part needs build/bin/ecm-sms; without it the bench says
#      so and skips it.
# It prints figures and never passes or fails on them; it exits non-zero only
# when it could not measure at all (stack not up).
#   bench/sms_kannel.sh [-n N] [-c C] [--keep] [--no-reset]
#   -n N        messages in each half (default 2000)
#   -c C        concurrency of the plain client (default: ECM_SMS_CONCURRENCY,
#               the sms service's requests in flight per gateway, or its
#               default 16)
#   --keep      leave a stack this script started running
#   --no-reset  use a running dev stack (same ECM_DEV_DIR / ECM_DEV_PORT_BASE)
#               as it is when Kannel is up in it (else: devstack.sh reset, a
#               new stack with empty databases, stopped at the end), so that
#               every run starts from the same state, as the voice and upload
#               benches do.
set -euo pipefail
ECM_SCRIPT=bench-sms
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

n=2000
conc=${ECM_SMS_CONCURRENCY:-16}
keep=0
reset=1
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
    --no-reset) reset=0 ;;
    -h | --help)
        sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
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
sink_pid=''
cleanup() {
    [[ -z $sink_pid ]] || kill "$sink_pid" 2>/dev/null || true
    rm -rf "$tmp"
    if ((started && !keep)); then
        "$ECM_ROOT/scripts/devstack.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if ((reset)) || ! ecm_kannel_ready; then
    if ((reset)); then
        ecm_say "a new dev stack (empty databases; log: $ECM_DEV_DIR/logs/bench-stack.log)"
    else
        ecm_say "no ready Kannel in $ECM_DEV_DIR: starting the dev stack (log: $ECM_DEV_DIR/logs/bench-stack.log)"
    fi
    started=1
    # The service's own rate limit would otherwise be the figure: lift it so
    # the run measures ECM and Kannel, not the token bucket.
    export ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-5000}
    ecm_bench_stack "$reset"
fi

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.1f", n / t; else print "n/a" }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# CPU ticks (user + system) so far: of a process; of Kannel (the children of
# scripts/kannel.sh: bearerbox, smsbox, fakesmsc); of PostgreSQL (postmaster,
# its live children and those that exited). On a machine shared with others
# the rates move with their load; the CPU a message costs much less.
clk_tck=$(getconf CLK_TCK)
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
children_ticks() {
    local t=0 p
    for p in $(pgrep -P "$1"); do t=$((t + $(proc_ticks "$p"))); done
    echo "$t"
}
ticks_of() {
    local pid
    case $1 in
    kannel) pid=$(ecm_pid kannel 2>/dev/null) && children_ticks "$pid" || echo 0 ;;
    postgres)
        pid=$(head -n 1 "$ECM_DEV_DIR/pg/data/postmaster.pid" 2>/dev/null) || pid=
        if [[ -n $pid ]]; then echo $(($(proc_ticks "$pid") + $(children_ticks "$pid"))); else echo 0; fi
        ;;
    sink) proc_ticks "$sink_pid" ;;
    *) pid=$(ecm_pid "$1" 2>/dev/null) && proc_ticks "$pid" || echo 0 ;;
    esac
}
declare -A cpu_at
cpu_mark() { local p; for p in "$@"; do cpu_at[$p]=$(ticks_of "$p"); done; }
# cpu_report N PROC...: CPU of each since cpu_mark, per message; sets cpu_total_us.
cpu_report() {
    local n=$1 p d line='' total=0
    shift
    for p in "$@"; do
        d=$(($(ticks_of "$p") - ${cpu_at[$p]:-0}))
        total=$((total + d))
        line+=$(awk -v p="$p" -v d="$d" -v h="$clk_tck" -v n="$n" 'BEGIN { printf " %s %.0f", p, d / h * 1e6 / n }')
    done
    cpu_total_us=$(awk -v d="$total" -v h="$clk_tck" -v n="$n" 'BEGIN { printf "%.0f", d / h * 1e6 / n }')
    echo "   CPU per message (us):  all $cpu_total_us =$line"
}

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
# plain_client WITH_DLR: N requests on sendsms at concurrency C, destinations
# 1999<run><n> (apart from campaign numbers and from earlier runs). With
# WITH_DLR=1 each request also asks for every DLR (dlr-mask 31, as ECM does)
# to a minimal sink (bench/dlr_sink.py), and the clock stops when the sink has
# a final DLR for every accepted message: the work ECM's figure includes on
# Kannel's side. Sets plain_rate (msg/s at the fake SMSC, or with DLRs, with
# every final DLR back).
plain_client() {
    local with_dlr=$1 run_id prefix cfg before t0 t1 t2 accepted other deadline got dlrs=0
    local dlr_param='' final=0 inter=0
    run_id=$(printf '%03d' $((RANDOM % 1000)))
    prefix=1999$run_id
    cfg=$tmp/curl.cfg
    if ((with_dlr)); then
        # %d is Kannel's DLR status; everything URL-encoded once more.
        dlr_param="&dlr-mask=31&dlr-url=http%3A%2F%2F127.0.0.1%3A$sink_port%2Fdlr%3Fs%3D%25d"
        read -r dlrs _ < <(sink_count)
    fi
    awk -v n="$n" -v url="$ECM_DEV_KANNEL_SENDSMS_URL" -v user="$ECM_DEV_KANNEL_USER" \
        -v pass="$ECM_DEV_KANNEL_PASSWORD" -v prefix="$prefix" -v from="$ECM_DEV_SMS_SENDER" \
        -v dlr="$dlr_param" 'BEGIN {
        for (i = 1; i <= n; i++) {
            printf "url = \"%s?user=%s&pass=%s&from=%s&to=%s%06d&text=Bench+message+%d%s\"\n",
                url, user, pass, from, prefix, i, i, dlr
            print "output = \"/dev/null\""
        }
    }' >"$cfg"
    before=$(fake_received "$prefix")
    cpu_mark kannel sink postgres
    t0=$(now)
    curl --parallel --parallel-max "$conc" -s -K "$cfg" -w '%{http_code}\n' >"$tmp/codes" 2>"$tmp/curl.err" || true
    t1=$(now)
    accepted=$(grep -c '^202$' "$tmp/codes" || true)
    other=$((n - accepted))
    deadline=$((SECONDS + 300))
    got=0
    while :; do
        got=$(($(fake_received "$prefix") - before))
        if ((with_dlr)); then
            read -r final inter _ < <(sink_count)
            final=$((final - dlrs))
            if ((got >= accepted && final >= accepted)) || ((SECONDS >= deadline)); then
                break
            fi
        else
            ((got < accepted && SECONDS < deadline)) || break
        fi
        sleep 0.1 # sleep-ok: polling the fake SMSC's log and the sink's count
    done
    t2=$(now)
    echo
    if ((with_dlr)); then
        echo "-- plain client on sendsms, asking for DLRs (dlr-mask 31, dlr-url to a sink): the FAIR baseline"
    else
        echo "-- plain client on sendsms (no DLR requested)"
    fi
    printf '   accepted (202)       %6d of %d (%d other answers) in %ss: %s req/s\n' \
        "$accepted" "$n" "$other" "$(secs "$t0" "$t1")" "$(rate "$accepted" "$(secs "$t0" "$t1")")"
    if ((with_dlr)); then
        printf '   final DLRs at sink   %6d in %ss from the first request: %s msg/s (%d intermediate)\n' \
            "$final" "$(secs "$t0" "$t2")" "$(rate "$final" "$(secs "$t0" "$t2")")" "$inter"
        ((final >= accepted)) || echo "   (the sink had not every final DLR after 300 s)"
        plain_rate=$(rate "$final" "$(secs "$t0" "$t2")")
        cpu_report "$accepted" kannel sink
    else
        printf '   at the fake SMSC     %6d in %ss from the first request: %s msg/s\n' \
            "$got" "$(secs "$t0" "$t2")" "$(rate "$got" "$(secs "$t0" "$t2")")"
        ((got >= accepted)) || echo "   (fakesmsc had not received every accepted message after 300 s)"
        plain_rate=$(rate "$got" "$(secs "$t0" "$t2")")
        cpu_report "$accepted" kannel
    fi
    plain_cpu=$cpu_total_us
}

# The sink's counts: "<final> <intermediate> <requests>".
sink_count() {
    curl -fsS --max-time 5 "http://127.0.0.1:$sink_port/count" 2>/dev/null || echo "0 0 0"
}

sink_port=$((ECM_DEV_PORT_BASE + 98))
python3 "$ECM_ROOT/bench/dlr_sink.py" "$sink_port" >"$tmp/sink.out" 2>"$tmp/sink.err" &
sink_pid=$!
for _ in $(seq 100); do
    grep -q ready "$tmp/sink.out" 2>/dev/null && break
    kill -0 "$sink_pid" 2>/dev/null || ecm_die "the DLR sink did not start: $(cat "$tmp/sink.err")"
    sleep 0.1 # sleep-ok: waiting for the sink's "ready" line
done

plain_client 0
rate_nodlr=$plain_rate cpu_nodlr=$plain_cpu
plain_client 1
rate_fair=$plain_rate cpu_fair=$plain_cpu

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
ecm_procs=(kannel sms strategy gateway devbroker postgres)
# pg_stat_statements, when the cluster loads it (scripts/lib.sh): reset here
# so that the top statements printed at the end are ECM's part of this run.
pgss=0
if [[ $(ecm_psql -tA <<<"SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'") == 1 ]] &&
    ecm_psql -q -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' 2>/dev/null &&
    ecm_psql -tA -c 'SELECT pg_stat_statements_reset()' >/dev/null 2>&1; then
    pgss=1
fi
cpu_mark "${ecm_procs[@]}"
t0=$(now)
api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv" \
    >"$tmp/upload.json" || {
    echo "   SKIPPED: upload failed"
    exit 0
}
deadline=$((SECONDS + ${ECM_BENCH_TIMEOUT_S:-900}))
closed=0 total=0 shown=$SECONDS
# Whether the campaign is done, straight from the DB: it has contacts, none
# of them open and no upload running. Exact, but by the (campaign_id,
# state) index, whose entries for the states each contact has left stay
# until a vacuum: ~30 ms a call late in a 20,000-message run, which
# PostgreSQL's CPU a message then counted as ECM's (1.6 s of 52 polls in
# one run). So it runs only once ECM's own counts (campaign_counts and the
# deltas not yet folded into it, a handful of rows) say every contact is
# closed; those counts also make the progress line. The full count
# (counts_sql) runs once, at the end.
done_sql="SELECT EXISTS (SELECT 1 FROM contacts WHERE campaign_id = $cid)
    AND NOT EXISTS (SELECT 1 FROM contacts WHERE campaign_id = $cid
        AND state IN ('pending', 'queued', 'dispatched', 'waiting', 'retry_due'))
    AND NOT EXISTS (SELECT 1 FROM uploads WHERE campaign_id = $cid AND state = 'running')"
quick_sql="SELECT coalesce(sum(n) FILTER (WHERE key = 'closed'), 0) || ' ' || coalesce(sum(n), 0)
    FROM (SELECT key, n FROM campaign_counts WHERE campaign_id = $cid AND kind = 's'
          UNION ALL SELECT key, n FROM campaign_count_deltas
          WHERE campaign_id = $cid AND kind = 's') AS x"
counts_sql="SELECT count(*) FILTER (WHERE state = 'closed') || ' ' || count(*)
    FROM contacts WHERE campaign_id = $cid"
# The polls go through one psql session: a new psql a poll (two a second)
# cost the client and a new backend ~25 ms of CPU each (process start,
# SCRAM, catalog caches), on the machine ECM runs on, and the backend's
# part counted as ECM's PostgreSQL CPU. poll SQL: SQL's one-line answer
# ('' when the session is gone: then a psql of its own).
coproc POLL { exec psql -X -q -A -t "$ECM_DEV_PG_DSN" 2>/dev/null; }
# shellcheck disable=SC2153 # POLL_PID: set by coproc
poll_pid=$POLL_PID
poll() {
    local line out=''
    if [[ -n ${POLL[1]:-} ]] && { printf '%s;\n\\echo __end__\n' "$1" >&"${POLL[1]}"; } 2>/dev/null; then
        while IFS= read -r -t 30 line <&"${POLL[0]}"; do
            [[ $line == __end__ ]] && break
            out+=$line
        done
    fi
    [[ -n $out ]] || out=$(ecm_psql -tA -c "$1" 2>/dev/null) || out=''
    printf '%s\n' "$out"
}
counts() {
    local c
    c=$(poll "${1:-$counts_sql}")
    echo "${c:-0 0}"
}
while :; do
    read -r closed total < <(counts "$quick_sql")
    ((total > 0 && closed >= total)) && [[ $(poll "$done_sql") == t ]] && break
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
read -r closed total < <(counts)
[[ -z ${POLL[1]:-} ]] || eval "exec ${POLL[1]}>&-"
wait "$poll_pid" 2>/dev/null || true
rate_ecm=$(rate "$closed" "$(secs "$t0" "$t1")")
printf '   campaign %s: %d of %d contacts closed in %ss: %s msg/s end to end\n' \
    "$cid" "$closed" "$total" "$(secs "$t0" "$t1")" "$rate_ecm"
cpu_report "$closed" "${ecm_procs[@]}"
ecm_cpu=$cpu_total_us
# Every attempt's outcome recorded (the DLR applied and the strategy's
# decision written) before the clock stopped: closed contacts say so.
printf '   attempts with their outcome recorded: %s of %s\n' \
    "$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid AND outcome IS NOT NULL")" \
    "$(ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid")"
api GET "/api/v1/campaigns/$cid" 2>/dev/null |
    jq -r '.counts | to_entries[] | "   \(.key): \(.value | tostring)"' 2>/dev/null || true
echo "   sms service: ECM_SMS_CONCURRENCY=${ECM_SMS_CONCURRENCY:-16 (default)}," \
    "ECM_SMS_RATE_KANNEL=${ECM_SMS_RATE_KANNEL:-100 (default)} msg/s; plain client C=$conc"
if ((pgss)); then
    echo
    ecm_pg_top_statements "the 12 statements with the most time during ECM's run" 2
fi
echo
echo "== summary (N=$n, load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '   plain, no DLR        %8s msg/s  %6s us CPU a message\n' "$rate_nodlr" "$cpu_nodlr"
printf '   plain, with DLRs     %8s msg/s  %6s us CPU a message (fair baseline)\n' "$rate_fair" "$cpu_fair"
printf '   ECM end to end       %8s msg/s  %6s us CPU a message = %sx the fair baseline, %sx the plain one\n' "$rate_ecm" "$ecm_cpu" \
    "$(awk -v a="$rate_ecm" -v b="$rate_fair" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" \
    "$(awk -v a="$rate_ecm" -v b="$rate_nodlr" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
