#!/usr/bin/env bash
# CI check of the deploy files (no images, no containers; well under a
# minute once the two Debian tools are unpacked):
#   - deploy/docker-compose.yml is valid (docker-compose config);
#   - deploy/k8s renders (base, overlays/dev, overlays/prod) with Debian's
#     kubectl 1.20 (kustomize v2.0.3), and the rendered objects pass
#     tests/deploy/check_manifests.py (probes, resources, securityContext,
#     PDB/HPA/NetworkPolicy per service, config keys, compose = k8s variables,
#     every variable known to its binary's --help when the build is there);
#   - tests/deploy/podman_kube.py turns the dev overlay into podman's form;
#   - deploy/prometheus/alerts.yml passes promtool check rules, and
#     tests/deploy/alerts_test.yml (promtool test rules);
#   - every metric deploy/grafana/ecm.json and the alerts name is in
#     deploy/grafana/metrics.txt (collected from the running pods by
#     scripts/deploy-check.sh) and still in the sources.
# The images and the podman run are scripts/deploy-check.sh (separate).
set -euo pipefail
ECM_SCRIPT=check-deploy
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/deploy-lib.sh
source "$ECM_ROOT/scripts/deploy-lib.sh"
cd "$ECM_ROOT"
t0=$SECONDS
out=$ECM_DEV_DIR/check-deploy
rm -rf "$out"
mkdir -p "$out/help" "$out/podman"

command -v docker-compose >/dev/null || ecm_die "docker-compose missing: scripts/install-deps.sh"
docker-compose -f deploy/docker-compose.yml config -q
docker-compose -f deploy/docker-compose.yml config >"$out/compose.yaml"
ecm_say "docker-compose config: deploy/docker-compose.yml is valid ($(docker-compose --version | head -n 1))"

for o in base overlays/dev overlays/prod overlays/prod/migrate; do
    ecm_kustomize "deploy/k8s/$o" >"$out/${o//\//-}.yaml" ||
        ecm_die "kustomize of deploy/k8s/$o failed"
    ecm_say "kustomize deploy/k8s/$o: $(grep -c '^kind:' "$out/${o//\//-}.yaml") objects"
done
help=()
if [[ -x $ECM_BIN_DIR/ecm-gateway ]]; then
    for b in gateway feeder result-sync strategy sms dropbox; do
        "$ECM_BIN_DIR/ecm-$b" --help >"$out/help/ecm-$b.help" 2>&1 || true
    done
    help=("$out/help")
else
    ecm_warn "no build in $ECM_BIN_DIR: variable names not checked against --help"
fi
python3 tests/deploy/check_manifests.py "$out/base.yaml" "$out/overlays-dev.yaml" "$out/overlays-prod.yaml" \
    "$out/overlays-prod-migrate.yaml" "$out/compose.yaml" "${help[@]}"
python3 tests/deploy/podman_kube.py "$out/overlays-dev.yaml" "$out/podman" | sed 's/^/podman form: /'

promtool=$(ecm_promtool) || ecm_die "promtool (Debian package prometheus) not available"
"$promtool" check rules deploy/prometheus/alerts.yml | sed 's/^/promtool: /'
"$promtool" test rules tests/deploy/alerts_test.yml | sed 's/^/promtool: /'
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' deploy/grafana/ecm.json
python3 tests/deploy/metric_names.py check deploy/grafana/ecm.json deploy/prometheus/alerts.yml
bash -n scripts/image.sh scripts/deploy-check.sh deploy/ecm-entrypoint.sh deploy/kannel/kannel-entrypoint.sh deploy/kannel/kannel-conf.sh deploy/postgres/pg-entrypoint.sh
ecm_say "ok ($((SECONDS - t0)) s)"
