# shellcheck shell=bash
# Part of scripts/lib.sh (sourced by it; never on its own): the dev stack's
# business clock.
# ---------------------------------------------------------------- business clock

# The stack's business clock (lib/base/ecm_clock.h), fixed once per stack in
# $ECM_DEV_DIR/run/clock.env so that every service, every restart of one and
# every check a test makes read the same time:
#   ECM_DEV_CLOCK=midday    (default) business time starts at 12:00 UTC today and
#                           runs on: legal calling hours (08:00-21:00 at the called
#                           party) are open for UTC, the campaigns' default zone,
#                           whenever the stack is started. A real deployment
#                           never sets a clock.
#   ECM_DEV_CLOCK=real      the real clock.
#   ECM_DEV_CLOCK=<RFC 3339> business time starts at that instant.
#   ECM_DEV_CLOCK_RATE=<n>  and runs n times faster than real time (default 1).
#   ECM_DEV_CLOCK_HELD=1    business time stands at that start until a test
#                           releases it (ecm_clock_release): the services read
#                           it from the control file $ECM_DEV_DIR/run/clock.ctl
#                           (ECM_CLOCK_CONTROL_FILE, lib/base/ecm_clock.h), so the
#                           set-up of a scenario takes no business time.
# ECM_CLOCK_* variables set by the caller win over all of this.
ecm__clock_file() { echo "$ECM_DEV_DIR/run/clock.env"; }
ecm__clock_ctl_file() { echo "$ECM_DEV_DIR/run/clock.ctl"; }

ecm_clock_init() {
    local f now start rate=${ECM_DEV_CLOCK_RATE:-1} mode=${ECM_DEV_CLOCK:-midday}
    f=$(ecm__clock_file)
    [[ -f $f ]] && return 0
    mkdir -p "$ECM_DEV_DIR/run"
    if [[ -n ${ECM_CLOCK_FIXED-}${ECM_CLOCK_OFFSET_MS-}${ECM_CLOCK_RATE-} ]]; then
        local v
        for v in ECM_CLOCK_FIXED ECM_CLOCK_OFFSET_MS ECM_CLOCK_RATE ECM_CLOCK_EPOCH_MS; do
            [[ -z ${!v-} ]] || printf '%s=%s\n' "$v" "${!v}"
        done >"$f"
        return 0
    fi
    now=$(date -u +%s%3N)
    case $mode in
    real)
        if [[ ${ECM_DEV_CLOCK_HELD:-0} != 1 ]]; then
            : >"$f"
            return 0
        fi
        start=$now
        ;;
    midday) start=$(date -u -d "$(date -u +%F) 12:00:00" +%s%3N) ;;
    *) start=$(date -u -d "$mode" +%s%3N) || ecm_die "ECM_DEV_CLOCK: '$mode' is not a time" ;;
    esac
    if [[ ${ECM_DEV_CLOCK_HELD:-0} == 1 ]]; then
        ecm_clock_write "$(ecm__clock_ctl_file)" held "$start" "$now" "$rate"
        printf 'ECM_CLOCK_CONTROL_FILE=%s\n' "$(ecm__clock_ctl_file)" >"$f"
        return 0
    fi
    {
        printf 'ECM_CLOCK_OFFSET_MS=%s\n' "$((start - now))"
        if [[ $rate != 1 ]]; then
            printf 'ECM_CLOCK_RATE=%s\nECM_CLOCK_EPOCH_MS=%s\n' "$rate" "$now"
        fi
    } >"$f"
}

# The stack's clock settings, one NAME=value a line (nothing before start).
ecm_clock_env() {
    local f
    f=$(ecm__clock_file)
    [[ ! -f $f ]] || cat "$f"
}

# The clock's control file when the stack's clock has one (prints nothing
# otherwise).
ecm_clock_ctl() { ecm_clock_env | sed -n 's/^ECM_CLOCK_CONTROL_FILE=//p' | tail -n 1; }

# ecm_clock_write FILE MODE BUSINESS_MS REAL_MS RATE [UNTIL_MS]: replaces the
# control file atomically (a temporary, then rename: a service never reads
# half a line) with "held|run ..." (lib/base/ecm_clock.h).
ecm_clock_write() {
    local f=$1 tmp
    shift
    tmp=$f.$$.tmp
    mkdir -p "$(dirname "$f")"
    echo "$*" >"$tmp" && mv -f "$tmp" "$f"
}

# Prints the control file's business time now (MS), as lib/base/ecm_clock computes it.
ecm__clock_ctl_now_ms() {
    local mode b r rate stop
    read -r mode b r rate stop <"$1" || return 1
    if [[ $mode == held ]]; then
        echo "$b"
        return
    fi
    awk -v now="$(date -u +%s%3N)" -v b="$b" -v r="$r" -v rate="$rate" -v stop="${stop:-}" \
        'BEGIN { v = b + int((now - r) * rate); if (stop != "" && v > stop + 0) v = stop;
                 printf "%.0f\n", v }'
}

