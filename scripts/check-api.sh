#!/usr/bin/env bash
# Checks the machine-readable API documents under api/ (run by scripts/test.sh,
# needs no stack):
#   1. api/asyncapi.yaml's payload schemas are what scripts/gen-asyncapi.py
#      generates from proto/ecm/v1/events.proto (the two cannot drift);
#   2. api/asyncapi.yaml parses with @asyncapi/parser 3.x, no error;
#   3. api/openapi.yaml lints clean with @redocly/cli (api/redocly.yaml:
#      recommended-strict, every warning an error);
#   4. every route services/gateway/*.c registers is in api/openapi.yaml and
#      the other way round, each operation with gw_auth.c's least role and
#      its 401/403/415 answers (tests/api/routes_check.py);
#   5. tests/api/openapi_check.py, the validator tests use to hold responses
#      to api/openapi.yaml, passes its self-test (tests/api/test_openapi_check.py).
# Exits non-zero if any check failed, naming it. npm packages come only from
# `npm ci` with the committed package-lock.json (run here when node_modules is
# missing or older than the lock file); the Debian packages (protoc,
# python3-protobuf, python3-yaml, python3-jsonschema, node) from
# scripts/install-deps.sh. Python is Debian's /usr/bin/python3 on purpose: the
# modules above are installed for it.
set -euo pipefail
ECM_SCRIPT="check-api"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ECM_ROOT"
PY=/usr/bin/python3
started=$(date +%s%N)
failed=()

ecm_npm_ci

step() {
    local name=$1
    shift
    if "$@"; then
        ecm_say "ok: $name"
    else
        failed+=("$name")
        ecm_warn "FAILED: $name"
    fi
}

step "asyncapi.yaml generated from events.proto" "$PY" scripts/gen-asyncapi.py --check
step "asyncapi.yaml parses (@asyncapi/parser)" node tests/api/asyncapi_check.mjs api/asyncapi.yaml
# No telemetry, no update check: CI reaches only the npm registry and Debian.
step "openapi.yaml lints clean (@redocly/cli)" env REDOCLY_TELEMETRY=off \
    REDOCLY_SUPPRESS_UPDATE_NOTICE=true node_modules/.bin/redocly lint --config api/redocly.yaml \
    api/openapi.yaml
step "openapi.yaml describes every gateway route" "$PY" tests/api/routes_check.py api/openapi.yaml
step "openapi_check.py self-test" "$PY" tests/api/test_openapi_check.py

ms=$((($(date +%s%N) - started) / 1000000))
if ((${#failed[@]})); then
    ecm_warn "FAILED: ${failed[*]} (${ms} ms)"
    exit 1
fi
ecm_say "all API checks passed (${ms} ms)"
