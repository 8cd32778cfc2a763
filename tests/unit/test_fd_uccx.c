/* The feeder's UCCX client: the XML/CSV body, the contact-list parser, and
 * the client against a fake UCCX peer served in-process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ecm_log.h"
#include "fd_reconcile.h"
#include "fd_uccx.h"
#include "test_fd_fake_uccx.h"

/* Ports of this test binary (the feeder's range is 20500-20599). */
#define PORT_LO 20510
#define PORT_HI 20519
#define PORT_NOBODY 20519 /* left unbound unless all others are taken */

/* Parses body as XML and returns a copy of the text of <tag> (xmlFree it). */
static xmlChar *element_text(const char *body, const char *tag)
{
    xmlDocPtr doc = xmlReadMemory(body, (int)strlen(body), "b.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlChar *out = NULL;
    xmlNodePtr stack[16];
    int sp = 0;
    stack[sp++] = xmlDocGetRootElement(doc);
    while (sp > 0 && !out) {
        xmlNodePtr n = stack[--sp];
        for (; n && !out; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            if (xmlStrcmp(n->name, BAD_CAST tag) == 0)
                out = xmlNodeGetContent(n);
            else if (n->children && sp < 16)
                stack[sp++] = n->children;
        }
    }
    xmlFreeDoc(doc);
    return out;
}

static void test_uccx_body_header_line_is_exact(void **state)
{
    (void)state;
    fd_uccx_contact c = {.account_number = "12-1", .phone1 = "+15551230000"};
    char *body = fd_uccx_build_contacts_xml("7", "http://u/adminapi/campaign/7", &c, 1, NULL);
    assert_non_null(body);
    xmlChar *csv = element_text(body, "csvdata");
    assert_non_null(csv);
    const char *p = (const char *)csv;
    while (*p == '\n')
        p++;
    assert_string_equal(p, "Account Number,First Name,Last Name,Phone1,Phone2,Phone3\n"
                           "12-1,,,+15551230000,,\n");
    xmlFree(csv);
    /* ECM retries the same phone: UCCX's phone-duplicate rule must be off. */
    xmlChar *dup = element_text(body, "allowDuplicateContacts");
    assert_non_null(dup);
    assert_string_equal((const char *)dup, "true");
    xmlFree(dup);
    free(body);
}

static void test_uccx_body_escapes_xml_specials_in_names(void **state)
{
    (void)state;
    fd_uccx_contact c = {.account_number = "3-2",
                         .first_name = "Tom & Jerry",
                         .last_name = "<b>Smith</b>",
                         .phone1 = "+15550001111"};
    size_t len = 0;
    char *body = fd_uccx_build_contacts_xml("A&B <camp>", "http://u/x?a=1&b=2", &c, 1, &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(body));
    assert_non_null(strstr(body, "Tom &amp; Jerry"));
    assert_non_null(strstr(body, "&lt;b&gt;Smith&lt;/b&gt;"));
    assert_null(strstr(body, "<b>"));
    assert_non_null(strstr(body, "name=\"A&amp;B &lt;camp&gt;\""));
    /* And a parser gets the original text back. */
    xmlChar *csv = element_text(body, "csvdata");
    assert_non_null(strstr((const char *)csv, "3-2,Tom & Jerry,<b>Smith</b>,+15550001111,,\n"));
    xmlChar *ref = element_text(body, "refURL");
    assert_string_equal((const char *)ref, "http://u/x?a=1&b=2");
    xmlFree(csv);
    xmlFree(ref);
    free(body);
}

static void test_uccx_body_quotes_commas_and_quotes_in_csv(void **state)
{
    (void)state;
    fd_uccx_contact c[2] = {
        {.account_number = "5-1",
         .first_name = "Smith, John",
         .last_name = "O\"Neil",
         .phone1 = "+15550002222"},
        {.account_number = "6-1",
         .first_name = " padded",
         .last_name = "two\nlines",
         .phone1 = "+15550003333",
         .phone2 = "+15550004444"},
    };
    char *body = fd_uccx_build_contacts_xml("7", "r", c, 2, NULL);
    assert_non_null(body);
    xmlChar *csv = element_text(body, "csvdata");
    const char *s = (const char *)csv;
    assert_non_null(strstr(s, "\n5-1,\"Smith, John\",\"O\"\"Neil\",+15550002222,,\n"));
    assert_non_null(strstr(s, "\n6-1,\" padded\",\"two\nlines\",+15550003333,+15550004444,\n"));
    xmlFree(csv);
    free(body);
}

static void test_uccx_body_replaces_control_characters(void **state)
{
    (void)state;
    fd_uccx_contact c = {.account_number = "8-1",
                         .first_name = "a\x01"
                                       "b",
                         .phone1 = "1"};
    char *body = fd_uccx_build_contacts_xml("7", "r", &c, 1, NULL);
    assert_non_null(body);
    xmlChar *csv = element_text(body, "csvdata"); /* well-formed despite the byte */
    assert_non_null(strstr((const char *)csv, "8-1,a b,,1,,\n"));
    xmlFree(csv);
    free(body);
}

/* U+FFFE and U+FFFF are valid UTF-8 (an upload takes them) but no XML
 * character: the body stays well-formed and the contact reads back (found
 * by fuzz_uccx). */
static void test_uccx_body_replaces_xml_noncharacters(void **state)
{
    (void)state;
    fd_uccx_contact c = {.account_number = "9-1",
                         .first_name = "a\xEF\xBF\xBF"
                                       "b\xEF\xBF\xBE",
                         .phone1 = "1"};
    size_t len = 0;
    char *body = fd_uccx_build_contacts_xml("7", "r", &c, 1, &len);
    assert_non_null(body);
    xmlChar *csv = element_text(body, "csvdata");
    assert_non_null(csv);
    assert_non_null(strstr((const char *)csv, "9-1,a\xEF\xBF\xBD"
                                              "b\xEF\xBF\xBD,,1,,\n"));
    xmlFree(csv);
    fd_uccx_list *l = fd_uccx_list_parse(body, len);
    assert_non_null(l);
    assert_true(fd_uccx_list_contains(l, "9-1"));
    fd_uccx_list_destroy(l);
    free(body);
}

static void test_uccx_list_reads_account_elements(void **state)
{
    (void)state;
    const char *xml = "<contacts><contact><accountNumber> 1-1 </accountNumber>"
                      "<firstName>x</firstName></contact>"
                      "<contact><AccountNumber>2-1</AccountNumber></contact>"
                      "<contact><account_number>3-2</account_number></contact>"
                      "<contact><accountNumber>1-1</accountNumber></contact></contacts>";
    fd_uccx_list *l = fd_uccx_list_parse(xml, strlen(xml));
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 3);
    assert_true(fd_uccx_list_contains(l, "1-1"));
    assert_true(fd_uccx_list_contains(l, "2-1"));
    assert_true(fd_uccx_list_contains(l, "3-2"));
    assert_false(fd_uccx_list_contains(l, "3-1"));
    assert_false(fd_uccx_list_contains(l, "x"));
    fd_uccx_list_destroy(l);
}

