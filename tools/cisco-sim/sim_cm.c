#include "sim_cm.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "sim_store.h"

#define CM_SLICE_MS 20

struct sim_cm {
    sim_cm_rule rules[SIM_CM_MAX_RULES];
    int nrules;
    long long poll_ms, history_s;
    ecm_pg *pg;
    volatile sig_atomic_t *stop;
    atomic_int quit;
    pthread_t thread;
    int started;
};

/* Parses one "<table>:<id>" of len bytes into r. Returns NULL or why not. */
static const char *cm_parse_one(const char *s, size_t len, sim_cm_rule *r)
{
    const char *colon = memchr(s, ':', len);
    if (!colon) {
        return "expected <table>:<campaign_id>";
    }
    size_t tlen = (size_t)(colon - s);
    if (tlen == 0 || tlen > SIM_CM_TABLE_MAX) {
        return "table name empty or longer than 63 bytes";
    }
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalpha(c) || c == '_' || (i > 0 && isdigit(c))) || c > 127) {
            return "table name is not a plain SQL identifier";
        }
    }
    memcpy(r->table, s, tlen);
    r->table[tlen] = '\0';
    char id[16];
    size_t ilen = len - tlen - 1;
    if (ilen == 0 || ilen >= sizeof id) {
        return "campaign id missing or too long";
    }
    memcpy(id, colon + 1, ilen);
    id[ilen] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (errno != 0 || *end != '\0' || !isdigit((unsigned char)id[0]) || v < 1 || v > 2147483647) {
        return "campaign id is not an integer in 1..2147483647";
    }
    r->campaign_id = (int)v;
    return NULL;
}

int sim_cm_parse_rules(const char *text, sim_cm_rule *rules, size_t max, char *errstr,
                       size_t errstr_size)
{
    size_t n = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == max) {
            snprintf(errstr, errstr_size, "more than %zu import rules", max);
            return -1;
        }
        const char *bad = cm_parse_one(p, len, &rules[n]);
        if (bad) {
            snprintf(errstr, errstr_size, "rule %zu: %s", n + 1, bad);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(rules[i].table, rules[n].table) == 0) {
                snprintf(errstr, errstr_size, "rule %zu: table %s given twice", n + 1,
                         rules[n].table);
                return -1;
            }
        }
        n++;
        p += len + (comma ? 1 : 0);
        if (comma && !*p) {
            snprintf(errstr, errstr_size, "trailing comma");
            return -1;
        }
    }
    return (int)n;
}

int sim_cm_validate_rules(const char *text, char *errstr, size_t errstr_size)
{
    sim_cm_rule rules[SIM_CM_MAX_RULES];
    return sim_cm_parse_rules(text, rules, SIM_CM_MAX_RULES, errstr, errstr_size) < 0 ? -1 : 0;
}

sim_cm *sim_cm_new(const sim_cm_config *cfg, volatile sig_atomic_t *stop)
{
    sim_cm *cm = calloc(1, sizeof *cm);
    char err[256];
    if (!cm) {
        return NULL;
    }
    cm->nrules = sim_cm_parse_rules(cfg->rules, cm->rules, SIM_CM_MAX_RULES, err, sizeof err);
    cm->pg = cm->nrules >= 0 ? ecm_pg_new(cfg->pg_dsn, stop) : NULL;
    if (!cm->pg) {
        free(cm);
        return NULL;
    }
    cm->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 1000;
    cm->history_s = cfg->history_s > 0 ? cfg->history_s : 86400;
    cm->stop = stop;
    atomic_init(&cm->quit, 0);
    return cm;
}

int sim_cm_create_tables(sim_cm *cm)
{
    if (!ecm_pg_conn(cm->pg)) {
        return -1;
    }
    for (int i = 0; i < cm->nrules; i++) {
        /* Table names are at most 63 bytes: the statement fits in 1024. */
        char sql[1024];
        int w = snprintf(sql, sizeof sql,
                         "CREATE TABLE IF NOT EXISTS %s ("
                         " AccountNumber varchar(30) NOT NULL,"
                         " FirstName varchar(50), LastName varchar(50),"
                         " Phone01 varchar(20), Phone02 varchar(20), Phone03 varchar(20),"
                         " Phone04 varchar(20), Phone05 varchar(20), Phone06 varchar(20),"
                         " Phone07 varchar(20), Phone08 varchar(20), Phone09 varchar(20),"
                         " Phone10 varchar(20), TimeZoneBias integer, DstObserved smallint)",
                         cm->rules[i].table);
        if (w < 0 || (size_t)w >= sizeof sql || ecm_pg_cmd(cm->pg, sql, 0, NULL) != 0) {
            (void)ecm_pg_check_broken(cm->pg);
            ecm_log_error("import table could not be created", "table=%s", cm->rules[i].table);
            return -1;
        }
    }
    return 0;
}

/* Validates the taken row r (columns: account, first, last, phones 1..10,
 * bias, dst) into c. Returns NULL or the reason it is refused. */
