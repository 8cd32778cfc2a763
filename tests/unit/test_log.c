#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ecm_log.h"

/* stderr is redirected into a pipe while a test logs, then restored. */
typedef struct {
    int pipe_r;
    int saved_stderr;
} capture;

static void capture_start(capture *c)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    c->saved_stderr = dup(STDERR_FILENO);
    assert_true(c->saved_stderr >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    c->pipe_r = fds[0];
}

/* Restores stderr and returns everything written (malloc'd). */
static char *capture_end(capture *c)
{
    assert_true(dup2(c->saved_stderr, STDERR_FILENO) >= 0);
    close(c->saved_stderr);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t n = read(c->pipe_r, buf + len, cap - len - 1);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(c->pipe_r);
    buf[len] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Parses the first line as a JSON object. */
static json_t *first_line(const char *out)
{
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    json_error_t err;
    json_t *j = json_loadb(out, (size_t)(nl - out), 0, &err);
    if (!j) {
        fail_msg("not JSON: %s (%.*s)", err.text, (int)(nl - out), out);
    }
    return j;
}

static void test_log_line_has_all_fields(void **state)
{
    (void)state;
    capture c;
    ecm_log_init("feeder", ECM_LOG_DEBUG);
    capture_start(&c);
    ecm_log_hint(ECM_LOG_WARN, "batch rejected", "check the campaign id", "campaign %d: %s", 7,
                 "HTTP 404");
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 1);
    json_t *j = first_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "service")), "feeder");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "batch rejected");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "campaign 7: HTTP 404");
    assert_string_equal(json_string_value(json_object_get(j, "hint")), "check the campaign id");
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    /* 2026-11-24T04:00:00.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    json_decref(j);
    free(out);
}

static void test_log_without_detail_omits_field(void **state)
{
    (void)state;
    capture c;
    ecm_log_init("gw", ECM_LOG_INFO);
    capture_start(&c);
    ecm_log_info("started", NULL);
    char *out = capture_end(&c);
    json_t *j = first_line(out);
    assert_null(json_object_get(j, "detail"));
    assert_null(json_object_get(j, "hint"));
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    json_decref(j);
    free(out);
}

static void test_log_level_filters_lower_levels(void **state)
{
    (void)state;
    capture c;
    ecm_log_init("svc", ECM_LOG_WARN);
    capture_start(&c);
    ecm_log_debug("d", NULL);
    ecm_log_info("i", NULL);
    ecm_log_warn("w", NULL);
    ecm_log_error("e", NULL);
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 2);
    assert_null(strstr(out, "\"msg\":\"d\""));
    assert_null(strstr(out, "\"msg\":\"i\""));
    assert_non_null(strstr(out, "\"msg\":\"w\""));
    assert_non_null(strstr(out, "\"msg\":\"e\""));
    free(out);

    ecm_log_init("svc", ECM_LOG_DEBUG);
    capture_start(&c);
    ecm_log_debug("d", NULL);
    out = capture_end(&c);
    assert_int_equal(count_lines(out), 1);
    free(out);
}

static void test_log_escapes_quotes_controls_and_invalid_utf8(void **state)
{
    (void)state;
    capture c;
    const char *nasty = "a\"b\\c\nd\re\tf\x01g\x1f h\x7f caf\xc3\xa9 \xe2\x82\xac \xff\xfe end "
                        "\xc3 \xed\xa0\x80 \xf0\x9f\x98\x80";
    ecm_log_init("svc", ECM_LOG_DEBUG);
    capture_start(&c);
    ecm_log_error("bad \"input\"\n", "%s", nasty);
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 1);
    json_t *j = first_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "bad \"input\"\n");
    const char *d = json_string_value(json_object_get(j, "detail"));
    assert_non_null(d);
    assert_non_null(strstr(d, "a\"b\\c\nd\re\tf\x01g\x1f h\x7f caf\xc3\xa9 \xe2\x82\xac "));
    /* 0xff 0xfe, the lone 0xc3 and the surrogate's 3 bytes become U+FFFD each. */
    assert_non_null(strstr(d, "\xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd "));
    assert_non_null(strstr(d, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80"));
    json_decref(j);
    free(out);
}

static void test_json_escape_truncates_on_character_boundary(void **state)
{
    (void)state;
    char out[8];
    /* "ab" then a 6-byte escape that can't fit: stop before it. */
    size_t n = ecm_log_json_escape(out, sizeof out, "ab\x01zz");
    assert_int_equal(n, 2);
    assert_string_equal(out, "ab");
    /* A multi-byte character is never cut in half. */
    n = ecm_log_json_escape(out, 6, "abcd\xe2\x82\xac");
    assert_int_equal(n, 4);
    assert_string_equal(out, "abcd");
    n = ecm_log_json_escape(out, sizeof out, "q\"");
    assert_int_equal(n, 3);
    assert_string_equal(out, "q\\\"");
    n = ecm_log_json_escape(out, sizeof out, NULL);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
}

static void test_long_detail_is_cut_but_line_stays_valid_json(void **state)
{
    (void)state;
    capture c;
    size_t big = 100000;
    char *s = malloc(big + 1);
    assert_non_null(s);
    for (size_t i = 0; i < big; i++) {
        s[i] = (i % 50 == 0) ? '"' : 'x';
    }
    s[big] = '\0';
    ecm_log_init("svc", ECM_LOG_DEBUG);
    capture_start(&c);
    ecm_log_hint(ECM_LOG_INFO, "long", "a hint", "%s", s);
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 1);
    json_t *j = first_line(out);
    assert_true(strlen(json_string_value(json_object_get(j, "detail"))) > 1000);
    json_decref(j);
    free(out);
    free(s);
}

static void test_level_parse(void **state)
{
    (void)state;
    ecm_log_level l = ECM_LOG_ERROR;
    assert_int_equal(ecm_log_level_parse("debug", &l), 0);
    assert_int_equal(l, ECM_LOG_DEBUG);
    assert_int_equal(ecm_log_level_parse("info", &l), 0);
    assert_int_equal(l, ECM_LOG_INFO);
    assert_int_equal(ecm_log_level_parse("warn", &l), 0);
    assert_int_equal(l, ECM_LOG_WARN);
    assert_int_equal(ecm_log_level_parse("error", &l), 0);
    assert_int_equal(l, ECM_LOG_ERROR);
    assert_int_equal(ecm_log_level_parse("verbose", &l), -1);
    assert_int_equal(ecm_log_level_parse("", &l), -1);
    assert_int_equal(ecm_log_level_parse(NULL, &l), -1);
    assert_int_equal(l, ECM_LOG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_line_has_all_fields),
        cmocka_unit_test(test_log_without_detail_omits_field),
        cmocka_unit_test(test_log_level_filters_lower_levels),
        cmocka_unit_test(test_log_escapes_quotes_controls_and_invalid_utf8),
        cmocka_unit_test(test_json_escape_truncates_on_character_boundary),
        cmocka_unit_test(test_long_detail_is_cut_but_line_stays_valid_json),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