static void test_uccx_list_reads_csvdata_shape(void **state)
{
    (void)state;
    const char *xml = "<campaignContacts><campaign name=\"c\"><refURL>r</refURL></campaign>"
                      "<csvdata>\nFirst Name,Account Number,Phone1,Status\n"
                      "\"Smith, J\",10-1,+1555,pending\n"
                      "Bob &amp; Co,11-2,+1556,dialed\n"
                      "\"a \"\"q\"\"\",12-1,+1557,pending\n"
                      "</csvdata></campaignContacts>";
    fd_uccx_list *l = fd_uccx_list_parse(xml, strlen(xml));
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 3);
    assert_true(fd_uccx_list_contains(l, "10-1"));
    assert_true(fd_uccx_list_contains(l, "11-2"));
    assert_true(fd_uccx_list_contains(l, "12-1"));
    assert_false(fd_uccx_list_contains(l, "+1555"));
    fd_uccx_list_destroy(l);
}

static void test_uccx_list_empty_campaign_is_an_empty_list(void **state)
{
    (void)state;
    const char *a = "<campaignContacts><csvdata>\nAccount Number,Phone1\n</csvdata>"
                    "</campaignContacts>";
    fd_uccx_list *l = fd_uccx_list_parse(a, strlen(a));
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 0);
    fd_uccx_list_destroy(l);
    const char *b = "<contacts/>";
    l = fd_uccx_list_parse(b, strlen(b));
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 0);
    fd_uccx_list_destroy(l);
}

/* A DTD makes libxml2 build a document for its declarations even under SAX:
 * it must be freed with the list (a leak per reconcile otherwise; found by
 * fuzz_uccx, which runs under LeakSanitizer like this test). */
static void test_uccx_list_with_a_dtd_is_read_and_freed(void **state)
{
    (void)state;
    const char *xml =
        "<!DOCTYPE r [<!ENTITY e \"5-1\">]>"
        "<r><accountNumber>&#50;-1</accountNumber><accountNumber>4-1</accountNumber></r>";
    fd_uccx_list *l = fd_uccx_list_parse(xml, strlen(xml));
    assert_non_null(l);
    assert_true(fd_uccx_list_contains(l, "2-1"));
    assert_true(fd_uccx_list_contains(l, "4-1"));
    fd_uccx_list_destroy(l);
}

