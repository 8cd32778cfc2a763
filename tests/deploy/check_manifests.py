#!/usr/bin/env python3
"""Checks ECM's rendered Kubernetes manifests and the compose file.
usage: check_manifests.py BASE.yaml DEV.yaml PROD.yaml PROD_MIGRATE.yaml COMPOSE.yaml [HELP_DIR]
  - every Deployment's containers: readiness and liveness probes, resources
    (cpu and memory requests, a memory limit), a restrictive securityContext
    (no privilege escalation, read-only root, capabilities dropped; the pod
    runAsNonRoot; fsGroupChangePolicy OnRootMismatch with a PVC); every ECM service: readiness on /readyz, liveness on
    /healthz (readiness timeoutSeconds >= 5), Prometheus annotations, terminationGracePeriodSeconds covering
    ECM_SHUTDOWN_TIMEOUT_S + preStop, a Service, a PodDisruptionBudget
    (unhealthyPodEvictionPolicy AlwaysAllow), an
    HPA (and no spec.replicas of its own) and a NetworkPolicy that select
    it;
  - the migration Job is not in base or prod (one apply would roll the
    services beside it) but in PROD_MIGRATE (overlays/prod/migrate) with its
    Namespace, ServiceAccount and NetworkPolicy, named after the image tag
    prod's Deployments use, without ttlSecondsAfterFinished; dev keeps it
    (podman runs it first);
  - in prod, an ECM_PG_DSN with sslmode=verify-* names an sslrootcert in a
    mounted volume, and every Kafka client has ECM_KAFKA_ssl.ca.location in one;
  - in prod, a Deployment the Ingress routes to allows >= 1000 connections
    per client address (they all come from the ingress controller); no
    Ingress path reaches /metrics, /healthz or /readyz; every ECM Deployment
    spreads over nodes and zones;
  - deploy/k8s/topics (Strimzi KafkaTopics) = compose's kafka-init topics and
    partitions, and the dev broker's partition count; each KafkaTopic as
    Strimzi's CRD accepts it (v1 API, partitions, replicas, cluster label)
    with min.insync.replicas below its replicas; in prod every Kafka
    client's NetworkPolicy allows the ports of ECM_KAFKA_BROKERS;
  - every configMapKeyRef / secretKeyRef names a key the overlay provides
    (prod's Secret is made outside: its keys are those of secret.example.yaml);
  - every ECM service of the compose file sets the same variable names as its
    Deployment (dev-overlay-only ones aside), from the same image;
  - two database roles (the users of ECM_PG_DSN and ECM_MIGRATE_PG_DSN differ,
    as dev and prod's secret.example.yaml have them): the migration Job sets
    ECM_MIGRATE_APP_ROLE to the services' one; prod's ingress peers outside
    ECM name their namespace (base and dev do not);
  - every build: in the compose file names a file that exists; the sms
    Deployment sets the variables docs/deploy.md's Secrets section names
    (the *_PREVIOUS of a rotation; optional secretKeyRefs need no key);
  - with HELP_DIR (files <binary>.help, the output of --help), every ECM_*
    variable set for a service is one its binary knows.
"""
import base64
import os
import re
import sys

import yaml

SERVICES = {'gateway': 'gateway', 'feeder': 'feeder', 'result-sync': 'result-sync',
            'result-sync-uccx': 'result-sync', 'strategy': 'strategy', 'sms': 'sms', 'dropbox': 'dropbox'}
# One replica by design, no HPA (docs/deploy.md: the drop folder).
SINGLE = {'dropbox'}
DEV_ONLY_ENV = {'ECM_CLOCK_OFFSET_MS'}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
errors = []


def err(where, msg):
    errors.append(f'{where}: {msg}')


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def selects(obj_sel, labels):
    return all(labels.get(k) == v for k, v in obj_sel.items())


OUTSIDE_PODS = {('app.kubernetes.io/name', 'prometheus'), ('app.kubernetes.io/name', 'ingress-nginx'),
                ('k8s-app', 'kube-dns')}
# lib/service/ecm_service.c: /readyz's two Kafka probes of 1 s each, plus the DB.
READY_TIMEOUT_MIN_S = 5
ECM_LABELS = {'app.kubernetes.io/part-of', 'app.kubernetes.io/component'}


