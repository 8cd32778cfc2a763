/* gw_upload: the thread budget and upload slots, report reasons; and, with
 * ECM_TEST_PG_DSN, the gateway's HTTP API against a scratch database: a CSV full of
 * real-world trouble and a JSON array, each row loaded right or reported on
 * its line; duplicates within a file and across uploads; DNC at upload
 * (closed, ContactClosed); DNC list uploads; the paged report; a streamed
 * upload of 12,000 rows in batches on several threads. */
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

/* ---- HTTP against a scratch DB ----------------------------------------- */

#define TEST_ROWS 12000
#define PORT_FIRST 20450
#define PORT_LAST 20499

typedef gw_test_api fixture;

static long long sql_count(PGconn *c, const char *sql)
{
    return ecm_test_pg_int(c, "%s", sql);
}

static void test_upload_limits_share_helper_threads_and_slots(void **state)
{
    (void)state;
    gw_upload_limits *l = gw_upload_limits_new(2, 4); /* 3 helpers beside the uploads' own */
    assert_non_null(l);
    /* One upload alone takes the whole budget; the next gets what is free. */
    assert_int_equal(gw_upload_limits_threads_take(l, 8), 3);
    assert_int_equal(gw_upload_limits_threads_take(l, 2), 0);
    gw_upload_limits_threads_give(l, 3);
    assert_int_equal(gw_upload_limits_threads_take(l, 1), 1);
    assert_int_equal(gw_upload_limits_threads_take(l, 5), 2);
    gw_upload_limits_threads_give(l, 3);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    assert_int_equal(gw_upload_limits_enter(l), 0);
    assert_int_equal(gw_upload_limits_running(l), 2);
    gw_upload_limits_leave(l);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    gw_upload_limits_leave(l);
    gw_upload_limits_leave(l);
    assert_int_equal(gw_upload_limits_running(l), 0);
    gw_upload_limits_destroy(l);
    /* No limits: everything asked for. */
    assert_int_equal(gw_upload_limits_threads_take(NULL, 5), 5);
    assert_int_equal(gw_upload_limits_enter(NULL), 1);
}

static int setup_db(void **state)
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

static size_t read_fixed(char *buf, size_t size, size_t n, void *ctx)
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
static long request(const fixture *f, const char *method, const char *path,
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

static void gen_next(generator *g)
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

static size_t read_generated(char *buf, size_t size, size_t nitems, void *ctx)
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

static long long create_campaign(fixture *f, const char *channel_body)
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

static long long voice_campaign(fixture *f, const char *name)
{
    char body[256];
    gw_test_voice_campaign_body(body, sizeof(body), name);
    return create_campaign(f, body);
}

/* A file of tests/data/upload, malloc'd and NUL-terminated. */
static char *read_data(const char *name, size_t *len)
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
static json_t *upload_ok(fixture *f, const char *path, const char *content_type, const char *body)
{
    json_t *a = NULL;
    long st = request(f, "POST", path, content_type, body, NULL, NULL, &a, NULL, 0);
    if (st != 202) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("POST %s answered %ld: %s", path, st, d ? d : "");
    }
    return a;
}

static json_t *upload_contacts(fixture *f, long long campaign, const char *content_type,
                               const char *body)
{
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", campaign);
    return upload_ok(f, path, content_type, body);
}

/* Every report row of upload id as "line:kind:reason;", walked page by page
 * (limit per page) through the cursor, kind filtered when not NULL. */
static char *report_walk(fixture *f, long long id, const char *kind, int limit)
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
static char *contact_at(fixture *f, long long upload_id, long long line)
{
    char sql[512];
    gw_test_format(sql, sizeof(sql),
                   "SELECT coalesce((SELECT concat_ws('|', account_number, phones::text, "
                   "phone_types::text, phone_zones::text, state, coalesce(outcome, '-')) "
                   "FROM contacts WHERE upload_id = %lld AND line_no = %lld), 'none')",
                   upload_id, line);
    return ecm_test_pg_text(f->conn, "%s", sql);
}

static void expect_contact(fixture *f, long long upload_id, long long line, const char *expected)
{
    char *got = contact_at(f, upload_id, line);
    if (strcmp(got, expected) != 0) {
        fail_msg("upload %lld line %lld: got '%s', expected '%s'", upload_id, line, got, expected);
    }
    free(got);
}

/* One contact of an upload by line: "account|region|subject_key|phone_regions"
 * ('-' for NULL), or "none". */
static char *jurisdiction_at(fixture *f, long long upload_id, long long line)
{
    char sql[512];
    gw_test_format(sql, sizeof(sql),
                   "SELECT coalesce((SELECT concat_ws('|', account_number, coalesce(region, '-'), "
                   "coalesce(subject_key, '-'), coalesce(phone_regions::text, '-')) "
                   "FROM contacts WHERE upload_id = %lld AND line_no = %lld), 'none')",
                   upload_id, line);
    return ecm_test_pg_text(f->conn, "%s", sql);
}

static void expect_jurisdiction(fixture *f, long long upload_id, long long line,
                                const char *expected)
{
    char *got = jurisdiction_at(f, upload_id, line);
    if (strcmp(got, expected) != 0) {
        fail_msg("upload %lld line %lld: got '%s', expected '%s'", upload_id, line, got, expected);
    }
    free(got);
}

/* The state column lands in contacts.region (a bare code in the campaign's
 * country), debt_id in contacts.subject_key, each number's own
 * jurisdiction in contacts.phone_regions; an unknown state is a rejected
 * row reported on its line while the good rows load. CSV and JSON. */