static void test_uccx_list_unreadable_documents_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "not xml at all",
        "<contacts><accountNumber>1-1</accountNumber>",                     /* truncated */
        "<c><csvdata>\nPhone1,Status\n+1555,pending\n</csvdata></c>",       /* no account column */
        "<c><csvdata>\nAccount Number,Phone1\n\"1-1,+1555\n</csvdata></c>", /* open quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd_uccx_list *l = fd_uccx_list_parse(bad[i], strlen(bad[i]));
        if (l)
            fail_msg("document %zu was accepted: %s", i, bad[i]);
    }
}

static void test_reconcile_partition_splits_present_and_missing(void **state)
{
    (void)state;
    const char *xml = "<contacts><contact><accountNumber>1-1</accountNumber></contact>"
                      "<contact><accountNumber>3-1</accountNumber></contact></contacts>";
    fd_uccx_list *l = fd_uccx_list_parse(xml, strlen(xml));
    const char *acc[4] = {"1-1", "2-1", "3-1", "4-1"};
    int present[4] = {-1, -1, -1, -1};
    assert_int_equal(fd_reconcile_partition(l, acc, 4, present), 2);
    assert_int_equal(present[0], 1);
    assert_int_equal(present[1], 0);
    assert_int_equal(present[2], 1);
    assert_int_equal(present[3], 0);
    fd_uccx_list_destroy(l);
}

/* ---- against the fake peer ---- */

typedef struct {
    fake_uccx *fake;
    fd_uccx *client;
} peer_fixture;

static int peer_setup(void **state)
{
    peer_fixture *p = calloc(1, sizeof *p);
    p->fake = fake_start(PORT_LO, PORT_HI - 1);
    assert_non_null(p->fake);
    char url[64];
    fake_url(p->fake, url, sizeof url);
    p->client = fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 300);
    assert_non_null(p->client);
    *state = p;
    return 0;
}

static int peer_teardown(void **state)
{
    peer_fixture *p = *state;
    fd_uccx_destroy(p->client);
    fake_stop(p->fake);
    free(p);
    return 0;
}

static void three_contacts(fd_uccx_contact c[3])
{
    c[0] = (fd_uccx_contact){.account_number = "100-1", .first_name = "A", .phone1 = "+1"};
    c[1] = (fd_uccx_contact){.account_number = "101-1", .first_name = "B, b", .phone1 = "+2"};
    c[2] = (fd_uccx_contact){.account_number = "102-3", .last_name = "C&c", .phone1 = "+3"};
}

static void test_uccx_post_accepted_reaches_the_peer(void **state)
{
    peer_fixture *p = *state;
    fd_uccx_contact c[3];
    three_contacts(c);
    fd_uccx_result res;
    assert_int_equal(fd_uccx_post_contacts(p->client, "42", c, 3, &res), FD_UCCX_OK);
    assert_int_equal(res.http_status, 202);
    /* A second request on the same handle (keep-alive) works too. */
    fd_uccx_contact more = {.account_number = "103-1", .phone1 = "+4"};
    assert_int_equal(fd_uccx_post_contacts(p->client, "42", &more, 1, &res), FD_UCCX_OK);
    assert_int_equal(p->fake->posts, 2);
    assert_int_equal(p->fake->rows, 4);
    assert_int_equal(p->fake->duplicates, 0);
    assert_int_equal(p->fake->unauthorized, 0);
    assert_string_equal(p->fake->last_campaign, "42");
    assert_true(fake_has(p->fake, "101-1"));
    assert_true(fake_has(p->fake, "102-3"));
}

static void test_uccx_post_503_is_unavailable(void **state)
{
    peer_fixture *p = *state;
    fake_set(p->fake, 503, 200, 0);
    fd_uccx_contact c[3];
    three_contacts(c);
    fd_uccx_result res;
    assert_int_equal(fd_uccx_post_contacts(p->client, "42", c, 3, &res), FD_UCCX_UNAVAILABLE);
    assert_int_equal(res.http_status, 503);
    assert_int_equal(p->fake->rows, 0);
}

static void test_uccx_post_400_is_rejected_with_the_body(void **state)
{
    peer_fixture *p = *state;
    fake_set(p->fake, 400, 200, 0);
    fd_uccx_contact c[3];
    three_contacts(c);
    fd_uccx_result res;
    assert_int_equal(fd_uccx_post_contacts(p->client, "42", c, 3, &res), FD_UCCX_REJECTED);
    assert_int_equal(res.http_status, 400);
    assert_non_null(strstr(res.detail, "fake says no"));
}

static void test_uccx_post_timeout_is_unavailable(void **state)
{
    peer_fixture *p = *state;
    fake_set(p->fake, 202, 200, 1200); /* the client gives up after 300 ms */
    fd_uccx_contact c[3];
    three_contacts(c);
    fd_uccx_result res;
    assert_int_equal(fd_uccx_post_contacts(p->client, "42", c, 3, &res), FD_UCCX_UNAVAILABLE);
    assert_int_equal(res.http_status, 0);
    assert_true(res.detail[0] != '\0');
}

