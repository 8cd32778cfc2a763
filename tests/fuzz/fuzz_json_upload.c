/* JSON-array contact upload: gw_jsonarr (the streaming cut of the array
 * into items) and gw_upload_row_json (one item's validation), as
 * POST /api/v1/campaigns/{id}/uploads runs them for application/json.
 *
 * Input: byte 0 picks the campaign (bits 0-1: region US, GB, FR or none;
 * bit 2: an sms campaign whose template requires first_name) and the chunk
 * size (bits 3-7); the rest is the body.
 *
 * Properties:
 * - items do not depend on how the body is cut into chunks;
 * - items are numbered 1, 2, 3...; an item's text has no surrounding blanks;
 * - the scanner never accepts what JSON refuses: when it read a whole array
 *   and jansson parses every item, jansson parses the whole body (BOM
 *   skipped) as an array of exactly those items, equal one by one;
 * - every reason is non-empty valid UTF-8; an accepted item's COPY fragment
 *   starts with its index, has 9 columns and no raw line break, every
 *   column unescaped is valid UTF-8, and its numbers are E.164. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_support.h"
#include "fuzz_upload_support.h"
#include "gw_jsonarr.h"
#include "gw_upload_report.h"
#include "gw_upload_row.h"

#define MAX_ITEM 4096
#define MAX_ITEMS 512

typedef struct {
    ecm_buf trace;
    long long next_index;
    int validate;
    gw_upload_rules rules;
    gw_upload_scratch *scratch;
    ecm_buf out;
    json_t *items; /* each item parsed alone; JSON null when it does not parse */
    int all_parse;
} run;

static void check_fragment(const run *r, long long index, const gw_upload_row *row)
{
    const char *frag = ecm_buf_ptr(&r->out) + row->copy_off;
    size_t len = row->copy_len;
    FUZZ_CHECK(memchr(frag, '\n', len) == NULL && memchr(frag, '\r', len) == NULL,
               "raw line break in a COPY fragment");
    char num[32];
    int n = (int)fuzz_format(num, sizeof(num), "%lld\t", index);
    FUZZ_CHECK((size_t)n <= len && memcmp(frag, num, (size_t)n) == 0,
               "fragment does not start with item index %lld", index);
    size_t cols = 1;
    const char *p = frag, *end = frag + len;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *stop = tab ? tab : end;
        size_t ulen;
        char *v = fuzz_copy_unescape(p, (size_t)(stop - p), &ulen);
        FUZZ_CHECK(v == NULL || ecm_utf8_valid(v, ulen), "column %zu is not valid UTF-8", cols);
        free(v);
        if (!tab) {
            break;
        }
        cols++;
        p = tab + 1;
    }
    FUZZ_CHECK(cols == 12, "fragment has %zu columns", cols);
    FUZZ_CHECK(row->nphones >= 1 && row->nphones <= GW_PHONE_COLUMNS, "nphones %d", row->nphones);
    const char *ph = ecm_buf_ptr(&r->out) + row->phones_off;
    for (int i = 0; i < row->nphones; i++) {
        FUZZ_CHECK(fuzz_e164_ok(ph), "accepted number '%s' is not E.164", ph);
        ph += strlen(ph) + 1;
    }
}

static int on_item(void *ctx, long long index, const char *text, size_t len)
{
    run *r = ctx;
    FUZZ_CHECK(index == r->next_index, "item %lld, expected %lld", index, r->next_index);
    r->next_index++;
    FUZZ_CHECK(len > 0 && text[len] == '\0', "item %lld empty or not NUL-terminated", index);
    FUZZ_CHECK(!memchr(" \t\r\n", text[0], 4) && !memchr(" \t\r\n", text[len - 1], 4),
               "item %lld has surrounding blanks", index);
    char head[48];
    int n = (int)fuzz_format(head, sizeof(head), "%lld:%zu:", index, len);
    FUZZ_CHECK(ecm_buf_add(&r->trace, head, (size_t)n) == 0 &&
                   ecm_buf_add(&r->trace, text, len) == 0,
               "oom");
    if (!r->validate) {
        return 0;
    }
    json_error_t jerr;
    json_t *alone = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!alone) {
        r->all_parse = 0;
    }
    if (json_array_size(r->items) < MAX_ITEMS) {
        json_array_append_new(r->items, alone ? alone : json_null());
    } else {
        json_decref(alone);
        r->all_parse = 0;
    }

    gw_upload_row row;
    char reason[512];
    reason[0] = '\0';
    int rc = gw_upload_row_json(&r->rules, r->scratch, index, text, len, &r->out, &row, reason,
                                sizeof(reason));
    FUZZ_CHECK(rc == 0 || rc == 1, "gw_upload_row_json returned %d (%s)", rc, reason);
    if (rc == 1) {
        FUZZ_CHECK(reason[0] && fuzz_utf8_ok(reason), "rejection reason not valid UTF-8: '%s'",
                   reason);
    } else {
        check_fragment(r, index, &row);
    }
    ecm_buf_reset(&r->out);
    return 0;
}

