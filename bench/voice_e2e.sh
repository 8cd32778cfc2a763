#!/usr/bin/env bash
# The voice path end to end through the dev stack, in one run: N generated
# contacts (default 100,000) uploaded to an active voice campaign whose
# strategy retries BUSY / NO_ANSWER / ... after a few seconds (Default's
# rules, ecm_create_fast_strategy), dialled by the Cisco simulator, results
# read back by result-sync, decided by the strategy, until every contact is
# closed. Prints:
#   - attempts/s end to end (upload start to the last contact closed), with
#     the target of issue 19 beside it;
#   - each stage's rate from the timestamps the rows carry (upload; feeder:
#     attempts sent to Cisco; simulator: Dialer_Detail rows; strategy:
#     decisions; contacts closed), for all contacts and, when N > 100,000,
#     for the first and the last 100,000 contacts (cost flat as work grows);
#   - CPU seconds (user + system, /proc/PID/stat before and after) of each
#     service and of PostgreSQL, in all and per attempt;
#   - the same CPU an attempt early in the run (10-20% of the attempts made)
#     and late in it (70-80%), with the outbox's backlog and the relays'
#     mean wait for the broker's acks in each window, from a timeline
#     sampled every round of the progress loop (kept as
#     $ECM_DEV_DIR/logs/bench-voice-timeline.tsv);
#   - p50/p99 delay from a result row at Cisco (Dialer_Detail.DateTime in
#     the simulator's DB) to the strategy's decision (attempts.outcome_at,
#     business time turned back into real time with the stack's clock).
# It prints figures and never passes or fails on them; it exits non-zero
# only when it could not measure at all. The machine is shared: compare
# figures of one run, never across runs.
#   bench/voice_e2e.sh [-n N] [--target T] [--delay S] [--keep] [--no-reset]
#                      [--nested]
#   -n N        contacts (default 100000)
#   --target T  Cisco target as scripts/demo.sh gives it: 1 (UCCX, default),
#               ucce_api:5001 or ucce_db:5002:Import_5002
#   --delay S   the strategy's retry delay in seconds (default 2)
#   --keep      leave the stack running at the end (else it is stopped when
#               this script started it)
#   --no-reset  use a running stack as it is (else: devstack.sh reset, a
#               new stack with empty databases, ECM_SIM_DIAL_RATE 20000)
#   --nested    pg_stat_statements also counts the statements run inside
#               functions and triggers (track = all; a nested statement's
#               time is in its caller's too)
# ECM_DEV_PORT_BASE / ECM_DEV_DIR select the stack, as for scripts/devstack.sh.
set -euo pipefail
ECM_SCRIPT=bench-voice
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

n=100000
target=1
delay=2
keep=0
reset=1
nested=0
timeout_s=${ECM_BENCH_TIMEOUT_S:-7200}
while (($#)); do
    case $1 in
    -n)
        n=${2:?-n needs a number}
        shift
        ;;
    --target)
        target=${2:?--target needs a value}
        shift
        ;;
    --delay)
        delay=${2:?--delay needs seconds}
        shift
        ;;
    --keep) keep=1 ;;
    --no-reset) reset=0 ;;
    --nested) nested=1 ;;
    -h | --help)
        sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || ecm_die "-n: '$n' is not a positive number"
[[ $delay =~ ^[0-9]+$ ]] || ecm_die "--delay: '$delay' is not a number of seconds"
command -v curl >/dev/null || ecm_die "curl not found"