static void test_uccx_wrong_password_is_rejected(void **state)
{
    peer_fixture *p = *state;
    char url[64];
    fake_url(p->fake, url, sizeof url);
    fd_uccx *bad = fd_uccx_new(url, FAKE_UCCX_USER, "wrong", 300);
    fd_uccx_contact c[3];
    three_contacts(c);
    assert_int_equal(fd_uccx_post_contacts(bad, "42", c, 3, NULL), FD_UCCX_REJECTED);
    assert_int_equal(p->fake->unauthorized, 1);
    assert_int_equal(p->fake->rows, 0);
    fd_uccx_destroy(bad);
}

static void test_uccx_refused_connection_is_unavailable(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", PORT_NOBODY);
    fd_uccx *u = fd_uccx_new(url, "", "", 300);
    fd_uccx_contact c[3];
    three_contacts(c);
    fd_uccx_result res;
    assert_int_equal(fd_uccx_post_contacts(u, "42", c, 3, &res), FD_UCCX_UNAVAILABLE);
    fd_uccx_list *l = NULL;
    assert_int_equal(fd_uccx_list_contacts(u, "42", &l, &res), FD_UCCX_UNAVAILABLE);
    assert_null(l);
    fd_uccx_destroy(u);
}

static void test_uccx_reconcile_decides_present_and_missing(void **state)
{
    peer_fixture *p = *state;
    fake_add(p->fake, "200-1");
    fake_add(p->fake, "202-1");
    fd_uccx_list *l = NULL;
    fd_uccx_result res;
    assert_int_equal(fd_uccx_list_contacts(p->client, "42", &l, &res), FD_UCCX_OK);
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 2);
    const char *acc[4] = {"200-1", "201-1", "202-1", "203-1"};
    int present[4];
    assert_int_equal(fd_reconcile_partition(l, acc, 4, present), 2);
    assert_int_equal(present[0], 1);
    assert_int_equal(present[1], 0);
    assert_int_equal(present[2], 1);
    assert_int_equal(present[3], 0);
    fd_uccx_list_destroy(l);
}

static void test_uccx_list_404_means_nothing_arrived(void **state)
{
    peer_fixture *p = *state;
    fake_set(p->fake, 202, 404, 0);
    fd_uccx_list *l = NULL;
    assert_int_equal(fd_uccx_list_contacts(p->client, "42", &l, NULL), FD_UCCX_OK);
    assert_non_null(l);
    assert_int_equal(fd_uccx_list_count(l), 0);
    fd_uccx_list_destroy(l);
}

static void test_uccx_list_server_error_is_never_an_empty_list(void **state)
{
    peer_fixture *p = *state;
    fake_add(p->fake, "300-1");
    fake_set(p->fake, 202, 500, 0);
    fd_uccx_list *l = NULL;
    assert_int_equal(fd_uccx_list_contacts(p->client, "42", &l, NULL), FD_UCCX_UNAVAILABLE);
    assert_null(l);
}

int main(void)
{
    ecm_log_init("test_fd_uccx", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uccx_body_header_line_is_exact),
        cmocka_unit_test(test_uccx_body_escapes_xml_specials_in_names),
        cmocka_unit_test(test_uccx_body_quotes_commas_and_quotes_in_csv),
        cmocka_unit_test(test_uccx_body_replaces_control_characters),
        cmocka_unit_test(test_uccx_body_replaces_xml_noncharacters),
        cmocka_unit_test(test_uccx_list_reads_account_elements),
        cmocka_unit_test(test_uccx_list_reads_csvdata_shape),
        cmocka_unit_test(test_uccx_list_empty_campaign_is_an_empty_list),
        cmocka_unit_test(test_uccx_list_with_a_dtd_is_read_and_freed),
        cmocka_unit_test(test_uccx_list_unreadable_documents_are_refused),
        cmocka_unit_test(test_reconcile_partition_splits_present_and_missing),
        cmocka_unit_test_setup_teardown(test_uccx_post_accepted_reaches_the_peer, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_post_503_is_unavailable, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_post_400_is_rejected_with_the_body, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_post_timeout_is_unavailable, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_wrong_password_is_rejected, peer_setup,
                                        peer_teardown),
        cmocka_unit_test(test_uccx_refused_connection_is_unavailable),
        cmocka_unit_test_setup_teardown(test_uccx_reconcile_decides_present_and_missing, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_list_404_means_nothing_arrived, peer_setup,
                                        peer_teardown),
        cmocka_unit_test_setup_teardown(test_uccx_list_server_error_is_never_an_empty_list,
                                        peer_setup, peer_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