static int feed(run *r, const char *body, size_t len, size_t chunk, char *err, size_t err_size)
{
    r->next_index = 1;
    gw_jsonarr *j = gw_jsonarr_new(MAX_ITEM, on_item, r);
    FUZZ_CHECK(j != NULL, "oom");
    int rc;
    FUZZ_FEED(rc, j, gw_jsonarr_feed, gw_jsonarr_finish, body, len, chunk, err, err_size);
    FUZZ_CHECK(gw_jsonarr_items(j) == r->next_index - 1, "items() %lld, delivered %lld",
               gw_jsonarr_items(j), r->next_index - 1);
    if (rc != 0) {
        FUZZ_CHECK(err[0] && fuzz_utf8_ok(err), "scanner error not valid UTF-8: '%s'", err);
    }
    gw_jsonarr_destroy(j);
    return rc;
}

static const char *const regions[] = {"US", "GB", "FR", NULL};
static const char *const required[] = {"first_name"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t opt = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    run a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    ecm_buf_init(&a.out, FUZZ_BUF_MAX);
    ecm_buf_init(&a.trace, FUZZ_BUF_MAX);
    ecm_buf_init(&b.out, FUZZ_BUF_MAX);
    ecm_buf_init(&b.trace, FUZZ_BUF_MAX);
    a.validate = 1;
    a.all_parse = 1;
    a.items = json_array();
    a.rules.region = regions[opt & 3];
    if ((opt >> 2) & 1) {
        a.rules.sms = 1;
        a.rules.required = required;
        a.rules.nrequired = 1;
    }
    a.scratch = gw_upload_scratch_new();
    FUZZ_CHECK(a.scratch && a.items, "oom");

    char err_a[256], err_b[256];
    int rc_a = feed(&a, body, len, 0, err_a, sizeof(err_a));
    int rc_b = feed(&b, body, len, 1 + (size_t)(opt >> 3) * 5, err_b, sizeof(err_b));
    FUZZ_CHECK(rc_a == rc_b && strcmp(err_a, err_b) == 0, "whole feed %d (%s), chunked %d (%s)",
               rc_a, err_a, rc_b, err_b);
    FUZZ_CHECK(fuzz_buf_equal(&a.trace, &b.trace), "items differ when the body comes in chunks");

    if (rc_a == 0 && a.all_parse) {
        const char *p = body;
        size_t n = len;
        fuzz_skip_bom(&p, &n);
        json_error_t jerr;
        json_t *whole = json_loadb(p, n, JSON_ALLOW_NUL, &jerr);
        /* jansson's depth limit counts the array itself: an item at the
         * limit parses alone, not inside. */
        int depth_limit = !whole && strstr(jerr.text, "depth") != NULL;
        FUZZ_CHECK(whole || depth_limit, "scanner accepted, every item parses, jansson refuses: %s",
                   jerr.text);
        if (whole) {
            FUZZ_CHECK(json_is_array(whole) && json_array_size(whole) == json_array_size(a.items),
                       "array of %zu items, scanner gave %zu", json_array_size(whole),
                       json_array_size(a.items));
            for (size_t i = 0; i < json_array_size(whole); i++) {
                FUZZ_CHECK(json_equal(json_array_get(whole, i), json_array_get(a.items, i)),
                           "item %zu differs from the array's", i + 1);
            }
        }
        json_decref(whole);
    }

    json_decref(a.items);
    gw_upload_scratch_destroy(a.scratch);
    ecm_buf_destroy(&a.out);
    ecm_buf_destroy(&a.trace);
    ecm_buf_destroy(&b.trace);
    return 0;
}