def check_labels(name, docs):
    """ECM's own objects carry part-of: ecm; selectors of outside pods no ECM label."""
    for d in docs:
        md = d['metadata']
        where = f"{name}: {d['kind']} {md['name']}"
        labels = md.get('labels') or {}
        ecm_dev = labels.get('app.kubernetes.io/part-of') == 'ecm-dev'
        if d['kind'] not in ('Namespace', 'ConfigMap', 'Secret') and not ecm_dev:
            if labels.get('app.kubernetes.io/part-of') != 'ecm':
                err(where, 'no label app.kubernetes.io/part-of: ecm')
            t = d.get('spec', {}).get('template') if isinstance(d.get('spec'), dict) else None
            if t and (t['metadata'].get('labels') or {}).get('app.kubernetes.io/part-of') != 'ecm':
                err(where, 'pod template has no label app.kubernetes.io/part-of: ecm (the default-deny policy misses it)')
        if d['kind'] != 'NetworkPolicy':
            continue
        peers = [p for r in d['spec'].get('ingress', []) for p in r.get('from', [])] + \
                [p for r in d['spec'].get('egress', []) for p in r.get('to', [])]
        for p in peers:
            sel = (p.get('podSelector') or {}).get('matchLabels') or {}
            outside = 'namespaceSelector' in p or any(i in OUTSIDE_PODS for i in sel.items())
            bad = sorted(k for k in sel if k in ECM_LABELS)
            if outside and bad:
                err(where, f'selects pods outside ECM {sel} by ECM label(s) {bad}: those pods lack them')


