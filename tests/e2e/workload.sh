#!/usr/bin/env bash
# A voice and an SMS campaign of N contacts each, run at once against a dev
# stack that is up (any ECM_DEV_REPLICAS), with faults on the way, then held
# to the end state:
#  - every contact of both campaigns closed, once (attempts counters = rows);
#  - voice: ECM's attempts = the Cisco simulator's records, 0 account numbers
#    dialled twice (e2e_check_campaign);
#  - SMS: per number, ECM's attempts = the messages Kannel's fake SMSC got,
#    and no number got two;
#  - the outbox empty.
# and prints the figures: voice attempts/s and SMS/s end to end, each from
# the start of the uploads to the campaign's last contact closed; kills.
#
#   tests/e2e/workload.sh [-n N] [--kill-each] [--chaos SECONDS] [--timeout S]
#     -n N           contacts per campaign (default 3000)
#     --kill-each    once a quarter of both campaigns is sent: SIGKILL one
#                    replica of each ECM service, and the outbox relay's
#                    holder, restarting each (t_replicas_kill9)
#     --chaos S      every S seconds from the first upload to the end: SIGKILL
#                    one ECM process chosen at random (the gateway while an
#                    upload streams through it, the relay's holder, feeder,
#                    result-sync, strategy, sms, any replica) and restart it;
#                    a cut upload is resumed with `ecmctl upload --resume`
#     --timeout S    bound for the campaigns to close (default 900)
#     --seed N       the random choices (default: $RANDOM)
# Used by t_replicas_kill9, t_chaos, bench/replicas.sh and scripts/chaos.sh.
# Sourced helpers: tests/e2e/lib.sh (fails with e2e_fail).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"
export LC_ALL=C

n=3000 kill_each=0 chaos=0 limit=900 seed=$RANDOM
while (($#)); do
    case $1 in
    -n) n=$2 && shift ;;
    --kill-each) kill_each=1 ;;
    --chaos) chaos=$2 && shift ;;
    --timeout) limit=$2 && shift ;;
    --seed) seed=$2 && shift ;;
    -h | --help)
        sed -n '2,/^# Used by/p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) e2e_fail "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[[ $n =~ ^[1-9][0-9]*$ ]] || e2e_fail "-n: '$n' is not a positive number"
[[ $chaos =~ ^[0-9]+$ ]] || e2e_fail "--chaos: '$chaos' is not a number of seconds"
RANDOM=$seed
ecmctl=$ECM_BIN_DIR/ecmctl
[[ -x $ecmctl ]] || e2e_fail "$ecmctl not built"
KILLS=$E2E_TMP/kills
: >"$KILLS"

# ---------------------------------------------------------------- processes

# The ECM services' stack processes (every replica) that run now.
wl_running() {
    local p base
    for p in "${ECM_PROCS[@]}"; do
        base=$(ecm_replica_base "$p")
        [[ " ${ECM_REPLICATED[*]} " == *" $base "* ]] || continue
        ecm_pid "$p" >/dev/null && echo "$p"
    done
    return 0
}

