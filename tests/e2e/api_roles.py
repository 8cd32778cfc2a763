#!/usr/bin/python3
"""The role matrix of tests/e2e/t_api_roles.sh, generated from api/openapi.yaml.

For every operation of the document (method x path template), the least role
is its security requirement (`bearerApiKey: [role]`; `security: []` is open).
Each operation is called with six credentials:
    none (no Authorization), malformed (not a key), revoked (a real key,
    revoked), viewer, supervisor, admin
and the status must be
    401 with `WWW-Authenticate: Bearer ...` for the first three,
    403 for a role below the operation's,
    neither 401 nor 403 (nor 5xx: the handler answered) at or above it.
An open operation must answer 200 with no key and with a malformed one; one
that takes a body (sign-in) gets its example body and must answer a status
it documents, not 5xx.
Every JSON-only operation that lists 415 (its request body, if it takes one,
only application/json) must also answer 415 to an admin sending text/plain.

Path parameters are real objects made by the scenario (so that an allowed
call reaches its handler): the segment before the parameter names which
(campaigns, uploads, contacts, strategies, keys, dnc). A request body is the
operation's first media type with a small valid example (BODIES), `{}` when
none is listed. A change that succeeds is fine: the matrix asks only who may.

Every exchange is appended to $ECM_API_EXCHANGE_LOG (when set) for
tests/api/openapi_check.py, as scripts/lib.sh's api() does.

Usage: api_roles.py BASE_URL IDS_JSON KEYS_JSON
  IDS_JSON: {"campaigns": 1, "uploads": 2, "contacts": 3, "strategies": 4,
             "keys": "0123456789abcdef", "dnc": "+12125550100"}
  KEYS_JSON: {"revoked": "...", "viewer": "...", "supervisor": "...", "admin": "..."}
Prints one line per failure and a summary; exits 1 when one failed.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "api", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch")
RANK = {"viewer": 1, "supervisor": 2, "admin": 3}
CREDENTIALS = ("none", "malformed", "revoked", "viewer", "supervisor", "admin")
MALFORMED = "ecm_not-a-key"

# Valid bodies for the operations that take one, so that an allowed change
# goes through (others get `{}` or a one-line CSV, and may well be refused
# with 400/409/422: still not 401/403).
BODIES = {
    "createCampaign": {"name": "roles", "channel": "voice_ivr",
                       "cisco": {"kind": "uccx", "campaign_id": "1"}},
    "patchCampaign": {"name": "roles renamed"},
    "createStrategy": {"name": "roles {n}", "rules": []},
    "replaceStrategy": {"name": "roles replaced", "rules": []},
    "addGlobalDnc": {"phone": "+12125550177"},
    "addCampaignDnc": {"phone": "+12125550178"},
    "createKey": {"name": "roles {n}", "role": "viewer"},
    "requestCallback": {"at": "2099-01-01T10:00:00Z"},
    "createUser": {"name": "roles user {n}", "role": "viewer", "password": "roles-password-{n}"},
    "signIn": {"name": "roles nobody", "password": "not-a-password"},
}
CSV_BODY = b"account_number,phone1\nR-1,+12125550190\n"
DNC_CSV_BODY = b"phone\n+12125550191\n"


def fill(template, ids):
    """The template with each {param} replaced by the id of the object its
    preceding segment names; raises KeyError naming a segment without one."""
    segs = template.strip("/").split("/")
    out = []
    for i, seg in enumerate(segs):
        if re.fullmatch(r"\{[^}]+\}", seg):
            kind = segs[i - 1]
            out.append(urllib.parse.quote(str(ids[kind]), safe=""))
        else:
            out.append(seg)
    return "/" + "/".join(out)


def body_for(op, counter):
    """(content type, bytes) for the operation's request, (None, None) without one."""
    rb = op.get("requestBody")
    if not rb:
        return None, None
    if "$ref" in rb:
        name = rb["$ref"].rsplit("/", 1)[1]
        rb = DOC_OBJ["components"]["requestBodies"][name]
    media = next(iter(rb["content"]))
    if media == "application/json":
        example = BODIES.get(op.get("operationId"), {})
        text = json.dumps(example).replace("{n}", str(counter))
        return media, text.encode()
    if "dnc" in op.get("operationId", "").lower():
        return media, DNC_CSV_BODY
    return media, CSV_BODY


