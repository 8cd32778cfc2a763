/* The business clock: the one "now" that decides what is due, whether a
 * calling window is open and when a campaign expires. Tests move it so that a
 * campaign can run "on a Monday at 20:55 in New York" without waiting:
 *
 *   ECM_CLOCK_OFFSET_MS  integer milliseconds (within +-10^13) added to the
 *                        real clock; time still runs. The way to shift a
 *                        whole dev stack: give every service the same offset,
 *                        computed once as target - real now.
 *   ECM_CLOCK_RATE       how fast business time runs against real time (a
 *   ECM_CLOCK_EPOCH_MS   decimal in (0, 100000]), from the real instant
 *                        ECM_CLOCK_EPOCH_MS on: now = epoch + (real - epoch)
 *                        * rate, plus the offset. A stack started with rate
 *                        1800 lives half an hour per second, so a test can
 *                        cross a night and a DST change in a minute and a
 *                        half. Every service of the stack gets the same three
 *                        values, so they agree on the time.
 *   ECM_CLOCK_FIXED      an instant, RFC 3339 ("2026-03-10T00:55:00Z",
 *                        "2026-03-09T20:55:00-04:00", fractions allowed) or
 *                        integer milliseconds since the epoch; the clock
 *                        stands still there (wins over the offset). For unit
 *                        tests and one-shot tools, not long-running services.
 *   ECM_CLOCK_CONTROL_FILE  dev/test only: a path; business time comes from
 *                        that small file instead of the three variables
 *                        above (combining them is refused), so that a test
 *                        can hold the clock while it sets up and release it
 *                        when ready, and set-up speed never eats business
 *                        time. One line, fields separated by blanks:
 *                          held BUSINESS_MS REAL_MS RATE
 *                            business time stands at BUSINESS_MS (it was held
 *                            at real instant REAL_MS; RATE is kept for the
 *                            release);
 *                          run BUSINESS_MS REAL_MS RATE [UNTIL_MS]
 *                            now = BUSINESS_MS + (real - REAL_MS) * RATE,
 *                            standing still at UNTIL_MS when given ("run to
 *                            09:30 and hold there").
 *                        Times are integer ms since the epoch, RATE as
 *                        ECM_CLOCK_RATE. The writer replaces the file
 *                        atomically (write a temporary, rename) and makes a
 *                        release continue from the held instant
 *                        (scripts/lib.sh ecm_clock_write, e2e_clock_release).
 *                        A process looks at the file at most every 50 ms
 *                        (stat(); read only when inode, size or mtime
 *                        changed), so every service of a stack agrees within
 *                        that. A process never sees business time go
 *                        backwards: a value below the last one it handed out
 *                        reads as that one. A file that does not parse (or
 *                        vanishes) keeps the last good value, with one
 *                        warning in the log until a good one comes; at
 *                        start-up ecm_clock_check_env() refuses it. A
 *                        production deployment simply does not set it.
 *
 * Unset or empty means the real clock. Deadlines and timeouts (how long to
 * wait for Kafka, HTTP) are not business time: they keep ecm_clock_mono_ms()
 * (durations) or ecm_clock_wall_ms() (the real instant), which this clock
 * leaves alone, so a frozen clock cannot make
 * a wait loop spin forever. PostgreSQL's now() does not see the offset
 * either: SQL that asks "what is due" takes this clock as a parameter. */
#ifndef ECM_CLOCK_H
#define ECM_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Business time in milliseconds since the epoch (UTC). Reads the variables
 * on every call (safe from any thread as long as nobody calls setenv()
 * concurrently); a value that does not parse is ignored and the real clock
 * is used — ecm_clock_check_env() at start-up is what rejects it. With
 * ECM_CLOCK_CONTROL_FILE, the file's last good contents (cached, looked at
 * again at most every 50 ms, under a mutex), never below the last value
 * returned; before any good contents, as without the file. Can't fail. */
int64_t ecm_clock_now_ms(void);

/* Milliseconds on CLOCK_MONOTONIC: for deadlines, timeouts and durations,
 * never for what is due (that is business time, above). Unaffected by every
 * variable above and by changes to the wall clock. Can't fail. */
int64_t ecm_clock_mono_ms(void);

/* The real UTC wall clock in milliseconds since the epoch: what a log line or
 * an event's occurred_at says, never moved by the variables above. Can't
 * fail. */
int64_t ecm_clock_wall_ms(void);

/* The CLOCK_MONOTONIC instant us microseconds from now (now when us <= 0),
 * the deadline pthread_cond_timedwait() takes on a condition variable made
 * by ecm_clock_cond_init(). Can't fail. */
struct timespec ecm_clock_mono_after_us(int64_t us);

/* Initialises cv (pthread_cond_init) so that its timed waits read
 * CLOCK_MONOTONIC: a deadline from ecm_clock_mono_after_us() then holds
 * however the wall clock is set meanwhile. Returns 0 or an error number. */
int ecm_clock_cond_init(pthread_cond_t *cv) __attribute__((warn_unused_result));

/* Formats ms as RFC 3339 UTC with milliseconds ("2026-11-24T04:00:00.123Z")
 * into out (at least 25 bytes; shorter is cut). Returns out. */
char *ecm_clock_format_ms(int64_t ms, char *out, size_t out_size);

/* Makes the next ecm_clock_now_ms() look at the control file at once
 * instead of waiting out the 50 ms (tests, or a tool that just wrote it).
 * Thread-safe; does nothing without ECM_CLOCK_CONTROL_FILE. */
void ecm_clock_reload(void);

/* Checks ECM_CLOCK_FIXED, ECM_CLOCK_OFFSET_MS, ECM_CLOCK_RATE,
 * ECM_CLOCK_EPOCH_MS (required with a rate) and ECM_CLOCK_CONTROL_FILE (the
 * file must exist and parse; none of the others may be set with it).
 * Returns 0 when all are unset, empty or valid; -1 with one line naming the
 * variable in errstr ("ECM_CLOCK_FIXED: 'monday' is not an RFC 3339 time or
 * milliseconds"). A service calls it once at start-up and refuses to run on
 * -1. */
int ecm_clock_check_env(char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Parses an instant: RFC 3339 with a 'Z' or ±hh:mm offset and an optional
 * fraction ("2026-03-09T20:55:00.5-04:00"; a space instead of 'T' is taken),
 * or an integer of milliseconds since the epoch. Returns 0 and *out_ms, or -1
 * (*out_ms untouched) when s is anything else, including impossible dates
 * ("2026-02-30T00:00:00Z"). */
int ecm_clock_parse_time(const char *s, int64_t *out_ms) __attribute__((warn_unused_result));

#endif
