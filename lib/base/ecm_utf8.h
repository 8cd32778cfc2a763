/* UTF-8: the one decoder ECM has, and the means by which no text it writes
 * (a report reason, a log line, an event, a header, an HTTP answer) is ever
 * invalid UTF-8. Outside text is quoted with ecm_utf8_excerpt(), which counts
 * characters, not bytes; a text assembled from several pieces and cut to a
 * buffer is made safe with ecm_utf8_fix() where it leaves the process.
 *
 * "Valid" is RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF. NUL is a valid character here; callers that store text in
 * PostgreSQL refuse it themselves (ecm_utf8_text_ok). Pure: no allocation
 * except in ecm_utf8_fix(), no locale, thread-safe. */
#ifndef ECM_UTF8_H
#define ECM_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The replacement character U+FFFD, as UTF-8. */
#define ECM_UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Decodes the character at s[0..len): returns its length in bytes (1..4) and
 * stores its code point in *cp, or returns 0 when the bytes there are not a
 * well-formed character (including a sequence cut by len). len 0 gives 0. */
size_t ecm_utf8_next(const char *s, size_t len, uint32_t *cp);

/* true when s[0..len) is well-formed UTF-8. */
bool ecm_utf8_valid(const char *s, size_t len);

/* true when s[0..len) is well-formed UTF-8 without NUL bytes: what a
 * PostgreSQL text column (and a C string) can hold. */
bool ecm_utf8_text_ok(const char *s, size_t len);

/* Characters in s[0..len), an ill-formed sequence counting as one (as
 * ecm_utf8_copy() would show it: one U+FFFD). */
size_t ecm_utf8_chars(const char *s, size_t len);

/* Length of the longest prefix of s[0..len) of at most max_bytes bytes that
 * does not end inside a well-formed character. Can't fail. */
size_t ecm_utf8_cut(const char *s, size_t len, size_t max_bytes);

/* Copies s[0..len) to dst and NUL-terminates it, each ill-formed sequence (and
 * each NUL) replaced by U+FFFD, cut at a character boundary where dst_size
 * is too small. An ill-formed sequence is replaced by one U+FFFD for its
 * longest well-formed start (Unicode's "maximal subpart"), or for one byte.
 * Returns the bytes written without the NUL; dst_size 0
 * writes nothing. The result is always valid UTF-8. */
size_t ecm_utf8_copy(char *dst, size_t dst_size, const char *s, size_t len);

/* Quotes outside text for a message: at most max_chars characters of
 * s[0..len) as ecm_utf8_copy() writes them, followed by "..." when there
 * were more (or when dst_size cut it). Returns the bytes written without
 * the NUL. The result is always valid UTF-8. */
size_t ecm_utf8_excerpt(char *dst, size_t dst_size, const char *s, size_t len, size_t max_chars);

/* ecm_utf8_excerpt() of the NUL-terminated s (NULL reads as ""), returning
 * dst: for quoting outside text with "%s" in a message. */
const char *ecm_utf8_quote(char *dst, size_t dst_size, const char *s, size_t max_chars);

/* Makes the NUL-terminated text in buf (of capacity size) valid UTF-8 in
 * place: ill-formed bytes become U+FFFD and the text is cut at a character
 * boundary to fit. Meant for text assembled with snprintf, whose cut at a
 * byte count can split a character. Returns the new length. When memory is
 * short it replaces ill-formed bytes by '?' instead; it can't fail. */
size_t ecm_utf8_fix(char *buf, size_t size);

/* snprintf whose output is always valid UTF-8 (ecm_utf8_fix() of the
 * result). Returns the length written (not the length wanted). */
size_t ecm_utf8_format(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t ecm_utf8_vformat(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