def check_overlay(name, docs, secret_keys=None, want_job=False):
    cms = {}
    secrets = {}
    for d in docs:
        if d['kind'] == 'ConfigMap':
            cms[d['metadata']['name']] = set((d.get('data') or {}).keys())
        if d['kind'] == 'Secret':
            secrets[d['metadata']['name']] = set((d.get('data') or {}).keys()) | set((d.get('stringData') or {}).keys())
    if secret_keys is not None:
        secrets.setdefault('ecm-secrets', set()).update(secret_keys)
    check_labels(name, docs)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d['kind'], []).append(d)
    deps = by_kind.get('Deployment', [])
    if want_job and not by_kind.get('Job'):
        err(name, 'no migration Job')
    if not want_job and by_kind.get('Job'):
        err(name, 'a Job in the same apply as the Deployments (the migration is overlays/prod/migrate)')
    for d in deps + by_kind.get('Job', []):
        where = f"{name}: {d['kind']} {d['metadata']['name']}"
        t = d['spec']['template']
        spec = t['spec']
        labels = t['metadata'].get('labels', {})
        psc = spec.get('securityContext', {})
        if not psc.get('runAsNonRoot'):
            err(where, 'pod securityContext.runAsNonRoot is not true')
        if psc.get('fsGroup') is not None and psc.get('fsGroupChangePolicy') != 'OnRootMismatch' and \
                any('persistentVolumeClaim' in v for v in spec.get('volumes', [])):
            err(where, 'fsGroup on a persistent volume without fsGroupChangePolicy: OnRootMismatch '
                '(every start would chown the whole shared volume)')
        for c in spec['containers']:
            cw = f"{where} container {c['name']}"
            if d['kind'] == 'Deployment':
                for p in ('readinessProbe', 'livenessProbe'):
                    if p not in c:
                        err(cw, f'no {p}')
            r = c.get('resources', {})
            if not (r.get('requests', {}).get('cpu') and r.get('requests', {}).get('memory')):
                err(cw, 'no cpu and memory requests')
            if not r.get('limits', {}).get('memory'):
                err(cw, 'no memory limit')
            sc = c.get('securityContext', {})
            if sc.get('allowPrivilegeEscalation') is not False:
                err(cw, 'allowPrivilegeEscalation is not false')
            if 'ALL' not in sc.get('capabilities', {}).get('drop', []):
                err(cw, 'capabilities not dropped')
            if sc.get('readOnlyRootFilesystem') is not True and labels.get('app.kubernetes.io/component') != 'postgres':
                err(cw, 'root file system not read-only')
            for e in c.get('env', []):
                vf = e.get('valueFrom', {})
                if 'configMapKeyRef' in vf:
                    ref = vf['configMapKeyRef']
                    if ref['key'] not in cms.get(ref['name'], set()):
                        err(cw, f"env {e['name']}: ConfigMap {ref['name']} has no key {ref['key']}")
                if 'secretKeyRef' in vf:
                    ref = vf['secretKeyRef']
                    if ref['key'] not in secrets.get(ref['name'], set()) and not ref.get('optional'):
                        err(cw, f"env {e['name']}: Secret {ref['name']} has no key {ref['key']}")
        comp = labels.get('app.kubernetes.io/component')
        if d['kind'] != 'Deployment' or comp not in SERVICES:
            continue
        ann = t['metadata'].get('annotations', {})
        if ann.get('prometheus.io/scrape') != 'true' or not ann.get('prometheus.io/port'):
            err(where, 'no Prometheus scrape annotations')
        main = [c for c in spec['containers'] if c['name'] == comp]
        if not main:
            err(where, f'no container named {comp}')
            continue
        c = main[0]
        if c.get('readinessProbe', {}).get('httpGet', {}).get('path') != '/readyz':
            err(where, 'readiness probe is not GET /readyz')
        if c.get('readinessProbe', {}).get('timeoutSeconds', 1) < READY_TIMEOUT_MIN_S:
            err(where, f'readiness timeoutSeconds < {READY_TIMEOUT_MIN_S} (/readyz may spend 2 x 1 s on Kafka)')
        for pdb in by_kind.get('PodDisruptionBudget', []):
            sel = pdb['spec'].get('selector', {}).get('matchLabels', {})
            if sel and selects(sel, t['metadata']['labels']) and \
                    pdb['spec'].get('unhealthyPodEvictionPolicy') != 'AlwaysAllow':
                err(where, f"PDB {pdb['metadata']['name']}: unhealthyPodEvictionPolicy is not AlwaysAllow "
                    '(NotReady pods, e.g. in a Kafka outage, would block drains)')
        if c.get('livenessProbe', {}).get('httpGet', {}).get('path') != '/healthz':
            err(where, 'liveness probe is not GET /healthz')
        drain = None
        literal = None
        for e in c.get('env', []):
            if e['name'] == 'ECM_SHUTDOWN_TIMEOUT_S':
                drain = 20  # the ConfigMap's value is checked below
                literal = int(e['value']) if 'value' in e else None
        pre = c.get('lifecycle', {}).get('preStop', {}).get('exec', {}).get('command', [])
        pre_s = int(pre[1]) if len(pre) == 2 and pre[0] == 'sleep' else 0
        grace = spec.get('terminationGracePeriodSeconds', 30)
        cm_drain = None
        for d2 in by_kind.get('ConfigMap', []):
            if d2['metadata']['name'].startswith('ecm-config'):
                cm_drain = int(d2['data'].get('ECM_SHUTDOWN_TIMEOUT_S', 20))
        drain = literal or cm_drain or drain or 20
        if grace < drain + pre_s + 5:
            err(where, f'terminationGracePeriodSeconds {grace} < drain {drain} s + preStop {pre_s} s + 5')
        sel_labels = t['metadata']['labels']
        for kind in ('Service', 'PodDisruptionBudget', 'NetworkPolicy'):
            found = False
            for o in by_kind.get(kind, []):
                sel = o['spec'].get('selector', {}) if kind == 'Service' else \
                    (o['spec'].get('selector', {}).get('matchLabels', {}) if kind == 'PodDisruptionBudget'
                     else o['spec'].get('podSelector', {}).get('matchLabels', {}))
                if sel and selects(sel, sel_labels) and sel.get('app.kubernetes.io/name'):
                    found = True
            if not found:
                err(where, f'no {kind} of its own')
        has_hpa = any(h['spec']['scaleTargetRef']['name'] == d['metadata']['name'] for h in by_kind.get('HorizontalPodAutoscaler', []))
        if comp in SINGLE:
            if has_hpa or d['spec'].get('replicas') != 1:
                err(where, 'must run one replica (spec.replicas 1, no HPA)')
        elif not has_hpa:
            err(where, 'no HorizontalPodAutoscaler')
        elif 'replicas' in d['spec']:
            err(where, 'sets spec.replicas although an HPA scales it (an apply would reset the HPA\'s count)')
    return deps


