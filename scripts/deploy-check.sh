#!/usr/bin/env bash
# Builds ECM's images, runs the Kubernetes dev overlay in podman (kube play)
# and drives a voice and an SMS campaign through the containers; prints what
# it did and its figures. Not part of scripts/test.sh (it builds images):
#   scripts/deploy-check.sh [--contacts N] [--sms-contacts N] [--keep] [--no-sigterm]
#   --contacts N      voice contacts (default 1000), through the simulator's UCCX face
#   --sms-contacts N  SMS contacts (default 300), through Kannel and its fake SMSC
#   --drop-contacts N contacts in the CSV dropped into ecm-dropbox's folder (default 200)
#   --keep            leave the pods running (podman pod ps; tests/deploy/down.sh... see end)
#   --no-sigterm      skip stopping the feeder's and the strategy's pods mid-campaign
# Needs root. Passes when the CSV dropped into the dropbox pod's folder is
# loaded (every row, file archived), every contact of both campaigns is closed, the
# Cisco simulator received no account number twice, the fake SMSC no number
# twice, and the services SIGTERMed mid-campaign exited 0.
# Writes $ECM_DEV_DIR/metrics/<service>.txt (each service's /metrics) and,
# with ECM_DEPLOY_UPDATE_METRICS=1, deploy/grafana/metrics.txt.
set -euo pipefail
ECM_SCRIPT=deploy-check
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ECM_DEV_DIR=${ECM_DEPLOY_DIR:-$root/.dev/deploy-check}
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
# shellcheck source=scripts/deploy-lib.sh
source "$root/scripts/deploy-lib.sh"

contacts=1000 sms_contacts=300 drop_contacts=200 keep=0 sigterm=1
while (($#)); do
    case $1 in
    --contacts) contacts=$2; shift ;;
    --sms-contacts) sms_contacts=$2; shift ;;
    --drop-contacts) drop_contacts=$2; shift ;;
    --keep) keep=1 ;;
    --no-sigterm) sigterm=0 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ecm_die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
[[ $EUID -eq 0 ]] || ecm_die "run as root (podman here needs it)"
timeout_s=${ECM_DEPLOY_TIMEOUT_S:-900}
net=ecm-deploy
work=$ECM_DEV_DIR/kube
mkdir -p "$work" "$ECM_DEV_DIR/logs" "$ECM_DEV_DIR/metrics"
t_start=$SECONDS
step() { ecm_say "[$((SECONDS - t_start)) s] $*"; }

# ---- images
step "packages: scripts/install-deps.sh --deploy"
"$root/scripts/install-deps.sh" --deploy
step "images: scripts/image.sh all"
t0=$SECONDS
"$root/scripts/image.sh" all
t_images=$((SECONDS - t0))
size() { podman image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }'; }

# ---- render the dev overlay, then its podman form (tests/deploy/podman_kube.py)
step "kubectl kustomize deploy/k8s/overlays/dev (Debian's kubectl $("$(ecm_kubectl_debian)" version --client --short 2>/dev/null || echo 1.20))"
ecm_kustomize "$root/deploy/k8s/overlays/dev" >"$work/dev.yaml"
# Business time starts at 12:00 UTC today, as the dev stack's (calling hours
# open whatever the real hour); it runs at the real rate.
now_ms=$(date -u +%s%3N)
offset=$(($(date -u -d "$(date -u +%F) 12:00:00" +%s%3N) - now_ms))
python3 "$root/tests/deploy/podman_kube.py" "$work/dev.yaml" "$work" --clock-offset-ms "$offset"
secret() { python3 - "$work/dev.yaml" "$1" <<'PY'
import base64, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d['kind'] == 'Secret' and sys.argv[2] in d.get('data', {}):
        print(base64.b64decode(d['data'][sys.argv[2]]).decode())
        sys.exit(0)
sys.exit('no Secret in the rendered overlay holds ' + sys.argv[2])
PY
}

