# shellcheck shell=bash
# Shared by scripts/devstack.sh, demo.sh, test.sh and tests/e2e: where things
# are, which port each process of the dev stack takes, the build, starting and
# stopping one process, and small SQL/API helpers. Source it; it sets no shell
# options of its own, and every function works under `set -euo pipefail`.
#
# Knobs (environment):
#   ECM_DEV_PORT_BASE  base of the port block (default 7400): PostgreSQL +32,
#                      Kannel +40..+44 (bearerbox admin/status +40, its box
#                      port +41, smsbox sendsms +42, fake SMSC for MTs +43,
#                      fake SMSC for injected MOs +44), cisco-sim +70,
#                      sms-sim +71, gateway +80, feeder +81, result-sync +82
#                      (UCCE's Dialer_Detail), strategy +83, sms +84,
#                      result-sync-uccx +85 (UCCX's db_cra), devbroker Kafka
#                      +92 and its HTTP +93
#   ECM_DEV_DIR        state of the stack (default <repo>/.dev)
#   ECM_BUILD_DIR      normal build (default <repo>/build); ECM_ASAN_BUILD_DIR
#   ECM_BIN_DIR        binaries the stack runs (default $ECM_BUILD_DIR/bin)
#   ECM_BUILD_TYPE     CMAKE_BUILD_TYPE of both builds (default RelWithDebInfo)
# Any other ECM_* variable in the environment reaches the processes unchanged,
# and the stack's own defaults below yield to it where marked ${VAR:-default}.

ECM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${ECM_DEV_PORT_BASE:=7400}"
: "${ECM_DEV_DIR:=$ECM_ROOT/.dev}"
: "${ECM_BUILD_DIR:=$ECM_ROOT/build}"
: "${ECM_ASAN_BUILD_DIR:=$ECM_ROOT/build-asan}"
: "${ECM_BIN_DIR:=$ECM_BUILD_DIR/bin}"
: "${ECM_PG_BIN:=/usr/lib/postgresql/15/bin}"
ECM_PG_OS_USER=ecm-pg
ECM_READY_TIMEOUT_S=${ECM_READY_TIMEOUT_S:-60}
ECM_STOP_TIMEOUT_S=${ECM_STOP_TIMEOUT_S:-20}
: "${ECM_KANNEL_BIN_DIR:=/usr/sbin}"
: "${ECM_FAKESMSC:=/usr/lib/kannel/test/fakesmsc}"
# Every process of the stack in start order; stop goes the other way. kannel
# is bearerbox + smsbox + the fakesmsc client under scripts/kannel.sh.
# result-sync-uccx is a second ecm-result-sync, reading UCCX's own tables.
ECM_PROCS=(devbroker cisco-sim kannel sms-sim gateway feeder result-sync result-sync-uccx strategy
    sms)
# Started only when their binary is built (a warning line otherwise).
ECM_OPTIONAL=(sms)
# The ECM binaries among them (what --help and config checks apply to).
ECM_STACK=()
for ecm__n in "${ECM_PROCS[@]}"; do
    [[ $ecm__n == kannel ]] && continue
    if [[ " ${ECM_OPTIONAL[*]} " == *" $ecm__n "* && ! -x $ECM_BIN_DIR/ecm-$ecm__n ]]; then
        continue
    fi
    ECM_STACK+=("$ecm__n")
done
unset ecm__n
# shellcheck disable=SC2034 # for the scenarios: the services proper
ECM_SERVICES=(gateway feeder result-sync result-sync-uccx strategy)
[[ ! -x $ECM_BIN_DIR/ecm-sms ]] || ECM_SERVICES+=(sms)
# Replicas (ECM_DEV_REPLICAS, default 1, at most ECM_MAX_REPLICAS): the
# services below run N times each, replica k >= 2 as stack process NAME-k
# (feeder-2, result-sync-uccx-3) on its own port (ecm_port), pid and log,
# through a link named ecm-NAME-k to the same binary (ecm_pid knows a
# process by that name); the same database, consumer groups and claims.
ECM_REPLICATED=(gateway feeder result-sync result-sync-uccx strategy sms)
ECM_MAX_REPLICAS=3
ECM_DEV_REPLICAS=${ECM_DEV_REPLICAS:-1}
# Every replica name NAME-k of the replicated services for k in 2..$1.
ecm_replica_names() {
    local n k
    for n in "${ECM_REPLICATED[@]}"; do
        for ((k = 2; k <= $1; k++)); do echo "$n-$k"; done
    done
}
# Prints the service a stack process is a replica of (NAME for NAME-k, else
# the name itself); with a second argument V, sets V to the replica number
# (1 for the first).
ecm_replica_base() {
    local name=$1 n
    for n in "${ECM_REPLICATED[@]}"; do
        if [[ $name =~ ^$n-([2-9])$ ]]; then
            echo "$n"
            return 0
        fi
    done
    echo "$name"
}
ecm_replica_index() {
    [[ $1 =~ -([2-9])$ && $(ecm_replica_base "$1") != "$1" ]] && echo "${BASH_REMATCH[1]}" || echo 1
}
if [[ ! $ECM_DEV_REPLICAS =~ ^[1-9]$ ]] || ((ECM_DEV_REPLICAS > ECM_MAX_REPLICAS)); then
    printf 'ecm: ECM_DEV_REPLICAS: "%s" is not a number from 1 to %s\n' "$ECM_DEV_REPLICAS" \
        "$ECM_MAX_REPLICAS" >&2
    exit 2
fi
# Each replica starts right after the one before it.
if ((ECM_DEV_REPLICAS > 1)); then
    ecm__procs=()
    for ecm__n in "${ECM_PROCS[@]}"; do
        ecm__procs+=("$ecm__n")
        if [[ " ${ECM_REPLICATED[*]} " == *" $ecm__n "* ]]; then
            for ((ecm__k = 2; ecm__k <= ECM_DEV_REPLICAS; ecm__k++)); do
                ecm__procs+=("$ecm__n-$ecm__k")
            done
        fi
    done
    ECM_PROCS=("${ecm__procs[@]}")
    unset ecm__procs ecm__n ecm__k
