/* The gateway's SMS side: validation of sms campaigns, the message template
 * checked against an upload's columns (pure), and, with ECM_TEST_PG_DSN, the
 * same through the API in a scratch database, plus the minimal DNC API. */
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_dnc.h"
#include "ecm_buf.h"
#include "gw_upload.h"
#include "gw_upload_row.h"
#include "gw_test_support.h"

/* This test's ports (smsdlr's range 22400-22599). */
#define PORT_FIRST 22450
#define PORT_LAST 22499

/* ---- campaign validation ---------------------------------------------- */

/* Validates text; returns NULL when valid, else the field named. The
 * document is kept in *doc for the caller to read `in` and free. */
static const char *validate(const char *text, gw_campaign_input *in, json_t **doc)
{
    json_error_t jerr;
    json_t *body = json_loads(text, 0, &jerr);
    if (!body) {
        fail_msg("test body is not JSON: %s", jerr.text);
    }
    const char *field = NULL;
    char reason[200] = "";
    int rc = gw_campaign_validate(body, in, &field, reason, sizeof(reason));
    *doc = body;
    if (rc == 0) {
        return NULL;
    }
    assert_true(reason[0] != '\0');
    return field;
}

static void test_sms_campaign_gets_defaults(void **state)
{
    (void)state;
    gw_campaign_input in;
    json_t *doc = NULL;
    assert_null(validate("{\"name\":\"s\",\"channel\":\"sms\",\"sms\":{\"template\":"
                         "\"Hi {first_name}\"}}",
                         &in, &doc));
    assert_string_equal(in.sms_template, "Hi {first_name}");
    assert_null(in.sms_sender);
    assert_string_equal(in.sms_gateway, "kannel");
    assert_int_equal(in.dlr_timeout_s, 86400);
    assert_null(in.cisco_kind);
    json_decref(doc);

    assert_null(validate("{\"name\":\"s\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\","
                         "\"sender\":\"ECM Bank\",\"gateway\":\"http\",\"dlr_timeout_s\":30}}",
                         &in, &doc));
    assert_string_equal(in.sms_sender, "ECM Bank");
    assert_string_equal(in.sms_gateway, "http");
    assert_int_equal(in.dlr_timeout_s, 30);
    json_decref(doc);

    /* A voice campaign carries no SMS settings. */
    assert_null(validate("{\"name\":\"v\",\"channel\":\"voice_ivr\","
                         "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"7\"}}",
                         &in, &doc));
    assert_null(in.sms_template);
    assert_null(in.sms_gateway);
    json_decref(doc);
}

static void test_sms_campaign_validation_names_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"name\":\"x\",\"channel\":\"sms\"}", "sms"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":null}", "sms"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":\"Hi\"}", "sms"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{}}", "sms.template"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"\"}}", "sms.template"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":7}}", "sms.template"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi {first_name\"}}",
         "sms.template"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi {}\"}}", "sms.template"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"gateway\":"
         "\"smpp\"}}",
         "sms.gateway"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"dlr_timeout_s\":0}}",
         "sms.dlr_timeout_s"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"dlr_timeout_s\":"
         "\"60\"}}",
         "sms.dlr_timeout_s"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"dlr_timeout_s\":"
         "604801}}",
         "sms.dlr_timeout_s"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"sender\":"
         "\"A sender far too long\"}}",
         "sms.sender"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\",\"colour\":1}}", "sms"},
        /* Each channel may carry the other's member (issue 17), checked. */
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"},"
         "\"cisco\":{\"kind\":\"avaya\",\"campaign_id\":\"7\"}}",
         "cisco.kind"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
         "\"campaign_id\":\"7\"},\"sms\":{\"template\":\"\"}}",
         "sms.template"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_campaign_input in;
        json_t *doc = NULL;
        const char *field = validate(cases[i].body, &in, &doc);
        if (!field || strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: expected field %s, got %s", cases[i].body, cases[i].field,
                     field ? field : "(valid)");
        }
        json_decref(doc);
    }
}

/* ---- template against the header, rows (pure) ------------------------ */

static gw_upload_header *header_of(const char *fields)
{
    gw_test_rec h;
    char err[256];
    gw_test_rec_split(&h, fields);
    gw_upload_header *hdr = gw_upload_header_parse(h.n, h.f, h.l, err, sizeof(err));
    if (!hdr) {
        fail_msg("header %s: %s", fields, err);
    }
    return hdr;
}

/* 0/1/-1 as gw_upload_header_use_template, the reason in err. */
static int use_template(const char *header, const char *tmpl, char *err, size_t err_size)
{
    gw_upload_header *h = header_of(header);
    err[0] = '\0';
    int rc = gw_upload_header_use_template(h, tmpl, err, err_size);
    gw_upload_header_destroy(h);
    return rc;
}

