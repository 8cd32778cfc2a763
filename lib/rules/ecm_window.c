#include "ecm_window.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucal.h>

#include "ecm_utf8.h"

#define MINUTE_MS 60000LL
#define DAY_MS (24LL * 60 * MINUTE_MS)
#define DAY_MINUTES 1440
/* Instants beyond about 31,000 years either side of 1970 are refused, so
 * that adding a zone offset or the horizon can never overflow. */
#define INSTANT_LIMIT_MS 1000000000000000LL
/* Longest IANA ID is about 30 characters; ICU's canonical IDs fit too. */
#define TZ_MAX 64

typedef struct {
    int start, end; /* local minutes, [start, end) */
} range;

struct ecm_window {
    range days[7][ECM_WINDOW_MAX_RANGES]; /* 0 Sunday .. 6 Saturday, sorted, disjoint */
    int n[7];
    int legal_start, legal_end;
    int64_t start_at, end_at;
};

static const char *const day_keys[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    /* A reason quotes the client's text ('%.32s' of a key): cut at a
     * character, never inside one, it stays valid UTF-8. */
    (void)ecm_utf8_vformat(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

#define HHMM_SIZE 8

/* minutes is 0..1440, so "HH:MM" always fits. */
static void format_hhmm(int minutes, char out[HHMM_SIZE])
{
    unsigned m = (unsigned)minutes % 1441u;
    snprintf(out, HHMM_SIZE, "%02u:%02u", m / 60u, m % 60u);
}

ecm_window *ecm_window_new(void)
{
    ecm_window *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return NULL;
    }
    w->legal_start = ECM_WINDOW_LEGAL_START_DEFAULT;
    w->legal_end = ECM_WINDOW_LEGAL_END_DEFAULT;
    w->start_at = ECM_WINDOW_NO_START;
    w->end_at = ECM_WINDOW_NO_END;
    return w;
}

void ecm_window_destroy(ecm_window *w)
{
    free(w);
}

static int valid_minutes(int start_min, int end_min)
{
    return start_min >= 0 && end_min <= DAY_MINUTES && start_min < end_min;
}

int ecm_window_add_range(ecm_window *w, int wday, int start_min, int end_min, char *errstr,
                         size_t errstr_size)
{
    if (wday < 0 || wday > 6) {
        set_err(errstr, errstr_size, "weekday %d is not 0..6", wday);
        return -1;
    }
    if (!valid_minutes(start_min, end_min)) {
        set_err(errstr, errstr_size, "%s: range %d-%d is not within 0..1440 with start < end",
                day_keys[wday], start_min, end_min);
        return -1;
    }
    /* Sort and merge in a scratch copy so that a failure leaves w unchanged. */
    range all[ECM_WINDOW_MAX_RANGES + 1];
    int n = w->n[wday];
    memcpy(all, w->days[wday], (size_t)n * sizeof all[0]);
    int at = n;
    while (at > 0 && all[at - 1].start > start_min) {
        all[at] = all[at - 1];
        at--;
    }
    all[at] = (range){start_min, end_min};
    n++;
    range merged[ECM_WINDOW_MAX_RANGES + 1];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && all[i].start <= merged[m - 1].end) {
            if (all[i].end > merged[m - 1].end) {
                merged[m - 1].end = all[i].end;
            }
        } else {
            merged[m++] = all[i];
        }
    }
    if (m > ECM_WINDOW_MAX_RANGES) {
        set_err(errstr, errstr_size, "%s: more than %d ranges", day_keys[wday],
                ECM_WINDOW_MAX_RANGES);
        return -1;
    }
    memcpy(w->days[wday], merged, (size_t)m * sizeof merged[0]);
    w->n[wday] = m;
    return 0;
}

int ecm_window_set_legal_hours(ecm_window *w, int start_min, int end_min, char *errstr,
                               size_t errstr_size)
{
    if (!valid_minutes(start_min, end_min)) {
        set_err(errstr, errstr_size,
                "legal hours %d-%d are not within 0..1440 minutes with start < end", start_min,
                end_min);
        return -1;
    }
    w->legal_start = start_min;
    w->legal_end = end_min;
    return 0;
}

void ecm_window_set_bounds(ecm_window *w, int64_t start_at_ms, int64_t end_at_ms)
{
    w->start_at = start_at_ms;
    w->end_at = end_at_ms;
}

