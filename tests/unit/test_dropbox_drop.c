/* The drop folder's scan end to end against a fake gateway and a scratch
 * database, on a clock the test drives: a temporary name is never read, a
 * file is read only once settled, uploaded once with its ECM-Upload-Ref,
 * archived as <upload id>_<name>; a second replica on the same folder does
 * nothing more; an unknown campaign and a folder that is no campaign id go
 * to the failed folder with their reason. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbx_api.h"
#include "dbx_drop.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

#define PORT_FIRST 20700
#define PORT_LAST 20749
#define UPLOAD_ID 77

/* What the fake gateway saw. */
typedef struct {
    pthread_mutex_t mu;
    int posts;
    char campaign[24];
    char ref[80];
    char body[256];
    char auth[80];
} fake_gateway;

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    PGconn *sql;
    fake_gateway gw;
    ecm_http *http;
    dbx_api *api;
    ecm_metrics *metrics;
    char dir[256], archive[300], failed[300];
    char url[64];
} fixture;

static volatile sig_atomic_t no_stop;

static void on_upload(void *ctx, ecm_http_req *req)
{
    fake_gateway *g = ctx;
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    const char *ref = ecm_http_req_header(req, "ECM-Upload-Ref");
    const char *auth = ecm_http_req_header(req, "Authorization");
    const char *cid = ecm_http_req_param(req, 0);
    pthread_mutex_lock(&g->mu);
    g->posts++;
    snprintf(g->campaign, sizeof(g->campaign), "%s", cid ? cid : "");
    snprintf(g->ref, sizeof(g->ref), "%s", ref ? ref : "");
    snprintf(g->auth, sizeof(g->auth), "%s", auth ? auth : "");
    snprintf(g->body, sizeof(g->body), "%.*s", (int)len, body ? body : "");
    pthread_mutex_unlock(&g->mu);
    char answer[256];
    if (cid && strcmp(cid, "5") == 0) {
        int n = snprintf(answer, sizeof(answer),
                         "{\"upload_id\": %d, \"state\": \"done\", \"rows_read\": 1, "
                         "\"rows_loaded\": 1, \"rows_rejected\": 0}",
                         UPLOAD_ID);
        ecm_http_respond(req, 202, "application/json", answer, (size_t)n);
        return;
    }
    int n = snprintf(answer, sizeof(answer),
                     "{\"type\": \"not-found\", \"title\": \"No such campaign\", \"status\": 404, "
                     "\"detail\": \"campaign %s does not exist\"}",
                     cid ? cid : "?");
    ecm_http_respond(req, 404, "application/problem+json", answer, (size_t)n);
}

static void on_list(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    static const char empty[] = "{\"items\": []}";
    ecm_http_respond(req, 200, "application/json", empty, sizeof(empty) - 1);
}

static int setup(void **state)
{
    *state = NULL;
    ecm_test_log_init("test_dropbox_drop", ECM_LOG_ERROR);
    ecm_test_db *db = ecm_test_db_new_migrated("ecm_dbx_drop");
    if (!db) {
        return 0;
    }
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->db = db;
    f->pg = ecm_pg_new(db->dsn, NULL);
    assert_non_null(f->pg);
    f->sql = ecm_test_pg_connect(db->dsn);
    pthread_mutex_init(&f->gw.mu, NULL);
    static const ecm_test_route routes[] = {
        {"POST", "/api/v1/campaigns/{}/uploads", 1 << 20, on_upload},
        {"GET", "/api/v1/uploads", 0, on_list},
    };
    int port = 0;
    f->http = ecm_test_http_serve(PORT_FIRST, PORT_LAST, routes, 2, &f->gw, &port);
    assert_non_null(f->http);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
    f->api = dbx_api_new(f->url, "test-key", 30);
    f->metrics = ecm_metrics_new();
    assert_non_null(f->api);
    assert_non_null(f->metrics);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dbx_drop_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->archive, sizeof(f->archive), "%s/archive", f->dir);
    snprintf(f->failed, sizeof(f->failed), "%s/failed", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        ecm_http_destroy(f->http);
        dbx_api_destroy(f->api);
        ecm_metrics_destroy(f->metrics);
        PQfinish(f->sql);
        ecm_pg_destroy(f->pg);
        (void)ecm_test_db_destroy(f->db);
        pthread_mutex_destroy(&f->gw.mu);
        free(f);
    }
    return 0;
}

/* A worker on f's folder as owner. */
static dbx_drop *worker(fixture *f, const char *owner)
{
    const dbx_drop_config cfg = {
        .dir = f->dir,
        .archive_dir = f->archive,
        .failed_dir = f->failed,
        .api_url = f->url,
        .owner = owner,
        .lease_s = 30,
        .settle_ms = 1000,
        .max_bytes = 1 << 20,
        .metrics = f->metrics,
        .stop = &no_stop,
    };
    dbx_drop *d = dbx_drop_new(&cfg, f->pg, f->api);
    assert_non_null(d);
    return d;
}

