#!/usr/bin/env bash
# Forged callbacks to the sms service change nothing: a DLR without its
# message's token (none, a wrong one, another message's) and an inbound
# message without the MO key (STOP, START, HELP) are answered 403, leave the
# attempt, the DNC list, the inbound record and the reply queue as they
# were, are counted in /metrics and logged once for their source. Real
# traffic goes on through the real Kannel: its DLRs carry the token, its MOs
# the key. A HELP flood of 1,000 authenticated requests from 100 numbers gets
# at most one reply a number and ECM_SMS_REPLY_MAX_PER_MINUTE a minute, and
# exactly those replies reach the fake SMSC.
# e2e-env: ECM_SMS_REPLY_MAX_PER_MINUTE=5
# e2e-timeout: 300
# e2e-seconds: 31
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

sms=$ECM_DEV_SMS_URL
t_start=$SECONDS

# code ARGS...: the HTTP status of one curl request.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# token MESSAGE_ID: the DLR token ECM puts in that message's dlr-url.
token() {
    printf '%s' "$1" | openssl dgst -sha256 -hmac "$ECM_DEV_SMS_CALLBACK_SECRET" |
        awk '{ print substr($NF, 1, 32) }'
}
# metric NAME{labels}: its value on the sms service's /metrics (0 when absent).
metric() {
    curl -fsS --max-time 10 "$sms/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}
rejected() { metric "ecm_sms_callbacks_rejected_total{endpoint=\"$1\",reason=\"$2\"}"; }
expect_code() {
    local want=$1 what=$2 got
    shift 2
    got=$(code "$@")
    e2e_assert_eq "$want" "$got" "$what"
}
q() { ecm_psql -tA -c "$1"; }

# ---- real traffic through Kannel: its DLRs carry the token
real=$(e2e_create_sms_campaign "e2e sms real" "Hi {first_name}" kannel 60)
e2e_upload_contacts "$real" 20 41 >/dev/null
e2e_wait_campaign_closed "$real" 120
e2e_assert_eq "20 SMS_DELIVERED" "$(q "SELECT count(*), min(outcome) FROM contacts
    WHERE campaign_id = $real HAVING min(outcome) = max(outcome)" | tr '|' ' ')" \
    "contacts delivered through Kannel (DLRs with their tokens)"
e2e_assert_eq "0 0" "$(rejected dlr missing) $(rejected dlr bad_token)" "Kannel DLRs refused"

# ---- forged DLRs for an attempt awaiting its DLR
cid=$(e2e_create_sms_campaign "e2e sms forged" "Hello {first_name}" kannel 3600)
k=$(q "INSERT INTO contacts (campaign_id, phones, state, attempts)
    VALUES ($cid, '{+15550300001}', 'dispatched', 1) RETURNING id")
mid=e2e-forged-$k other=e2e-other-$k
q "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, account_number,
    status, message_id, encoding, segments, sending_at, sent_at) VALUES ($k, 1, $cid, 'sms',
    'kannel', '+15550300001', '$k-1', 'sent', '$mid', 'GSM7', 1, now(), now())" >/dev/null
dlr_state() {
    q "SELECT a.status || ' ' || coalesce(a.dlr_status::text, '-') || ' ' ||
        coalesce(a.raw_code::text, '-') || ' ' || (a.result_at IS NULL) || ' ' || c.state || ' ' ||
        (SELECT count(*) FROM sms_dlrs WHERE message_id = '$mid')
        FROM attempts a JOIN contacts c ON c.id = a.contact_id WHERE a.contact_id = $k"
}
before=$(dlr_state)
e2e_assert_eq "sent - - true dispatched 0" "$before" "the attempt before the forged DLRs"
expect_code 403 "DLR without a token" "$sms/sms/dlr?msgid=$mid&status=1"
expect_code 403 "DLR with a wrong token" "$sms/sms/dlr?msgid=$mid&token=00000000000000000000000000000000&status=1"
expect_code 403 "DLR with another message's token" "$sms/sms/dlr?msgid=$mid&token=$(token "$other")&status=1"
expect_code 403 "POSTed DLR with another message's token" -X POST \
    --data "msgid=$mid&status=16&token=$(token "$other")" "$sms/sms/dlr"
expect_code 403 "JSON DLR without a token" -X POST -H 'Content-Type: application/json' \
    --data "{\"message_id\":\"$mid\",\"status\":2}" "$sms/sms/dlr"
e2e_assert_eq "$before" "$(dlr_state)" "the attempt after the forged DLRs"
e2e_assert_eq 2 "$(rejected dlr missing)" "DLRs refused for a missing token"
e2e_assert_eq 3 "$(rejected dlr bad_token)" "DLRs refused for a bad token"
e2e_step "5 forged DLRs refused 403; attempt, contact and sms_dlrs unchanged"
# The right token (as in the dlr-url) is taken.
expect_code 200 "DLR with its token" "$sms/sms/dlr?msgid=$mid&token=$(token "$mid")&status=1"
e2e_wait_for 30 "the attempt closed by its real DLR" bash -c \
    "[[ \$(ecm_psql -tA -c \"SELECT status FROM attempts WHERE contact_id = $k\") == done ]]"

# ---- forged inbound messages
q "INSERT INTO dnc (phone, source) VALUES ('+15550300003', 'sms_optout')" >/dev/null
mo_state() {
    q "SELECT (SELECT count(*) FROM dnc WHERE channel = 'sms' AND phone_key IN ('15550300002', '15550300003')) || ' ' ||
        (SELECT count(*) FROM dnc WHERE channel = 'sms' AND phone_key = '15550300003') || ' ' ||
        (SELECT count(*) FROM sms_inbound) || ' ' || (SELECT count(*) FROM sms_system_messages)"
}
before=$(mo_state)
e2e_assert_eq "1 1 0 0" "$before" "DNC, inbound and replies before the forged MOs"
expect_code 403 "STOP without the key" "$sms/sms/mo?from=%2B15550300002&text=STOP"
expect_code 403 "STOP with a wrong key" "$sms/sms/mo?key=wrong&from=%2B15550300002&text=STOP"
expect_code 403 "START with a wrong key in the header" -X POST -H 'X-ECM-Key: wrong' \
    --data 'from=%2B15550300003&text=START' "$sms/sms/mo"
for i in $(seq 1 50); do
    expect_code 403 "HELP $i without the key" "$sms/sms/mo?from=%2B15550300002&text=HELP"
done
e2e_assert_eq "$before" "$(mo_state)" "DNC, inbound and replies after 53 forged MOs"
e2e_assert_eq 51 "$(rejected mo missing)" "MOs refused for a missing key"
e2e_assert_eq 2 "$(rejected mo bad_token)" "MOs refused for a bad key"
# One source (127.0.0.1), one log line per period for all 58 refusals.
lines=$(grep -c '"callback refused: not authenticated"' "$ECM_DEV_DIR/logs/sms.log" || true)
e2e_assert_ge 1 "$lines" "log lines for the refused callbacks"
grep -F '"callback refused: not authenticated"' "$ECM_DEV_DIR/logs/sms.log" | head -n 1 |
    grep -qF 'source=127.0.0.1' || e2e_fail "the refusal's log line does not name its source"
((lines <= 1 + (SECONDS - t_start) / 300)) ||
    e2e_fail "refused callbacks logged $lines times: expected once per source and 5 minutes"
e2e_step "53 forged MOs refused 403; DNC, inbound and replies unchanged; $lines log line(s)"

# ---- the real MO path through Kannel carries the key: HELP twice, one answer
help_from=+15550300009
e2e_fakesmsc_mo "$help_from" HELP
e2e_wait_for 20 "the HELP from $help_from recorded" bash -c \
    "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM sms_inbound WHERE from_phone = '$help_from'\") == 1 ))"
e2e_fakesmsc_mo "$help_from" help
e2e_wait_for 20 "the second HELP from $help_from recorded" bash -c \
    "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM sms_inbound WHERE from_phone = '$help_from'\") == 2 ))"
e2e_assert_eq 1 "$(q "SELECT count(*) FROM sms_system_messages WHERE to_phone = '$help_from'")" \
    "answers to two HELPs from one number"
e2e_wait_for 30 "the HELP answer at the fake SMSC" bash -c \
    "(( \$(ecm_fakesmsc_count '$help_from') >= 1 ))"

# ---- a HELP flood with the key: 1,000 requests, 10 from each of 100 numbers
cfg=$E2E_TMP/flood.curl
for _ in $(seq 1 10); do
    for n in $(seq 100 199); do
        printf 'url = "%s/sms/mo?key=%s&from=%%2B15550310%s&text=HELP"\noutput = /dev/null\n' \
            "$sms" "$ECM_DEV_SMS_MO_KEY" "$n"
    done
done >"$cfg"
statuses=$(curl -s --no-progress-meter --parallel --parallel-max 16 -K "$cfg" -w '%{http_code}\n' --max-time 30)
e2e_assert_eq "1000 200" "$(sort <<<"$statuses" | uniq -c | awk '{ print $1, $2 }')" \
    "answers to the 1,000 HELPs"
flood="to_phone LIKE '+15550310%'"
e2e_assert_eq 1000 "$(q "SELECT count(*) FROM sms_inbound WHERE from_phone LIKE '+15550310%'
    AND action = 'help'")" "HELPs recorded"
replies=$(q "SELECT count(*) FROM sms_system_messages WHERE $flood")
e2e_assert_ge 1 "$replies" "replies to the flood"
e2e_assert_eq 1 "$(q "SELECT coalesce(max(n), 1) FROM (SELECT count(*) n FROM sms_system_messages
    WHERE $flood GROUP BY to_phone) x")" "most replies to one number"
e2e_assert_eq "$(q "SELECT count(*) FROM sms_system_messages")" \
    "$(q "SELECT sum(replies) FROM sms_reply_window")" "replies counted in the minute windows"
e2e_assert_eq 1 "$(q "SELECT count(*) FROM sms_reply_window HAVING max(replies) <= 5")" \
    "minute windows within ECM_SMS_REPLY_MAX_PER_MINUTE=5"
((replies <= 5 * $(q "SELECT count(*) FROM sms_reply_window"))) || e2e_fail "too many replies: $replies"
suppressed=$(($(metric 'ecm_sms_replies_suppressed_total{kind="help",reason="per_number"}') +
    $(metric 'ecm_sms_replies_suppressed_total{kind="help",reason="global"}')))
e2e_assert_eq $((1000 + 1 - replies)) "$suppressed" "replies held back (flood and the second HELP)"
e2e_step "1,000 HELPs from 100 numbers: $replies replies, $suppressed held back"

# The replies leave through Kannel like any message, and nothing more does.
e2e_wait_for 60 "the $replies replies at the fake SMSC" bash -c \
    "(( \$(ecm_fakesmsc_count | awk '\$1 ~ /^\\+?15550310/ { n += \$2 } END { print n + 0 }') >= $replies ))"
e2e_wait_for 60 "every reply sent" bash -c \
    "(( \$(ecm_psql -tA -c \"SELECT count(*) FROM sms_system_messages WHERE state <> 'sent'\") == 0 ))"
sleep 2 # sleep-ok: a negative check (no extra message): time for a duplicate to reach the fake SMSC; the count above already waited for every reply
e2e_assert_eq "$replies" "$(ecm_fakesmsc_count | awk '$1 ~ /^\+?15550310/ { n += $2 } END { print n + 0 }')" \
    "messages to the flooding numbers at the fake SMSC"
# Kannel's DLRs of those replies came back with their tokens.
e2e_assert_eq "2 3" "$(rejected dlr missing) $(rejected dlr bad_token)" \
    "DLRs refused in all (only the forged ones)"
e2e_step "replies delivered through Kannel; no real DLR refused"