down() {
    local f
    for f in dropbox services migrate infra; do
        [[ ! -f $work/$f.yaml ]] || podman kube down "$work/$f.yaml" >/dev/null 2>&1 || true
    done
}
finish() {
    local rc=$?
    podman logs ecm-kannel-kannel >"$ECM_DEV_DIR/logs/kannel.log" 2>&1 || true
    for p in gateway feeder result-sync result-sync-uccx strategy sms dropbox; do
        podman logs "ecm-$p-$p" >"$ECM_DEV_DIR/logs/$p.log" 2>&1 || true
    done
    if ((keep)); then
        ecm_say "pods left running (podman pod ps); stop them with: podman kube down $work/services.yaml; podman kube down $work/migrate.yaml; podman kube down $work/infra.yaml"
    else
        down
        podman network rm -f "$net" >/dev/null 2>&1 || true
    fi
    ((rc == 0)) || ecm_warn "FAILED (logs: $ECM_DEV_DIR/logs)"
    exit "$rc"
}
trap finish EXIT
down
podman network exists "$net" || podman network create "$net" >/dev/null

ip_of() {
    local infra
    infra=$(podman pod inspect "$1" --format '{{.InfraContainerID}}') &&
        podman inspect "$infra" --format "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}"
}
# wait_for WHAT CMD...: up to 180 s.
wait_for() {
    local what=$1 t0=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 < 180)) || ecm_die "$what not ready after 180 s"
        sleep 1
    done
    step "$what ready ($((SECONDS - t0)) s)"
}
http_ok() { curl -fsS -o /dev/null --max-time 3 "$1"; }

# ---- stand-ins, then the migration Job, then the services (docs/deploy.md order)
step "podman kube play infra.yaml (PostgreSQL, dev broker, Cisco simulator, Kannel)"
t0=$SECONDS
podman kube play --network "$net" "$work/infra.yaml" >"$ECM_DEV_DIR/logs/kube-play-infra.log" 2>&1
pg_ip=$(ip_of ecm-postgres)
wait_for postgres pg_isready -q -h "$pg_ip" -p 5432
wait_for devbroker http_ok "http://$(ip_of ecm-devbroker):9093/readyz"
wait_for cisco-sim http_ok "http://$(ip_of ecm-cisco-sim):8700/readyz"
wait_for kannel podman exec ecm-kannel-kannel /usr/local/bin/kannel-entrypoint ready

step "migration Job (as a pod): podman kube play migrate.yaml"
podman kube play --network "$net" "$work/migrate.yaml" >"$ECM_DEV_DIR/logs/kube-play-migrate.log" 2>&1
t1=$SECONDS
until [[ $(podman inspect ecm-migrate-migrate --format '{{.State.Status}}') == exited ]]; do
    ((SECONDS - t1 < 300)) || ecm_die "migrations not done after 300 s"
    sleep 1
done
rc=$(podman inspect ecm-migrate-migrate --format '{{.State.ExitCode}}')
((rc == 0)) || { podman logs ecm-migrate-migrate >&2; ecm_die "migrate exited $rc"; }
step "migrations applied ($((SECONDS - t1)) s)"

step "podman kube play services.yaml"
podman kube play --network "$net" "$work/services.yaml" >"$ECM_DEV_DIR/logs/kube-play-services.log" 2>&1
declare -A port=([gateway]=8080 [feeder]=8081 [result-sync]=8082 [result-sync-uccx]=8082 [strategy]=8083 [sms]=8084 [dropbox]=8086)
declare -A addr
for s in gateway feeder result-sync result-sync-uccx strategy sms; do
    addr[$s]=$(ip_of "ecm-$s"):${port[$s]}
    wait_for "$s" http_ok "http://${addr[$s]}/readyz"
done
t_up=$((SECONDS - t0))

