/* UCCE writes callback times (Dialer_Detail.CallbackDateTime) in the
 * Logger's local time zone, without an offset (docs/cisco-research.md §3.5,
 * §4.3). This turns such a wall-clock time into a UTC instant with ICU, so
 * the CallResult event carries callback_at in UTC. */
#ifndef RS_LOGGER_TIME_H
#define RS_LOGGER_TIME_H

#include <stddef.h>
#include <stdint.h>

/* The UTC instant (ms) of the wall-clock time year-month-day
 * hour:minute:second in IANA zone (ICU's rules at DST changes: a time the
 * clock skips is read with the offset before the change, so 02:30 on a
 * spring-forward night in New York is 07:30 UTC; a time the clock passes
 * twice is the later one). Returns 0 with *out, or -1 when the zone is
 * unknown or the fields are not a time. */
int rs_logger_time_utc_ms(const char *zone, int year, int month, int day, int hour, int minute,
                          int second, int64_t *out) __attribute__((warn_unused_result));

/* ecm_config validator for ECM_UCCE_LOGGER_TIME_ZONE: a zone ICU knows. */
int rs_logger_time_validate_zone(const char *zone, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