static const char *cm_take_row(const PGresult *res, int r, sim_contact *c)
{
    memset(c, 0, sizeof *c);
    for (int col = 0; col < 3 + SIM_UCCE_PHONES; col++) {
        if (PQgetisnull(res, r, col)) {
            continue;
        }
        int field = col < 3 ? col : 10 + (col - 3);
        const char *v = PQgetvalue(res, r, col);
        const char *bad = sim_rec_set_field(SIM_RULES_UCCE, c, field, v, strlen(v));
        if (bad) {
            return bad;
        }
    }
    int bcol = 3 + SIM_UCCE_PHONES, dcol = bcol + 1;
    const char *bias = PQgetisnull(res, r, bcol) ? "" : PQgetvalue(res, r, bcol);
    const char *dst = "";
    if (!PQgetisnull(res, r, dcol)) {
        const char *d = PQgetvalue(res, r, dcol);
        dst = strcmp(d, "1") == 0 ? "true" : strcmp(d, "0") == 0 ? "false" : "bad";
    }
    const char *bad = sim_rec_set_tz_text(c, bias, dst);
    return bad ? bad : sim_rec_check(SIM_RULES_UCCE, c);
}

/* Takes and imports one rule's rows in one transaction. Returns the rows
 * taken or -1. */
static long long cm_poll_rule(sim_cm *cm, const sim_cm_rule *rule)
{
    char sql[512];
    int w =
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s RETURNING AccountNumber, FirstName, LastName, Phone01, Phone02,"
                 " Phone03, Phone04, Phone05, Phone06, Phone07, Phone08, Phone09, Phone10,"
                 " TimeZoneBias, DstObserved",
                 rule->table);
    PGresult *res = NULL;
    sim_contact *rows = NULL;
    long long taken = -1;
    if (w < 0 || (size_t)w >= sizeof sql || ecm_pg_begin(cm->pg) != 0 ||
        !(res = ecm_pg_exec(cm->pg, sql, 0, NULL))) {
        goto fail;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return ecm_pg_commit(cm->pg) == 0 ? 0 : -1;
    }
    rows = calloc((size_t)n, sizeof *rows);
    if (!rows) {
        goto fail;
    }
    size_t good = 0, bad = 0;
    char first[192] = "";
    for (int r = 0; r < n; r++) {
        const char *why = cm_take_row(res, r, &rows[good]);
        if (!why) {
            good++;
        } else if (bad++ == 0) {
            snprintf(first, sizeof first, "row %d (AccountNumber %.30s): %s", r + 1,
                     PQgetvalue(res, r, 0), why);
        }
    }
    sim_import_req req = {SIM_IF_UCCE_DB,
                          rule->campaign_id,
                          NULL,
                          rows,
                          good,
                          (size_t)n,
                          bad,
                          first[0] ? first : NULL,
                          0,
                          0};
    sim_import_result out;
    if (sim_store_import_tx(cm->pg, &req, &out) != 0 || ecm_pg_commit(cm->pg) != 0) {
        goto fail;
    }
    if (bad > 0) {
        ecm_log_warn("import rule rows refused", "table=%s campaign_id=%d bad=%zu first=%s",
                     rule->table, rule->campaign_id, bad, first);
    }
    if (out.duplicate_rows > 0) {
        ecm_log_warn("account numbers received more than once",
                     "interface=ucce_db campaign_id=%d duplicates=%lld", rule->campaign_id,
                     out.duplicate_rows);
    }
    taken = n;
    goto done;
fail:
    ecm_pg_rollback(cm->pg);
    (void)ecm_pg_check_broken(cm->pg);
    ecm_log_error("import rule poll rolled back", "table=%s", rule->table);
done:
    PQclear(res);
    free(rows);
    return taken;
}

long long sim_cm_poll(sim_cm *cm)
{
    long long total = 0;
    int failed = 0;
    for (int i = 0; i < cm->nrules; i++) {
        long long n = cm_poll_rule(cm, &cm->rules[i]);
        if (n < 0) {
            failed = 1;
        } else {
            total += n;
        }
    }
    return failed ? -1 : total;
}

static double cm_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cm_should_stop(const sim_cm *cm)
{
    return atomic_load(&cm->quit) || (cm->stop && *cm->stop);
}

static void *cm_main(void *arg)
{
    sim_cm *cm = arg;
    double next_midnight = cm_now_s() + (double)cm->history_s;
    while (!cm_should_stop(cm)) {
        if (cm->nrules > 0) {
            (void)sim_cm_poll(cm);
        }
        if (cm_now_s() >= next_midnight) {
            long long moved = 0;
            if (sim_store_uccx_midnight(cm->pg, cm->history_s, &moved) == 0) {
                ecm_log_info("UCCX midnight", "moved_to_history=%lld", moved);
            }
            next_midnight = cm_now_s() + (double)cm->history_s;
        }
        double until = cm_now_s() + (double)cm->poll_ms / 1000.0;
        while (!cm_should_stop(cm) && cm_now_s() < until) {
            struct timespec ts = {0, CM_SLICE_MS * 1000L * 1000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int sim_cm_start(sim_cm *cm)
{
    if (pthread_create(&cm->thread, NULL, cm_main, cm) != 0) {
        return -1;
    }
    cm->started = 1;
    return 0;
}

void sim_cm_destroy(sim_cm *cm)
{
    if (!cm) {
        return;
    }
    atomic_store(&cm->quit, 1);
    if (cm->started) {
        pthread_join(cm->thread, NULL);
    }
    ecm_pg_destroy(cm->pg);
    free(cm);
}
