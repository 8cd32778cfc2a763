/* The SMS gateway clients (services/sms/sms_gw.h): the Kannel sendsms URL
 * and its encoded dlr-url, the generic gateway's JSON body, how answers are
 * classified, and real requests against a fake peer (accept, 503, 403,
 * timeout, refused connection, the concurrency bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "sms_gw.h"
#include "test_sms_fake_gw.h"

#define PORT_LO 22300
#define PORT_HI 22319

#define MSGID "6f1c2b1e-0000-4000-8000-000000000001"
/* The DLR secret, and MSGID's token under it as `openssl dgst -sha256
 * -hmac` gives it (the first 32 hex digits): a known answer, not our code's. */
#define SECRET "test-callback-secret-0123456789abcdef"
#define MSGID_TOKEN "b3e948ebb5e98b3043234ba94785c446"

static sms_gw_config kannel_cfg(void)
{
    sms_gw_config c = {
        .kind = SMS_GW_KANNEL,
        .name = "kannel",
        .url = "http://127.0.0.1:13013/cgi-bin/sendsms",
        .user = "ecm",
        .password = "p@ss&word",
        .callback_base_url = "http://127.0.0.1:8084/",
        .callback_secret = SECRET,
        .timeout_ms = 2000,
        .concurrency = 4,
    };
    return c;
}

static int contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_error("'%s' not in '%s'\n", needle, hay);
        return 0;
    }
    return 1;
}

static void test_kannel_url_has_every_parameter_encoded(void **state)
{
    (void)state;
    sms_gw_config c = kannel_cfg();
    sms_gw_msg m = {MSGID, "+15551230001", "ECM Bank", "Hi Ann & co: 100% = 5\xE2\x82\xAC",
                    ECM_SMS_GSM7};
    char *url = sms_gw_kannel_url(&c, &m);
    assert_non_null(url);
    assert_true(contains(url, "http://127.0.0.1:13013/cgi-bin/sendsms?username=ecm&"));
    assert_true(contains(url, "&password=p%40ss%26word&"));
    assert_true(contains(url, "&from=ECM%20Bank&"));
    assert_true(contains(url, "&to=%2B15551230001&"));
    assert_true(contains(url, "&text=Hi%20Ann%20%26%20co%3A%20100%25%20%3D%205%E2%82%AC&"));
    assert_true(contains(url, "&coding=0&charset=UTF-8&dlr-mask=31&"));
    /* The whole dlr-url is one encoded value: its own & and %d survive. */
    assert_true(contains(url, "&dlr-url=http%3A%2F%2F127.0.0.1%3A8084%2Fsms%2Fdlr%3Fmsgid%3D" MSGID
                              "%26token%3D" MSGID_TOKEN "%26status%3D%25d"));
    free(url);
}

static void test_kannel_url_asks_ucs2_for_unicode_and_omits_empty_sender(void **state)
{
    (void)state;
    sms_gw_config c = kannel_cfg();
    sms_gw_msg m = {MSGID, "+15551230001", "", "\xD9\x85\xD8\xB1", ECM_SMS_UCS2};
    char *url = sms_gw_kannel_url(&c, &m);
    assert_non_null(url);
    assert_true(contains(url, "&coding=2&charset=UTF-8&"));
    assert_null(strstr(url, "from="));
    free(url);
}

static void test_dlr_url_carries_our_message_id_and_its_token(void **state)
{
    (void)state;
    char *u = sms_gw_dlr_url("http://h:1/", SECRET, "a b");
    assert_string_equal(u, "http://h:1/sms/dlr?msgid=a%20b&token=a6b87a3c35cdbdfa2f41fe62d5efe5fb"
                           "&status=%d");
    free(u);
    /* No secret, no URL: a DLR URL without a token would only be refused. */
    assert_null(sms_gw_dlr_url("http://h:1/", "", "a b"));
}

