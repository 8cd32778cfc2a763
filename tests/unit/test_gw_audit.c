/* The audit log (gw_audit): every change through the API writes exactly one
 * audit_log row, in the change's transaction; a refused change and a read
 * write none; an empty PATCH is not a change. (Who made it — the key — is
 * test_gw_auth's: here the handlers run without the guard.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_audit.h"
#include "gw_campaigns.h"
#include "gw_contacts.h"
#include "gw_dnc.h"
#include "gw_strategies.h"
#include "gw_test_support.h"
#include "gw_upload.h"

#define PORT_FIRST 7730
#define PORT_LAST 7749

static int setup(void **state)
{
    const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_upload_register,
                                        gw_dnc_register,       gw_strategies_register,
                                        gw_contacts_register,  NULL};
    gw_app settings = gw_test_settings();
    settings.upload_batch = 5000;
    settings.upload_max_record = 65536;
    *state = gw_test_api_new("ecm_gw_audit", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static long long audit_rows(gw_test_api *t)
{
    return ecm_test_pg_int(t->conn, "SELECT count(*) FROM audit_log");
}

/* The newest audit row as "action resource". */
static char *last_audit(gw_test_api *t)
{
    return ecm_test_pg_text(t->conn, "SELECT action || ' ' || resource FROM audit_log "
                                     "ORDER BY id DESC LIMIT 1");
}

/* Sends one request and checks its status and that it wrote exactly one
 * audit row saying want ("action resource"; "*": any), or none when want is
 * NULL. */
static void change(gw_test_api *t, const char *method, const char *path, const char *ct,
                   const char *body, long status, const char *want)
{
    long long before = audit_rows(t);
    json_t *a = NULL;
    long got = gw_test_send(t, method, path, ct, body, &a, NULL, 0);
    if (got != status) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("%s %s: %ld, wanted %ld: %s", method, path, got, status, d ? d : "");
    }
    json_decref(a);
    assert_int_equal(audit_rows(t), before + (want ? 1 : 0));
    if (want && strcmp(want, "*") != 0) {
        char *last = last_audit(t);
        assert_string_equal(last, want);
        free(last);
    }
}

static void test_every_change_writes_one_audit_row(void **state)
{
    gw_test_api *t = ecm_test_need(*state);
    const char *json = "application/json";
    char body[512];
    gw_test_voice_campaign_body(body, sizeof body, "Audited");
    change(t, "POST", "/api/v1/campaigns", json, body, 201, "campaign.create campaign/1");
    change(t, "POST", "/api/v1/campaigns", json, "{\"name\": 1}", 400, NULL);
    change(t, "PATCH", "/api/v1/campaigns/1", json, "{\"name\": \"Renamed\"}", 200,
           "campaign.update campaign/1");
    /* Nothing to change: no row, and updated_at stays. */
    char *updated = ecm_test_pg_text(t->conn, "SELECT updated_at FROM campaigns WHERE id = 1");
    change(t, "PATCH", "/api/v1/campaigns/1", json, "{}", 200, NULL);
    change(t, "PATCH", "/api/v1/campaigns/1", json, "{\"name\": \"Renamed\"}", 200, NULL);
    char *still = ecm_test_pg_text(t->conn, "SELECT updated_at FROM campaigns WHERE id = 1");
    assert_string_equal(updated, still);
    free(updated);
    free(still);
    change(t, "POST", "/api/v1/campaigns/1/activate", NULL, NULL, 200,
           "campaign.activate campaign/1");
    change(t, "POST", "/api/v1/campaigns/1/pause", NULL, NULL, 200, "campaign.pause campaign/1");
    change(t, "POST", "/api/v1/campaigns/1/resume", NULL, NULL, 200, "campaign.resume campaign/1");
    change(t, "POST", "/api/v1/campaigns/1/activate", NULL, NULL, 409, NULL); /* active already */

    change(t, "POST", "/api/v1/campaigns/1/uploads", "text/csv",
           "account_number,first_name,phone1\nA1,Ann,+12125550101\nA2,Bob,+12125550102\n", 202,
           "upload.create upload/1");
    change(t, "POST", "/api/v1/contacts/1/callback", json, "{\"at\": \"2099-01-01T10:00:00Z\"}",
           200, "contact.callback contact/1");

    change(t, "POST", "/api/v1/dnc", json, "{\"phone\": \"+12125550199\"}", 201,
           "dnc.add dnc/+12125550199");
    /* Listed already and closing nobody: not a change. */
    change(t, "POST", "/api/v1/dnc", json, "{\"phone\": \"+12125550199\"}", 200, NULL);
    change(t, "POST", "/api/v1/campaigns/1/dnc", json, "{\"phone\": \"+12125550102\"}", 201,
           "dnc.add campaign/1/dnc/+12125550102");
    change(t, "DELETE", "/api/v1/dnc/+12125550199", NULL, NULL, 204, "dnc.remove dnc/+12125550199");
    change(t, "DELETE", "/api/v1/dnc/+12125550199", NULL, NULL, 404, NULL);
    change(t, "DELETE", "/api/v1/campaigns/1/dnc/+12125550102", NULL, NULL, 204,
           "dnc.remove campaign/1/dnc/+12125550102");

    const char *strategy = "{\"name\": \"S\", \"max_attempts\": 3, \"max_attempts_per_day\": 2, "
                           "\"rules\": [{\"outcome\": \"BUSY\", \"action\": \"retry\", "
                           "\"delay_seconds\": 60, \"max_attempts\": 2}]}";
    change(t, "POST", "/api/v1/strategies", json, strategy, 201, "*");
    long long sid = ecm_test_pg_int(t->conn, "SELECT id FROM strategies WHERE name = 'S'");
    char path[64], want[64];
    gw_test_format(path, sizeof path, "/api/v1/strategies/%lld", sid);
    gw_test_format(want, sizeof want, "strategy.create strategy/%lld", sid);
    char *last = last_audit(t);
    assert_string_equal(last, want);
    free(last);
    gw_test_format(want, sizeof want, "strategy.update strategy/%lld", sid);
    change(t, "PUT", path, json, strategy, 200, want);
    /* The row says what the PUT changed: here nothing but what it sent. */
    assert_int_equal(ecm_test_pg_int(t->conn, "SELECT count(*) FROM audit_log WHERE action = "
                                              "'strategy.update' AND summary = '{}'::jsonb"),
                     0);
    gw_test_format(want, sizeof want, "strategy.delete strategy/%lld", sid);
    change(t, "DELETE", path, NULL, NULL, 204, want);
    change(t, "DELETE", path, NULL, NULL, 404, NULL);

    /* What the PATCH row says: the member, from and to. */
    assert_int_equal(ecm_test_pg_int(t->conn,
                                     "SELECT count(*) FROM audit_log WHERE action = "
                                     "'campaign.update' AND summary -> 'name' ->> 'to' = 'Renamed' "
                                     "AND summary -> 'name' ->> 'from' = 'Audited'"),
                     1);
    /* The log refuses to be changed, here too. */
    PGresult *r = PQexec(t->conn, "DELETE FROM audit_log");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_change_writes_one_audit_row, setup,
                                        gw_test_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
