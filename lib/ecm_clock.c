#include "ecm_clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENV_FIXED "ECM_CLOCK_FIXED"
#define ENV_OFFSET "ECM_CLOCK_OFFSET_MS"
#define ENV_RATE "ECM_CLOCK_RATE"
#define ENV_EPOCH "ECM_CLOCK_EPOCH_MS"
/* A day in under a second is as fast as any test needs; faster would make
 * one real millisecond skip whole minutes of windows. */
#define RATE_LIMIT 100000.0
/* About 317 years either way: far beyond any test, and now + offset cannot
 * overflow. */
#define OFFSET_LIMIT_MS 10000000000000LL

static int parse_int64(const char *s, int64_t *out)
{
    if (s[0] == '\0' || s[0] == ' ' || s[0] == '+') {
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Reads exactly n decimal digits at s. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out_ms)
{
    int year, mon, day, hour, min, sec;
    if (strlen(s) < 20 || digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) ||
        s[7] != '-' || digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &hour) || s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' ||
        digits(s + 17, 2, &sec)) {
        return -1;
    }
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int scale = 100, n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0) {
            return -1;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
            return -1;
        }
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 || sec > 59) {
        return -1;
    }

    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm() rolls "02-30" over into March; the round trip catches it. */
    struct tm back;
    if (!gmtime_r(&t, &back) || back.tm_mday != day || back.tm_mon != mon - 1) {
        return -1;
    }
    *out_ms = (int64_t)t * 1000 + frac_ms - (int64_t)offset_min * 60000;
    return 0;
}

int ecm_clock_parse_time(const char *s, int64_t *out_ms)
{
    if (s == NULL || out_ms == NULL) {
        return -1;
    }
    if (strchr(s, ':') == NULL) {
        return parse_int64(s, out_ms);
    }
    return parse_rfc3339(s, out_ms);
}

static int parse_offset(const char *s, int64_t *out)
{
    int64_t v;
    if (parse_int64(s, &v) != 0 || v > OFFSET_LIMIT_MS || v < -OFFSET_LIMIT_MS) {
        return -1;
    }
    *out = v;
    return 0;
}

/* ECM_CLOCK_RATE: a finite decimal in (0, RATE_LIMIT]. */
static int parse_rate(const char *s, double *out)
{
    if (s[0] == '\0' || s[0] == ' ') {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v > 0.0) || v > RATE_LIMIT) {
        return -1;
    }
    *out = v;
    return 0;
}

/* The rate and its epoch when both are set and valid; 0 otherwise. */
static int rate_in_force(double *rate, int64_t *epoch)
{
    const char *r = getenv(ENV_RATE);
    const char *e = getenv(ENV_EPOCH);
    if (r == NULL || r[0] == '\0' || parse_rate(r, rate) != 0 || e == NULL ||
        parse_int64(e, epoch) != 0) {
        return 0;
    }
    return 1;
}

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ecm_clock_now_ms(void)
{
    const char *fixed = getenv(ENV_FIXED);
    int64_t v;
    if (fixed != NULL && fixed[0] != '\0' && ecm_clock_parse_time(fixed, &v) == 0) {
        return v;
    }
    int64_t now = real_now_ms();
    double rate;
    int64_t epoch;
    if (rate_in_force(&rate, &epoch)) {
        now = epoch + (int64_t)((double)(now - epoch) * rate);
    }
    const char *offset = getenv(ENV_OFFSET);
    if (offset != NULL && offset[0] != '\0' && parse_offset(offset, &v) == 0) {
        return now + v;
    }
    return now;
}

int ecm_clock_check_env(char *errstr, size_t errstr_size)
{
    const char *fixed = getenv(ENV_FIXED);
    int64_t v;
    if (fixed != NULL && fixed[0] != '\0' && ecm_clock_parse_time(fixed, &v) != 0) {
        snprintf(errstr, errstr_size, "%s: '%.64s' is not an RFC 3339 time or milliseconds",
                 ENV_FIXED, fixed);
        return -1;
    }
    const char *offset = getenv(ENV_OFFSET);
    if (offset != NULL && offset[0] != '\0' && parse_offset(offset, &v) != 0) {
        snprintf(errstr, errstr_size,
                 "%s: '%.64s' is not an integer of milliseconds within +-10^13", ENV_OFFSET,
                 offset);
        return -1;
    }
    const char *rate = getenv(ENV_RATE);
    double r;
    if (rate != NULL && rate[0] != '\0') {
        if (parse_rate(rate, &r) != 0) {
            snprintf(errstr, errstr_size, "%s: '%.64s' is not a number in (0, 100000]", ENV_RATE,
                     rate);
            return -1;
        }
        const char *epoch = getenv(ENV_EPOCH);
        if (epoch == NULL || epoch[0] == '\0' || parse_int64(epoch, &v) != 0) {
            snprintf(errstr, errstr_size,
                     "%s: must be integer milliseconds since the epoch when %s is set (got "
                     "'%.64s')",
                     ENV_EPOCH, ENV_RATE, epoch ? epoch : "");
            return -1;
        }
    }
    return 0;
}
