/* The UCCX contact list the feeder reads back (fd_uccx_list_parse: libxml2
 * SAX, accountNumber elements or CSV inside csvdata) and the import body it
 * sends (fd_uccx_build_contacts_xml).
 *
 * Input: byte 0 bit 0 picks the check; the rest is the text.
 *   0 list: the text is an answer from UCCX;
 *   1 round trip: the text, split at '|', is the fields of contacts (six a
 *     contact: account number, first and last name, three phones), sent
 *     as an import body and read back as a contact list.
 *
 * Properties:
 * - a list read from any answer holds what it says it holds: its count is
 *   the number of distinct numbers, each of which it contains;
 * - an import body built from valid UTF-8 contacts reads back as a list
 *   holding every contact's account number as UCCX would see it (controls
 *   other than tab and line breaks as spaces, the writer keeping CR as
 *   &#13;, trimmed) and nothing
 *   else: a contact's name can never spoil the batch or hide a number. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "fd_uccx.h"
#include "fuzz_support.h"

#define MAX_CONTACTS 64

static void fuzz_list(const char *text, size_t len)
{
    fd_uccx_list *l = fd_uccx_list_parse(text, len);
    if (!l) {
        return;
    }
    /* Whatever element text it took: the count is at most the elements. */
    FUZZ_CHECK(fd_uccx_list_count(l) <= len, "%zu numbers from %zu bytes", fd_uccx_list_count(l),
               len);
    FUZZ_CHECK(!fd_uccx_list_contains(l, ""), "an empty account number in the list");
    fd_uccx_list_destroy(l);
}

/* The account number as UCCX reads it back. malloc'd. */
static char *as_read(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    FUZZ_CHECK(o != NULL, "oom");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xEF && (unsigned char)s[i + 1] == 0xBF &&
            ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF)) {
            memcpy(o + k, "\xEF\xBF\xBD", 3); /* U+FFFE, U+FFFF: no XML character */
            k += 3;
            i += 2;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            o[k++] = ' ';
        } else {
            o[k++] = (char)c;
        }
    }
    o[k] = '\0';
    char *p = o;
    while (*p && isspace((unsigned char)*p)) {
        p++;
    }
    size_t m = strlen(p);
    while (m > 0 && isspace((unsigned char)p[m - 1])) {
        m--;
    }
    memmove(o, p, m);
    o[m] = '\0';
    return o;
}

static void fuzz_round_trip(char *text, size_t len)
{
    if (!ecm_utf8_text_ok(text, len)) {
        return; /* contacts come from the DB: valid UTF-8 text */
    }
    const char *fields[MAX_CONTACTS * 6];
    size_t nf = 0;
    char *p = text;
    while (nf < MAX_CONTACTS * 6) {
        fields[nf++] = p;
        char *bar = strchr(p, '|');
        if (!bar) {
            break;
        }
        *bar = '\0';
        p = bar + 1;
    }
    size_t n = (nf + 5) / 6;
    fd_uccx_contact contacts[MAX_CONTACTS];
    for (size_t i = 0; i < n; i++) {
        const char **f = &fields[i * 6];
        size_t have = nf - i * 6;
        contacts[i] = (fd_uccx_contact){f[0],
                                        have > 1 ? f[1] : NULL,
                                        have > 2 ? f[2] : NULL,
                                        have > 3 ? f[3] : NULL,
                                        have > 4 ? f[4] : NULL,
                                        have > 5 ? f[5] : NULL};
    }
    size_t xlen = 0;
    char *xml = fd_uccx_build_contacts_xml("Campaign <\"&'>", "http://127.0.0.1/x?a=1&b=2",
                                           contacts, n, &xlen);
    FUZZ_CHECK(xml != NULL && xlen == strlen(xml), "import body not built");
    FUZZ_CHECK(ecm_utf8_valid(xml, xlen), "import body is not valid UTF-8");
    fd_uccx_list *l = fd_uccx_list_parse(xml, xlen);
    FUZZ_CHECK(l != NULL, "our own import body does not read back:\n%s", xml);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        char *want = as_read(contacts[i].account_number);
        if (want[0]) {
            FUZZ_CHECK(fd_uccx_list_contains(l, want), "account number '%s' lost:\n%s", want, xml);
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++) {
                char *other = as_read(contacts[j].account_number);
                seen = strcmp(other, want) == 0;
                free(other);
            }
            distinct += !seen;
        }
        free(want);
    }
    FUZZ_CHECK(fd_uccx_list_count(l) == distinct, "%zu numbers read back, %zu sent",
               fd_uccx_list_count(l), distinct);
    fd_uccx_list_destroy(l);
    free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    char *text = fuzz_strndup(data + 1, size - 1);
    if (data[0] & 1) {
        fuzz_round_trip(text, size - 1);
    } else {
        fuzz_list(text, size - 1);
    }
    free(text);
    return 0;
}