# ---- the API as the helpers of scripts/lib.sh use it
export ECM_DEV_API_URL=http://${addr[gateway]}
export ECM_DEV_SIM_URL=http://$(ip_of ecm-cisco-sim):8700
pg_password=$(secret POSTGRES_PASSWORD) || ecm_die "the dev overlay's Secret has no POSTGRES_PASSWORD"
export ECM_DEV_PG_DSN="host=$pg_ip port=5432 dbname=ecm user=ecm password=$pg_password"
ecm_psql -tA <<<"SELECT 1" >/dev/null || ecm_die "cannot reach the pod's PostgreSQL as ecm ($pg_ip)"
# Two roles, as in production: the services (ready above) log in as the
# user of ECM_PG_DSN, which the migration Job granted DML (ECM_MIGRATE_APP_ROLE)
# and which may not change the schema.
app_dsn=$(secret ECM_PG_DSN) || ecm_die "the dev overlay's Secret has no ECM_PG_DSN"
app_dsn=${app_dsn/host=ecm-postgres/host=$pg_ip}
[[ $app_dsn != *"user=ecm "* ]] || ecm_die "the services' ECM_PG_DSN is the schema owner's role (ecm)"
psql -X -q -tA -d "$app_dsn" -c "SELECT count(*) FROM campaigns" >/dev/null ||
    ecm_die "the services' role cannot read campaigns (grants of ECM_MIGRATE_APP_ROLE)"
if psql -X -q -tA -d "$app_dsn" -c "CREATE TABLE deploy_check_ddl (x int)" >/dev/null 2>&1; then
    ecm_die "the services' role may create a table (it must have DML only)"
fi
step "two roles: the services' role reads the tables, may not create one"
export ECM_DEV_SMS_SENDER=12345
ECM_API_KEY=$(podman exec ecm-gateway-gateway ecm keys create --role admin --name deploy-check 2>/dev/null | tail -n 1)
export ECM_API_KEY
[[ -n $ECM_API_KEY ]] || ecm_die "could not create an API key in the gateway's container"
step "API key made with 'ecm keys create' in the gateway's container; API $ECM_DEV_API_URL"
ecm_create_fast_strategy Demo 2 >/dev/null || ecm_die "could not create the Demo strategy"

# ---- the drop folder: ecm-dropbox with a supervisor key made in the gateway,
# its folder a volume (a host folder in podman's form); a CSV is written into
# the folder inside the running pod (under a dot name, then renamed, as
# docs/dropfolder.md asks of writers) and must be loaded into a draft campaign.
drop_key=$(podman exec ecm-gateway-gateway ecm keys create --role supervisor --name deploy-check-dropbox 2>/dev/null | tail -n 1)
[[ -n $drop_key ]] || ecm_die "could not create the dropbox's API key"
python3 "$root/tests/deploy/podman_kube.py" "$work/dev.yaml" "$work" --clock-offset-ms "$offset" \
    --secret "ecm-dropbox:ECM_DROP_API_KEY=$drop_key" >/dev/null
step "podman kube play dropbox.yaml (its API key made with 'ecm keys create --role supervisor')"
podman kube play --network "$net" "$work/dropbox.yaml" >"$ECM_DEV_DIR/logs/kube-play-dropbox.log" 2>&1
addr[dropbox]=$(ip_of ecm-dropbox):${port[dropbox]}
wait_for dropbox http_ok "http://${addr[dropbox]}/readyz"
drop_body=$(jq -n --arg name "deploy-check drop $(date -u +%FT%TZ)" --argjson cisco "$(ecm_cisco_json 1)" \
    '{name: $name, channel: "voice_ivr", strategy: "Demo", cisco: $cisco}')
did=$(api POST /api/v1/campaigns -d "$drop_body" | jq -r '.id // empty')
[[ $did =~ ^[0-9]+$ ]] || ecm_die "could not create the drop folder's (draft) campaign"
ecm_gen_contacts_csv "$drop_contacts" "$ECM_DEV_DIR/drop.csv" 44
t0=$SECONDS
podman exec -i ecm-dropbox-dropbox sh -c \
    "cat >/var/lib/ecm/drop/.deploy-check.csv && mv /var/lib/ecm/drop/.deploy-check.csv /var/lib/ecm/drop/${did}_deploy-check.csv" \
    <"$ECM_DEV_DIR/drop.csv" || ecm_die "could not write the CSV into the dropbox pod's folder"