fi
# Logs of the stack besides <name>.log, moved per scenario by tests/e2e/run.sh.
# shellcheck disable=SC2034
ECM_EXTRA_LOGS=(bearerbox.log smsbox.log fakesmsc.log kannel-access.log smsbox-access.log
    fakesmsc-mo.log dropbox.log dropbox2.log)
while IFS= read -r ecm__n; do
    [[ " ${ECM_PROCS[*]} " == *" $ecm__n "* ]] || ECM_EXTRA_LOGS+=("$ecm__n.log")
done < <(ecm_replica_names "$ECM_MAX_REPLICAS")
unset ecm__n
export ECM_DEV_REPLICAS
export ECM_DEV_PORT_BASE ECM_DEV_DIR ECM_BUILD_DIR ECM_ASAN_BUILD_DIR ECM_BIN_DIR

ecm_say() { printf '%s: %s\n' "${ECM_SCRIPT:-ecm}" "$*"; }
ecm_warn() { printf '%s: %s\n' "${ECM_SCRIPT:-ecm}" "$*" >&2; }
ecm_die() {
    ecm_warn "$*"
    exit 1
}

# ---------------------------------------------------------------- ports, secrets

# Prints the TCP port of a stack process (pg, devbroker, devbroker-http,
# cisco-sim, sms-sim, gateway, feeder, result-sync, strategy, sms) or of
# Kannel (kannel-admin, kannel-box, kannel-sendsms, kannel-fake, kannel-mo).
ecm_port() {
    local b=$ECM_DEV_PORT_BASE
    case $1 in
    pg) echo $((b + 32)) ;;
    kannel-admin) echo $((b + 40)) ;;
    kannel-box) echo $((b + 41)) ;;
    kannel-sendsms) echo $((b + 42)) ;;
    kannel-fake) echo $((b + 43)) ;;
    kannel-mo) echo $((b + 44)) ;;
    cisco-sim) echo $((b + 70)) ;;
    sms-sim) echo $((b + 71)) ;;
    gateway) echo $((b + 80)) ;;
    feeder) echo $((b + 81)) ;;
    result-sync) echo $((b + 82)) ;;
    strategy) echo $((b + 83)) ;;
    sms) echo $((b + 84)) ;;
    result-sync-uccx) echo $((b + 85)) ;;
    devbroker) echo $((b + 92)) ;;
    devbroker-http) echo $((b + 93)) ;;
    *)
        # Replica k >= 2 of a service: base+50.. for k = 2, base+60.. for 3,
        # in ECM_REPLICATED's order.
        local base k i
        base=$(ecm_replica_base "$1")
        k=$(ecm_replica_index "$1")
        if [[ $base != "$1" ]] && ((k <= ECM_MAX_REPLICAS)); then
            for ((i = 0; i < ${#ECM_REPLICATED[@]}; i++)); do
                [[ ${ECM_REPLICATED[i]} != "$base" ]] || break
            done
            echo $((b + 50 + (k - 2) * 10 + i))
            return 0
        fi
        ecm_die "no port for '$1'"
        ;;
    esac
}

# Prints the HTTP (readiness) port of a stack process: for kannel, bearerbox's
# admin port (status page).
ecm_http_port() {
    case $1 in
    devbroker) ecm_port devbroker-http ;;
    kannel) ecm_port kannel-admin ;;
    *) ecm_port "$1" ;;
    esac
}

