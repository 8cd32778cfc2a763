#include "smssim_state.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

typedef struct {
    char *id; /* NULL: free slot */
    uint32_t seen;
} state_slot;

struct smssim_state {
    pthread_mutex_t mu;
    state_slot *slots;
    size_t cap; /* power of two */
    size_t used;
    size_t max_ids;
    uint64_t duplicate_ids;
    uint64_t by_outcome[SMSSIM_OUTCOME_COUNT];
    uint64_t ctr[SMSSIM_CTR_COUNT];
    int64_t unavailable_until_ms;
};

int64_t smssim_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

smssim_state *smssim_state_new(size_t max_ids)
{
    smssim_state *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->max_ids = max_ids;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void smssim_state_destroy(smssim_state *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].id);
    }
    free(s->slots);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Slot of id, or the free slot where it would go (linear probing). */
static state_slot *state_find(state_slot *slots, size_t cap, const char *id)
{
    size_t i = (size_t)smssim_hash(id, 0) & (cap - 1);
    while (slots[i].id && strcmp(slots[i].id, id) != 0) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

/* Doubles the table. Returns 0, or -1 (table unchanged) when out of memory. */
static int state_grow(smssim_state *s)
{
    size_t cap = s->cap * 2;
    state_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) {
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].id) {
            *state_find(slots, cap, s->slots[i].id) = s->slots[i];
        }
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

long smssim_state_record(smssim_state *s, const char *message_id, smssim_outcome outcome)
{
    long before = -1;
    pthread_mutex_lock(&s->mu);
    s->ctr[SMSSIM_CTR_RECEIVED]++;
    if ((unsigned)outcome < SMSSIM_OUTCOME_COUNT) {
        s->by_outcome[outcome]++;
    }
    state_slot *slot = state_find(s->slots, s->cap, message_id);
    if (slot->id) {
        before = (long)slot->seen;
        if (slot->seen == 1) {
            s->duplicate_ids++;
        }
        if (slot->seen < UINT32_MAX) {
            slot->seen++;
        }
        goto out;
    }
    /* Load factor at most 1/2 keeps probe chains short. */
    if (s->used >= s->max_ids || ((s->used + 1) * 2 > s->cap && state_grow(s) != 0)) {
        s->ctr[SMSSIM_CTR_UNTRACKED]++;
        goto out;
    }
    slot = state_find(s->slots, s->cap, message_id);
    slot->id = strdup(message_id);
    if (!slot->id) {
        s->ctr[SMSSIM_CTR_UNTRACKED]++;
        goto out;
    }
    slot->seen = 1;
    s->used++;
    before = 0;
out:
    pthread_mutex_unlock(&s->mu);
    return before;
}

void smssim_state_add(smssim_state *s, smssim_counter c, uint64_t n)
{
    if ((unsigned)c >= SMSSIM_CTR_COUNT) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->ctr[c] += n;
    pthread_mutex_unlock(&s->mu);
}

uint64_t smssim_state_get(smssim_state *s, smssim_counter c)
{
    if ((unsigned)c >= SMSSIM_CTR_COUNT) {
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->ctr[c];
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t smssim_state_unique_ids(smssim_state *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->used;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t smssim_state_duplicate_ids(smssim_state *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->duplicate_ids;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t smssim_state_outcome_count(smssim_state *s, smssim_outcome o)
{
    if ((unsigned)o >= SMSSIM_OUTCOME_COUNT) {
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->by_outcome[o];
    pthread_mutex_unlock(&s->mu);
    return v;
}

void smssim_state_set_unavailable(smssim_state *s, int64_t now_ms, long long seconds)
{
    pthread_mutex_lock(&s->mu);
    s->unavailable_until_ms = seconds > 0 ? now_ms + (int64_t)seconds * 1000 : 0;
    pthread_mutex_unlock(&s->mu);
}

int smssim_state_unavailable(smssim_state *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    int v = now_ms < s->unavailable_until_ms;
    pthread_mutex_unlock(&s->mu);
    return v;
}

char *smssim_state_stats_json(smssim_state *s, uint64_t dlrs_pending)
{
    pthread_mutex_lock(&s->mu);
    uint64_t ctr[SMSSIM_CTR_COUNT], by[SMSSIM_OUTCOME_COUNT];
    memcpy(ctr, s->ctr, sizeof ctr);
    memcpy(by, s->by_outcome, sizeof by);
    uint64_t unique = s->used, dups = s->duplicate_ids;
    int64_t left_ms = s->unavailable_until_ms - smssim_now_ms();
    pthread_mutex_unlock(&s->mu);

    json_t *outcomes = json_object();
    for (int i = 0; i < SMSSIM_OUTCOME_COUNT; i++) {
        json_object_set_new(outcomes, smssim_outcome_name((smssim_outcome)i),
                            json_integer((json_int_t)by[i]));
    }
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "received",
        (json_int_t)ctr[SMSSIM_CTR_RECEIVED], "unique_message_ids", (json_int_t)unique,
        "duplicate_message_ids", (json_int_t)dups, "by_outcome", outcomes, "dlrs_sent",
        (json_int_t)ctr[SMSSIM_CTR_DLRS_SENT], "dlrs_failed",
        (json_int_t)ctr[SMSSIM_CTR_DLRS_FAILED], "dlr_retries",
        (json_int_t)ctr[SMSSIM_CTR_DLR_RETRIES], "dlrs_pending", (json_int_t)dlrs_pending,
        "unavailable_answered", (json_int_t)ctr[SMSSIM_CTR_UNAVAILABLE], "unauthorized",
        (json_int_t)ctr[SMSSIM_CTR_UNAUTHORIZED], "invalid", (json_int_t)ctr[SMSSIM_CTR_INVALID],
        "mo_forwarded", (json_int_t)ctr[SMSSIM_CTR_MO_FORWARDED], "mo_failed",
        (json_int_t)ctr[SMSSIM_CTR_MO_FAILED], "untracked_ids",
        (json_int_t)ctr[SMSSIM_CTR_UNTRACKED], "unavailable_now", left_ms > 0);
    if (!o) {
        return NULL;
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}
