#include "sim_dialer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_log.h"
#include "ecm_pg.h"

/* Sleeps are cut into slices this long so a stop is noticed quickly. */
#define DIALER_SLEEP_SLICE_MS 20
/* Decorrelates the duration from the CallResult choice for one account. */
#define DIALER_DURATION_SALT 0x6475726174696f6eULL

#define DIALER_NUMBER_RULES_MAX 64
#define DIALER_SUFFIX_MAX 20

typedef struct {
    char suffix[DIALER_SUFFIX_MAX + 1]; /* digits */
    int code;
} dialer_number_rule;

#define DIALER_AGENT_MAX 15
#define DIALER_CALLBACK_MINUTES_MAX 525600

typedef struct {
    char suffix[DIALER_SUFFIX_MAX + 1];
    char agent[DIALER_AGENT_MAX + 1];
    int minutes;
} dialer_pcb_rule;

struct sim_dialer {
    sim_dialer_config cfg;
    dialer_number_rule rules[DIALER_NUMBER_RULES_MAX];
    size_t nrules;
    dialer_pcb_rule pcbs[DIALER_NUMBER_RULES_MAX];
    size_t npcbs;
    char *dsn;
    char *zone;
    ecm_pg *pg;
    volatile sig_atomic_t *stop;
    atomic_int quit;
    pthread_t thread;
    int started;
    ecm_metrics *metrics;
    ecm_metric *errors;
    ecm_metric *dialed_total;
};

sim_dialer *sim_dialer_new(const sim_dialer_config *cfg, ecm_metrics *metrics,
                           volatile sig_atomic_t *stop)
{
    sim_dialer *d = calloc(1, sizeof *d);
    if (!d) {
        return NULL;
    }
    d->cfg = *cfg;
    d->dsn = strdup(cfg->pg_dsn ? cfg->pg_dsn : "");
    d->zone = strdup(cfg->logger_zone && cfg->logger_zone[0] ? cfg->logger_zone : "UTC");
    d->pg = d->dsn && d->zone ? ecm_pg_new(d->dsn, stop) : NULL;
    if (!d->pg) {
        free(d->dsn);
        free(d->zone);
        free(d);
        return NULL;
    }
    d->cfg.pg_dsn = d->dsn;
    d->cfg.logger_zone = d->zone;
    if (d->cfg.tick_ms <= 0) {
        d->cfg.tick_ms = 100;
    }
    d->stop = stop;
    atomic_init(&d->quit, 0);
    d->metrics = metrics;
    if (metrics) {
        d->errors = ecm_metrics_counter(metrics, "ecm_sim_dialer_errors_total",
                                        "dialing ticks rolled back");
        d->dialed_total = ecm_metrics_counter(metrics, "ecm_sim_dialed_total",
                                              "contacts dialled (Dialer_Detail rows written)");
    }
    return d;
}

static int dialer_is_final(int code)
{
    switch (code) {
    case 3:  /* not in service */
    case 5:  /* operator intercept */
    case 7:  /* invalid number */
    case 10: /* connected */
    case 11: /* fax */
    case 17:
    case 18:
    case 19: /* agent rejected / closed */
    case 23:
    case 24: /* wrong party */
    case 26: /* do not call */
    case 33:
        return 1;
    default:
        return 0;
    }
}

void sim_dialer_decide(const sim_dialer_config *cfg, const char *account_number,
                       sim_dial_outcome *out)
{
    int code = sim_mix_pick(cfg->mix, account_number, cfg->seed);
    uint64_t h = sim_mix_hash(account_number, cfg->seed ^ DIALER_DURATION_SALT);
    out->call_result = code;
    out->call_result_detail = 0;
    out->call_status_zone1 = (code == 14 || code == 15) ? 'B' : dialer_is_final(code) ? 'C' : 'R';
    switch (code) {
    case 10:
        out->call_duration_s = 30 + (int)(h % 270);
        break;
    case 12:
    case 22:
        out->call_duration_s = 10 + (int)(h % 30);
        break;
    case 14:
    case 15:
        out->call_duration_s = 20 + (int)(h % 40);
        break;
    case 23:
    case 24:
        out->call_duration_s = 5 + (int)(h % 25);
        break;
    default:
        out->call_duration_s = 0;
        break;
    }
}

