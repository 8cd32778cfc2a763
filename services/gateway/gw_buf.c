#include "gw_buf.h"

#include <stdlib.h>
#include <string.h>

#include "ecm_buf.h"
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
    ecm_buf esc;
    ecm_buf_init(&esc, 2 * n + 3);
    int rc = ecm_pg_copy_escape_n(&esc, n == 0 && as_null ? NULL : s, n) != 0
                 ? -1
                 : gw_buf_add(b, ecm_buf_ptr(&esc) ? ecm_buf_ptr(&esc) : "", ecm_buf_len(&esc));
    ecm_buf_free(&esc);
    return rc;
}

void gw_buf_free(gw_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
