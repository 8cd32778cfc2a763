#!/usr/bin/env bash
# The contact-rules property test at full size: tests/unit/test_rules_oracle
# with N generated cases (default 1,000,000; CI runs 50,000), each judged by
# the evaluator (lib/rules/ecm_rules) and by the SQL oracle in PostgreSQL.
# Prints the figures (cases, GO / WAIT / none within 400 days, probes,
# mismatches, cases/s of the whole, of the evaluator and of the oracle) and
# exits non-zero when the two disagree on any probe or the run fails.
#   bench/rules_property.sh [-n N] [--seed S]
#   -n N       cases (default 1000000)
#   --seed S   replay a run (the seed every run prints)
# Needs build/tests/test_rules_oracle (cmake --build build); starts the dev
# stack's PostgreSQL when it is not up (same ECM_DEV_DIR / ECM_DEV_PORT_BASE)
# and stops it again at the end.
set -euo pipefail
ECM_SCRIPT=bench-rules
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

n=1000000
seed=
while (($#)); do
    case $1 in
    -n)
        n=${2:?-n needs a number}
        shift
        ;;
    --seed)
        seed=${2:?--seed needs a number}
        shift
        ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || ecm_die "-n: '$n' is not a positive number"
[[ -z $seed || $seed =~ ^[0-9]+$ ]] || ecm_die "--seed: '$seed' is not a number"

ecm_env_load
bin=$ECM_BUILD_DIR/tests/test_rules_oracle
[[ -x $bin ]] || ecm_die "$bin not found: cmake --build $ECM_BUILD_DIR first"

started=0
cleanup() {
    if ((started)); then
        "$ECM_ROOT/scripts/devstack.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
if ! pg_isready -q -h 127.0.0.1 -p "$ECM_DEV_PG_PORT" -t 1; then
    ecm_say "PostgreSQL is not up in $ECM_DEV_DIR: starting it"
    started=1
    "$ECM_ROOT/scripts/devstack.sh" start pg >/dev/null || ecm_die "PostgreSQL did not start"
fi

echo "== contact rules: evaluator vs SQL oracle, $n cases, $(nproc) CPUs, PostgreSQL $(psql --version | awk '{print $3}')"
export ECM_TEST_PG_DSN=$ECM_DEV_TEST_PG_DSN ECM_RULES_ORACLE_CASES=$n
[[ -n $seed ]] && export ECM_RULES_ORACLE_SEED=$seed
log=$(mktemp "${TMPDIR:-/tmp}/ecm-bench-rules.XXXXXX")
rc=0
"$bin" >"$log" 2>&1 || rc=$?
grep -E '^(rules oracle|MISMATCH|  )' "$log" || true
if ((rc != 0)); then
    grep -E 'FAILED|ERROR' "$log" | head -n 20 >&2 || true
    rm -f "$log"
    ecm_die "the property test failed (exit $rc)"
fi
rm -f "$log"
