# shellcheck shell=bash
# Whole-campaign checks shared by the scenarios: what ECM recorded must agree,
# attempt by attempt, with what the Cisco simulator dialled. Sourced after lib.sh.

# e2e_check_campaign CAMPAIGN N: fails the scenario unless
#  - the campaign has N contacts and every one is closed;
#  - every attempt in the ECM DB has a result, and the attempts' account
#    numbers are exactly the account numbers the simulator dialled;
#  - ECM's attempts by raw CallResult equal the simulator's rows by CallResult,
#    and every attempt's outcome is the one call_result_map gives its code;
#  - each closed contact's attempts counter equals its attempts rows;
#  - the simulator received no account number twice.
e2e_check_campaign() {
    local cid=$1 n=$2 closed total

    read -r closed total < <(e2e_campaign_progress "$cid")
    e2e_assert_eq "$n" "$total" "contacts in campaign $cid"
    e2e_assert_eq "$n" "$closed" "closed contacts in campaign $cid"
    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts
        WHERE campaign_id = $cid AND (state <> 'closed' OR outcome IS NULL)")" \
        "contacts not closed with an outcome"

    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts
        WHERE campaign_id = $cid AND (status <> 'done' OR outcome IS NULL)")" \
        "attempts without a result"

    ecm_psql -tA -c "SELECT account_number FROM attempts WHERE campaign_id = $cid
        ORDER BY 1" >"$E2E_TMP/ecm-accounts"
    ecm_sim_psql -tA -c "SELECT AccountNumber FROM Dialer_Detail ORDER BY 1" \
        >"$E2E_TMP/sim-accounts"
    e2e_assert_ge "$n" "$(wc -l <"$E2E_TMP/ecm-accounts")" "attempts recorded by ECM"
    if ! diff -q "$E2E_TMP/ecm-accounts" "$E2E_TMP/sim-accounts" >/dev/null; then
        diff "$E2E_TMP/ecm-accounts" "$E2E_TMP/sim-accounts" | head -20 >&2
        e2e_fail "ECM's attempts differ from what the simulator dialled"
    fi

    ecm_psql -tA -c "SELECT raw_code || ':' || count(*) FROM attempts
        WHERE campaign_id = $cid GROUP BY raw_code ORDER BY raw_code" >"$E2E_TMP/ecm-codes"
    ecm_sim_psql -tA -c "SELECT CallResult || ':' || count(*) FROM Dialer_Detail
        GROUP BY CallResult ORDER BY CallResult" >"$E2E_TMP/sim-codes"
    if ! diff -q "$E2E_TMP/ecm-codes" "$E2E_TMP/sim-codes" >/dev/null; then
        paste "$E2E_TMP/ecm-codes" "$E2E_TMP/sim-codes" >&2
        e2e_fail "attempts by CallResult differ between ECM and the simulator"
    fi
    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts a
        LEFT JOIN call_result_map m ON m.call_result = a.raw_code
        WHERE a.campaign_id = $cid AND a.outcome IS DISTINCT FROM m.outcome")" \
        "attempts whose outcome is not call_result_map's"

    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts c
        WHERE c.campaign_id = $cid
          AND c.attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = c.id)")" \
        "contacts whose attempts counter differs from their attempts rows"

    e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" \
        "account numbers the simulator received more than once"
    e2e_step "campaign $cid consistent: $n contacts closed," \
        "$(wc -l <"$E2E_TMP/ecm-accounts") attempts = simulator's rows, 0 duplicates"
}

# Prints the outcome summary of a campaign (for the scenario's log).
e2e_campaign_summary() {
    ecm_psql -c "SELECT outcome, count(*) AS contacts FROM contacts
        WHERE campaign_id = $1 GROUP BY outcome ORDER BY 2 DESC"
}

# e2e_record_processes: remembers the pid of every process of the stack that
# runs now; fails unless the broker, the simulator and the services all do.
# (Optional processes of the stack that are not running are left out.)
declare -A E2E_PIDS
e2e_record_processes() {
    local s
    for s in "${ECM_STACK[@]}"; do
        E2E_PIDS[$s]=$(ecm_pid "$s") || true
    done
    for s in devbroker cisco-sim "${ECM_SERVICES[@]}"; do
        [[ -n ${E2E_PIDS[$s]} ]] || e2e_fail "$s is not running at the start"
    done
}

# e2e_same_processes WHEN: fails unless every recorded process is still the
# one that was started (same pid, still running).
e2e_same_processes() {
    local s pid
    for s in "${!E2E_PIDS[@]}"; do
        [[ -n ${E2E_PIDS[$s]} ]] || continue
        pid=$(ecm_pid "$s") || e2e_fail "$s exited ($1; status $(ecm_exit_code "$s"))"
        e2e_assert_eq "${E2E_PIDS[$s]}" "$pid" "pid of $s ($1)"
    done
}
