#!/usr/bin/env bash
# e2e: no-stack
# e2e-seconds: 42
# A bad or missing configuration value stops every binary at start with exit
# code 2 and one stderr line naming the variable; --help exits 0 and lists it.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

# run_bin NAME DROP_VAR [NAME=value...]: runs binary NAME with the dev stack's
# environment for it, minus DROP_VAR (or "-"), plus the extra assignments.
# Arguments for the binary come from the array ARGS. Sets rc and err
# (stderr); stdout goes to $E2E_TMP/out.
run_bin() {
    local name=$1 drop=$2
    shift 2
    ecm_service_env "$name"
    local envs=() kv
    for kv in "${ECM_SVC_ENV[@]}"; do
        [[ ${kv%%=*} == "$drop" ]] || envs+=("$kv")
    done
    for kv in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        [[ -z ${!kv:-} ]] || envs+=("$kv=${!kv}")
    done
    rc=0
    env -i "PATH=$PATH" "${envs[@]}" "$@" timeout 10 "$ECM_SVC_BIN" "${ARGS[@]}" \
        >"$E2E_TMP/out" 2>"$E2E_TMP/err" </dev/null || rc=$?
    err=$(cat "$E2E_TMP/err")
}

# expect_exit2 NAME VAR WHAT: the last run exited 2 and stderr names VAR.
expect_exit2() {
    local name=$1 var=$2 what=$3
    ((rc == 2)) || e2e_fail "ecm-$name with $what: exit $rc, expected 2; stderr: ${err:0:400}"
    grep -qF "$var" <<<"$err" ||
        e2e_fail "ecm-$name with $what: stderr does not name $var: ${err:0:400}"
    e2e_step "ecm-$name, $what: exit 2, \"$(grep -F "$var" <<<"$err" | head -n 1 | cut -c1-120)\""
}

ARGS=()
checked=0
for name in "${ECM_STACK[@]}"; do
    ecm_service_env "$name"
    [[ -x $ECM_SVC_BIN ]] || e2e_fail "$ECM_SVC_BIN not built"

    ARGS=(--help)
    run_bin "$name" -
    ARGS=()
    ((rc == 0)) || e2e_fail "ecm-$name --help: exit $rc, expected 0; stderr: ${err:0:400}"
    grep -qF ECM_HTTP_PORT "$E2E_TMP/out" || e2e_fail "ecm-$name --help does not list ECM_HTTP_PORT"

    run_bin "$name" - ECM_HTTP_PORT=abc
    expect_exit2 "$name" ECM_HTTP_PORT "ECM_HTTP_PORT=abc"
    run_bin "$name" - ECM_HTTP_PORT=70000
    expect_exit2 "$name" ECM_HTTP_PORT "ECM_HTTP_PORT=70000"

    case $name in
    gateway | feeder | result-sync | result-sync-uccx | strategy) required=ECM_PG_DSN ;;
    cisco-sim) required=ECM_SIM_PG_DSN ;;
    *) required= ;;
    esac
    if [[ -n $required ]]; then
        run_bin "$name" "$required"
        expect_exit2 "$name" "$required" "$required unset"
    fi

    # The services that contact people refuse legal hours that make no sense.
    case $name in
    feeder | sms)
        ARGS=(--help)
        run_bin "$name" -
        ARGS=()
        grep -qF ECM_LEGAL_HOURS "$E2E_TMP/out" ||
            e2e_fail "ecm-$name --help does not list ECM_LEGAL_HOURS"
        run_bin "$name" - ECM_LEGAL_HOURS=21:00-08:00
        expect_exit2 "$name" ECM_LEGAL_HOURS "ECM_LEGAL_HOURS=21:00-08:00"
        run_bin "$name" - ECM_LEGAL_HOURS=8-21
        expect_exit2 "$name" ECM_LEGAL_HOURS "ECM_LEGAL_HOURS=8-21"
        ;;
    esac
    # The sms service's callback secrets are required, and must not be guessable.
    if [[ $name == sms ]]; then
        for var in ECM_SMS_CALLBACK_SECRET ECM_SMS_MO_KEY; do
            run_bin "$name" "$var"
            expect_exit2 "$name" "$var" "$var unset"
            run_bin "$name" - "$var=short"
            expect_exit2 "$name" "$var" "$var=short"
        done
        run_bin "$name" - ECM_SMS_CALLBACK_SECRET_PREVIOUS=short
        expect_exit2 "$name" ECM_SMS_CALLBACK_SECRET_PREVIOUS "ECM_SMS_CALLBACK_SECRET_PREVIOUS=short"
    fi
    checked=$((checked + 1))
done
e2e_assert_eq "${#ECM_STACK[@]}" "$checked" "binaries checked"
