#!/usr/bin/python3
"""Self-test of tests/api/openapi_check.py against api/openapi.yaml: good
exchanges (taken from a live gateway) conform, and each kind of bad one is
caught with a reason that names it. Run by scripts/check-api.sh; needs no
stack. Usage: tests/api/test_openapi_check.py [-v]"""
import copy
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402

JSON = "application/json"
PROBLEM = "application/problem+json"

CAMPAIGN = {
    "id": 1, "name": "N1", "channel": "voice_ivr", "state": "draft", "strategy": "Default",
    "cisco": {"kind": "uccx", "campaign_id": "1"}, "region": "US",
    "time_zone": "America/Chicago", "start_at": None, "end_at": "2027-12-31T23:00:00.000Z",
    "rule_sets": [{"id": 1, "name": "US federal (TCPA)"}],
    "blackout_dates": [{"date": "2026-12-24", "reason": "office closed"}],
    "created_at": "2026-12-03T14:19:58.947Z", "updated_at": "2026-12-03T14:19:58.947Z",
    "counts": {"by_state": {"pending": 0, "queued": 0, "dispatched": 0, "waiting": 0,
                            "retry_due": 0, "closed": 0},
               "by_outcome": {}, "contacts": 0, "attempts": 0, "attempts_by_outcome": {}},
    "sms": None, "strategy_id": 1,
    "call_window": {"fri": [], "mon": [["09:00", "17:00"]], "sat": [], "sun": [], "thu": [],
                    "tue": [], "wed": []},
}
DNC_ENTRY = {"id": 1, "phone": "+12125550199", "campaign_id": None, "source": "upload",
             "reason": None, "created_at": "2026-12-03T14:20:39.991Z",
             "channels": ["voice", "sms"]}
DNC_UPLOAD = {"upload_id": 2, "kind": "dnc", "campaign_id": None, "state": "done",
              "report_url": "/api/v1/uploads/2", "rows_read": 2, "rows_loaded": 1,
              "rows_rejected": 1, "rows_duplicate": 0, "rows_dnc": 0,
              "progress": {"bytes_read": 23, "bytes_total": 23, "fraction": 1.0},
              "errors": [{"line": 3, "reason": "phone: 'bad' contains letters"}],
              "contacts_closed": 0}


def problem(name, status, title="t", detail="d"):
    return {"type": f"https://ecm.dev/problems/{name}", "title": title, "status": status,
            "detail": detail}


