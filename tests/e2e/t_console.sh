#!/usr/bin/env bash
# The supervisor's console in a real browser: Debian's chromium driven by
# playwright-core runs tests/browser/NN_*.mjs against this stack, signed in
# as the dev stack's admin (tests/browser/run.mjs). Screenshots of every page
# and axe-core's findings are kept under build/browser/ (CI artefacts); a
# failed spec, a serious or critical accessibility violation or a script
# error on a page fails the scenario. ECM_CONSOLE_SPECS=20_campaigns runs
# only the named specs. The console is served from the gateway's compiled-in
# copy, as in production.
# e2e-env: ECM_GATEWAY_WEB_DIR=
# e2e-timeout: 900
# e2e-seconds: 167
source "$(dirname "$0")/lib.sh"

[[ -n ${ECM_DEV_CONSOLE_PASSWORD:-} ]] || e2e_fail "no console password (ECM_DEV_CONSOLE_PASSWORD)"
command -v "${ECM_CHROMIUM:-/usr/bin/chromium}" >/dev/null ||
    e2e_fail "no chromium (scripts/install-deps.sh installs Debian's)"
ecm_npm_ci
out=${ECM_BROWSER_OUT:-$ECM_ROOT/build/browser}
rm -rf "$out"
mkdir -p "$out"
export ECM_BROWSER_OUT=$out ECM_DEV_API_KEY ECM_DEV_PG_DSN ECM_DEV_API_URL ECM_DEV_CONSOLE_PASSWORD
export ECM_DEV_CONSOLE_USER=${ECM_DEV_CONSOLE_USER:-admin}
node "$ECM_ROOT/tests/browser/run.mjs" || e2e_fail "browser tests failed (screenshots in $out/screenshots)"
n=$(find "$out/screenshots" -name '*.png' | wc -l)
e2e_assert_ge 1 "$n" "screenshots kept"
e2e_step "console: every spec passed; $n screenshots in $out/screenshots"