def check_prod_kafka(prod):
    """In prod every container that talks to Kafka has the same security settings."""
    want = ('ECM_KAFKA_security.protocol', 'ECM_KAFKA_sasl.mechanisms', 'ECM_KAFKA_sasl.username',
            'ECM_KAFKA_sasl.password')
    for d in prod:
        if d['kind'] not in ('Deployment', 'Job'):
            continue
        for c in d['spec']['template']['spec']['containers']:
            names = env_names(c)
            if 'ECM_KAFKA_BROKERS' in names:
                missing = [w for w in want if w not in names]
                if missing:
                    err(f"overlays/prod {d['kind']} {d['metadata']['name']} container {c['name']}",
                        f'uses Kafka without {missing} (kafka-sasl.yaml)')


def image_tag(docs, kind):
    for d in docs:
        if d['kind'] == kind:
            return d['spec']['template']['spec']['containers'][0]['image'].rsplit(':', 1)[-1]
    return None


def check_prod_migrate(prod, mig):
    """The migration's own apply: what a first install needs, named after the version."""
    where = 'overlays/prod/migrate'
    kinds = {}
    for d in mig:
        kinds.setdefault(d['kind'], []).append(d)
    for k in ('Namespace', 'ServiceAccount', 'NetworkPolicy', 'Job'):
        if len(kinds.get(k, [])) != 1:
            err(where, f'wants exactly one {k}, has {len(kinds.get(k, []))}')
            return
    job = kinds['Job'][0]
    tag = image_tag(mig, 'Job')
    if tag != image_tag(prod, 'Deployment'):
        err(where, f"Job image tag {tag} != the Deployments' {image_tag(prod, 'Deployment')}")
    if not job['metadata']['name'].endswith('-' + str(tag)):
        err(where, f"Job {job['metadata']['name']} not named after the version {tag} (its template is immutable)")
    if 'ttlSecondsAfterFinished' in job['spec']:
        err(where, 'Job has ttlSecondsAfterFinished (a GitOps tool recreates it)')
    spec = job['spec']['template']['spec']
    if spec.get('serviceAccountName') != kinds['ServiceAccount'][0]['metadata']['name']:
        err(where, f"Job's serviceAccountName {spec.get('serviceAccountName')} is not the ServiceAccount in this apply")
    np = kinds['NetworkPolicy'][0]
    if not selects(np['spec']['podSelector'].get('matchLabels', {}), job['spec']['template']['metadata']['labels']):
        err(where, 'the NetworkPolicy does not select the Job\'s pod')


def mounted(c, path):
    return any(path.startswith(m['mountPath'].rstrip('/') + '/') for m in c.get('volumeMounts', []))


def check_prod_tls(docs, secret):
    """verify-full needs a CA file the container has (libpq 15: no sslrootcert=system)."""
    for d in docs:
        if d['kind'] not in ('Deployment', 'Job'):
            continue
        for c in d['spec']['template']['spec']['containers']:
            cw = f"overlays/prod {d['kind']} {d['metadata']['name']} container {c['name']}"
            for e in c.get('env', []):
                ref = e.get('valueFrom', {}).get('secretKeyRef', {})
                if e['name'] == 'ECM_PG_DSN' and ref.get('key') in secret:
                    dsn = secret[ref['key']]
                    m = re.search(r'sslrootcert=(\S+)', dsn)
                    if 'verify-' in dsn and not (m and mounted(c, m.group(1))):
                        err(cw, f"{ref['key']}: sslmode verify-* without an sslrootcert in a mounted volume")
                if e['name'] == 'ECM_KAFKA_ssl.ca.location' and not mounted(c, e.get('value', '')):
                    err(cw, f"ECM_KAFKA_ssl.ca.location {e.get('value')} is not in a mounted volume")
            names = env_names(c)
            if 'ECM_KAFKA_BROKERS' in names and 'ECM_KAFKA_ssl.ca.location' not in names:
                err(cw, 'Kafka over TLS without ECM_KAFKA_ssl.ca.location (kafka-sasl.yaml)')


# Binaries' ECM_HTTP_MAX_CONNECTIONS_PER_CLIENT defaults (ECM_COMMON_CONFIG_ENTRIES).
PER_CLIENT_DEFAULT = {'sms': 1000}
BEHIND_INGRESS_MIN = 1000


