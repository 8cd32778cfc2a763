/* GET /api/v1/openapi.yaml (gw_openapi): the gateway serves, without a key,
 * exactly the bytes of api/openapi.yaml that the build embedded. Needs no
 * database: the guard lets an open route through before looking a key up. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_http.h"
#include "ecm_test_support.h"
#include "gw_test_support.h"
#include "gw_auth.h"
#include "gw_openapi.h"

#define PORT_FIRST 7710
#define PORT_LAST 7729

typedef struct {
    ecm_http *http;
    gw_app app; /* no pool: an open route never reaches the database */
    int port;
    char *file; /* api/openapi.yaml of the source tree */
    size_t file_len;
} fixture;

/* Reads $ECM_SOURCE_DIR/api/openapi.yaml (CTest sets ECM_SOURCE_DIR) into
 * f->file; fails the running test when it cannot. */
static void read_document(fixture *f)
{
    const char *dir = getenv("ECM_SOURCE_DIR");
    assert_non_null(dir);
    char path[4096];
    assert_true(snprintf(path, sizeof path, "%s/api/openapi.yaml", dir) < (int)sizeof path);
    FILE *fh = fopen(path, "rb");
    assert_non_null(fh);
    assert_int_equal(fseek(fh, 0, SEEK_END), 0);
    long n = ftell(fh);
    assert_true(n > 0);
    rewind(fh);
    f->file = malloc((size_t)n);
    assert_non_null(f->file);
    assert_int_equal(fread(f->file, 1, (size_t)n, fh), (size_t)n);
    fclose(fh);
    f->file_len = (size_t)n;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    read_document(f);
    const gw_test_routes_fn routes[] = {gw_openapi_register, NULL};
    f->http = gw_test_serve(&f->app, PORT_FIRST, PORT_LAST, routes, 1, &f->port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecm_http_destroy(f->http);
    free(f->file);
    free(f);
    return 0;
}

static void test_the_embedded_copy_is_the_file(void **state)
{
    const fixture *f = *state;
    assert_int_equal(gw_openapi_yaml_len, f->file_len);
    assert_memory_equal(gw_openapi_yaml, f->file, f->file_len);
}

static void test_served_without_a_key_byte_for_byte_as_yaml(void **state)
{
    const fixture *f = *state;
    const char *const headers[] = {"Expect:", NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->port, "GET", "/api/v1/openapi.yaml", headers, NULL, 0, NULL);
    gw_test_log_exchange("GET", "/api/v1/openapi.yaml", &a);
    assert_int_equal(a.status, 200);
    char ct[128];
    assert_int_equal(ecm_test_http_header(&a, "Content-Type", ct, sizeof ct), 0);
    assert_string_equal(ct, GW_OPENAPI_CONTENT_TYPE);
    assert_int_equal(a.len, f->file_len);
    assert_memory_equal(a.body, f->file, f->file_len);
    ecm_test_http_answer_destroy(&a);
}

static void test_a_key_is_not_needed_but_a_bad_one_does_no_harm(void **state)
{
    const fixture *f = *state;
    const char *const headers[] = {"Expect:", "Authorization: Bearer not-a-key", NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->port, "GET", "/api/v1/openapi.yaml", headers, NULL, 0, NULL);
    gw_test_log_exchange("GET", "/api/v1/openapi.yaml", &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, f->file_len);
    ecm_test_http_answer_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_embedded_copy_is_the_file),
        cmocka_unit_test(test_served_without_a_key_byte_for_byte_as_yaml),
        cmocka_unit_test(test_a_key_is_not_needed_but_a_bad_one_does_no_harm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
