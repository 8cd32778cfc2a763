#!/usr/bin/env bash
# Unicode templates go out as UCS-2 with the right segment count, through the
# real Kannel: 50 Arabic letters + 10 emoji = 70 UTF-16 units is one segment;
# one letter more is two (67 units a part).
# e2e-timeout: 240
# e2e-seconds: 30
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

arabic50=$(printf 'م%.0s' $(seq 1 50))
emoji10=$(printf '🎉%.0s' $(seq 1 10))
one=$(e2e_create_sms_campaign "e2e ucs2 70" "$arabic50$emoji10" kannel 60)
two=$(e2e_create_sms_campaign "e2e ucs2 71" "ع$arabic50$emoji10" kannel 60)
e2e_upload_contacts "$one" 20 31 >/dev/null
e2e_upload_contacts "$two" 20 32 >/dev/null
e2e_wait_campaign_closed "$one" 120
e2e_wait_campaign_closed "$two" 120

check() {
    local cid=$1 segments=$2
    e2e_assert_eq "20 UCS2 $segments SMS_DELIVERED" "$(ecm_psql -tA -F ' ' -c "SELECT count(*),
        min(a.encoding), min(a.segments), min(c.outcome) FROM attempts a
        JOIN contacts c ON c.id = a.contact_id WHERE a.campaign_id = $cid
        HAVING min(a.segments) = max(a.segments) AND min(c.outcome) = max(c.outcome)")" \
        "campaign $cid: attempts, encoding, segments, outcome"
}
check "$one" 1
check "$two" 2
# Kannel split the long one: 20 messages of 2 segments each reached the fake
# SMSC (whose log may lag the delivery reports a little).
segments_arrived() { (($(ecm_fakesmsc_count --segments | awk '{ n += $2 } END { print n + 0 }') >= 60)); }
e2e_wait_for 60 "60 segments at the fake SMSC" segments_arrived
e2e_assert_eq 60 "$(ecm_fakesmsc_count --segments | awk '{ n += $2 } END { print n + 0 }')" \
    "segments received by the fake SMSC"
e2e_assert_eq 40 "$(e2e_fakesmsc_total)" "messages received by the fake SMSC"
# fakesmsc logs a one-part UCS-2 message as "ucs-2 <UTF-16BE>"; the parts of a
# concatenated one as "udh <header> data <UTF-16BE>".
e2e_assert_eq 20 "$(grep -c ' ucs-2 ' "$ECM_DEV_FAKESMSC_LOG")" "one-part UCS-2 messages at the fake SMSC"
e2e_assert_eq 40 "$(grep -c ' udh ' "$ECM_DEV_FAKESMSC_LOG")" "UCS-2 parts with a UDH at the fake SMSC"
e2e_step "UCS-2: 70 units in 1 segment, 71 in 2; Kannel delivered 40 messages in 60 segments"