static void test_api_upload_stores_jurisdiction_and_subject_per_contact(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Jurisdiction");
    json_t *a = upload_contacts(f, id, "text/csv",
                                "account_number,phone1,phone2,state,debt_id\n"
                                "A1,(305) 555-0100,+14165550100,FL,D-1\n"   /* 2 */
                                "A2,2125550101,,ZZ,D-2\n"                   /* 3 */
                                "A3,+442079460958,,,\n"                     /* 4 */
                                "A4,2015550100,+80012345678,us-ny,  D 4 \n" /* 5 */
                                "A5,2125550102,,US-QQ,\n");                 /* 6 */
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 2);
    json_decref(a);
    expect_jurisdiction(f, up, 2, "A1|US-FL|D-1|{US-FL,CA-ON}");
    expect_jurisdiction(f, up, 3, "none");
    expect_jurisdiction(f, up, 4, "A3|-|-|{GB}");
    expect_jurisdiction(f, up, 5, "A4|US-NY|D 4|{US-NJ,NULL}");
    expect_jurisdiction(f, up, 6, "none");
    char *report = report_walk(f, up, NULL, 10);
    assert_string_equal(report, "3:rejected:state: unknown state or province 'ZZ' in US;"
                                "6:rejected:state: unknown state or province 'QQ' in US;");
    free(report);
    /* The column as written stays a custom field too. */
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT custom->>'state' FROM contacts WHERE upload_id = %lld AND line_no = 5",
                   up);
    char *custom = ecm_test_pg_text(f->conn, "%s", sql);
    assert_string_equal(custom, "us-ny");
    free(custom);

    a = upload_contacts(f, id, "application/json",
                        "[{\"account_number\": \"J1\", \"phone1\": \"+18005550100\", "
                        "\"region\": \"CA-ON\", \"subject_key\": 7},"
                        "{\"account_number\": \"J2\", \"phone1\": \"+18005550101\", "
                        "\"province\": \"ON\"},"
                        "{\"account_number\": \"J3\", \"phone1\": \"+17875550100\", "
                        "\"debt_id\": \"x\"}]");
    up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    json_decref(a);
    expect_jurisdiction(f, up, 1, "J1|CA-ON|7|{US}");
    expect_jurisdiction(f, up, 3, "J3|-|x|{US-PR}");
    report = report_walk(f, up, NULL, 10);
    assert_string_equal(report, "2:rejected:province: unknown state or province 'ON' in US;");
    free(report);
}

/* The ContactsUploaded events of upload up, decoded, in outbox order. */
typedef struct {
    size_t n;
    Ecm__V1__ContactsUploaded *ev[64];
} uploaded_events;

static void uploaded_events_destroy(uploaded_events *e)
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
static void uploaded_events_get(fixture *f, long long campaign, long long up,
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
static long long events_keyed(fixture *f, const char *ce_type, long long key)
{
    return ecm_test_pg_int(f->conn,
                           "SELECT count(*) FROM outbox WHERE ce_type = '%s' AND msg_key = '%lld'",
                           ce_type, key);
}

static void test_api_upload_of_a_troubled_csv_loads_or_reports_every_row(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Trouble");
    size_t len;
    char *csv = read_data("trouble.csv", &len);
    /* Batches of 3 rows: duplicates and line numbers cross batches. */
    f->app.upload_batch = 3;
    json_t *a = upload_contacts(f, id, "text/csv", csv);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 17);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_dnc"), 0);
    assert_int_equal(gw_test_jint_at(a, "progress.bytes_read"), (long long)len);
    /* Each batch's rejected rows join the answer when the loader thread has
     * loaded it: still in the order of the file. */
    static const long long rejected_lines[] = {7, 8, 10, 11, 17, 19, 20, 21};
    json_t *errors = json_object_get(a, "errors");
    assert_int_equal(json_array_size(errors), 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(gw_test_jint_at(json_array_get(errors, i), "line"), rejected_lines[i]);
    }
    json_decref(a);

    static const struct {
        long long line;
        const char *contact;
    } loaded[] = {
        {2, "A01|{+12125550100}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {3, "A02|{+442079460958}|{fixed_line}|{Europe/London}|queued|-"},
        {4, "A03|{+33142685300}|{fixed_line}|{Europe/Paris}|queued|-"},
        {9, "A06|{+16465550101}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {13, "A09|{+923001234567}|{mobile}|{Asia/Karachi}|queued|-"},
        {18, "A12|{+61293744000,+16465550104}|{fixed_line,fixed_line_or_mobile}|{\"\",\"\"}|"
             "queued|-"},
        {22, "A16|{+12125550106}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {23, "A17|{+33612345678}|{mobile}|{Europe/Paris}|queued|-"},
    };
    for (size_t i = 0; i < sizeof(loaded) / sizeof(loaded[0]); i++) {
        expect_contact(f, up, loaded[i].line, loaded[i].contact);
    }
    char sql[512];
    gw_test_format(
        sql, sizeof(sql),
        "SELECT concat_ws('|', first_name, last_name, time_zone, custom->>'note') "
        "FROM contacts WHERE upload_id = %lld AND line_no IN (3, 4, 9, 13) ORDER BY line_no",
        up);
    PGresult *r = ecm_test_pg_query(f->conn, "%s", sql);
    assert_int_equal(PQntuples(r), 4);
    assert_string_equal(PQgetvalue(r, 0, 0), "Jos\xC3\xA9|M\xC3\xBCller|quoted, comma");
    assert_string_equal(PQgetvalue(r, 1, 0), "Fran\xC3\xA7ois|\xC3\x91\xC3\xBA\xC3\xB1"
                                             "ez|two\r\nlines");
    assert_string_equal(PQgetvalue(r, 2, 0), "Dan|O\"Brien|stray \"quote");
    assert_string_equal(PQgetvalue(r, 3, 0), "Ida|Jay|Asia/Karachi|multi\nline\nnote");
    PQclear(r);
    const char *expected_report = "7:rejected:phone2: '212 555 O1OO' contains letters;"
                                  "8:rejected:phone1: '555-12' too short;"
                                  "10:rejected:expected 7 fields, found 4;"
                                  "11:rejected:expected 7 fields, found 8;"
                                  "16:duplicate:+12125550100 is already on line 2 of this file;"
                                  "17:rejected:time_zone: 'Mars/Olympus' is not a time zone name;"
                                  "19:rejected:phone1: '1-800-FLOWERS' contains letters;"
                                  "20:rejected:phone1: '212-555-0105 x12' has an extension;"
                                  "21:rejected:no phone number (phone1 .. phone10 are empty);";
    for (int limit = 1; limit <= 10; limit += 3) {
        char *report = report_walk(f, up, NULL, limit);
        assert_string_equal(report, expected_report);
        free(report);
    }
    /* One ContactsUploaded per batch of 3 rows read that loaded any: the
     * batch of lines 19-21 loads none. */
    static const long long batch_lines[][3] = {
        {2, 4, 3}, {7, 9, 1}, {10, 13, 1}, {16, 18, 1}, {22, 23, 2}};
    uploaded_events ev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 5);
    for (size_t i = 0; i < ev.n; i++) {
        assert_int_equal(ev.ev[i]->first_line, batch_lines[i][0]);
        assert_int_equal(ev.ev[i]->last_line, batch_lines[i][1]);
        assert_int_equal(ev.ev[i]->n_contact_ids, batch_lines[i][2]);
    }
    uploaded_events_destroy(&ev);
    char *dups = report_walk(f, up, "duplicate", 5);
    assert_string_equal(dups, "16:duplicate:+12125550100 is already on line 2 of this file;");
    free(dups);
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contact_phones WHERE campaign_id = %lld",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 9);

    /* The same file again: every good row is now a duplicate of the first
     * upload's row, named by upload and line. */
    a = upload_contacts(f, id, "text/csv; charset=UTF-8", csv);
    long long up2 = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 0);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 9);
    json_decref(a);
    uploaded_events_get(f, id, up2, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 0); /* nothing loaded, nothing announced */
    char *report = report_walk(f, up2, "duplicate", 100);
    char first[160];
    gw_test_format(
        first, sizeof(first),
        "2:duplicate:+12125550100 is already a contact of this campaign (upload %lld, line "
        "2);",
        up);
    assert_true(strncmp(report, first, strlen(first)) == 0);
    gw_test_format(first, sizeof(first),
                   "18:duplicate:+61293744000 is already a contact of this campaign (upload %lld, "
                   "line 18);",
                   up);
    assert_non_null(strstr(report, first));
    free(report);
    f->app.upload_batch = 5000;
    free(csv);
}