static void test_http_body_json_escapes_values(void **state)
{
    (void)state;
    const char *text = "He said \"hi\"\\ \n\tline2 \x01 \xF0\x9F\x98\x80";
    sms_gw_msg m = {MSGID, "+15551230001", "ECM", text, ECM_SMS_UCS2};
    char err[128];
    char *body = sms_gw_http_body("{\"message_id\":\"{message_id}\",\"to\":\"{to}\",\"from\":"
                                  "\"{from}\",\"text\":\"{text}\",\"dlr_url\":\"{dlr_url}\"}",
                                  &m, "http://x/sms/dlr?msgid=1&status=%d", err, sizeof err);
    assert_non_null(body);
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s (%s)", body, jerr.text);
    assert_string_equal(json_string_value(json_object_get(j, "text")), text);
    assert_string_equal(json_string_value(json_object_get(j, "message_id")), MSGID);
    assert_string_equal(json_string_value(json_object_get(j, "to")), "+15551230001");
    assert_string_equal(json_string_value(json_object_get(j, "dlr_url")),
                        "http://x/sms/dlr?msgid=1&status=%d");
    json_decref(j);
    free(body);
}

static void test_http_body_keeps_json_braces_and_refuses_unknown_placeholder(void **state)
{
    (void)state;
    sms_gw_msg m = {MSGID, "+1", "", "t", ECM_SMS_GSM7};
    char err[128];
    char *body = sms_gw_http_body("{\"m\":{\"to\":\"{to}\"},\"x\":{}}", &m, "u", err, sizeof err);
    assert_non_null(body);
    assert_string_equal(body, "{\"m\":{\"to\":\"+1\"},\"x\":{}}");
    free(body);
    assert_null(sms_gw_http_body("{\"a\":\"{phone}\"}", &m, "u", err, sizeof err));
    assert_true(contains(err, "{phone}"));
}