ecm_env_load
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ecm-bench-voice.XXXXXX")
started=0
cleanup() {
    rm -rf "$tmp"
    if ((started && !keep)); then
        "$ECM_ROOT/scripts/devstack.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if ((reset)) || ! ecm_pid gateway >/dev/null 2>&1; then
    ecm_build || exit 1
    export ECM_SIM_DIAL_RATE=${ECM_SIM_DIAL_RATE:-20000}
    ecm_say "a new dev stack (empty databases, simulator dial rate $ECM_SIM_DIAL_RATE/s; log: $ECM_DEV_DIR/logs/bench-stack.log)"
    started=1
    ecm_bench_stack 1
fi
ecm_pid gateway >/dev/null || ecm_die "the gateway is not running"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# CPU ticks (user + system) so far: "name ticks" a line for each of procs
# that runs, then "postgres ticks" (the postmaster, its live children, and
# the children that have exited: the postmaster's cutime/cstime hold those).
# One cat and one awk over their stat files, each line keyed by its pid, so
# that a round of the progress loop forks a handful of processes, not an awk
# a process (1-3 s a round on the loaded machine, session 18). A process
# gone since the start prints 0.
clk_tck=$(getconf CLK_TCK)
procs=(gateway feeder result-sync result-sync-uccx strategy cisco-sim devbroker)
declare -A pid_of cpu0
cpu_snapshot() {
    local p pm map='' order='' files=()
    for p in "${procs[@]}"; do
        [[ -n ${pid_of[$p]-} ]] || continue
        map+="${pid_of[$p]}=$p "
        order+="$p "
        files+=("/proc/${pid_of[$p]}/stat")
    done
    pm=$(head -n 1 "$ECM_DEV_DIR/pg/data/postmaster.pid" 2>/dev/null) || pm=
    if [[ -n $pm ]]; then
        files+=("/proc/$pm/stat")
        for p in $(pgrep -P "$pm"); do files+=("/proc/$p/stat"); done
    fi
    # A backend may exit between pgrep and cat: its file is gone, cat fails,
    # and under pipefail the caller's $(...) would end the bench.
    { cat "${files[@]}" 2>/dev/null || true; } | awk -v map="$map" -v order="$order" '
        BEGIN { n = split(map, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], a, "="); name[a[1]] = a[2] } }
        { pid = $1; sub(/^.*\) /, ""); t = $12 + $13 + $14 + $15
          if (pid in name) ticks[name[pid]] = t; else pg += t }
        END { n = split(order, o, " "); for (i = 1; i <= n; i++) print o[i], ticks[o[i]] + 0
              print "postgres", pg + 0 }'
}
for p in "${procs[@]}"; do
    pid_of[$p]=$(ecm_pid "$p" 2>/dev/null) || unset "pid_of[$p]"
done

# pg_stat_statements, when the cluster loads it (scripts/lib.sh): reset so
# that the top statements printed at the end are this run's.
pgss=0
if [[ $(ecm_psql -tA <<<"SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'") == 1 ]] &&
    ecm_psql -q -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' 2>/dev/null &&
    ecm_psql -q -c "ALTER SYSTEM SET pg_stat_statements.track = '$( ((nested)) && echo all || echo top)'" \
        -c 'SELECT pg_reload_conf()' >/dev/null 2>&1 &&
    ecm_psql -tA -c 'SELECT pg_stat_statements_reset()' >/dev/null 2>&1; then
    pgss=1
fi

# Every autovacuum and autoanalyze logged with its CPU ("system usage: CPU:
# user: ... s, system: ... s"), so that the end can tell vacuum's share of
# PostgreSQL's CPU in each window: a cost that grows with the tables' size.
pglog=$ECM_DEV_DIR/logs/postgres.log
pglog_from=$(($(stat -c %s "$pglog" 2>/dev/null || echo 0) + 1))
ecm_psql -q -c 'ALTER SYSTEM SET log_autovacuum_min_duration = 0' -c 'SELECT pg_reload_conf()' \
    >/dev/null 2>&1 || true

strategy=BenchVoice$delay
strategy_id=$(ecm_create_fast_strategy "$strategy" "$delay") || ecm_die "could not create the strategy $strategy"
cid=$(ecm_create_campaign "Bench voice $(date -u +%FT%TZ)" "$strategy" "$target") ||
    ecm_die "could not create the campaign (gateway log: $ECM_DEV_DIR/logs/gateway.log)"
