#!/usr/bin/python3
"""Every route the gateway registers is in api/openapi.yaml, and every
/api/v1 operation of the document is one the gateway registers; and each
operation's least role, 401/403/415 answers are those of gw_auth.c.

Reads the ecm_http_route / ecm_http_route_stream calls (and route tables
of {"METHOD", "/path", ...} rows) in services/gateway/*.c, turns each "{}"
segment into a template parameter, and compares method + path shape with the
document's operations (parameter names ignored). The probes (/healthz,
/readyz, /metrics) are lib/io/ecm_http's own routes.

Then holds each operation to gw_auth.c's route_roles table ({"METHOD",
"/pattern", GW_ROLE_X, json} rows): the role of its security requirement is
the table's (an open route has `security: []`, every other the one
requirement `bearerApiKey: [role]`); it lists 401 unless open, 403 exactly
when a weaker role exists (supervisor, admin) or it changes something (any
method but GET and HEAD: a session's CSRF check), and 415 when the table
says its body must be JSON. An operation's `x-ecm-handler-statuses` lists
the statuses its handler answers itself (sign-in's 401). Prints each difference and exits 1 when there is one.

Usage: tests/api/routes_check.py [api/openapi.yaml]
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROUTE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"')
ROLE_ROW = re.compile(r'\{"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)",\s*GW_ROLE_([A-Z]+),\s*([01])\}')
BUILTIN = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
PLANNED = set()  # described by the document, not served yet


def shape(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


def code_routes():
    routes = set()
    for f in sorted(glob.glob(os.path.join(ROOT, "services", "gateway", "*.c"))):
        if os.path.basename(f) == "gw_auth.c":
            continue  # its route_roles table is checked apart, registers nothing
        with open(f, encoding="utf-8") as fh:
            for m in ROUTE.finditer(fh.read()):
                routes.add((m.group(1), m.group(2)))
    return routes | BUILTIN


def load_doc(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def doc_operations(doc):
    """{(METHOD, shape): operation} of the document."""
    out = {}
    for p, item in doc["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                out[(method.upper(), shape(p))] = item[method]
    return out


def code_roles():
    """{(METHOD, "/pattern/{}"): (role or None for open, json)} of gw_auth.c."""
    with open(os.path.join(ROOT, "services", "gateway", "gw_auth.c"), encoding="utf-8") as fh:
        text = fh.read()
    return {(m.group(1), m.group(2)): (None if m.group(3) == "NONE" else m.group(3).lower(),
                                       m.group(4) == "1")
            for m in ROLE_ROW.finditer(text)}


def op_role(doc, op):
    """The operation's least role: None (open), a role name, or "?" (not one requirement)."""
    sec = op.get("security", doc.get("security"))
    if sec == []:
        return None
    if len(sec) == 1 and list(sec[0]) == ["bearerApiKey"] and len(sec[0]["bearerApiKey"]) == 1:
        return sec[0]["bearerApiKey"][0]
    return "?"


def role_differences(doc, ops, roles):
    """Lines naming each way the document's roles and auth answers differ from gw_auth.c."""
    out = []
    for (m, p), op in sorted(ops.items()):
        if (m, p) in BUILTIN:
            if op_role(doc, op) is not None:
                out.append(f"{m} {p}: a probe, must be open (security: [])")
            continue
        if (m, p) not in roles:
            out.append(f"{m} {p}: not in gw_auth.c's route_roles (the code asks admin)")
            continue
        want, json_body = roles[(m, p)]
        got = op_role(doc, op)
        if got != want:
            out.append(f"{m} {p}: role {got or 'open'} in the document, {want or 'open'} in gw_auth.c")
        statuses = {str(s) for s in op.get("responses", {})}
        # 403: a weaker role exists, or a change made with a session cookie
        # lacks its CSRF token (any method but GET and HEAD).
        checks = [("401", want is not None),
                  ("403", want in ("supervisor", "admin")
                   or (want is not None and m not in ("GET", "HEAD")))]
        # Statuses the handler answers itself (sign-in's 401).
        own = {str(s) for s in op.get("x-ecm-handler-statuses", [])}
        if json_body:
            checks.append(("415", True))
        for status, needed in checks:
            if needed and status not in statuses:
                out.append(f"{m} {p}: {status} missing (gw_auth.c answers it)")
            elif status != "415" and not needed and status in statuses and status not in own:
                out.append(f"{m} {p}: {status} listed, gw_auth.c never answers it")
    return out


def main():
    doc_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "api", "openapi.yaml")
    code = code_routes()
    document = load_doc(doc_path)
    ops = doc_operations(document)
    doc = set(ops)
    bad = 0
    for m, p in sorted(code - doc):
        print(f"routes: {m} {p}: served by the gateway, missing from {doc_path}", file=sys.stderr)
        bad += 1
    for m, p in sorted(doc - code - PLANNED):
        print(f"routes: {m} {p}: in {doc_path}, not served by the gateway", file=sys.stderr)
        bad += 1
    for line in role_differences(document, ops, code_roles()):
        print(f"roles: {line}", file=sys.stderr)
        bad += 1
    if bad:
        sys.exit(1)
    print(f"routes: the {len(code)} routes of services/gateway are all in "
          f"{os.path.basename(doc_path)}, with gw_auth.c's roles")


if __name__ == "__main__":
    main()
