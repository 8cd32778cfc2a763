#include "gw_phone_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

int gw_phone_set_init(gw_phone_set *ps, size_t n)
{
    /* At most three quarters full: probes stay short, and the slots (32
     * bytes each, all touched) of a 40,000-number batch are 2 MiB, not 4. */
    size_t cap = 64;
    while (cap < n + n / 3 + 1) {
        cap *= 2;
    }
    ps->slots = calloc(cap, sizeof(*ps->slots));
    ps->mask = cap - 1;
    return ps->slots ? 0 : -1;
}

gw_phone_entry *gw_phone_set_get(gw_phone_set *ps, const char *phone)
{
    for (size_t i = hash_str(phone) & ps->mask;; i = (i + 1) & ps->mask) {
        gw_phone_entry *e = &ps->slots[i];
        if (!e->phone) {
            e->phone = phone;
            return e;
        }
        if (strcmp(e->phone, phone) == 0) {
            return e;
        }
    }
}

void gw_phone_set_destroy(gw_phone_set *ps)
{
    free(ps->slots);
    ps->slots = NULL;
    ps->mask = 0;
}