csv=$tmp/contacts.csv
ecm_gen_contacts_csv "$n" "$csv" 11
echo "== voice end to end, $n contacts, campaign $cid (Cisco target $target), strategy $strategy" \
    "(id $strategy_id, retries after ${delay} s), simulator dial rate ${ECM_SIM_DIAL_RATE:-?}/s," \
    "$(nproc) CPUs (shared with other users: figures are noisy)"

# sample EL ATTEMPTS OPEN: one line of the timeline: EL ATTEMPTS OPEN, the
# outbox backlog summed over the services' relays (one drains at a time),
# the sums and counts of their ecm_outbox_ack_wait_seconds and
# ecm_outbox_scan_seconds, then each process's CPU ticks in cpu_snapshot's
# order.
relay_svcs=(gateway feeder result-sync result-sync-uccx strategy sms)
relay_urls=()
for svc in "${relay_svcs[@]}"; do relay_urls+=("http://127.0.0.1:$(ecm_http_port "$svc")/metrics"); done
sample() {
    local m
    m=$(curl -sS --max-time 4 "${relay_urls[@]}" 2>/dev/null | awk '$1 == "ecm_outbox_backlog" { b += $2 }
        $1 == "ecm_outbox_ack_wait_seconds_sum" { as += $2 } $1 == "ecm_outbox_ack_wait_seconds_count" { ac += $2 }
        $1 == "ecm_outbox_scan_seconds_sum" { ss += $2 } $1 == "ecm_outbox_scan_seconds_count" { sc += $2 }
        END { printf "%d %.3f %d %.3f %d", b, as, ac, ss, sc }')
    echo "$1 $2 $3 $m $(cpu_snapshot | awk '{ printf "%s ", $2 }')"
}

while read -r p t; do cpu0[$p]=$t; done < <(cpu_snapshot)
t0=$(now)
sample 0 0 0 >"$tmp/timeline.tsv"
code=$(curl -sS -o "$tmp/answer.json" -w '%{http_code}' --max-time 3600 -X POST \
    -H 'Content-Type: text/csv' -H 'Expect:' "${ECM_AUTH[@]}" --data-binary "@$csv" \
    "$ECM_DEV_API_URL/api/v1/campaigns/$cid/uploads") || code=000
t_up=$(now)
[[ $code == 202 ]] || {
    cat "$tmp/answer.json" >&2 || true
    ecm_die "upload answered $code"
}
loaded=$(jq -r .rows_loaded "$tmp/answer.json")
echo "   upload: $loaded rows in $(secs "$t0" "$t_up")s"

# Progress: open contacts every 2 s, from the campaign's counts (db/026:
# exact, kept by the writers' own statements) rather than a count over its
# contacts, which cost PostgreSQL 1.5 s a call at 1 M (236 s of the run's
# 1,477 s, session 17).
# Each round also writes a line of the timeline (sample below): the
# campaign's attempts so far, the outbox relays' backlog and histograms, and
# every process's CPU ticks, from which the end prints the cost of an
# attempt early in the run and late in it.
last=0
while :; do
    read -r open made < <(ecm_psql -tA -F ' ' -c "SELECT coalesce(sum(n) FILTER (WHERE kind = 's' AND key <> 'closed'), 0),
        coalesce(sum(n) FILTER (WHERE kind = 'a'), 0)
        FROM (SELECT kind, key, n FROM campaign_counts WHERE campaign_id = $cid
              UNION ALL SELECT kind, key, n FROM campaign_count_deltas WHERE campaign_id = $cid) x")
    el=$(secs "$t0" "$(now)")
    sample "$el" "$made" "$open" >>"$tmp/timeline.tsv"
    if [[ $open == 0 ]]; then
        break
    fi
    if awk -v e="$el" -v l="$last" 'BEGIN { exit !(e - l >= 10) }'; then
        printf '   %ss: %d of %d contacts open\n' "${el%.*}" "$open" "$loaded"
        last=$el
    fi
    awk -v e="$el" -v t="$timeout_s" 'BEGIN { exit !(e >= t) }' &&
        ecm_die "timed out after ${timeout_s}s with $open contacts open"
    sleep 2
done
declare -A cpu1
while read -r p t; do cpu1[$p]=$t; done < <(cpu_snapshot)

# The end: the last contact's closed_at (DB time), not the poll's.
read -r attempts t_end < <(ecm_psql -tA -F ' ' -c "SELECT (SELECT count(*) FROM attempts WHERE campaign_id = $cid),
    extract(epoch FROM max(closed_at)) FROM contacts WHERE campaign_id = $cid")
e2e_s=$(secs "$t0" "$t_end")
echo
echo "-- end to end: $attempts attempts for $loaded contacts in ${e2e_s}s (upload start to last contact closed)"
awk -v a="$attempts" -v s="$e2e_s" 'BEGIN { printf "   %.0f attempts/s   (target >= 2000 attempts/s)\n", a / s }'

# Business time of outcome_at back into real time: business = epoch +
# (real - epoch) * rate + offset (lib/base/ecm_clock.h).
offset=0 rate=1 epoch=0
while IFS='=' read -r k v; do
    case $k in
    ECM_CLOCK_OFFSET_MS) offset=$v ;;
    ECM_CLOCK_RATE) rate=$v ;;
    ECM_CLOCK_EPOCH_MS) epoch=$v ;;
    esac