class GoodExchanges(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = openapi_check.OpenApiDocument()

    def ok(self, *exchange):
        self.assertEqual(self.doc.check(*exchange), [])

    def test_campaign_page_with_query_string_and_charset_conforms(self):
        self.ok("GET", "/api/v1/campaigns?limit=2&cursor=9", 200, JSON + "; charset=utf-8",
                json.dumps({"items": [CAMPAIGN], "next_cursor": "1"}))

    def test_parsed_body_and_bytes_body_conform(self):
        self.ok("GET", "/api/v1/campaigns/1", 200, JSON, CAMPAIGN)
        self.ok("get", "/api/v1/campaigns/1", 200, JSON, json.dumps(CAMPAIGN).encode())

    def test_sms_campaign_conforms(self):
        c = dict(CAMPAIGN, channel="sms", cisco=None, call_window=None,
                 sms={"template": "Hi {first_name}", "sender": None, "gateway": "kannel",
                      "dlr_timeout_s": 86400})
        self.ok("POST", "/api/v1/campaigns", 201, JSON, c)

    def test_problem_for_a_bad_id_conforms(self):
        self.ok("GET", "/api/v1/campaigns/abc", 404, PROBLEM, problem("not-found", 404))

    def test_delete_without_body_conforms(self):
        self.ok("DELETE", "/api/v1/dnc/%2B12125550199", 204, "", None)
        self.ok("DELETE", "/api/v1/strategies/3", 204, None, "")

    def test_literal_segment_beats_parameter(self):
        # /api/v1/dnc/uploads is not the DNC entry "uploads".
        self.assertEqual(self.doc.find_operation("POST", "/api/v1/dnc/uploads")[0],
                         "/api/v1/dnc/uploads")
        self.ok("POST", "/api/v1/dnc/uploads", 202, JSON, DNC_UPLOAD)
        self.ok("GET", "/api/v1/dnc/%2B12125550199", 200, JSON, DNC_ENTRY)

    def test_csv_export_with_its_body_left_out_conforms(self):
        self.assertEqual(self.doc.check("GET", "/api/v1/campaigns/3/attempts.csv", 200,
                                        "text/csv; charset=utf-8; header=present", None,
                                        body_omitted=True), [])

    def test_key_created_and_audit_page_conform(self):
        key = {"id": "0123456789abcdef", "name": "ci", "role": "viewer",
               "created_at": "2026-12-03T14:20:39.991Z", "created_by": "fedcba9876543210",
               "expires_at": None, "revoked_at": None, "revoked_by": None,
               "last_used_at": None, "state": "active"}
        self.ok("POST", "/api/v1/keys", 201, JSON, dict(key, key="ecm_0123456789abcdef_" + "ab" * 32))
        self.ok("GET", "/api/v1/audit?limit=1", 200, JSON, {"items": [{
            "id": 7, "at": "2026-12-03T14:20:39.991Z",
            "actor": {"kind": "key", "id": "fedcba9876543210", "name": "ci", "role": "admin"},
            "client_addr": "127.0.0.1", "method": "POST", "route": "/api/v1/keys",
            "action": "key.create", "resource": "key/0123456789abcdef",
            "summary": {"name": "ci"}}], "next_cursor": "7"})

    def test_plain_text_metrics_conform(self):
        self.ok("GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8",
                "# HELP x y\nx 1\n")


class BadExchanges(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = openapi_check.OpenApiDocument()

    def bad(self, expect, *exchange):
        errors = self.doc.check(*exchange)
        self.assertTrue(errors, "accepted a bad exchange")
        self.assertIn(expect, "\n".join(errors))

    def test_unknown_path_fails(self):
        self.bad("no path of the document matches /api/v1/nothing",
                 "GET", "/api/v1/nothing", 404, PROBLEM, problem("not-found", 404))

    def test_undescribed_method_fails(self):
        self.bad("has no PUT operation", "PUT", "/api/v1/campaigns", 405, PROBLEM,
                 problem("method-not-allowed", 405))

    def test_undescribed_status_fails(self):
        self.bad("status 418 is not described", "GET", "/api/v1/campaigns/1", 418, PROBLEM,
                 problem("internal", 418))
        # 422 is described for uploads and campaigns, not for a strategy's creation.
        self.bad("status 422 is not described", "POST", "/api/v1/strategies", 422, PROBLEM,
                 problem("validation", 422))

    def test_missing_member_fails(self):
        c = copy.deepcopy(CAMPAIGN)
        del c["counts"]
        self.bad("'counts' is a required property", "GET", "/api/v1/campaigns/1", 200, JSON, c)

    def test_value_outside_enum_fails(self):
        self.bad("state: 'running' is not one of", "GET", "/api/v1/campaigns/1", 200, JSON,
                 dict(CAMPAIGN, state="running"))

    def test_nested_wrong_type_fails(self):
        c = copy.deepcopy(CAMPAIGN)
        c["counts"]["by_state"]["queued"] = "3"
        self.bad("counts/by_state/queued", "GET", "/api/v1/campaigns/1", 200, JSON, c)

    def test_problem_of_the_wrong_type_fails(self):
        self.bad("problems/conflict' was expected", "PATCH", "/api/v1/campaigns/1", 409, PROBLEM,
                 problem("not-found", 409))
        self.bad("is not one of", "GET", "/api/v1/campaigns/1", 404, PROBLEM,
                 {"type": "about:blank", "title": "x", "status": 404})

    def test_wrong_content_type_fails(self):
        self.bad("Content-Type 'text/html' is not one of", "GET", "/api/v1/campaigns/1", 200,
                 "text/html", "<html></html>")
        self.bad("Content-Type 'application/json' is not one of", "GET", "/api/v1/campaigns/1",
                 404, JSON, problem("not-found", 404))

    def test_body_where_none_is_described_fails(self):
        self.bad("described without a body", "DELETE", "/api/v1/strategies/3", 204, JSON, "{}")

    def test_csv_export_of_the_wrong_type_fails_though_its_body_is_left_out(self):
        self.assertIn("Content-Type 'text/html' is not one of", "\n".join(self.doc.check(
            "GET", "/api/v1/campaigns/3/contacts.csv", 200, "text/html", None,
            body_omitted=True)))

    def test_missing_body_fails(self):
        self.bad("a body was expected", "GET", "/api/v1/campaigns/1", 200, JSON, "")

    def test_body_that_is_not_json_fails(self):
        self.bad("body is not JSON", "GET", "/api/v1/campaigns/1", 200, JSON, "{not json")


class CommandLine(unittest.TestCase):
    def run_cli(self, lines, *extra):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                rc = openapi_check.main([*extra, f.name])
        finally:
            os.unlink(f.name)
        return rc, out.getvalue()

    def line(self, method, path, status, ctype, body):
        return json.dumps({"method": method, "path": path, "status": status,
                           "content_type": ctype, "body": body})

    def test_log_of_good_exchanges_passes(self):
        rc, out = self.run_cli([
            self.line("GET", "/api/v1/campaigns/1", 200, JSON, json.dumps(CAMPAIGN)),
            self.line("GET", "/api/v1/campaigns/x", 404, PROBLEM,
                      json.dumps(problem("not-found", 404))),
        ])
        self.assertEqual(rc, 0, out)
        self.assertIn("2 of 2 exchanges conform", out)

    def test_log_with_one_bad_exchange_fails_naming_its_line(self):
        rc, out = self.run_cli([
            self.line("GET", "/api/v1/campaigns/1", 200, JSON, json.dumps(CAMPAIGN)),
            self.line("GET", "/api/v1/campaigns/1", 200, JSON,
                      json.dumps(dict(CAMPAIGN, id="one"))),
            "not json at all",
        ], "--coverage")
        self.assertEqual(rc, 1)
        self.assertIn(":2: GET /api/v1/campaigns/1 200:", out)
        self.assertIn(":3: ?: unreadable exchange", out)
        self.assertIn("1 of 3 exchanges conform", out)
        self.assertIn("not reached: DELETE /api/v1/dnc/{phone}", out)


if __name__ == "__main__":
    unittest.main()
