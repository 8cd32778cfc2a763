#!/usr/bin/env python3
"""Metric names of ECM's services, for the Grafana dashboard and the alert rules.
  metric_names.py collect DIR            DIR/<service>.txt (each a /metrics page)
                                         -> "name type service,service..." lines
  metric_names.py check-live DIR FILE... every metric FILE (dashboard JSON,
                                         alert rules YAML) names is on a page of DIR
  metric_names.py check FILE...          the same against deploy/grafana/metrics.txt
                                         (collected from running pods by
                                         scripts/deploy-check.sh), and every name
                                         there is still in the C sources
A metric name in a query is an identifier that starts with ecm_ or one of
the exported names; _bucket/_sum/_count of a histogram count as its name.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIST = os.path.join(ROOT, 'deploy', 'grafana', 'metrics.txt')
# Series other exporters provide (Prometheus itself, kube-state-metrics).
EXTERNAL = {'up', 'kube_pod_status_ready'}
PROMQL_WORDS = {'sum', 'rate', 'irate', 'increase', 'by', 'without', 'max', 'min', 'avg', 'count',
                'histogram_quantile', 'le', 'deriv', 'changes', 'resets', 'delta', 'clamp_min', 'on',
                'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'topk',
                'bottomk', 'abs', 'absent', 'vector', 'time', 'label_replace', 'max_over_time',
                'min_over_time', 'avg_over_time', 'sum_over_time', 'count_over_time', 'predict_linear',
                'job', 'instance', 'service', 'pod', 'namespace', 'campaign', 'topic', 'rule', 'reason',
                'gateway', 'outcome', 'kind', 'code', 'stage', 'partition', 'group', 'quantile', 'up',
                'scalar', 'label_values', 'clamp_min', 'condition', 'round', 'ceil', 'floor', 'sort', 'sort_desc', 'x', 'true', 'false'}


def pages(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith('.txt'):
            out[f[:-4]] = open(os.path.join(d, f)).read()
    return out


def exported(d):
    names = {}
    for svc, text in pages(d).items():
        for line in text.splitlines():
            m = re.match(r'# TYPE (\S+) (\S+)', line)
            if m:
                names.setdefault(m.group(1), [m.group(2), set()])[1].add(svc)
                continue
            m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)', line)
            if m and not line.startswith('#'):
                n = m.group(1)
                base = re.sub(r'_(bucket|sum|count)$', '', n)
                if base in names:
                    names[base][1].add(svc)
                else:
                    names.setdefault(n, ['untyped', set()])[1].add(svc)
    return names


def queries(path):
    """(where, expr) for every PromQL expression of a dashboard or rules file."""
    text = open(path).read()
    if path.endswith('.json'):
        dash = json.loads(text)
        out = []
        def walk(panels):
            for p in panels:
                for t in p.get('targets', []):
                    out.append((f"panel '{p.get('title')}'", t['expr']))
                walk(p.get('panels', []))
        walk(dash.get('panels', []))
        for v in dash.get('templating', {}).get('list', []):
            if v.get('type') == 'query':
                q = v.get('query')
                out.append((f"variable {v.get('name')}", q if isinstance(q, str) else q.get('query', '')))
        return out
    import yaml
    out = []
    for g in yaml.safe_load(text)['groups']:
        for r in g['rules']:
            out.append((f"rule {r.get('alert') or r.get('record')}", r['expr']))
    return out


def names_in(expr, known):
    expr = re.sub(r'"[^"]*"', '""', expr)          # label values
    expr = re.sub(r'\b\d+(\.\d+)?([eE][-+]?\d+)?\b', '0', expr)  # numbers (1e-9)
    expr = re.sub(r'\{[^}]*\}', '{}', expr)         # matchers
    expr = re.sub(r'\[[^\]]*\]', '[]', expr)        # ranges
    expr = re.sub(r'(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', '', expr)
    found = set()
    for w in re.findall(r'[a-zA-Z_:][a-zA-Z0-9_:]*', expr):
        if w in PROMQL_WORDS or re.fullmatch(r'\d.*', w):
            continue
        found.add(w)
    return found


def check(known, files):
    bad = 0
    used = set()
    for f in files:
        for where, expr in queries(f):
            for n in sorted(names_in(expr, known)):
                base = re.sub(r'_(bucket|sum|count)$', '', n)
                if n in EXTERNAL:
                    continue
                if n in known or base in known:
                    used.add(n if n in known else base)
                    continue
                print(f'{os.path.relpath(f, ROOT)}: {where}: {n} is exported by no service', file=sys.stderr)
                bad += 1
    return bad, used


def main():
    cmd = sys.argv[1]
    if cmd == 'collect':
        names = exported(sys.argv[2])
        print('# Metric names the services export, collected from the pods\' /metrics by')
        print('# ECM_DEPLOY_UPDATE_METRICS=1 scripts/deploy-check.sh: name type services')
        for n in sorted(names):
            print(n, names[n][0], ','.join(sorted(names[n][1])))
        return 0
    if cmd == 'check-live':
        known = exported(sys.argv[2])
        bad, used = check(known, sys.argv[3:])
        print(f'metric names: {len(used)} used by the dashboard and alerts, all exported by the running pods'
              if not bad else f'metric names: {bad} not exported')
        return 1 if bad else 0
    if cmd == 'check':
        known = {}
        for line in open(LIST):
            if line.strip() and not line.startswith('#'):
                n, t, svcs = line.split()
                known[n] = [t, set(svcs.split(','))]
        bad, used = check(known, sys.argv[2:])
        # The list must not outlive the code: each name is still in a source file.
        src = []
        for d in ('lib', 'services', 'tools'):
            for dp, _, fs in os.walk(os.path.join(ROOT, d)):
                for f in fs:
                    if f.endswith(('.c', '.h', '.cc')):
                        src.append(open(os.path.join(dp, f), errors='replace').read())
        blob = '\n'.join(src)
        for n in sorted(used):
            if f'"{n}' not in blob and n not in blob:
                print(f'deploy/grafana/metrics.txt: {n} is no longer in lib/, services/ or tools/', file=sys.stderr)
                bad += 1
        print(f'metric names: {len(used)} used by the dashboard and alerts, each in deploy/grafana/metrics.txt and the sources'
              if not bad else f'metric names: {bad} problems')
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