static void test_classify_answers(void **state)
{
    (void)state;
    struct {
        sms_gw_kind kind;
        int curl;
        long status;
        const char *body;
        sms_gw_verdict verdict;
        const char *reason;
    } cases[] = {
        {SMS_GW_KANNEL, 0, 202, "0: Accepted for delivery", SMS_GW_ACCEPTED, NULL},
        {SMS_GW_KANNEL, 0, 202, "3: Queued for later delivery", SMS_GW_ACCEPTED, NULL},
        {SMS_GW_KANNEL, 0, 503, "Temporal failure, try again later.", SMS_GW_RETRY, "unavailable"},
        {SMS_GW_KANNEL, 0, 403, "Authorization failed for sendsms", SMS_GW_RETRY, "auth"},
        {SMS_GW_KANNEL, 0, 403, "Denied prefix", SMS_GW_REJECTED, NULL},
        {SMS_GW_KANNEL, 0, 400, "Missing receiver number", SMS_GW_REJECTED, NULL},
        {SMS_GW_HTTP, 0, 200, "{}", SMS_GW_ACCEPTED, NULL},
        {SMS_GW_HTTP, 0, 422, "{\"error\":\"bad number\"}", SMS_GW_REJECTED, NULL},
        {SMS_GW_HTTP, 0, 403, "forbidden", SMS_GW_REJECTED, NULL},
        {SMS_GW_HTTP, 0, 401, "", SMS_GW_RETRY, "auth"},
        {SMS_GW_HTTP, 0, 429, "", SMS_GW_RETRY, "throttled"},
        {SMS_GW_HTTP, 0, 500, "", SMS_GW_RETRY, "unavailable"},
        {SMS_GW_HTTP, 0, 302, "", SMS_GW_RETRY, "http"},
        {SMS_GW_HTTP, CURLE_OPERATION_TIMEDOUT, 0, NULL, SMS_GW_RETRY, "timeout"},
        {SMS_GW_KANNEL, CURLE_COULDNT_CONNECT, 0, NULL, SMS_GW_RETRY, "connect"},
        {SMS_GW_KANNEL, CURLE_RECV_ERROR, 0, NULL, SMS_GW_RETRY, "network"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sms_gw_result r;
        sms_gw_classify(cases[i].kind, cases[i].curl, cases[i].status, cases[i].body, &r);
        if (r.verdict != cases[i].verdict)
            fail_msg("case %zu (status %ld): verdict %d, expected %d", i, cases[i].status,
                     r.verdict, cases[i].verdict);
        if (cases[i].reason)
            assert_string_equal(r.reason, cases[i].reason);
        else
            assert_null(r.reason);
    }
    sms_gw_result r;
    sms_gw_classify(SMS_GW_HTTP, 0, 201, "{\"id\":\"abc-1\"}", &r);
    assert_string_equal(r.gateway_ref, "abc-1");
}

/* ---- against the fake peer ---- */

typedef struct {
    int n;
    sms_gw_result last;
    void *last_opaque;
    int verdicts[3];
} answers;

static void on_done(void *ctx, void *opaque, const sms_gw_result *res)
{
    answers *a = ctx;
    a->n++;
    a->last = *res;
    a->last_opaque = opaque;
    a->verdicts[res->verdict]++;
}

static void wait_answers(sms_gw *gw, answers *a, int n)
{
    for (int i = 0; i < 500 && a->n < n; i++)
        sms_gw_poll(gw, 20);
    assert_int_equal(a->n, n);
}

static int group_setup(void **state)
{
    fake_gw *f = fake_start(PORT_LO, PORT_HI);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fake_stop(*state);
    return 0;
}

static int reset(void **state)
{
    fake_reset(*state);
    return 0;
}

static sms_gw *kannel_on_fake(fake_gw *f, answers *a, char *url, size_t url_size)
{
    snprintf(url, url_size, "http://127.0.0.1:%d/cgi-bin/sendsms", f->port);
    sms_gw_config c = kannel_cfg();
    c.url = url;
    sms_gw *gw = sms_gw_new(&c, on_done, a);
    assert_non_null(gw);
    return gw;
}

static void test_kannel_202_is_accepted_and_peer_gets_decoded_values(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    sms_gw *gw = kannel_on_fake(f, &a, url, sizeof url);
    const char *text = "Hi Ann & co: 5\xE2\x82\xAC + {x}";
    sms_gw_msg m = {MSGID, "+15551230001", "ECM", text, ECM_SMS_GSM7};
    int token;
    assert_int_equal(sms_gw_submit(gw, &m, &token), 0);
    assert_int_equal(sms_gw_inflight(gw), 1);
    wait_answers(gw, &a, 1);
    assert_int_equal(a.last.verdict, SMS_GW_ACCEPTED);
    assert_int_equal(a.last.http_status, 202);
    assert_ptr_equal(a.last_opaque, &token);
    assert_int_equal(sms_gw_inflight(gw), 0);
    assert_string_equal(f->username, "ecm");
    assert_string_equal(f->password, "p@ss&word");
    assert_string_equal(f->to, "+15551230001");
    assert_string_equal(f->text, text);
    assert_string_equal(f->dlr_mask, "31");
    assert_string_equal(f->coding, "0");
    assert_string_equal(f->dlr_url, "http://127.0.0.1:8084/sms/dlr?msgid=" MSGID
                                    "&token=" MSGID_TOKEN "&status=%d");
    assert_int_equal(f->naccepted, 1);
    sms_gw_destroy(gw);
}

static void test_kannel_503_and_auth_403_are_retried_other_4xx_rejected(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    sms_gw *gw = kannel_on_fake(f, &a, url, sizeof url);
    int statuses[] = {503, 403, 400};
    fake_script(f, statuses, 3);
    sms_gw_msg m = {MSGID, "+15551230001", "ECM", "x", ECM_SMS_GSM7};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
        wait_answers(gw, &a, i + 1);
    }
    assert_int_equal(a.verdicts[SMS_GW_RETRY], 2);
    assert_int_equal(a.verdicts[SMS_GW_REJECTED], 1);
    assert_int_equal(a.last.http_status, 400);
    assert_int_equal(f->naccepted, 0);
    sms_gw_destroy(gw);
}

static void test_http_gateway_posts_json_with_auth_and_reads_ref(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/send", f->port);
    sms_gw_config c = {
        .kind = SMS_GW_HTTP,
        .name = "http",
        .url = url,
        .method = "POST",
        .body_template = "{\"message_id\":\"{message_id}\",\"to\":\"{to}\",\"from\":\"{from}\","
                         "\"text\":\"{text}\",\"dlr_url\":\"{dlr_url}\"}",
        .auth = "Bearer t0ken",
        .callback_base_url = "http://127.0.0.1:8084",
        .callback_secret = SECRET,
        .timeout_ms = 2000,
        .concurrency = 2,
    };
    sms_gw *gw = sms_gw_new(&c, on_done, &a);
    assert_non_null(gw);
    const char *text = "\"quoted\" \\ \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xF0\x9F\x98\x80";
    sms_gw_msg m = {MSGID, "+15551230001", "ECM", text, ECM_SMS_UCS2};
    assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
    wait_answers(gw, &a, 1);
    assert_int_equal(a.last.verdict, SMS_GW_ACCEPTED);
    assert_string_equal(a.last.gateway_ref, "gw-" MSGID);
    assert_string_equal(f->auth, "Bearer t0ken");
    assert_string_equal(f->text, text);
    assert_string_equal(f->message_id, MSGID);
    assert_string_equal(f->dlr_url, "http://127.0.0.1:8084/sms/dlr?msgid=" MSGID
                                    "&token=" MSGID_TOKEN "&status=%d");
    sms_gw_destroy(gw);
}

