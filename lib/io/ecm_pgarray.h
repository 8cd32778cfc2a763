/* PostgreSQL array literals built in memory, for passing many values as one
 * parameter (WHERE id = ANY($1::bigint[]), unnest(...)) instead of a round
 * trip per row. */
#ifndef ECM_PGARRAY_H
#define ECM_PGARRAY_H

#include <stddef.h>

/* A PostgreSQL array literal built in memory ("{1,2}", "{\"a\"}"). Any
 * failure sticks: ecm_pgarr_finish() then returns NULL. */
typedef struct {
    char *s;
    size_t len, cap;
    int n;
    int failed;
} ecm_pgarr;

void ecm_pgarr_init(ecm_pgarr *a);
void ecm_pgarr_add_int(ecm_pgarr *a, long long v);
/* Adds s double-quoted with '"' and '\' escaped; NULL adds NULL. */
void ecm_pgarr_add_str(ecm_pgarr *a, const char *s);
/* Closes the literal; returns it (owned by a) or NULL after any failure. */
const char *ecm_pgarr_finish(ecm_pgarr *a);
void ecm_pgarr_free(ecm_pgarr *a);

#endif
