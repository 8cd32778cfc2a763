#!/usr/bin/env bash
# Garbage bytes published on contacts.retry land in ecm.deadletter with a
# reason header, once per consuming service, and the campaign still completes.
# (contacts.uploaded has no consumer among ECM's services: contacts are
# loaded 'queued' and taken from the ECM DB.)
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-timeout: 420
# e2e-seconds: 34
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

cid=$(e2e_create_campaign "e2e dead letter")
head -c 300 /dev/urandom >"$E2E_TMP/garbage"
printf '\xff\xff\xff\xff not protobuf' >"$E2E_TMP/garbage2"
e2e_kafka_produce contacts.retry "$E2E_TMP/garbage"
e2e_kafka_produce contacts.retry "$E2E_TMP/garbage2"
e2e_upload_contacts "$cid" 200 5 >/dev/null
e2e_kafka_produce contacts.retry "$E2E_TMP/garbage"

# Both consumers of contacts.retry (feeder: voice, sms: SMS) read the
# garbage, and each says once that it could not use it.
read_deadletters() {
    timeout 10 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t ecm.deadletter -o beginning -e \
        -f '%h\n' >"$E2E_TMP/dl" 2>/dev/null || true
}
six_deadletters() {
    read_deadletters
    (($(grep -c 'ecm_deadletter_reason=' "$E2E_TMP/dl" || true) >= 6))
}
e2e_wait_for --every 1 120 "6 dead letters" six_deadletters
# "Once": a seventh would come from a consumer reading a message again. The
# campaign's retries went through contacts.retry after the garbage, and both
# consumers went on with them until every contact closed; only then count.
e2e_wait_campaign_closed "$cid" 300
read_deadletters
for source in /ecm/feeder /ecm/sms; do
    e2e_assert_eq 3 "$(grep -c "ecm_deadletter_source=$source\(,\|$\)" "$E2E_TMP/dl" || true)" \
        "garbage messages dead-lettered by $source"
done
e2e_assert_eq 6 "$(grep -c 'ecm_deadletter_reason=' "$E2E_TMP/dl" || true)" \
    "dead letters with a reason"
e2e_assert_eq 6 "$(grep -c 'ecm_original_topic=contacts.retry' "$E2E_TMP/dl" || true)" \
    "dead letters naming their original topic contacts.retry"
e2e_assert_eq 6 "$(grep -c 'ecm_deadletter_reason=undecodable ecm.v1.ContactRetry' "$E2E_TMP/dl" ||
    true)" "dead letters saying the ContactRetry did not decode"
e2e_step "dead letter reason: $(grep -o 'ecm_deadletter_reason=[^,]*' "$E2E_TMP/dl" | head -1)"

e2e_check_campaign "$cid" 200
