#!/usr/bin/env bash
# Pause that reaches the dialer. One campaign of each Cisco kind (uccx,
# ucce_api, ucce_db with its import table), 200 contacts each, a slow
# simulator (6 dials/s for the three) and a hold of 1 minute of dialling:
# paused mid-campaign, the feeder withdraws what Cisco has not dialled
# (UCCX DELETE contacts, Outbound API DELETE import: each campaign is its
# Cisco campaign's only user; ucce_db: the rows still in the import table)
# and decides each attempt from the simulator's tables. Then:
#  - uccx, ucce_api: no record is dialled once the withdrawal is decided
#    (dialinglist rows with callresult > 0 / Dialer_Detail rows unchanged
#    while the simulator goes on dialling the ucce_db campaign's records);
#  - ucce_db: what the dialer dials after the pause is at most what ECM had
#    in flight at the pause, itself within the hold (1 minute at the
#    simulator's 6 dials/s, plus a batch);
#  - the withdrawn attempts are 'withdrawn', uncounted, their contacts
#    queued again; after the resume every contact closes, the attempts that
#    were not withdrawn equal the simulator's dials on each target, and no
#    account number reached the simulator twice.
# e2e-env: ECM_SIM_DIAL_RATE=6
# e2e-env: ECM_SIM_RESULT_MIX=10:100
# e2e-env: ECM_FEEDER_BATCH=10
# e2e-env: ECM_FEEDER_HOLD_MINUTES=1
# e2e-env: ECM_FEEDER_HOLD_WINDOW_S=20
# e2e-timeout: 900
# e2e-seconds: 171
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

N=200
HOLD_BOUND=$((6 * 60 * 1 + 10)) # 1 minute at the simulator's whole rate, plus a batch
q() { ecm_psql -tA -c "$1"; }
dialled() { e2e_sim_dialled "$1" "$2" | wc -l; }

declare -A targets=([uccx]=13 [ucce_api]=ucce_api:5005 [ucce_db]=ucce_db:5004:Import_5004)
declare -A cisco=([uccx]=13 [ucce_api]=5005 [ucce_db]=5004)
declare -A cids inflight d_pause d_decided
seed=61
for kind in uccx ucce_api ucce_db; do
    cids[$kind]=$(e2e_create_campaign "e2e withdraw $kind" E2E "${targets[$kind]}")
    e2e_upload_contacts "${cids[$kind]}" $N $((seed++)) >/dev/null
done
e2e_step "campaigns ${cids[*]} (uccx, ucce_api, ucce_db) running, $N contacts each"

