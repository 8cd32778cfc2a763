/* Shared by the libFuzzer harnesses of tests/fuzz: how a harness states a
 * property (FUZZ_CHECK aborts, so libFuzzer saves the input as a crash),
 * UTF-8 validity, COPY text unescaping and E.164 shape. Header-only: each
 * harness is one translation unit. */
#ifndef ECM_FUZZ_SUPPORT_H
#define ECM_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_utf8.h"

/* libFuzzer calls this once before the first input: the library code's
 * warnings (a refused event, a bad row) would drown the fuzzer's output, so
 * only errors are logged. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ecm_log_init("fuzz", ECM_LOG_ERROR);
    return 0;
}

/* Aborts with a message when cond is false: libFuzzer reports the input. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property violated at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* 1 when the NUL-terminated s is valid UTF-8. */
static inline int fuzz_utf8_ok(const char *s)
{
    return s != NULL && ecm_utf8_valid(s, strlen(s));
}

/* A malloc'd NUL-terminated copy of data[0..n). Aborts when out of memory
 * (a harness has no better answer). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        abort();
    }
    if (n) {
        memcpy(s, data, n);
    }
    s[n] = '\0';
    return s;
}

/* Undoes COPY text escaping (\\, \t, \n, \r, and any other \x as x) of
 * s[0..n) into a malloc'd buffer, its length in *out_len. Returns NULL for
 * the \N marker (SQL NULL). */
static inline char *fuzz_copy_unescape(const char *s, size_t n, size_t *out_len)
{
    if (n == 2 && s[0] == '\\' && s[1] == 'N') {
        *out_len = 0;
        return NULL;
    }
    char *o = malloc(n + 1);
    if (!o) {
        abort();
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[++i];
            o[k++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* 1 when s is E.164 as ECM stores it: '+', then 1..15 digits, the first
 * not 0. */
static inline int fuzz_e164_ok(const char *s)
{
    if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9') {
        return 0;
    }
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    return n >= 1 && n <= 15;
}

#endif
