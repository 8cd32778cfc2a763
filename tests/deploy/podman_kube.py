#!/usr/bin/env python3
"""Turns the rendered dev overlay (kubectl kustomize deploy/k8s/overlays/dev)
into what `podman kube play` (podman 4.3, Debian 12) runs, in three files:
infra.yaml (PostgreSQL, dev broker, simulators, Kannel), migrate.yaml (the
migration Job as a Pod) and services.yaml (the ECM services).

What differs from Kubernetes, and why:
- A Deployment becomes one Pod named after it (= its Service's name): podman
  names a Deployment's pod <name>-pod-0 and has no Services, but pods on a
  podman network with DNS find each other by pod name, so "ecm-postgres"
  resolves as the Service would.
- Environment from a Secret or a ConfigMap is written in as plain values:
  podman 4.3 reads a Secret made by kube play back as invalid JSON
  ("secret ... is not valid JSON"). ConfigMaps mounted as volumes stay.
- Services, PodDisruptionBudgets, HPAs, NetworkPolicies, the Namespace and the
  ServiceAccount have no podman counterpart and are left out; the Job becomes
  a Pod with restartPolicy Never, run before the services (as the Job is in
  docs/deploy.md's upgrade procedure).
- containerPorts are left out: podman 4.3 publishes each on the host (two
  pods with one port collide, and the host's ports are not ours to take);
  the pods reach each other on the podman network without them. Probes
  that name a port by its name get the number.
- ECM_CLOCK_OFFSET_MS is set from --clock-offset-ms (calling hours open).
- A volume of a PersistentVolumeClaim becomes a host folder
  OUTDIR/volumes/<claim> owned by the image's user (10001), as fsGroup would
  make it; a Secret volume becomes OUTDIR/secrets/<secret>/<path> files (read
  only), for the same reason as the environment above.
- --secret NAME:KEY=VALUE replaces one Secret value (the dropbox's API key,
  made in the running gateway); the Deployment ecm-dropbox goes to its own
  dropbox.yaml, played once that key exists.
usage: podman_kube.py RENDERED.yaml OUTDIR [--clock-offset-ms N] [--secret NAME:KEY=VALUE]...
"""
import base64
import os
import sys

import yaml

DROP = {'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'Namespace',
        'ServiceAccount', 'Secret'}


