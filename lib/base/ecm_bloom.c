#include "ecm_bloom.h"

#include <stdint.h>
#include <stdlib.h>

#define BLOOM_PROBES 4

struct ecm_bloom {
    uint64_t *words;
    uint64_t mask; /* bits - 1 */
    size_t count;
};

ecm_bloom *ecm_bloom_new(unsigned log2_bits)
{
    if (log2_bits < 10) {
        log2_bits = 10;
    }
    if (log2_bits > 34) {
        log2_bits = 34;
    }
    ecm_bloom *b = calloc(1, sizeof(*b));
    if (!b) {
        return NULL;
    }
    uint64_t bits = (uint64_t)1 << log2_bits;
    b->words = calloc((size_t)(bits / 64), sizeof(uint64_t));
    if (!b->words) {
        free(b);
        return NULL;
    }
    b->mask = bits - 1;
    return b;
}

void ecm_bloom_destroy(ecm_bloom *b)
{
    if (b) {
        free(b->words);
        free(b);
    }
}

/* FNV-1a over the bytes, then the splitmix64 finaliser so that keys that
 * differ only in their last digits spread over the whole table. */
static uint64_t bloom_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* Probe i of a key: double hashing (Kirsch-Mitzenmacher) from one hash;
 * the step is odd so that it never repeats a position within the table. */
#define BLOOM_POS(h, i, mask) (((h) + (uint64_t)(i) * (((h) >> 32) | 1)) & (mask))

void ecm_bloom_add(ecm_bloom *b, const void *key, size_t len)
{
    uint64_t h = bloom_hash(key, len);
    for (int i = 0; i < BLOOM_PROBES; i++) {
        uint64_t pos = BLOOM_POS(h, i, b->mask);
        b->words[pos / 64] |= (uint64_t)1 << (pos % 64);
    }
    b->count++;
}

int ecm_bloom_maybe(const ecm_bloom *b, const void *key, size_t len)
{
    uint64_t h = bloom_hash(key, len);
    for (int i = 0; i < BLOOM_PROBES; i++) {
        uint64_t pos = BLOOM_POS(h, i, b->mask);
        if (!(b->words[pos / 64] & ((uint64_t)1 << (pos % 64)))) {
            return 0;
        }
    }
    return 1;
}

size_t ecm_bloom_count(const ecm_bloom *b)
{
    return b->count;
}
