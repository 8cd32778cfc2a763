#include "ecm_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; small answers and literals fit without a realloc. */
#define BUF_FIRST_ALLOC 256

void ecm_buf_init(ecm_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* Frees the contents and marks the buffer failed. Always returns -1. */
static int buf_fail(ecm_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->failed = 1;
    return -1;
}

/* Makes room for need bytes in all (contents and NUL): doubles from
 * BUF_FIRST_ALLOC, capped at the maximum. Returns 0 or -1 (buffer failed). */
static int buf_reserve(ecm_buf *b, size_t need)
{
    if (need <= b->alloc)
        return 0;
    size_t alloc = b->alloc ? b->alloc : BUF_FIRST_ALLOC;
    while (alloc < need && alloc <= b->max / 2)
        alloc *= 2;
    if (alloc < need || alloc > b->max)
        alloc = b->max;
    char *p = realloc(b->ptr, alloc);
    if (!p)
        return buf_fail(b);
    b->ptr = p;
    b->alloc = alloc;
    return 0;
}

int ecm_buf_add(ecm_buf *b, const void *data, size_t n)
{
    if (b->failed)
        return -1;
    if (n >= b->max || b->len > b->max - 1 - n)
        return buf_fail(b);
    if (buf_reserve(b, b->len + n + 1) != 0)
        return -1;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int ecm_buf_adds(ecm_buf *b, const char *s)
{
    return ecm_buf_add(b, s, strlen(s));
}

int ecm_buf_vaddf(ecm_buf *b, const char *fmt, va_list ap)
{
    if (b->failed)
        return -1;
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(again);
        return buf_fail(b);
    }
    if ((size_t)n < sizeof small) {
        va_end(again);
        return ecm_buf_add(b, small, (size_t)n);
    }
    size_t want = (size_t)n;
    if (want >= b->max || b->len > b->max - 1 - want) {
        va_end(again);
        return buf_fail(b);
    }
    if (buf_reserve(b, b->len + want + 1) != 0) {
        va_end(again);
        return -1;
    }
    int m = vsnprintf(b->ptr + b->len, want + 1, fmt, again);
    va_end(again);
    if (m != n)
        return buf_fail(b);
    b->len += want;
    return 0;
}

int ecm_buf_addf(ecm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ecm_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *ecm_buf_ptr(const ecm_buf *b)
{
    return b->ptr;
}

size_t ecm_buf_len(const ecm_buf *b)
{
    return b->len;
}

int ecm_buf_failed(const ecm_buf *b)
{
    return b->failed;
}

void ecm_buf_reset(ecm_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

char *ecm_buf_take(ecm_buf *b)
{
    if (b->failed) {
        ecm_buf_reset(b);
        return NULL;
    }
    char *s = b->ptr ? b->ptr : strdup("");
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    return s;
}

void ecm_buf_destroy(ecm_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->failed = 0;
}
