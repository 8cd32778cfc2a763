#!/usr/bin/env bash
# A 1,000-contact voice campaign runs to the end: every contact closed, ECM's
# attempts equal the simulator's dialled rows, outcome counts agree, and the
# simulator never received an account number twice. Then a separate Kafka
# client (kcat + protoc) checks the CloudEvents headers and decodes the
# protobuf on every topic the campaign used, and that the upload's
# ContactsUploaded events (one per load batch of 300 rows) list every
# contact loaded, once, in file order.
# e2e-env: ECM_SIM_DIAL_RATE=400
# e2e-env: ECM_GATEWAY_UPLOAD_BATCH=300
# e2e-timeout: 600
# e2e-seconds: 107
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

cid=$(e2e_create_campaign "e2e 1000")
e2e_step "campaign $cid created and active"
e2e_upload_contacts "$cid" 1000 7 >"$E2E_TMP/upload.json"
e2e_assert_eq 1000 "$(jq -r .rows_loaded "$E2E_TMP/upload.json")" "rows loaded"
e2e_wait_campaign_closed "$cid" 420
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" 1000

# The event contract, seen by a client that knows nothing of our code.
proto=$ECM_ROOT/proto/ecm/v1/events.proto
declare -A types=(
    [contacts.uploaded]=ContactsUploaded [contacts.dispatched]=ContactDispatched
    [call.results]=CallResult [contacts.retry]=ContactRetry
    [contacts.closed]=ContactClosed [campaigns.changed]=CampaignChanged)
for topic in "${!types[@]}"; do
    type=${types[$topic]}
    # kcat prints the headers of the first messages of the topic.
    timeout 30 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t "$topic" -o beginning -e -c 5 \
        -f '%h\n' >"$E2E_TMP/h" || true
    [[ -s $E2E_TMP/h ]] || e2e_fail "$topic: no message seen by kcat"
    for want in "ce_specversion=1.0" "ce_type=ecm.v1.$type" "ce_source=/ecm/" "ce_id=" \
        "ce_time=" "content-type=application/protobuf"; do
        lines=$(grep -c -- "$want" "$E2E_TMP/h" || true)
        e2e_assert_eq "$(wc -l <"$E2E_TMP/h")" "$lines" "$topic: messages with header $want"
    done
    # One message's payload, byte for byte, decoded by protoc from the .proto alone.
    for p in $(seq 0 31); do
        timeout 10 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t "$topic" -p "$p" -o beginning \
            -e -c 1 -f '%s' >"$E2E_TMP/payload" 2>/dev/null || true
        [[ -s $E2E_TMP/payload ]] && break
    done
    [[ -s $E2E_TMP/payload ]] || e2e_fail "$topic: no payload read"
    protoc --proto_path="$ECM_ROOT/proto" --decode="ecm.v1.$type" "$proto" \
        <"$E2E_TMP/payload" >"$E2E_TMP/decoded" ||
        e2e_fail "$topic: payload does not decode as ecm.v1.$type"
    grep -q '^event_id: "[0-9a-f-]\{36\}"' "$E2E_TMP/decoded" ||
        e2e_fail "$topic: decoded $type has no event_id: $(head -3 "$E2E_TMP/decoded")"
    e2e_step "$topic: CloudEvents headers and ecm.v1.$type payload ok"
done

# Uploads announce load batches, not contacts: the ContactsUploaded events,
# keyed by the campaign id, list between them every contact loaded, once,
# in file order (ids are given in file order), one event per batch.
timeout 30 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t contacts.uploaded -o beginning -e \
    -f '%p %o %k\n' >"$E2E_TMP/uploaded-index" || true
: >"$E2E_TMP/listed"
events=0
while read -r p o k; do
    [[ $k == "$cid" ]] || e2e_fail "contacts.uploaded: message keyed '$k', not the campaign $cid"
    timeout 10 kcat -q -C -b "$ECM_DEV_KAFKA_BROKERS" -t contacts.uploaded -p "$p" -o "$o" \
        -e -c 1 -f '%s' >"$E2E_TMP/payload" 2>/dev/null || true
    protoc --proto_path="$ECM_ROOT/proto" --decode=ecm.v1.ContactsUploaded "$proto" \
        <"$E2E_TMP/payload" >"$E2E_TMP/decoded" ||
        e2e_fail "contacts.uploaded $p/$o: payload does not decode as ecm.v1.ContactsUploaded"
    grep -qx "campaign_id: $cid" "$E2E_TMP/decoded" ||
        e2e_fail "contacts.uploaded $p/$o: not for campaign $cid"
    sed -n 's/^contact_ids: //p' "$E2E_TMP/decoded" >>"$E2E_TMP/listed"
    events=$((events + 1))
done <"$E2E_TMP/uploaded-index"
batch=$ECM_GATEWAY_UPLOAD_BATCH
e2e_assert_eq $(((1000 + batch - 1) / batch)) "$events" "ContactsUploaded events (batches of $batch)"
e2e_assert_eq 1000 "$(wc -l <"$E2E_TMP/listed")" "contacts listed by ContactsUploaded"
ecm_psql -tA -c "SELECT id FROM contacts WHERE campaign_id = $cid ORDER BY upload_id, line_no" \
    >"$E2E_TMP/loaded"
if ! diff -q "$E2E_TMP/loaded" "$E2E_TMP/listed" >/dev/null; then
    diff "$E2E_TMP/loaded" "$E2E_TMP/listed" | head -20 >&2
    e2e_fail "ContactsUploaded events do not list the contacts loaded, in file order"
fi
e2e_step "contacts.uploaded: $events ContactsUploaded events list the 1000 contacts loaded"
