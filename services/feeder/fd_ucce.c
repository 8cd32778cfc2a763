#include "fd_ucce.h"

#include <stdio.h>
#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "ecm_log.h"
#include "ecm_utf8.h"
#include "ecm_window.h"

#define ZONE_MAX 128

/* The DST offset (ms) in force mid-month `month` of `year`, or -1. */
static int32_t dst_in(UCalendar *cal, int32_t year, int32_t month)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setDateTime(cal, year, month, 15, 12, 0, 0, &st);
    int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, &st);
    return U_FAILURE(st) ? -1 : dst;
}

int fd_ucce_tz(const char *zone, int64_t at_ms, int *bias, int *dst)
{
    UChar id[ZONE_MAX];
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    /* ucal_open would quietly take an unknown zone for GMT. */
    if (!zone || ecm_window_tz_canonical(zone, NULL, 0) != 0)
        return -1;
    u_strFromUTF8(id, ZONE_MAX, &len, zone, -1, &st);
    if (U_FAILURE(st) || len >= ZONE_MAX)
        return -1;
    UCalendar *cal = ucal_open(id, len, "", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        ucal_close(cal);
        return -1;
    }
    ucal_setMillis(cal, (UDate)at_ms, &st);
    int32_t raw = ucal_get(cal, UCAL_ZONE_OFFSET, &st);
    int32_t year = ucal_get(cal, UCAL_YEAR, &st);
    if (U_FAILURE(st)) {
        ucal_close(cal);
        return -1;
    }
    int32_t jan = dst_in(cal, year, UCAL_JANUARY);
    int32_t jul = dst_in(cal, year, UCAL_JULY);
    ucal_close(cal);
    if (jan < 0 || jul < 0)
        return -1;
    /* Windows' Bias: minutes to add to local (standard) time to get UTC. */
    *bias = -(int)(raw / 60000);
    *dst = jan != 0 || jul != 0;
    return *bias < FD_UCCE_BIAS_MIN || *bias > FD_UCCE_BIAS_MAX ? -2 : 0;
}

/* Copies at most FD_UCCE_NAME_MAX characters of s into dst (room for
 * FD_UCCE_NAME_MAX * 4 + 1 bytes), each character the import can't carry
 * replaced. Can't fail. */
static void clean_name(char *dst, const char *s)
{
    size_t w = 0, chars = 0, len = s ? strlen(s) : 0;
    for (size_t i = 0; i < len && chars < FD_UCCE_NAME_MAX; chars++) {
        uint32_t cp = 0;
        size_t k = ecm_utf8_next(s + i, len - i, &cp);
        if (k == 0 || cp == 0xFFFE || cp == 0xFFFF) {
            memcpy(dst + w, ECM_UTF8_REPLACEMENT, 3);
            w += 3;
            i += k ? k : 1;
            continue;
        }
        if (cp < 0x20 || cp == 0x7F || cp == ',') {
            dst[w++] = ' ';
        } else {
            memcpy(dst + w, s + i, k);
            w += k;
        }
        i += k;
    }
    dst[w] = '\0';
}

/* The dialable characters of s. Returns 0, or -1 when none or too many. */
static int clean_phone(char *dst, const char *s)
{
    size_t w = 0;
    for (const char *p = s ? s : ""; *p; p++) {
        if ((*p >= '0' && *p <= '9') || *p == '#' || *p == '*') {
            if (w == FD_UCCE_PHONE_MAX)
                return -1;
            dst[w++] = *p;
        }
    }
    dst[w] = '\0';
    return w > 0 ? 0 : -1;
}

int fd_ucce_record_make(const fd_contact *c, int64_t at_ms, fd_ucce_record *out)
{
    memset(out, 0, sizeof *out);
    size_t alen = c->account_number ? strlen(c->account_number) : 0;
    if (alen == 0 || alen > FD_UCCE_ACCOUNT_MAX)
        return -1;
    memcpy(out->account, c->account_number, alen + 1);
    clean_name(out->first_name, c->first_name);
    clean_name(out->last_name, c->last_name);
    if (clean_phone(out->phone, c->phone) < 0)
        return -1;
    int rc = fd_ucce_tz(c->time_zone, at_ms, &out->bias, &out->dst);
    if (rc == 0) {
        out->has_bias = 1;
        snprintf(out->bias_text, sizeof out->bias_text, "%d", out->bias);
        snprintf(out->dst_text, sizeof out->dst_text, "%d", out->dst);
    } else {
        ecm_log_warn("time zone UCCE can't express; TimeZoneBias and DstObserved left empty",
                     "account_number=%s time_zone=%s", out->account,
                     c->time_zone ? c->time_zone : "");
    }
    return 0;
}