static void test_template_fields_must_be_columns_of_the_file(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(use_template("phone1|First_Name|last_name|plan|account_number",
                                  "Hi {first_name} {last_name}, plan {plan}, ref {account_number}",
                                  err, sizeof(err)),
                     0);
    assert_int_equal(use_template("phone1|plan", "Hi {first_name}, plan {plan}", err, sizeof(err)),
                     1);
    assert_non_null(strstr(err, "{first_name}"));
    assert_int_equal(
        use_template("phone1|first_name", "Hi {first_name}, {balance}", err, sizeof(err)), 1);
    assert_non_null(strstr(err, "{balance}"));
    /* Custom columns are matched by their exact name. */
    assert_int_equal(use_template("phone1|plan", "Plan {Plan}", err, sizeof(err)), 1);
    assert_non_null(strstr(err, "{Plan}"));
    /* Columns ECM uses for itself are not message fields. */
    assert_int_equal(use_template("phone1|time_zone", "{phone1} {time_zone}", err, sizeof(err)), 1);
    /* No placeholders: nothing is required. */
    assert_int_equal(use_template("phone1", "Hello {{you}}", err, sizeof(err)), 0);
    assert_int_equal(use_template("phone1|first_name", "Hi {first_name", err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
}

static int row(const gw_upload_header *h, const char *fields, char *out, size_t out_size)
{
    gw_test_rec r;
    gw_test_rec_split(&r, fields);
    ecm_buf buf;
    ecm_buf_init(&buf, GW_TEST_BUF_MAX);
    gw_upload_row got;
    char reason[256] = "";
    gw_upload_scratch *scratch = gw_upload_scratch_new();
    assert_non_null(scratch);
    const gw_upload_rules rules = {"US", 0, NULL, 0};
    int rc =
        gw_upload_row_csv(h, &rules, scratch, 7, r.n, r.f, r.l, &buf, &got, reason, sizeof(reason));
    if (rc == 0) {
        gw_test_format(out, out_size, "%.*s", (int)got.copy_len, ecm_buf_ptr(&buf) + got.copy_off);
    } else {
        gw_test_format(out, out_size, "%s", reason);
    }
    ecm_buf_destroy(&buf);
    gw_upload_scratch_destroy(scratch);
    return rc;
}

static void test_row_with_empty_template_field_is_rejected(void **state)
{
    (void)state;
    char err[256], out[512];
    gw_upload_header *h = header_of("phone1|first_name|plan|note");
    assert_int_equal(gw_upload_header_use_template(h, "Hi {first_name}, {plan}", err, sizeof(err)),
                     0);
    assert_int_equal(row(h, "2125550100|Ann|gold|", out, sizeof(out)), 0);
    assert_int_equal(row(h, "2125550100||gold|x", out, sizeof(out)), 1);
    assert_non_null(strstr(out, "first_name"));
    assert_non_null(strstr(out, "empty"));
    assert_int_equal(row(h, "2125550100|Ann|   |x", out, sizeof(out)), 1);
    assert_non_null(strstr(out, "plan"));
    gw_upload_header_destroy(h);

    /* Without a template the same rows load. */
    h = header_of("phone1|first_name|plan|note");
    assert_int_equal(row(h, "2125550100||gold|x", out, sizeof(out)), 0);
    gw_upload_header_destroy(h);
}

/* ---- through the API -------------------------------------------------- */

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_sms", ECM_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    gw_app settings = gw_test_settings();
    settings.upload_batch = 100;
    settings.upload_max_record = 65536;
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_upload_register,
                                               gw_dnc_register, NULL};
    *state = gw_test_api_new("ecm_smsdlr_gw", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static int group_teardown(void **state)
{
    gw_test_api_destroy(*state);
    curl_global_cleanup();
    return 0;
}

static long long create_sms_campaign(const gw_test_api *f, const char *tmpl)
{
    char body[512];
    gw_test_format(body, sizeof(body),
                   "{\"name\":\"sms\",\"channel\":\"sms\",\"sms\":{\"template\":\"%s\","
                   "\"sender\":\"ECM\",\"dlr_timeout_s\":600}}",
                   tmpl);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns", body, &a), 201);
    long long id = json_integer_value(json_object_get(a, "id"));
    json_decref(a);
    assert_true(id > 0);
    return id;
}

static void test_api_sms_campaign_is_stored_and_shown(void **state)
{
    gw_test_api *f = ecm_test_need(*state);
    long long id = create_sms_campaign(f, "Hi {first_name}, your plan is {plan}");
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    json_t *sms = json_object_get(a, "sms");
    assert_string_equal(gw_test_jstr(sms, "template"), "Hi {first_name}, your plan is {plan}");
    assert_string_equal(gw_test_jstr(sms, "sender"), "ECM");
    assert_string_equal(gw_test_jstr(sms, "gateway"), "kannel");
    assert_int_equal(json_integer_value(json_object_get(sms, "dlr_timeout_s")), 600);
    assert_true(json_is_null(json_object_get(a, "cisco")));
    json_decref(a);

    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns",
                                  "{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":"
                                  "\"Hi {first_name\"}}",
                                  &a),
                     400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "sms.template"));
    json_decref(a);
}