/* The CSV of issue 11: a rejected field of multibyte characters among 100
 * good rows. Its reason used to quote the field cut at a byte count, which
 * split a character; PostgreSQL refused the report row, the batch rolled
 * back and the upload answered 503 with nothing loaded. */
static void test_api_upload_multibyte_rejections_cost_no_good_row(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Multibyte");
    static const char e_acute[] = "\xC3\xA9";
    enum { CSV_CAP = 64 * 1024 };
    char *csv = calloc(1, CSV_CAP);
    assert_non_null(csv);
    size_t used = gw_test_format(csv, CSV_CAP, "account_number,phone1,time_zone,r\xC3\xA9gion\n");
    for (int i = 0; i < 100; i++) {
        if (i == 50) {
            /* line 52: 'a' and thirty e-acutes (61 bytes, 31 characters) */
            used += gw_test_format(csv + used, CSV_CAP - used, "BAD1,a");
            for (int k = 0; k < 30; k++) {
                used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
            }
            used += gw_test_format(csv + used, CSV_CAP - used, ",,x\n");
            /* line 53: sixty of them as a time zone: quoted to 40 characters */
            used += gw_test_format(csv + used, CSV_CAP - used, "BAD2,+442079460999,");
            for (int k = 0; k < 60; k++) {
                used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
            }
            used += gw_test_format(csv + used, CSV_CAP - used, ",x\n");
        }
        used += gw_test_format(csv + used, CSV_CAP - used,
                               "G%03d,+44 20 7946 %04d,,\xE2\x82\xAC%d\n", i, i, i);
    }
    json_t *a = upload_contacts(f, id, "text/csv", csv);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 102);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 100);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 2);
    json_decref(a);

    char expected[1024];
    size_t n = gw_test_format(expected, sizeof(expected), "52:rejected:phone1: 'a");
    for (int k = 0; k < 30; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    n += gw_test_format(expected + n, sizeof(expected) - n,
                        "' contains letters;53:rejected:time_zone: '");
    for (int k = 0; k < 40; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    gw_test_format(expected + n, sizeof(expected) - n, "...' is not a time zone name;");
    char *report = report_walk(f, up, NULL, 10);
    assert_true(ecm_utf8_valid(report, strlen(report)));
    assert_string_equal(report, expected);
    free(report);
    char sql[256];
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE upload_id = %lld AND custom->>'r\xC3\xA9gion' "
        "LIKE '\xE2\x82\xAC%%'",
        up);
    assert_int_equal(sql_count(f->conn, sql), 100);

    /* A DNC list the same way: the bad number quoted whole, by characters. */
    used = gw_test_format(csv, CSV_CAP, "phone,reason\n+442079461000,ok\n");
    used += gw_test_format(csv + used, CSV_CAP - used, "a");
    for (int k = 0; k < 45; k++) {
        used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
    }
    gw_test_format(csv + used, CSV_CAP - used, ",x\n+442079461001,ok\n");
    a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv", csv);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    report = report_walk(f, gw_test_jint_at(a, "upload_id"), "rejected", 10);
    json_decref(a);
    n = gw_test_format(expected, sizeof(expected), "3:rejected:phone: 'a");
    for (int k = 0; k < 39; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    gw_test_format(expected + n, sizeof(expected) - n, "...' is not a phone number;");
    assert_string_equal(report, expected);
    free(report);
    free(csv);
}

/* A reason made of outside text is kept valid whatever built it: ill-formed
 * bytes become U+FFFD, and an over-long reason is cut at a character. */
static void test_upload_report_reason_is_always_valid_utf8(void **state)
{
    (void)state;
    ecm_buf rows;
    ecm_buf_init(&rows, GW_TEST_BUF_MAX);
    assert_int_equal(gw_upload_report_add(&rows, 7, 3, "rejected", "bad \xC3 byte\tand \xE2\x82"),
                     0);
    assert_string_equal(ecm_buf_ptr(&rows),
                        "7\t3\trejected\tbad \xEF\xBF\xBD byte\\tand \xEF\xBF\xBD\n");
    ecm_buf_reset(&rows);
    char *long_reason = malloc(4000);
    assert_non_null(long_reason);
    size_t k = 0;
    while (k + 2 < 3999) {
        memcpy(long_reason + k, "\xC3\xA9", 2);
        k += 2;
    }
    long_reason[k] = '\0';
    assert_int_equal(gw_upload_report_add(&rows, 7, 4, "rejected", long_reason), 0);
    assert_true(ecm_utf8_valid(ecm_buf_ptr(&rows), ecm_buf_len(&rows)));
    assert_true(ecm_buf_len(&rows) < GW_UPLOAD_REASON_MAX + 32);
    free(long_reason);
    ecm_buf_destroy(&rows);
}

static void test_api_json_array_upload_reports_items_by_position(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Json");
    size_t len;
    char *body = read_data("trouble.json", &len);
    f->app.upload_batch = 4;
    json_t *a = upload_contacts(f, id, "application/json", body);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 10);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 4);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 5);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    json_decref(a);
    expect_contact(f, up, 1, "J01|{+12125550110}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    expect_contact(f, up, 2, "J02|{+12125550111}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    expect_contact(f, up, 7, "J07|{+33612345679}|{mobile}|{Europe/Paris}|queued|-");
    expect_contact(f, up, 10, "J10|{+442079460960}|{fixed_line}|{Europe/London}|queued|-");
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT custom::text FROM contacts WHERE upload_id = %lld AND line_no = 7", up);
    char *custom = ecm_test_pg_text(f->conn, "%s", sql);
    assert_string_equal(custom, "{\"note\": \"a ] b \\\" c { ,\"}");
    free(custom);
    /* Batches of 4 items: 1-4 loads 1 and 2, 5-8 loads 7, 9-10 loads 10. */
    uploaded_events ev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 3);
    assert_int_equal(ev.ev[0]->first_line, 1);
    assert_int_equal(ev.ev[0]->last_line, 4);
    assert_int_equal(ev.ev[0]->n_contact_ids, 2);
    assert_int_equal(ev.ev[1]->first_line, 5);
    assert_int_equal(ev.ev[1]->last_line, 8);
    assert_int_equal(ev.ev[1]->n_contact_ids, 1);
    assert_int_equal(ev.ev[2]->first_line, 9);
    assert_int_equal(ev.ev[2]->last_line, 10);
    assert_int_equal(ev.ev[2]->n_contact_ids, 1);
    uploaded_events_destroy(&ev);
    char *report = report_walk(f, up, NULL, 2);
    assert_string_equal(report, "3:rejected:phone1: '212 555 O1OO' contains letters;"
                                "4:rejected:not a JSON object;"
                                "5:duplicate:+12125550110 is already on line 1 of this file;"
                                "6:rejected:extra: must be a string or a number;"
                                "8:rejected:'PHONE1' appears twice;"
                                "9:rejected:no phone number (phone1 .. phone10 are missing);");
    free(report);
    f->app.upload_batch = 5000;
    free(body);

    /* A body that is no array, or not a whole one, fails and says where. */
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(
        request(f, "POST", path, "application/json", "{\"phone1\": 1}", NULL, NULL, &a, NULL, 0),
        422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "expected '['"));
    json_decref(a);
    assert_int_equal(request(f, "POST", path, "application/json",
                             "[{\"phone1\": \"2125550130\"}, {\"phone1\": \"21", NULL, NULL, &a,
                             NULL, 0),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "item 2: the item is not closed"));
    json_decref(a);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts c JOIN uploads u ON u.id = c.upload_id "
                   "WHERE u.campaign_id = %lld AND u.state = 'failed' "
                   "AND c.phones = '{+12125550130}'",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 1); /* item 1 was kept */
}

