/* gw_upload: phone check, header mapping, row validation into COPY lines,
 * the CSV-to-rows pipeline with line numbers; and, with ECM_TEST_PG_DSN, the
 * gateway's HTTP API against a scratch database: a campaign, its state
 * changes and a streamed upload of 12,000 rows. */
#include <signal.h>

#include <jansson.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_csv.h"
#include "gw_upload.h"
#include "ecm_test_support.h"

/* ---- phone ------------------------------------------------------------ */

static void test_phone_normalize_strips_punctuation_keeps_leading_plus(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(gw_phone_normalize("(555) 123-4567", "US", out, sizeof(out)), 0);
    assert_string_equal(out, "5551234567");
    assert_int_equal(gw_phone_normalize("+1 555.123.4567", "US", out, sizeof(out)), 0);
    assert_string_equal(out, "+15551234567");
    assert_int_equal(gw_phone_normalize("1234567", "US", out, sizeof(out)), 0);
    assert_string_equal(out, "1234567");
    assert_int_equal(gw_phone_normalize("12345678901234567890", "US", out, sizeof(out)), 0);
}

static void test_phone_normalize_rejects_what_is_not_a_number(void **state)
{
    (void)state;
    char out[32];
    static const char *const bad[] = {"123456",       "123456789012345678901", "555-CALL-NOW",
                                      "1+5551234567", "++15551234567",         "",
                                      "()- .",        "555\t1234567"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(out, sizeof(out), "junk");
        if (gw_phone_normalize(bad[i], "US", out, sizeof(out)) != -1) {
            fail_msg("'%s' was accepted as '%s'", bad[i], out);
        }
        assert_string_equal(out, "");
    }
    /* Too small an output is a failure, never a truncated number. */
    assert_int_equal(gw_phone_normalize("5551234567", "US", out, 8), -1);
}

/* ---- header and rows -------------------------------------------------- */

typedef struct {
    char store[1024];
    size_t n;
    const char *f[16];
    size_t l[16];
} rec;

/* Test records split on '|' so commas and tabs can be data. */
static void make_rec(rec *r, const char *fields)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->store, sizeof(r->store), "%s", fields);
    for (char *p = r->store;; p++) {
        char *bar = strchr(p, '|');
        r->f[r->n] = p;
        r->l[r->n] = bar ? (size_t)(bar - p) : strlen(p);
        r->n++;
        if (!bar) {
            break;
        }
        *bar = '\0';
        p = bar;
    }
}

static gw_upload_header *header_of(const char *fields, char *err, size_t err_size)
{
    rec h;
    make_rec(&h, fields);
    return gw_upload_header_parse(h.n, h.f, h.l, err, err_size);
}

/* Runs one row; returns 0/1/-1 as gw_upload_row_copy and the COPY text or
 * the reason in out. */
static int row(const gw_upload_header *h, long long line, const char *fields, char *out,
               size_t out_size)
{
    rec r;
    make_rec(&r, fields);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char reason[256] = "";
    int rc =
        gw_upload_row_copy(h, "US", line, r.n, r.f, r.l, &buf, &len, &cap, reason, sizeof(reason));
    snprintf(out, out_size, "%s", rc == 0 ? buf : reason);
    if (rc != 0) {
        assert_int_equal(len, 0);
    }
    free(buf);
    return rc;
}

static void test_upload_header_maps_columns_by_trimmed_case_insensitive_name(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h =
        header_of(" Segment |PHONE2| Account_Number |First_Name|last_name|phone1|Time_Zone", err,
                  sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 7, "gold|555 000 2222|A-1| Ann |Lee|(555) 000-1111|America/Chicago",
                         out, sizeof(out)),
                     0);
    assert_string_equal(out, "7\tA-1\tAnn\tLee\t{\"5550001111\",\"5550002222\"}\t"
                             "{\"Segment\":\"gold\"}\tAmerica/Chicago\n");
    gw_upload_header_free(h);
}