static void test_api_upload_refused_at_header_for_missing_template_field(void **state)
{
    gw_test_api *f = ecm_test_need(*state);
    long long id = create_sms_campaign(f, "Hi {first_name}, your plan is {plan}");
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_send(f, "POST", path, "text/csv",
                                  "phone1,first_name\n2125550100,Ann\n2125550101,Bob\n", &a, NULL,
                                  0),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "{plan}"));
    assert_non_null(strstr(gw_test_jstr(a, "title"), "Template field"));
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id), 0);
}

static void test_api_upload_rejects_row_with_empty_template_field(void **state)
{
    gw_test_api *f = ecm_test_need(*state);
    long long id = create_sms_campaign(f, "Hi {first_name}, your plan is {plan}");
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_send(f, "POST", path, "text/csv",
                                  "phone1,first_name,plan\n"
                                  "2125550100,Ann,gold\n"
                                  "2125550101,,silver\n"
                                  "2125550102,Cy,gold\n",
                                  &a, NULL, 0),
                     202);
    assert_int_equal(json_integer_value(json_object_get(a, "rows_loaded")), 2);
    assert_int_equal(json_integer_value(json_object_get(a, "rows_rejected")), 1);
    json_t *err = json_array_get(json_object_get(a, "errors"), 0);
    assert_int_equal(json_integer_value(json_object_get(err, "line")), 3);
    assert_non_null(strstr(gw_test_jstr(err, "reason"), "first_name"));
    json_decref(a);
}

/* A voice campaign that may text (its strategy can switch to SMS): the file
 * must have the template's columns, but a row with one empty is loaded, as
 * it is called first and texted only if the strategy switches it. */
static void test_api_voice_campaign_with_template_checks_columns_not_rows(void **state)
{
    gw_test_api *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/campaigns",
                     "{\"name\":\"call then text\",\"channel\":\"voice_ivr\","
                     "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"1\"},"
                     "\"sms\":{\"template\":\"Hi {first_name}, your plan is {plan}\"}}",
                     &a),
        201);
    long long id = gw_test_jint_at(a, "id");
    json_decref(a);
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(gw_test_send(f, "POST", path, "text/csv",
                                  "phone1,first_name\n2125550100,Ann\n", &a, NULL, 0),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "{plan}"));
    json_decref(a);
    assert_int_equal(gw_test_send(f, "POST", path, "text/csv",
                                  "phone1,first_name,plan\n"
                                  "2125550100,Ann,gold\n"
                                  "2125550101,,silver\n",
                                  &a, NULL, 0),
                     202);
    assert_int_equal(json_integer_value(json_object_get(a, "rows_loaded")), 2);
    assert_int_equal(json_integer_value(json_object_get(a, "rows_rejected")), 0);
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id), 2);
}

static void test_api_dnc_add_list_delete(void **state)
{
    gw_test_api *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc",
                                  "{\"phone\":\"+1 212-555-0101\",\"reason\":\"asked\"}", &a),
                     201);
    assert_string_equal(gw_test_jstr(a, "phone"), "+12125550101");
    assert_string_equal(gw_test_jstr(a, "source"), "api");
    assert_true(json_is_null(json_object_get(a, "campaign_id")));
    json_decref(a);
    /* The same number written differently is the same entry. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"2125550101\"}", &a), 200);
    json_decref(a);
    long long camp = create_sms_campaign(f, "Hi");
    char body[128];
    gw_test_format(body, sizeof(body), "{\"phone\":\"12125550101\",\"campaign_id\":%lld}", camp);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", body, &a), 201);
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(
            f->conn,
            "SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '12125550101'"),
        2);

    /* The global list alone by default; scope=all shows every list. */
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc?phone=%2B1-212-555-0101", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
    json_decref(a);
    assert_int_equal(
        gw_test_call(f, "GET", "/api/v1/dnc?scope=all&phone=%2B1-212-555-0101", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 2);
    json_decref(a);

    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc",
                                  "{\"phone\":\"12125550101\",\"campaign_id\":999999}", &a),
                     404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"nope\"}", &a), 400);
    json_decref(a);

    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/12125550101", NULL, &a), 204);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/12125550101", NULL, &a), 404);
    json_decref(a);
    /* The campaign's entry is still there until it is named. */
    assert_int_equal(
        ecm_test_pg_int(
            f->conn,
            "SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '12125550101'"),
        1);
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/dnc/12125550101?campaign_id=%lld", camp);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 204);
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(
            f->conn,
            "SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '12125550101'"),
        0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sms_campaign_gets_defaults),
        cmocka_unit_test(test_sms_campaign_validation_names_the_field),
        cmocka_unit_test(test_template_fields_must_be_columns_of_the_file),
        cmocka_unit_test(test_row_with_empty_template_field_is_rejected),
        cmocka_unit_test(test_api_sms_campaign_is_stored_and_shown),
        cmocka_unit_test(test_api_upload_refused_at_header_for_missing_template_field),
        cmocka_unit_test(test_api_upload_rejects_row_with_empty_template_field),
        cmocka_unit_test(test_api_voice_campaign_with_template_checks_columns_not_rows),
        cmocka_unit_test(test_api_dnc_add_list_delete),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