ecm__random_secret() {
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Prints the secret stored in FILE, creating it (0600) on first use.
ecm__secret_file() {
    local f=$1
    if [[ ! -s $f ]]; then
        mkdir -p "$(dirname "$f")"
        (
            umask 077
            ecm__random_secret >"$f.tmp"
        )
        mv "$f.tmp" "$f"
    fi
    cat "$f"
}

# Sets and exports everything a test or a person needs to reach the stack.
# Secrets are generated on first use and kept under $ECM_DEV_DIR.
# Debian's odbc-postgresql registers its drivers with CommLog=1: every
# connection leaves a psqlodbc_*.log in /tmp (the connection string cannot
# turn it off). The stack's processes read a copy with the driver logs off
# (ODBCSYSINI); deploy/Containerfile does the same in the image.
ecm__odbc_quiet() {
    [[ -r /etc/odbcinst.ini ]] || return 0
    mkdir -p "$ECM_DEV_DIR/odbc"
    # Written once and replaced only by a rename: a process connecting
    # meanwhile (scenarios load this while the stack runs) must never read a
    # half-written file (unixODBC then finds no driver, and keeps that answer
    # for a while).
    local tmp=$ECM_DEV_DIR/odbc/odbcinst.ini.$BASHPID
    sed -E 's/^(CommLog|Debug)=.*/\1=0/' /etc/odbcinst.ini >"$tmp"
    if cmp -s "$tmp" "$ECM_DEV_DIR/odbc/odbcinst.ini"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$ECM_DEV_DIR/odbc/odbcinst.ini"
    fi
    export ODBCSYSINI=$ECM_DEV_DIR/odbc
}

ecm_env_load() {
    mkdir -p "$ECM_DEV_DIR/pg" "$ECM_DEV_DIR/logs" "$ECM_DEV_DIR/run"
    ECM_DEV_PG_PORT=$(ecm_port pg)
    ECM_DEV_PG_SOCKET_DIR=$ECM_DEV_DIR/pg
    ECM_DEV_PG_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/pg/password")
    ECM_DEV_SIM_USER=ecm-feeder
    ECM_DEV_SIM_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/secrets/sim-password")
    chmod 700 "$ECM_DEV_DIR/secrets"
    local base="host=127.0.0.1 port=$ECM_DEV_PG_PORT user=ecm password=$ECM_DEV_PG_PASSWORD"
    ECM_DEV_PG_ADMIN_DSN="$base dbname=postgres"
    ECM_DEV_PG_DSN="$base dbname=ecm"
    ECM_DEV_SIM_PG_DSN="$base dbname=cisco_sim"
    ECM_DEV_TEST_PG_DSN="$base dbname=ecm_test"
    ECM_DEV_ODBC="Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$ECM_DEV_PG_PORT;Database=cisco_sim;Uid=ecm;Pwd=$ECM_DEV_PG_PASSWORD;"
    ecm__odbc_quiet
    # The simulator's UCCE import rules (import table:Cisco campaign), for
    # ucce_db campaigns on Cisco campaigns 5002..5004.
    ECM_DEV_IMPORT_RULES=Import_5002:5002,Import_5003:5003,Import_5004:5004
    ECM_DEV_KAFKA_BROKERS=127.0.0.1:$(ecm_port devbroker)
    ECM_DEV_API_URL=http://127.0.0.1:$(ecm_port gateway)
    # The admin key ecm_api_key_ensure made when the gateway started.
    ECM_DEV_API_KEY=$(cat "$ECM_DEV_DIR/secrets/api-key" 2>/dev/null || true)
    ecm__api_key_export
    # The console's first admin, made by ecm_console_user_ensure.
    ECM_DEV_CONSOLE_USER=admin
    ECM_DEV_CONSOLE_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/secrets/console-password")
    ECM_DEV_SIM_URL=http://127.0.0.1:$(ecm_port cisco-sim)
    # Kannel: sendsms user "ecm"; admin and status passwords of bearerbox.
    ECM_DEV_KANNEL_USER=ecm
    ECM_DEV_KANNEL_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/secrets/kannel-sendsms")
    ECM_DEV_KANNEL_ADMIN_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/secrets/kannel-admin")
    ECM_DEV_KANNEL_STATUS_PASSWORD=$(ecm__secret_file "$ECM_DEV_DIR/secrets/kannel-status")
    ECM_DEV_KANNEL_SENDSMS_URL=http://127.0.0.1:$(ecm_port kannel-sendsms)/cgi-bin/sendsms
    ECM_DEV_KANNEL_STATUS_URL=http://127.0.0.1:$(ecm_port kannel-admin)/status.txt
    ECM_DEV_KANNEL_CONF=$ECM_DEV_DIR/kannel/kannel.conf
    ECM_DEV_FAKESMSC_LOG=$ECM_DEV_DIR/logs/fakesmsc.log
    # The short code ECM sends from and MOs are addressed to.
    ECM_DEV_SMS_SENDER=${ECM_DEV_SMS_SENDER:-12345}
    ECM_DEV_SMSSIM_URL=http://127.0.0.1:$(ecm_port sms-sim)
    ECM_DEV_SMSSIM_TOKEN=$(ecm__secret_file "$ECM_DEV_DIR/secrets/smssim-token")
    ECM_DEV_SMS_URL=http://127.0.0.1:$(ecm_port sms)
    # The sms service's callback secrets: the DLR token secret stays with the
    # service; the MO key goes into Kannel's get-url and sms-sim's MO URL.
    ECM_DEV_SMS_CALLBACK_SECRET=$(ecm__secret_file "$ECM_DEV_DIR/secrets/sms-callback-secret")
    ECM_DEV_SMS_MO_KEY=$(ecm__secret_file "$ECM_DEV_DIR/secrets/sms-mo-key")
    ECM_DEV_SMS_MO_URL="$ECM_DEV_SMS_URL/sms/mo?key=$ECM_DEV_SMS_MO_KEY&from=%p&to=%P&text=%a"
    chmod 700 "$ECM_DEV_DIR/secrets"
    export ECM_DEV_PG_PORT ECM_DEV_PG_SOCKET_DIR ECM_DEV_PG_PASSWORD ECM_DEV_SIM_USER \
        ECM_DEV_SIM_PASSWORD ECM_DEV_PG_ADMIN_DSN ECM_DEV_PG_DSN ECM_DEV_SIM_PG_DSN \
        ECM_DEV_TEST_PG_DSN ECM_DEV_ODBC ECM_DEV_IMPORT_RULES ECM_DEV_KAFKA_BROKERS \
        ECM_DEV_API_URL ECM_DEV_SIM_URL ECM_DEV_KANNEL_USER ECM_DEV_KANNEL_PASSWORD ECM_DEV_KANNEL_ADMIN_PASSWORD \
        ECM_DEV_KANNEL_STATUS_PASSWORD ECM_DEV_KANNEL_SENDSMS_URL ECM_DEV_KANNEL_STATUS_URL \
        ECM_DEV_KANNEL_CONF ECM_DEV_FAKESMSC_LOG ECM_DEV_SMS_SENDER ECM_DEV_SMSSIM_URL \
        ECM_DEV_SMSSIM_TOKEN ECM_DEV_SMS_URL ECM_DEV_SMS_CALLBACK_SECRET ECM_DEV_SMS_MO_KEY \
        ECM_DEV_SMS_MO_URL
}

# ---------------------------------------------------------------- build

# Configures and builds DIR with extra cmake args; output goes to
# $ECM_DEV_DIR/logs/build-<dir>.log and, on failure, its tail to stderr.
ecm__cmake_build() {
    local dir=$1
    shift
    local log
    log=$ECM_DEV_DIR/logs/build-$(basename "$dir").log
    mkdir -p "$ECM_DEV_DIR/logs"
    if ! { cmake -S "$ECM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="${ECM_BUILD_TYPE:-RelWithDebInfo}" "$@" &&
        cmake --build "$dir" -j"$(nproc)"; } >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        ecm_warn "build of $dir failed (full log: $log)"
        return 1
    fi
}

# Normal build into $ECM_BUILD_DIR. Returns non-zero on failure.
ecm_build() {
    ecm_say "building $ECM_BUILD_DIR (${ECM_BUILD_TYPE:-RelWithDebInfo})"
    ecm__cmake_build "$ECM_BUILD_DIR"
}

# ASan+UBSan build into $ECM_ASAN_BUILD_DIR. Returns non-zero on failure.
ecm_build_asan() {
    ecm_say "building $ECM_ASAN_BUILD_DIR (ASan+UBSan)"
    ecm__cmake_build "$ECM_ASAN_BUILD_DIR" -DECM_SANITIZE=ON
}

# The build types and the compiler nobody runs in the tests, built so that
# each stays warning-free (packagers and images build Release; fuzzing needs
# clang): Release with gcc into build-release, RelWithDebInfo with clang-15
# into build-clang. Returns non-zero when either fails.
ecm_build_variants() {
    ecm_say "building $ECM_ROOT/build-release (Release, gcc)"
    ecm__cmake_build "$ECM_ROOT/build-release" -DCMAKE_BUILD_TYPE=Release || return 1
    ecm_say "building $ECM_ROOT/build-clang (RelWithDebInfo, clang-15)"
    ecm__cmake_build "$ECM_ROOT/build-clang" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER=clang-15 -DCMAKE_CXX_COMPILER=clang++-15
}

# Sanitizer settings for everything run from a sanitized build: stop at the
# first error, report leaks. Suppressions cover third-party internals only.
ecm_sanitizer_env() {
    local supp=$ECM_ROOT/scripts/lsan.supp
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    if [[ -f $supp ]]; then
        export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
    fi
}

# ---------------------------------------------------------------- PostgreSQL

# Runs a PostgreSQL server program as the cluster's owner: initdb and postgres
# refuse root, so as root that is the unprivileged system user ecm-pg.
ecm__pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$ECM_DEV_DIR/pg" && runuser -u "$ECM_PG_OS_USER" -- "$@")
    else
        (cd "$ECM_DEV_DIR/pg" && "$@")
    fi
}

