/* The simulator's CallResult mix: "code:weight,code:weight,..." (e.g.
 * "10:40,8:25,9:10") and a deterministic choice from it, so that the same
 * account number and seed always get the same CallResult and runs can be
 * compared with each other. */
#ifndef SIM_MIX_H
#define SIM_MIX_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MIX_MAX_ENTRIES 64
#define SIM_MIX_MAX_CODE 99
#define SIM_MIX_MAX_WEIGHT 1000000

typedef struct sim_mix sim_mix;

/* Parses text into a new mix (spaces around tokens allowed). Returns 0 and
 * sets *out, or -1 with one line in errstr ("entry 2 '8:x': weight is not an
 * integer") and *out untouched. Rejected: empty text or entry, a code outside
 * 0..SIM_MIX_MAX_CODE, a weight outside 1..SIM_MIX_MAX_WEIGHT, a code given
 * twice, more than SIM_MIX_MAX_ENTRIES entries. */
int sim_mix_parse(const char *text, sim_mix **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ecm_config validator for the mix variable: 0, or -1 with the reason. */
int sim_mix_validate(const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Frees the mix; NULL is ignored. */
void sim_mix_destroy(sim_mix *m);

/* Number of entries, and the code/weight of entry i (in the order given).
 * These can't fail for i < sim_mix_count(). */
size_t sim_mix_count(const sim_mix *m);
int sim_mix_code(const sim_mix *m, size_t i);
unsigned sim_mix_weight(const sim_mix *m, size_t i);
uint64_t sim_mix_total_weight(const sim_mix *m);

/* A well-mixed 64-bit hash of (account_number, seed). Depends on nothing
 * else, so it is stable across runs, processes and machines. */
uint64_t sim_mix_hash(const char *account_number, uint64_t seed);

/* The CallResult for this account number: entry i is chosen with probability
 * weight_i / total over account numbers. Deterministic; can't fail. */
int sim_mix_pick(const sim_mix *m, const char *account_number, uint64_t seed);

#endif
