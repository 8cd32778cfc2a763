/* Calling windows: when a contact may be called, in the contact's own time
 * zone. A window is a weekly schedule of local [start, end) ranges per
 * weekday, cut by the deployment's legal hours (default 08:00-21:00 local,
 * TCPA) and bounded by the campaign's start_at / end_at.
 *
 * Times are wall-clock times: "09:00" is nine on the clock in that zone, on
 * any day, DST or not. On a spring-forward day a range that starts inside the
 * skipped hour opens when the clock jumps (02:30 opens at 03:00); in the
 * repeated autumn hour a range is open during both passes of the wall time
 * it covers. The UTC offsets come from ICU (ucal_*, the system tz database);
 * nothing here knows an offset by heart.
 *
 * Zone names are IANA IDs ("America/New_York"; links such as "US/Eastern"
 * are accepted); anything ICU does not know ("Mars/Olympus", "GMT+05:00",
 * "america/new_york") is refused rather than silently read as GMT. */
#ifndef ECM_WINDOW_H
#define ECM_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct ecm_window ecm_window;

/* Ranges a weekday may hold after merging overlaps. */
#define ECM_WINDOW_MAX_RANGES 8
/* start_at / end_at when the campaign has none. */
#define ECM_WINDOW_NO_START INT64_MIN
#define ECM_WINDOW_NO_END INT64_MAX
/* ecm_window_next_open() results that are not instants. */
#define ECM_WINDOW_NONE (-1)     /* no opening before end_at or the horizon */
#define ECM_WINDOW_BAD_ZONE (-2) /* tz is not a known zone */
/* How far ahead ecm_window_next_open() looks. Two weeks: a weekly window
 * with any open minute opens again within 8 days even when a DST jump or a
 * skipped day (Samoa, 2011) swallows one occurrence. */
#define ECM_WINDOW_HORIZON_MS (15LL * 24 * 3600 * 1000)
/* Default legal hours, minutes after local midnight. */
#define ECM_WINDOW_LEGAL_START_DEFAULT (8 * 60)
#define ECM_WINDOW_LEGAL_END_DEFAULT (21 * 60)

/* A window closed on every day, with the default legal hours and no
 * start_at / end_at. NULL when out of memory. */
ecm_window *ecm_window_new(void) __attribute__((warn_unused_result));

/* Frees w. w may be NULL. */
void ecm_window_destroy(ecm_window *w);

/* Opens w on weekday wday (0 Sunday .. 6 Saturday) for local minutes
 * [start_min, end_min), 0 <= start_min < end_min <= 1440. Overlapping or
 * touching ranges merge. Returns 0, or -1 with a reason in errstr (w
 * unchanged) when the range is out of bounds or the day would hold more than
 * ECM_WINDOW_MAX_RANGES ranges. */
int ecm_window_add_range(ecm_window *w, int wday, int start_min, int end_min, char *errstr,
                         size_t errstr_size) __attribute__((warn_unused_result));

/* Sets the legal hours, local minutes [start_min, end_min) with
 * 0 <= start_min < end_min <= 1440, applied to every day in every zone.
 * Returns 0, or -1 with a reason in errstr (w unchanged). */
int ecm_window_set_legal_hours(ecm_window *w, int start_min, int end_min, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

/* Bounds the window to instants in [start_at_ms, end_at_ms); pass
 * ECM_WINDOW_NO_START / ECM_WINDOW_NO_END for an open side. Can't fail. */
void ecm_window_set_bounds(ecm_window *w, int64_t start_at_ms, int64_t end_at_ms);

/* Parses a weekly window from a JSON object whose keys are weekdays ("mon",
 * "tue", "wed", "thu", "fri", "sat", "sun") and values lists of
 * ["HH:MM", "HH:MM"] ranges: {"mon": [["09:00", "12:00"], ["13:00",
 * "20:00"]], "tue": [...]}. A missing day or [] is closed; "24:00" ends a
 * day. Legal hours are the defaults and there are no bounds: set them after.
 * Returns 0 and a new window in *out; or -1, *out NULL, with one line naming
 * the field in errstr: "tue[1][0]: '25:00' is not a time (HH:MM)",
 * "fri[0]: start 20:00 is not before end 09:00", "funday: unknown field
 * (expected mon, tue, wed, thu, fri, sat, sun)". */
int ecm_window_parse_json(const json_t *obj, ecm_window **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ecm_window_parse_json() on JSON text; a syntax error is reported as
 * "window: invalid JSON at line L column C: ...". */
int ecm_window_parse_json_text(const char *text, ecm_window **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The weekly ranges of w as a JSON object in the form
 * ecm_window_parse_json() reads, every day present ([] when closed). New
 * reference; NULL when out of memory. */
json_t *ecm_window_to_json(const ecm_window *w);

/* Parses "HH:MM" or "H:MM" (00:00-23:59, and "24:00") to minutes after
 * midnight. Returns 0 and *minutes, or -1 (*minutes untouched). */
int ecm_window_parse_hhmm(const char *s, int *minutes) __attribute__((warn_unused_result));

/* 1 when some weekday range of w overlaps the legal hours (the window can
 * open at all, ignoring start_at / end_at), else 0. A campaign whose window
 * gives 0 would never call anybody: refuse it when it is saved. */
int ecm_window_has_open_time(const ecm_window *w);

/* Checks that tz names a zone of the tz database. Returns 0 and, when out is
 * not NULL, ICU's canonical ID in out ("US/Eastern" -> "America/New_York";
 * ICU keeps CLDR's older spellings: "Asia/Kolkata" -> "Asia/Calcutta", both
 * of which PostgreSQL also knows, so store what the user wrote); -1 when tz
 * is unknown, not a system zone, "Factory" (tzdata's "no zone set"), or out
 * is too small. */
int ecm_window_tz_canonical(const char *tz, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* 1 when instant utc_ms (ms since the epoch) is inside w and the legal hours
 * in zone tz and inside [start_at, end_at); 0 when not (also for instants
 * more than 10^15 ms from the epoch); -1 when tz is not a known zone. */
int ecm_window_is_open(const ecm_window *w, const char *tz, int64_t utc_ms)
    __attribute__((warn_unused_result));

/* The earliest instant >= utc_ms at which ecm_window_is_open() is 1:
 * utc_ms itself when open now; ECM_WINDOW_NONE when there is none before
 * end_at or within ECM_WINDOW_HORIZON_MS of max(utc_ms, start_at) (with
 * ecm_window_has_open_time() true, that means end_at: the contact expires);
 * ECM_WINDOW_BAD_ZONE when tz is not a known zone. */
int64_t ecm_window_next_open(const ecm_window *w, const char *tz, int64_t utc_ms);

/* The local calendar day that holds instant utc_ms in zone tz: *day_start
 * is its first instant (local midnight; where a DST jump skips midnight, the
 * first instant after it) and *day_end the first instant of the next local
 * day, so a day is 23, 24 or 25 hours long across DST changes. Returns 0, or
 * -1 (outputs untouched) when tz is not a known zone or utc_ms is more than
 * 10^15 ms from the epoch. */
int ecm_window_local_day(const char *tz, int64_t utc_ms, int64_t *day_start, int64_t *day_end)
    __attribute__((warn_unused_result));

#endif