# Prints the stack process whose connection holds the outbox relay's lock
# (ECM_OUTBOX_LOCK_KEY, lib/io/ecm_outbox.h) now; returns 1 when none does.
wl_relay_holder() {
    local port pid p
    port=$(ecm_psql -tA -c "SELECT a.client_port FROM pg_locks l
        JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $((0x45434d4f))
          AND l.objsubid = 1 AND l.granted LIMIT 1") || return 1
    [[ -n $port ]] || return 1
    pid=$(ss -Htnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
    [[ -n $pid ]] || return 1
    for p in $(wl_running); do
        [[ $(ecm_pid "$p") != "$pid" ]] || {
            echo "$p"
            return 0
        }
    done
    return 1
}

# wl_kill NAME WHY: SIGKILL, then the same process started again and ready.
wl_kill() {
    local name=$1 why=$2
    ecm_pid "$name" >/dev/null || return 0
    ecm_kill9 "$name"
    echo "$name $why" >>"$KILLS"
    e2e_step "SIGKILL $name ($why)"
    ecm_start_service "$name" >/dev/null || e2e_fail "$name did not come back after SIGKILL"
}

# Kills the relay's holder, waiting up to 10 s for one to hold it (the lock
# lasts one scan). Returns 1 when none was seen.
wl_kill_relay() {
    local h t0=$SECONDS
    while ((SECONDS - t0 < 10)); do
        if h=$(wl_relay_holder); then
            wl_kill "$h" "held the outbox relay's lock"
            return 0
        fi
        sleep 0.1 # sleep-ok: polling a lock that is held for milliseconds at a time
    done
    return 1
}

# ---------------------------------------------------------------- uploads

# wl_upload CID FILE: uploads FILE to campaign CID through the first
# gateway; when a kill cuts it, waits until a gateway marks it interrupted
# and resumes it with ecmctl (again after every cut) until it is done.
# Writes "done" to $E2E_TMP/upload-CID.state at the end.
wl_upload() {
    local cid=$1 file=$2 up state tries=0
    if curl -sS -o "$E2E_TMP/upload-$cid.json" -H 'Content-Type: text/csv' "${ECM_AUTH[@]}" \
        --data-binary "@$file" "$ECM_DEV_API_URL/api/v1/campaigns/$cid/uploads" \
        2>>"$E2E_TMP/upload-$cid.err" && jq -e '.rows_loaded' "$E2E_TMP/upload-$cid.json" >/dev/null 2>&1; then
        echo "done" >"$E2E_TMP/upload-$cid.state"
        return 0
    fi
    while :; do
        tries=$((tries + 1))
        ((tries <= 50)) || e2e_fail "upload to campaign $cid: still not done after 50 resumes"
        up=$(ecm_psql -tA -c "SELECT id FROM uploads WHERE campaign_id = $cid ORDER BY id DESC LIMIT 1")
        if [[ -z $up ]]; then
            # Cut before the gateway recorded it: send it again.
            e2e_step "upload to campaign $cid cut before it was recorded: sent again"
            wl_upload "$cid" "$file"
            return
        fi
        e2e_wait_for 120 "upload $up interrupted or done" bash -c \
            "[[ \$(ecm_psql -tA -c \"SELECT state FROM uploads WHERE id = $up\") =~ ^(interrupted|done)$ ]]"
        state=$(ecm_psql -tA -c "SELECT state FROM uploads WHERE id = $up")
        [[ $state != done ]] || break
        e2e_step "upload $up interrupted at $(ecm_psql -tA -c "SELECT rows_loaded FROM uploads
            WHERE id = $up") rows: ecmctl upload --resume"
        e2e_wait_for 60 "a gateway ready" ecm_ready_probe gateway
        ECM_URL=$ECM_DEV_API_URL "$ecmctl" upload --resume "$up" "$file" --allow-rejects \
            >>"$E2E_TMP/resume-$cid.out" 2>&1 || true
    done
    echo "done" >"$E2E_TMP/upload-$cid.state"
}

wl_uploading() {
    [[ ! -s $E2E_TMP/upload-$voice.state || ! -s $E2E_TMP/upload-$sms.state ]]
}

# ---------------------------------------------------------------- progress

closed() {
    ecm_psql -tA -c "SELECT count(*) FILTER (WHERE state = 'closed') FROM contacts
        WHERE campaign_id IN ($voice, $sms)"
}
attempts() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $1"; }
all_closed() {
    ! wl_uploading && (($(closed) == $(ecm_psql -tA -c "SELECT count(*) FROM contacts
        WHERE campaign_id IN ($voice, $sms)")))
}
# A quarter of each campaign's contacts have had an attempt.
quarter_sent() {
    (($(attempts "$voice") >= n / 4 && $(attempts "$sms") >= n / 4))
}
progress() {
    echo "$(closed) closed, attempts voice $(attempts "$voice") sms $(attempts "$sms")," \
        "$(wc -l <"$KILLS") kills"
}

# ---------------------------------------------------------------- the run

voice=$(e2e_create_campaign "workload voice $n")
# The SMS campaign's strategy is E2E's but for a DLR timeout (SMS_EXPIRED),
# which closes the contact instead of texting it again: a message whose
# report never comes (smsbox lost its callback queue when it crashed) or
# comes late (under --chaos at 100,000 Kannel's reports ran 110 s behind)
# may well have been delivered, and "no number texted twice" is what this
# workload holds ECM to. The timeout, 300 s (the product's default is a
# day), bounds how long such a contact keeps the run waiting.
ecm_create_fast_strategy E2E-SMS 2 SMS_EXPIRED >/dev/null || e2e_fail "strategy E2E-SMS not created"
sms=$(e2e_create_sms_campaign "workload sms $n" \
    "Hello {first_name}, your appointment is confirmed. Reply STOP to opt out." kannel 300 E2E-SMS)
ecm_gen_contacts_csv "$n" "$E2E_TMP/voice.csv" 31
ecm_gen_contacts_csv "$n" "$E2E_TMP/sms.csv" 32
procs=$(wl_running | tr '\n' ' ')
e2e_step "campaigns voice $voice, sms $sms ($n contacts each); ECM processes: $procs; seed $seed"
fakesmsc0=$(e2e_fakesmsc_total)

t0=$(date +%s%3N)
wl_upload "$voice" "$E2E_TMP/voice.csv" &
up_voice=$!
wl_upload "$sms" "$E2E_TMP/sms.csv" &
up_sms=$!

if ((kill_each)); then
    e2e_wait_for --every 0.2 --say progress "$limit" "both campaigns a quarter sent" quarter_sent
    # The sms service first: it sends the fastest.
    for s in sms feeder strategy result-sync-uccx result-sync gateway; do
        ecm_skippable "$s" && continue
        k=$((RANDOM % ECM_DEV_REPLICAS + 1))
        name=$s
        ((k == 1)) || name=$s-$k
        wl_kill "$name" "replica $k of $s, mid-run"
    done
    wl_kill_relay || e2e_step "no relay held its lock in 10 s (nothing to publish): none killed"
elif ((chaos > 0)); then
    # The first kill: the gateway in the middle of an upload.
    if e2e_wait_for --quiet --every 0.05 30 "an upload streaming" bash -c \
        "[[ -n \$(ecm_psql -tA -c \"SELECT id FROM uploads WHERE state = 'running' LIMIT 1\") ]]"; then
        wl_kill gateway "streaming an upload"
    fi
    next=$((SECONDS + chaos))
    while ! all_closed; do
        ((SECONDS < limit)) || break
        # A kill every --chaos seconds, the restart's time included.
        ((next <= SECONDS)) || sleep $((next - SECONDS)) # sleep-ok: the chaos's period
        next=$((SECONDS + chaos))
        all_closed && break
        mapfile -t live < <(wl_running)
        pick=$((RANDOM % (${#live[@]} + 2)))
        if ((pick == ${#live[@]})) && wl_uploading; then
            wl_kill gateway "streaming an upload"
        elif ((pick >= ${#live[@]})); then
            wl_kill_relay || true
        else
            wl_kill "${live[pick]}" "chosen at random"
        fi
    done
fi
wait "$up_voice" || e2e_fail "the voice upload did not complete"
wait "$up_sms" || e2e_fail "the SMS upload did not complete"
# The generator's numbers are distinct, but a few may not be valid ones:
# each campaign holds the rows loaded, and every other row was rejected.
loaded() { ecm_psql -tA -c "SELECT count(*) FROM contacts WHERE campaign_id = $1"; }
rejected() { ecm_psql -tA -c "SELECT coalesce(sum(rows_rejected), 0) FROM uploads WHERE campaign_id = $1"; }
nv=$(loaded "$voice") ns=$(loaded "$sms")
e2e_assert_eq "$n" $((nv + $(rejected "$voice"))) "voice contacts loaded + rejected"
e2e_assert_eq "$n" $((ns + $(rejected "$sms"))) "SMS contacts loaded + rejected"
e2e_step "uploads done: $nv voice and $ns SMS contacts loaded"
# When each campaign closed its last contact (ms since the uploads began).
ms_voice='' ms_sms=''
both_closed() {
    [[ -n $ms_voice ]] || ! e2e_campaign_closed "$voice" || ms_voice=$(($(date +%s%3N) - t0))
    [[ -n $ms_sms ]] || ! e2e_campaign_closed "$sms" || ms_sms=$(($(date +%s%3N) - t0))
    [[ -n $ms_voice && -n $ms_sms ]]
}
e2e_wait_for --every 0.5 --say progress "$limit" "every contact of both campaigns closed" both_closed
ms=$((ms_voice > ms_sms ? ms_voice : ms_sms))
e2e_step "voice closed after $((ms_voice / 1000)) s, SMS after $((ms_sms / 1000)) s"

# ---------------------------------------------------------------- checks
e2e_check_campaign "$voice" "$nv"

e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts
    WHERE campaign_id = $sms AND (state <> 'closed' OR outcome IS NULL)")" "SMS contacts not closed"
e2e_assert_eq 0 "$(ecm_psql -tA -c "SELECT count(*) FROM contacts c WHERE c.campaign_id = $sms
    AND c.attempts <> (SELECT count(*) FROM attempts a WHERE a.contact_id = c.id)")" \
    "SMS contacts whose attempts counter differs from their attempts rows"
sms_attempts=$(attempts "$sms")
e2e_wait_for 120 "the fake SMSC to log $sms_attempts messages" \
    bash -c "(( \$(e2e_fakesmsc_total) >= $((fakesmsc0 + sms_attempts)) ))"
ecm_psql -tA -F ' ' -c "SELECT phone, count(*) FROM attempts WHERE campaign_id = $sms
    GROUP BY phone" | sort >"$E2E_TMP/ecm-sms"
ecm_psql -tA -c "SELECT DISTINCT unnest(phones) FROM contacts WHERE campaign_id = $sms" |
    sort >"$E2E_TMP/sms-numbers"
e2e_fakesmsc_count | sort | join - "$E2E_TMP/sms-numbers" >"$E2E_TMP/smsc-sms"
if ! diff -q "$E2E_TMP/ecm-sms" "$E2E_TMP/smsc-sms" >/dev/null; then
    diff "$E2E_TMP/ecm-sms" "$E2E_TMP/smsc-sms" | head -20 >&2
    e2e_fail "ECM's SMS attempts per number differ from what the fake SMSC received"
fi
# No tolerance: a killed sms replica's message that Kannel took is closed by
# its DLR or recorded sent, never sent again before ECM_SMS_RESEND_AFTER_S
# (docs/replicas.md); a double here is a bug.
doubles=$(awk '$2 > 1' "$E2E_TMP/smsc-sms" | wc -l)
if ((doubles > 0)); then
    e2e_step "numbers texted twice whose first attempt timed out (SMS_EXPIRED) before its final DLR:" \
        "$(ecm_psql -tA -c "SELECT count(*) FROM attempts a WHERE a.campaign_id = $sms
            AND a.outcome = 'SMS_EXPIRED' AND EXISTS (SELECT 1 FROM attempts b
            WHERE b.contact_id = a.contact_id AND b.attempt > a.attempt AND b.phone = a.phone)")"
fi
e2e_assert_eq 0 "$doubles" "numbers the fake SMSC received two messages for"
e2e_step "SMS campaign $sms consistent: $ns contacts closed, $sms_attempts attempts = fake SMSC's messages, 0 twice"
e2e_wait_for 60 "the outbox empty" bash -c "(( \$(ecm_psql -tA -c 'SELECT count(*) FROM outbox') == 0 ))"

voice_attempts=$(attempts "$voice")
printf 'workload: replicas=%s contacts=%s+%s elapsed_s=%s voice_attempts=%s sms_attempts=%s' \
    "$ECM_DEV_REPLICAS" "$nv" "$ns" "$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')" \
    "$voice_attempts" "$sms_attempts"
awk -v mv="$ms_voice" -v ms="$ms_sms" -v v="$voice_attempts" -v s="$sms_attempts" \
    -v k="$(wc -l <"$KILLS")" 'BEGIN { printf " voice_attempts_per_s=%.0f sms_per_s=%.0f kills=%d" \
        " lost=0 double_dials=0 double_sms=0 outbox=0\n", v * 1000 / mv, s * 1000 / ms, k }'
if [[ -s $KILLS ]]; then
    echo "kills by process: $(awk '{ c[$1]++ } END { for (p in c) printf "%s=%d ", p, c[p] }' "$KILLS")"
fi
