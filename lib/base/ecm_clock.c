#include "ecm_clock.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ecm_log.h"

#define ENV_FIXED "ECM_CLOCK_FIXED"
#define ENV_OFFSET "ECM_CLOCK_OFFSET_MS"
#define ENV_RATE "ECM_CLOCK_RATE"
#define ENV_EPOCH "ECM_CLOCK_EPOCH_MS"
#define ENV_CONTROL "ECM_CLOCK_CONTROL_FILE"
/* How often the control file is looked at again (stat(), and a read only
 * when it changed). */
#define CONTROL_RECHECK_MS 50
/* A control file is one short line; anything longer is not one. */
#define CONTROL_MAX_BYTES 256
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

/* Business time from the environment alone (no control file). */
static int64_t env_now_ms(void)
{
    int64_t now = ecm_clock_wall_ms();
    double rate;
    int64_t epoch;
    if (rate_in_force(&rate, &epoch)) {
        now = epoch + (int64_t)((double)(now - epoch) * rate);
    }
    const char *offset = getenv(ENV_OFFSET);
    int64_t v;
    if (offset != NULL && offset[0] != '\0' && parse_offset(offset, &v) == 0) {
        return now + v;
    }
    return now;
}

/* ---- the control file (ECM_CLOCK_CONTROL_FILE) ---- */

/* One parsed control file: at real instant real_ms business time was
 * business_ms; held, it stays there; running, it moves at rate, up to
 * until_ms when has_until. */
typedef struct {
    int held;
    int64_t business_ms;
    int64_t real_ms;
    double rate;
    int has_until;
    int64_t until_ms;
} control;

static int parse_instant_ms(const char *s, int64_t *out)
{
    return parse_offset(s, out); /* integer ms within +-10^13 */
}

/* Parses "held B REAL RATE" or "run B REAL RATE [UNTIL]" (whitespace
 * separated, one optional trailing newline). Returns 0 and *out, or -1 with
 * why. */
static int control_parse(const char *text, control *out, const char **why)
{
    char buf[CONTROL_MAX_BYTES + 1];
    size_t len = strlen(text);
    if (len > CONTROL_MAX_BYTES) {
        *why = "is longer than 256 bytes";
        return -1;
    }
    memcpy(buf, text, len + 1);
    char *tok[6];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t\r\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 6) {
            *why = "too many fields";
            return -1;
        }
        tok[n++] = t;
    }
    control c = {0};
    if (n < 4) {
        *why = "expected 'held|run BUSINESS_MS REAL_MS RATE [UNTIL_MS]'";
        return -1;
    }
    if (strcmp(tok[0], "held") == 0) {
        c.held = 1;
    } else if (strcmp(tok[0], "run") != 0) {
        *why = "the first field is neither 'held' nor 'run'";
        return -1;
    }
    if (parse_instant_ms(tok[1], &c.business_ms) != 0 ||
        parse_instant_ms(tok[2], &c.real_ms) != 0) {
        *why = "BUSINESS_MS and REAL_MS must be integer milliseconds within +-10^13";
        return -1;
    }
    if (parse_rate(tok[3], &c.rate) != 0) {
        *why = "RATE must be a number in (0, 100000]";
        return -1;
    }
    if (n == 5) {
        if (c.held || parse_instant_ms(tok[4], &c.until_ms) != 0 || c.until_ms < c.business_ms) {
            *why = "UNTIL_MS only follows 'run', integer milliseconds not before BUSINESS_MS";
            return -1;
        }
        c.has_until = 1;
    } else if (n != 4) {
        *why = "too many fields";
        return -1;
    }
    *out = c;
    return 0;
}

/* Reads and parses the control file at path; 0 and *out, or -1 with why. */
static int control_read(const char *path, control *out, const char **why)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        *why = "cannot be opened";
        return -1;
    }
    char buf[CONTROL_MAX_BYTES + 2];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        *why = "cannot be read";
        return -1;
    }
    if (len > CONTROL_MAX_BYTES) {
        *why = "is longer than 256 bytes";
        return -1;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        *why = "holds a NUL byte";
        return -1;
    }
    return control_parse(buf, out, why);
}

static int64_t control_now(const control *c, int64_t real_ms)
{
    if (c->held) {
        return c->business_ms;
    }
    int64_t v = c->business_ms + (int64_t)((double)(real_ms - c->real_ms) * c->rate);
    if (c->has_until && v > c->until_ms) {
        v = c->until_ms;
    }
    return v;
}

/* The process's view of the control file, behind one mutex: the last good
 * contents, what the file looked like when last read (so that an unchanged
 * file is not read again), when it was last looked at, and the latest time
 * handed out (the floor: business time never goes backwards in a process,
 * whatever the file says next). Reset when the path changes. */