def check_ingress_caps(prod):
    """A service behind the Ingress sees every client as the controller's address."""
    routed = set()
    for d in prod:
        if d['kind'] == 'Ingress':
            for r in d['spec'].get('rules', []):
                for p in r.get('http', {}).get('paths', []):
                    routed.add(p['backend']['service']['name'])
    for d in prod:
        if d['kind'] != 'Deployment' or d['metadata']['name'] not in routed:
            continue
        c = d['spec']['template']['spec']['containers'][0]
        cap = PER_CLIENT_DEFAULT.get(c['name'], 64)
        for e in c.get('env', []):
            if e['name'] == 'ECM_HTTP_MAX_CONNECTIONS_PER_CLIENT' and 'value' in e:
                cap = int(e['value'])
        if cap < BEHIND_INGRESS_MIN:
            err(f"overlays/prod Deployment {d['metadata']['name']}",
                f'behind the Ingress with ECM_HTTP_MAX_CONNECTIONS_PER_CLIENT {cap} < {BEHIND_INGRESS_MIN} '
                '(every client has the controller\'s address: 429 for all)')


# Endpoints for the cluster only (kubelet probes, Prometheus): never through an Ingress.
INTERNAL_PATHS = ('/metrics', '/healthz', '/readyz')


def check_ingress_paths(prod):
    """No Ingress path reaches an internal endpoint (a Prefix / reaches them all)."""
    for d in prod:
        if d['kind'] != 'Ingress':
            continue
        for r in d['spec'].get('rules', []):
            for p in r.get('http', {}).get('paths', []):
                path, kind = p.get('path', '/'), p.get('pathType', 'Prefix')
                if kind == 'Exact':
                    hit = [x for x in INTERNAL_PATHS if x == path]
                else:
                    pre = path if path.endswith('/') else path + '/'
                    hit = [x for x in INTERNAL_PATHS if x == path or x.startswith(pre)]
                if hit:
                    err(f"overlays/prod Ingress {d['metadata']['name']}",
                        f'path {path} ({kind}) exposes {", ".join(hit)} outside the cluster')


def check_spread(name, docs):
    """Every ECM Deployment spreads its replicas over nodes and zones."""
    for d in docs:
        if d['kind'] != 'Deployment' or d['metadata']['name'] not in {'ecm-' + s for s in SERVICES}:
            continue
        keys = {c.get('topologyKey') for c in d['spec']['template']['spec'].get('topologySpreadConstraints', [])}
        for k in ('kubernetes.io/hostname', 'topology.kubernetes.io/zone'):
            if k not in keys:
                err(f"{name} Deployment {d['metadata']['name']}", f'no topologySpreadConstraint on {k}')


def compose_topics(compose):
    """{topic: partitions} from the compose file's kafka-init command."""
    cmd = ' '.join(compose['services']['kafka-init'].get('command') or [])
    cmd = cmd.replace('\\\n', ' ')
    topics = {}
    for m in re.finditer(r'for topic in ([^;]+); do(.*?)done', cmd, re.S):
        parts = int(re.search(r'--partitions (\d+)', m.group(2)).group(1))
        for t in m.group(1).split():
            topics[t] = parts
    for m in re.finditer(r'--topic ([a-z][\w.]+)\s+--partitions (\d+)', cmd):
        topics[m.group(1)] = int(m.group(2))
    return topics


# What Strimzi's KafkaTopic CRD accepts (packaging/install/cluster-operator/
# 043-Crd-kafkatopic.yaml, Strimzi 1.x): only the v1 API is served since
# Strimzi 1.0 (v1beta2 removed; v1 served since 0.49); partitions an
# integer >= 1, replicas 1..32767, config an object; the Topic Operator
# picks the cluster by the strimzi.io/cluster label.
STRIMZI_TOPIC_API = 'kafka.strimzi.io/v1'
DNS1123 = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