int ecm_window_parse_hhmm(const char *s, int *minutes)
{
    if (s == NULL || minutes == NULL) {
        return -1;
    }
    size_t len = strlen(s);
    if (len != 4 && len != 5) {
        return -1;
    }
    const char *m = s + len - 3; /* ":MM" */
    if (m[0] != ':' || m[1] < '0' || m[1] > '5' || m[2] < '0' || m[2] > '9') {
        return -1;
    }
    int hour = 0;
    for (const char *p = s; p < m; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        hour = hour * 10 + (*p - '0');
    }
    int min = (m[1] - '0') * 10 + (m[2] - '0');
    if (hour > 24 || (hour == 24 && min != 0)) {
        return -1;
    }
    *minutes = hour * 60 + min;
    return 0;
}

static int parse_day(ecm_window *w, int wday, const json_t *ranges, char *errstr,
                     size_t errstr_size)
{
    const char *key = day_keys[wday];
    if (!json_is_array(ranges)) {
        set_err(errstr, errstr_size, "%s: expected a list of [\"HH:MM\", \"HH:MM\"] ranges", key);
        return -1;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(ranges, i, r)
    {
        if (!json_is_array(r) || json_array_size(r) != 2) {
            set_err(errstr, errstr_size, "%s[%zu]: expected [\"HH:MM\", \"HH:MM\"]", key, i);
            return -1;
        }
        int bounds[2];
        for (size_t k = 0; k < 2; k++) {
            const json_t *v = json_array_get(r, k);
            const char *text = json_string_value(v);
            if (text == NULL) {
                set_err(errstr, errstr_size, "%s[%zu][%zu]: expected a string \"HH:MM\"", key, i,
                        k);
                return -1;
            }
            if (ecm_window_parse_hhmm(text, &bounds[k]) != 0) {
                set_err(errstr, errstr_size, "%s[%zu][%zu]: '%.16s' is not a time (HH:MM)", key, i,
                        k, text);
                return -1;
            }
        }
        if (bounds[0] >= bounds[1]) {
            char a[HHMM_SIZE], b[HHMM_SIZE];
            format_hhmm(bounds[0], a);
            format_hhmm(bounds[1], b);
            set_err(errstr, errstr_size, "%s[%zu]: start %s is not before end %s", key, i, a, b);
            return -1;
        }
        if (ecm_window_add_range(w, wday, bounds[0], bounds[1], errstr, errstr_size) != 0) {
            return -1;
        }
    }
    return 0;
}

int ecm_window_parse_json(const json_t *obj, ecm_window **out, char *errstr, size_t errstr_size)
{
    if (out == NULL) {
        set_err(errstr, errstr_size, "window: no output");
        return -1;
    }
    *out = NULL;
    if (!json_is_object(obj)) {
        set_err(errstr, errstr_size, "window: expected an object of weekdays");
        return -1;
    }
    ecm_window *w = ecm_window_new();
    if (w == NULL) {
        set_err(errstr, errstr_size, "window: out of memory");
        return -1;
    }
    const char *key;
    const json_t *value;
    /* jansson's foreach macro takes a non-const object; it does not modify it. */
    json_object_foreach((json_t *)obj, key, value)
    {
        int wday = -1;
        for (int d = 0; d < 7; d++) {
            if (strcmp(key, day_keys[d]) == 0) {
                wday = d;
            }
        }
        if (wday < 0) {
            set_err(errstr, errstr_size,
                    "%.32s: unknown field (expected mon, tue, wed, thu, fri, sat, sun)", key);
            ecm_window_destroy(w);
            return -1;
        }
        if (parse_day(w, wday, value, errstr, errstr_size) != 0) {
            ecm_window_destroy(w);
            return -1;
        }
    }
    *out = w;
    return 0;
}

int ecm_window_parse_json_text(const char *text, ecm_window **out, char *errstr, size_t errstr_size)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (text == NULL) {
        set_err(errstr, errstr_size, "window: no JSON");
        return -1;
    }
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        set_err(errstr, errstr_size, "window: invalid JSON at line %d column %d: %s", jerr.line,
                jerr.column, jerr.text);
        return -1;
    }
    int rc = ecm_window_parse_json(obj, out, errstr, errstr_size);
    json_decref(obj);
    return rc;
}

