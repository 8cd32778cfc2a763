#!/usr/bin/python3
"""Holds HTTP exchanges to api/openapi.yaml: the route and the status must be
described, and the body must match the response's schema.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so the bodies are validated with
python3-jsonschema (Debian) and nothing else. For one exchange (method, path
as sent, status, Content-Type, body) it finds the operation (path templates;
a literal segment beats a {parameter}), fails when the document has no such
path, no such method on it, or no such status for it, then checks the
Content-Type against the response's media types and a JSON body against the
schema. A response described without content must come without a body.
Formats (date-time, uri) are annotations here, as JSON Schema 2020-12 says by
default; types, enums, patterns, required members and consts are checked.

Two ways to use it:
  * imported (tests/api on sys.path):
        from openapi_check import OpenApiDocument
        doc = OpenApiDocument()                       # api/openapi.yaml
        errors = doc.check("GET", "/api/v1/campaigns/1", 200,
                           "application/json", body)  # [] when it conforms
        doc.assert_conforms(...)                      # raises AssertionError
    body may be bytes, text (parsed as JSON when the media type is JSON) or an
    already parsed JSON value; None or "" is no body.
  * a command reading JSON lines, one exchange a line:
        {"method": "GET", "path": "/api/v1/campaigns?limit=2", "status": 200,
         "content_type": "application/json", "body": "{...}"}
    ("body_omitted": true instead of a body: a streamed CSV file, whose
    status and Content-Type alone are checked; scripts/lib.sh's api() writes
    such logs when ECM_API_EXCHANGE_LOG is set)
    tests/api/openapi_check.py [--doc api/openapi.yaml] [--coverage] LOG...
    prints one line per exchange that does not conform and a summary; exits
    1 when one does not conform or a line is unreadable, 2 on bad usage.
    "-" reads standard input. tests/api/exchange.sh writes such logs from curl.
"""
import argparse
import json
import os
import re
import sys
import urllib.parse

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DOC = os.path.join(ROOT, "api", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _media_type(content_type):
    """'application/json; charset=utf-8' -> 'application/json' (lower case)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media):
    return media == "application/json" or media.endswith("+json")


class _Route:
    """One path template of the document, as a regular expression."""

    def __init__(self, template, item):
        self.template = template
        self.item = item
        parts = []
        self.params = 0
        for seg in template.strip("/").split("/"):
            if re.fullmatch(r"\{[^{}/]+\}", seg):
                parts.append("[^/]+")
                self.params += 1
            else:
                parts.append(re.escape(seg))
        self.regex = re.compile("^/" + "/".join(parts) + "$")

    def specificity(self):
        """Sort key: fewer template segments first, then longer templates."""
        return (self.params, -len(self.template))


class OpenApiDocument:
    """An OpenAPI 3.1 document loaded for checking exchanges against it."""

    def __init__(self, path=DEFAULT_DOC):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.path = path
        if not str(self.doc.get("openapi", "")).startswith("3.1"):
            raise ValueError(f"{path}: not an OpenAPI 3.1 document")
        self.routes = sorted((_Route(t, item) for t, item in (self.doc.get("paths") or {}).items()),
                             key=_Route.specificity)
        self._validators = {}
        self.seen = set()  # (METHOD, template, status) checked and conforming

    # ---- lookups ------------------------------------------------------
    def _resolve(self, obj):
        """Follows a local $ref (#/components/...) of a non-schema object."""
        hops = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/") or hops > 20:
                raise ValueError(f"unsupported $ref {ref!r}")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
            hops += 1
        return obj

    def find_operation(self, method, path):
        """Returns (template, operation) for method and path (a query string
        is ignored), or (template or None, None) when the document does not
        describe it."""
        raw_path = urllib.parse.urlsplit(path).path or "/"
        matched = None
        for route in self.routes:
            if route.regex.match(raw_path):
                matched = matched or route.template
                op = route.item.get(method.lower())
                if op is not None:
                    return route.template, op
        return matched, None

    def _validator(self, key, schema):
        v = self._validators.get(key)
        if v is None:
            # The schema sits in a root that carries the document's
            # components, so its "#/components/schemas/..." refs resolve.
            root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.doc.get("components", {}), "allOf": [schema]}
            v = jsonschema.Draft202012Validator(root)
            self._validators[key] = v
        return v

    # ---- checking ------------------------------------------------------
    def check(self, method, path, status, content_type=None, body=None, body_omitted=False):
        """Returns a list of reasons the exchange does not conform ([]: it
        does). Never raises for a bad exchange; raises ValueError when the
        document itself is broken (an unresolvable $ref). body_omitted: the
        answer had a body the log left out (a streamed CSV file): its status
        and Content-Type are checked, not its content."""
        method = method.upper()
        template, op = self.find_operation(method, path)
        if template is None:
            return [f"no path of the document matches {urllib.parse.urlsplit(path).path}"]
        if op is None:
            return [f"{template} has no {method} operation in the document"]
        responses = op.get("responses") or {}
        key = str(status)
        resp = responses.get(key) or responses.get(f"{key[0]}XX") or responses.get("default")
        if resp is None:
            listed = ", ".join(sorted(responses))
            return [f"{method} {template}: status {status} is not described (described: {listed})"]
        resp = self._resolve(resp)
        content = resp.get("content") or {}
        has_body = body_omitted or body not in (None, b"", "")
        if not content:
            if has_body:
                return [f"{method} {template} {status}: described without a body, got one"]
            self.seen.add((method, template, status))
            return []
        if not has_body:
            return [f"{method} {template} {status}: a body was expected, got none"]
        media = _media_type(content_type)
        if media not in content:
            return [f"{method} {template} {status}: Content-Type {content_type!r} is not one of "
                    f"{', '.join(content)}"]
        schema = (content[media] or {}).get("schema")
        if schema is None or not _is_json(media) or body_omitted:
            self.seen.add((method, template, status))
            return []
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as err:
                return [f"{method} {template} {status}: body is not JSON ({err})"]
        v = self._validator((method, template, key, media), schema)
        errors = []
        for e in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in e.absolute_path) or "(body)"
            errors.append(f"{method} {template} {status}: {where}: {e.message}")
        if not errors:
            self.seen.add((method, template, status))
        return errors

    def assert_conforms(self, method, path, status, content_type=None, body=None,
                        body_omitted=False):
        """Raises AssertionError listing the reasons when the exchange does not conform."""
        errors = self.check(method, path, status, content_type, body, body_omitted)
        if errors:
            raise AssertionError("response does not conform to " + self.path + ":\n  " +
                                 "\n  ".join(errors))

    def operations(self):
        """Every (METHOD, template) the document describes."""
        return sorted((m.upper(), r.template) for r in self.routes for m in METHODS if m in r.item)


