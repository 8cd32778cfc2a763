/* Uploads cut off (issue 12): the owner's lease, the sweep that marks
 * uploads whose lease is past 'interrupted', the fence that stops a stale
 * owner, and POST /api/v1/uploads/{id}/resume. The gateway's upload routes
 * run on a scratch database; an upload is cut off by holding its body in
 * the client while the test lets its lease run out, as a stalled or dead
 * gateway would. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "ecm_event.h"
#include "gw_campaigns.h"
#include "gw_test_support.h"
#include "gw_upload.h"
#include "gw_upload_lease.h"

#define PORT_FIRST 20550
#define PORT_LAST 20599
#define BATCH 100
#define ROWS 2000
/* Every BAD_EVERY-th row is rejected, so the report has lines to check. */
#define BAD_EVERY 97

typedef gw_test_api fixture;

static int setup_db(void **state)
{
    gw_app settings = gw_test_settings();
    settings.upload_batch = BATCH;
    settings.upload_max_record = 65536;
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_upload_register, NULL};
    *state = gw_test_api_new("ecm_gw_lease", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

/* A CSV of ROWS rows (row i on line i + 1), numbers distinct per salt,
 * every BAD_EVERY-th row with a number that has letters. Malloc'd. */
static char *make_csv(int salt)
{
    size_t cap = 64 * (ROWS + 2), used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "phone1,note\n");
    for (int i = 1; i <= ROWS; i++) {
        if (i % BAD_EVERY == 0) {
            used += gw_test_format(csv + used, cap - used, "12-AB,row %d\n", i);
        } else {
            used += gw_test_format(csv + used, cap - used, "(212) %03d-%04d,row %d\n",
                                   200 + salt * 10 + i / 10000, i % 10000, i);
        }
    }
    return csv;
}

/* The same file as JSON: an array of objects, item i = row i. */
static char *make_json(int salt)
{
    size_t cap = 64 * (ROWS + 2), used = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    used += gw_test_format(s, cap, "[");
    for (int i = 1; i <= ROWS; i++) {
        const char *sep = i > 1 ? ",\n" : "\n";
        if (i % BAD_EVERY == 0) {
            used += gw_test_format(s + used, cap - used, "%s{\"phone1\":\"12-AB\"}", sep);
        } else {
            used += gw_test_format(s + used, cap - used, "%s{\"phone1\":\"(212) %03d-%04d\"}", sep,
                                   200 + salt * 10 + i / 10000, i % 10000);
        }
    }
    used += gw_test_format(s + used, cap - used, "\n]\n");
    return s;
}

static long long voice_campaign(fixture *f, const char *name)
{
    char body[256];
    gw_test_voice_campaign_body(body, sizeof(body), name);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns", body, &a), 201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    return id;
}

/* ---- a client that holds its body ------------------------------------ */

/* A body sent in 1000-byte pieces up to hold_at bytes, then held until the
 * test releases it; the request's answer once it ends. Shared between the
 * test thread and the client thread under mu. */
typedef struct {
    int port;
    char path[128];
    const char *content_type;
    const char *body;
    size_t len, off, hold_at;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int released;
    long status;
    char answer[4096];
    size_t answer_len;
    pthread_t thread;
} held_client;

static size_t held_read(char *buf, size_t size, size_t n, void *ctx)
{
    held_client *h = ctx;
    pthread_mutex_lock(&h->mu);
    while (h->off >= h->hold_at && !h->released) {
        pthread_cond_wait(&h->cv, &h->mu);
    }
    size_t end = h->released ? h->len : h->hold_at;
    size_t k = end - h->off;
    if (k > size * n) {
        k = size * n;
    }
    if (k > 1000) {
        k = 1000;
    }
    memcpy(buf, h->body + h->off, k);
    h->off += k;
    pthread_mutex_unlock(&h->mu);
    return k;
}

static size_t held_write(char *data, size_t size, size_t n, void *ctx)
{
    held_client *h = ctx;
    size_t k = size * n;
    size_t room = sizeof(h->answer) - 1 - h->answer_len;
    size_t take = k < room ? k : room;
    memcpy(h->answer + h->answer_len, data, take);
    h->answer_len += take;
    h->answer[h->answer_len] = '\0';
    return k;
}

