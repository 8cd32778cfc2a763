/* gw_jsonarr: a JSON array fed in chunks of any size is cut into its items,
 * each with its position, whatever the strings, escapes and nesting hold;
 * framing errors stop it and say where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_jsonarr.h"
#include "gw_test_support.h"

typedef struct {
    char got[2048];
    int stop_at;
} items;

static int collect(void *ctx, long long index, const char *text, size_t len)
{
    items *it = ctx;
    size_t used = strlen(it->got);
    assert_int_equal(strlen(text), len); /* NUL-terminated at len */
    gw_test_format(it->got + used, sizeof(it->got) - used, "%lld=%s;", index, text);
    return it->stop_at && index == it->stop_at ? -1 : 0;
}

/* Feeds body in chunks of chunk bytes; returns 0 or -1 with err. */
static int scan(const char *body, size_t chunk, size_t max_item, items *it, char *err,
                size_t err_size, long long *error_item)
{
    gw_jsonarr *j = gw_jsonarr_new(max_item, collect, it);
    assert_non_null(j);
    size_t len = strlen(body);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = gw_jsonarr_feed(j, body + off, n, err, err_size);
    }
    if (rc == 0) {
        rc = gw_jsonarr_finish(j, err, err_size);
    }
    *error_item = gw_jsonarr_error_item(j);
    gw_jsonarr_destroy(j);
    return rc;
}

static void test_jsonarr_items_keep_their_positions_in_any_chunking(void **state)
{
    (void)state;
    const char body[] = "\xEF\xBB\xBF [\r\n"
                        "  {\"a\": \"x ] y\", \"b\": [1, {\"c\": \"}\"}]},\n"
                        "  {\"q\": \"say \\\"hi\\\" \\\\\"},\n"
                        "  42 , -1.5e3,true,null,\n"
                        "  \"str,]\",\n"
                        "  [[]]\n"
                        "]  \n";
    const char *expected = "1={\"a\": \"x ] y\", \"b\": [1, {\"c\": \"}\"}]};"
                           "2={\"q\": \"say \\\"hi\\\" \\\\\"};"
                           "3=42;4=-1.5e3;5=true;6=null;"
                           "7=\"str,]\";"
                           "8=[[]];";
    for (size_t chunk = 1; chunk <= sizeof(body); chunk += 3) {
        items it = {"", 0};
        char err[128] = "";
        long long at;
        if (scan(body, chunk, 1024, &it, err, sizeof(err), &at) != 0) {
            fail_msg("chunk %zu: %s", chunk, err);
        }
        assert_string_equal(it.got, expected);
    }
}

static void test_jsonarr_empty_array_has_no_items(void **state)
{
    (void)state;
    items it = {"", 0};
    char err[128];
    long long at;
    assert_int_equal(scan(" [ ] ", 2, 64, &it, err, sizeof(err), &at), 0);
    assert_string_equal(it.got, "");
}

static void test_jsonarr_framing_errors_say_where(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t max_item;
        const char *err;
        long long item;
        const char *delivered;
    } cases[] = {
        {"{\"a\": 1}", 64, "byte 0: expected '['", 0, ""},
        {"", 64, "empty body", 0, ""},
        {"[{\"a\": 1},]", 64, "item 2: expected an item, found ']'", 2, "1={\"a\": 1};"},
        {"[{\"a\": 1} {\"b\": 2}]", 64, "expected ',' or ']' after an item", 0, "1={\"a\": 1};"},
        {"[{\"a\": 1}, {\"b\": \"2]", 64, "item 2: the item is not closed", 2, "1={\"a\": 1};"},
        {"[{\"a\": 1}", 64, "the array is not closed", 0, "1={\"a\": 1};"},
        {"[1] x", 64, "data after the end of the array", 0, "1=1;"},
        {"[{\"a\": \"0123456789\"}, 2]", 10, "item 1: longer than 10 bytes", 1, ""},
        {"[1, 2, 3]", 64, "stopped", 0, "1=1;2=2;"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t chunk = 1; chunk <= 7; chunk += 6) {
            items it = {"", strcmp(cases[i].err, "stopped") == 0 ? 2 : 0};
            char err[128] = "";
            long long at = -1;
            int rc = scan(cases[i].body, chunk, cases[i].max_item, &it, err, sizeof(err), &at);
            if (rc != -1 || !strstr(err, cases[i].err) || at != cases[i].item ||
                strcmp(it.got, cases[i].delivered) != 0) {
                fail_msg("'%s' (chunk %zu): rc %d err '%s' item %lld delivered '%s'", cases[i].body,
                         chunk, rc, err, at, it.got);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonarr_items_keep_their_positions_in_any_chunking),
        cmocka_unit_test(test_jsonarr_empty_array_has_no_items),
        cmocka_unit_test(test_jsonarr_framing_errors_say_where),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
