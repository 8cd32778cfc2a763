#!/usr/bin/env bash
# One stack, one campaign of each Cisco target kind side by side: UCCX through
# its REST import (results from UCCX's own dialinglist tables), UCCE/PCCE
# through the Outbound API import and through the import table the Campaign
# Manager's import rule reads (results from Dialer_Detail). 1,000 contacts
# each: every contact closed, ECM's attempts on each target equal the records
# the simulator dialled there with their codes, and no interface received an
# account number twice.
# e2e-env: ECM_SIM_DIAL_RATE=600
# e2e-timeout: 900
# e2e-seconds: 98
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

declare -A targets=([uccx]=11 [ucce_api]=ucce_api:5001 [ucce_db]=ucce_db:5002:Import_5002)
declare -A cids
seed=21
for kind in uccx ucce_api ucce_db; do
    cids[$kind]=$(e2e_create_campaign "e2e $kind" E2E "${targets[$kind]}")
    api GET "/api/v1/campaigns/${cids[$kind]}" >"$E2E_TMP/c.json"
    e2e_assert_eq "$kind" "$(jq -r .cisco.kind "$E2E_TMP/c.json")" "campaign ${cids[$kind]} kind"
    e2e_upload_contacts "${cids[$kind]}" 1000 $((seed++)) >"$E2E_TMP/upload.json"
    e2e_assert_eq 1000 "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded ($kind)"
done
e2e_assert_eq Import_5002 "$(api GET "/api/v1/campaigns/${cids[ucce_db]}" | jq -r .cisco.import_table)" \
    "ucce_db campaign's import table"
e2e_step "three campaigns created: ${cids[*]}"

for kind in uccx ucce_api ucce_db; do
    e2e_wait_campaign_closed "${cids[$kind]}" 600
done
for kind in uccx ucce_api ucce_db; do
    e2e_campaign_summary "${cids[$kind]}"
    e2e_check_campaign "${cids[$kind]}" 1000
done

# Every interface brought records and none brought one twice.
e2e_sim_stats >"$E2E_TMP/stats.json"
for i in uccx ucce_api ucce_db; do
    got=$(jq -r ".interfaces.$i.received_rows // 0" "$E2E_TMP/stats.json")
    e2e_assert_ge 1000 "$got" "records the simulator received through $i"
    e2e_assert_eq 0 "$(jq -r ".interfaces.$i.duplicate_accounts // \"missing\"" "$E2E_TMP/stats.json")" \
        "account numbers received twice through $i"
done
# UCCX keeps no Dialer_Detail: results of UCCX came from its own tables.
e2e_assert_eq 0 "$(ecm_sim_psql -tA -c "SELECT count(*) FROM Dialer_Detail WHERE CampaignID = 11")" \
    "Dialer_Detail rows of the UCCX campaign"
e2e_step "interfaces: $(jq -c '.interfaces' "$E2E_TMP/stats.json")"
