#!/usr/bin/env bash
# The README's first command: builds ECM, starts the dev stack, runs a voice
# campaign of generated contacts against the Cisco simulator through each of
# Cisco's three interfaces (UCCX REST import, UCCE Outbound API import, UCCE
# import table), then an SMS campaign through the real Kannel, then a campaign
# that calls and texts those its calls did not reach, each until every
# contact is closed, prints their summaries, and leaves the stack running
# with the supervisor's console: its address and sign-in are printed last.
#   scripts/demo.sh [--stop] [--contacts N]
#   --stop        stop the stack at the end (else: scripts/devstack.sh stop)
#   --contacts N  how many contacts (default 1000)
set -euo pipefail
ECM_SCRIPT=demo
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=1
contacts=1000
timeout_s=${ECM_DEMO_TIMEOUT_S:-600}
while (($#)); do
    case $1 in
    --keep) keep=1 ;; # the default; kept for old scripts
    --stop) keep=0 ;;
    --contacts)
        contacts=${2:?--contacts needs a number}
        shift
        ;;
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $contacts =~ ^[1-9][0-9]*$ ]] || ecm_die "--contacts: '$contacts' is not a positive number"

stop_stack() {
    if ((keep)); then
        echo
        echo "=== The supervisor's console: open $ECM_DEV_API_URL/ in a browser"
        echo "    user name: ${ECM_DEV_CONSOLE_USER:-admin}"
        echo "    password:  $(cat "$ECM_DEV_DIR/secrets/console-password" 2>/dev/null ||
            echo "(in $ECM_DEV_DIR/secrets/console-password once the gateway has started)")"
        echo "    (the stack keeps running; stop it with scripts/devstack.sh stop)"
    else
        "$ECM_ROOT/scripts/devstack.sh" stop || true
    fi
}

ecm_build || exit 1
# Every run starts from empty dev databases, so the figures are this run's.
"$ECM_ROOT/scripts/devstack.sh" reset >/dev/null || exit 1
"$ECM_ROOT/scripts/devstack.sh" start || {
    "$ECM_ROOT/scripts/devstack.sh" stop || true
    exit 1
}
trap stop_stack EXIT
ecm_env_load

ecm_say "business clock: $(date -u -d @$(($(ecm_business_now_ms) / 1000)) +%FT%TZ)" \
    "(the dev stack runs at midday UTC: legal calling hours are open whatever the real hour)"
strategy_id=$(ecm_create_fast_strategy Demo 2) || ecm_die "could not create the Demo strategy"
ecm_say "strategy Demo (id $strategy_id, POST /api/v1/strategies): Default's rules, retries after 2 s"

tty=0
[[ -t 1 ]] && tty=1

# upload_and_wait CAMPAIGN SEED: uploads $contacts generated contacts, shows
# progress from the API until every contact is closed; sets t0 and t1.
upload_and_wait() {
    local cid=$1 seed=$2 csv upload closed total now elapsed last_print=0 width=40 fill bar
    csv=$ECM_DEV_DIR/demo-contacts-$cid.csv
    ecm_gen_contacts_csv "$contacts" "$csv" "$seed"
    t0=$(date +%s.%N)
    upload=$(api POST "/api/v1/campaigns/$cid/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv")
    ecm_say "uploaded $contacts contacts: $(jq -c '{upload_id, rows_loaded, rows_rejected} | with_entries(select(.value != null))' <<<"$upload" 2>/dev/null || echo "$upload")"
    while :; do
        read -r closed total < <(ecm_campaign_progress "$cid") ||
            ecm_die "GET /api/v1/campaigns/$cid failed"
        now=$(date +%s)
        elapsed=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%d", b - a }')
        if ((tty)); then
            fill=$((total > 0 ? closed * width / total : 0))
            bar=$(printf '%*s' "$fill" '' | tr ' ' '#')$(printf '%*s' $((width - fill)) '' | tr ' ' '.')
            printf '\r  [%s] %d/%d closed  %ds ' "$bar" "$closed" "$total" "$elapsed"
        elif ((now - last_print >= 10)); then
            printf '  %d/%d closed  %ds\n' "$closed" "$total" "$elapsed"
            last_print=$now
        fi
        ((total > 0 && closed >= total)) && break
        if ((elapsed >= timeout_s)); then
            ((tty)) && echo
            ecm_die "timed out after ${timeout_s}s with $closed/$total contacts closed (logs: $ECM_DEV_DIR/logs)"
        fi
        sleep 1
    done
    ((tty)) && echo
    t1=$(date +%s.%N)
}

# summary CAMPAIGN TITLE: contacts by final outcome, attempts, elapsed time.
summary() {
    local c table='to_entries | sort_by(-.value, .key)[] | "  \(.key | . + " " * (20 - length)) \(.value)"'
    c=$(api GET "/api/v1/campaigns/$1")
    echo
    echo "=== ECM demo: $2, campaign $1, $(jq -r '.counts.contacts' <<<"$c") contacts, all closed ==="
    printf 'elapsed: %.1f s (upload to last contact closed)\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    echo "contacts by final outcome:"
    jq -r ".counts.by_outcome | $table" <<<"$c"
    echo "attempts: $(jq -r '.counts.attempts' <<<"$c")"
    echo "attempts by outcome:"
    jq -r ".counts.attempts_by_outcome | $table" <<<"$c"
}

