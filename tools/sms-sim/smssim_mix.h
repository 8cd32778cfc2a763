/* The simulator's outcome mix: "delivered:80,undelivered:10,rejected:5,nodlr:5"
 * and a deterministic choice from it, so that the same message id and seed
 * always get the same outcome (a resent message behaves like the first). */
#ifndef SMSSIM_MIX_H
#define SMSSIM_MIX_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SMSSIM_DELIVERED = 0, /* 202, then DLR 1 */
    SMSSIM_UNDELIVERED,   /* 202, then DLR 2 */
    SMSSIM_REJECTED,      /* 400 at send time, no DLR */
    SMSSIM_NODLR,         /* 202, never a DLR */
    SMSSIM_OUTCOME_COUNT
} smssim_outcome;

#define SMSSIM_MIX_MAX_WEIGHT 1000000

typedef struct smssim_mix smssim_mix;

/* Parses text into a new mix: comma-separated outcome:weight entries, spaces
 * around tokens allowed, outcomes in any order, each at most once, weights
 * 0..SMSSIM_MIX_MAX_WEIGHT with a positive total. Returns 0 and sets *out, or
 * -1 with one line in errstr (e.g. "entry 2 'lost:5': unknown outcome") and
 * *out untouched. */
int smssim_mix_parse(const char *text, smssim_mix **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ecm_config validator for the mix variable: 0, or -1 with the reason. */
int smssim_mix_validate(const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Frees the mix; NULL is ignored. */
void smssim_mix_destroy(smssim_mix *m);

/* The weight given to an outcome (0 when absent), and the sum. Can't fail. */
unsigned smssim_mix_weight(const smssim_mix *m, smssim_outcome o);
uint64_t smssim_mix_total(const smssim_mix *m);

/* Name of an outcome as used in the mix and in /sim/stats ("delivered"...). */
const char *smssim_outcome_name(smssim_outcome o);

/* A well-mixed 64-bit hash of (message_id, seed), stable across runs,
 * processes and machines. Can't fail. */
uint64_t smssim_hash(const char *message_id, uint64_t seed);

/* The outcome for this message id: outcome o with probability
 * weight_o / total over message ids. Deterministic; can't fail. */
smssim_outcome smssim_mix_pick(const smssim_mix *m, const char *message_id, uint64_t seed);

#endif