done < <(ecm_clock_env)
real_of="(($epoch::float8 + (extract(epoch FROM %s) * 1000 - $offset - $epoch) / $rate::float8) / 1000)"
# shellcheck disable=SC2059
decided=$(printf "$real_of" a.outcome_at)

# The simulator's result rows (its own database) next to ECM's attempts.
# UCCE writes a Dialer_Detail row a dial; UCCX updates the record's row in
# dialinglist (moved to dialinglisthistory at its "midnight"): lastupdated.
# Both are the simulator database's clock, the same cluster as ECM's.
ecm_sim_psql -q -c "\\copy (SELECT a, extract(epoch FROM min(t)) FROM (
    SELECT AccountNumber, DateTime FROM Dialer_Detail
    UNION ALL SELECT accountnumber, lastupdated FROM dialinglist WHERE callstatus IN (3, 5)
    UNION ALL SELECT accountnumber, lastupdated FROM dialinglisthistory WHERE callstatus IN (3, 5)) AS r (a, t)
    GROUP BY a) TO '$tmp/dd.tsv'"
sim_rows=$(wc -l <"$tmp/dd.tsv")

# stage_rates LABEL WHERE: each stage's rate over the attempts of the
# contacts WHERE selects (count / (last - first timestamp)).
stage_sql() {
    cat <<SQL
CREATE TEMP TABLE IF NOT EXISTS dd (acc text PRIMARY KEY, at float8);
TRUNCATE dd;
\\copy dd FROM '$tmp/dd.tsv'
CREATE TEMP TABLE sel AS SELECT id FROM contacts WHERE campaign_id = $cid AND ($1);
CREATE TEMP TABLE at AS SELECT a.contact_id,
    extract(epoch FROM a.sending_at) AS sending, extract(epoch FROM a.sent_at) AS sent,
    dd.at AS cisco, $decided AS decided
    FROM attempts a JOIN sel ON sel.id = a.contact_id LEFT JOIN dd ON dd.acc = a.account_number;
SELECT 'feeder (attempts sent to Cisco)', count(sent), max(sent) - min(sending) FROM at
UNION ALL SELECT 'simulator (results at Cisco)', count(cisco), max(cisco) - min(cisco) FROM at
UNION ALL SELECT 'strategy (attempts decided)', count(decided), max(decided) - min(cisco) FROM at
UNION ALL SELECT 'contacts closed', count(*), extract(epoch FROM max(k.closed_at)) - min(at.sending)
    FROM contacts k JOIN sel ON sel.id = k.id, (SELECT min(sending) AS sending FROM at) at;
SQL
}
stage_rates() {
    echo "   $1:"
    { stage_sql "$2"; } | ecm_psql -tA -F $'\t' | awk -F '\t' 'NF == 3 {
        printf "     %-32s %8d in %8.1fs = %7.0f/s\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0) }'
}
echo
echo "-- stages (timestamps of the rows; simulator: $sim_rows results in Dialer_Detail / dialinglist)"
stage_rates "all $loaded contacts" "true"
if ((loaded > 100000)); then
    read -r lo hi < <(ecm_psql -tA -F ' ' -c "SELECT min(id), max(id) FROM contacts WHERE campaign_id = $cid")
    stage_rates "first 100,000 contacts" "id < $lo + 100000"
    stage_rates "last 100,000 contacts" "id > $hi - 100000"
    echo "     (target: the last within 20% of the first)"
