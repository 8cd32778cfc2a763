# shellcheck shell=bash
# Whole-campaign checks shared by the scenarios: what ECM recorded must agree,
# attempt by attempt, with what the Cisco simulator dialled. Sourced after lib.sh.

# e2e_sim_dialled KIND CISCO_ID: prints "ACCOUNT CODE" for every record the
# simulator dialled on that Cisco campaign, sorted, from the table Cisco
# itself keeps it in: UCCX's dialinglist and dialinglisthistory (UCCX codes)
# for uccx, UCCE's Dialer_Detail (UCCE codes) for ucce_api and ucce_db.
e2e_sim_dialled() {
    local kind=$1 id=$2
    if [[ $kind == uccx ]]; then
        ecm_sim_psql -tA -F ' ' -c "SELECT accountnumber, callresult FROM dialinglist
            WHERE campaignid = $id AND callresult > 0
            UNION ALL SELECT accountnumber, callresult FROM dialinglisthistory
            WHERE campaignid = $id AND callresult > 0" | sort
    else
        ecm_sim_psql -tA -F ' ' -c "SELECT AccountNumber, CallResult FROM Dialer_Detail
            WHERE CampaignID = $id" | sort
    fi
}

# e2e_check_campaign CAMPAIGN N: fails the scenario unless
#  - the campaign has N contacts and every one is closed;
#  - every attempt in the ECM DB has a result, and the attempts on the
#    campaign's Cisco target (all ECM campaigns sharing it) are exactly the
#    records the simulator dialled on that Cisco campaign, each with the
#    simulator's CallResult as its raw code;
#  - every attempt's outcome is the one call_result_map gives its code for
#    its source (UCCX or UCCE codes);
#  - each closed contact's attempts counter equals its attempts rows;
#  - the simulator received no account number twice.
e2e_check_campaign() {
    local cid=$1 n=$2 closed total kind cisco_id target

    read -r closed total < <(e2e_campaign_progress "$cid")
    e2e_assert_eq "$n" "$total" "contacts in campaign $cid"
    e2e_assert_eq "$n" "$closed" "closed contacts in campaign $cid"
    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts
        WHERE campaign_id = $cid AND (state <> 'closed' OR outcome IS NULL)")" \
        "contacts not closed with an outcome"

    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts
        WHERE campaign_id = $cid AND status <> 'withdrawn' AND (status <> 'done' OR outcome IS NULL)")" \
        "attempts without a result"

    read -r kind cisco_id < <(ecm_psql -tA -F ' ' -c "SELECT cisco_kind, cisco_campaign_id
        FROM campaigns WHERE id = $cid")
    target=$kind:$cisco_id
    # Attempts withdrawn from Cisco before it dialled them were never dialled.
    ecm_psql -tA -F ' ' -c "SELECT account_number, raw_code FROM attempts
        WHERE target = '$target' AND status <> 'withdrawn'" | sort >"$E2E_TMP/ecm-dialled"
    e2e_sim_dialled "$kind" "$cisco_id" >"$E2E_TMP/sim-dialled"
    e2e_assert_ge "$n" "$(ecm_psql -tA -c "SELECT count(*) FROM attempts
        WHERE campaign_id = $cid")" "attempts recorded by ECM"
    if ! diff -q "$E2E_TMP/ecm-dialled" "$E2E_TMP/sim-dialled" >/dev/null; then
        diff "$E2E_TMP/ecm-dialled" "$E2E_TMP/sim-dialled" | head -20 >&2
        e2e_fail "ECM's attempts on $target differ from what the simulator dialled there"
    fi
    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM attempts a
        LEFT JOIN call_result_map m ON m.call_result = a.raw_code
            AND m.source_kind = CASE WHEN a.target LIKE 'uccx:%' THEN 'uccx' ELSE 'ucce' END
        WHERE a.campaign_id = $cid AND a.outcome IS DISTINCT FROM m.outcome")" \
        "attempts whose outcome is not call_result_map's"

    e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts c
        WHERE c.campaign_id = $cid
          AND c.attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = c.id)")" \
        "contacts whose attempts counter differs from their attempts rows"

    e2e_assert_eq 0 "$(e2e_sim_stats | jq -r '.duplicate_accounts')" \
        "account numbers the simulator received more than once"
    e2e_step "campaign $cid consistent: $n contacts closed," \
        "$(wc -l <"$E2E_TMP/ecm-dialled") attempts on $target = simulator's records, 0 duplicates"
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