static void test_concurrency_bounds_requests_in_flight(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    sms_gw *gw = kannel_on_fake(f, &a, url, sizeof url); /* concurrency 4 */
    f->delay_ms = 200;
    char ids[6][40];
    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof ids[i], "id-%d", i);
        sms_gw_msg m = {ids[i], "+15551230001", "", "x", ECM_SMS_GSM7};
        assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
    }
    assert_int_equal(sms_gw_room(gw), 0);
    sms_gw_msg extra = {"id-x", "+1", "", "x", ECM_SMS_GSM7};
    assert_int_equal(sms_gw_submit(gw, &extra, NULL), -1);
    wait_answers(gw, &a, 4);
    assert_int_equal(a.verdicts[SMS_GW_ACCEPTED], 4);
    assert_int_equal(fake_get(f, &f->max_active), 4);
    assert_int_equal(sms_gw_room(gw), 4);
    sms_gw_destroy(gw);
}

static void test_timeout_is_retried(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/cgi-bin/sendsms", f->port);
    sms_gw_config c = kannel_cfg();
    c.url = url;
    c.timeout_ms = 200;
    sms_gw *gw = sms_gw_new(&c, on_done, &a);
    f->delay_ms = 1000;
    sms_gw_msg m = {MSGID, "+15551230001", "", "x", ECM_SMS_GSM7};
    assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
    wait_answers(gw, &a, 1);
    assert_int_equal(a.last.verdict, SMS_GW_RETRY);
    assert_string_equal(a.last.reason, "timeout");
    sms_gw_destroy(gw);
    ecm_test_sleep_ms(1000); /* let the peer's handler finish before the next test */
}

static void test_refused_connection_is_retried(void **state)
{
    (void)state;
    answers a = {0};
    sms_gw_config c = kannel_cfg();
    c.url = "http://127.0.0.1:1/cgi-bin/sendsms";
    sms_gw *gw = sms_gw_new(&c, on_done, &a);
    sms_gw_msg m = {MSGID, "+15551230001", "", "x", ECM_SMS_GSM7};
    assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
    wait_answers(gw, &a, 1);
    assert_int_equal(a.last.verdict, SMS_GW_RETRY);
    assert_string_equal(a.last.reason, "connect");
    assert_int_equal(a.last.http_status, 0);
    sms_gw_destroy(gw);
}

static void test_destroy_with_requests_in_flight_does_not_call_back(void **state)
{
    fake_gw *f = *state;
    answers a = {0};
    char url[128];
    sms_gw *gw = kannel_on_fake(f, &a, url, sizeof url);
    f->delay_ms = 300;
    sms_gw_msg m = {MSGID, "+15551230001", "", "x", ECM_SMS_GSM7};
    assert_int_equal(sms_gw_submit(gw, &m, NULL), 0);
    sms_gw_poll(gw, 10);
    sms_gw_destroy(gw);
    assert_int_equal(a.n, 0);
    ecm_test_sleep_ms(400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kannel_url_has_every_parameter_encoded),
        cmocka_unit_test(test_kannel_url_asks_ucs2_for_unicode_and_omits_empty_sender),
        cmocka_unit_test(test_dlr_url_carries_our_message_id_and_its_token),
        cmocka_unit_test(test_http_body_json_escapes_values),
        cmocka_unit_test(test_http_body_keeps_json_braces_and_refuses_unknown_placeholder),
        cmocka_unit_test(test_classify_answers),
        cmocka_unit_test_setup(test_kannel_202_is_accepted_and_peer_gets_decoded_values, reset),
        cmocka_unit_test_setup(test_kannel_503_and_auth_403_are_retried_other_4xx_rejected, reset),
        cmocka_unit_test_setup(test_http_gateway_posts_json_with_auth_and_reads_ref, reset),
        cmocka_unit_test_setup(test_concurrency_bounds_requests_in_flight, reset),
        cmocka_unit_test_setup(test_timeout_is_retried, reset),
        cmocka_unit_test_setup(test_refused_connection_is_retried, reset),
        cmocka_unit_test_setup(test_destroy_with_requests_in_flight_does_not_call_back, reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
