/* A growable byte buffer, always NUL-terminated after len: the gateway's
 * batches, COPY texts and report lines are built in it. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
} gw_buf;

/* Appends n bytes; returns 0 or -1 (out of memory; buf unchanged). */
int gw_buf_add(gw_buf *b, const char *data, size_t n) __attribute__((warn_unused_result));
/* Appends s[0..n), which holds no NUL, escaped for COPY text format by
 * ecm_pg_copy_escape (backslash, tab, LF, CR); n == 0 with as_null writes
 * \N. Returns 0 or -1 (out of memory; buf unchanged). */
int gw_buf_add_copy(gw_buf *b, const char *s, size_t n, int as_null)
    __attribute__((warn_unused_result));
/* Frees the bytes; b is empty again and may be reused. */
void gw_buf_free(gw_buf *b);

#endif