/* The payload of the outbox row keyed by contact id for ce_type, decoded
 * as a ContactClosed; NULL when there is none. */
static Ecm__V1__ContactClosed *closed_event(fixture *f, long long contact_id)
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

static void test_api_dnc_lists_by_upload_and_dnc_rows_load_closed(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Dnc");
    long long other = voice_campaign(f, "Other");
    char path[128];

    /* The global list, by CSV upload: a bad number, a reason, a number
     * twice. */
    json_t *a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv",
                          "Phone,reason,extra\r\n"
                          "(212) 555-0120,asked us,x\r\n"
                          "212 555 O1OO,,\r\n"
                          "212.555.0120,again,\r\n");
    long long g = gw_test_jint_at(a, "upload_id");
    assert_string_equal(gw_test_jstr(a, "kind"), "dnc");
    assert_true(json_is_null(json_object_get(a, "campaign_id")));
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    json_decref(a);
    char *report = report_walk(f, g, NULL, 10);
    assert_string_equal(report, "3:rejected:phone: '212 555 O1OO' contains letters;"
                                "4:duplicate:+12125550120 is already on line 2 of this file;");
    free(report);
    assert_int_equal(
        sql_count(f->conn,
                  "SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone = '+12125550120' "
                  "AND campaign_id IS NULL AND source = 'upload' "
                  "AND reason = 'asked us'"),
        1);
    /* Again: already on the list, never an error. */
    a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv", "phone\n2125550120\n");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 0);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    report = report_walk(f, gw_test_jint_at(a, "upload_id"), "duplicate", 10);
    assert_string_equal(report, "2:duplicate:+12125550120 is already on the DNC list;");
    free(report);
    json_decref(a);

    /* The campaign's own list and another campaign's. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", id);
    a = upload_ok(f, path, "text/csv", "phone\n2125550121\n(212) 555-0124\n");
    assert_int_equal(gw_test_jint_at(a, "campaign_id"), id);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", other);
    json_decref(upload_ok(f, path, "text/csv", "phone\n2125550122\n"));
    assert_int_equal(request(f, "POST", "/api/v1/campaigns/999999/dnc/uploads", "text/csv",
                             "phone\n2125550123\n", NULL, NULL, &a, NULL, 0),
                     404);
    json_decref(a);

    /* Rows all of whose numbers are on a list that applies load closed. */
    a = upload_contacts(f, id, "text/csv",
                        "account_number,phone1,phone2\n"
                        "D1,2125550120,\n"           /* 2: global list: closed */
                        "D2,2125550121,2125550123\n" /* 3: one of two: queued */
                        "D3,+1 212 555 0124,\n"      /* 4: campaign's list: closed */
                        "D4,2125550122,\n");         /* 5: another campaign's list: queued */
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 4);
    assert_int_equal(gw_test_jint_at(a, "rows_dnc"), 2);
    json_decref(a);
    expect_contact(f, up, 2, "D1|{+12125550120}|{fixed_line_or_mobile}|{\"\"}|closed|DNC");
    expect_contact(f, up, 3,
                   "D2|{+12125550121,+12125550123}|{fixed_line_or_mobile,fixed_line_or_mobile}|"
                   "{\"\",\"\"}|queued|-");
    expect_contact(f, up, 4, "D3|{+12125550124}|{fixed_line_or_mobile}|{\"\"}|closed|DNC");
    expect_contact(f, up, 5, "D4|{+12125550122}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    report = report_walk(f, up, "dnc", 10);
    assert_string_equal(report, "2:dnc:on the DNC list: +12125550120;"
                                "4:dnc:on the DNC list: +12125550124;");
    free(report);
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND state = 'closed' "
                   "AND closed_at IS NOT NULL",
                   up);
    assert_int_equal(sql_count(f->conn, sql), 2);
    /* A ContactClosed (DNC) for each closed row; the batch's one
     * ContactsUploaded lists the others (D2, D4) and only them. */
    gw_test_format(sql, sizeof(sql),
                   "SELECT id FROM contacts WHERE upload_id = %lld ORDER BY line_no", up);
    PGresult *r = ecm_test_pg_query(f->conn, "%s", sql);
    assert_int_equal(PQntuples(r), 4);
    long long ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        Ecm__V1__ContactClosed *ev = closed_event(f, ids[i]);
        if (i == 0 || i == 2) {
            assert_non_null(ev);
            assert_int_equal(ev->contact_id, ids[i]);
            assert_int_equal(ev->campaign_id, id);
            assert_int_equal(ev->outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
            assert_int_equal(ev->attempts, 0);
            ecm__v1__contact_closed__free_unpacked(ev, NULL);
        } else {
            assert_null(ev);
        }
        assert_int_equal(events_keyed(f, "ecm.v1.ContactsUploaded", ids[i]), 0);
    }
    PQclear(r);
    uploaded_events uev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &uev);
    assert_int_equal(uev.n, 1);
    assert_int_equal(uev.ev[0]->n_contact_ids, 2);
    assert_int_equal(uev.ev[0]->contact_ids[0], ids[1]);
    assert_int_equal(uev.ev[0]->contact_ids[1], ids[3]);
    assert_int_equal(uev.ev[0]->first_line, 2);
    assert_int_equal(uev.ev[0]->last_line, 5);
    uploaded_events_destroy(&uev);

    /* A number joining the campaign's list closes the contact it leaves
     * with none off the lists (D2), at once. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", id);
    a = upload_ok(f, path, "text/csv", "phone\n+1 212 555 0123\n");
    assert_int_equal(gw_test_jint_at(a, "contacts_closed"), 1);
    json_decref(a);
    expect_contact(f, up, 3,
                   "D2|{+12125550121,+12125550123}|{fixed_line_or_mobile,fixed_line_or_mobile}|"
                   "{\"\",\"\"}|closed|DNC");
}

typedef struct {
    fixture *f;
    long long campaign;
    const char *csv;
    long long loaded, duplicate, upload_id;
} racer;

static void *race_upload(void *arg)
{
    racer *r = arg;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", r->campaign);
    json_t *a = NULL;
    long st = request(r->f, "POST", path, "text/csv", r->csv, NULL, NULL, &a, NULL, 0);
    if (st == 202) {
        r->loaded = json_integer_value(json_object_get(a, "rows_loaded"));
        r->duplicate = json_integer_value(json_object_get(a, "rows_duplicate"));
        r->upload_id = json_integer_value(json_object_get(a, "upload_id"));
    } else {
        r->loaded = r->duplicate = r->upload_id = -1;
    }
    json_decref(a);
    return NULL;
}

static void test_api_concurrent_uploads_to_one_campaign_load_each_number_once(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Race");
    enum { ROWS = 3000 };
    size_t cap = 64 * (ROWS + 2), used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "phone1\n");
    for (int i = 0; i < ROWS; i++) {
        used +=
            gw_test_format(csv + used, cap - used, "(718) %03d-%04d\n", 200 + i / 1000, i % 1000);
    }
    f->app.upload_batch = 250;
    racer r[2] = {{f, id, csv, 0, 0, 0}, {f, id, csv, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_upload, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    f->app.upload_batch = 5000;
    assert_int_equal(r[0].loaded + r[1].loaded, ROWS);
    assert_int_equal(r[0].duplicate + r[1].duplicate, ROWS);
    char sql[256];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(DISTINCT phones[1]) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    /* Each upload announces what it loaded, batch by batch (250 rows read
     * each, at most 12): between them, every contact once. */
    size_t listed = 0;
    for (int i = 0; i < 2; i++) {
        uploaded_events ev;
        uploaded_events_get(f, id, r[i].upload_id, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
        assert_true(ev.n <= ROWS / 250);
        for (size_t k = 0; k < ev.n; k++) {
            listed += ev.ev[k]->n_contact_ids;
        }
        uploaded_events_destroy(&ev);
    }
    assert_int_equal(listed, ROWS);
    free(csv);
}
/* A record the reader cannot get past (an unterminated quote) ends the
 * upload with 422, while batches before it are still loading on the loader
 * thread: every row before it is loaded and counted, the line is reported
 * and the upload reads 'failed'. */