static void test_upload_row_escapes_custom_fields_for_copy(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h = header_of("phone3|note", err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 2, "+44 20 7946 0000|a\tb \\ \"q\"", out, sizeof(out)), 0);
    /* Missing names and time zone are NULL (\N); the note's tab and
     * backslash are JSON-escaped, then the backslashes COPY-escaped. */
    assert_string_equal(out, "2\t\\N\t\\N\t\\N\t{\"+442079460000\"}\t"
                             "{\"note\":\"a\\\\tb \\\\\\\\ \\\\\"q\\\\\"\"}\t\\N\n");
    gw_upload_header_free(h);
}

static void test_upload_header_refusals_say_why(void **state)
{
    (void)state;
    char err[200];
    assert_null(header_of("first_name|last_name", err, sizeof(err)));
    assert_non_null(strstr(err, "no phone column"));
    assert_null(header_of("phone1|Phone1", err, sizeof(err)));
    assert_non_null(strstr(err, "appears twice"));
    assert_null(header_of("phone1||x", err, sizeof(err)));
    assert_non_null(strstr(err, "column 2 has no name"));
}

static void test_upload_row_rejections_name_the_column(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h =
        header_of("first_name|last_name|phone1|phone2|time_zone", err, sizeof(err));
    assert_non_null(h);
    static const struct {
        const char *fields, *reason;
    } cases[] = {
        {"Ann|Lee|5551234567", "expected 5 fields, found 3"},
        {"Ann|Lee|5551234567||UTC|x", "expected 5 fields, found 6"},
        {"Ann|Lee|12-AB||", "phone1: '12-AB' is not a phone number"},
        {"Ann|Lee||555 12|", "phone2: '555 12' is not a phone number"},
        {"Ann|Lee|||", "no phone number (phone1 .. phone10 are empty)"},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|Lee|5551234567||",
         "first_name: longer than 50 characters"},
        {"Ann|Lee|5551234567||New York", "time_zone: 'New York' is not a time zone name"},
        {"Ann|L\xC3|5551234567||", "last_name: not valid UTF-8 text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (row(h, 3, cases[i].fields, out, sizeof(out)) != 1 ||
            strcmp(out, cases[i].reason) != 0) {
            fail_msg("'%s': got '%s', expected '%s'", cases[i].fields, out, cases[i].reason);
        }
    }
    /* 50 characters of two bytes each are within the limit. */
    char name[128] = "";
    for (int i = 0; i < 50; i++) {
        memcpy(name + 2 * i, "\xC3\xA9", 3);
    }
    char fields[256];
    snprintf(fields, sizeof(fields), "%s|Lee|5551234567||", name);
    assert_int_equal(row(h, 3, fields, out, sizeof(out)), 0);
    gw_upload_header_free(h);
}

static void test_upload_row_with_nul_byte_is_rejected(void **state)
{
    (void)state;
    char err[200];
    gw_upload_header *h = header_of("phone1|note", err, sizeof(err));
    const char *f[] = {"5551234567", "a\0b"};
    size_t l[] = {10, 3};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char reason[200];
    assert_int_equal(
        gw_upload_row_copy(h, "US", 9, 2, f, l, &buf, &len, &cap, reason, sizeof(reason)), 1);
    assert_string_equal(reason, "note: not valid UTF-8 text");
    free(buf);
    gw_upload_header_free(h);
}

/* The pipeline the upload handler runs, without the DB: records with
 * lines, header, rows; rejected rows as "line:reason" and loaded lines. */
typedef struct {
    gw_upload_header *h;
    char rejected[1024];
    char loaded[256];
} pipe_state;

