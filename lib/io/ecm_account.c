#include "ecm_account.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ACCOUNT_NUMBER_MAX 30

int ecm_account_format(char *out, size_t out_size, int64_t contact_id, int attempt)
{
    if (!out || out_size < ACCOUNT_NUMBER_MAX + 1 || contact_id < 0 || attempt <= 0) {
        if (out && out_size) {
            out[0] = '\0';
        }
        return -1;
    }
    int n = snprintf(out, out_size, "%" PRId64 "-%d", contact_id, attempt);
    if (n < 0 || n > ACCOUNT_NUMBER_MAX) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Parses a run of decimal digits up to max without overflow and without a
 * leading zero (we never write one). Returns the end, or NULL. */
static const char *parse_digits(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    if (*p == '0' && p[1] >= '0' && p[1] <= '9') {
        return NULL;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10) {
            return NULL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return p;
}

int ecm_account_parse(const char *s, int64_t *contact_id, int *attempt)
{
    uint64_t id, att;
    if (!s || strlen(s) > ACCOUNT_NUMBER_MAX) {
        return -1;
    }
    const char *p = parse_digits(s, INT64_MAX, &id);
    if (!p || *p != '-') {
        return -1;
    }
    p = parse_digits(p + 1, INT_MAX, &att);
    if (!p || *p != '\0' || att == 0) {
        return -1;
    }
    if (contact_id) {
        *contact_id = (int64_t)id;
    }
    if (attempt) {
        *attempt = (int)att;
    }
    return 0;
}
