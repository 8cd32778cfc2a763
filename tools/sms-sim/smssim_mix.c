#include "smssim_mix.h"

#include "ecm_hash.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct smssim_mix {
    unsigned weight[SMSSIM_OUTCOME_COUNT];
    uint64_t total;
};

static const char *const smssim_names[SMSSIM_OUTCOME_COUNT] = {"delivered", "undelivered",
                                                               "rejected", "nodlr"};

const char *smssim_outcome_name(smssim_outcome o)
{
    return (unsigned)o < SMSSIM_OUTCOME_COUNT ? smssim_names[o] : "unknown";
}

/* Trims spaces around [*s, *s + *len). */
static void mix_trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1])) {
        (*len)--;
    }
}

static int mix_parse_weight(const char *s, size_t len, long long *out)
{
    char buf[32];
    mix_trim(&s, &len);
    if (len == 0 || len >= sizeof buf) {
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || *end != '\0' || v < 0 || v > SMSSIM_MIX_MAX_WEIGHT) {
        return -1;
    }
    *out = v;
    return 0;
}

static int mix_find_outcome(const char *s, size_t len)
{
    mix_trim(&s, &len);
    for (int i = 0; i < SMSSIM_OUTCOME_COUNT; i++) {
        if (strlen(smssim_names[i]) == len && strncmp(smssim_names[i], s, len) == 0) {
            return i;
        }
    }
    return -1;
}

int smssim_mix_parse(const char *text, smssim_mix **out, char *errstr, size_t errstr_size)
{
    if (!text || !*text) {
        snprintf(errstr, errstr_size, "mix is empty");
        return -1;
    }
    smssim_mix *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int seen[SMSSIM_OUTCOME_COUNT] = {0};
    const char *p = text;
    for (int entry_no = 1;; entry_no++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int shown = (int)(len > 40 ? 40 : len);
        const char *colon = memchr(p, ':', len);
        if (!colon) {
            snprintf(errstr, errstr_size, "entry %d '%.*s': expected outcome:weight", entry_no,
                     shown, p);
            goto fail;
        }
        int o = mix_find_outcome(p, (size_t)(colon - p));
        if (o < 0) {
            snprintf(errstr, errstr_size,
                     "entry %d '%.*s': unknown outcome (delivered, undelivered, rejected, nodlr)",
                     entry_no, shown, p);
            goto fail;
        }
        long long w = 0;
        if (mix_parse_weight(colon + 1, len - (size_t)(colon + 1 - p), &w) != 0) {
            snprintf(errstr, errstr_size, "entry %d '%.*s': weight must be an integer 0..%d",
                     entry_no, shown, p, SMSSIM_MIX_MAX_WEIGHT);
            goto fail;
        }
        if (seen[o]) {
            snprintf(errstr, errstr_size, "entry %d: outcome %s is given twice", entry_no,
                     smssim_names[o]);
            goto fail;
        }
        seen[o] = 1;
        m->weight[o] = (unsigned)w;
        m->total += (uint64_t)w;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    if (m->total == 0) {
        snprintf(errstr, errstr_size, "every weight is 0");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    free(m);
    return -1;
}

int smssim_mix_validate(const char *text, char *errstr, size_t errstr_size)
{
    smssim_mix *m = NULL;
    if (smssim_mix_parse(text, &m, errstr, errstr_size) != 0) {
        return -1;
    }
    smssim_mix_destroy(m);
    return 0;
}

void smssim_mix_destroy(smssim_mix *m)
{
    free(m);
}

unsigned smssim_mix_weight(const smssim_mix *m, smssim_outcome o)
{
    return (unsigned)o < SMSSIM_OUTCOME_COUNT ? m->weight[o] : 0;
}

uint64_t smssim_mix_total(const smssim_mix *m)
{
    return m->total;
}

uint64_t smssim_hash(const char *message_id, uint64_t seed)
{
    return ecm_hash_str(message_id, seed);
}

smssim_outcome smssim_mix_pick(const smssim_mix *m, const char *message_id, uint64_t seed)
{
    return (smssim_outcome)ecm_hash_pick(ecm_hash_str(message_id, seed), m->weight,
                                         SMSSIM_OUTCOME_COUNT, m->total);
}
