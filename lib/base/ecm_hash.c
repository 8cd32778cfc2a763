#include "ecm_hash.h"

static uint64_t finalise(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t ecm_hash_str(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return finalise(h ^ finalise(seed + 0x9e3779b97f4a7c15ULL));
}

size_t ecm_hash_pick(uint64_t h, const unsigned *weights, size_t n, uint64_t total)
{
    uint64_t r = h % total;
    for (size_t i = 0; i < n; i++) {
        if (r < weights[i]) {
            return i;
        }
        r -= weights[i];
    }
    return n - 1;
}