static void *held_run(void *arg)
{
    held_client *h = arg;
    char url[256], ct[128];
    gw_test_format(url, sizeof(url), "http://127.0.0.1:%d%s", h->port, h->path);
    gw_test_format(ct, sizeof(ct), "Content-Type: %s", h->content_type);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    hdrs = curl_slist_append(hdrs, ct);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, held_read);
    curl_easy_setopt(c, CURLOPT_READDATA, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, held_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    pthread_mutex_lock(&h->mu);
    h->status = status;
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void held_start(held_client *h, const fixture *f, const char *path, const char *content_type,
                       const char *body, size_t hold_at)
{
    memset(h, 0, sizeof(*h));
    h->port = f->port;
    gw_test_format(h->path, sizeof(h->path), "%s", path);
    h->content_type = content_type;
    h->body = body;
    h->len = strlen(body);
    h->hold_at = hold_at;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    assert_int_equal(pthread_create(&h->thread, NULL, held_run, h), 0);
}

/* Lets the rest of the body go and waits for the answer. */
static long held_finish(held_client *h)
{
    pthread_mutex_lock(&h->mu);
    h->released = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    return h->status;
}

/* Waits (at most 60 s, polling) until the query's single integer is want;
 * fails the test otherwise. */
static void wait_int(fixture *f, long long want, const char *sql)
{
    long long got = -1;
    for (int i = 0; i < 6000; i++) {
        got = ecm_test_pg_int(f->conn, "%s", sql);
        if (got == want) {
            return;
        }
        ecm_test_sleep_ms(10);
    }
    fail_msg("%s: %lld after 60 s, want %lld", sql, got, want);
}

/* The byte offset just after row `row` of text (lines end with '\n'; the
 * first line is the header or the '['). */
static size_t offset_after_row(const char *text, int row)
{
    const char *p = text;
    for (int i = 0; i <= row; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    return (size_t)(p - text);
}

/* Starts an upload of body to campaign, holds the body after row 555 (the
 * batches of rows 1-500 load, the next one waits), and once they are in,
 * lets the lease run out (as when the gateway stalls) and sweeps as another
 * replica would: the upload reads 'interrupted' after line 501 (CSV; item
 * 500 for JSON). The held client is left for the caller to finish. */
static long long cut_off_upload(fixture *f, held_client *h, long long campaign,
                                const char *content_type, const char *body)
{
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", campaign);
    held_start(h, f, path, content_type, body, offset_after_row(body, 555));
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM uploads WHERE campaign_id = %lld AND rows_read = 500",
                   campaign);
    wait_int(f, 1, sql);
    long long id =
        ecm_test_pg_int(f->conn, "SELECT id FROM uploads WHERE campaign_id = %lld", campaign);
    ecm_test_pg_exec(f->conn,
                     "UPDATE uploads SET lease_until = now() - interval '1 second' "
                     "WHERE id = %lld",
                     id);
    ecm_pg *pg = ecm_pg_pool_get(f->pool);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 1);
    ecm_pg_pool_put(f->pool, pg);
    return id;
}

static json_t *get_upload(fixture *f, long long id)
{
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    return a;
}

static long resume(fixture *f, long long id, const char *content_type, const char *body,
                   json_t **answer)
{
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld/resume", id);
    return gw_test_send(f, "POST", path, content_type, body, answer, NULL, 0);
}

/* ---- the sweep --------------------------------------------------------- */

/* Only running uploads whose lease is past are marked, with their counts
 * and committed line kept and an UploadInterrupted each; a row locked by
 * its owner's batch transaction is skipped until that ends. */
