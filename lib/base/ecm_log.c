#include "ecm_log.h"

#include "ecm_clock.h"
#include "ecm_utf8.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A line longer than this is cut (on a character boundary) so that one
 * write(2) always carries one whole, valid JSON object. */
#define LOG_LINE_MAX 16384
#define LOG_DETAIL_MAX 8192
#define LOG_SERVICE_MAX 64

/* Set once by ecm_log_init() before any thread starts, read-only after. */
static struct {
    char service[LOG_SERVICE_MAX];
    ecm_log_level level;
} log_conf = {"ecm", ECM_LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *ecm_log_service(void)
{
    return log_conf.service;
}

void ecm_log_init(const char *service, ecm_log_level level)
{
    snprintf(log_conf.service, sizeof log_conf.service, "%s", service ? service : "ecm");
    if (level < ECM_LOG_DEBUG) {
        level = ECM_LOG_DEBUG;
    }
    if (level > ECM_LOG_ERROR) {
        level = ECM_LOG_ERROR;
    }
    log_conf.level = level;
}

int ecm_log_level_parse(const char *name, ecm_log_level *out)
{
    if (!name) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (ecm_log_level)i;
            return 0;
        }
    }
    return -1;
}

size_t ecm_log_json_escape(char *out, size_t out_size, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (out_size == 0) {
        return 0;
    }
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        char tmp[8];
        size_t tlen = 0;
        size_t consumed = 1;
        unsigned char c = *p;
        switch (c) {
        case '"':
            memcpy(tmp, "\\\"", 2), tlen = 2;
            break;
        case '\\':
            memcpy(tmp, "\\\\", 2), tlen = 2;
            break;
        case '\n':
            memcpy(tmp, "\\n", 2), tlen = 2;
            break;
        case '\r':
            memcpy(tmp, "\\r", 2), tlen = 2;
            break;
        case '\t':
            memcpy(tmp, "\\t", 2), tlen = 2;
            break;
        case '\b':
            memcpy(tmp, "\\b", 2), tlen = 2;
            break;
        case '\f':
            memcpy(tmp, "\\f", 2), tlen = 2;
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[c >> 4];
                tmp[5] = hex[c & 0xf];
                tlen = 6;
            } else if (c < 0x80) {
                tmp[0] = (char)c;
                tlen = 1;
            } else {
                uint32_t cp;
                size_t n = ecm_utf8_next((const char *)p, strnlen((const char *)p, 4), &cp);
                if (n == 0) {
                    /* Invalid bytes become U+FFFD so the line stays valid JSON. */
                    memcpy(tmp, "\\ufffd", 6);
                    tlen = 6;
                } else {
                    memcpy(tmp, p, n);
                    tlen = n;
                    consumed = n;
                }
            }
        }
        if (o + tlen >= out_size) {
            break;
        }
        memcpy(out + o, tmp, tlen);
        o += tlen;
        p += consumed;
    }
    out[o] = '\0';
    return o;
}

typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
} log_line;

/* Appends text that always fits (the fixed start of the line). */
static void line_raw(log_line *l, const char *s)
{
    size_t n = strlen(s);
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends ,"key":"escaped value", cutting the value so that the closing
 * quote and the final "}\n" always fit; a field that can't start is left out. */
static void line_field(log_line *l, const char *key, const char *value)
{
    size_t klen = strlen(key);
    size_t avail = sizeof l->buf - l->len - 2;
    if (avail < klen + 6) {
        return;
    }
    l->buf[l->len++] = ',';
    l->buf[l->len++] = '"';
    memcpy(l->buf + l->len, key, klen);
    l->len += klen;
    memcpy(l->buf + l->len, "\":\"", 3);
    l->len += 3;
    avail = sizeof l->buf - l->len - 3;
    l->len += ecm_log_json_escape(l->buf + l->len, avail + 1, value);
    l->buf[l->len++] = '"';
}

static void log_write(ecm_log_level level, const char *msg, const char *hint,
                      const char *detail_fmt, va_list ap)
{
    log_line line;
    char ts[40];
    char detail[LOG_DETAIL_MAX];
    int lvl = level < ECM_LOG_DEBUG ? 0 : (level > ECM_LOG_ERROR ? 3 : (int)level);

    line.len = 0;
    ecm_clock_format_ms(ecm_clock_wall_ms(), ts, sizeof ts);
    line_raw(&line, "{\"ts\":\"");
    line_raw(&line, ts);
    line_raw(&line, "\"");
    line_field(&line, "level", level_names[lvl]);
    line_field(&line, "service", log_conf.service);
    line_field(&line, "msg", msg ? msg : "");
    if (detail_fmt) {
        vsnprintf(detail, sizeof detail, detail_fmt, ap);
        line_field(&line, "detail", detail);
    }
    if (hint) {
        line_field(&line, "hint", hint);
    }
    line.buf[line.len++] = '}';
    line.buf[line.len++] = '\n';

    size_t off = 0;
    while (off < line.len) {
        ssize_t w = write(STDERR_FILENO, line.buf + off, line.len - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        off += (size_t)w;
    }
}

void ecm_logv(ecm_log_level level, const char *msg, const char *detail_fmt, va_list ap)
{
    if (level < log_conf.level) {
        return;
    }
    log_write(level, msg, NULL, detail_fmt, ap);
}

void ecm_log(ecm_log_level level, const char *msg, const char *detail_fmt, ...)
{
    va_list ap;
    if (level < log_conf.level) {
        return;
    }
    va_start(ap, detail_fmt);
    log_write(level, msg, NULL, detail_fmt, ap);
    va_end(ap);
}

void ecm_log_hint(ecm_log_level level, const char *msg, const char *hint, const char *detail_fmt,
                  ...)
{
    va_list ap;
    if (level < log_conf.level) {
        return;
    }
    va_start(ap, detail_fmt);
    log_write(level, msg, hint, detail_fmt, ap);
    va_end(ap);
}
