/* Scaffolding shared by the upload API tests (test_gw_upload.c,
 * test_gw_upload_load.c): the fixture (a gateway with the campaign and
 * upload routes on a scratch database), requests with fixed or generated
 * bodies, campaigns, uploads, the report, the contacts and the events an
 * upload wrote. Header-only and static inline, as gw_test_support.h; the
 * including file defines PORT_FIRST and PORT_LAST (its own range of ports)
 * first. */
#ifndef GW_UPLOAD_TEST_SUPPORT_H
#define GW_UPLOAD_TEST_SUPPORT_H

#include <pthread.h>
#include <signal.h>

#include <jansson.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_csv.h"
#include "ecm_buf.h"
#include "gw_upload.h"
#include "gw_upload_report.h"
#include "gw_test_support.h"

#define TEST_ROWS 12000

typedef gw_test_api fixture;

static inline long long sql_count(PGconn *c, const char *sql)
{
    return ecm_test_pg_int(c, "%s", sql);
}

static inline int setup_db(void **state)
{
    gw_app settings = gw_test_settings();
    /* A DNC list without a campaign is read in the global region, which a
     * default region would replace. */
    settings.default_region = NULL;
    settings.upload_batch = 5000;
    settings.upload_max_record = 65536;
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_upload_register, NULL};
    *state = gw_test_api_new("ecm_gateway", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

typedef struct {
    const char *text;
    size_t len, off;
} fixed_body;

static inline size_t read_fixed(char *buf, size_t size, size_t n, void *ctx)
{
    fixed_body *b = ctx;
    size_t want = size * n, left = b->len - b->off;
    size_t k = want < left ? want : left;
    memcpy(buf, b->text + b->off, k);
    b->off += k;
    return k;
}

/* One request. body_reader (with its ctx) streams the body with chunked
 * encoding; otherwise body (may be NULL) is sent as is. Returns the status
 * and the parsed JSON answer in *answer (NULL if none). */
static inline long request(const fixture *f, const char *method, const char *path,
                           const char *content_type, const char *body,
                           size_t (*body_reader)(char *, size_t, size_t, void *), void *reader_ctx,
                           json_t **answer, char *location, size_t location_size)
{
    ecm_test_http_answer a;
    CURL *c = ecm_test_http_prepare(&a, f->port, method, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    char ct[128];
    if (content_type) {
        gw_test_format(ct, sizeof(ct), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    fixed_body fb = {body ? body : "", body ? strlen(body) : 0, 0};
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (body_reader) {
            /* No size: libcurl sends the body with chunked encoding, as it
             * produces it. */
            curl_easy_setopt(c, CURLOPT_READFUNCTION, body_reader);
            curl_easy_setopt(c, CURLOPT_READDATA, reader_ctx);
        } else {
            curl_easy_setopt(c, CURLOPT_READFUNCTION, read_fixed);
            curl_easy_setopt(c, CURLOPT_READDATA, &fb);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)fb.len);
        }
    }
    CURLcode rc = ecm_test_http_perform(c, &a);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    }
    gw_test_log_exchange(method, path, &a);
    if (location) {
        (void)ecm_test_http_header(&a, "Location", location, location_size);
    }
    long status = a.status;
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    ecm_test_http_answer_destroy(&a);
    return status;
}

/* Generates the CSV as libcurl asks for it: BOM, CRLF, a header, TEST_ROWS
 * rows with a few bad ones, a quoted newline and a blank line, and writes
 * down the line of every row it makes bad. Numbers are distinct and valid:
 * (212) 2EE-LLLL and 646 2EE LLLL. */
typedef struct {
    int row;        /* last row produced; 0 = header not yet */
    long long line; /* physical lines written */
    char pending[512];
    size_t plen, poff;
    long long bad_lines[8];
    const char *bad_reasons[8];
    int nbad;
    long long line_of_row_100, line_of_last_row;
} generator;