/* Parses "suffix:code,..." into rules (room for DIALER_NUMBER_RULES_MAX).
 * Returns the number of rules, or -1 with a reason. */
static int parse_number_rules(const char *text, dialer_number_rule *rules, char *errstr,
                              size_t errstr_size)
{
    int n = 0;
    const char *p = text ? text : "";
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        if (n >= DIALER_NUMBER_RULES_MAX) {
            snprintf(errstr, errstr_size, "more than %d number results", DIALER_NUMBER_RULES_MAX);
            return -1;
        }
        while (*p == ' ')
            p++;
        size_t len = 0;
        while (p[len] >= '0' && p[len] <= '9')
            len++;
        if (len == 0 || len > DIALER_SUFFIX_MAX || p[len] != ':') {
            snprintf(errstr, errstr_size,
                     "entry %d: expected digits (1-%d) then ':' and a CallResult code", n + 1,
                     DIALER_SUFFIX_MAX);
            return -1;
        }
        memcpy(rules[n].suffix, p, len);
        rules[n].suffix[len] = '\0';
        p += len + 1;
        char *end = NULL;
        errno = 0;
        long code = strtol(p, &end, 10);
        if (errno != 0 || end == p || code < 0 || code > SIM_MIX_MAX_CODE) {
            snprintf(errstr, errstr_size, "entry %d: code is not an integer 0..%d", n + 1,
                     SIM_MIX_MAX_CODE);
            return -1;
        }
        rules[n++].code = (int)code;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return n;
        if (*p != ',') {
            snprintf(errstr, errstr_size, "entry %d: unexpected '%c'", n, *p);
            return -1;
        }
        p++;
    }
}

int sim_dialer_validate_number_results(const char *text, char *errstr, size_t errstr_size)
{
    dialer_number_rule rules[DIALER_NUMBER_RULES_MAX];
    return parse_number_rules(text, rules, errstr, errstr_size) < 0 ? -1 : 0;
}

int sim_dialer_set_number_results(sim_dialer *d, const char *text, char *errstr, size_t errstr_size)
{
    dialer_number_rule rules[DIALER_NUMBER_RULES_MAX];
    int n = parse_number_rules(text, rules, errstr, errstr_size);
    if (n < 0)
        return -1;
    memcpy(d->rules, rules, sizeof(rules));
    d->nrules = (size_t)n;
    return 0;
}

int sim_dialer_number_result(const sim_dialer *d, const char *phone)
{
    char digits[64];
    size_t nd = 0;
    for (const char *c = phone; c != NULL && *c != '\0' && nd + 1 < sizeof(digits); c++)
        if (*c >= '0' && *c <= '9')
            digits[nd++] = *c;
    digits[nd] = '\0';
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < d->nrules; i++) {
        size_t len = strlen(d->rules[i].suffix);
        if (len <= nd && len > best_len && strcmp(digits + nd - len, d->rules[i].suffix) == 0) {
            best = d->rules[i].code;
            best_len = len;
        }
    }
    return best;
}

/* The digits of phone (at most 63). */
static size_t dialer_digits(const char *phone, char digits[64])
{
    size_t nd = 0;
    for (const char *c = phone; c != NULL && *c != '\0' && nd + 1 < 64; c++)
        if (*c >= '0' && *c <= '9')
            digits[nd++] = *c;
    digits[nd] = '\0';
    return nd;
}

/* The personal callback rule of phone, or NULL. */
static const dialer_pcb_rule *dialer_pcb_match(const sim_dialer *d, const char *phone)
{
    char digits[64];
    size_t nd = dialer_digits(phone, digits);
    const dialer_pcb_rule *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < d->npcbs; i++) {
        size_t len = strlen(d->pcbs[i].suffix);
        if (len <= nd && len > best_len && strcmp(digits + nd - len, d->pcbs[i].suffix) == 0) {
            best = &d->pcbs[i];
            best_len = len;
        }
    }
    return best;
}

