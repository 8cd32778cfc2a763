/* A stable, seeded string hash and a weighted pick on it: the simulators use
 * them so that the same id with the same seed always gets the same outcome,
 * run after run. Not for security. */
#ifndef ECM_HASH_H
#define ECM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of s, finalised with splitmix64 together with seed so that
 * neighbouring ids ("x-1", "x-2") land far apart. Can't fail. */
uint64_t ecm_hash_str(const char *s, uint64_t seed);

/* Index i in [0, n) chosen by h with probability weights[i] / total, where
 * total is the sum of the weights (> 0). The modulo bias is total / 2^64. */
size_t ecm_hash_pick(uint64_t h, const unsigned *weights, size_t n, uint64_t total);

#endif