def check_kafka_topic(d):
    name = d.get('metadata', {}).get('name', '?')
    where = f'deploy/k8s/topics {name}'
    if d.get('kind') != 'KafkaTopic':
        err(where, f"kind {d.get('kind')}, want KafkaTopic")
        return
    if d.get('apiVersion') != STRIMZI_TOPIC_API:
        err(where, f"apiVersion {d.get('apiVersion')}: Strimzi serves only {STRIMZI_TOPIC_API} since 1.0")
    if len(name) > 253 or not DNS1123.match(name):
        err(where, 'metadata.name is not a DNS-1123 subdomain')
    if not d['metadata'].get('labels', {}).get('strimzi.io/cluster'):
        err(where, 'no strimzi.io/cluster label: no Topic Operator takes it')
    spec = d.get('spec')
    if not isinstance(spec, dict):
        err(where, 'no spec (required in v1)')
        return
    known = {'topicName', 'partitions', 'replicas', 'config'}
    if set(spec) - known:
        err(where, f'spec fields the CRD does not have: {sorted(set(spec) - known)}')
    parts, reps = spec.get('partitions'), spec.get('replicas')
    if not isinstance(parts, int) or isinstance(parts, bool) or parts < 1:
        err(where, f'partitions {parts!r}: an integer >= 1')
    if not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= 32767:
        err(where, f'replicas {reps!r}: an integer 1..32767')
    config = spec.get('config', {})
    if not isinstance(config, dict):
        err(where, 'config is not an object')
        return
    isr = config.get('min.insync.replicas')
    if isinstance(reps, int) and (not isinstance(isr, int) or not 1 <= isr < reps):
        err(where, f'min.insync.replicas {isr!r} with {reps} replicas: writes stop when one broker is down')


def check_topics(compose, topics_docs, dev):
    want = compose_topics(compose)
    got = {d['spec']['topicName']: d['spec']['partitions'] for d in topics_docs if d['kind'] == 'KafkaTopic'}
    if not want or want != got:
        err('deploy/k8s/topics', f'KafkaTopics {got} != docker-compose kafka-init {want}')
    for d in topics_docs:
        check_kafka_topic(d)
    for d in dev:
        if d['kind'] == 'Deployment' and d['metadata']['name'] == 'ecm-devbroker':
            for e in d['spec']['template']['spec']['containers'][0].get('env', []):
                if e['name'] == 'ECM_DEVBROKER_PARTITIONS' and int(e['value']) != want.get('contacts.uploaded'):
                    err('overlays/dev ecm-devbroker', f"{e['value']} partitions, {want.get('contacts.uploaded')} elsewhere")


def check_kafka_ports(prod):
    """Every Kafka client's NetworkPolicy lets it reach the brokers' ports."""
    cm = next((d['data'] for d in prod if d['kind'] == 'ConfigMap' and d['metadata']['name'].startswith('ecm-config')), {})
    ports = {int(b.rsplit(':', 1)[1]) for b in cm.get('ECM_KAFKA_BROKERS', '').split(',') if ':' in b}
    for d in prod:
        if d['kind'] != 'NetworkPolicy':
            continue
        name = d['metadata']['name']
        dep = next((x for x in prod if x['kind'] == 'Deployment' and x['metadata']['name'] == name), None)
        if not dep or 'ECM_KAFKA_BROKERS' not in env_names(dep['spec']['template']['spec']['containers'][0]):
            continue
        allowed = set()
        for r in d['spec'].get('egress', []):
            for p in r.get('ports', []):
                if isinstance(p.get('port'), int):
                    allowed.update(range(p['port'], p.get('endPort', p['port']) + 1))
        for p in sorted(ports - allowed):
            err(f'overlays/prod NetworkPolicy {name}', f'no egress to Kafka port {p} (ECM_KAFKA_BROKERS)')


def dsn_user(dsn):
    m = re.search(r'(?:^|\s)user=(\S+)', dsn or '')
    return m.group(1) if m else None


def job_env(docs):
    """{name: value} of the migration Job's literal env (None: no Job)."""
    for d in docs:
        if d['kind'] == 'Job':
            return {e['name']: e.get('value') for e in d['spec']['template']['spec']['containers'][0].get('env', [])}
    return None


def check_app_role(name, docs, dsns):
    """Two roles (ECM_PG_DSN's user != ECM_MIGRATE_PG_DSN's) need the Job to
    grant the services' one: ECM_MIGRATE_APP_ROLE = ECM_PG_DSN's user."""
    env = job_env(docs)
    app, owner = dsn_user(dsns.get('ECM_PG_DSN')), dsn_user(dsns.get('ECM_MIGRATE_PG_DSN'))
    if env is None or app == owner:
        return
    if env.get('ECM_MIGRATE_APP_ROLE') != app:
        err(f'{name}: Job', f"ECM_MIGRATE_APP_ROLE is {env.get('ECM_MIGRATE_APP_ROLE')!r}, not the services' role "
            f'{app!r} (user of ECM_PG_DSN; the owner {owner!r} runs the Job): the services would get no privileges')


