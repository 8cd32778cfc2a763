#!/bin/sh
# The image's entry point: "ecm SERVICE [ARGS]" runs that service in the
# foreground (exec: it is PID 1's only child-free process and gets SIGTERM).
set -eu
cmd=${1:-help}
[ $# -eq 0 ] || shift
case $cmd in
gateway | feeder | result-sync | strategy | sms | dropbox | devbroker | cisco-sim | sms-sim)
    exec "/usr/bin/ecm-$cmd" "$@"
    ;;
ecmctl) exec /usr/bin/ecmctl "$@" ;;
keys | users) exec /usr/bin/ecm-gateway "$cmd" "$@" ;;
migrate)
    # Applies every pending migration of ECM_PG_DSN (advisory-locked), grants
    # the services' role ECM_MIGRATE_APP_ROLE when set, and exits: 0 when both
    # are done ("ecm migrate --help").
    exec /usr/bin/ecm-gateway migrate "$@"
    ;;
healthcheck)
    # GET /healthz on this container's ECM_HTTP_PORT (the image's HEALTHCHECK).
    exec curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${ECM_HTTP_PORT:-8080}/healthz"
    ;;
kafka-loopback)
    # Dev overlay only: the dev broker (librdkafka's mock cluster) advertises
    # its broker as 127.0.0.1:<random port>. This sidecar listens on that
    # loopback port inside the pod and forwards to the dev broker's fixed port,
    # so the services of other pods reach it. ECM_DEVBROKER_HTTP (host:port
    # of its control port) and ECM_DEVBROKER_KAFKA (host:port) name it.
    http=${ECM_DEVBROKER_HTTP:?ECM_DEVBROKER_HTTP not set} kafka=${ECM_DEVBROKER_KAFKA:?ECM_DEVBROKER_KAFKA not set}
    until bs=$(curl -fsS --max-time 2 "http://$http/bootstrap"); do sleep 1; done
    port=${bs##*:}
    port=$(printf '%s' "$port" | tr -dc 0-9)
    echo "kafka-loopback: 127.0.0.1:$port -> $kafka" >&2
    socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "TCP:$kafka" &
    fwd=$!
    # On SIGTERM (the whole pod stops at once) keep forwarding while the
    # service drains (flushes its producer, commits its offsets): until no
    # connection to the loopback port is left open (the service has exited),
    # at most ECM_LOOPBACK_LINGER_S (default 35) seconds.
    hex=$(printf '%04X' "$port")
    linger() {
        i=0
        while [ "$i" -lt "${ECM_LOOPBACK_LINGER_S:-35}" ] &&
            grep -q "^ *[0-9]*: 0100007F:$hex [0-9A-F]*:[0-9A-F]* 01" /proc/net/tcp; do
            sleep 1
            i=$((i + 1))
        done
        kill "$fwd" 2>/dev/null
        exit 0
    }
    trap linger TERM INT
    wait "$fwd"
    ;;
kafka-loopback-ready)
    # The sidecar's probe: something listens on 127.0.0.1:<the advertised port>.
    bs=$(curl -fsS --max-time 2 "http://${ECM_DEVBROKER_HTTP:?}/bootstrap")
    port=$(printf '%s' "${bs##*:}" | tr -dc 0-9)
    grep -q "^ *[0-9]*: 0100007F:$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp
    ;;
help | -h | --help)
    cat <<USAGE
usage: ecm COMMAND [ARGS]
  gateway feeder result-sync strategy sms dropbox   the services (--help: their variables)
  migrate          apply the database migrations of ECM_PG_DSN, grant ECM_MIGRATE_APP_ROLE, exit
  keys ... | users ...   ecm-gateway's key and user commands
  ecmctl ...       the command-line client
  devbroker cisco-sim sms-sim   development tools (never in production)
  kafka-loopback   dev overlay sidecar for the dev broker
  healthcheck      GET /healthz on ECM_HTTP_PORT
USAGE
    ;;
*)
    echo "ecm: unknown command '$cmd' (ecm help)" >&2
    exit 2
    ;;
esac
