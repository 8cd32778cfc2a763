/* Reading the values of a libpq result row: integers and nullable text, as
 * every service reads the rows its statements return. */
#ifndef ECM_PGVAL_H
#define ECM_PGVAL_H

#include <libpq-fe.h>

/* The value at (row, col) of r as a decimal integer, or dflt when it is SQL
 * NULL, not an integer or out of range. Can't fail. */
long long ecm_pgval_ll(const PGresult *r, int row, int col, long long dflt);

/* The value at (row, col) of r as text (owned by r), or NULL when it is SQL
 * NULL. Can't fail. */
const char *ecm_pgval_str(const PGresult *r, int row, int col);

#endif
