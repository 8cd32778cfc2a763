/* Wall-clock times in an IANA time zone, with ICU: a zone check for
 * configuration, and the conversions both ways that Cisco's Logger needs
 * (its callback times are local, without an offset). */
#ifndef ECM_ZONE_H
#define ECM_ZONE_H

#include <stddef.h>
#include <stdint.h>

/* ecm_config validator: zone is an IANA name ICU knows (ICU would quietly
 * take an unknown one for GMT). Returns 0, or -1 with the reason. */
int ecm_zone_validate(const char *zone, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The UTC instant (ms) of the wall-clock time year-month-day
 * hour:minute:second in zone. At DST changes (ICU's rules): a time the
 * clock skips is read with the offset before the change (02:30 on a
 * spring-forward night in New York is 07:30 UTC); a time the clock passes
 * twice is the later one. Returns 0 with *out, or -1 when the zone is
 * unknown or the fields are not a time. */
int ecm_zone_local_to_utc_ms(const char *zone, int year, int month, int day, int hour, int minute,
                             int second, int64_t *out) __attribute__((warn_unused_result));

/* The wall-clock time in zone of utc_ms: f = {year, month (1-12), day,
 * hour, minute, second}. Returns 0, or -1 when the zone is unknown or the
 * year falls outside 1..9999. */
int ecm_zone_utc_to_local(const char *zone, int64_t utc_ms, int f[6])
    __attribute__((warn_unused_result));

#endif
