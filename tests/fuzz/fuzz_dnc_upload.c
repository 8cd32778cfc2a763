/* DNC list upload: gw_csv and the row check of gw_dnc_upload
 * (gw_dnc_upload_row), as POST /api/v1/dnc/uploads runs them.
 *
 * Input: byte 0 picks the list's region (bits 0-1: US, GB, FR, none) and
 * the chunk size (bits 2-7); the rest is the CSV body, whose header names a
 * "phone" and maybe a "reason" column.
 *
 * Properties:
 * - a rejected row has a non-empty valid UTF-8 reason whose report line
 *   (gw_upload_report_add) reads back as its line number and reason;
 * - an accepted row's staging line is "line\tE.164\treason\n" with no other
 *   line break: its line number, an E.164 number, and the reason field
 *   unchanged through COPY escaping (NULL when empty), valid UTF-8 of at
 *   most 200 characters. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_support.h"
#include "fuzz_upload_support.h"
#include "gw_csv.h"
#include "gw_dnc_upload.h"
#include "gw_upload_report.h"

typedef struct {
    const char *region;
    int have_header, stop;
    int col_phone, col_reason;
    size_t ncols;
    ecm_buf stage;
} run;

static int column_is(const char *s, size_t n, const char *name)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

static void check_report(long long line, const char *reason)
{
    ecm_buf rows;
    ecm_buf_init(&rows, FUZZ_BUF_MAX);
    FUZZ_CHECK(gw_upload_report_add(&rows, 5, line, "rejected", reason) == 0, "oom");
    char head[64];
    int n = (int)fuzz_format(head, sizeof(head), "5\t%lld\trejected\t", line);
    FUZZ_CHECK((size_t)n < ecm_buf_len(&rows) && memcmp(ecm_buf_ptr(&rows), head, (size_t)n) == 0 &&
                   ecm_buf_ptr(&rows)[ecm_buf_len(&rows) - 1] == '\n' &&
                   !memchr(ecm_buf_ptr(&rows), '\n', ecm_buf_len(&rows) - 1),
               "report line of line %lld: %s", line, ecm_buf_ptr(&rows));
    size_t ulen;
    char *back =
        fuzz_copy_unescape(ecm_buf_ptr(&rows) + n, ecm_buf_len(&rows) - 1 - (size_t)n, &ulen);
    FUZZ_CHECK(back && strcmp(back, reason) == 0, "reason does not survive COPY escaping");
    free(back);
    ecm_buf_destroy(&rows);
}

static void check_staged(const run *r, long long line, const char *const *fields,
                         const size_t *lens)
{
    const char *s = ecm_buf_ptr(&r->stage);
    size_t len = ecm_buf_len(&r->stage);
    FUZZ_CHECK(len > 0 && s[len - 1] == '\n' && !memchr(s, '\n', len - 1) && !memchr(s, '\r', len),
               "staging line breaks");
    const char *t1 = memchr(s, '\t', len);
    FUZZ_CHECK(t1 != NULL, "staging line without columns");
    const char *t2 = memchr(t1 + 1, '\t', (size_t)(s + len - t1 - 1));
    FUZZ_CHECK(t2 != NULL && !memchr(t2 + 1, '\t', (size_t)(s + len - t2 - 1)),
               "staging line has not 3 columns");
    char num[32];
    int n = (int)fuzz_format(num, sizeof(num), "%lld", line);
    FUZZ_CHECK((size_t)(t1 - s) == (size_t)n && memcmp(s, num, (size_t)n) == 0,
               "staged line number is not %lld", line);
    char e164[32];
    size_t elen = (size_t)(t2 - t1 - 1);
    FUZZ_CHECK(elen < sizeof(e164), "staged number too long");
    memcpy(e164, t1 + 1, elen);
    e164[elen] = '\0';
    FUZZ_CHECK(fuzz_e164_ok(e164), "staged number '%s' is not E.164", e164);
    size_t ulen;
    char *reason = fuzz_copy_unescape(t2 + 1, (size_t)(s + len - 1 - t2 - 1), &ulen);
    size_t want_len = r->col_reason >= 0 ? lens[r->col_reason] : 0;
    if (want_len == 0) {
        FUZZ_CHECK(reason == NULL, "empty reason not staged as NULL");
    } else {
        FUZZ_CHECK(reason && ulen == want_len && memcmp(reason, fields[r->col_reason], ulen) == 0,
                   "reason does not round-trip through COPY escaping");
        FUZZ_CHECK(ecm_utf8_text_ok(reason, ulen) && ecm_utf8_chars(reason, ulen) <= 200,
                   "staged reason not valid text of at most 200 characters");
    }
    free(reason);
}

static int on_record(void *ctx, long long line, size_t nfields, const char *const *fields,
                     const size_t *lens)
{
    run *r = ctx;
    if (r->stop) {
        return 0;
    }
    if (!r->have_header) {
        r->have_header = 1;
        r->ncols = nfields;
        r->col_phone = r->col_reason = -1;
        for (size_t i = 0; i < nfields; i++) {
            if (r->col_phone < 0 && column_is(fields[i], lens[i], "phone")) {
                r->col_phone = (int)i;
            } else if (r->col_reason < 0 && column_is(fields[i], lens[i], "reason")) {
                r->col_reason = (int)i;
            }
        }
        r->stop = r->col_phone < 0; /* the upload ends: no 'phone' column */
        return 0;
    }
    char reason[256] = "";
    ecm_buf_reset(&r->stage);
    int rc = gw_dnc_upload_row(r->region, r->ncols, r->col_phone, r->col_reason, line, nfields,
                               fields, lens, &r->stage, reason, sizeof(reason));
    FUZZ_CHECK(rc == 0 || rc == 1, "gw_dnc_upload_row returned %d (%s)", rc, reason);
    if (rc == 1) {
        FUZZ_CHECK(reason[0] && fuzz_utf8_ok(reason), "rejection reason not valid UTF-8: '%s'",
                   reason);
        FUZZ_CHECK(ecm_buf_len(&r->stage) == 0, "a rejected row was staged");
        check_report(line, reason);
    } else {
        check_staged(r, line, fields, lens);
    }
    return 0;
}

static const char *const regions[] = {"US", "GB", "FR", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    run r;
    memset(&r, 0, sizeof(r));
    ecm_buf_init(&r.stage, FUZZ_BUF_MAX);
    r.region = regions[data[0] & 3];
    size_t chunk = 1 + (size_t)(data[0] >> 2) * 3;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    gw_csv *c = gw_csv_new(2048, on_record, &r);
    FUZZ_CHECK(c != NULL, "oom");
    char err[256];
    int rc;
    FUZZ_FEED(rc, c, gw_csv_feed, gw_csv_finish, body, len, chunk, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || (err[0] && fuzz_utf8_ok(err)), "reader error not valid UTF-8");
    gw_csv_destroy(c);
    ecm_buf_destroy(&r.stage);
    return 0;
}