json_t *ecm_window_to_json(const ecm_window *w)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    /* Monday first, as people read a week. */
    for (int k = 1; k <= 7; k++) {
        int d = k % 7;
        json_t *list = json_array();
        if (list == NULL || json_object_set_new(obj, day_keys[d], list) != 0) {
            json_decref(obj);
            return NULL;
        }
        for (int i = 0; i < w->n[d]; i++) {
            char a[HHMM_SIZE], b[HHMM_SIZE];
            format_hhmm(w->days[d][i].start, a);
            format_hhmm(w->days[d][i].end, b);
            if (json_array_append_new(list, json_pack("[ss]", a, b)) != 0) {
                json_decref(obj);
                return NULL;
            }
        }
    }
    return obj;
}

/* The part of range r inside the legal hours; 0 when nothing is left. */
static int clip_legal(const ecm_window *w, range r, range *out)
{
    out->start = r.start > w->legal_start ? r.start : w->legal_start;
    out->end = r.end < w->legal_end ? r.end : w->legal_end;
    return out->start < out->end;
}

int ecm_window_has_open_time(const ecm_window *w)
{
    range c;
    for (int d = 0; d < 7; d++) {
        for (int i = 0; i < w->n[d]; i++) {
            if (clip_legal(w, w->days[d][i], &c)) {
                return 1;
            }
        }
    }
    return 0;
}

/* Copies an ASCII zone name into ICU's UTF-16. Zone IDs are ASCII letters,
 * digits and "/_+-"; anything else cannot be a zone. */
static int to_uchars(const char *tz, UChar *out, int32_t *len)
{
    size_t n = tz == NULL ? 0 : strlen(tz);
    if (n == 0 || n >= TZ_MAX) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-')) {
            return -1;
        }
        out[i] = (UChar)c;
    }
    out[n] = 0;
    *len = (int32_t)n;
    return 0;
}

int ecm_window_tz_canonical(const char *tz, char *out, size_t out_size)
{
    UChar id[TZ_MAX], canon[TZ_MAX];
    int32_t len;
    if (to_uchars(tz, id, &len) != 0) {
        return -1;
    }
    UBool system = 0;
    UErrorCode st = U_ZERO_ERROR;
    int32_t clen = ucal_getCanonicalTimeZoneID(id, len, canon, TZ_MAX, &system, &st);
    /* Custom IDs such as "GMT+05:00" are canonical to ICU but in no tz
     * database: system is false for them. */
    if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || !system || clen <= 0 ||
        clen >= TZ_MAX) {
        return -1;
    }
    static const char factory[] = "Factory";
    if (clen == (int32_t)(sizeof factory - 1)) {
        int same = 1;
        for (int32_t i = 0; i < clen; i++) {
            same &= canon[i] == (UChar)factory[i];
        }
        if (same) {
            return -1;
        }
    }
    if (out != NULL) {
        if ((size_t)clen >= out_size) {
            return -1;
        }
        for (int32_t i = 0; i < clen; i++) {
            out[i] = (char)canon[i];
        }
        out[clen] = '\0';
    }
    return 0;
}

/* A Gregorian calendar in zone tz, or NULL when tz is not a known zone
 * (ucal_open would quietly fall back to GMT). */
static UCalendar *open_zone(const char *tz)
{
    UChar id[TZ_MAX];
    int32_t len;
    if (ecm_window_tz_canonical(tz, NULL, 0) != 0 || to_uchars(tz, id, &len) != 0) {
        return NULL;
    }
    UErrorCode st = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(id, len, "", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        ucal_close(cal);
        return NULL;
    }
    return cal;
}

/* Total UTC offset (raw + DST) in force at t, from ICU. */
static int offset_at(UCalendar *cal, int64_t t, int64_t *off)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)t, &st);
    int32_t raw = ucal_get(cal, UCAL_ZONE_OFFSET, &st);
    int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, &st);
    if (U_FAILURE(st)) {
        return -1;
    }
    *off = (int64_t)raw + dst;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Between two transitions the offset is constant, so local wall time is
 * utc + offset and a wall-clock instant is plain milliseconds: day number
 * and time of day follow by division. Day 0 (1970-01-01) was a Thursday. */
static int wall_weekday(int64_t day)
{
    return (int)(((day % 7) + 7 + 4) % 7);
}

static int wall_is_open(const ecm_window *w, int64_t wall)
{
    int64_t day = floor_div(wall, DAY_MS);
    int64_t in_day = wall - day * DAY_MS;
    int wd = wall_weekday(day);
    range c;
    for (int i = 0; i < w->n[wd]; i++) {
        if (clip_legal(w, w->days[wd][i], &c) && in_day >= c.start * MINUTE_MS &&
            in_day < c.end * MINUTE_MS) {
            return 1;
        }
    }
    return 0;
}

