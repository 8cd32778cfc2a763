#!/bin/bash
# Kannel for ECM's dev stacks, in the foreground: writes kannel.conf from the
# environment, starts bearerbox, the fake SMSC client (every MT is one "Got
# message" line on its stdout, i.e. the container log), then smsbox; on
# SIGTERM stops smsbox, bearerbox, fakesmsc and exits 0. Same settings as
# scripts/lib.sh's ecm_kannel_write_conf, but listening on every address:
#   KANNEL_SENDSMS_USER / KANNEL_SENDSMS_PASSWORD   the sendsms user (ECM_SMS_KANNEL_*)
#   KANNEL_ADMIN_PASSWORD, KANNEL_STATUS_PASSWORD   bearerbox's admin and status pages
#   KANNEL_MO_URL        smsbox's get-url for MOs (the sms service's /sms/mo?key=...)
#   KANNEL_SENDER        global sender (default 12345)
#   KANNEL_ALLOW_IP      who may call sendsms (default "*.*.*.*": the NetworkPolicy decides)
#   "ready": exit 0 when the fake SMSC is online and smsbox is connected.
set -euo pipefail
dir=${KANNEL_DIR:-/var/lib/ecm-kannel}
conf=$dir/kannel.conf
status_url="http://127.0.0.1:13000/status.txt?password=${KANNEL_STATUS_PASSWORD:-}"
ready() {
    local st
    st=$(curl -fsS --max-time 2 "$status_url") || return 1
    grep -qE '^[[:space:]]+fake\[fake\][[:space:]].*\(online' <<<"$st" &&
        grep -qE '^[[:space:]]+smsbox:' <<<"$st"
}
if [[ ${1:-run} == ready ]]; then
    ready
    exit
fi
: "${KANNEL_SENDSMS_PASSWORD:?}" "${KANNEL_ADMIN_PASSWORD:?}" "${KANNEL_STATUS_PASSWORD:?}" "${KANNEL_MO_URL:?}"
allow=${KANNEL_ALLOW_IP:-*.*.*.*}
mkdir -p "$dir/store"
[[ -e $dir/store/kannel.store ]] || : >"$dir/store/kannel.store"
umask 077
cat >"$conf" <<CONF
group = core
admin-port = 13000
admin-password = $KANNEL_ADMIN_PASSWORD
status-password = $KANNEL_STATUS_PASSWORD
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
smsbox-port = 13001
smsbox-interface = 127.0.0.1
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-level = 1
dlr-storage = internal
store-type = file
store-location = "$dir/store/kannel.store"

group = smsc
smsc = fake
smsc-id = fake
port = 13010
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"
denied-smsc-id = mo

group = smsc
smsc = fake
smsc-id = mo
allowed-smsc-id = mo
port = 13011
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = 13001
sendsms-port = 13013
global-sender = "${KANNEL_SENDER:-12345}"
log-level = 1
max-pending-requests = 32
http-request-retry = 30
http-queue-delay = 2
mo-recode = true

group = sendsms-user
username = ${KANNEL_SENDSMS_USER:-ecm}
password = $KANNEL_SENDSMS_PASSWORD
user-deny-ip = "*.*.*.*"
user-allow-ip = "$allow"
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "$KANNEL_MO_URL"
max-messages = 0
omit-empty = true
CONF
umask 022

stop=0
trap 'stop=1' TERM INT
bb='' sb='' fs=''
wait_for() {
    local what=$1 pid=$2 t0=$SECONDS
    shift 2
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "kannel: $what exited during start-up" >&2; exit 1; }
        ((SECONDS - t0 < 60)) || { echo "kannel: $what not up after 60 s" >&2; exit 1; }
        ((stop == 0)) || exit 0
        sleep 0.2
    done
}
st() { curl -fsS --max-time 2 "$status_url" 2>/dev/null; }
fake_online() { st | grep -qE '^[[:space:]]+fake\[fake\][[:space:]].*\(online'; }

/usr/sbin/bearerbox -v 2 "$conf" &
bb=$!
wait_for bearerbox "$bb" st
/usr/lib/kannel/test/fakesmsc -H 127.0.0.1 -r 13010 -m 0 "0 0 text unused" </dev/null &
fs=$!
wait_for fakesmsc "$fs" fake_online
/usr/sbin/smsbox -v 2 "$conf" &
sb=$!
wait_for smsbox "$sb" ready
echo "kannel: ready (sendsms :13013)" >&2
while ((stop == 0)); do
    wait -n "$bb" "$sb" "$fs" 2>/dev/null || true
    ((stop == 0)) || break
    for p in "$bb" "$sb" "$fs"; do
        kill -0 "$p" 2>/dev/null || { echo "kannel: a process died; stopping" >&2; stop=2; }
    done
done
rc=0
for p in "$sb" "$bb"; do
    kill -TERM "$p" 2>/dev/null || true
    t0=$SECONDS
    while kill -0 "$p" 2>/dev/null && ((SECONDS - t0 < 20)); do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
done
kill -INT "$fs" 2>/dev/null || true
wait 2>/dev/null || true
((stop != 2)) || rc=1
echo "kannel: stopped ($rc)" >&2
exit $rc