def send(base, method, path, key, ctype, body, log):
    """One request; returns (status, headers dict lower-case, body bytes)."""
    req = urllib.request.Request(base + path, data=body, method=method)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, headers, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, data = e.code, e.headers, e.read()
    hdrs = {k.lower(): v for k, v in headers.items()}
    if log:
        ct = hdrs.get("content-type", "")
        line = {"method": method, "path": path, "status": status, "content_type": ct}
        if ct.lower().startswith("text/csv"):
            line.update(body=None, body_omitted=True)
        else:
            line["body"] = data.decode("utf-8", errors="replace")
        log.write(json.dumps(line) + "\n")
    return status, hdrs, data


def role_of(doc, op):
    sec = op.get("security", doc.get("security"))
    if sec == []:
        return None
    return sec[0]["bearerApiKey"][0]


def main():
    global DOC_OBJ
    base, ids, keys = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    keys = dict(keys, none=None, malformed=MALFORMED)
    with open(DOC, encoding="utf-8") as fh:
        DOC_OBJ = doc = yaml.safe_load(fh)
    log_name = os.environ.get("ECM_API_EXCHANGE_LOG")
    log = open(log_name, "a", encoding="utf-8") if log_name else None
    failures, checked, ops, counter = [], 0, 0, 0
    t0 = time.monotonic()
    for template, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            ops += 1
            m = method.upper()
            role = role_of(doc, op)
            try:
                path = fill(template, ids)
            except KeyError as e:
                failures.append(f"{m} {template}: no object for {e} (add one to the scenario)")
                continue
            what = f"{m} {template} ({role or 'open'})"
            if role is None:
                ctype, body = body_for(op, counter)
                listed = {str(k) for k in op.get("responses", {})}
                for cred in ("none", "malformed"):
                    status, _, data = send(base, m, path, keys[cred], ctype, body, log)
                    checked += 1
                    if body is None and status != 200:
                        failures.append(f"{what} with {cred} key: {status}, want 200: {data[:200]!r}")
                    elif body is not None and (status >= 500 or str(status) not in listed):
                        failures.append(f"{what} with {cred} key: {status}, want one it lists: "
                                        f"{data[:200]!r}")
                continue
            for cred in CREDENTIALS:
                counter += 1
                ctype, body = body_for(op, counter)
                status, hdrs, data = send(base, m, path, keys[cred], ctype, body, log)
                checked += 1
                if cred in ("none", "malformed", "revoked"):
                    if status != 401 or not hdrs.get("www-authenticate", "").startswith("Bearer"):
                        failures.append(f"{what} with {cred} key: {status} "
                                        f"(WWW-Authenticate {hdrs.get('www-authenticate')!r}), "
                                        f"want 401 with Bearer")
                elif RANK[cred] < RANK[role]:
                    if status != 403:
                        failures.append(f"{what} with {cred} key: {status}, want 403")
                elif status in (401, 403) or status >= 500:
                    failures.append(f"{what} with {cred} key: {status}, want the handler's "
                                    f"answer: {data[:200]!r}")
            rb = op.get("requestBody")
            json_only = rb is None or list(rb.get("content", {})) == ["application/json"]
            if "415" in {str(k) for k in op.get("responses", {})} and json_only:
                status, _, _ = send(base, m, path, keys["admin"], "text/plain", b"{}", log)
                checked += 1
                if status != 415:
                    failures.append(f"{what} with admin key, text/plain body: {status}, want 415")
    if log:
        log.close()
    for f in failures:
        print(f"role matrix: {f}")
    print(f"role matrix: {ops} operations, {checked} requests, {len(failures)} failures, "
          f"{time.monotonic() - t0:.1f} s")
    return 1 if failures else 0


DOC_OBJ = None

if __name__ == "__main__":
    sys.exit(main())