static void test_api_upload_cut_short_by_the_reader_keeps_rows_before_it(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Cut short");
    enum { ROWS = 40 };
    size_t cap = 64 * ROWS + 512, used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "account_number,phone1\n");
    for (int i = 0; i < ROWS; i++) {
        used += gw_test_format(csv + used, cap - used, "C%02d,(646) 555-%04d\n", i, 2000 + i);
    }
    used += gw_test_format(csv + used, cap - used, "\"C99,(646) 555-2999\n");
    for (int i = 0; i < 30; i++) {
        used += gw_test_format(csv + used, cap - used, "C%02d,unterminated quote\n", i);
    }
    f->app.upload_batch = 7;
    f->app.upload_max_record = 200;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = NULL;
    long st = request(f, "POST", path, "text/csv", csv, NULL, NULL, &a, NULL, 0);
    f->app.upload_batch = 5000;
    f->app.upload_max_record = 65536;
    assert_int_equal(st, 422);
    const char *detail = gw_test_jstr(a, "detail");
    if (!strstr(detail, "40 rows before it were loaded")) {
        fail_msg("detail: %s", detail);
    }
    json_decref(a);
    char sql[256];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM uploads WHERE campaign_id = %lld AND state = 'failed' "
                   "AND rows_loaded = %d AND rows_rejected = 1",
                   id, ROWS);
    assert_int_equal(sql_count(f->conn, sql), 1);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM upload_rows r JOIN uploads u ON u.id = r.upload_id "
                   "WHERE u.campaign_id = %lld AND r.line_no = %d AND r.kind = 'rejected'",
                   id, ROWS + 2);
    assert_int_equal(sql_count(f->conn, sql), 1);
    /* The 40 rows went in as batches of 7 read (the last one of 5): each
     * announced, the failed upload included. */
    gw_test_format(sql, sizeof(sql), "SELECT id FROM uploads WHERE campaign_id = %lld", id);
    uploaded_events ev;
    uploaded_events_get(f, id, sql_count(f->conn, sql), ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, (ROWS + 6) / 7);
    for (size_t i = 0; i < ev.n; i++) {
        assert_int_equal(ev.ev[i]->first_line, 2 + 7 * (long long)i);
        assert_int_equal(ev.ev[i]->n_contact_ids, i + 1 < ev.n ? 7 : ROWS % 7);
    }
    assert_int_equal(ev.ev[ev.n - 1]->last_line, ROWS + 1);
    uploaded_events_destroy(&ev);
    free(csv);
}

