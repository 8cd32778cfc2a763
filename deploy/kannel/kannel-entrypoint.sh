#!/bin/bash
# Kannel for ECM's dev stacks, in the foreground: writes kannel.conf from the
# environment, starts bearerbox, the fake SMSC client (every MT is one "Got
# message" line on its stdout, i.e. the container log), then smsbox; on
# SIGTERM stops smsbox, bearerbox, fakesmsc and exits 0. kannel.conf is
# kannel-conf.sh's (as the dev stack's), listening on every address:
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
KC_ADMIN_PASSWORD=$KANNEL_ADMIN_PASSWORD KC_STATUS_PASSWORD=$KANNEL_STATUS_PASSWORD \
    KC_USER=${KANNEL_SENDSMS_USER:-ecm} KC_PASSWORD=$KANNEL_SENDSMS_PASSWORD KC_MO_URL=$KANNEL_MO_URL \
    KC_STORE=$dir/store/kannel.store KC_ALLOW_IP=$allow KC_SENDER=${KANNEL_SENDER:-12345} \
    /usr/local/bin/kannel-conf >"$conf"
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