fi

echo
echo "-- decision delay: result row at Cisco (Dialer_Detail.DateTime, dialinglist.lastupdated) to the strategy's decision (attempts.outcome_at)"
{
    cat <<SQL
CREATE TEMP TABLE dd (acc text PRIMARY KEY, at float8);
\\copy dd FROM '$tmp/dd.tsv'
SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d)
  FROM (SELECT $decided - dd.at AS d FROM attempts a JOIN dd ON dd.acc = a.account_number
        WHERE a.campaign_id = $cid AND a.outcome_at IS NOT NULL) x;
SQL
} | ecm_psql -tA -F ' ' | awk 'NF == 4 { printf "   %d attempts: p50 %.3f s, p99 %.3f s (target < 1 s), max %.3f s\n", $1, $2, $3, $4 }'

# The same delay hop by hop: Cisco's row -> result-sync saw it
# (attempts.result_seen_at, its page's transaction) -> produced to Kafka
# (the call.results message's CreateTime, set when the outbox relay hands it
# to the producer; a contact's n-th message is its n-th seen attempt, its
# events being ordered on one partition) -> the strategy's decision. p50 and
# p99 of each hop, and the mean of each hop over the slowest 1% end to end:
# where the tail sits.
if command -v kcat >/dev/null; then
    timeout 300 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t call.results -o beginning -e \
        -f '%k\t%T\t%p\t%o\n' >"$tmp/produced.tsv" 2>/dev/null || true
    echo
    echo "-- decision delay hop by hop ($(wc -l <"$tmp/produced.tsv") call.results messages read back with kcat)"
    {
        cat <<SQL
CREATE TEMP TABLE dd (acc text PRIMARY KEY, at float8);
\\copy dd FROM '$tmp/dd.tsv'
CREATE TEMP TABLE pr (k bigint, ts bigint, p int, o bigint);
\\copy pr FROM '$tmp/produced.tsv'
CREATE TEMP TABLE h AS
  SELECT dd.at AS cisco, extract(epoch FROM s.result_seen_at) AS seen, pn.ts / 1000.0 AS produced,
         s.decided
    FROM (SELECT a.contact_id, a.account_number, a.result_seen_at, $decided AS decided,
                 row_number() OVER (PARTITION BY a.contact_id ORDER BY a.attempt) AS n
            FROM attempts a WHERE a.campaign_id = $cid AND a.result_seen_at IS NOT NULL) s
    JOIN dd ON dd.acc = s.account_number
    JOIN (SELECT k, ts, row_number() OVER (PARTITION BY k ORDER BY p, o) AS n FROM pr) pn
      ON pn.k = s.contact_id AND pn.n = s.n
   WHERE s.decided IS NOT NULL;
CREATE TEMP TABLE tail AS SELECT * FROM h
   WHERE decided - cisco >= (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY decided - cisco) FROM h);