static inline void gen_next(generator *g)
{
    char *p = g->pending;
    size_t cap = sizeof(g->pending);
    int n = 0;
    if (g->row == 0) {
        n = (int)gw_test_format(p, cap,
                                "\xEF\xBB\xBF"
                                "Account_Number,first_name,last_name,phone1,phone2,note\r\n");

    } else {
        int i = g->row;
        int ex = 200 + i / 10000, ln = i % 10000;
        long long start = g->line + 1;
        if (i == 11000) {
            n = (int)gw_test_format(p, cap, "\r\n"); /* a blank line first */
            start++;
        }
        if (i == 100) {
            n += (int)gw_test_format(p + n, cap - n,
                                     "ACC%d,First%d,Last%d,(212) %03d-%04d,,\"two\r\nlines\"\r\n",
                                     i, i, i, ex, ln);
            g->line_of_row_100 = start;
        } else if (i == 500) {
            n += (int)gw_test_format(p + n, cap - n, "ACC%d,First%d,Last%d,12-AB,,x\r\n", i, i, i);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "phone1: '12-AB' contains letters";
        } else if (i == 5000) {
            n += (int)gw_test_format(p + n, cap - n, "ACC%d,First%d,Last%d,(212) %03d-%04d,x\r\n",
                                     i, i, i, ex, ln);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "expected 6 fields, found 5";
        } else if (i == 9000) {
            n += (int)gw_test_format(p + n, cap - n, "ACC%d,%060d,Last%d,(212) %03d-%04d,,x\r\n", i,
                                     0, i, ex, ln);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "first_name: longer than 50 characters";
        } else {
            n += (int)gw_test_format(p + n, cap - n,
                                     "ACC%d,First%d,Last%d,(212) %03d-%04d,646 %03d %04d,\r\n", i,
                                     i, i, ex, ln, ex, ln);
        }
        if (i == TEST_ROWS) {
            g->line_of_last_row = start;
        }
    }
    for (int k = 0; k < n; k++) {
        if (p[k] == '\n') {
            g->line++;
        }
    }
    g->plen = (size_t)n;
    g->poff = 0;
    g->row++;
}

static inline size_t read_generated(char *buf, size_t size, size_t nitems, void *ctx)
{
    generator *g = ctx;
    size_t want = size * nitems, done = 0;
    /* Odd-sized pieces so records straddle the chunks the server sees. */
    if (want > 777) {
        want = 777;
    }
    while (done < want) {
        if (g->poff == g->plen) {
            if (g->row > TEST_ROWS) {
                break;
            }
            gen_next(g);
        }
        size_t k = g->plen - g->poff;
        if (k > want - done) {
            k = want - done;
        }
        memcpy(buf + done, g->pending + g->poff, k);
        g->poff += k;
        done += k;
    }
    return done;
}

static inline long long create_campaign(fixture *f, const char *channel_body)
{
    json_t *a = NULL;
    char location[128];
    long st = request(f, "POST", "/api/v1/campaigns", "application/json", channel_body, NULL, NULL,
                      &a, location, sizeof(location));
    assert_int_equal(st, 201);
    long long id = gw_test_jint_at(a, "id");
    char expected[64];
    gw_test_format(expected, sizeof(expected), "/api/v1/campaigns/%lld", id);
    assert_string_equal(location, expected);
    assert_string_equal(gw_test_jstr(a, "state"), "draft");
    json_decref(a);
    return id;
}

static inline long long voice_campaign(fixture *f, const char *name)
{
    char body[256];
    gw_test_voice_campaign_body(body, sizeof(body), name);
    return create_campaign(f, body);
}

/* A file of tests/data/upload, malloc'd and NUL-terminated. */
static inline char *read_data(const char *name, size_t *len)
{
    char path[1024];
    const char *src = getenv("ECM_SOURCE_DIR");
    if (src) {
        gw_test_format(path, sizeof(path), "%s/tests/data/upload/%s", src, name);
    } else {
        /* This file's own directory: tests/unit/../data/upload. */
        gw_test_format(path, sizeof(path), "%s", __FILE__);
        char *slash = strrchr(path, '/');
        size_t used = slash ? (size_t)(slash - path) : 0;
        gw_test_format(path + used, sizeof(path) - used, "%s../data/upload/%s", slash ? "/" : "",
                       name);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fail_msg("cannot open %s", path);
    }
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

/* POSTs body to path and returns the 202 answer (fails the test on any
 * other status). */
static inline json_t *upload_ok(fixture *f, const char *path, const char *content_type,
                                const char *body)
{
    json_t *a = NULL;
    long st = request(f, "POST", path, content_type, body, NULL, NULL, &a, NULL, 0);
    if (st != 202) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("POST %s answered %ld: %s", path, st, d ? d : "");
    }
    return a;
}

static inline json_t *upload_contacts(fixture *f, long long campaign, const char *content_type,
                                      const char *body)
{
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", campaign);
    return upload_ok(f, path, content_type, body);
}

/* Every report row of upload id as "line:kind:reason;", walked page by page
 * (limit per page) through the cursor, kind filtered when not NULL. */