/* One request with its headers kept: status, and the Retry-After in
 * retry ("" when none). */
static long request_retry_after(const fixture *f, const char *method, const char *path,
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

static void test_api_uploads_over_the_cap_get_429_and_a_busy_pool_503(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Capped");
    char path[128], retry[16];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    const char *csv = "account_number,phone1\nA1,(646) 555-0101\n";

    /* One upload at a time, and one is under way. */
    gw_upload_limits *limits = gw_upload_limits_new(1, 2);
    assert_non_null(limits);
    f->app.upload_limits = limits;
    assert_int_equal(gw_upload_limits_enter(limits), 1);
    json_t *a = NULL;
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 429);
    assert_string_equal(gw_test_jstr(a, "type"), "https://ecm.dev/problems/too-many-uploads");
    assert_true(strtol(retry, NULL, 10) > 0);
    json_decref(a);
    assert_int_equal(gw_upload_limits_running(limits), 1);
    gw_upload_limits_leave(limits);
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 202);
    json_decref(a);
    /* The slot is given back with the upload, as it ends (which may be a
     * moment after its answer has gone out). */
    for (int i = 0; i < 400 && gw_upload_limits_running(limits) != 0; i++) {
        usleep(50000);
    }
    assert_int_equal(gw_upload_limits_running(limits), 0);
    f->app.upload_limits = NULL;
    gw_upload_limits_destroy(limits);

    /* Every pooled connection busy: 503 after the pool's wait, not a hang. */
    ecm_pg_pool_set_limits(f->pool, 200, 0);
    ecm_pg *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = ecm_pg_pool_get(f->pool);
        assert_non_null(held[i]);
    }
    assert_int_equal(
        request_retry_after(f, "GET", "/api/v1/campaigns", NULL, NULL, retry, sizeof(retry), &a),
        503);
    assert_string_equal(gw_test_jstr(a, "title"), "Database busy");
    assert_string_equal(retry, "1");
    json_decref(a);
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 503);
    json_decref(a);
    for (int i = 0; i < 4; i++) {
        ecm_pg_pool_put(f->pool, held[i]);
    }
    assert_int_equal(
        request_retry_after(f, "GET", "/api/v1/campaigns", NULL, NULL, retry, sizeof(retry), &a),
        200);
    json_decref(a);
    ecm_pg_pool_set_limits(f->pool, 0, 0);
}

