#!/usr/bin/python3
"""Every route the gateway registers is in api/openapi.yaml, and every
/api/v1 operation of the document is one the gateway registers.

Reads the ecm_http_route / ecm_http_route_stream calls (and route tables
of {"METHOD", "/path", ...} rows) in services/gateway/*.c, turns each "{}"
segment into a template parameter, and compares method + path shape with the
document's operations (parameter names ignored). The probes (/healthz,
/readyz, /metrics) are lib/io/ecm_http's own routes. Prints each difference
and exits 1 when there is one.

Usage: tests/api/routes_check.py [api/openapi.yaml]
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROUTE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"')
BUILTIN = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
# Described by the document but not served yet: issue 14 adds it.
PLANNED = {("GET", "/api/v1/openapi.yaml")}


def shape(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


def code_routes():
    routes = set()
    for f in sorted(glob.glob(os.path.join(ROOT, "services", "gateway", "*.c"))):
        with open(f, encoding="utf-8") as fh:
            for m in ROUTE.finditer(fh.read()):
                routes.add((m.group(1), m.group(2)))
    return routes | BUILTIN


def doc_routes(path):
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    out = set()
    for p, item in doc["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                out.add((method.upper(), shape(p)))
    return out


def main():
    doc_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "api", "openapi.yaml")
    code = code_routes()
    doc = doc_routes(doc_path)
    bad = 0
    for m, p in sorted(code - doc):
        print(f"routes: {m} {p}: served by the gateway, missing from {doc_path}", file=sys.stderr)
        bad += 1
    for m, p in sorted(doc - code - PLANNED):
        print(f"routes: {m} {p}: in {doc_path}, not served by the gateway", file=sys.stderr)
        bad += 1
    if bad:
        sys.exit(1)
    print(f"routes: the {len(code)} routes of services/gateway are all in {os.path.basename(doc_path)}")


if __name__ == "__main__":
    main()