static void test_sweep_marks_only_uploads_whose_lease_is_past(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = voice_campaign(f, "Sweep");
    const char *ins = "INSERT INTO uploads (kind, campaign_id, state, owner, lease_until, "
                      "committed_line, rows_read, rows_loaded, rows_rejected) VALUES "
                      "('contacts', %lld, '%s', 'gone', now() + interval '%s', %d, %d, %d, 1) "
                      "RETURNING id";
    long long expired = ecm_test_pg_int(f->conn, ins, c, "running", "-5 seconds", 41, 40, 39);
    long long alive = ecm_test_pg_int(f->conn, ins, c, "running", "60 seconds", 11, 10, 10);
    long long done = ecm_test_pg_int(f->conn, ins, c, "done", "-5 seconds", 3, 2, 2);
    long long locked = ecm_test_pg_int(f->conn, ins, c, "running", "-5 seconds", 7, 6, 6);
    PGconn *owner = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(owner, "BEGIN");
    ecm_test_pg_exec(owner, "SELECT 1 FROM uploads WHERE id = %lld FOR UPDATE", locked);

    ecm_pg *pg = ecm_pg_pool_get(f->pool);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 1);
    char *st = ecm_test_pg_text(f->conn,
                                "SELECT state || ' ' || committed_line || ' ' || "
                                "rows_read || ' ' || rows_loaded || ' ' || "
                                "(interrupted_at IS NOT NULL) FROM uploads WHERE id = %lld",
                                expired);
    assert_string_equal(st, "interrupted 41 40 39 true");
    free(st);
    const long long untouched[] = {alive, done, locked};
    const char *const was[] = {"running", "done", "running"};
    for (int i = 0; i < 3; i++) {
        st = ecm_test_pg_text(f->conn, "SELECT state FROM uploads WHERE id = %lld", untouched[i]);
        assert_string_equal(st, was[i]);
        free(st);
    }
    /* The event: on the configured topic, keyed by the upload. */
    size_t len;
    char type[64];
    unsigned char *payload =
        ecm_test_outbox_payload(f->conn, "uploads.changed", expired, &len, type, sizeof(type));
    assert_string_equal(type, "ecm.v1.UploadInterrupted");
    Ecm__V1__UploadInterrupted *ev = ecm__v1__upload_interrupted__unpack(NULL, len, payload);
    PQfreemem(payload);
    assert_non_null(ev);
    assert_int_equal(ev->upload_id, expired);
    assert_int_equal(ev->campaign_id, c);
    assert_string_equal(ev->kind, "contacts");
    assert_int_equal(ev->committed_line, 41);
    assert_int_equal(ev->rows_read, 40);
    assert_int_equal(ev->rows_loaded, 39);
    assert_int_equal(ev->rows_rejected, 1);
    assert_string_equal(ev->owner, "gone");
    ecm__v1__upload_interrupted__free_unpacked(ev, NULL);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM outbox WHERE topic = 'uploads.changed'"), 1);

    /* GET shows it, with where a resume goes on from. */
    json_t *a = get_upload(f, expired);
    assert_string_equal(gw_test_jstr(a, "state"), "interrupted");
    assert_int_equal(gw_test_jint(a, "committed_line"), 41);
    assert_int_equal(gw_test_jint(a, "rows_loaded"), 39);
    char want[64];
    gw_test_format(want, sizeof(want), "/api/v1/uploads/%lld/resume", expired);
    assert_string_equal(gw_test_jstr(a, "resume_url"), want);
    json_decref(a);

    /* Once the owner's transaction is over, the next sweep takes it. */
    ecm_test_pg_exec(owner, "COMMIT");
    PQfinish(owner);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 1);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 0);
    ecm_pg_pool_put(f->pool, pg);
    st = ecm_test_pg_text(f->conn, "SELECT state FROM uploads WHERE id = %lld", locked);
    assert_string_equal(st, "interrupted");
    free(st);
}

/* Two replicas: the owner renews the lease of the uploads it holds, so the
 * other one's sweep leaves them alone; an upload of an owner that stopped
 * renewing is marked. */
static void test_renewed_uploads_are_not_marked_by_another_replica(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = voice_campaign(f, "Replicas");
    gw_upload_lease *mine = gw_upload_lease_new(30);
    gw_upload_lease *other = gw_upload_lease_new(30);
    assert_non_null(mine);
    assert_non_null(other);
    assert_string_not_equal(gw_upload_lease_owner(mine), gw_upload_lease_owner(other));
    const char *ins = "INSERT INTO uploads (kind, campaign_id, owner, lease_until) VALUES "
                      "('contacts', %lld, '%s', now() + interval '1 second') RETURNING id";
    long long held = ecm_test_pg_int(f->conn, ins, c, gw_upload_lease_owner(mine));
    long long dropped = ecm_test_pg_int(f->conn, ins, c, gw_upload_lease_owner(mine));
    long long theirs = ecm_test_pg_int(f->conn, ins, c, gw_upload_lease_owner(other));
    assert_int_equal(gw_upload_lease_hold(mine, held), 0);
    assert_int_equal(gw_upload_lease_hold(mine, dropped), 0);
    assert_int_equal(gw_upload_lease_hold(mine, theirs), 0); /* not its own: not renewed */
    gw_upload_lease_drop(mine, dropped);
    assert_int_equal(gw_upload_lease_held(mine), 2);
    ecm_pg *pg = ecm_pg_pool_get(f->pool);
    /* The leases run out (1 s), the owner renews meanwhile: only the
     * upload it still holds and owns gets 30 s more. */
    char sql[160];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM uploads WHERE campaign_id = %lld AND lease_until < now()",
                   c);
    wait_int(f, 3, sql);
    assert_int_equal(gw_upload_lease_renew(mine, pg), 1);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 2);
    char *st = ecm_test_pg_text(f->conn,
                                "SELECT string_agg(state, ',' ORDER BY x.o) FROM uploads u JOIN "
                                "(VALUES (%lld, 1), (%lld, 2), (%lld, 3)) x (id, o) ON x.id = u.id",
                                held, dropped, theirs);
    assert_string_equal(st, "running,interrupted,interrupted");
    free(st);
    ecm_pg_pool_put(f->pool, pg);
    gw_upload_lease_destroy(mine);
    gw_upload_lease_destroy(other);
}