static inline char *report_walk(fixture *f, long long id, const char *kind, int limit)
{
    size_t cap = 1 << 16, used = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    long long after = 0;
    int pages = 0;
    for (;;) {
        char path[160];
        gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld?limit=%d&after=%lld%s%s", id,
                       limit, after, kind ? "&kind=" : "", kind ? kind : "");
        json_t *a = NULL;
        assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
        json_t *rows = json_object_get(a, "rows");
        assert_true(json_array_size(rows) <= (size_t)limit);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *r = json_array_get(rows, i);
            used +=
                gw_test_format(out + used, cap - used, "%lld:%s:%s;", gw_test_jint_at(r, "line"),
                               gw_test_jstr(r, "kind"), gw_test_jstr(r, "reason"));
            assert_true(used < cap);
        }
        json_t *next = json_object_get(a, "next_after");
        pages++;
        if (json_is_null(next)) {
            json_decref(a);
            break;
        }
        after = json_integer_value(next);
        assert_int_equal(after,
                         gw_test_jint_at(json_array_get(rows, json_array_size(rows) - 1), "line"));
        json_decref(a);
    }
    assert_true(pages >= 1);
    return out;
}

/* One contact of an upload by line: "account|phones|types|zones|state|outcome", or
 * "none". */
static inline char *contact_at(fixture *f, long long upload_id, long long line)
{
    char sql[512];
    gw_test_format(sql, sizeof(sql),
                   "SELECT coalesce((SELECT concat_ws('|', account_number, phones::text, "
                   "phone_types::text, phone_zones::text, state, coalesce(outcome, '-')) "
                   "FROM contacts WHERE upload_id = %lld AND line_no = %lld), 'none')",
                   upload_id, line);
    return ecm_test_pg_text(f->conn, "%s", sql);
}

static inline void expect_contact(fixture *f, long long upload_id, long long line,
                                  const char *expected)
{
    char *got = contact_at(f, upload_id, line);
    if (strcmp(got, expected) != 0) {
        fail_msg("upload %lld line %lld: got '%s', expected '%s'", upload_id, line, got, expected);
    }
    free(got);
}

/* One contact of an upload by line: "account|region|subject_key|phone_regions"
 * ('-' for NULL), or "none". */
static inline char *jurisdiction_at(fixture *f, long long upload_id, long long line)
{
    char sql[512];
    gw_test_format(sql, sizeof(sql),
                   "SELECT coalesce((SELECT concat_ws('|', account_number, coalesce(region, '-'), "
                   "coalesce(subject_key, '-'), coalesce(phone_regions::text, '-')) "
                   "FROM contacts WHERE upload_id = %lld AND line_no = %lld), 'none')",
                   upload_id, line);
    return ecm_test_pg_text(f->conn, "%s", sql);
}

static inline void expect_jurisdiction(fixture *f, long long upload_id, long long line,
                                       const char *expected)
{
    char *got = jurisdiction_at(f, upload_id, line);
    if (strcmp(got, expected) != 0) {
        fail_msg("upload %lld line %lld: got '%s', expected '%s'", upload_id, line, got, expected);
    }
    free(got);
}

/* The ContactsUploaded events of upload up, decoded, in outbox order. */
typedef struct {
    size_t n;
    Ecm__V1__ContactsUploaded *ev[64];
} uploaded_events;

static inline void uploaded_events_destroy(uploaded_events *e)
{
    for (size_t i = 0; i < e->n; i++) {
        ecm__v1__contacts_uploaded__free_unpacked(e->ev[i], NULL);
    }
    e->n = 0;
}

/* Fills out with the ContactsUploaded events of upload up and checks what
 * each must hold: on contacts.uploaded, keyed by the campaign, its ce_id
 * its event_id, the campaign, upload and channel, and its batch's lines
 * after the previous batch's; and that together they list exactly the
 * upload's contacts loaded 'queued' (none closed on DNC), in file order,
 * each once and each within its batch's lines. Frees with
 * uploaded_events_destroy(). */
