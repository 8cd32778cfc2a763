/* A Bloom filter of a fixed size: "certainly not added" or "maybe added".
 * Used where an exact answer costs a database round trip per item and most
 * items are new (the upload's duplicate check): only the "maybe" ones are
 * looked up. Its memory never grows; as more items are added, more answers
 * are "maybe" (about 1 in 6,000 at 2 M items in 8 MiB with 4 probes, 1 in
 * 4 at 20 M), which costs lookups, never a wrong answer. Not thread-safe. */
#ifndef ECM_BLOOM_H
#define ECM_BLOOM_H

#include <stddef.h>

typedef struct ecm_bloom ecm_bloom;

/* A filter of 2^log2_bits bits (clamped to 10..34), empty. NULL when out of
 * memory. The bits are allocated zeroed, so pages are touched only as they
 * are used. */
ecm_bloom *ecm_bloom_new(unsigned log2_bits) __attribute__((warn_unused_result));
void ecm_bloom_destroy(ecm_bloom *b);

void ecm_bloom_add(ecm_bloom *b, const void *key, size_t len);

/* 0: key was certainly never added; 1: it may have been. */
int ecm_bloom_maybe(const ecm_bloom *b, const void *key, size_t len);

/* Items added so far. */
size_t ecm_bloom_count(const ecm_bloom *b);

#endif