# Each campaign is paused as soon as it is mid-way (40 results of its first
# 200 attempts): waiting for all three first would let a faster target end
# its first round, with nothing left at Cisco to withdraw.
for kind in uccx ucce_api ucce_db; do
    e2e_wait_for 300 "$kind campaign mid-way (40 results)" \
        bash -c "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = ${cids[$kind]} AND status = 'done'\") >= 40 ))"
    api POST "/api/v1/campaigns/${cids[$kind]}/pause" >/dev/null || e2e_fail "pause of $kind refused"
    # In flight at the pause: those still at Cisco and those the feeder has
    # already withdrawn (it acts on the pause as soon as the event reaches
    # it, which can be before this query: a CI run counted 0 at Cisco with
    # 88 withdrawn).
    inflight[$kind]=$(q "SELECT count(*) FROM attempts WHERE campaign_id = ${cids[$kind]}
        AND status IN ('sending', 'sent', 'withdrawn')")
    d_pause[$kind]=$(dialled "$kind" "${cisco[$kind]}")
    e2e_assert_ge 1 "${inflight[$kind]}" "$kind attempts at Cisco at the pause"
    e2e_assert_ge "${inflight[$kind]}" "$HOLD_BOUND" "$kind: the hold ($HOLD_BOUND) vs in flight"
done
e2e_step "paused; in flight at the pause: uccx ${inflight[uccx]}," \
    "ucce_api ${inflight[ucce_api]}, ucce_db ${inflight[ucce_db]}"

# Decided: nothing 'sending', every 'sent' attempt looked at.
decided() {
    (($(q "SELECT count(*) FROM attempts WHERE campaign_id = $1
        AND (status = 'sending' OR (status = 'sent' AND NOT withdraw_kept))") == 0))
}
for kind in uccx ucce_api ucce_db; do
    e2e_wait_for 60 "$kind withdrawal decided" decided "${cids[$kind]}"
    d_decided[$kind]=$(dialled "$kind" "${cisco[$kind]}")
done
for kind in uccx ucce_api ucce_db; do
    c=${cids[$kind]}
    read -r w k < <(ecm_psql -tA -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'withdrawn'),
        count(*) FILTER (WHERE status = 'sent') FROM attempts WHERE campaign_id = $c")
    e2e_step "$kind: $w withdrawn, $k left with the dialer;" \
        "dials from the pause to the decision: $((d_decided[$kind] - d_pause[$kind]))"
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts ct JOIN attempts a
        ON a.contact_id = ct.id AND a.attempt = ct.attempts
        WHERE a.campaign_id = $c AND a.status = 'withdrawn'
          AND (ct.state <> 'queued' OR ct.counted_attempts >= ct.attempts)")" \
        "$kind: withdrawn attempts whose contact is not queued again, uncounted"
    [[ $kind == ucce_db ]] || e2e_assert_ge 1 "$w" "$kind attempts withdrawn"
done

# The marker that the simulator went on dialling: everything the ucce_db
# campaign left with it is dialled (its results are all in).
e2e_wait_for 180 "the ucce_db campaign's kept records dialled" bash -c \
    "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM attempts WHERE campaign_id = ${cids[ucce_db]} AND status = 'sent'\") == 0 ))"
for kind in uccx ucce_api; do
    e2e_assert_eq "${d_decided[$kind]}" "$(dialled "$kind" "${cisco[$kind]}")" \
        "$kind records dialled after the withdrawal was decided"
done
after_db=$(($(dialled ucce_db 5004) - d_pause[ucce_db]))
e2e_assert_ge "$after_db" "${inflight[ucce_db]}" "ucce_db: in flight at the pause vs dialled after it"
e2e_step "after the withdrawal: uccx 0 and ucce_api 0 dials; ucce_db dialled $after_db" \
    "(<= ${inflight[ucce_db]} in flight at the pause, <= hold $HOLD_BOUND)"

for kind in uccx ucce_api ucce_db; do
    api POST "/api/v1/campaigns/${cids[$kind]}/resume" >/dev/null || e2e_fail "resume of $kind refused"
done
for kind in uccx ucce_api ucce_db; do
    e2e_wait_campaign_closed "${cids[$kind]}" 300
done

# e2e_check_campaign, less the withdrawn attempts (never dialled).
for kind in uccx ucce_api ucce_db; do
    c=${cids[$kind]}
    target=$(q "SELECT cisco_kind || ':' || cisco_campaign_id FROM campaigns WHERE id = $c")
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts WHERE campaign_id = $c
        AND (state <> 'closed' OR outcome IS NULL)")" "$kind contacts not closed"
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $c
        AND status <> 'withdrawn' AND (status <> 'done' OR outcome IS NULL)")" \
        "$kind attempts without a result"
    q "SELECT account_number || ' ' || raw_code FROM attempts
        WHERE target = '$target' AND status <> 'withdrawn'" | sort >"$E2E_TMP/ecm-$kind"
    e2e_sim_dialled "$kind" "${cisco[$kind]}" >"$E2E_TMP/sim-$kind"
    if ! diff -q "$E2E_TMP/ecm-$kind" "$E2E_TMP/sim-$kind" >/dev/null; then
        diff "$E2E_TMP/ecm-$kind" "$E2E_TMP/sim-$kind" | head -20 >&2
        e2e_fail "ECM's attempts on $target differ from what the simulator dialled there"
    fi
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts ct WHERE ct.campaign_id = $c
        AND ct.attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = ct.id)")" \
        "$kind contacts whose attempts counter differs from their attempts rows"
    e2e_assert_eq 0 "$(q "SELECT count(*) FROM contacts ct WHERE ct.campaign_id = $c
        AND ct.counted_attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = ct.id
            AND a.status = 'done')")" "$kind contacts counting other than their dialled attempts"
    e2e_step "$kind campaign $c: $(q "SELECT count(*) FROM contacts WHERE campaign_id = $c") closed, $(wc -l <"$E2E_TMP/ecm-$kind") attempts = simulator's," \
        "$(q "SELECT count(*) FROM attempts WHERE campaign_id = $c AND status = 'withdrawn'") withdrawn"
done
e2e_sim_stats >"$E2E_TMP/stats.json"
e2e_assert_eq 0 "$(jq -r '.duplicate_accounts' "$E2E_TMP/stats.json")" \
    "account numbers the simulator received more than once"
