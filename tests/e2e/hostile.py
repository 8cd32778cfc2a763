#!/usr/bin/env python3
"""A hostile client of ECM's HTTP routes, standard library only.

Sends every route malformed, oversized, ill-typed and ill-encoded requests
(bad ids, invalid UTF-8 in paths, queries and bodies, JSON of the wrong
shape, unknown members, wrong content types and methods, huge headers) and
holds every answer to the contract:

  - never a 5xx, never a dropped connection (except where the request was
    too big to read: 413/431 or a close after the cap);
  - an error is RFC 9457 problem+json: valid UTF-8, valid JSON, with "type",
    "title" and a "status" equal to the HTTP status;
  - no answer is invalid UTF-8.

It changes nothing it is not allowed to: the caller compares the database
before and after. Usage:

  hostile.py BASE_URL [--campaign ID] [--strategy ID] [--upload ID]

Prints one line per finding and a summary; exits 1 when anything broke the
contract, 0 otherwise.
"""

import argparse
import http.client
import json
import os
import socket
import sys
import urllib.parse

TIMEOUT_S = 60


class Finding(Exception):
    pass


API_KEY = os.environ.get("ECM_API_KEY", "")


def request(host, port, method, path, body=None, headers=None):
    """One request on its own connection. Returns (status, headers, body),
    or raises ConnectionError when the server dropped the connection."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    try:
        # skip_accept_encoding: send exactly what we list.
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        # Authenticated as the dev stack's admin, so that the probes reach
        # the handlers (the guard's own answers are the role matrix's).
        if API_KEY and "Authorization" not in hdrs:
            hdrs["Authorization"] = "Bearer " + API_KEY
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
        raise ConnectionError(str(e)) from e
    finally:
        conn.close()


def check_answer(what, status, headers, data, allow_close=False):
    if status >= 500:
        raise Finding(f"{what}: answered {status}: {data[:300]!r}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Finding(f"{what}: answer is not valid UTF-8 ({e}): {data[:300]!r}")
    if status < 400:
        return
    if status in (413, 431) and not headers.get("content-type", "").startswith("application/"):
        # libmicrohttpd refuses these itself, before any handler of ours
        # runs (a Content-Length past 2^64, headers past its buffer), with a
        # fixed body of its own: there is no hook to answer problem+json.
        return
    ctype = headers.get("content-type", "")
    if not ctype.startswith("application/problem+json"):
        raise Finding(f"{what}: {status} with content-type '{ctype}', not problem+json")
    try:
        problem = json.loads(text)
    except ValueError as e:
        raise Finding(f"{what}: {status} problem is not JSON ({e}): {text[:300]!r}")
    for key in ("type", "title", "status"):
        if key not in problem:
            raise Finding(f"{what}: {status} problem has no '{key}': {text[:300]!r}")
    if problem["status"] != status:
        raise Finding(f"{what}: problem status {problem['status']} != HTTP {status}")


BAD_IDS = [
    "0", "-1", "99999999999999999999", "1e3", "abc", "%00", "%C3", "%FF%FE",
    "..%2F..%2Fetc%2Fpasswd", "1%20OR%201%3D1", "1;DROP%20TABLE%20campaigns", "x" * 2000,
    "%E2%82", "%2B", "%2B1%C3%A9",
]

BAD_JSON = [
    b"", b"{", b"}", b"[]", b"null", b"0", b"\"s\"", b"{\"a\":}", b"{,}",
    b"{\"name\": \"\xc3\"}",                 # invalid UTF-8 inside a string
    b"{\"name\": \"ok\"}\xff",               # trailing garbage
    b"\xef\xbb\xbf{}",                       # BOM
    b"{\"name\": \"a\x00b\"}",               # raw NUL
    b"{\"name\": \"a\\u0000b\"}",            # escaped NUL
    b"{\"name\": 1e999}",
    b"{\"name\": \"\\ud800\"}",              # lone surrogate escape
    b"[" * 5000 + b"]" * 5000,               # deep nesting
    b"{\"" + b"k" * 3000 + b"\": 1}",
]

# Members a campaign / strategy / DNC entry / callback knows, each given
# values of the wrong type or out of range.
WRONG_VALUES = [None, True, -1, 2**63, 1.5, "", "\u00e9" * 300, [], {}]
MEMBERS = {
    "campaign": ["name", "channel", "strategy", "cisco", "region", "time_zone", "start_at",
                 "end_at", "call_window", "dlr_timeout_s", "message", "sender"],
    "strategy": ["name", "max_attempts", "max_attempts_per_day", "rules"],
    "dnc": ["phone", "reason", "campaign_id", "expires_at"],
    "callback": ["at"],
}


def json_bodies(kind, patch=False):
    for b in BAD_JSON:
        yield b
    for m in MEMBERS[kind]:
        for v in WRONG_VALUES:
            # In a merge patch (RFC 7396) null removes a member (back to its
            # default) and {} merges nothing: both are changes a client may
            # make, not hostile ones.
            if patch and (v is None or v == {}):
                continue
            yield json.dumps({m: v}).encode()
    yield json.dumps({"no_such_member": 1}).encode()
    yield json.dumps({m: "x" for m in MEMBERS[kind]}).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--campaign", default="1")
    ap.add_argument("--strategy", default="1")
    ap.add_argument("--upload", default="1")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.base)
    host, port = u.hostname, u.port or 80
    findings = []
    sent = 0

    def probe(method, path, body=None, headers=None, allow_close=False, may_succeed=False):
        nonlocal sent
        sent += 1
        what = f"{method} {path[:120]}" + (f" body={body[:60]!r}" if body else "")
        try:
            status, hdrs, data = request(host, port, method, path, body, headers)
            check_answer(what, status, hdrs, data)
            # A read may well succeed (unknown query parameters are
            # ignored), but never for a path that held a NUL, which must not
            # reach a route as a shorter path. A change must never succeed.
            if method == "GET" and "%00" not in path.split("?")[0]:
                may_succeed = True
            if status < 300 and not may_succeed:
                findings.append(f"{what}: accepted ({status}): {data[:200]!r}")
            return status
        except ConnectionError as e:
            if not allow_close:
                findings.append(f"{what}: connection dropped ({e})")
        except (socket.timeout, TimeoutError):
            findings.append(f"{what}: no answer within {TIMEOUT_S}s")
        except Finding as f:
            findings.append(str(f))
        return None

    c, s, up = args.campaign, args.strategy, args.upload
    json_ct = {"Content-Type": "application/json"}

    # Every route with an id: bad ids, and every method it does not have.
    id_routes = [
        ("GET", "/api/v1/campaigns/{}"), ("PATCH", "/api/v1/campaigns/{}"),
        ("POST", "/api/v1/campaigns/{}/activate"), ("POST", "/api/v1/campaigns/{}/pause"),
        ("POST", "/api/v1/campaigns/{}/resume"), ("POST", "/api/v1/campaigns/{}/stop"),
        ("POST", "/api/v1/campaigns/{}/uploads"), ("GET", "/api/v1/uploads/{}"),
        ("POST", "/api/v1/uploads/{}/resume"),
        ("GET", "/api/v1/strategies/{}"), ("PUT", "/api/v1/strategies/{}"),
        ("DELETE", "/api/v1/strategies/{}"), ("GET", "/api/v1/contacts/{}"),
        ("POST", "/api/v1/contacts/{}/callback"), ("GET", "/api/v1/dnc/{}"),
        ("DELETE", "/api/v1/dnc/{}"), ("POST", "/api/v1/campaigns/{}/dnc"),
        ("GET", "/api/v1/campaigns/{}/dnc"), ("POST", "/api/v1/campaigns/{}/dnc/uploads"),
    ]
    for method, pattern in id_routes:
        for bad in BAD_IDS:
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            probe(method, pattern.replace("{}", bad), body, json_ct if body else None)
    for path in ["/api/v1/campaigns", "/api/v1/strategies", "/api/v1/dnc",
                 f"/api/v1/campaigns/{c}", f"/api/v1/uploads/{up}"]:
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"):
            if not (method == "PATCH" and path == f"/api/v1/campaigns/{c}"):
                probe(method, path, b"{}", json_ct)
    for path in ["/", "/api", "/api/v1", "/api/v2/campaigns", "/api/v1/campaigns/",
                 "//api/v1/campaigns", "/api/v1/campaigns/%2e%2e/strategies",
                 "/api/v1/%C3%28", "/api/v1/campaigns/1/2/3/4/5/6/7/8/9"]:
        probe("GET", path)

    # Bodies of every JSON route.
    json_routes = [
        ("POST", "/api/v1/campaigns", "campaign"),
        ("PATCH", f"/api/v1/campaigns/{c}", "campaign"),
        ("POST", "/api/v1/strategies", "strategy"),
        ("PUT", f"/api/v1/strategies/{s}", "strategy"),
        ("POST", "/api/v1/dnc", "dnc"),
        ("POST", f"/api/v1/campaigns/{c}/dnc", "dnc"),
        ("POST", "/api/v1/contacts/1/callback", "callback"),
    ]
    for method, path, kind in json_routes:
        for body in json_bodies(kind, patch=method == "PATCH"):
            probe(method, path, body, json_ct)
        # (The JSON routes read any content type as JSON on purpose: curl -d
        # sends application/x-www-form-urlencoded.)
        # Over every body cap there is: 4 MiB.
        probe(method, path, b"{\"name\": \"" + b"a" * (4 << 20) + b"\"}", json_ct,
              allow_close=True)

    # Query strings of the list routes.
    for path in ["/api/v1/campaigns", "/api/v1/strategies", "/api/v1/dnc",
                 f"/api/v1/uploads/{up}", f"/api/v1/campaigns/{c}/dnc"]:
        for q in ["limit=-1", "limit=0", "limit=99999999999", "limit=abc", "after=abc",
                  "after=-5", "cursor=%C3", "cursor=" + "A" * 4000, "kind=%3Cscript%3E",
                  "kind=%00", "limit=1&limit=2", "%C3=%C3"]:
            probe("GET", f"{path}?{q}")

    # Uploads refused before anything is read: unknown campaign, a content
    # type that is no list. (A list with bad rows is an upload, with a
    # report: t_upload_trouble holds those.)
    for ct in ("multipart/form-data; boundary=x", "text/plain", "application/octet-stream",
               "text/csv; charset=latin1", "application/json; charset=utf-16", ""):
        probe("POST", f"/api/v1/campaigns/{c}/uploads", b"phone1\n2125550100\n",
              {"Content-Type": ct} if ct else {})
        probe("POST", "/api/v1/dnc/uploads", b"phone\n2125550100\n",
              {"Content-Type": ct} if ct else {})
    # A resume of an upload that is not interrupted, or of another file.
    for ct in ("text/csv", "application/json", ""):
        probe("POST", f"/api/v1/uploads/{up}/resume", b"phone1\n2125550100\n",
              {"Content-Type": ct} if ct else {})
    for bad in ("0", "999999999", "abc"):
        probe("POST", f"/api/v1/campaigns/{bad}/uploads", b"phone1\n2125550100\n",
              {"Content-Type": "text/csv"})

    # Headers: huge, many, and ill-encoded.
    probe("GET", "/api/v1/campaigns", headers={"X-Big": "a" * (256 << 10)}, allow_close=True)
    probe("GET", "/api/v1/campaigns", headers={f"X-H{i}": "v" for i in range(2000)},
          allow_close=True)
    probe("GET", "/api/v1/campaigns", headers={"X-Bad": "\xc3\xff"})
    probe("POST", "/api/v1/campaigns", b"{}", {"Content-Type": "application/json",
                                               "Content-Length": "99999999999999999999"},
          allow_close=True)

    # Still serving?
    status = probe("GET", "/healthz", may_succeed=True)
    if status != 200:
        findings.append(f"GET /healthz after the run answered {status}")

    for f in findings:
        print(f"FINDING: {f}")
    print(f"hostile: {sent} requests, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