# As root: creates ecm-pg if missing, gives it .dev/pg and the PG log, and
# makes every ancestor of .dev/pg traversable (o+x only where it is missing,
# saying so). Does nothing for a normal user.
ecm__pg_prepare_owner() {
    [[ $EUID -eq 0 ]] || return 0
    local u=$ECM_PG_OS_USER
    if ! id -u "$u" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$u"
        ecm_say "created system user $u (runs the dev PostgreSQL: it refuses root)"
    fi
    local pgdir=$ECM_DEV_DIR/pg log=$ECM_DEV_DIR/logs/postgres.log
    touch "$log"
    find "$pgdir" "$log" ! -user "$u" -exec chown "$u:$u" {} +
    # Top-down: a directory below an untraversable one looks untraversable too.
    local d=$pgdir ancestors=()
    while [[ $d != / ]]; do
        ancestors=("$d" "${ancestors[@]}")
        d=$(dirname "$d")
    done
    for d in "${ancestors[@]}"; do
        if ! runuser -u "$u" -- test -x "$d"; then
            chmod o+x "$d"
            ecm_say "chmod o+x $d (so that $u can reach $pgdir)"
        fi
    done
    if ! runuser -u "$u" -- test -x "$ECM_DEV_DIR/logs"; then
        chmod o+x "$ECM_DEV_DIR/logs"
        ecm_say "chmod o+x $ECM_DEV_DIR/logs (so that $u can write postgres.log)"
    fi
}

# psql on the admin database; extra args pass through.
ecm__psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 "$ECM_DEV_PG_ADMIN_DSN" "$@"
}

# Creates the databases NAME... that do not exist.
ecm__pg_create_dbs() {
    local db have
    have=" $(ecm__psql_admin -tA -c "SELECT string_agg(datname, ' ') FROM pg_database") "
    for db in "$@"; do
        [[ $have == *" $db "* ]] || ecm__psql_admin -c "CREATE DATABASE $db"
    done
}

# The databases of the stack: the ECM DB, the simulator's, and the unit tests'.
ECM_DEV_DATABASES=(ecm cisco_sim ecm_test)

# For the benches: the dev stack started, from empty databases first when
# $1 is 1 (devstack.sh reset); the output of both in
# $ECM_DEV_DIR/logs/bench-stack.log. Dies naming what failed. Loads the
# environment again after: a fresh .dev has no admin API key until the
# gateway's first start makes one (every API call answered 401).
ecm_bench_stack() {
    local log=$ECM_DEV_DIR/logs/bench-stack.log
    mkdir -p "$ECM_DEV_DIR/logs"
    : >"$log"
    if (($1)) && ! "$ECM_ROOT/scripts/devstack.sh" reset >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        ecm_die "devstack.sh reset failed"
    fi
    if ! "$ECM_ROOT/scripts/devstack.sh" start >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        ecm_die "the dev stack did not start"
    fi
    ecm_env_load
}