SELECT 'Cisco -> result-sync saw it', percentile_cont(0.5) WITHIN GROUP (ORDER BY seen - cisco),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY seen - cisco), (SELECT avg(seen - cisco) FROM tail) FROM h
UNION ALL SELECT 'seen -> produced to Kafka', percentile_cont(0.5) WITHIN GROUP (ORDER BY produced - seen),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY produced - seen), (SELECT avg(produced - seen) FROM tail) FROM h
UNION ALL SELECT 'produced -> decided', percentile_cont(0.5) WITHIN GROUP (ORDER BY decided - produced),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY decided - produced), (SELECT avg(decided - produced) FROM tail) FROM h
UNION ALL SELECT 'Cisco -> decided (' || count(*) || ' matched)', percentile_cont(0.5) WITHIN GROUP (ORDER BY decided - cisco),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY decided - cisco), (SELECT avg(decided - cisco) FROM tail) FROM h;
SQL
    } | ecm_psql -tA -F $'\t' | awk -F '\t' 'BEGIN { printf "     %-40s %8s %8s %16s\n", "hop", "p50 s", "p99 s", "slowest 1%: mean" }
        NF == 4 { printf "     %-40s %8.3f %8.3f %16.3f\n", $1, $2, $3, $4 }'
else
    echo "   (hop by hop skipped: kcat not found)"
fi

echo
echo "-- CPU (user+system) during the run, in all and per attempt"
total=0
for p in "${procs[@]}" postgres; do
    [[ -n ${cpu0[$p]-} ]] || continue
    awk -v p="$p" -v t="$((cpu1[$p] - cpu0[$p]))" -v h="$clk_tck" -v a="$attempts" -v e="$e2e_s" \
        'BEGIN { printf "   %-18s %8.1f s  %7.1f us/attempt  %5.0f%% of a core\n", p, t / h, t / h * 1e6 / a, t / h * 100 / e }'
    total=$((total + cpu1[$p] - cpu0[$p]))
done
awk -v t="$total" -v h="$clk_tck" -v a="$attempts" -v e="$e2e_s" -v c="$(nproc)" \
    'BEGIN { printf "   %-18s %8.1f s  %7.1f us/attempt  (%.0f%% of the machine'"'"'s %d cores)\n", "all", t / h, t / h * 1e6 / a, t / h * 100 / e / c, c }'

