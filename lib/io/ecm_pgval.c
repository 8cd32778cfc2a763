#include "ecm_pgval.h"

#include <errno.h>
#include <stdlib.h>

long long ecm_pgval_ll(const PGresult *r, int row, int col, long long dflt)
{
    if (PQgetisnull(r, row, col)) {
        return dflt;
    }
    const char *s = PQgetvalue(r, row, col);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return dflt;
    }
    return v;
}

const char *ecm_pgval_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