def secret_values(docs, name):
    for d in docs:
        if d['kind'] == 'Secret' and re.fullmatch(re.escape(name) + r'(-[a-z0-9]{10})?', d['metadata']['name']):
            out = {k: base64.b64decode(v).decode() for k, v in (d.get('data') or {}).items()}
            out.update(d.get('stringData') or {})
            return out
    return {}


def check_compose_builds(compose):
    """Every build: of the rendered compose names a Containerfile/Dockerfile
    that exists (the default is Dockerfile, which we do not ship)."""
    for svc, c in compose['services'].items():
        b = c.get('build')
        if not b:
            continue
        ctx = b if isinstance(b, str) else b.get('context', '.')
        df = 'Dockerfile' if isinstance(b, str) else b.get('dockerfile', 'Dockerfile')
        path = df if os.path.isabs(df) else os.path.join(ctx, df)
        if not os.path.isabs(ctx):
            path = os.path.join(ROOT, 'deploy', path)
        if not os.path.isfile(path):
            err(f'docker-compose.yml service {svc}', f'build: {path} does not exist (set dockerfile:)')


def check_rotation(base, help_dir):
    """The variables docs/deploy.md's Secrets section names (the rotation's
    *_PREVIOUS among them) that the sms binary knows are set on ecm-sms."""
    text = open(os.path.join(ROOT, 'docs/deploy.md')).read()
    m = re.search(r'^## Secrets\n(.*?)^## ', text, re.S | re.M)
    named = set(re.findall(r'ECM_[A-Z0-9_]+', m.group(1) if m else ''))
    if not any(v.endswith('_PREVIOUS') for v in named):
        err('docs/deploy.md', 'the Secrets section names no *_PREVIOUS variable (key rotation)')
    known = None
    if help_dir:
        known = set(re.findall(r'^\s*(ECM_[A-Z0-9_]+)\s', open(os.path.join(help_dir, 'ecm-sms.help')).read(), re.M))
    sms = [d for d in base if d['kind'] == 'Deployment' and d['metadata']['name'] == 'ecm-sms']
    have = env_names(sms[0]['spec']['template']['spec']['containers'][0]) if sms else set()
    for v in sorted(named):
        if (v in known) if known is not None else v.startswith('ECM_SMS_'):
            if v not in have:
                err('deploy/k8s/base Deployment ecm-sms', f'{v} (docs/deploy.md, Secrets) is not set')


def check_peer_namespaces(name, docs, want_named):
    """Ingress peers outside ECM (a namespaceSelector beside a podSelector):
    prod names their namespace (kubernetes.io/metadata.name) so that a pod of
    another tenant labelled like Prometheus or the ingress controller does
    not get in; base and dev do not (platform-specific)."""
    for d in docs:
        if d['kind'] != 'NetworkPolicy':
            continue
        for r in d['spec'].get('ingress', []):
            for f in r.get('from', []):
                if 'namespaceSelector' not in f:
                    continue
                named = 'kubernetes.io/metadata.name' in (f['namespaceSelector'] or {}).get('matchLabels', {})
                if want_named and not named:
                    err(f"{name} NetworkPolicy {d['metadata']['name']}",
                        f"ingress from {f.get('podSelector')} in any namespace (name it: kubernetes.io/metadata.name)")
                if not want_named and named:
                    err(f"{name} NetworkPolicy {d['metadata']['name']}", 'selects a namespace by name (platform-specific)')


def env_names(c):
    return {e['name'] for e in c.get('env', [])}