static inline void uploaded_events_get(fixture *f, long long campaign, long long up,
                                       Ecm__V1__Channel channel, uploaded_events *out)
{
    out->n = 0;
    PGresult *r =
        ecm_test_pg_query(f->conn, "SELECT payload, ce_id::text, topic, msg_key "
                                   "FROM outbox WHERE ce_type = 'ecm.v1.ContactsUploaded' "
                                   "ORDER BY id");
    for (int i = 0; i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 0), &len);
        assert_non_null(bytes);
        Ecm__V1__ContactsUploaded *ev = ecm__v1__contacts_uploaded__unpack(NULL, len, bytes);
        PQfreemem(bytes);
        assert_non_null(ev);
        if (ev->upload_id != up) {
            ecm__v1__contacts_uploaded__free_unpacked(ev, NULL);
            continue;
        }
        char key[24];
        gw_test_format(key, sizeof(key), "%lld", campaign);
        assert_string_equal(PQgetvalue(r, i, 2), "contacts.uploaded");
        assert_string_equal(PQgetvalue(r, i, 3), key);
        assert_string_equal(PQgetvalue(r, i, 1), ev->event_id);
        assert_int_equal(ev->campaign_id, campaign);
        assert_int_equal(ev->channel, channel);
        assert_true(ev->occurred_at > 0);
        assert_true(ev->n_contact_ids > 0); /* a batch that loads none has no event */
        assert_true(ev->first_line >= 1 && ev->first_line <= ev->last_line);
        if (out->n > 0) {
            assert_true(ev->first_line > out->ev[out->n - 1]->last_line);
        }
        assert_true(out->n < sizeof(out->ev) / sizeof(out->ev[0]));
        out->ev[out->n++] = ev;
    }
    PQclear(r);

    r = ecm_test_pg_query(f->conn,
                          "SELECT id, line_no FROM contacts WHERE upload_id = %lld "
                          "AND state = 'queued' ORDER BY line_no",
                          up);
    int k = 0;
    for (size_t e = 0; e < out->n; e++) {
        const Ecm__V1__ContactsUploaded *ev = out->ev[e];
        for (size_t j = 0; j < ev->n_contact_ids; j++, k++) {
            if (k >= PQntuples(r)) {
                fail_msg("upload %lld: the events list more than its %d queued contacts", up,
                         PQntuples(r));
            }
            long long id = strtoll(PQgetvalue(r, k, 0), NULL, 10);
            long long line = strtoll(PQgetvalue(r, k, 1), NULL, 10);
            if (ev->contact_ids[j] != id || line < ev->first_line || line > ev->last_line) {
                fail_msg("upload %lld event %zu: contact %lld at %zu, expected %lld (line %lld, "
                         "batch lines %lld-%lld)",
                         up, e, (long long)ev->contact_ids[j], j, id, line,
                         (long long)ev->first_line, (long long)ev->last_line);
            }
        }
    }
    assert_int_equal(k, PQntuples(r));
    PQclear(r);
}

/* The number of outbox rows of type ce_type keyed by msg_key. */
static inline long long events_keyed(fixture *f, const char *ce_type, long long key)
{
    return ecm_test_pg_int(f->conn,
                           "SELECT count(*) FROM outbox WHERE ce_type = '%s' AND msg_key = '%lld'",
                           ce_type, key);
}

/* The payload of the outbox row keyed by contact id for ce_type, decoded
 * as a ContactClosed; NULL when there is none. */
static inline Ecm__V1__ContactClosed *closed_event(fixture *f, long long contact_id)
{
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT encode(payload, 'hex'), topic FROM outbox WHERE msg_key = '%lld' "
                   "AND ce_type = 'ecm.v1.ContactClosed'",
                   contact_id);
    PGresult *r = ecm_test_pg_query(f->conn, "%s", sql);
    Ecm__V1__ContactClosed *ev = NULL;
    if (PQntuples(r) == 1) {
        assert_string_equal(PQgetvalue(r, 0, 1), "contacts.closed");
        const char *hex = PQgetvalue(r, 0, 0);
        size_t n = strlen(hex) / 2;
        uint8_t *bytes = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
            bytes[i] = (uint8_t)strtol(two, NULL, 16);
        }
        ev = ecm__v1__contact_closed__unpack(NULL, n, bytes);
        free(bytes);
    }
    PQclear(r);
    return ev;
}

/* One request with its headers kept: status, and the Retry-After in
 * retry ("" when none). */
static inline long request_retry_after(const fixture *f, const char *method, const char *path,
                                       const char *content_type, const char *body, char *retry,
                                       size_t retry_size, json_t **answer)
{
    char ct[128];
    gw_test_format(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "");
    const char *const headers[] = {"Expect:", content_type ? ct : NULL, NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->port, method, path, headers, body, body ? strlen(body) : 0, NULL);
    gw_test_log_exchange(method, path, &a);
    retry[0] = '\0';
    (void)ecm_test_http_header(&a, "Retry-After", retry, retry_size);
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

#endif