static int pipe_record(void *ctx, long long line, size_t n, const char *const *f, const size_t *l)
{
    pipe_state *p = ctx;
    char err[200];
    if (!p->h) {
        p->h = gw_upload_header_parse(n, f, l, err, sizeof(err));
        assert_non_null(p->h);
        return 0;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = gw_upload_row_copy(p->h, "US", line, n, f, l, &buf, &len, &cap, err, sizeof(err));
    if (rc == 1) {
        size_t used = strlen(p->rejected);
        snprintf(p->rejected + used, sizeof(p->rejected) - used, "%lld:%s;", line, err);
    } else {
        assert_int_equal(rc, 0);
        /* The COPY line starts with the line number. */
        assert_int_equal(strtoll(buf, NULL, 10), line);
        size_t used = strlen(p->loaded);
        snprintf(p->loaded + used, sizeof(p->loaded) - used, "%lld;", line);
    }
    free(buf);
    return 0;
}

static void test_upload_pipeline_reports_rejected_rows_on_their_lines(void **state)
{
    (void)state;
    const char csv[] = "\xEF\xBB\xBF"
                       "phone1,first_name,note\r\n"          /* 1 */
                       "5551230001,Ann,\"two\r\nlines\"\r\n" /* 2-3 */
                       "\r\n"                                /* 4 */
                       "5551230002,Bob\r\n"                  /* 5: 2 fields */
                       "bad-phone,Cy,\"x\ny\nz\"\r\n"        /* 6-8 */
                       "5551230004,Di,\"a,b\"\r\n"           /* 9 */
                       "5551230005,Ed,e,extra\n"             /* 10: 4 fields */
                       "5551230006,Flo,last";                /* 11 */
    for (size_t chunk = 1; chunk <= 17; chunk += 4) {
        pipe_state p = {0};
        char err[200];
        gw_csv *c = gw_csv_new(4096, pipe_record, &p);
        for (size_t off = 0; off < sizeof(csv) - 1; off += chunk) {
            size_t n = sizeof(csv) - 1 - off < chunk ? sizeof(csv) - 1 - off : chunk;
            assert_int_equal(gw_csv_feed(c, csv + off, n, err, sizeof(err)), 0);
        }
        assert_int_equal(gw_csv_finish(c, err, sizeof(err)), 0);
        gw_csv_free(c);
        assert_string_equal(p.rejected, "5:expected 3 fields, found 2;"
                                        "6:phone1: 'bad-phone' is not a phone number;"
                                        "10:expected 3 fields, found 4;");
        assert_string_equal(p.loaded, "2;9;11;");
        gw_upload_header_free(p.h);
    }
}

/* ---- HTTP against a scratch DB ----------------------------------------- */

#define TEST_ROWS 12000
#define PORT_FIRST 20450
#define PORT_LAST 20499

typedef struct {
    ecm_test_db *db; /* the scratch database */
    PGconn *conn;    /* for checks */
    ecm_pg_pool *pool;
    ecm_http *http;
    gw_app app;
    int port;
    volatile sig_atomic_t stop;
} fixture;

static long long sql_count(PGconn *c, const char *sql)
{
    return ecm_test_pg_int(c, "%s", sql);
}

static int setup_db(void **state)
{
    if (!ecm_test_pg_dsn()) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_gateway");
    f->conn = ecm_test_pg_connect(f->db->dsn);

    f->pool = ecm_pg_pool_new(f->db->dsn, 4, &f->stop);
    assert_non_null(f->pool);
    f->app = (gw_app){
        .pool = f->pool,
        .source = "/ecm/gateway-test",
        .topic_campaigns = "campaigns.changed",
        .topic_uploaded = "contacts.uploaded",
        .upload_batch = 5000,
        .upload_max_record = 65536,
    };
    for (f->port = PORT_FIRST; f->port <= PORT_LAST; f->port++) {
        f->http = ecm_http_new("127.0.0.1", f->port, NULL);
        assert_non_null(f->http);
        assert_int_equal(gw_campaigns_register(f->http, &f->app), 0);
        assert_int_equal(gw_upload_register(f->http, &f->app), 0);
        if (ecm_http_start(f->http) == 0) {
            break;
        }
        ecm_http_destroy(f->http);
        f->http = NULL;
    }
    assert_non_null(f->http);
    *state = f;
    return 0;
}

static int teardown_db(void **state)
{
    fixture *f = *state;
    if (!f) {
        return 0;
    }
    ecm_http_destroy(f->http);
    ecm_pg_pool_destroy(f->pool);
    PQfinish(f->conn);
    (void)ecm_test_db_destroy(f->db);
    free(f);
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
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
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
    if (location) {
        (void)ecm_test_http_header(&a, "Location", location, location_size);
    }
    long status = a.status;
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    ecm_test_http_answer_free(&a);
    return status;
}

static long long jint(json_t *obj, const char *path)
{
    /* "a.b.c" through nested objects. */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = obj;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, k);
    }
    if (!json_is_integer(v)) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("%s is not an integer in %s", path, d);
    }
    return json_integer_value(v);
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("%s is not a string in %s", key, d);
    }
    return json_string_value(v);
}