def main():
    base, dev, prod, prod_migrate, compose = (load(p) for p in sys.argv[1:6])
    help_dir = sys.argv[6] if len(sys.argv) > 6 else None
    check_topics(compose[0], load(os.path.join(ROOT, 'deploy/k8s/topics/topics.yaml')), dev)
    check_kafka_ports(prod)
    example = load(os.path.join(ROOT, 'deploy/k8s/overlays/prod/secret.example.yaml'))[0]
    check_overlay('base', base, secret_keys=set(example['stringData']))
    check_overlay('overlays/dev', dev, want_job=True)
    check_overlay('overlays/prod', prod, secret_keys=set(example['stringData']))
    check_overlay('overlays/prod/migrate', prod_migrate, secret_keys=set(example['stringData']), want_job=True)
    check_prod_migrate(prod, prod_migrate)
    check_prod_tls(prod + prod_migrate, example['stringData'])
    check_ingress_caps(prod)
    check_ingress_paths(prod)
    check_spread('overlays/prod', prod)
    check_prod_kafka(prod)
    for d in prod + prod_migrate:
        if d['kind'] != 'NetworkPolicy':
            continue
        for r in d['spec'].get('egress', []):
            if not r.get('to'):
                err(f"overlays/prod NetworkPolicy {d['metadata']['name']}", 'an egress rule open to any address')
            for t in r.get('to', []):
                cidr = t.get('ipBlock', {}).get('cidr', '')
                if cidr and not re.match(r'^[0-9a-fA-F:.]+/[0-9]+$', cidr):
                    err(f"overlays/prod NetworkPolicy {d['metadata']['name']}", f'ipBlock {cidr!r} is not a CIDR (network.env)')
    check_peer_namespaces('base', base, False)
    check_peer_namespaces('overlays/dev', dev, False)
    check_peer_namespaces('overlays/prod', prod + prod_migrate, True)
    check_app_role('overlays/prod/migrate', prod_migrate, example['stringData'])
    dev_dsns = secret_values(dev, 'ecm-secrets')
    check_app_role('overlays/dev', dev, dev_dsns)
    if dsn_user(dev_dsns.get('ECM_PG_DSN')) == dsn_user(dev_dsns.get('ECM_MIGRATE_PG_DSN')):
        err('overlays/dev', 'one database role for the services and the migration Job '
            '(the dev overlay splits them as production does)')
    check_compose_builds(compose[0])
    check_rotation(base, help_dir)
    comp = compose[0]['services']
    k8s = {}
    for d in base:
        if d['kind'] == 'Deployment':
            k8s[d['metadata']['name']] = d['spec']['template']['spec']['containers'][0]
    images = set()
    for svc in SERVICES:
        if svc not in comp:
            err('docker-compose.yml', f'no service {svc}')
            continue
        kc = k8s.get(f'ecm-{svc}')
        if not kc:
            err('deploy/k8s/base', f'no Deployment ecm-{svc}')
            continue
        ce = set((comp[svc].get('environment') or {}).keys())
        ke = env_names(kc) - DEV_ONLY_ENV
        if ce != ke:
            err(f'docker-compose.yml service {svc}',
                f'variables differ from Deployment ecm-{svc}: only in compose {sorted(ce - ke)}, only in k8s {sorted(ke - ce)}')
        if comp[svc].get('command') != kc.get('args'):
            err(f'docker-compose.yml service {svc}', f"command {comp[svc].get('command')} != k8s args {kc.get('args')}")
        images.add(comp[svc].get('image'))
        if help_dir:
            known = set()
            hp = os.path.join(help_dir, f'ecm-{SERVICES[svc]}.help')
            for line in open(hp):
                m = re.match(r'\s*(ECM_[A-Z0-9_]+)\s', line)
                if m:
                    known.add(m.group(1))
            for v in sorted((ce | ke) - DEV_ONLY_ENV):
                if v.startswith('ECM_KAFKA_') and v != 'ECM_KAFKA_BROKERS':
                    continue  # librdkafka properties pass through
                if v not in known:
                    err(f'service {svc}', f'{v} is not a variable of ecm-{SERVICES[svc]} (--help)')
    if len(images) != 1:
        err('docker-compose.yml', f'the ECM services use more than one image: {sorted(map(str, images))}')
    n_dep = {n: sum(1 for d in docs if d['kind'] == 'Deployment') for n, docs in (('base', base), ('dev', dev), ('prod', prod))}
    if errors:
        for e in errors:
            print('check_manifests: ' + e, file=sys.stderr)
        return 1
    print(f"manifests: Deployments base {n_dep['base']}, dev {n_dep['dev']}, prod {n_dep['prod']}: probes, resources, "
          f"securityContext, PDB/HPA/NetworkPolicy/Service, config keys; compose = k8s variables for {len(SERVICES)} services")
    return 0


if __name__ == '__main__':
    sys.exit(main())