# The timeline: the cost of an attempt and the outbox relays' state in two
# windows of the run, early (the rounds from 10% to 20% of the attempts
# made) and late (70% to 80%: before the tail, where a few retries wait and
# idle polling dominates). Flat cost: late within 20% of early.
cp "$tmp/timeline.tsv" "$ECM_DEV_DIR/logs/bench-voice-timeline.tsv" 2>/dev/null || true
# autovac.tsv: one line an autovacuum or autoanalyze that ended during the
# run: seconds since t0 at its end, "vacuum" or "analyze", the table, its
# CPU seconds (user + system).
tail -c "+$pglog_from" "$pglog" 2>/dev/null | TZ=UTC awk -v t0="$t0" '
    match($0, /automatic (vacuum|analyze) of table "[^"]*"/) {
        split($1, d, "-"); split($2, c, ":");
        at = mktime(d[1] " " d[2] " " d[3] " " c[1] " " c[2] " " int(c[3])) + (c[3] - int(c[3])) - t0
        what = substr($0, RSTART + 10, RLENGTH - 10); split(what, w, " ");
        kind = w[1]; tbl = w[4]; gsub(/"/, "", tbl); open = 1; next }
    open && /system usage: CPU: user:/ {
        u = $0; sub(/.*CPU: user: /, "", u); st = u; sub(/ s,.*/, "", u); sub(/.*system: /, "", st); sub(/ s,.*/, "", st);
        printf "%.2f %s %s %.2f\n", at, kind, tbl, u + st; open = 0 }' >"$tmp/autovac.tsv" || true
if [[ -s $tmp/autovac.tsv ]]; then
    echo
    echo "-- autovacuum and autoanalyze during the run (PostgreSQL's log): the 12 tables with the most CPU"
    awk '{ n[$2 " " $3]++; c[$2 " " $3] += $4 }
        END { for (k in c) printf "   %-44s %4d runs %8.2f s CPU\n", k, n[k], c[k] }' "$tmp/autovac.tsv" |
        sort -k5,5nr | head -n 12
    awk '{ n++; t += $4 } END { printf "   %-44s %4d runs %8.2f s CPU\n", "all", n, t }' "$tmp/autovac.tsv"
fi
if (($(wc -l <"$tmp/timeline.tsv") >= 8)); then
    echo
    echo "-- early (10-20% of the attempts made) and late (70-80%) in the run, from the timeline ($(wc -l <"$tmp/timeline.tsv") rounds)"
    names="$(cpu_snapshot | awk '{ printf "%s ", $1 }')"
    awk -v final="$attempts" -v h="$clk_tck" -v names="$names" -v avfile="$tmp/autovac.tsv" '
        function win(lo, hi, tag,   i, a, j, k, d, bl, n, bmax) {
            for (i = 1; i <= nr && made[i] < lo * final; i++);
            for (j = i; j <= nr && made[j] < hi * final; j++);
            if (j > nr) j = nr;
            if (j <= i) { printf "   %s: too few rounds\n", tag; return; }
            a = made[j] - made[i];
            printf "   %-6s %6.0f-%6.0fs: %8d attempts, %5.0f/s\n", tag, el[i], el[j], a, a / (el[j] - el[i]);
            for (k = 1; k <= np; k++) {
                d = (tick[j, k] - tick[i, k]) / h;
                printf "     %-18s %7.1f us/attempt  %5.0f%% of a core\n", nm[k], d * 1e6 / a, d * 100 / (el[j] - el[i]);
            }
            d = 0; n = 0;
            for (k = 1; k <= nav; k++) if (avat[k] > el[i] && avat[k] <= el[j]) { d += avcpu[k]; n++ }
            printf "     %-18s %7.1f us/attempt  (%d autovacuum/autoanalyze runs ended in the window: part of postgres above)\n", "autovacuum", d * 1e6 / a, n;
            bl = 0; bmax = 0; n = 0;
            for (k = i; k <= j; k++) { bl += back[k]; n++; if (back[k] > bmax) bmax = back[k]; }
            printf "     outbox backlog mean %.0f, max %d rows; relay ack wait mean %.1f ms over %d batches, scan mean %.1f ms over %d\n",
                bl / n, bmax, (ac[j] - ac[i] > 0 ? (as[j] - as[i]) * 1000 / (ac[j] - ac[i]) : 0), ac[j] - ac[i],
                (sc[j] - sc[i] > 0 ? (ss[j] - ss[i]) * 1000 / (sc[j] - sc[i]) : 0), sc[j] - sc[i];
        }
        BEGIN { np = split(names, nm, " ");
                while ((getline line < avfile) > 0) { split(line, f, " "); nav++; avat[nav] = f[1]; avcpu[nav] = f[4] } }
        { nr++; el[nr] = $1; made[nr] = $2; back[nr] = $4; as[nr] = $5; ac[nr] = $6; ss[nr] = $7; sc[nr] = $8;
          for (k = 1; k <= np; k++) tick[nr, k] = $(8 + k) }
        END { win(0.1, 0.2, "early"); win(0.7, 0.8, "late") }' "$tmp/timeline.tsv"
fi

if ((pgss)); then
    echo
    ecm_pg_top_statements "the 12 statements with the most time during the run" 1
fi
