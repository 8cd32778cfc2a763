/* Shared by the upload harnesses (fuzz_csv_upload, fuzz_json_upload,
 * fuzz_dnc_upload): a body fed to a streaming reader in chunks, the BOM a
 * reader skips, formatted text that must fit, and two traces compared. Header-only, like
 * fuzz_support.h. */
#ifndef ECM_FUZZ_UPLOAD_SUPPORT_H
#define ECM_FUZZ_UPLOAD_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "ecm_buf.h"

/* snprintf for a harness's expected texts: aborts (FUZZ_CHECK) when the
 * text does not fit in out. Returns its length. */
static inline size_t fuzz_format(char *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline size_t fuzz_format(char *out, size_t out_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, out_size, fmt, ap);
    va_end(ap);
    FUZZ_CHECK(n >= 0 && (size_t)n < out_size, "text cut to %zu bytes: %s", out_size, fmt);
    return (size_t)n;
}

/* Feeds body[0..len) to reader in chunks of chunk bytes (0: all at once)
 * with feed_fn(reader, data, n, err, err_size), then finish_fn(reader, err,
 * err_size) unless a chunk failed. rc gets the first non-zero answer, or 0;
 * err is "" unless rc is non-zero. A macro because gw_csv and gw_jsonarr
 * readers each have their own type. */
#define FUZZ_FEED(rc, reader, feed_fn, finish_fn, body, len, chunk, err, err_size)                 \
    do {                                                                                           \
        size_t fuzz_chunk_ = (chunk) ? (size_t)(chunk) : ((len) ? (size_t)(len) : 1);              \
        (rc) = 0;                                                                                  \
        (err)[0] = '\0';                                                                           \
        for (size_t fuzz_off_ = 0; (rc) == 0 && fuzz_off_ < (size_t)(len);                         \
             fuzz_off_ += fuzz_chunk_) {                                                           \
            size_t fuzz_n_ =                                                                       \
                (size_t)(len)-fuzz_off_ < fuzz_chunk_ ? (size_t)(len)-fuzz_off_ : fuzz_chunk_;     \
            (rc) = feed_fn((reader), (body) + fuzz_off_, fuzz_n_, (err), (err_size));              \
        }                                                                                          \
        if ((rc) == 0) {                                                                           \
            (rc) = finish_fn((reader), (err), (err_size));                                         \
        }                                                                                          \
    } while (0)

/* Steps *p and *n past a UTF-8 byte order mark, as the readers do. */
static inline void fuzz_skip_bom(const char **p, size_t *n)
{
    if (*n >= 3 && memcmp(*p, "\xEF\xBB\xBF", 3) == 0) {
        *p += 3;
        *n -= 3;
    }
}

/* The hard maximum of a harness's own buffers (ecm_buf): far above what an
 * input of libFuzzer's lengths makes. */
#define FUZZ_BUF_MAX ((size_t)1 << 26)

/* 1 when a and b hold the same bytes. */
static inline int fuzz_buf_equal(const ecm_buf *a, const ecm_buf *b)
{
    size_t n = ecm_buf_len(a);
    return n == ecm_buf_len(b) && (n == 0 || memcmp(ecm_buf_ptr(a), ecm_buf_ptr(b), n) == 0);
}

#endif