drop_loaded() {
    local closed total
    read -r closed total < <(ecm_campaign_progress "$did") || return 1
    ((total == drop_contacts)) &&
        podman exec ecm-dropbox-dropbox sh -c "ls /var/lib/ecm/drop/archive/ | grep -q '_${did}_deploy-check.csv\$'"
}
wait_for "drop folder: $drop_contacts rows of ${did}_deploy-check.csv loaded and the file archived" drop_loaded
t_drop=$((SECONDS - t0))

# wait_closed CAMPAIGN: until every contact is closed; prints progress every 15 s.
# With a hook (function name) as $2, calls it once with the closed count each poll.
wait_closed() {
    local cid=$1 hook=${2:-} closed total t0=$SECONDS last=0
    while :; do
        read -r closed total < <(ecm_campaign_progress "$cid") || ecm_die "GET /api/v1/campaigns/$cid failed"
        [[ -z $hook ]] || "$hook" "$closed" "$total"
        ((total > 0 && closed >= total)) && break
        ((SECONDS - t0 < timeout_s)) || ecm_die "campaign $cid: $closed/$total closed after ${timeout_s}s"
        if ((SECONDS - last >= 15)); then
            step "  campaign $cid: $closed/$total closed"
            last=$SECONDS
        fi
        sleep 2
    done
}

# SIGTERM of a service's pod mid-campaign, as the kubelet does it: SIGTERM
# to every container of the pod at once (the service and its kafka-loopback
# sidecar; SIGKILL after 40 s, the pods' terminationGracePeriodSeconds)
# while the pod's network stays up until they are gone. (podman pod stop
# would stop the pod's infra container at once and take the network away
# from a service still draining: not what Kubernetes does.) Then the
# service's exit status and last log line, podman pod start, readiness.
sigterm_done=0
declare -a sigterm_report=()
sigterm_service() {
    local s=$1 t0=$SECONDS rc last
    podman stop -t 40 "ecm-$s-$s" "ecm-$s-kafka-loopback" >/dev/null 2>>"$ECM_DEV_DIR/logs/podman.log"
    rc=$(podman inspect "ecm-$s-$s" --format '{{.State.ExitCode}}')
    last=$(podman logs --tail 1 "ecm-$s-$s" 2>&1 | cut -c1-160)
    sigterm_report+=("$s: SIGTERM to its pod's containers, $s exited $rc after $((SECONDS - t0)) s; last log line: $last")
    step "SIGTERM pod ecm-$s: $s exited $rc after $((SECONDS - t0)) s; starting it again"
    ((rc == 0)) || ecm_die "$s exited $rc on SIGTERM (expected 0)"
    podman pod start "ecm-$s" >/dev/null 2>>"$ECM_DEV_DIR/logs/podman.log"
    addr[$s]=$(ip_of "ecm-$s"):${port[$s]}
    wait_for "$s (restarted)" http_ok "http://${addr[$s]}/readyz"
}
sigterm_hook() {
    ((sigterm && !sigterm_done)) || return 0
    (($1 * 10 >= $2 && $2 > 0)) || return 0
    sigterm_done=1
    sigterm_service feeder
    sigterm_service strategy
}

summary() {
    local c
    c=$(api GET "/api/v1/campaigns/$1")
    echo "    contacts: $(jq -r '.counts.contacts' <<<"$c"), closed: $(jq -r '.counts.by_state.closed' <<<"$c"), attempts: $(jq -r '.counts.attempts' <<<"$c")"
    echo "    by final outcome: $(jq -c '.counts.by_outcome' <<<"$c")"
}