/* Writes text into f's folder at rel (its folder made). */
static void put(fixture *f, const char *rel, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    (void)mkdir(path, 0750);
    *slash = '/';
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* 1 when rel exists in f's folder. */
static int exists(const fixture *f, const char *rel)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
    return access(path, F_OK) == 0;
}

static int posts(fixture *f)
{
    pthread_mutex_lock(&f->gw.mu);
    int n = f->gw.posts;
    pthread_mutex_unlock(&f->gw.mu);
    return n;
}

static void rename_in(fixture *f, const char *from, const char *to)
{
    char a[600], b[600];
    snprintf(a, sizeof(a), "%s/%s", f->dir, from);
    snprintf(b, sizeof(b), "%s/%s", f->dir, to);
    assert_int_equal(rename(a, b), 0);
}

static void test_dropbox_settled_file_uploaded_once_and_archived(void **state)
{
    fixture *f = ecm_test_need(*state);
    /* The upload the fake gateway answers with, as the real one commits it
     * before it answers. */
    ecm_test_pg_exec(f->sql, "INSERT INTO uploads (id, kind, state) VALUES (%d, 'dnc', 'done')",
                     UPLOAD_ID);
    dbx_drop *d = worker(f, "owner-a");
    put(f, "5/.a.csv.XyZ123", "phone1\n2125550100\n");
    assert_int_equal(dbx_drop_scan(d, 0), 0);
    assert_int_equal(dbx_drop_scan(d, 5000), 0);
    assert_int_equal(posts(f), 0); /* a temporary name, however old */
    rename_in(f, "5/.a.csv.XyZ123", "5/a.csv");
    assert_int_equal(dbx_drop_scan(d, 6000), 0);
    assert_int_equal(dbx_drop_scan(d, 6999), 0);
    assert_int_equal(posts(f), 0); /* not settled yet */
    assert_int_equal(dbx_drop_scan(d, 7000), 0);
    assert_int_equal(posts(f), 1);
    long long id = ecm_test_pg_int(f->sql, "SELECT id FROM drop_files WHERE rel_path = '5/a.csv'");
    char ref[32];
    snprintf(ref, sizeof(ref), "drop-%lld", id);
    assert_string_equal(f->gw.ref, ref);
    assert_string_equal(f->gw.campaign, "5");
    assert_string_equal(f->gw.body, "phone1\n2125550100\n");
    assert_string_equal(f->gw.auth, "Bearer test-key");
    assert_false(exists(f, "5/a.csv"));
    assert_true(exists(f, "archive/77_a.csv"));
    char *row = ecm_test_pg_text(f->sql,
                                 "SELECT state || ' ' || upload_id || ' ' || (moved_at IS NOT "
                                 "NULL) FROM drop_files WHERE id = %lld",
                                 id);
    assert_string_equal(row, "archived 77 true");
    free(row);
    /* A second replica, and more scans: nothing is sent again. */
    dbx_drop *e = worker(f, "owner-b");
    assert_int_equal(dbx_drop_scan(e, 0), 0);
    assert_int_equal(dbx_drop_scan(e, 5000), 0);
    assert_int_equal(dbx_drop_scan(d, 9000), 0);
    assert_int_equal(posts(f), 1);
    dbx_drop_destroy(e);
    dbx_drop_destroy(d);
}

static void test_dropbox_bad_campaigns_fail_with_reason(void **state)
{
    fixture *f = ecm_test_need(*state);
    dbx_drop *d = worker(f, "owner-a");
    put(f, "9_x.csv", "phone1\n2125550100\n");
    put(f, "abc/y.csv", "phone1\n2125550101\n");
    assert_int_equal(dbx_drop_scan(d, 0), 0);
    assert_int_equal(dbx_drop_scan(d, 1000), 0);
    assert_int_equal(posts(f), 1); /* campaign 9 asked; "abc" never */
    assert_string_equal(f->gw.campaign, "9");
    assert_true(exists(f, "failed/9_x.csv"));
    assert_true(exists(f, "failed/y.csv"));
    char path[600], text[512] = "";
    snprintf(path, sizeof(path), "%s/failed/9_x.csv.reason.txt", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    assert_non_null(strstr(text, "reason: No such campaign: campaign 9 does not exist"));
    snprintf(path, sizeof(path), "%s/failed/y.csv.reason.txt", f->dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    assert_non_null(strstr(text, "folder 'abc' is not a campaign id"));
    assert_int_equal(ecm_test_pg_int(f->sql, "SELECT count(*) FROM drop_files WHERE state = "
                                             "'failed' AND moved_at IS NOT NULL"),
                     2);
    dbx_drop_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dropbox_settled_file_uploaded_once_and_archived, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dropbox_bad_campaigns_fail_with_reason, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