/* ---- the fence and the resume ----------------------------------------- */

/* The owner of an upload marked interrupted (it stalled past its lease)
 * loads nothing more: its next batch rolls back, the client gets 409 and
 * the upload stays 'interrupted' with what was committed. */
static void test_api_stale_owner_is_fenced(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = voice_campaign(f, "Fenced");
    char *csv = make_csv(0);
    held_client h;
    long long id = cut_off_upload(f, &h, c, "text/csv", csv);
    long st = held_finish(&h);
    assert_int_equal(st, 409);
    json_t *a = json_loads(h.answer, 0, NULL);
    assert_non_null(a);
    assert_string_equal(gw_test_jstr(a, "title"), "Upload interrupted");
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "resume"));
    json_decref(a);
    /* 500 rows read, 5 rejected (97, ..., 485), the rest loaded; no more. */
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", c), 495);
    a = get_upload(f, id);
    assert_string_equal(gw_test_jstr(a, "state"), "interrupted");
    assert_int_equal(gw_test_jint(a, "committed_line"), 501);
    assert_int_equal(gw_test_jint(a, "rows_read"), 500);
    assert_int_equal(gw_test_jint(a, "rows_loaded"), 495);
    assert_int_equal(gw_test_jint(a, "rows_rejected"), 5);
    json_decref(a);
    free(csv);
}

/* The report of a whole-file upload: "line:kind;" for every row. */
static char *report_of(fixture *f, long long id)
{
    return ecm_test_pg_text(f->conn,
                            "SELECT coalesce(string_agg(line_no || ':' || kind, ';' ORDER BY "
                            "line_no), '') FROM upload_rows WHERE upload_id = %lld",
                            id);
}

/* What the report must say of a file of make_csv (line = row + 1) or
 * make_json (line = row): every BAD_EVERY-th row rejected. */
static char *expected_report(int line_offset)
{
    size_t cap = 64 * (ROWS / BAD_EVERY + 1);
    char *s = calloc(1, cap);
    assert_non_null(s);
    size_t used = 0;
    for (int i = BAD_EVERY; i <= ROWS; i += BAD_EVERY) {
        used +=
            gw_test_format(s + used, cap - used, "%s%d:rejected", used ? ";" : "", i + line_offset);
    }
    return s;
}

/* Resume after the committed line: rows before it neither validated again
 * nor reported as duplicates, the report on the file's own lines, the
 * totals those of the whole file, every row loaded once. */
static void resume_loads_the_rest(fixture *f, const char *content_type, char *body, int line_offset)
{
    long long c = voice_campaign(f, "Resumed");
    held_client h;
    long long id = cut_off_upload(f, &h, c, content_type, body);
    assert_int_equal(held_finish(&h), 409);
    json_t *a = NULL;
    long st = resume(f, id, content_type, body, &a);
    if (st != 202) {
        fail_msg("resume answered %ld: %s", st, json_dumps(a, JSON_COMPACT));
    }
    assert_string_equal(gw_test_jstr(a, "state"), "done");
    const long long rejected = ROWS / BAD_EVERY;
    assert_int_equal(gw_test_jint(a, "rows_read"), ROWS);
    assert_int_equal(gw_test_jint(a, "rows_loaded"), ROWS - rejected);
    assert_int_equal(gw_test_jint(a, "rows_rejected"), rejected);
    assert_int_equal(gw_test_jint(a, "rows_duplicate"), 0);
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", c),
        ROWS - rejected);
    /* Each good line once, on its own line number. */
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(DISTINCT line_no) FROM contacts "
                                     "WHERE campaign_id = %lld AND line_no BETWEEN %d AND %d",
                                     c, 1 + line_offset, ROWS + line_offset),
                     ROWS - rejected);
    char *report = report_of(f, id);
    char *want = expected_report(line_offset);
    assert_string_equal(report, want);
    free(report);
    free(want);
    a = get_upload(f, id);
    assert_string_equal(gw_test_jstr(a, "state"), "done");
    assert_int_equal(gw_test_jint(a, "resumes"), 1);
    assert_int_equal(gw_test_jint(a, "committed_line"), ROWS + line_offset);
    assert_true(json_is_string(json_object_get(a, "finished_at")));
    assert_null(json_object_get(a, "resume_url"));
    json_decref(a);
    free(body);
}