# ---- voice: UCCX face of the simulator
csv=$ECM_DEV_DIR/voice.csv
ecm_gen_contacts_csv "$contacts" "$csv" 42
vid=$(ecm_create_campaign "deploy-check voice $(date -u +%FT%TZ)" Demo 1) || ecm_die "could not create the voice campaign"
step "voice campaign $vid (UCCX): uploading $contacts contacts"
t0=$SECONDS
api POST "/api/v1/campaigns/$vid/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv" >/dev/null
wait_closed "$vid" sigterm_hook
t_voice=$((SECONDS - t0))
dups=$(ecm_sim_duplicates)
step "voice campaign $vid: all $contacts closed in $t_voice s; simulator duplicate account numbers: $dups"
[[ $dups == 0 ]] || ecm_die "the Cisco simulator received $dups account numbers twice"

# ---- SMS through Kannel's fake SMSC
csv=$ECM_DEV_DIR/sms.csv
ecm_gen_contacts_csv "$sms_contacts" "$csv" 43
sid=$(ecm_create_sms_campaign "deploy-check sms $(date -u +%FT%TZ)" \
    "Hello {first_name}, this is a reminder of your appointment tomorrow. Reply STOP to opt out." kannel Demo 120) ||
    ecm_die "could not create the SMS campaign"
step "SMS campaign $sid (Kannel): uploading $sms_contacts contacts"
t0=$SECONDS
api POST "/api/v1/campaigns/$sid/uploads" -H 'Content-Type: text/csv' --data-binary "@$csv" >/dev/null
wait_closed "$sid"
t_sms=$((SECONDS - t0))
export ECM_DEV_FAKESMSC_LOG=$ECM_DEV_DIR/logs/kannel.log
podman logs ecm-kannel-kannel >"$ECM_DEV_FAKESMSC_LOG" 2>&1
received=$(ecm_fakesmsc_count | awk '{ n += $2 } END { print n + 0 }')
repeats=$(ecm_fakesmsc_count | awk '$2 > 1' | wc -l)
step "SMS campaign $sid: all $sms_contacts closed in $t_sms s; fake SMSC: $received messages, $repeats numbers more than once"
((repeats == 0)) || ecm_die "a number received the SMS campaign's message more than once"

# ---- every service's /metrics (for deploy/grafana/metrics.txt)
for s in gateway feeder result-sync result-sync-uccx strategy sms dropbox; do
    curl -fsS --max-time 5 "http://${addr[$s]}/metrics" >"$ECM_DEV_DIR/metrics/$s.txt"
done
if [[ ${ECM_DEPLOY_UPDATE_METRICS:-0} == 1 ]]; then
    python3 "$root/tests/deploy/metric_names.py" collect "$ECM_DEV_DIR/metrics" >"$root/deploy/grafana/metrics.txt"
    step "deploy/grafana/metrics.txt written from the pods' /metrics"
fi
python3 "$root/tests/deploy/metric_names.py" check-live "$ECM_DEV_DIR/metrics" "$root/deploy/grafana/ecm.json" "$root/deploy/prometheus/alerts.yml"

echo
echo "=== deploy-check: the dev overlay in podman ==="
echo "images ($t_images s): localhost/ecm:dev $(size localhost/ecm:dev), localhost/ecm-kannel:dev $(size localhost/ecm-kannel:dev), localhost/ecm-postgres:15 $(size localhost/ecm-postgres:15), base localhost/debian-base:12 $(size localhost/debian-base:12)"
echo "pods: $(podman pod ps --format '{{.Name}}' | sort | tr '\n' ' ')"
echo "stand-ins + migrations + services ready in $t_up s"
echo "drop folder: $drop_contacts rows dropped into the dropbox pod's folder, loaded into campaign $did and archived in $t_drop s"
echo "voice campaign $vid: $contacts contacts through UCCX, all closed in $t_voice s, simulator duplicates $dups"
summary "$vid"
for l in "${sigterm_report[@]}"; do echo "  mid-campaign $l"; done
echo "SMS campaign $sid: $sms_contacts contacts through Kannel, all closed in $t_sms s, fake SMSC $received messages, repeats $repeats"
summary "$sid"
echo "total $((SECONDS - t_start)) s"
