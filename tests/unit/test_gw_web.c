/* The supervisor's console (gw_web): GET / and GET /assets/{name} answer,
 * without a key, exactly the bytes of web/ that the build compiled in, with
 * a strict CSP and the security headers, an ETag and 304 on If-None-Match;
 * names that are not compiled in (or that try to leave the folder) get 404.
 * With app.web_dir set, the files come from that folder at each request
 * (no-store), still only under compiled-in names. Needs no database: the
 * guard lets an open route through before looking a key up.
 *
 * The exchanges are not logged with gw_test_log_exchange: the console's
 * routes are not part of the API that api/openapi.yaml describes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_http.h"
#include "ecm_test_support.h"
#include "gw_test_support.h"
#include "gw_auth.h"
#include "gw_web.h"

#define PORT_FIRST 7850
#define PORT_LAST 7869

#define DISK_INDEX "<!doctype html><title>disk copy</title><p>disk copy</p>\n"
#define DISK_APP "/* disk app.js, not the compiled-in one */\n"
#define DISK_EXTRA "/* on disk only */\n"

typedef struct {
    ecm_http *http;
    gw_app app; /* no pool: an open route never reaches the database */
    int port;
    char dir[64]; /* disk mode: the mkdtemp folder; "" otherwise */
} fixture;

/* Reads $ECM_SOURCE_DIR/<rel> (CTest sets ECM_SOURCE_DIR) into a malloc'd
 * buffer (*len); fails the running test when it cannot. */
static char *read_source(const char *rel, size_t *len)
{
    const char *dir = getenv("ECM_SOURCE_DIR");
    assert_non_null(dir);
    char path[4096];
    (void)gw_test_format(path, sizeof path, "%s/%s", dir, rel);
    FILE *fh = fopen(path, "rb");
    assert_non_null(fh);
    assert_int_equal(fseek(fh, 0, SEEK_END), 0);
    long n = ftell(fh);
    assert_true(n > 0);
    rewind(fh);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fh), (size_t)n);
    fclose(fh);
    *len = (size_t)n;
    return buf;
}

/* Writes text to <dir>/<rel>; fails the running test when it cannot. */
static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[256];
    (void)gw_test_format(path, sizeof path, "%s/%s", dir, rel);
    FILE *fh = fopen(path, "wb");
    assert_non_null(fh);
    assert_int_equal(fwrite(text, 1, strlen(text), fh), strlen(text));
    assert_int_equal(fclose(fh), 0);
}

/* Starts the console's routes behind the guard on the first free port. */
static int start(fixture *f)
{
    const gw_test_routes_fn routes[] = {gw_web_register, NULL};
    f->http = gw_test_serve(&f->app, PORT_FIRST, PORT_LAST, routes, 1, &f->port);
    return 0;
}

static int setup_embedded(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    return start(f);
}

/* A folder holding index.html and assets/app.js that differ from web/, and
 * assets/extra.js that is not compiled in; no assets/style.css. */