/* Earliest open wall instant in [wall, wall_limit), or ECM_WINDOW_NONE. */
static int64_t wall_next_open(const ecm_window *w, int64_t wall, int64_t wall_limit)
{
    for (int64_t day = floor_div(wall, DAY_MS); day * DAY_MS < wall_limit; day++) {
        int wd = wall_weekday(day);
        range c;
        for (int i = 0; i < w->n[wd]; i++) {
            if (!clip_legal(w, w->days[wd][i], &c)) {
                continue;
            }
            int64_t start = day * DAY_MS + c.start * MINUTE_MS;
            int64_t end = day * DAY_MS + c.end * MINUTE_MS;
            if (end <= wall) {
                continue;
            }
            int64_t cand = start > wall ? start : wall;
            return cand < wall_limit ? cand : ECM_WINDOW_NONE;
        }
    }
    return ECM_WINDOW_NONE;
}

int ecm_window_is_open(const ecm_window *w, const char *tz, int64_t utc_ms)
{
    UCalendar *cal = open_zone(tz);
    if (cal == NULL) {
        return -1;
    }
    int64_t off;
    int rc = offset_at(cal, utc_ms, &off);
    ucal_close(cal);
    if (rc != 0) {
        return -1;
    }
    if (utc_ms < w->start_at || utc_ms >= w->end_at || utc_ms > INSTANT_LIMIT_MS ||
        utc_ms < -INSTANT_LIMIT_MS) {
        return 0;
    }
    return wall_is_open(w, utc_ms + off);
}

int64_t ecm_window_next_open(const ecm_window *w, const char *tz, int64_t utc_ms)
{
    UCalendar *cal = open_zone(tz);
    if (cal == NULL) {
        return ECM_WINDOW_BAD_ZONE;
    }
    int64_t t = utc_ms > w->start_at ? utc_ms : w->start_at;
    int64_t limit = w->end_at;
    if (t <= INSTANT_LIMIT_MS && t + ECM_WINDOW_HORIZON_MS < limit) {
        limit = t + ECM_WINDOW_HORIZON_MS;
    }
    int64_t found = ECM_WINDOW_NONE;
    if (!ecm_window_has_open_time(w) || t > INSTANT_LIMIT_MS || t < -INSTANT_LIMIT_MS) {
        t = limit;
    }
    while (t < limit) {
        int64_t off;
        if (offset_at(cal, t, &off) != 0) {
            break;
        }
        /* ucal_setMillis() in offset_at() put the calendar at t. */
        UErrorCode st = U_ZERO_ERROR;
        UDate next;
        int64_t seg_end = limit;
        if (ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next, &st) &&
            U_SUCCESS(st) && next > (UDate)t && next < (UDate)limit) {
            seg_end = (int64_t)next;
        }
        int64_t cand = wall_next_open(w, t + off, seg_end + off);
        if (cand != ECM_WINDOW_NONE) {
            found = cand - off;
            break;
        }
        t = seg_end;
    }
    ucal_close(cal);
    return found;
}

int ecm_window_local_day(const char *tz, int64_t utc_ms, int64_t *day_start, int64_t *day_end)
{
    if (utc_ms > INSTANT_LIMIT_MS || utc_ms < -INSTANT_LIMIT_MS) {
        return -1;
    }
    UCalendar *cal = open_zone(tz);
    if (cal == NULL) {
        return -1;
    }
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)utc_ms, &st);
    /* Lenient fields: a skipped midnight resolves to the instant after the
     * jump, which is where that local day begins. */
    ucal_set(cal, UCAL_HOUR_OF_DAY, 0);
    ucal_set(cal, UCAL_MINUTE, 0);
    ucal_set(cal, UCAL_SECOND, 0);
    ucal_set(cal, UCAL_MILLISECOND, 0);
    UDate start = ucal_getMillis(cal, &st);
    ucal_add(cal, UCAL_DATE, 1, &st);
    ucal_set(cal, UCAL_HOUR_OF_DAY, 0);
    ucal_set(cal, UCAL_MINUTE, 0);
    ucal_set(cal, UCAL_SECOND, 0);
    ucal_set(cal, UCAL_MILLISECOND, 0);
    UDate end = ucal_getMillis(cal, &st);
    ucal_close(cal);
    if (U_FAILURE(st) || end <= start) {
        return -1;
    }
    *day_start = (int64_t)start;
    *day_end = (int64_t)end;
    return 0;
}