# Initialises (once) and starts the private cluster, then creates the
# databases. Returns non-zero, with the log's tail, when it can't.
ecm_pg_start() {
    ecm_env_load
    local pgdir=$ECM_DEV_DIR/pg data=$ECM_DEV_DIR/pg/data log=$ECM_DEV_DIR/logs/postgres.log
    [[ -x $ECM_PG_BIN/initdb ]] || ecm_die "$ECM_PG_BIN/initdb not found: run scripts/install-deps.sh"
    ecm__pg_prepare_owner
    if [[ ! -s $data/PG_VERSION ]]; then
        ecm_say "initdb $data"
        rm -rf "$data"
        if ! ecm__pg_as_owner "$ECM_PG_BIN/initdb" -D "$data" -U ecm \
            --pwfile="$pgdir/password" --auth=scram-sha-256 --encoding=UTF8 --no-locale \
            >"$ECM_DEV_DIR/logs/initdb.log" 2>&1; then
            tail -n 20 "$ECM_DEV_DIR/logs/initdb.log" >&2
            ecm_warn "initdb failed"
            return 1
        fi
        # Dev speed over durability: a lost last commit after a power cut is fine here.
        cat >>"$data/postgresql.conf" <<'EOF'

# ECM dev stack (scripts/devstack.sh)
listen_addresses = '127.0.0.1'
max_connections = 300
synchronous_commit = off
fsync = on
include_if_exists = 'devstack.conf'
EOF
    fi
    # Port and socket dir are written at every start so that a changed
    # ECM_DEV_PORT_BASE or a moved tree takes effect.
    printf "port = %s\nunix_socket_directories = '%s'\n" "$ECM_DEV_PG_PORT" "$pgdir" \
        >"$data/devstack.conf"
    # PostgreSQL's per-statement figures (docs/performance.md) when the
    # contrib module is installed: loaded at start, read with
    # CREATE EXTENSION pg_stat_statements in a database (bench/voice_e2e.sh).
    if [[ -e $("$ECM_PG_BIN/pg_config" --pkglibdir 2>/dev/null)/pg_stat_statements.so ]]; then
        printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = top\n" \
            >>"$data/devstack.conf"
    fi
    [[ $EUID -ne 0 ]] || chown "$ECM_PG_OS_USER:$ECM_PG_OS_USER" "$data/devstack.conf"
    if ecm__pg_as_owner "$ECM_PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        ecm_say "postgres already running (port $ECM_DEV_PG_PORT)"
    else
        ecm_say "starting postgres on 127.0.0.1:$ECM_DEV_PG_PORT"
        if ! ecm__pg_as_owner "$ECM_PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t "$ECM_READY_TIMEOUT_S" \
            start >/dev/null 2>&1; then
            tail -n 20 "$log" >&2
            ecm_warn "postgres did not start (log: $log)"
            return 1
        fi
    fi
    local t=0
    until pg_isready -q -h 127.0.0.1 -p "$ECM_DEV_PG_PORT" -t 1; do
        t=$((t + 1))
        if ((t >= ECM_READY_TIMEOUT_S)); then
            tail -n 20 "$log" >&2
            ecm_warn "postgres not ready after ${ECM_READY_TIMEOUT_S}s (log: $log)"
            return 1
        fi
        sleep 1
    done
    ecm__pg_create_dbs "${ECM_DEV_DATABASES[@]}"
}

# Drops and re-creates the databases of the stack (services must be stopped).
# One session a database, all at once: a DROP DATABASE waits mostly on the
# disk (its checkpoint, removing the files), and concurrent ones share their
# checkpoints. Returns 1 when one failed (psql's message on stderr).
ecm_pg_reset_dbs() {
    ecm_env_load
    local db pids=() rc=0 pid
    for db in "${ECM_DEV_DATABASES[@]}"; do
        ecm__psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    return $rc
}