static int setup_disk(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    (void)gw_test_format(f->dir, sizeof f->dir, "%s/ecm-gw-web-XXXXXX",
                         tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    char assets[128];
    (void)gw_test_format(assets, sizeof assets, "%s/assets", f->dir);
    assert_int_equal(mkdir(assets, 0700), 0);
    write_file(f->dir, "index.html", DISK_INDEX);
    write_file(f->dir, "assets/app.js", DISK_APP);
    write_file(f->dir, "assets/extra.js", DISK_EXTRA);
    f->app.web_dir = f->dir;
    *state = f;
    return start(f);
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecm_http_destroy(f->http);
    if (f->dir[0]) {
        const char *const files[] = {"assets/app.js", "assets/extra.js", "index.html"};
        char path[256];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            (void)gw_test_format(path, sizeof path, "%s/%s", f->dir, files[i]);
            (void)unlink(path);
        }
        (void)gw_test_format(path, sizeof path, "%s/assets", f->dir);
        (void)rmdir(path);
        (void)rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* GET path with the extra header lines (ending with NULL, or NULL) and no
 * key; the path is sent as it is (curl does not squash "..", escaped or
 * not). Fails the running test when no answer comes. */
static void get(const fixture *f, const char *path, const char *const *headers,
                ecm_test_http_answer *a)
{
    CURL *c = ecm_test_http_prepare(a, f->port, "GET", path);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    struct curl_slist *hs = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *more = curl_slist_append(hs, headers[i]);
        assert_non_null(more);
        hs = more;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    CURLcode rc = ecm_test_http_perform(c, a);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
        fail_msg("GET 127.0.0.1:%d%s: %s", f->port, path, curl_easy_strerror(rc));
    }
}

/* The answer's header name into out; fails the running test when absent. */
static void need_header(const ecm_test_http_answer *a, const char *name, char *out, size_t size)
{
    if (ecm_test_http_header(a, name, out, size) != 0) {
        fail_msg("no %s header in:\n%s", name, a->headers);
    }
}

/* The answer carries the strict CSP and the security headers. */
static void assert_security_headers(const ecm_test_http_answer *a)
{
    char v[1024];
    need_header(a, "Content-Security-Policy", v, sizeof v);
    assert_non_null(strstr(v, "script-src 'self'"));
    assert_non_null(strstr(v, "frame-ancestors 'none'"));
    need_header(a, "X-Content-Type-Options", v, sizeof v);
    assert_string_equal(v, "nosniff");
    need_header(a, "X-Frame-Options", v, sizeof v);
    assert_string_equal(v, "DENY");
}

/* GET path answers 404 (and no bytes of a file). */
static void assert_not_found(const fixture *f, const char *path)
{
    ecm_test_http_answer a;
    get(f, path, NULL, &a);
    if (a.status != 404) {
        fail_msg("GET %s: %ld, not 404:\n%s%s", path, a.status, a.headers, a.body);
    }
    ecm_test_http_answer_destroy(&a);
}

/* ---- the compiled-in table ---- */

static void test_find_takes_compiled_in_names_only(void **state)
{
    (void)state;
    const gw_web_file *app = gw_web_find("assets/app.js");
    assert_non_null(app);
    assert_string_equal(app->name, "assets/app.js");
    assert_non_null(gw_web_find("index.html"));
    assert_null(gw_web_find("../x"));
    assert_null(gw_web_find("assets/../index.html"));
    assert_null(gw_web_find("assets/nope.js"));
    assert_null(gw_web_find(""));
}

static void test_every_entry_is_index_or_an_asset_with_a_type(void **state)
{
    (void)state;
    assert_true(gw_web_files_count >= 2);
    for (size_t i = 0; i < gw_web_files_count; i++) {
        const gw_web_file *e = &gw_web_files[i];
        assert_non_null(e->name);
        if (strcmp(e->name, "index.html") != 0 && strncmp(e->name, "assets/", 7) != 0) {
            fail_msg("entry %zu is called '%s'", i, e->name);
        }
        assert_non_null(e->content_type);
        assert_true(e->content_type[0] != '\0');
        assert_non_null(e->etag);
        assert_true(strlen(e->etag) > 2 && e->etag[0] == '"');
        assert_ptr_equal(gw_web_find(e->name), e);
    }
}

/* ---- served compiled in ---- */

static void test_index_is_web_index_html_as_html(void **state)
{
    const fixture *f = *state;
    size_t len = 0;
    char *want = read_source("web/index.html", &len);
    ecm_test_http_answer a;
    get(f, "/", NULL, &a); /* no Authorization */
    assert_int_equal(a.status, 200);
    char v[256];
    need_header(&a, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_int_equal(a.len, len);
    assert_memory_equal(a.body, want, len);
    assert_security_headers(&a);
    need_header(&a, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-cache");
    ecm_test_http_answer_destroy(&a);
    free(want);
}

static void test_app_js_is_web_assets_app_js_as_javascript(void **state)
{
    const fixture *f = *state;
    size_t len = 0;
    char *want = read_source("web/assets/app.js", &len);
    ecm_test_http_answer a;
    get(f, "/assets/app.js", NULL, &a);
    assert_int_equal(a.status, 200);
    char v[256];
    need_header(&a, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/javascript; charset=utf-8");
    assert_int_equal(a.len, len);
    assert_memory_equal(a.body, want, len);
    assert_security_headers(&a);
    ecm_test_http_answer_destroy(&a);
    free(want);
}

static void test_if_none_match_with_the_etag_answers_304_empty(void **state)
{
    const fixture *f = *state;
    ecm_test_http_answer a;
    get(f, "/assets/app.js", NULL, &a);
    assert_int_equal(a.status, 200);
    char etag[128];
    need_header(&a, "ETag", etag, sizeof etag);
    assert_string_equal(etag, gw_web_find("assets/app.js")->etag);
    assert_true(a.len > 0);
    ecm_test_http_answer_destroy(&a);

    char inm[192];
    (void)gw_test_format(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *const headers[] = {inm, NULL};
    get(f, "/assets/app.js", headers, &a);
    assert_int_equal(a.status, 304);
    assert_int_equal(a.len, 0);
    ecm_test_http_answer_destroy(&a);

    /* Another file's ETag is no match. */
    (void)gw_test_format(inm, sizeof inm, "If-None-Match: %s", gw_web_find("index.html")->etag);
    get(f, "/assets/app.js", headers, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.len > 0);
    ecm_test_http_answer_destroy(&a);
}

static void test_unknown_names_and_escapes_answer_404(void **state)
{
    const fixture *f = *state;
    assert_not_found(f, "/assets/nope.js");
    assert_not_found(f, "/assets/..%2Fmain.c");
    assert_not_found(f, "/assets/%2e%2e");
    assert_not_found(f, "/assets/..%2F..%2FCMakeLists.txt");
    assert_not_found(f, "/assets/%2e%2e%2findex.html");
}

static void test_a_bad_key_does_no_harm(void **state)
{
    const fixture *f = *state;
    const char *const headers[] = {"Authorization: Bearer not-a-key", NULL};
    ecm_test_http_answer a;
    get(f, "/", headers, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.len > 0);
    ecm_test_http_answer_destroy(&a);
}

/* ---- served from app.web_dir ---- */

static void test_disk_index_is_read_from_the_folder_no_store(void **state)
{
    const fixture *f = *state;
    ecm_test_http_answer a;
    get(f, "/", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, strlen(DISK_INDEX));
    assert_memory_equal(a.body, DISK_INDEX, a.len);
    assert_non_null(strstr(a.body, "disk copy"));
    char v[256];
    need_header(&a, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-store");
    need_header(&a, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_security_headers(&a);
    ecm_test_http_answer_destroy(&a);
}

static void test_disk_app_js_is_the_folders_copy(void **state)
{
    const fixture *f = *state;
    ecm_test_http_answer a;
    get(f, "/assets/app.js", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, strlen(DISK_APP));
    assert_memory_equal(a.body, DISK_APP, a.len);
    char v[256];
    need_header(&a, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/javascript; charset=utf-8");
    need_header(&a, "Cache-Control", v, sizeof v);
    assert_string_equal(v, "no-store");
    ecm_test_http_answer_destroy(&a);
}

static void test_disk_compiled_in_but_missing_answers_500(void **state)
{
    const fixture *f = *state;
    assert_non_null(gw_web_find("assets/style.css"));
    ecm_test_http_answer a;
    get(f, "/assets/style.css", NULL, &a);
    assert_int_equal(a.status, 500);
    ecm_test_http_answer_destroy(&a);
}

static void test_disk_only_file_not_compiled_in_answers_404(void **state)
{
    const fixture *f = *state;
    assert_null(gw_web_find("assets/extra.js"));
    assert_not_found(f, "/assets/extra.js");
    assert_not_found(f, "/assets/..%2Findex.html");
}

int main(void)
{
    const struct CMUnitTest embedded[] = {
        cmocka_unit_test(test_find_takes_compiled_in_names_only),
        cmocka_unit_test(test_every_entry_is_index_or_an_asset_with_a_type),
        cmocka_unit_test(test_index_is_web_index_html_as_html),
        cmocka_unit_test(test_app_js_is_web_assets_app_js_as_javascript),
        cmocka_unit_test(test_if_none_match_with_the_etag_answers_304_empty),
        cmocka_unit_test(test_unknown_names_and_escapes_answer_404),
        cmocka_unit_test(test_a_bad_key_does_no_harm),
    };
    const struct CMUnitTest disk[] = {
        cmocka_unit_test(test_disk_index_is_read_from_the_folder_no_store),
        cmocka_unit_test(test_disk_app_js_is_the_folders_copy),
        cmocka_unit_test(test_disk_compiled_in_but_missing_answers_500),
        cmocka_unit_test(test_disk_only_file_not_compiled_in_answers_404),
    };
    int failed = cmocka_run_group_tests_name("compiled in", embedded, setup_embedded, teardown);
    failed += cmocka_run_group_tests_name("app.web_dir", disk, setup_disk, teardown);
    return failed;
}