/* Generates the CSV as libcurl asks for it: BOM, CRLF, a header, TEST_ROWS
 * rows with a few bad ones, a quoted newline and a blank line, and writes
 * down the line of every row it makes bad. */
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
        n = snprintf(p, cap,
                     "\xEF\xBB\xBF"
                     "Account_Number,first_name,last_name,phone1,phone2,note\r\n");

    } else {
        int i = g->row;
        long long start = g->line + 1;
        if (i == 11000) {
            n = snprintf(p, cap, "\r\n"); /* a blank line first */
            start++;
        }
        if (i == 100) {
            n += snprintf(p + n, cap - n,
                          "ACC%d,First%d,Last%d,(555) 01-%05d,,\"two\r\nlines\"\r\n", i, i, i, i);
            g->line_of_row_100 = start;
        } else if (i == 500) {
            n += snprintf(p + n, cap - n, "ACC%d,First%d,Last%d,12-AB,,x\r\n", i, i, i);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "phone1: '12-AB' is not a phone number";
        } else if (i == 5000) {
            n += snprintf(p + n, cap - n, "ACC%d,First%d,Last%d,(555) 01-%05d,x\r\n", i, i, i, i);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "expected 6 fields, found 5";
        } else if (i == 9000) {
            n += snprintf(p + n, cap - n, "ACC%d,%060d,Last%d,(555) 01-%05d,,x\r\n", i, 0, i, i);
            g->bad_lines[g->nbad] = start;
            g->bad_reasons[g->nbad++] = "first_name: longer than 50 characters";
        } else {
            n += snprintf(p + n, cap - n, "ACC%d,First%d,Last%d,(555) 01-%05d,555 99 %05d,\r\n", i,
                          i, i, i, i);
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
    long long id = jint(a, "id");
    char expected[64];
    snprintf(expected, sizeof(expected), "/api/v1/campaigns/%lld", id);
    assert_string_equal(location, expected);
    assert_string_equal(jstr(a, "state"), "draft");
    json_decref(a);
    return id;
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
    assert_non_null(strstr(jstr(a, "type"), "validation"));
    assert_non_null(strstr(jstr(a, "detail"), "cisco"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"strategy\":\"Nope\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(jstr(a, "detail"), "strategy"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"Mars/Olympus\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(jstr(a, "detail"), "time_zone"));
    json_decref(a);

    long long id = create_campaign(
        f, "{\"name\":\"Life\",\"channel\":\"voice_agent\",\"time_zone\":\"America/New_York\","
           "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"42\"},"
           "\"start_at\":\"2026-01-01T09:00:00+01:00\"}");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/pause", id);
    st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    assert_non_null(strstr(jstr(a, "type"), "conflict"));
    json_decref(a);
    static const struct {
        const char *action, *state;
    } steps[] = {
        {"activate", "active"}, {"pause", "paused"}, {"activate", "active"}, {"stop", "stopped"}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/%s", id, steps[i].action);
        st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
        assert_int_equal(st, 200);
        assert_string_equal(jstr(a, "state"), steps[i].state);
        json_decref(a);
    }
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/activate", id);
    assert_int_equal(request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 409);
    json_decref(a);

    /* A stopped campaign takes no uploads. */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    st = request(f, "POST", path, "text/csv", "phone1\n5551234567\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    json_decref(a);

    /* One CampaignChanged per change, creation included, keyed by id. */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.CampaignChanged' "
             "AND msg_key = '%lld'",
             id);
    assert_int_equal(sql_count(f->conn, sql), 5);

    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(jstr(a, "start_at"), "2026-01-01T08:00:00.000Z");
    assert_string_equal(jstr(json_object_get(a, "cisco"), "campaign_id"), "42");
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
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(request(f, "POST", path, "multipart/form-data; boundary=x", "--x--", NULL,
                             NULL, &a, NULL, 0),
                     415);
    assert_non_null(strstr(jstr(a, "detail"), "text/csv"));
    json_decref(a);

    generator g = {0};
    long st =
        request(f, "POST", path, "text/csv; charset=utf-8", NULL, read_generated, &g, &a, NULL, 0);
    if (st != 202) {
        char *d = json_dumps(a, JSON_COMPACT);
        fail_msg("upload answered %ld: %s", st, d);
    }
    assert_int_equal(g.nbad, 3);
    assert_int_equal(jint(a, "rows_read"), TEST_ROWS);
    assert_int_equal(jint(a, "rows_rejected"), 3);
    assert_int_equal(jint(a, "rows_loaded"), TEST_ROWS - 3);
    long long upload_id = jint(a, "upload_id");
    char report[64];
    snprintf(report, sizeof(report), "/api/v1/uploads/%lld", upload_id);
    assert_string_equal(jstr(a, "report_url"), report);
    json_t *errors = json_object_get(a, "errors");
    assert_int_equal(json_array_size(errors), 3);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(errors, (size_t)i);
        assert_int_equal(jint(e, "line"), g.bad_lines[i]);
        assert_string_equal(jstr(e, "reason"), g.bad_reasons[i]);
    }
    json_decref(a);

    /* Every loaded contact has exactly one ContactUploaded, keyed by its id. */
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE upload_id = %lld", upload_id);
    assert_int_equal(sql_count(f->conn, sql), TEST_ROWS - 3);
    assert_int_equal(
        sql_count(f->conn, "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.ContactUploaded'"),
        TEST_ROWS - 3);
    assert_int_equal(sql_count(f->conn, "SELECT count(DISTINCT o.msg_key) FROM outbox o JOIN "
                                        "contacts c ON o.msg_key = c.id::text "
                                        "WHERE o.ce_type = 'ecm.v1.ContactUploaded'"),
                     TEST_ROWS - 3);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM contacts WHERE account_number = 'ACC100' AND line_no = %lld "
             "AND custom->>'note' = E'two\\r\\nlines'",
             g.line_of_row_100);
    assert_int_equal(sql_count(f->conn, sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM contacts WHERE account_number = 'ACC%d' AND line_no = %lld "
             "AND phones = ARRAY['55501%05d', '55599%05d'] AND first_name = 'First%d'",
             TEST_ROWS, g.line_of_last_row, TEST_ROWS, TEST_ROWS, TEST_ROWS);
    assert_int_equal(sql_count(f->conn, sql), 1);

    /* The event itself. */
    PGresult *r = PQexec(f->conn, "SELECT encode(o.payload, 'hex'), c.id FROM outbox o JOIN "
                                  "contacts c ON o.msg_key = c.id::text "
                                  "WHERE c.account_number = 'ACC1' "
                                  "AND o.ce_type = 'ecm.v1.ContactUploaded'");
    assert_int_equal(PQntuples(r), 1);
    const char *hex = PQgetvalue(r, 0, 0);
    size_t n = strlen(hex) / 2;
    uint8_t *bytes = malloc(n);
    for (size_t i = 0; i < n; i++) {
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        bytes[i] = (uint8_t)strtol(two, NULL, 16);
    }
    Ecm__V1__ContactUploaded *ev = ecm__v1__contact_uploaded__unpack(NULL, n, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, strtoll(PQgetvalue(r, 0, 1), NULL, 10));
    assert_int_equal(ev->campaign_id, id);
    assert_int_equal(ev->upload_id, upload_id);
    assert_int_equal(ev->attempt, 1);
    assert_int_equal(ev->channel, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR);
    assert_int_equal(strlen(ev->event_id), 36);
    ecm__v1__contact_uploaded__free_unpacked(ev, NULL);
    free(bytes);
    PQclear(r);

    /* The report, paged. */
    snprintf(path, sizeof(path), "/api/v1/uploads/%lld?offset=1&limit=1", upload_id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(jstr(a, "state"), "done");
    assert_int_equal(jint(a, "errors_total"), 3);
    assert_int_equal(json_array_size(json_object_get(a, "errors")), 1);
    assert_int_equal(jint(json_array_get(json_object_get(a, "errors"), 0), "line"), g.bad_lines[1]);
    json_decref(a);

    /* The campaign's counts, alone and in the list. */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_int_equal(jint(a, "counts.contacts"), TEST_ROWS - 3);
    assert_int_equal(jint(a, "counts.by_state.pending"), TEST_ROWS - 3);
    assert_int_equal(jint(a, "counts.by_state.closed"), 0);
    assert_int_equal(jint(a, "counts.attempts"), 0);
    json_decref(a);
    assert_int_equal(
        request(f, "GET", "/api/v1/campaigns?limit=1", NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    json_t *items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(jint(json_array_get(items, 0), "id"), id); /* newest first */
    assert_int_equal(jint(json_array_get(items, 0), "counts.contacts"), TEST_ROWS - 3);
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "/api/v1/campaigns?limit=1&cursor=%s", jstr(a, "next_cursor"));
    json_decref(a);
    assert_int_equal(request(f, "GET", cursor, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(jint(json_array_get(items, 0), "id") < id);
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
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    long st = request(f, "POST", path, "text/csv", "\n\nname,number\nAnn,5551234567\n", NULL, NULL,
                      &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(jstr(a, "detail"), "line 3: header: no phone column"));
    json_decref(a);
    assert_int_equal(sql_count(f->conn, "SELECT count(*) FROM uploads WHERE state = 'failed'"), 1);

    st = request(f, "POST", path, "text/csv", "phone1\n\"5551234567\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(jstr(a, "detail"), "line 2: quoted field not closed"));
    json_decref(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    ecm_log_init("test_gw_upload", ECM_LOG_WARN);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_phone_normalize_strips_punctuation_keeps_leading_plus),
        cmocka_unit_test(test_phone_normalize_rejects_what_is_not_a_number),
        cmocka_unit_test(test_upload_header_maps_columns_by_trimmed_case_insensitive_name),
        cmocka_unit_test(test_upload_row_escapes_custom_fields_for_copy),
        cmocka_unit_test(test_upload_header_refusals_say_why),
        cmocka_unit_test(test_upload_row_rejections_name_the_column),
        cmocka_unit_test(test_upload_row_with_nul_byte_is_rejected),
        cmocka_unit_test(test_upload_pipeline_reports_rejected_rows_on_their_lines),
    };
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_api_campaign_life_cycle_and_validation),
        cmocka_unit_test(test_api_upload_streams_12000_rows_in_batches),
        cmocka_unit_test(test_api_upload_with_bad_header_fails_and_says_why),
    };
    int failed = cmocka_run_group_tests_name("pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db", db, setup_db, teardown_db);
    curl_global_cleanup();
    return failed;
}
