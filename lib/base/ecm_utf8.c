#include "ecm_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT_LEN 3

size_t ecm_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0) {
        return 0;
    }
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return n;
}

/* Bytes of the ill-formed sequence at s[0..len) (len > 0) that count as one
 * U+FFFD: the longest start of a well-formed sequence there, at least one
 * byte (Unicode's "maximal subpart" practice, as browsers and ICU do). */
static size_t ill_formed_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 1;
    }
    size_t i = 1;
    if (i < len && p[i] >= lo && p[i] <= hi) {
        i++;
        while (i < need && i < len && (p[i] & 0xC0) == 0x80) {
            i++;
        }
    }
    return i < need ? i : 1;
}

bool ecm_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ecm_utf8_next(s + i, len - i, &cp);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

bool ecm_utf8_text_ok(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && ecm_utf8_valid(s, len);
}

size_t ecm_utf8_chars(const char *s, size_t len)
{
    size_t chars = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ecm_utf8_next(s + i, len - i, &cp);
        i += n ? n : ill_formed_len(s + i, len - i);
        chars++;
    }
    return chars;
}

size_t ecm_utf8_cut(const char *s, size_t len, size_t max_bytes)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ecm_utf8_next(s + i, len - i, &cp);
        if (n == 0) {
            n = ill_formed_len(s + i, len - i);
        }
        if (i + n > max_bytes) {
            break;
        }
        i += n;
    }
    return i;
}

/* Copies at most max_chars characters of s[0..len) into dst[0..room) with
 * ill-formed bytes and NULs replaced; *consumed gets the input bytes taken.
 * Returns the bytes written (no NUL). */
static size_t copy_chars(char *dst, size_t room, const char *s, size_t len, size_t max_chars,
                         size_t *consumed)
{
    size_t o = 0, i = 0, chars = 0;
    while (i < len && chars < max_chars) {
        uint32_t cp;
        size_t n = ecm_utf8_next(s + i, len - i, &cp);
        const char *piece = s + i;
        size_t plen = n;
        if (n == 0 || cp == 0) {
            piece = ECM_UTF8_REPLACEMENT;
            plen = REPLACEMENT_LEN;
            n = n ? n : ill_formed_len(s + i, len - i);
        }
        if (o + plen > room) {
            break;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += n;
        chars++;
    }
    *consumed = i;
    return o;
}

size_t ecm_utf8_copy(char *dst, size_t dst_size, const char *s, size_t len)
{
    if (dst_size == 0) {
        return 0;
    }
    size_t consumed;
    size_t o = copy_chars(dst, dst_size - 1, s, len, SIZE_MAX, &consumed);
    dst[o] = '\0';
    return o;
}

size_t ecm_utf8_excerpt(char *dst, size_t dst_size, const char *s, size_t len, size_t max_chars)
{
    static const char more[] = "...";
    if (dst_size == 0) {
        return 0;
    }
    size_t consumed;
    size_t o = copy_chars(dst, dst_size - 1, s, len, max_chars, &consumed);
    if (consumed < len) {
        /* Make room for the ellipsis by dropping whole characters. */
        while (o > 0 && o + sizeof(more) - 1 > dst_size - 1) {
            do {
                o--;
            } while (o > 0 && ((unsigned char)dst[o] & 0xC0) == 0x80);
        }
        if (o + sizeof(more) - 1 <= dst_size - 1) {
            memcpy(dst + o, more, sizeof(more) - 1);
            o += sizeof(more) - 1;
        }
    }
    dst[o] = '\0';
    return o;
}

const char *ecm_utf8_quote(char *dst, size_t dst_size, const char *s, size_t max_chars)
{
    s = s ? s : "";
    ecm_utf8_excerpt(dst, dst_size, s, strlen(s), max_chars);
    return dst_size ? dst : "";
}

size_t ecm_utf8_fix(char *buf, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t len = strnlen(buf, size - 1);
    buf[len] = '\0';
    if (ecm_utf8_valid(buf, len)) {
        return len;
    }
    char *copy = malloc(len);
    if (copy != NULL) {
        memcpy(copy, buf, len);
        len = ecm_utf8_copy(buf, size, copy, len);
        free(copy);
        return len;
    }
    /* No memory: same length, '?' for each ill-formed byte. */
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ecm_utf8_next(buf + i, len - i, &cp);
        if (n == 0) {
            buf[i] = '?';
            n = 1;
        }
        i += n;
    }
    return len;
}

size_t ecm_utf8_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    if (size == 0) {
        return 0;
    }
    int want = vsnprintf(buf, size, fmt, ap);
    if (want < 0) {
        buf[0] = '\0';
        return 0;
    }
    if ((size_t)want >= size) {
        /* Cut at a byte count: drop a character left incomplete at the end
         * rather than show it as U+FFFD. */
        size_t len = size - 1;
        size_t start = len;
        while (start > 0 && len - start < 4 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80) {
            start--;
        }
        if (start > 0 && (unsigned char)buf[start - 1] >= 0xC0) {
            start--;
            uint32_t cp;
            if (ecm_utf8_next(buf + start, len - start, &cp) == 0) {
                buf[start] = '\0';
            }
        }
    }
    return ecm_utf8_fix(buf, size);
}

size_t ecm_utf8_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = ecm_utf8_vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
