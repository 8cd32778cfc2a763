/* PostgreSQL array literals: built in memory, for passing many values as one
 * parameter (WHERE id = ANY($1::bigint[]), unnest(...)) instead of a round
 * trip per row; and parsed, for a text[] column read in text form. */
#ifndef ECM_PGARRAY_H
#define ECM_PGARRAY_H

#include <stddef.h>

#include "ecm_buf.h"

/* A PostgreSQL array literal built in memory ("{1,2}", "{\"a\"}"). Any
 * failure sticks: ecm_pgarr_finish() then returns NULL. */
typedef struct {
    ecm_buf buf;
    int n; /* elements added */
} ecm_pgarr;

/* Starts an empty literal. Can't fail (a failure to allocate shows at
 * finish). */
void ecm_pgarr_init(ecm_pgarr *a);
/* ecm_pgarr_init() of a literal that may not reach max bytes (its NUL
 * counted): past it, finish returns NULL. */
void ecm_pgarr_init_max(ecm_pgarr *a, size_t max);
/* Adds v in decimal. */
void ecm_pgarr_add_int(ecm_pgarr *a, long long v);
/* Adds s double-quoted with '"' and '\' escaped; NULL adds NULL. */
void ecm_pgarr_add_str(ecm_pgarr *a, const char *s);
/* Closes the literal; returns it (owned by a) or NULL after any failure. */
const char *ecm_pgarr_finish(ecm_pgarr *a) __attribute__((warn_unused_result));
/* Frees the literal; a may be reused after ecm_pgarr_init(). */
void ecm_pgarr_destroy(ecm_pgarr *a);

/* Splits a PostgreSQL text[] literal ("{a,\"b c\",NULL}") into a new array
 * of *n strings (NULL elements stay NULL), all in one allocation: free() the
 * result. A NULL or empty literal gives 0 elements. Returns the array (non
 * NULL even for 0 elements), or NULL when out of memory or lit is not an
 * array literal. */
char **ecm_pgarr_parse(const char *lit, int *n) __attribute__((warn_unused_result));

#endif