static void test_api_resume_of_a_csv_loads_after_the_committed_line(void **state)
{
    fixture *f = ecm_test_need(*state);
    resume_loads_the_rest(f, "text/csv", make_csv(1), 1);
}

static void test_api_resume_of_a_json_array_loads_after_the_committed_item(void **state)
{
    fixture *f = ecm_test_need(*state);
    resume_loads_the_rest(f, "application/json", make_json(2), 0);
}

/* Another file, or one shorter than what was loaded, is refused with
 * nothing loaded, and the upload stays resumable; the same file then
 * goes in. */
static void test_api_resume_with_another_file_is_refused(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = voice_campaign(f, "Other file");
    char *csv = make_csv(3);
    held_client h;
    long long id = cut_off_upload(f, &h, c, "text/csv", csv);
    assert_int_equal(held_finish(&h), 409);
    long long before =
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", c);
    long long reported =
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM upload_rows WHERE upload_id = %lld", id);
    /* One byte changed in the loaded part (row 10's note). */
    char *other = strdup(csv);
    assert_non_null(other);
    char *p = strstr(other, "row 10\n");
    assert_non_null(p);
    p[4] = '9';
    /* The loaded part's lines cut short. */
    char *shorter = strndup(csv, offset_after_row(csv, 300));
    assert_non_null(shorter);
    const char *const bad[] = {other, shorter};
    for (int i = 0; i < 2; i++) {
        json_t *a = NULL;
        assert_int_equal(resume(f, id, "text/csv", bad[i], &a), 409);
        assert_string_equal(gw_test_jstr(a, "title"), "Not the same file");
        assert_non_null(strstr(gw_test_jstr(a, "detail"), "nothing was loaded"));
        json_decref(a);
        assert_int_equal(
            ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", c),
            before);
        assert_int_equal(
            ecm_test_pg_int(f->conn, "SELECT count(*) FROM upload_rows WHERE upload_id = %lld", id),
            reported);
        a = get_upload(f, id);
        assert_string_equal(gw_test_jstr(a, "state"), "interrupted");
        json_decref(a);
    }
    /* JSON for a CSV upload: refused before anything is read. */
    json_t *a = NULL;
    assert_int_equal(resume(f, id, "application/json", "[]", &a), 409);
    json_decref(a);
    assert_int_equal(resume(f, id, "text/csv", csv, &a), 202);
    assert_int_equal(gw_test_jint(a, "rows_read"), ROWS);
    json_decref(a);
    free(other);
    free(shorter);
    free(csv);
}

