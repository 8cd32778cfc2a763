#include "ecm_zone.h"

#include <stdio.h>
#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

#define ZONE_MAX 128

/* A calendar in zone, or NULL when ICU does not know it. */
static UCalendar *zone_calendar(const char *zone)
{
    UChar id[ZONE_MAX], canon[ZONE_MAX];
    int32_t len = 0;
    UBool system = 0;
    UErrorCode st = U_ZERO_ERROR;
    if (!zone || !zone[0] || strlen(zone) >= ZONE_MAX)
        return NULL;
    u_strFromUTF8(id, ZONE_MAX, &len, zone, -1, &st);
    if (U_SUCCESS(st))
        ucal_getCanonicalTimeZoneID(id, len, canon, ZONE_MAX, &system, &st);
    if (U_FAILURE(st) || !system)
        return NULL;
    UCalendar *cal = ucal_open(id, len, "", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        ucal_close(cal);
        return NULL;
    }
    return cal;
}

int ecm_zone_validate(const char *zone, char *errstr, size_t errstr_size)
{
    UCalendar *cal = zone_calendar(zone);
    if (!cal) {
        snprintf(errstr, errstr_size, "'%s' is not a time zone ICU knows (IANA name, e.g. UTC)",
                 zone ? zone : "");
        return -1;
    }
    ucal_close(cal);
    return 0;
}

int ecm_zone_local_to_utc_ms(const char *zone, int year, int month, int day, int hour, int minute,
                             int second, int64_t *out)
{
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 59)
        return -1;
    UCalendar *cal = zone_calendar(zone);
    if (!cal)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_clear(cal);
    ucal_setAttribute(cal, UCAL_LENIENT, 1);
    ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_LAST);
    ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_LAST);
    ucal_setDateTime(cal, year, month - 1, day, hour, minute, second, &st);
    UDate ms = ucal_getMillis(cal, &st);
    ucal_close(cal);
    if (U_FAILURE(st))
        return -1;
    *out = (int64_t)ms;
    return 0;
}

int ecm_zone_utc_to_local(const char *zone, int64_t utc_ms, int f[6])
{
    UCalendar *cal = zone_calendar(zone);
    if (!cal)
        return -1;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)utc_ms, &st);
    f[0] = ucal_get(cal, UCAL_YEAR, &st);
    f[1] = ucal_get(cal, UCAL_MONTH, &st) + 1;
    f[2] = ucal_get(cal, UCAL_DATE, &st);
    f[3] = ucal_get(cal, UCAL_HOUR_OF_DAY, &st);
    f[4] = ucal_get(cal, UCAL_MINUTE, &st);
    f[5] = ucal_get(cal, UCAL_SECOND, &st);
    ucal_close(cal);
    return U_FAILURE(st) || f[0] < 1 || f[0] > 9999 ? -1 : 0;
}
