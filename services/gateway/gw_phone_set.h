/* The numbers of one batch being loaded, and what the database and the batch
 * itself say about each: an open-addressing set keyed by E.164 text. The set
 * does not copy the numbers: each must outlive it. Not thread-safe. */
#ifndef GW_PHONE_SET_H
#define GW_PHONE_SET_H

#include <stddef.h>

typedef struct {
    const char *phone;
    long long upload_id; /* of the contact that has it; 0: none */
    long long line;      /* its line in that upload; 0: no contact has it */
    int dnc;             /* on a DNC list that applies */
} gw_phone_entry;

typedef struct {
    gw_phone_entry *slots;
    size_t mask;
} gw_phone_set;

/* Sizes ps for up to n numbers (at most three quarters full). Returns 0, or -1 when
 * out of memory (ps->slots NULL; gw_phone_set_destroy is still safe). */
int gw_phone_set_init(gw_phone_set *ps, size_t n) __attribute__((warn_unused_result));

/* The entry of phone, made (all else zero) if it is not there yet. More
 * numbers than the n given to gw_phone_set_init never come in. Can't fail. */
gw_phone_entry *gw_phone_set_get(gw_phone_set *ps, const char *phone);

/* Frees the slots (not the numbers). ps may be zeroed or failed init. */
void gw_phone_set_destroy(gw_phone_set *ps);

#endif