/* sim_dialer_decide() with the mix replaced by the single code. */
static void dialer_decide_code(const sim_dialer *d, const char *account_number, int code,
                               sim_dial_outcome *out)
{
    /* Same zone and duration rules as a code from the mix. */
    sim_mix *one = NULL;
    char spec[16], err[64];
    snprintf(spec, sizeof(spec), "%d:1", code);
    if (sim_mix_parse(spec, &one, err, sizeof(err)) != 0)
        return;
    sim_dialer_config cfg = d->cfg;
    cfg.mix = one;
    sim_dialer_decide(&cfg, account_number, out);
    sim_mix_destroy(one);
}

void sim_dialer_outcome(const sim_dialer *d, const char *account_number, const char *phone, int pcb,
                        sim_dial_outcome *out)
{
    out->agent[0] = '\0';
    out->callback_minutes = -1;
    const dialer_pcb_rule *rule = pcb ? NULL : dialer_pcb_match(d, phone);
    if (rule) {
        dialer_decide_code(d, account_number, 14, out);
        snprintf(out->agent, sizeof out->agent, "%s", rule->agent);
        out->callback_minutes = rule->minutes;
        return;
    }
    int code = sim_dialer_number_result(d, phone);
    if (code < 0)
        sim_dialer_decide(&d->cfg, account_number, out);
    else
        dialer_decide_code(d, account_number, code, out);
    if (pcb && (out->call_result == 14 || out->call_result == 15))
        dialer_decide_code(d, account_number, 10, out);
}

static void dialer_decide_cb(void *ctx, const char *account_number, const char *phone, int pcb,
                             sim_dial_outcome *out)
{
    sim_dialer_outcome(ctx, account_number, phone, pcb, out);
}

/* Parses "suffix:agent:minutes,..." into rules (room for
 * DIALER_NUMBER_RULES_MAX). Returns the number of rules, or -1 with a
 * reason. */
static int parse_pcb_rules(const char *text, dialer_pcb_rule *rules, char *errstr,
                           size_t errstr_size)
{
    int n = 0;
    const char *p = text ? text : "";
    while (*p == ' ')
        p++;
    while (*p != '\0') {
        dialer_pcb_rule *r = &rules[n];
        size_t ls = strspn(p, "0123456789");
        size_t la = ls > 0 && p[ls] == ':' ? strspn(p + ls + 1, "0123456789") : 0;
        const char *m = p + ls + 1 + la + 1;
        char *end = NULL;
        long minutes = -1;
        if (n < DIALER_NUMBER_RULES_MAX && ls > 0 && ls <= DIALER_SUFFIX_MAX && la > 0 &&
            la <= DIALER_AGENT_MAX && p[ls + 1 + la] == ':') {
            errno = 0;
            minutes = strtol(m, &end, 10);
            if (errno != 0 || end == m)
                minutes = -1;
        }
        if (minutes < 0 || minutes > DIALER_CALLBACK_MINUTES_MAX) {
            snprintf(errstr, errstr_size,
                     "entry %d: expected suffix:agent:minutes (digits <= %d, digits <= %d, "
                     "0..%d), at most %d entries",
                     n + 1, DIALER_SUFFIX_MAX, DIALER_AGENT_MAX, DIALER_CALLBACK_MINUTES_MAX,
                     DIALER_NUMBER_RULES_MAX);
            return -1;
        }
        snprintf(r->suffix, sizeof r->suffix, "%.*s", (int)ls, p);
        snprintf(r->agent, sizeof r->agent, "%.*s", (int)la, p + ls + 1);
        r->minutes = (int)minutes;
        n++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            while (*p == ' ')
                p++;
        } else if (*p != '\0') {
            snprintf(errstr, errstr_size, "entry %d: unexpected '%c'", n, *p);
            return -1;
        }
    }
    return n;
}

int sim_dialer_validate_personal_callbacks(const char *text, char *errstr, size_t errstr_size)
{
    dialer_pcb_rule rules[DIALER_NUMBER_RULES_MAX];
    return parse_pcb_rules(text, rules, errstr, errstr_size) < 0 ? -1 : 0;
}