static void test_api_campaign_life_cycle_and_validation(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    json_t *a = NULL;
    long st = request(f, "POST", "/api/v1/campaigns", "application/json",
                      "{\"name\":\"x\",\"channel\":\"voice_ivr\"}", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "type"), "validation"));
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "cisco"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"strategy\":\"Nope\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "strategy"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"Mars/Olympus\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "time_zone"));
    json_decref(a);

    long long id = create_campaign(
        f, "{\"name\":\"Life\",\"channel\":\"voice_agent\",\"time_zone\":\"America/New_York\","
           "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"42\"},"
           "\"start_at\":\"2026-01-01T09:00:00+01:00\"}");
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/pause", id);
    st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    assert_non_null(strstr(gw_test_jstr(a, "type"), "conflict"));
    json_decref(a);
    static const struct {
        const char *action, *state;
    } steps[] = {
        {"activate", "active"}, {"pause", "paused"}, {"activate", "active"}, {"stop", "stopped"}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/%s", id, steps[i].action);
        st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
        assert_int_equal(st, 200);
        assert_string_equal(gw_test_jstr(a, "state"), steps[i].state);
        json_decref(a);
    }
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/activate", id);
    assert_int_equal(request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 409);
    json_decref(a);

    /* A stopped campaign takes no uploads. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    st = request(f, "POST", path, "text/csv", "phone1\n5551234567\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    json_decref(a);

    /* One CampaignChanged per change, creation included, keyed by id. */
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.CampaignChanged' "
                   "AND msg_key = '%lld'",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 5);

    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(gw_test_jstr(a, "start_at"), "2026-01-01T08:00:00.000Z");
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "campaign_id"), "42");
    json_decref(a);
    assert_int_equal(
        request(f, "GET", "/api/v1/campaigns/999999", NULL, NULL, NULL, NULL, &a, NULL, 0), 404);
    json_decref(a);
}

