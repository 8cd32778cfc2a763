#!/usr/bin/env bash
# The chaos run, small (scripts/chaos.sh runs it at 100,000): a voice and an
# SMS campaign at once on two of each ECM service, and every 5 s one ECM
# process chosen at random killed with SIGKILL and restarted: the gateway
# while an upload streams through it (the upload is then resumed), the
# outbox relay's holder, any feeder, result-sync, strategy or sms replica.
# At the end every contact closed, ECM's attempts = the simulator's dials and
# the fake SMSC's messages, 0 lost, 0 dialled or texted twice, the outbox
# empty (tests/e2e/workload.sh).
# e2e-env: ECM_DEV_REPLICAS=2
# e2e-env: ECM_SMS_RATE_KANNEL=150
# e2e-env: ECM_SMS_CONCURRENCY=32
# A killed sms replica's messages without a DLR wait ECM_SMS_RESEND_AFTER_S
# before they are sent again (docs/replicas.md): 180 s, inside the timeout.
# e2e-env: ECM_SMS_RESEND_AFTER_S=180
# e2e-env: ECM_GATEWAY_UPLOAD_LEASE_S=5
# e2e-env: ECM_GATEWAY_UPLOAD_SWEEP_S=1
# e2e-timeout: 600
# e2e-seconds: 119
set -euo pipefail
exec "$(dirname "$0")/workload.sh" -n "${ECM_E2E_CHAOS_CONTACTS:-3000}" --chaos 5 --timeout 420