# Stops the private cluster (fast mode). Returns 0 when it is stopped.
ecm_pg_stop() {
    local data=$ECM_DEV_DIR/pg/data
    [[ -s $data/PG_VERSION ]] || return 0
    if ecm__pg_as_owner "$ECM_PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        ecm_say "stopping postgres"
        ecm__pg_as_owner "$ECM_PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

ecm_pg_running() {
    [[ -s $ECM_DEV_DIR/pg/data/PG_VERSION ]] &&
        ecm__pg_as_owner "$ECM_PG_BIN/pg_ctl" -D "$ECM_DEV_DIR/pg/data" status >/dev/null 2>&1
}

# psql on the ECM DB (`ecm_psql -tA -c 'SELECT ...'`); exits non-zero on SQL errors.
# npm packages (API linters, the console's browser tests) from the committed
# package-lock.json, only when node_modules is missing or older than the lock
# (npm ci deletes node_modules and takes ~15 s). No install scripts run.
ecm_npm_ci() {
    if [[ ! -f $ECM_ROOT/node_modules/.package-lock.json ||
        $ECM_ROOT/package-lock.json -nt $ECM_ROOT/node_modules/.package-lock.json ]]; then
        ecm_say "npm ci (package-lock.json)"
        (cd "$ECM_ROOT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 ||
            ecm_die "npm ci failed"
    fi
}

ecm_psql() {
    psql -X -q -v ON_ERROR_STOP=1 "$ECM_DEV_PG_DSN" "$@"
}

# psql on the simulator's database.
ecm_sim_psql() {
    psql -X -q -v ON_ERROR_STOP=1 "$ECM_DEV_SIM_PG_DSN" "$@"
}

# Prints the 12 statements with the most time since pg_stat_statements was
# last reset (all databases), under the heading "-- PostgreSQL: TITLE";
# total seconds with DECIMALS decimals. For the benchmarks.
ecm_pg_top_statements() {
    echo "-- PostgreSQL: $1 (pg_stat_statements, all databases)"
    ecm_psql -tA -F $'\t' -c "SELECT round(total_exec_time::numeric / 1000, $2), calls,
        round((total_exec_time / greatest(calls, 1))::numeric * 1000, 0), rows,
        left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" |
        awk -F '\t' 'BEGIN { printf "   %8s %9s %8s %9s  %s\n", "total s", "calls", "us/call", "rows", "statement" }
            { printf "   %8s %9s %8s %9s  %s\n", $1, $2, $3, $4, $5 }'
}

# ---------------------------------------------------------------- processes

# Fills ECM_SVC_ENV (NAME=value words) and ECM_SVC_BIN for a stack process.
ecm_service_env() {
    local name=$1 base
    ecm_env_load
    ECM_SVC_BIN=$ECM_BIN_DIR/$(ecm_binary "$name")
    base=$(ecm_replica_base "$name")
    if [[ $base != "$name" ]]; then
        # A replica runs through a link of its own name (see ecm_pid).
        mkdir -p "$ECM_DEV_DIR/run/bin"
        ln -sfn "$ECM_BIN_DIR/$(ecm_binary "$base")" "$ECM_DEV_DIR/run/bin/ecm-$name"
        ECM_SVC_BIN=$ECM_DEV_DIR/run/bin/ecm-$name
    fi
    # Loopback only: the dev stack has dev passwords and no API keys.
    ECM_SVC_ENV=("ECM_HTTP_BIND=${ECM_HTTP_BIND:-127.0.0.1}")
    case $base in
    devbroker)
        ECM_SVC_ENV+=("ECM_DEVBROKER_PORT=$(ecm_port devbroker)"
            "ECM_HTTP_PORT=$(ecm_port devbroker-http)")
        ;;
    cisco-sim)
        # The business clock: the simulated Logger's clock (personal callbacks).
        local sim_clock
        while IFS= read -r sim_clock; do
            [[ -z $sim_clock ]] || ECM_SVC_ENV+=("$sim_clock")
        done < <(ecm_clock_env)
        ECM_SVC_ENV+=("ECM_HTTP_PORT=$(ecm_port cisco-sim)"
            "ECM_SIM_PG_DSN=$ECM_DEV_SIM_PG_DSN"
            "ECM_SIM_USER=$ECM_DEV_SIM_USER"
            "ECM_SIM_PASSWORD=$ECM_DEV_SIM_PASSWORD"
            "ECM_SIM_DIAL_RATE=${ECM_SIM_DIAL_RATE:-200}"
            "ECM_SIM_UCCE_IMPORT_RULES=${ECM_SIM_UCCE_IMPORT_RULES:-$ECM_DEV_IMPORT_RULES}"
            "ECM_SIM_IMPORT_POLL_MS=${ECM_SIM_IMPORT_POLL_MS:-200}"
            "ECM_SIM_RESULT_MIX=${ECM_SIM_RESULT_MIX:-10:40,8:25,9:10,12:10,3:5,25:5,14:5}")
        ;;
    kannel)
        # Not an ECM binary: the supervisor script runs bearerbox, smsbox and
        # fakesmsc; ecm_kannel_write_conf gives it its configuration.
        ECM_SVC_BIN=$ECM_ROOT/scripts/kannel.sh
        ECM_SVC_ENV=()
        ;;
    sms-sim)
        ECM_SVC_ENV+=("ECM_HTTP_PORT=$(ecm_port sms-sim)"
            "ECM_SMSSIM_TOKEN=$ECM_DEV_SMSSIM_TOKEN"
            "ECM_SMSSIM_MIX=${ECM_SMSSIM_MIX:-delivered:85,undelivered:8,rejected:2,nodlr:5}"
            "ECM_SMSSIM_DLR_DELAY_MS=${ECM_SMSSIM_DLR_DELAY_MS:-200}"
            "ECM_SMSSIM_MO_URL=${ECM_SMSSIM_MO_URL:-$ECM_DEV_SMS_MO_URL}"
            "ECM_SMSSIM_MO_TO=$ECM_DEV_SMS_SENDER")
        ;;
    gateway | feeder | result-sync | result-sync-uccx | strategy | sms)
        local clock
        while IFS= read -r clock; do
            [[ -z $clock ]] || ECM_SVC_ENV+=("$clock")
        done < <(ecm_clock_env)
        # A killed member leaves its group after this, not after librdkafka's 45 s.
        local session_timeout fetch_wait
        session_timeout=$(printenv 'ECM_KAFKA_session.timeout.ms' || echo 6000)
        # The dev broker (librdkafka's mock cluster) holds a fetch that found
        # nothing for the whole fetch.wait.max.ms, even when events arrive
        # meanwhile; a real broker answers as soon as they do. 10 ms keeps
        # that hold off the decision delay the benchmarks measure (a group of
        # results waited 50 ms on average at the services' 100;
        # docs/performance.md, "The fifth step").
        fetch_wait=$(printenv 'ECM_KAFKA_fetch.wait.max.ms' || echo 10)
        ECM_SVC_ENV+=("ECM_HTTP_PORT=$(ecm_port "$name")"
            "ECM_PG_DSN=$ECM_DEV_PG_DSN"
            "ECM_KAFKA_BROKERS=$ECM_DEV_KAFKA_BROKERS"
            "ECM_KAFKA_session.timeout.ms=$session_timeout"
            "ECM_KAFKA_fetch.wait.max.ms=$fetch_wait")
        case $base in
        gateway)
            # Plain HTTP on loopback: a Secure cookie would never come back.
            ECM_SVC_ENV+=("ECM_GATEWAY_COOKIE_SECURE=${ECM_GATEWAY_COOKIE_SECURE:-false}")
            # The console from the working tree's web/ (edit, reload); set
            # ECM_GATEWAY_WEB_DIR empty for the compiled-in copy.
            ECM_SVC_ENV+=("ECM_GATEWAY_WEB_DIR=${ECM_GATEWAY_WEB_DIR-$ECM_ROOT/web}")
            ;;
        feeder)
            ECM_SVC_ENV+=("ECM_UCCX_URL=$ECM_DEV_SIM_URL"
                "ECM_UCCX_USER=$ECM_DEV_SIM_USER"
                "ECM_UCCX_PASSWORD=$ECM_DEV_SIM_PASSWORD"
                "ECM_UCCE_URL=$ECM_DEV_SIM_URL"
                "ECM_UCCE_USER=$ECM_DEV_SIM_USER"
                "ECM_UCCE_PASSWORD=$ECM_DEV_SIM_PASSWORD"
                "ECM_UCCE_ODBC=$ECM_DEV_ODBC"
                "ECM_UCCX_ODBC=$ECM_DEV_ODBC"
                "ECM_FEEDER_RECONCILE_AFTER_S=${ECM_FEEDER_RECONCILE_AFTER_S:-5}"
                "ECM_FEEDER_HTTP_TIMEOUT_S=${ECM_FEEDER_HTTP_TIMEOUT_S:-3}")
            ;;
        result-sync)
            ECM_SVC_ENV+=("ECM_RESULTSYNC_ODBC=$ECM_DEV_ODBC" "ECM_RESULTSYNC_KIND=dialer_detail")
            ;;
        result-sync-uccx)
            # Cisco warns against frequent queries as uccxhruser; the dev
            # stack polls its simulator often so that scenarios run quickly
            # (100 ms: the poll was most of the decision delay at 300;
            # docs/performance.md, "The fourth step").
            ECM_SVC_ENV+=("ECM_RESULTSYNC_ODBC=$ECM_DEV_ODBC" "ECM_RESULTSYNC_KIND=uccx"
                "ECM_RESULTSYNC_SOURCE=uccx:db_cra"
                "ECM_RESULTSYNC_POLL_MS=${ECM_RESULTSYNC_UCCX_POLL_MS:-100}"
                "ECM_RESULTSYNC_UCCX_HISTORY_AFTER_S=${ECM_RESULTSYNC_UCCX_HISTORY_AFTER_S:-82800}")
            ;;
        sms)
            ECM_SVC_ENV+=("ECM_SMS_KANNEL_URL=$ECM_DEV_KANNEL_SENDSMS_URL"
                "ECM_SMS_KANNEL_USER=$ECM_DEV_KANNEL_USER"
                "ECM_SMS_KANNEL_PASSWORD=$ECM_DEV_KANNEL_PASSWORD"
                "ECM_SMS_HTTP_GATEWAY_URL=$ECM_DEV_SMSSIM_URL/send"
                "ECM_SMS_HTTP_GATEWAY_AUTH=Bearer $ECM_DEV_SMSSIM_TOKEN"
                "ECM_SMS_CALLBACK_BASE_URL=$ECM_DEV_SMS_URL"
                "ECM_SMS_CALLBACK_SECRET=$ECM_DEV_SMS_CALLBACK_SECRET"
                "ECM_SMS_MO_KEY=$ECM_DEV_SMS_MO_KEY")
            ;;
        esac
        ;;
    *) ecm_die "unknown stack process '$name' (known: ${ECM_PROCS[*]})" ;;
    esac
}