def main():
    args = sys.argv[1:]
    offset = None
    if '--clock-offset-ms' in args:
        i = args.index('--clock-offset-ms')
        offset = args[i + 1]
        del args[i:i + 2]
    overrides = []
    while '--secret' in args:
        i = args.index('--secret')
        name, _, kv = args[i + 1].partition(':')
        key, _, value = kv.partition('=')
        overrides.append((name, key, value))
        del args[i:i + 2]
    src, outdir = args
    docs = [d for d in yaml.safe_load_all(open(src)) if d]
    cms = {d['metadata']['name']: d.get('data', {}) for d in docs if d['kind'] == 'ConfigMap'}
    secrets = {d['metadata']['name']: {k: base64.b64decode(v).decode() for k, v in d.get('data', {}).items()}
               for d in docs if d['kind'] == 'Secret'}
    for d in docs:
        if d['kind'] == 'Secret':
            for k, v in (d.get('stringData') or {}).items():
                secrets[d['metadata']['name']][k] = v
    for name, key, value in overrides:
        prefix = [n for n in secrets if n == name or n.startswith(name + '-')]
        if not prefix:
            sys.exit(f'podman_kube: no Secret {name}')
        for n in prefix:
            secrets[n][key] = value
    if offset is not None:
        for name in cms:
            if 'ECM_CLOCK_OFFSET_MS' in cms[name]:
                cms[name]['ECM_CLOCK_OFFSET_MS'] = str(offset)

    def inline(spec):
        for c in spec.get('initContainers', []) + spec['containers']:
            named = {p['name']: p['containerPort'] for p in c.pop('ports', []) if 'name' in p}
            for probe in ('startupProbe', 'livenessProbe', 'readinessProbe'):
                for kind in ('httpGet', 'tcpSocket'):
                    p = c.get(probe, {}).get(kind)
                    if p and p.get('port') in named:
                        p['port'] = named[p['port']]
            kept = []
            for e in c.get('env', []):
                vf = e.pop('valueFrom', None)
                if vf is None:
                    kept.append(e)
                    continue
                if 'secretKeyRef' in vf or 'configMapKeyRef' in vf:
                    r = vf.get('secretKeyRef') or vf['configMapKeyRef']
                    src = secrets if 'secretKeyRef' in vf else cms
                    if r['key'] not in src.get(r['name'], {}) and r.get('optional'):
                        continue  # as the kubelet does: an optional key that is absent sets nothing
                    e['value'] = src[r['name']][r['key']]
                else:
                    sys.exit(f'podman_kube: unsupported valueFrom {vf}')
                kept.append(e)
            if 'env' in c:
                c['env'] = kept
        return spec

    def host_volumes(spec):
        for v in spec.get('volumes', []):
            if 'persistentVolumeClaim' in v:
                path = os.path.abspath(f"{outdir}/volumes/{v.pop('persistentVolumeClaim')['claimName']}")
                os.makedirs(path, exist_ok=True)
                if os.geteuid() == 0:
                    os.chown(path, 10001, 10001)
                v['hostPath'] = {'path': path, 'type': 'Directory'}
            elif 'secret' in v:
                sec = v.pop('secret')
                path = os.path.abspath(f"{outdir}/secrets/{sec['secretName']}")
                os.makedirs(path, exist_ok=True)
                items = sec.get('items') or [{'key': k, 'path': k} for k in secrets[sec['secretName']]]
                for it in items:
                    f = os.path.join(path, it['path'])
                    with open(f, 'w') as out:
                        out.write(secrets[sec['secretName']][it['key']] + '\n')
                    os.chmod(f, 0o444)
                v['hostPath'] = {'path': path, 'type': 'Directory'}
        return spec

    def pod(name, meta, spec, restart=None):
        spec = host_volumes(inline(spec))
        if restart:
            spec['restartPolicy'] = restart
        return {'apiVersion': 'v1', 'kind': 'Pod',
                'metadata': {'name': name, 'labels': meta.get('labels', {}),
                             'annotations': meta.get('annotations', {})},
                'spec': spec}

    out = {'infra': [], 'migrate': [], 'services': [], 'dropbox': []}
    for d in docs:
        k = d['kind']
        if k in DROP:
            continue
        if k == 'ConfigMap':
            if not d['metadata']['name'].startswith('ecm-config'):
                out['infra'].append({'apiVersion': 'v1', 'kind': 'ConfigMap',
                                     'metadata': {'name': d['metadata']['name']}, 'data': d['data']})
            continue
        if k == 'Deployment':
            t = d['spec']['template']
            infra = t['metadata'].get('labels', {}).get('ecm.dev/infra') == 'true'
            part = 'infra' if infra else 'dropbox' if d['metadata']['name'] == 'ecm-dropbox' else 'services'
            out[part].append(pod(d['metadata']['name'], t['metadata'], t['spec']))
            continue
        if k == 'PersistentVolumeClaim':
            continue  # its volumes are host folders (above)
        if k == 'Job':
            t = d['spec']['template']
            out['migrate'].append(pod(d['metadata']['name'], t['metadata'], t['spec'], 'Never'))
            continue
        sys.exit(f'podman_kube: no podman rendering for kind {k}')
    for part, items in out.items():
        with open(f'{outdir}/{part}.yaml', 'w') as f:
            yaml.safe_dump_all(items, f, sort_keys=False)
        print(f'{part}.yaml: ' + ' '.join(i['metadata']['name'] for i in items if i['kind'] == 'Pod'))


if __name__ == '__main__':
    main()
