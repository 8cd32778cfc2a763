/* A growable byte buffer with a hard maximum, after curl's lib/dynbuf.c.
 *
 * The struct is public so a buffer can live on the stack or inside another
 * struct, but its fields are the module's: use the functions. A zeroed
 * buffer is not ready; call ecm_buf_init() first.
 *
 * The maximum counts the terminating NUL the buffer always keeps after its
 * contents, so a buffer initialised with max 16 holds at most 15 bytes.
 * Any failure (over the maximum, out of memory, a bad format) frees the
 * contents and leaves the buffer failed: every later add fails at once,
 * ecm_buf_ptr() is NULL and ecm_buf_take() returns NULL, until
 * ecm_buf_reset() or ecm_buf_destroy(). A caller may therefore chain adds and
 * check once at the end. */
#ifndef ECM_BUF_H
#define ECM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *ptr;    /* NULL until the first byte is added */
    size_t len;   /* bytes held, not counting the NUL */
    size_t alloc; /* bytes allocated at ptr */
    size_t max;   /* hard limit on len + 1 */
    int failed;   /* sticky */
} ecm_buf;

/* Makes b an empty buffer that will never hold more than max - 1 bytes.
 * Allocates nothing. Can't fail. */
void ecm_buf_init(ecm_buf *b, size_t max);

/* Appends n bytes from data (which may hold NULs). Returns 0, or -1 when the
 * result would not fit under the maximum or memory ran out, or the buffer had
 * already failed; on -1 the contents are freed and the buffer stays failed. */
int ecm_buf_add(ecm_buf *b, const void *data, size_t n) __attribute__((warn_unused_result));

/* ecm_buf_add() of a NUL-terminated string. */
int ecm_buf_adds(ecm_buf *b, const char *s) __attribute__((warn_unused_result));

/* Appends printf-formatted text; -1 as ecm_buf_add(), or when vsnprintf
 * fails. */
int ecm_buf_addf(ecm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((warn_unused_result));
int ecm_buf_vaddf(ecm_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)))
__attribute__((warn_unused_result));

/* The contents, NUL-terminated, owned by the buffer and valid until the next
 * add, reset, take or free; NULL before anything was added (an add of 0 bytes
 * counts) and after a failure. */
char *ecm_buf_ptr(const ecm_buf *b);

/* Bytes held, not counting the NUL; 0 after a failure. */
size_t ecm_buf_len(const ecm_buf *b);

/* 1 when an operation failed since init or the last reset, else 0. */
int ecm_buf_failed(const ecm_buf *b);

/* Empties the buffer and clears a failure; keeps the allocation and the
 * maximum. Can't fail. */
void ecm_buf_reset(ecm_buf *b);

/* Hands the contents to the caller (free() them) and leaves the buffer empty
 * with its maximum. An empty buffer gives a freshly allocated "". Returns NULL
 * after a failure (the buffer is then reset) or when that "" could not be
 * allocated. */
char *ecm_buf_take(ecm_buf *b) __attribute__((warn_unused_result));

/* Frees the contents and leaves the buffer empty with its maximum, usable
 * again. Safe on a buffer already freed. */
void ecm_buf_destroy(ecm_buf *b);

#endif
