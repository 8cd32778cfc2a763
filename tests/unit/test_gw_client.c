/* The client's address behind a reverse proxy (gw_client): the list of
 * trusted proxies is checked as the configuration is; from a trusted peer
 * the right-most untrusted X-Forwarded-For address is the client, from any
 * other peer the header is ignored, and a malformed entry is not believed.
 * A small ecm_http server on 127.0.0.1 answers each request with what
 * gw_client_addr says. */
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
#include "gw_client.h"

#define PORT_FIRST 7870
#define PORT_LAST 7889

static void echo_addr(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    char addr[64];
    if (gw_client_addr(req, addr, sizeof addr) != 0) {
        ecm_http_respond(req, 500, "text/plain", "unknown", 7);
        return;
    }
    ecm_http_respond(req, 200, "text/plain", addr, strlen(addr));
}

typedef struct {
    ecm_http *http;
    int port;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    static const ecm_test_route routes[] = {{"GET", "/who", 0, echo_addr}};
    f->http = ecm_test_http_serve(PORT_FIRST, PORT_LAST, routes, 1, NULL, &f->port);
    if (!f->http) {
        fail_msg("no free port in %d-%d", PORT_FIRST, PORT_LAST);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ecm_http_destroy(f->http);
    free(f);
    char err[160];
    assert_int_equal(gw_client_configure("", err, sizeof err), 0);
    return 0;
}

/* What the server says the client is, given an X-Forwarded-For header
 * value (NULL: none), under the trusted list. */
static void expect_client(const fixture *f, const char *trusted, const char *xff,
                          const char *expected)
{
    char err[160], header[256];
    assert_int_equal(gw_client_configure(trusted, err, sizeof err), 0);
    const char *headers[] = {header, NULL};
    (void)snprintf(header, sizeof header, "X-Forwarded-For: %s", xff ? xff : "");
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->port, "GET", "/who", xff ? headers : NULL, NULL, 0, NULL);
    assert_int_equal(a.status, 200);
    char got[64];
    assert_true(a.len < sizeof got);
    memcpy(got, a.body, a.len);
    got[a.len] = '\0';
    if (strcmp(got, expected) != 0) {
        fail_msg("trusted '%s', X-Forwarded-For '%s': got %s, expected %s", trusted,
                 xff ? xff : "(none)", got, expected);
    }
    ecm_test_http_answer_destroy(&a);
}

static void test_the_list_is_checked(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(gw_client_check("", err, sizeof err), 0);
    assert_int_equal(gw_client_check("10.0.0.0/8, 192.168.1.10 ,fd00::/8,::1", err, sizeof err), 0);
    assert_int_equal(gw_client_check("0.0.0.0/0", err, sizeof err), 0);
    const char *bad[] = {"10.0.0.0/33", "1.2.3.4/",          "1.2.3", "fd00::/129", "10.0.0.0/-1",
                         "example.com", "10.0.0.1,,10.0.0.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (gw_client_check(bad[i], err, sizeof err) == 0) {
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_non_null(strstr(err, "is not an IP address or CIDR block"));
    }
    assert_int_equal(gw_client_configure("bogus", err, sizeof err), -1);
}

static void test_the_forwarded_client_from_a_trusted_proxy(void **state)
{
    fixture *f = *state;
    expect_client(f, "127.0.0.1", NULL, "127.0.0.1");
    expect_client(f, "127.0.0.1", "203.0.113.7", "203.0.113.7");
    /* a chain: the right-most address not a trusted proxy */
    expect_client(f, "127.0.0.0/8, 10.0.0.0/8", "198.51.100.1, 203.0.113.7, 10.1.2.3",
                  "203.0.113.7");
    expect_client(f, "127.0.0.1", "2001:db8::5", "2001:db8::5");
    /* all trusted: the left-most */
    expect_client(f, "127.0.0.1,10.0.0.0/8", "10.0.0.9, 10.0.0.8", "10.0.0.9");
    /* a malformed right-most entry: nothing in the header is believed */
    expect_client(f, "127.0.0.1", "203.0.113.7, not-an-address", "127.0.0.1");
    expect_client(f, "127.0.0.1", "", "127.0.0.1");
}

static void test_the_header_is_ignored_from_anyone_else(void **state)
{
    fixture *f = *state;
    expect_client(f, "", "203.0.113.7", "127.0.0.1");
    expect_client(f, "10.0.0.0/8", "203.0.113.7", "127.0.0.1");
    /* a /31 that misses 127.0.0.1 by its last bit: not trusted */
    expect_client(f, "127.0.0.2/31", "203.0.113.7", "127.0.0.1");
    expect_client(f, "127.0.0.0/31", "203.0.113.7", "203.0.113.7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_list_is_checked),
        cmocka_unit_test_setup_teardown(test_the_forwarded_client_from_a_trusted_proxy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_header_is_ignored_from_anyone_else, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