/* Only an interrupted contact upload is resumed. */
static void test_api_resume_of_an_upload_not_interrupted_is_refused(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = voice_campaign(f, "Not interrupted");
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", c);
    json_t *a = NULL;
    assert_int_equal(
        gw_test_send(f, "POST", path, "text/csv", "phone1\n(212) 555-0100\n", &a, NULL, 0), 202);
    long long done = gw_test_jint(a, "upload_id");
    json_decref(a);
    long long running = ecm_test_pg_int(
        f->conn,
        "INSERT INTO uploads (kind, campaign_id, owner, lease_until, content_type) VALUES "
        "('contacts', %lld, 'someone', now() + interval '60 seconds', 'text/csv') RETURNING id",
        c);
    long long dnc =
        ecm_test_pg_int(f->conn, "INSERT INTO uploads (kind, state, content_type) VALUES "
                                 "('dnc', 'interrupted', 'text/csv') RETURNING id");
    /* Cut off before resume points were recorded (an older gateway). */
    long long legacy = ecm_test_pg_int(
        f->conn,
        "INSERT INTO uploads (kind, campaign_id, state, rows_read, content_type) VALUES "
        "('contacts', %lld, 'interrupted', 40, 'text/csv') RETURNING id",
        c);
    const long long ids[] = {done, running, dnc, legacy};
    const char *const says[] = {"is done", "is running", "DNC", "no resume point"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(resume(f, ids[i], "text/csv", "phone1\n(212) 555-0101\n", &a), 409);
        assert_non_null(strstr(gw_test_jstr(a, "detail"), says[i]));
        json_decref(a);
    }
    assert_int_equal(resume(f, 999999, "text/csv", "phone1\n", &a), 404);
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM contacts WHERE campaign_id = %lld", c), 1);
    char *st = ecm_test_pg_text(f->conn, "SELECT state FROM uploads WHERE id = %lld", running);
    assert_string_equal(st, "running");
    free(st);
}

/* A DNC list upload has an owner and a lease too, and is fenced the same
 * way (it is not resumable: the file is sent again). */
static void test_api_stale_owner_of_a_dnc_upload_is_fenced(void **state)
{
    fixture *f = ecm_test_need(*state);
    size_t cap = 32 * (ROWS + 2), used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "phone\n");
    for (int i = 1; i <= ROWS; i++) {
        used +=
            gw_test_format(csv + used, cap - used, "(313) %03d-%04d\n", 200 + i / 10000, i % 10000);
    }
    held_client h;
    held_start(&h, f, "/api/v1/dnc/uploads", "text/csv", csv, offset_after_row(csv, 555));
    wait_int(f, 1, "SELECT count(*) FROM uploads WHERE kind = 'dnc' AND rows_read = 500");
    long long id = ecm_test_pg_int(
        f->conn, "SELECT id FROM uploads WHERE kind = 'dnc' AND rows_read = 500 AND "
                 "state = 'running'");
    char *owner = ecm_test_pg_text(f->conn, "SELECT owner FROM uploads WHERE id = %lld", id);
    assert_string_equal(owner, gw_upload_lease_owner(f->app.upload_lease));
    free(owner);
    ecm_test_pg_exec(f->conn,
                     "UPDATE uploads SET lease_until = now() - interval '1 second' "
                     "WHERE id = %lld",
                     id);
    ecm_pg *pg = ecm_pg_pool_get(f->pool);
    assert_int_equal(gw_upload_lease_sweep(pg, "uploads.changed", "/ecm/test"), 1);
    ecm_pg_pool_put(f->pool, pg);
    assert_int_equal(held_finish(&h), 409);
    json_t *a = json_loads(h.answer, 0, NULL);
    assert_non_null(a);
    assert_string_equal(gw_test_jstr(a, "title"), "Upload interrupted");
    json_decref(a);
    assert_int_equal(
        ecm_test_pg_int(f->conn,
                        "SELECT count(*) FROM dnc WHERE channel = 'voice' AND source = 'upload'"),
        500);
    a = get_upload(f, id);
    assert_string_equal(gw_test_jstr(a, "state"), "interrupted");
    assert_int_equal(gw_test_jint(a, "rows_loaded"), 500);
    json_decref(a);
    /* Not resumable: said so. */
    assert_int_equal(resume(f, id, "text/csv", csv, &a), 409);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "DNC"));
    json_decref(a);
    free(csv);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    ecm_test_log_init("test_gw_upload_lease", ECM_LOG_ERROR);
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_sweep_marks_only_uploads_whose_lease_is_past),
        cmocka_unit_test(test_renewed_uploads_are_not_marked_by_another_replica),
        cmocka_unit_test(test_api_stale_owner_is_fenced),
        cmocka_unit_test(test_api_resume_of_a_csv_loads_after_the_committed_line),
        cmocka_unit_test(test_api_resume_of_a_json_array_loads_after_the_committed_item),
        cmocka_unit_test(test_api_resume_with_another_file_is_refused),
        cmocka_unit_test(test_api_resume_of_an_upload_not_interrupted_is_refused),
        cmocka_unit_test(test_api_stale_owner_of_a_dnc_upload_is_fenced),
    };
    int failed = cmocka_run_group_tests_name("db", db, setup_db, gw_test_api_teardown);
    curl_global_cleanup();
    return failed;
}