# Prints the file name of a stack process's binary: result-sync-uccx is a
# second ecm-result-sync.
ecm_binary() {
    case $1 in
    result-sync-uccx) echo ecm-result-sync ;;
    *) echo "ecm-$1" ;;
    esac
}

ecm__pidfile() { echo "$ECM_DEV_DIR/run/$1.pid"; }
ecm__exitfile() { echo "$ECM_DEV_DIR/run/$1.exit"; }

# Prints the pid of a running stack process; returns 1 when it is not running.
ecm_pid() {
    local pf ef pid
    pf=$(ecm__pidfile "$1")
    ef=$(ecm__exitfile "$1")
    [[ -s $pf && ! -e $ef ]] || return 1
    pid=$(cat "$pf")
    kill -0 "$pid" 2>/dev/null || return 1
    # A pid file left by a reboot may name someone else's process by now.
    local want
    want=$(ecm_binary "$1")
    [[ $1 != kannel ]] || want=scripts/kannel.sh
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$want"* ]] || return 1
    # ... or another worktree's stack, which runs the same binaries: ours is
    # the child of the wrapper that writes this pid file.
    local ppid
    ppid=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $2 }')
    [[ -n $ppid && $(tr '\0' ' ' <"/proc/$ppid/cmdline" 2>/dev/null) == *" $pf "* ]] || return 1
    echo "$pid"
}

# 0 when NAME is optional (ECM_OPTIONAL) and its binary is not built.
ecm_skippable() {
    local base
    base=$(ecm_replica_base "$1")
    [[ " ${ECM_OPTIONAL[*]} " == *" $base "* && ! -x $ECM_BIN_DIR/ecm-$base ]]
}

# One readiness probe of NAME: GET /readyz answering 2xx; for kannel,
# bearerbox's status page showing the fake SMSC online and smsbox connected,
# and smsbox's sendsms port answering. Returns 0 when ready.
ecm_ready_probe() {
    if [[ $1 == kannel ]]; then
        ecm_kannel_ready
    else
        curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(ecm_http_port "$1")/readyz" 2>/dev/null
    fi
}

# Prints how a stopped process ended (its exit code, 128+signal when killed),
# or nothing when it is running or never ran.
ecm_exit_code() {
    local ef
    ef=$(ecm__exitfile "$1")
    [[ -s $ef ]] && cat "$ef"
    return 0
}

# Starts one process in the background without waiting for it: output to
# .dev/logs/NAME.log, pid to .dev/run/NAME.pid. A small wrapper in its own
# session waits for it and writes its exit status to .dev/run/NAME.exit, since
# only a parent can read it. Returns 1 if it is already running.
ecm_spawn_service() {
    local name=$1
    ecm_service_env "$name"
    [[ -x $ECM_SVC_BIN ]] || ecm_die "$ECM_SVC_BIN not found: build first (or set ECM_BIN_DIR)"
    if ecm_pid "$name" >/dev/null; then
        ecm_warn "$name is already running (pid $(ecm_pid "$name"))"
        return 1
    fi
    local pf ef log
    pf=$(ecm__pidfile "$name")
    ef=$(ecm__exitfile "$name")
    log=$ECM_DEV_DIR/logs/$name.log
    rm -f "$pf" "$ef" "$ECM_DEV_DIR/run/$name.killed"
    # shellcheck disable=SC2016
    setsid bash -c '
        pf=$1 ef=$2
        shift 2
        "$@" &
        child=$!
        echo "$child" >"$pf.tmp" && mv "$pf.tmp" "$pf"
        wait "$child"
        echo $? >"$ef.tmp" && mv "$ef.tmp" "$ef"
    ' ecm-wrap "$pf" "$ef" env "${ECM_SVC_ENV[@]}" "$ECM_SVC_BIN" </dev/null >>"$log" 2>&1 &
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $pf ]] && return 0
        sleep 0.05
    done
    ecm_warn "$name: no pid file after 5 s"
    return 1
}