static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[PATH_MAX];
    int have_good;
    control good;
    int have_seen;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int64_t checked_ms;
    int checked;
    int bad_logged;
    int have_floor;
    int64_t floor_ms;
} ctl;

/* Looks at the file again: reads it when it is not the one last read. */
static void control_refresh(void)
{
    struct stat st;
    const char *why = NULL;
    control c;
    if (stat(ctl.path, &st) != 0) {
        why = "cannot be opened";
        ctl.have_seen = 0;
    } else if (ctl.have_seen && st.st_dev == ctl.dev && st.st_ino == ctl.ino &&
               st.st_size == ctl.size && st.st_mtim.tv_sec == ctl.mtime.tv_sec &&
               st.st_mtim.tv_nsec == ctl.mtime.tv_nsec) {
        return;
    } else {
        ctl.have_seen = 1;
        ctl.dev = st.st_dev;
        ctl.ino = st.st_ino;
        ctl.size = st.st_size;
        ctl.mtime = st.st_mtim;
        if (control_read(ctl.path, &c, &why) == 0) {
            ctl.good = c;
            ctl.have_good = 1;
            ctl.bad_logged = 0;
            return;
        }
    }
    if (!ctl.bad_logged) {
        ctl.bad_logged = 1;
        ecm_log_warn("business clock control file rejected, keeping the last good value",
                     "file=%s why=\"%s\" have_good=%d", ctl.path, why, ctl.have_good);
    }
}

static int64_t control_clock_now_ms(const char *path)
{
    pthread_mutex_lock(&ctl_mu);
    int64_t m = ecm_clock_mono_ms();
    if (strncmp(ctl.path, path, sizeof ctl.path) != 0) {
        memset(&ctl, 0, sizeof ctl);
        /* trunc-ok: ctl.path holds PATH_MAX; a longer path cannot be opened,
         * so ecm_clock_check_env() refuses it at start-up */
        snprintf(ctl.path, sizeof ctl.path, "%s", path);
    }
    if (!ctl.checked || m - ctl.checked_ms >= CONTROL_RECHECK_MS) {
        control_refresh();
        ctl.checked = 1;
        ctl.checked_ms = m;
    }
    int64_t v = ctl.have_good ? control_now(&ctl.good, ecm_clock_wall_ms()) : env_now_ms();
    if (ctl.have_floor && v < ctl.floor_ms) {
        v = ctl.floor_ms;
    }
    ctl.have_floor = 1;
    ctl.floor_ms = v;
    pthread_mutex_unlock(&ctl_mu);
    return v;
}

void ecm_clock_reload(void)
{
    pthread_mutex_lock(&ctl_mu);
    ctl.checked = 0;
    pthread_mutex_unlock(&ctl_mu);
}

int64_t ecm_clock_now_ms(void)
{
    const char *fixed = getenv(ENV_FIXED);
    int64_t v;
    if (fixed != NULL && fixed[0] != '\0' && ecm_clock_parse_time(fixed, &v) == 0) {
        return v;
    }
    const char *path = getenv(ENV_CONTROL);
    if (path != NULL && path[0] != '\0') {
        return control_clock_now_ms(path);
    }
    return env_now_ms();
}

int ecm_clock_check_env(char *errstr, size_t errstr_size)
{
    const char *fixed = getenv(ENV_FIXED);
    int64_t v;
    const char *control_path = getenv(ENV_CONTROL);
    if (control_path != NULL && control_path[0] != '\0') {
        static const char *const others[] = {ENV_FIXED, ENV_OFFSET, ENV_RATE, ENV_EPOCH};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            const char *o = getenv(others[i]);
            if (o != NULL && o[0] != '\0') {
                snprintf(errstr, errstr_size,
                         "%s: cannot be combined with %s (the file is the one source of "
                         "business time)",
                         ENV_CONTROL, others[i]);
                return -1;
            }
        }
        control c;
        const char *why = NULL;
        if (strlen(control_path) >= PATH_MAX || control_read(control_path, &c, &why) != 0) {
            snprintf(errstr, errstr_size, "%s: '%.128s' %s", ENV_CONTROL, control_path,
                     why ? why : "is too long a path");
            return -1;
        }
        return 0;
    }
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

int64_t ecm_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec ecm_clock_mono_after_us(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (us > 0) {
        int64_t ns = (int64_t)ts.tv_nsec + (us % 1000000) * 1000;
        ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
    }
    return ts;
}

int ecm_clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

int64_t ecm_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *ecm_clock_format_ms(int64_t ms, char *out, size_t out_size)
{
    struct tm tm;
    /* Floor division so that times before 1970 keep a positive millisecond. */
    int64_t sec = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    if (out_size == 0) {
        return out;
    }
    if (!gmtime_r(&t, &tm)) {
        out[0] = '\0';
        return out;
    }
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return out;
}