int sim_dialer_set_personal_callbacks(sim_dialer *d, const char *text, char *errstr,
                                      size_t errstr_size)
{
    dialer_pcb_rule rules[DIALER_NUMBER_RULES_MAX];
    int n = parse_pcb_rules(text, rules, errstr, errstr_size);
    if (n < 0)
        return -1;
    memcpy(d->pcbs, rules, sizeof rules);
    d->npcbs = (size_t)n;
    return 0;
}

long long sim_dialer_tick(sim_dialer *d, long long limit)
{
    uint64_t counts[SIM_STATS_MAX_CODES] = {0};
    size_t dialed = 0;
    if (sim_store_dial_batch(d->pg, limit, d->cfg.delay_ms, d->zone, dialer_decide_cb, d, &dialed,
                             counts) != 0) {
        ecm_metric_add(d->errors, 1);
        return -1;
    }
    if (dialed > 0 && d->metrics) {
        ecm_metric_add(d->dialed_total, dialed);
        for (int c = 0; c < SIM_STATS_MAX_CODES; c++) {
            if (counts[c] == 0) {
                continue;
            }
            char name[96];
            snprintf(name, sizeof name, "ecm_sim_call_results_total{call_result=\"%d\"}", c);
            ecm_metric_add(
                ecm_metrics_counter(d->metrics, name, "Dialer_Detail rows by CallResult"),
                counts[c]);
        }
    }
    return (long long)dialed;
}

static int dialer_should_stop(const sim_dialer *d)
{
    return (d->stop && *d->stop) || atomic_load(&d->quit);
}

static double dialer_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dialer_sleep_until(const sim_dialer *d, double deadline)
{
    for (;;) {
        double left = deadline - dialer_now_s();
        if (left <= 0 || dialer_should_stop(d)) {
            return;
        }
        double slice =
            left < DIALER_SLEEP_SLICE_MS / 1000.0 ? left : DIALER_SLEEP_SLICE_MS / 1000.0;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !dialer_should_stop(d)) {
        }
    }
}

/* ONE dialing thread, one transaction per tick, on purpose: RecoveryKey
 * comes from a sequence, and nextval() is handed out at INSERT time but
 * becomes visible only at COMMIT. With two writers, keys 101-110 could
 * commit after 111-120, and result-sync, reading "RecoveryKey > watermark",
 * would already have moved its watermark past 110 and skip those rows for
 * ever. A single writer commits keys in increasing order, so the watermark
 * read is exact. */
static void *dialer_main(void *arg)
{
    sim_dialer *d = arg;
    const double tick_s = (double)d->cfg.tick_ms / 1000.0;
    /* Tokens carried between ticks so fractional rates (e.g. 5/s at 100 ms
     * ticks) come out right; capped so an idle spell doesn't burst. */
    const double budget_cap = d->cfg.rate_per_s * tick_s * 2.0 + 1.0;
    double budget = 0.0;
    double last = dialer_now_s();
    ecm_log_info("dialer started", "rate_per_s=%.3f delay_ms=%lld tick_ms=%lld", d->cfg.rate_per_s,
                 d->cfg.delay_ms, d->cfg.tick_ms);
    while (!dialer_should_stop(d)) {
        double start = dialer_now_s();
        budget += d->cfg.rate_per_s * (start - last);
        last = start;
        if (budget > budget_cap) {
            budget = budget_cap;
        }
        long long limit = (long long)budget;
        if (limit > 0) {
            long long n = sim_dialer_tick(d, limit);
            if (n >= 0) {
                budget -= (double)n;
                if (n < limit) {
                    budget -= (double)(long long)budget; /* nothing more due */
                }
            }
        }
        dialer_sleep_until(d, start + tick_s);
    }
    ecm_log_info("dialer stopped", NULL);
    return NULL;
}

int sim_dialer_start(sim_dialer *d)
{
    if (pthread_create(&d->thread, NULL, dialer_main, d) != 0) {
        ecm_log_error("dialer thread could not start", NULL);
        return -1;
    }
    d->started = 1;
    return 0;
}

void sim_dialer_destroy(sim_dialer *d)
{
    if (!d) {
        return;
    }
    atomic_store(&d->quit, 1);
    if (d->started) {
        pthread_join(d->thread, NULL);
    }
    ecm_pg_destroy(d->pg);
    free(d->dsn);
    free(d->zone);
    free(d);
}
