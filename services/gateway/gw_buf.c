#include "gw_buf.h"

#include <stdlib.h>
#include <string.h>

#include "ecm_pg.h"

int gw_buf_add(gw_buf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->len + n + 1) {
            c *= 2;
        }
        char *s = realloc(b->s, c);
        if (!s) {
            return -1;
        }
        b->s = s;
        b->cap = c;
    }
    if (n) {
        memcpy(b->s + b->len, data, n);
    }
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int gw_buf_add_copy(gw_buf *b, const char *s, size_t n, int as_null)
{
    if (n == 0) {
        return as_null ? ecm_pg_copy_escape(&b->s, &b->len, &b->cap, NULL) : gw_buf_add(b, "", 0);
    }
    /* ecm_pg_copy_escape() takes a C string and the gateway's values are
     * spans cut from a record: copied out first, on the stack when short. */
    char small[256];
    char *z = n < sizeof(small) ? small : malloc(n + 1);
    if (!z) {
        return -1;
    }
    memcpy(z, s, n);
    z[n] = '\0';
    int rc = ecm_pg_copy_escape(&b->s, &b->len, &b->cap, z);
    if (z != small) {
        free(z);
    }
    return rc;
}

void gw_buf_free(gw_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