static void test_api_upload_streams_12000_rows_in_batches(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    long long id = create_campaign(f, "{\"name\":\"Big\",\"channel\":\"voice_ivr\","
                                      "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"7\"}}");
    char path[128];
    json_t *a = NULL;
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(request(f, "POST", path, "multipart/form-data; boundary=x", "--x--", NULL,
                             NULL, &a, NULL, 0),
                     415);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "text/csv"));
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "application/json"));
    json_decref(a);

    generator g = {0};
    long st =
        request(f, "POST", path, "text/csv; charset=utf-8", NULL, read_generated, &g, &a, NULL, 0);
    if (st != 202) {
        char *d = json_dumps(a, JSON_COMPACT);
        fail_msg("upload answered %ld: %s", st, d);
    }
    assert_int_equal(g.nbad, 3);
    assert_int_equal(gw_test_jint_at(a, "rows_read"), TEST_ROWS);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), TEST_ROWS - 3);
    long long upload_id = gw_test_jint_at(a, "upload_id");
    char report[64];
    gw_test_format(report, sizeof(report), "/api/v1/uploads/%lld", upload_id);
    assert_string_equal(gw_test_jstr(a, "report_url"), report);
    json_t *errors = json_object_get(a, "errors");
    assert_int_equal(json_array_size(errors), 3);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(errors, (size_t)i);
        assert_int_equal(gw_test_jint_at(e, "line"), g.bad_lines[i]);
        assert_string_equal(gw_test_jstr(e, "reason"), g.bad_reasons[i]);
    }
    json_decref(a);

    /* Loaded 'queued', ready for the feeder once the campaign is active;
     * announced by one ContactsUploaded per batch of 5,000 rows read
     * (12,000 rows: 3), keyed by the campaign, none per contact. */
    char sql[512];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE upload_id = %lld",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), TEST_ROWS - 3);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND state = 'queued' "
                   "AND attempts = 0 AND outcome IS NULL",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), TEST_ROWS - 3);
    uploaded_events ev;
    uploaded_events_get(f, id, upload_id, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, (TEST_ROWS + 4999) / 5000);
    /* rows 1-5000 (5000 rejected), 5001-10000 (9000 rejected), the rest
     * (one, 11000, after a blank line) */
    assert_int_equal(ev.ev[0]->first_line, 2);
    assert_int_equal(ev.ev[0]->last_line, g.bad_lines[1]);
    assert_int_equal(ev.ev[0]->n_contact_ids, 4998);
    assert_int_equal(ev.ev[1]->first_line, g.bad_lines[1] + 1);
    assert_int_equal(ev.ev[1]->n_contact_ids, 4999);
    assert_int_equal(ev.ev[2]->first_line, ev.ev[1]->last_line + 1);
    assert_int_equal(ev.ev[2]->last_line, g.line_of_last_row);
    assert_int_equal(ev.ev[2]->n_contact_ids, 2000);
    assert_int_equal(strlen(ev.ev[0]->event_id), 36);
    assert_string_not_equal(ev.ev[0]->event_id, ev.ev[1]->event_id);
    uploaded_events_destroy(&ev);
    assert_int_equal(
        sql_count(f->conn, "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.ContactUploaded'"),
        0);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM outbox WHERE topic = 'contacts.uploaded' AND msg_key = '%lld'", id);
    assert_int_equal(sql_count(f->conn, sql), (TEST_ROWS + 4999) / 5000);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE account_number = 'ACC100' AND line_no = %lld "
        "AND custom->>'note' = E'two\\r\\nlines'",
        g.line_of_row_100);
    assert_int_equal(sql_count(f->conn, sql), 1);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE account_number = 'ACC%d' AND line_no = %lld "
        "AND phones = ARRAY['+1212%03d%04d', '+1646%03d%04d'] AND first_name = 'First%d'",
        TEST_ROWS, g.line_of_last_row, 200 + TEST_ROWS / 10000, TEST_ROWS % 10000,
        200 + TEST_ROWS / 10000, TEST_ROWS % 10000, TEST_ROWS);
    assert_int_equal(sql_count(f->conn, sql), 1);

    /* The report, paged by line: the rows after the first bad line. */
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld?after=%lld&limit=1", upload_id,
                   g.bad_lines[0]);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "done");
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 3);
    assert_int_equal(json_array_size(json_object_get(a, "rows")), 1);
    assert_int_equal(gw_test_jint_at(json_array_get(json_object_get(a, "rows"), 0), "line"),
                     g.bad_lines[1]);
    assert_int_equal(gw_test_jint_at(a, "next_after"), g.bad_lines[1]);
    assert_true(gw_test_jint_at(a, "progress.bytes_read") > TEST_ROWS * 30);
    /* The same page through ?cursor, as every list pages; its next_cursor
     * leads to the third row. */
    char next[32];
    gw_test_format(next, sizeof(next), "%s", gw_test_jstr(a, "next_cursor"));
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld?cursor=%s&limit=1", upload_id, next);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_int_equal(gw_test_jint_at(json_array_get(json_object_get(a, "rows"), 0), "line"),
                     g.bad_lines[2]);
    json_decref(a);
    char *all = report_walk(f, upload_id, "rejected", 2);
    char expected[512];
    gw_test_format(expected, sizeof(expected),
                   "%lld:rejected:%s;%lld:rejected:%s;%lld:rejected:%s;", g.bad_lines[0],
                   g.bad_reasons[0], g.bad_lines[1], g.bad_reasons[1], g.bad_lines[2],
                   g.bad_reasons[2]);
    assert_string_equal(all, expected);
    free(all);
    /* Every contact's line is the line of its row, whatever thread read
     * it: row i's account number ends in i, its number in i too. */
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND "
                   "right(phones[1], 4)::int <> substr(account_number, 4)::int %% 10000",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), 0);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM (SELECT line_no, lag(line_no) OVER (ORDER BY id) AS prev "
                   "FROM contacts WHERE upload_id = %lld) x WHERE line_no <= prev",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), 0);

    /* The campaign's counts, alone and in the list. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_int_equal(gw_test_jint_at(a, "counts.contacts"), TEST_ROWS - 3);
    assert_int_equal(gw_test_jint_at(a, "counts.by_state.queued"), TEST_ROWS - 3);
    assert_int_equal(gw_test_jint_at(a, "counts.by_state.closed"), 0);
    assert_int_equal(gw_test_jint_at(a, "counts.attempts"), 0);
    json_decref(a);
    assert_int_equal(
        request(f, "GET", "/api/v1/campaigns?limit=1", NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    json_t *items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(gw_test_jint_at(json_array_get(items, 0), "id"), id); /* newest first */
    assert_int_equal(gw_test_jint_at(json_array_get(items, 0), "counts.contacts"), TEST_ROWS - 3);
    char cursor[64];
    gw_test_format(cursor, sizeof(cursor), "/api/v1/campaigns?limit=1&cursor=%s",
                   gw_test_jstr(a, "next_cursor"));
    json_decref(a);
    assert_int_equal(request(f, "GET", cursor, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(gw_test_jint_at(json_array_get(items, 0), "id") < id);
    json_decref(a);
}

static void test_api_upload_with_bad_header_fails_and_says_why(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    long long id =
        create_campaign(f, "{\"name\":\"Hdr\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"}}");
    char path[128];
    json_t *a = NULL;
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    long st = request(f, "POST", path, "text/csv", "\n\nname,number\nAnn,5551234567\n", NULL, NULL,
                      &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "line 3: header: no phone column"));
    json_decref(a);
    assert_int_equal(sql_count(f->conn, "SELECT count(*) FROM uploads WHERE state = 'failed'"), 1);
    assert_int_equal(sql_count(f->conn, "SELECT count(*) FROM upload_rows r JOIN uploads u "
                                        "ON u.id = r.upload_id WHERE u.state = 'failed' "
                                        "AND r.line_no = 3 AND r.kind = 'rejected' "
                                        "AND r.reason LIKE 'header: no phone column%'"),
                     1);

    st = request(f, "POST", path, "text/csv", "phone1\n\"2125551234\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "line 2: quoted field not closed"));
    json_decref(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    ecm_test_log_init("test_gw_upload", ECM_LOG_WARN);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_upload_limits_share_helper_threads_and_slots),
        cmocka_unit_test(test_upload_report_reason_is_always_valid_utf8),
    };
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_api_campaign_life_cycle_and_validation),
        cmocka_unit_test(test_api_upload_streams_12000_rows_in_batches),
        cmocka_unit_test(test_api_upload_with_bad_header_fails_and_says_why),
        cmocka_unit_test(test_api_upload_of_a_troubled_csv_loads_or_reports_every_row),
        cmocka_unit_test(test_api_json_array_upload_reports_items_by_position),
        cmocka_unit_test(test_api_upload_stores_jurisdiction_and_subject_per_contact),
        cmocka_unit_test(test_api_upload_multibyte_rejections_cost_no_good_row),
        cmocka_unit_test(test_api_dnc_lists_by_upload_and_dnc_rows_load_closed),
        cmocka_unit_test(test_api_concurrent_uploads_to_one_campaign_load_each_number_once),
        cmocka_unit_test(test_api_upload_cut_short_by_the_reader_keeps_rows_before_it),
        cmocka_unit_test(test_api_uploads_over_the_cap_get_429_and_a_busy_pool_503),
    };
    int failed = cmocka_run_group_tests_name("pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db", db, setup_db, gw_test_api_teardown);
    curl_global_cleanup();
    return failed;
}
