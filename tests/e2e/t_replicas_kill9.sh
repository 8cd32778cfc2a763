#!/usr/bin/env bash
# Two of each ECM service (ECM_DEV_REPLICAS=2: gateway, feeder, both
# result-syncs, strategy, sms) on one database and consumer groups: a voice
# campaign and an SMS campaign through the real Kannel at once, and once
# both are a quarter done one replica of each service, and the outbox
# relay's holder, killed with SIGKILL and restarted. Every contact closed
# once, ECM's attempts = the simulator's dials and the fake SMSC's messages,
# nothing dialled or texted twice, the outbox empty (tests/e2e/workload.sh;
# bench/replicas.sh runs it at 20,000 and compares 1 and 2 replicas).
# e2e-env: ECM_DEV_REPLICAS=2
# e2e-env: ECM_SMS_RATE_KANNEL=150
# e2e-env: ECM_SMS_CONCURRENCY=32
# A killed sms replica's messages without a DLR wait ECM_SMS_RESEND_AFTER_S
# before they are sent again (docs/replicas.md): 180 s, inside the timeout.
# e2e-env: ECM_SMS_RESEND_AFTER_S=180
# e2e-timeout: 600
# e2e-seconds: 102
set -euo pipefail
exec "$(dirname "$0")/workload.sh" -n "${ECM_E2E_REPLICAS_CONTACTS:-3000}" --kill-each --timeout 420
