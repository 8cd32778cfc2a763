/* A growable byte buffer, always NUL-terminated after len: the gateway's
 * batches, COPY texts and report lines are built in it. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>

/* A growable byte buffer, always NUL-terminated after len. */
typedef struct {
    char *s;
    size_t len, cap;
} gw_buf;

/* Appends n bytes; returns 0 or -1 (out of memory; buf unchanged). */
int gw_buf_add(gw_buf *b, const char *data, size_t n);
/* Appends s[0..n) escaped for COPY text format (backslash, tab, LF, CR);
 * n == 0 with as_null writes \N. Returns 0 or -1. */
int gw_buf_add_copy(gw_buf *b, const char *s, size_t n, int as_null);
void gw_buf_free(gw_buf *b);

#endif
