#include "gw_client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One trusted block: the address as 16 bytes (IPv4 mapped into IPv6) and
 * how many leading bits must match. */
typedef struct {
    unsigned char addr[16];
    int bits;
} block;

/* Written once by gw_client_configure before serving; read-only after. */
static block proxies[GW_CLIENT_MAX_PROXIES];
static size_t nproxies;

/* text → 16 bytes (IPv4 as ::ffff:a.b.c.d); *v4 says which. Returns 0 or -1. */
static int parse_addr(const char *text, unsigned char out[16], int *v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = 1;
        return 0;
    }
    *v4 = 0;
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

/* One item "addr" or "addr/bits" (whitespace around trimmed) into b.
 * Returns 0 or -1. */
static int parse_block(const char *item, size_t len, block *b)
{
    while (len && (*item == ' ' || *item == '\t')) {
        item++;
        len--;
    }
    while (len && (item[len - 1] == ' ' || item[len - 1] == '\t')) {
        len--;
    }
    char text[64];
    if (len == 0 || len >= sizeof text) {
        return -1;
    }
    memcpy(text, item, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || bits < 0) {
            return -1;
        }
    }
    int v4;
    if (parse_addr(text, b->addr, &v4) != 0 || bits > (v4 ? 32 : 128)) {
        return -1;
    }
    b->bits = bits < 0 ? 128 : (int)bits + (v4 ? 96 : 0);
    return 0;
}

/* Parses list into out (at most max); returns how many, or -1 (errstr). */
static long parse_list(const char *list, block *out, size_t max, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        block b;
        if (parse_block(p, len, &b) != 0) {
            (void)snprintf(errstr, errstr_size,
                           "'%.*s' is not an IP address or CIDR block (e.g. 10.0.0.0/8)",
                           (int)(len > 60 ? 60 : len), p);
            return -1;
        }
        if (n == max) {
            (void)snprintf(errstr, errstr_size, "more than %zu proxies or blocks", max);
            return -1;
        }
        out[n++] = b;
        p = comma ? comma + 1 : p + len;
    }
    return (long)n;
}

int gw_client_check(const char *list, char *errstr, size_t errstr_size)
{
    block tmp[GW_CLIENT_MAX_PROXIES];
    return parse_list(list, tmp, GW_CLIENT_MAX_PROXIES, errstr, errstr_size) < 0 ? -1 : 0;
}

int gw_client_configure(const char *list, char *errstr, size_t errstr_size)
{
    long n = parse_list(list, proxies, GW_CLIENT_MAX_PROXIES, errstr, errstr_size);
    nproxies = n < 0 ? 0 : (size_t)n;
    return n < 0 ? -1 : 0;
}

static int in_block(const unsigned char a[16], const block *b)
{
    int full = b->bits / 8, rest = b->bits % 8;
    if (memcmp(a, b->addr, (size_t)full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b->addr[full] & mask);
}

static int trusted(const char *text)
{
    unsigned char a[16];
    int v4;
    if (parse_addr(text, a, &v4) != 0) {
        return 0;
    }
    for (size_t i = 0; i < nproxies; i++) {
        if (in_block(a, &proxies[i])) {
            return 1;
        }
    }
    return 0;
}

/* Copies the address item [s, s+len) trimmed into out when it is one.
 * Returns 0 or -1. */
static int take_item(const char *s, size_t len, char *out, size_t out_size)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    unsigned char a[16];
    int v4;
    char text[64];
    if (len == 0 || len >= sizeof text || len >= out_size) {
        return -1;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    if (parse_addr(text, a, &v4) != 0) {
        return -1;
    }
    memcpy(out, text, len + 1);
    return 0;
}

int gw_client_addr(ecm_http_req *req, char *out, size_t out_size)
{
    if (ecm_http_req_client_addr(req, out, out_size) != 0) {
        return -1;
    }
    const char *xff = nproxies ? ecm_http_req_header(req, "X-Forwarded-For") : NULL;
    if (!xff || !trusted(out)) {
        return 0;
    }
    /* Right to left: each proxy appends the address it got the request
     * from; the first one not ours is the client. */
    char found[64] = "";
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') {
            start--;
        }
        char item[64];
        if (take_item(xff + start, end - start, item, sizeof item) != 0) {
            break; /* a malformed entry: believe nothing left of it */
        }
        memcpy(found, item, strlen(item) + 1);
        if (!trusted(item)) {
            break;
        }
        end = start > 0 ? start - 1 : 0;
    }
    if (found[0] && strlen(found) < out_size) {
        memcpy(out, found, strlen(found) + 1);
    }
    return 0;
}
