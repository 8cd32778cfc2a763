#include "sim_mix.h"

#include "ecm_hash.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int code;
    unsigned weight;
} mix_entry;

struct sim_mix {
    mix_entry entries[SIM_MIX_MAX_ENTRIES];
    size_t n;
    uint64_t total;
};

/* Parses [lo, hi] from the whole of s (surrounding spaces allowed). */
static int mix_parse_int(const char *s, size_t len, long long lo, long long hi, long long *out)
{
    char buf[32];
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    if (len == 0 || len >= sizeof buf) {
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

int sim_mix_parse(const char *text, sim_mix **out, char *errstr, size_t errstr_size)
{
    if (!text) {
        snprintf(errstr, errstr_size, "mix is empty");
        return -1;
    }
    sim_mix *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    const char *p = text;
    int entry_no = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        entry_no++;
        const char *colon = memchr(p, ':', len);
        long long code = 0, weight = 0;
        if (!colon) {
            snprintf(errstr, errstr_size, "entry %d '%.*s': expected code:weight", entry_no,
                     (int)(len > 40 ? 40 : len), p);
            goto fail;
        }
        if (mix_parse_int(p, (size_t)(colon - p), 0, SIM_MIX_MAX_CODE, &code) != 0) {
            snprintf(errstr, errstr_size, "entry %d '%.*s': code must be an integer 0..%d",
                     entry_no, (int)(len > 40 ? 40 : len), p, SIM_MIX_MAX_CODE);
            goto fail;
        }
        if (mix_parse_int(colon + 1, len - (size_t)(colon + 1 - p), 1, SIM_MIX_MAX_WEIGHT,
                          &weight) != 0) {
            snprintf(errstr, errstr_size, "entry %d '%.*s': weight must be an integer 1..%d",
                     entry_no, (int)(len > 40 ? 40 : len), p, SIM_MIX_MAX_WEIGHT);
            goto fail;
        }
        for (size_t i = 0; i < m->n; i++) {
            if (m->entries[i].code == (int)code) {
                snprintf(errstr, errstr_size, "entry %d: code %lld is given twice", entry_no, code);
                goto fail;
            }
        }
        if (m->n == SIM_MIX_MAX_ENTRIES) {
            snprintf(errstr, errstr_size, "more than %d entries", SIM_MIX_MAX_ENTRIES);
            goto fail;
        }
        m->entries[m->n].code = (int)code;
        m->entries[m->n].weight = (unsigned)weight;
        m->n++;
        m->total += (uint64_t)weight;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    *out = m;
    return 0;
fail:
    free(m);
    return -1;
}

int sim_mix_validate(const char *text, char *errstr, size_t errstr_size)
{
    sim_mix *m = NULL;
    if (sim_mix_parse(text, &m, errstr, errstr_size) != 0) {
        return -1;
    }
    sim_mix_destroy(m);
    return 0;
}

void sim_mix_destroy(sim_mix *m)
{
    free(m);
}

size_t sim_mix_count(const sim_mix *m)
{
    return m->n;
}

int sim_mix_code(const sim_mix *m, size_t i)
{
    return m->entries[i].code;
}

unsigned sim_mix_weight(const sim_mix *m, size_t i)
{
    return m->entries[i].weight;
}

uint64_t sim_mix_total_weight(const sim_mix *m)
{
    return m->total;
}

uint64_t sim_mix_hash(const char *account_number, uint64_t seed)
{
    return ecm_hash_str(account_number, seed);
}

int sim_mix_pick(const sim_mix *m, const char *account_number, uint64_t seed)
{
    unsigned weights[SIM_MIX_MAX_ENTRIES];
    for (size_t i = 0; i < m->n; i++) {
        weights[i] = m->entries[i].weight;
    }
    return m->entries[ecm_hash_pick(ecm_hash_str(account_number, seed), weights, m->n, m->total)]
        .code;
}