# One voice campaign per Cisco interface, on the simulator's three faces.
seed=42
for target in 1 ucce_api:5001 ucce_db:5002:Import_5002; do
    kind=uccx
    [[ $target != *:* ]] || kind=${target%%:*}
    cid=$(ecm_create_campaign "Demo $kind $(date -u +%Y-%m-%dT%H:%M:%SZ)" Demo "$target") ||
        ecm_die "could not create the $kind campaign (gateway log: $ECM_DEV_DIR/logs/gateway.log)"
    ecm_say "campaign $cid created and activated (voice_ivr, Cisco target $kind, $(ecm_cisco_json "$target"))"
    upload_and_wait "$cid" "$seed"
    seed=$((seed + 1))
    summary "$cid" "voice campaign through the Cisco simulator's $kind interface"
done
stats=$(curl -fsS --max-time 10 "$ECM_DEV_SIM_URL/sim/stats") || ecm_die "GET /sim/stats failed"
echo "Cisco simulator (GET /sim/stats):"
jq -r 'to_entries[] | "  \(.key): \(.value | if type == "object" then tojson else tostring end)"' <<<"$stats"
dups=$(jq -r '.duplicate_accounts' <<<"$stats")
if [[ $dups != 0 ]]; then
    ecm_die "the simulator received $dups account numbers more than once (must be 0)"
fi

# The same contacts by SMS through the real Kannel and its fake SMSC.
if ecm_pid sms >/dev/null; then
    echo
    sid=$(ecm_create_sms_campaign "Demo SMS $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "Hello {first_name}, this is a reminder of your appointment tomorrow. Reply STOP to opt out." \
        kannel Demo 120) ||
        ecm_die "could not create the SMS campaign (gateway log: $ECM_DEV_DIR/logs/gateway.log)"
    ecm_say "campaign $sid created and activated (sms through Kannel)"
    upload_and_wait "$sid" 43
    summary "$sid" "SMS campaign through Kannel"
    received=$(ecm_fakesmsc_count | awk '{ n += $2 } END { print n + 0 }')
    repeats=$(ecm_fakesmsc_count | awk '$2 > 1' | wc -l)
    echo "Kannel's fake SMSC: $received messages received, $repeats numbers received more than one"
    ((repeats == 0)) || ecm_die "a number received the campaign's message more than once"

    # Calls first, then a text to those the call did not reach: one campaign,
    # voice through the simulator's UCCX face and SMS through Kannel.
    echo
    switch_rule='{action: "retry", delay_seconds: 2, max_attempts: 3, switch_channel: "sms", switch_after: 1}'
    body=$(jq -n "{name: \"Call then text\", max_attempts: 4, max_attempts_per_day: 4,
        max_sms_attempts: 1, rules: [
          ({outcome: \"BUSY\"} + $switch_rule), ({outcome: \"NO_ANSWER\"} + $switch_rule),
          {outcome: \"SMS_DELIVERED\", action: \"close\"}]}")
    api POST /api/v1/strategies -d "$body" >/dev/null ||
        ecm_die "could not create the strategy Call then text"
    body=$(jq -n --arg name "Demo call then text $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --arg sender "$ECM_DEV_SMS_SENDER" '{name: $name, channel: "voice_ivr",
        strategy: "Call then text", cisco: {kind: "uccx", campaign_id: "1"},
        sms: {template: "Hello {first_name}, we could not reach you by phone. Reply STOP to opt out.",
              sender: $sender, gateway: "kannel", dlr_timeout_s: 120}}')
    xid=$(api POST /api/v1/campaigns -d "$body" | jq -r '.id // empty')
    if [[ ! $xid =~ ^[0-9]+$ ]] || ! api POST "/api/v1/campaigns/$xid/activate" >/dev/null; then
        ecm_die "could not create the call-then-text campaign (gateway log: $ECM_DEV_DIR/logs/gateway.log)"
    fi
    ecm_say "campaign $xid created and activated (voice_ivr through UCCX; BUSY or NO_ANSWER: one SMS through Kannel)"
    before=$received
    upload_and_wait "$xid" 44
    summary "$xid" "calls, then a text to those not reached"
    read -r texted texts < <(ecm_psql -tA -F ' ' -c "SELECT count(DISTINCT contact_id), count(*)
        FROM attempts WHERE campaign_id = $xid AND channel = 'sms'")
    received=$(ecm_fakesmsc_count | awk '{ n += $2 } END { print n + 0 }')
    repeats=$(ecm_fakesmsc_count | awk '$2 > 1' | wc -l)
    echo "channels: $texted contacts texted after their call ($texts messages);" \
        "Kannel's fake SMSC received $((received - before)) more, $repeats numbers more than one"
    ((texted == texts && repeats == 0 && received - before == texts)) ||
        ecm_die "a contact was texted more than once, or the fake SMSC's count differs"
else
    ecm_warn "the sms service is not running: SMS part skipped"
fi
echo
ecm_say "done"