_default = None


def check_exchange(method, path, status, content_type=None, body=None):
    """check() against api/openapi.yaml, loaded once."""
    global _default
    if _default is None:
        _default = OpenApiDocument()
    return _default.check(method, path, status, content_type, body)


def _read_log(name):
    fh = sys.stdin if name == "-" else open(name, encoding="utf-8")
    try:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, line
    finally:
        if fh is not sys.stdin:
            fh.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check logged HTTP exchanges against api/openapi.yaml.")
    ap.add_argument("--doc", default=DEFAULT_DOC, help="the OpenAPI document (api/openapi.yaml)")
    ap.add_argument("--coverage", action="store_true",
                    help="also list the operations no conforming exchange reached")
    ap.add_argument("logs", nargs="+", help="JSON-lines files of exchanges ('-': stdin)")
    args = ap.parse_args(argv)
    doc = OpenApiDocument(args.doc)
    total = bad = 0
    for name in args.logs:
        for n, line in _read_log(name):
            total += 1
            try:
                ex = json.loads(line)
                errors = doc.check(ex["method"], ex["path"], int(ex["status"]),
                                   ex.get("content_type"), ex.get("body"),
                                   bool(ex.get("body_omitted")))
                what = f"{ex['method']} {ex['path']} {ex['status']}"
            except (ValueError, KeyError, TypeError) as err:
                errors, what = [f"unreadable exchange: {err}"], "?"
            if errors:
                bad += 1
                for e in errors:
                    print(f"{name}:{n}: {what}: {e}")
    if args.coverage:
        reached = {(m, t) for m, t, _ in doc.seen}
        for m, t in doc.operations():
            if (m, t) not in reached:
                print(f"not reached: {m} {t}")
        print(f"coverage: {len(reached)} of {len(doc.operations())} operations, "
              f"{len(doc.seen)} (operation, status) pairs")
    print(f"openapi_check: {total - bad} of {total} exchanges conform to {os.path.relpath(args.doc)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
