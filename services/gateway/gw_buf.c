#include "gw_buf.h"

#include <stdlib.h>
#include <string.h>

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
    if (n == 0 && as_null) {
        return gw_buf_add(b, "\\N", 2);
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        if (gw_buf_add(b, s + start, i - start) != 0 || gw_buf_add(b, esc, 2) != 0) {
            return -1;
        }
        start = i + 1;
    }
    return gw_buf_add(b, s + start, n - start);
}

void gw_buf_free(gw_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
