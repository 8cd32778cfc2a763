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
# The site components (deploy/k8s/components): kustomize >= 3.7 only, so
# rendered with a newer kubectl when there is one on the PATH.
if command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | grep -q 'Kustomize Version: v[4-9]'; then
    kubectl kustomize deploy/k8s/overlays/prod 2>/dev/null >"$out/overlays-prod-kustomize-new.yaml"
    for c in deploy/k8s/components/*/; do
        c=$(basename "$c")
        mkdir -p "$out/site-$c"
        printf 'resources:\n- ../../../deploy/k8s/overlays/prod\ncomponents:\n- ../../../deploy/k8s/components/%s\n' \
            "$c" >"$out/site-$c/kustomization.yaml"
        kubectl kustomize "$out/site-$c" 2>/dev/null >"$out/site-$c.yaml" || ecm_die "kustomize of overlays/prod + components/$c failed"
        python3 - "$out/overlays-prod-kustomize-new.yaml" "$out/site-$c.yaml" "ecm-${c#without-}" <<'PY' || ecm_die "components/$c"
import sys, yaml
key = lambda p: {(d['kind'], d['metadata']['name']) for d in yaml.safe_load_all(open(p)) if d}
gone = key(sys.argv[1]) - key(sys.argv[2])
want = {(k, sys.argv[3]) for k in ('Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy')}
if gone != want:
    sys.exit(f'removes {sorted(gone)}, not {sorted(want)}')
PY
        ecm_say "kustomize overlays/prod + components/$c: the five objects of ecm-${c#without-} gone"
    done
else
    ecm_warn "no kubectl with kustomize >= 4: deploy/k8s/components not rendered"
fi
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