# Waits until NAME answers GET /readyz with 2xx (up to ECM_READY_TIMEOUT_S).
# On failure (timeout or the process died) prints the log's last 20 lines and
# returns 1.
ecm_wait_ready() {
    local name=$1 port log t0
    port=$(ecm_http_port "$name")
    log=$ECM_DEV_DIR/logs/$name.log
    t0=$SECONDS
    while :; do
        if ecm_ready_probe "$name"; then
            return 0
        fi
        if ! ecm_pid "$name" >/dev/null; then
            ecm_warn "$name exited (status $(ecm_exit_code "$name")) before it was ready; last lines of $log:"
            tail -n 20 "$log" >&2
            return 1
        fi
        if ((SECONDS - t0 >= ECM_READY_TIMEOUT_S)); then
            ecm_warn "$name not ready on :$port after ${ECM_READY_TIMEOUT_S}s; last lines of $log:"
            tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Starts NAME and waits until it is ready. Returns 1 (log tail printed) if not.
ecm_start_service() {
    ecm_spawn_service "$1" || return 1
    ecm_wait_ready "$1" || return 1
    [[ $1 != gateway ]] || { ecm_api_key_ensure && ecm_console_user_ensure; }
}

# The dev stack's console admin: user $ECM_DEV_CONSOLE_USER ("admin") with
# the random password of $ECM_DEV_DIR/secrets/console-password, made once per
# database with "ecm-gateway users create" (the way an operator makes the
# first one; the password goes on stdin).
ecm_console_user_ensure() {
    local log=$ECM_DEV_DIR/logs/users.log
    if ECM_PG_DSN=$ECM_DEV_PG_DSN "$ECM_BIN_DIR/ecm-gateway" users list 2>>"$log" |
        awk -v u="$ECM_DEV_CONSOLE_USER" 'NR > 1 && tolower($4) == tolower(u) { found = 1 } END { exit !found }'; then
        return 0
    fi
    printf '%s\n' "$ECM_DEV_CONSOLE_PASSWORD" |
        ECM_PG_DSN=$ECM_DEV_PG_DSN "$ECM_BIN_DIR/ecm-gateway" users create \
            --name "$ECM_DEV_CONSOLE_USER" --role admin >/dev/null 2>>"$log" ||
        { ecm_warn "could not create the dev stack's console user (see $log)"; return 1; }
}

# The dev stack's admin API key: made once per database with
# "ecm-gateway keys create" (the way an operator makes the first one), kept in
# $ECM_DEV_DIR/secrets/api-key, and exported as ECM_API_KEY (unless the caller
# set one) so that api(), ecmctl and the tests authenticate. A key file the
# database no longer knows (a reset) is replaced.
ecm_api_key_ensure() {
    local file=$ECM_DEV_DIR/secrets/api-key key code
    key=$(cat "$file" 2>/dev/null || true)
    if [[ -n $key ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
            -H "Authorization: Bearer $key" "$ECM_DEV_API_URL/api/v1/keys?limit=1" || true)
        [[ $code == 200 ]] || key=
    fi
    if [[ -z $key ]]; then
        key=$(ECM_PG_DSN=$ECM_DEV_PG_DSN "$ECM_BIN_DIR/ecm-gateway" keys create --role admin \
            --name "dev stack admin" 2>>"$ECM_DEV_DIR/logs/keys.log") ||
            { ecm_warn "could not create the dev stack's admin API key (see $ECM_DEV_DIR/logs/keys.log)"; return 1; }
        (umask 077 && printf '%s\n' "$key" >"$file")
    fi
    ECM_DEV_API_KEY=$key
    ecm__api_key_export
}

# ECM_API_KEY follows the dev stack's key unless the caller set a key of its
# own (a stack restarted from scratch has a new key).
# ECM_AUTH: the curl arguments that send it ("${ECM_AUTH[@]}").
ecm__api_key_export() {
    export ECM_DEV_API_KEY
    if [[ -n $ECM_DEV_API_KEY ]] && [[ -z ${ECM_API_KEY:-} || ${ECM_API_KEY_FROM_DEV:-} == 1 ]]; then
        export ECM_API_KEY=$ECM_DEV_API_KEY ECM_API_KEY_FROM_DEV=1
    fi
    ECM_AUTH=()
    [[ -z ${ECM_API_KEY:-} ]] || ECM_AUTH=(-H "Authorization: Bearer $ECM_API_KEY")
}

# Waits up to $2 seconds for NAME to have exited; returns 1 on timeout.
ecm__wait_exit() {
    ecm__wait_exit_until "$1" $((SECONDS + $2))
}

# Stops NAME: SIGTERM, up to ECM_STOP_TIMEOUT_S for it to exit, then SIGKILL.
# Returns 0 when it exited 0 on SIGTERM, or was not running because it never
# started, exited 0 or was killed by ecm_kill9. Otherwise (it crashed earlier,
# or broke the SIGTERM contract) prints how it ended and returns 1.
ecm_stop_service() {
    ecm_stop_services "$1"
}

# Kills NAME with SIGKILL (crash simulation) and waits until it is gone.
ecm_kill9() {
    local name=$1 pid
    pid=$(ecm_pid "$name") || ecm_die "ecm_kill9: $name is not running"
    # Tells ecm_stop_service that this death was wanted.
    : >"$ECM_DEV_DIR/run/$name.killed"
    kill -KILL "$pid"
    ecm__wait_exit "$name" 10 || ecm_die "ecm_kill9: $name still there after SIGKILL"
}

# The business clock, and the helpers on a running stack (split out of this
# file; the same functions, the same names).
# shellcheck source=scripts/lib-clock.sh
source "$ECM_ROOT/scripts/lib-clock.sh"
# shellcheck source=scripts/lib-api.sh
source "$ECM_ROOT/scripts/lib-api.sh"
# shellcheck source=scripts/lib-stack.sh
source "$ECM_ROOT/scripts/lib-stack.sh"