# ecm_clock_release [UNTIL_MS]: a held clock runs from now at its rate,
# continuing from the instant it stood at (standing still again at UNTIL_MS
# when given). A running one goes on from where it is (with the new UNTIL).
# Fails when the stack's clock has no control file.
ecm_clock_release() {
    local f mode b r rate stop now_b
    f=$(ecm_clock_ctl)
    [[ -n $f && -f $f ]] || return 1
    read -r mode b r rate stop <"$f" || return 1
    now_b=$(ecm__clock_ctl_now_ms "$f")
    ecm_clock_write "$f" run "$now_b" "$(date -u +%s%3N)" "$rate" ${1:+"$1"}
}

# ecm_clock_hold: the clock stands still where it is now (see
# ecm_clock_release). Approximate on a running clock: a service that already
# read a later instant stays at that one (it never goes backwards) until the
# clock passes it; a scenario that must stop at a known instant releases with
# UNTIL_MS instead.
ecm_clock_hold() {
    local f mode b r rate stop now_b
    f=$(ecm_clock_ctl)
    [[ -n $f && -f $f ]] || return 1
    read -r mode b r rate stop <"$f" || return 1
    now_b=$(ecm__clock_ctl_now_ms "$f")
    ecm_clock_write "$f" held "$now_b" "$(date -u +%s%3N)" "$rate"
}

# Prints the clock's rate against real time (1 for a real clock).
ecm_clock_rate() {
    local f rate
    f=$(ecm_clock_ctl)
    if [[ -n $f && -f $f ]]; then
        read -r _ _ _ rate _ <"$f"
    else
        rate=$(ecm_clock_env | sed -n 's/^ECM_CLOCK_RATE=//p' | tail -n 1)
    fi
    echo "${rate:-1}"
}

# Business time now in milliseconds, as the services compute it.
ecm_business_now_ms() {
    local off=0 rate=1 epoch=0 fixed='' line
    while IFS= read -r line; do
        case $line in
        ECM_CLOCK_CONTROL_FILE=*)
            ecm__clock_ctl_now_ms "${line#*=}"
            return
            ;;
        ECM_CLOCK_OFFSET_MS=*) off=${line#*=} ;;
        ECM_CLOCK_RATE=*) rate=${line#*=} ;;
        ECM_CLOCK_EPOCH_MS=*) epoch=${line#*=} ;;
        ECM_CLOCK_FIXED=*) fixed=${line#*=} ;;
        esac
    done < <(ecm_clock_env)
    if [[ -n $fixed ]]; then
        [[ $fixed =~ ^-?[0-9]+$ ]] && echo "$fixed" || date -u -d "$fixed" +%s%3N
        return
    fi
    awk -v now="$(date -u +%s%3N)" -v off="$off" -v rate="$rate" -v epoch="$epoch" \
        'BEGIN { if (rate != 1) now = epoch + (now - epoch) * rate; printf "%.0f\n", now + off }'
}

# Business time now as SQL: a timestamptz literal for queries in checks.
ecm_business_now_sql() {
    printf "to_timestamp(%s / 1000.0)" "$(ecm_business_now_ms)"
}

# Prints `export NAME=value` lines for eval: `eval "$(scripts/devstack.sh env)"`.
ecm_env_print() {
    local v
    for v in ECM_DEV_PORT_BASE ECM_DEV_DIR ECM_BIN_DIR ECM_DEV_PG_PORT ECM_DEV_PG_SOCKET_DIR \
        ECM_DEV_PG_PASSWORD ECM_DEV_PG_ADMIN_DSN ECM_DEV_PG_DSN ECM_DEV_SIM_PG_DSN \
        ECM_DEV_TEST_PG_DSN ECM_DEV_ODBC ECM_DEV_KAFKA_BROKERS ECM_DEV_API_URL ECM_DEV_SIM_URL \
        ECM_DEV_SIM_USER ECM_DEV_SIM_PASSWORD ECM_DEV_KANNEL_USER ECM_DEV_KANNEL_PASSWORD \
        ECM_DEV_KANNEL_STATUS_PASSWORD ECM_DEV_KANNEL_SENDSMS_URL ECM_DEV_KANNEL_STATUS_URL \
        ECM_DEV_FAKESMSC_LOG ECM_DEV_SMS_SENDER ECM_DEV_SMSSIM_URL ECM_DEV_SMSSIM_TOKEN \
        ECM_DEV_SMS_URL ECM_DEV_SMS_MO_KEY ECM_DEV_CONSOLE_USER ECM_DEV_CONSOLE_PASSWORD; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
    local n line
    while IFS= read -r line; do
        [[ -z $line ]] || printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
    done < <(ecm_clock_env)
    for n in "${ECM_PROCS[@]}"; do
        v=ECM_DEV_PORT_${n//-/_}
        printf 'export %s=%q\n' "${v^^}" "$(ecm_http_port "$n")"
    done
}
