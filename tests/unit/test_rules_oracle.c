/* The rule evaluator (lib/rules/ecm_rules) against an independent oracle:
 * PostgreSQL itself. Random rule sets (hours, days off, caps, quiet
 * periods; random jurisdictions and channels) go into the real tables of
 * db/016; random contacts (zone, jurisdictions, channel, margin, history of
 * earlier attempts) and instants go into temporary tables. The evaluator
 * judges each case on the rules ecm_rules_load() reads back; one set-based
 * query decides the same probes with AT TIME ZONE, extract(dow), date
 * comparisons against the rule tables and counts over the history, never
 * with the C logic. They must agree:
 *   - at now: evaluator GO <=> oracle allowed;
 *   - when the evaluator says WAIT until u (within its horizon): the oracle
 *     allows u, refuses u - 1 min and u - 1 ms when they are after now, and
 *     refuses an instant drawn between now and u (u is the earliest);
 *   - when it finds no instant within its 400-day horizon: the oracle
 *     refuses three instants drawn in it.
 * ECM_RULES_ORACLE_CASES cases (default 50000), ECM_RULES_ORACLE_SEED to
 * replay a run. Zones include DST ones and odd offsets (Kathmandu +5:45,
 * Lord Howe's 30-minute DST, St John's -3:30, Chatham +12:45). A mismatch
 * prints the case whole. Also: the loader reads the shipped sets, and the
 * cache reloads when rules_generation moves. Needs ECM_TEST_PG_DSN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "ecm_buf.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_rules.h"
#include "ecm_test_support.h"

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
#define ID_BASE 1000000LL
#define CAMPAIGNS_PER_BATCH 25
#define CASES_PER_CAMPAIGN 200
#define MAX_SETS 4
#define MAX_RULES 7
#define MAX_BLACKOUTS 3
#define MAX_HISTORY 10
#define MAX_MISMATCHES 5
#define BUF_MAX (256u << 20)

static const char *const ZONES[] = {
    "America/New_York",    "America/Los_Angeles", "America/St_Johns",   "Europe/London",
    "Europe/Berlin",       "Asia/Kathmandu",      "Asia/Kolkata",       "Asia/Tokyo",
    "Australia/Lord_Howe", "Australia/Sydney",    "Pacific/Chatham",    "Pacific/Auckland",
    "America/Sao_Paulo",   "Pacific/Marquesas",   "Pacific/Kiritimati", "UTC",
};
static const char *const SET_JURS[] = {"*", "US", "US-FL", "US-TX", "GB", "CA", "CA-ON"};
static const char *const CONTACT_JURS[] = {"US", "US-FL", "US-TX", "GB", "CA-ON", "CA", "DE"};
static const char *const OUTCOMES[] = {"CONNECTED", "ABANDONED", "NO_ANSWER"};
static const char *const CHANNELS[] = {"all", "voice", "sms"};
static const char *const SCOPES[] = {"contact", "subject", "phone"};
static const char *const KINDS[] = {"hours", "day_off", "cap", "quiet"};
/* Around the 2026 DST changes: US, EU, Australia, New Zealand. */
static const char *const TRANSITIONS[] = {
    "2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z",
    "2026-04-04T16:00:00Z", "2026-10-03T16:00:00Z", "2026-09-26T14:00:00Z",
};
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- random ---------------------------------------------------------------- */

typedef struct {
    uint64_t s;
} rng;

/* splitmix64: small, fast, and a run replays from its seed. */
static uint64_t rnext(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rin(rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnext(r) % (uint64_t)(hi - lo + 1));
}

static int chance(rng *r, int percent)
{
    return rin(r, 1, 100) <= percent;
}

/* ---- generated data ---------------------------------------------------------- */

typedef struct {
    int64_t id;
    int kind;    /* index in KINDS */
    int channel; /* index in CHANNELS */
    unsigned wdays;
    int start_min, end_min;
    int64_t day; /* day_off: ms of that UTC midnight, printed as a date */
    int max;
    int64_t window_s;
    int outcome; /* index in OUTCOMES */
    int64_t quiet_s;
    int scope; /* index in SCOPES */
} grule;

typedef struct {
    int64_t id;
    const char *jur;
    int nrules;
    grule rules[MAX_RULES];
} gset;

typedef struct {
    int64_t id;
    int64_t base_ms;
    int nsets;
    gset sets[MAX_SETS];
    int nblackouts;
    int64_t blackouts[MAX_BLACKOUTS]; /* UTC midnights */
    ecm_rules *loaded;
} gcampaign;

typedef struct {
    int64_t dispatched_ms, result_ms;
    int outcome; /* -1: none */
    int channel; /* ECM_RULES_VOICE / _SMS */
    unsigned same;
} ghist;

typedef struct {
    int campaign;
    const char *zone;
    const char *jur[2];
    int njur;
    int channel;
    int64_t now_ms, margin_ms;
    int nhist;
    ghist hist[MAX_HISTORY];
    int go;
    ecm_rules_block b;
} gcase;

enum { P_NOW, P_UNTIL, P_BEFORE_MIN, P_BEFORE_MS, P_BETWEEN, P_NEVER };
static const char *const PROBE_NAMES[] = {"now",
                                          "until",
                                          "until - 1 min",
                                          "until - 1 ms",
                                          "between now and until",
                                          "within the horizon, which has no allowed instant"};
/* Probes a case can have: now, and four around until or three in the
 * horizon. */
#define MAX_PROBES 5

typedef struct {
    int case_index;
    int kind;
    int64_t t_ms;
} gprobe;

static int64_t T(const char *rfc3339)
{
    int64_t ms = 0;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0) {
        fail_msg("bad time %s", rfc3339);
    }
    return ms;
}

static void gen_rule(rng *r, const gcampaign *c, grule *g, int64_t id)
{
    memset(g, 0, sizeof *g);
    g->id = id;
    g->kind = (int)rin(r, 0, 3);
    g->channel = chance(r, 60) ? 0 : (int)rin(r, 1, 2);
    switch (g->kind) {
    case 0: {
        g->wdays = chance(r, 50) ? 0x7fu : (unsigned)rin(r, 1, 0x7f);
        int grain = chance(r, 50) ? 60 : chance(r, 50) ? 15 : 1;
        int a = (int)rin(r, 0, 1439 / grain) * grain;
        int b = (int)rin(r, 0, 1440 / grain) * grain;
        if (chance(r, 30)) { /* the usual shape: a day's working hours */
            a = (int)rin(r, 6, 10) * 60;
            b = (int)rin(r, 17, 22) * 60;
        }
        if (a == b) {
            b = a + grain <= 1440 ? a + grain : a - grain;
        }
        g->start_min = a < b ? a : b;
        g->end_min = a < b ? b : a;
        break;
    }
    case 1:
        g->day = ((c->base_ms + rin(r, -6, 6) * DAY_MS) / DAY_MS) * DAY_MS;
        break;
    case 2: {
        static const int64_t windows[] = {3600, 86400, 3 * 86400, 7 * 86400};
        g->max = (int)rin(r, 1, 4);
        g->window_s = chance(r, 70) ? windows[rin(r, 0, 3)] : rin(r, 60, 3 * 86400);
        g->scope = (int)rin(r, 0, 2);
        break;
    }
    default: {
        static const int64_t periods[] = {3600, 72 * 3600, 7 * 86400};
        g->outcome = (int)rin(r, 0, N(OUTCOMES) - 1);
        g->quiet_s = chance(r, 70) ? periods[rin(r, 0, 2)] : rin(r, 60, 5 * 86400);
        g->scope = (int)rin(r, 0, 2);
        break;
    }
    }
}

static void gen_campaign(rng *r, gcampaign *c, int64_t id, int64_t *next_id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->base_ms = chance(r, 60) ? T(TRANSITIONS[rin(r, 0, N(TRANSITIONS) - 1)]) +
                                     rin(r, -2 * DAY_MS, 2 * DAY_MS)
                               : T("2026-01-01T00:00:00Z") + rin(r, 0, 364 * DAY_MS);
    c->nsets = (int)rin(r, 0, MAX_SETS);
    for (int s = 0; s < c->nsets; s++) {
        gset *g = &c->sets[s];
        g->id = (*next_id)++;
        g->jur = SET_JURS[rin(r, 0, N(SET_JURS) - 1)];
        g->nrules = (int)rin(r, 1, MAX_RULES);
        for (int k = 0; k < g->nrules; k++) {
            gen_rule(r, c, &g->rules[k], (*next_id)++);
        }
    }
    c->nblackouts = chance(r, 30) ? (int)rin(r, 1, MAX_BLACKOUTS) : 0;
    for (int i = 0; i < c->nblackouts; i++) {
        /* Distinct days: the key is (campaign, day). */
        int taken;
        do {
            c->blackouts[i] = ((c->base_ms + rin(r, -6, 6) * DAY_MS) / DAY_MS) * DAY_MS;
            taken = 0;
            for (int k = 0; k < i; k++) {
                taken |= c->blackouts[k] == c->blackouts[i];
            }
        } while (taken);
    }
}

static void gen_case(rng *r, const gcampaign *c, int index, gcase *k)
{
    memset(k, 0, sizeof *k);
    k->campaign = index;
    k->zone = ZONES[rin(r, 0, N(ZONES) - 1)];
    k->njur = (int)rin(r, 1, 2);
    k->jur[0] = CONTACT_JURS[rin(r, 0, N(CONTACT_JURS) - 1)];
    k->jur[1] = CONTACT_JURS[rin(r, 0, N(CONTACT_JURS) - 1)];
    if (k->njur == 2 && strcmp(k->jur[0], k->jur[1]) == 0) {
        k->njur = 1;
    }
    k->channel = chance(r, 70) ? ECM_RULES_VOICE : ECM_RULES_SMS;
    k->now_ms = c->base_ms + rin(r, -4 * DAY_MS, 4 * DAY_MS);
    if (chance(r, 50)) {
        k->now_ms -= k->now_ms % MIN_MS;
    }
    static const int64_t margins[] = {5 * MIN_MS, 15 * MIN_MS, 2 * HOUR_MS};
    k->margin_ms = chance(r, 70) ? 0 : margins[rin(r, 0, 2)];
    k->nhist = (int)rin(r, 0, MAX_HISTORY);
    /* Attempts bunch up so that caps are reached as often as not. */
    int64_t span = chance(r, 50) ? DAY_MS : 8 * DAY_MS;
    for (int i = 0; i < k->nhist; i++) {
        ghist *h = &k->hist[i];
        h->dispatched_ms = k->now_ms - rin(r, 1, span);
        h->result_ms = chance(r, 20) ? 0 : h->dispatched_ms + rin(r, 0, 10 * MIN_MS);
        h->outcome = chance(r, 15) ? -1 : (int)rin(r, 0, N(OUTCOMES) - 1);
        h->channel = chance(r, 70) ? ECM_RULES_VOICE : ECM_RULES_SMS;
        h->same = (unsigned)rin(r, 1, 7);
    }
}

/* ---- SQL text --------------------------------------------------------------- */

static void put(ecm_buf *b, const char *fmt, ...) ECM_TEST_PRINTF(2, 3);
static void put(ecm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ecm_buf_vaddf(b, fmt, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
}

static void date_of(int64_t utc_midnight_ms, char out[16])
{
    char iso[40];
    ecm_clock_format_ms(utc_midnight_ms, iso, sizeof iso);
    snprintf(out, 16, "%.10s", iso);
}

static void wdays_text(unsigned wdays, char out[32])
{
    size_t n = 0;
    out[n++] = '{';
    for (int d = 0; d < 7; d++) {
        if (wdays & (1u << d)) {
            if (n > 1) {
                out[n++] = ',';
            }
            out[n++] = (char)('0' + d);
        }
    }
    out[n++] = '}';
    out[n] = '\0';
}

/* The statement that writes the campaigns of a batch into db/016's tables. */
static void campaigns_sql(const gcampaign *cs, int n, ecm_buf *b)
{
    put(b, "BEGIN;\n");
    for (int i = 0; i < n; i++) {
        const gcampaign *c = &cs[i];
        put(b,
            "INSERT INTO campaigns (id, name, channel, sms_template, strategy_id) VALUES (%lld, "
            "'oracle %lld', "
            "'sms', 'hi', (SELECT min(id) FROM strategies));\n",
            (long long)c->id, (long long)c->id);
        for (int s = 0; s < c->nsets; s++) {
            const gset *g = &c->sets[s];
            put(b,
                "INSERT INTO rule_sets (id, name, jurisdiction) VALUES (%lld, 'set %lld', '%s');\n",
                (long long)g->id, (long long)g->id, g->jur);
            put(b, "INSERT INTO campaign_rule_sets VALUES (%lld, %lld);\n", (long long)c->id,
                (long long)g->id);
            for (int k = 0; k < g->nrules; k++) {
                const grule *ru = &g->rules[k];
                char day[16], wd[32];
                put(b,
                    "INSERT INTO rules (id, rule_set_id, kind, says, channel, wdays, start_min, "
                    "end_min, day, max_attempts, window_s, after_outcome, quiet_s, scope) VALUES "
                    "(%lld, %lld, '%s', 'rule %lld says so', '%s', ",
                    (long long)ru->id, (long long)g->id, KINDS[ru->kind], (long long)ru->id,
                    CHANNELS[ru->channel]);
                switch (ru->kind) {
                case 0:
                    wdays_text(ru->wdays, wd);
                    put(b, "'%s', %d, %d, NULL, NULL, NULL, NULL, NULL, NULL);\n", wd,
                        ru->start_min, ru->end_min);
                    break;
                case 1:
                    date_of(ru->day, day);
                    put(b, "NULL, NULL, NULL, '%s', NULL, NULL, NULL, NULL, NULL);\n", day);
                    break;
                case 2:
                    put(b, "NULL, NULL, NULL, NULL, %d, %lld, NULL, NULL, '%s');\n", ru->max,
                        (long long)ru->window_s, SCOPES[ru->scope]);
                    break;
                default:
                    put(b, "NULL, NULL, NULL, NULL, NULL, NULL, '%s', %lld, '%s');\n",
                        OUTCOMES[ru->outcome], (long long)ru->quiet_s, SCOPES[ru->scope]);
                    break;
                }
            }
        }
        for (int i2 = 0; i2 < c->nblackouts; i2++) {
            char day[16];
            date_of(c->blackouts[i2], day);
            put(b, "INSERT INTO campaign_blackouts VALUES (%lld, '%s', 'blackout %d');\n",
                (long long)c->id, day, i2);
        }
    }
    put(b, "COMMIT;\n");
}

static void copy_in(PGconn *conn, const char *sql, const ecm_buf *b)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    }
    PQclear(res);
    if (PQputCopyData(conn, b->ptr ? b->ptr : "", (int)b->len) != 1 ||
        PQputCopyEnd(conn, NULL) != 1) {
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        }
        PQclear(res);
    }
}

/* The oracle: for every probe, whether the rules allow its instant, as
 * joins and aggregates over the rule tables, decided apart from the C code:
 *   p     the probes with their case
 *   x     the local wall times (AT TIME ZONE) of t and of t + margin, where
 *         hours and days off must allow
 *   ar    the rules of the sets the case's campaign picked that apply to its
 *         jurisdictions ("*", the same code, the country of a subdivision,
 *         a subdivision of a bare country) and channel
 *   then  the probes some rule refuses: a set with hours rules none of
 *         which holds the local weekday and time; a day off or blackout on
 *         the local date; as many attempts as a cap allows in (t - window,
 *         t]; an attempt with the quiet rule's outcome within the period
 *         before t. A history row counts for a rule by its channel and scope
 *         (contact: the contact's own; subject: its own or the same subject;
 *         phone: the same number). */
static const char ORACLE_SQL[] =
    "WITH p AS MATERIALIZED ("
    "  SELECT pr.probe_id, pr.t_ms, c.case_id, c.campaign_id, c.zone, c.channel, c.margin_ms "
    "  FROM oracle_probes pr JOIN oracle_cases c ON c.case_id = pr.case_id), "
    "x AS MATERIALIZED ("
    "  SELECT DISTINCT p.probe_id, p.case_id, p.campaign_id, "
    "  ('epoch'::timestamptz + (p.t_ms + m.add) * interval '1 millisecond') AT TIME ZONE p.zone "
    "  AS lt FROM p CROSS JOIN LATERAL (VALUES (0::bigint), (p.margin_ms)) AS m (add)), "
    "ar AS MATERIALIZED ("
    "  SELECT c.case_id, r.* FROM oracle_cases c "
    "  JOIN campaign_rule_sets crs ON crs.campaign_id = c.campaign_id "
    "  JOIN rule_sets rs ON rs.id = crs.rule_set_id "
    "  JOIN rules r ON r.rule_set_id = rs.id AND r.channel IN ('all', c.channel) "
    "  WHERE rs.jurisdiction = '*' OR EXISTS (SELECT 1 FROM unnest(c.jur) AS j (code) "
    "    WHERE j.code = rs.jurisdiction "
    "    OR (length(rs.jurisdiction) = 2 AND split_part(j.code, '-', 1) = rs.jurisdiction) "
    "    OR (length(j.code) = 2 AND split_part(rs.jurisdiction, '-', 1) = j.code))), "
    "refused AS ("
    "  SELECT x.probe_id FROM x JOIN ar h ON h.case_id = x.case_id AND h.kind = 'hours' "
    "  GROUP BY x.probe_id, x.lt, h.rule_set_id "
    "  HAVING NOT bool_or(extract(dow FROM x.lt)::int = ANY (h.wdays) "
    "    AND x.lt >= date_trunc('day', x.lt) + h.start_min * interval '1 minute' "
    "    AND x.lt < date_trunc('day', x.lt) + h.end_min * interval '1 minute') "
    "  UNION ALL "
    "  SELECT x.probe_id FROM x JOIN ar d ON d.case_id = x.case_id AND d.kind = 'day_off' "
    "  AND d.day = x.lt::date "
    "  UNION ALL "
    "  SELECT x.probe_id FROM x JOIN campaign_blackouts bo ON bo.campaign_id = x.campaign_id "
    "  AND bo.day = x.lt::date "
    "  UNION ALL "
    "  SELECT p.probe_id FROM p JOIN ar k ON k.case_id = p.case_id AND k.kind = 'cap' "
    "  JOIN oracle_history hi ON hi.case_id = p.case_id "
    "  AND (k.channel = 'all' OR hi.channel = k.channel) "
    "  AND CASE k.scope WHEN 'contact' THEN hi.own WHEN 'subject' THEN hi.own OR hi.same_subject "
    "  ELSE hi.same_phone END "
    "  AND hi.dispatched_ms > p.t_ms - k.window_s * 1000 AND hi.dispatched_ms <= p.t_ms "
    "  GROUP BY p.probe_id, k.id HAVING count(*) >= min(k.max_attempts) "
    "  UNION ALL "
    "  SELECT p.probe_id FROM p JOIN ar q ON q.case_id = p.case_id AND q.kind = 'quiet' "
    "  JOIN oracle_history hi ON hi.case_id = p.case_id AND hi.outcome = q.after_outcome "
    "  AND (q.channel = 'all' OR hi.channel = q.channel) "
    "  AND CASE q.scope WHEN 'contact' THEN hi.own WHEN 'subject' THEN hi.own OR hi.same_subject "
    "  ELSE hi.same_phone END "
    "  AND coalesce(hi.result_ms, hi.dispatched_ms) <= p.t_ms "
    "  AND p.t_ms < coalesce(hi.result_ms, hi.dispatched_ms) + q.quiet_s * 1000) "
    "SELECT p.probe_id, NOT EXISTS (SELECT 1 FROM refused f WHERE f.probe_id = p.probe_id) "
    "FROM p ORDER BY p.probe_id";

/* ---- fixture ---------------------------------------------------------------- */

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    PGconn *conn;
} fixture;

static int group_setup(void **state)
{
    *state = NULL;
    if (!ecm_test_pg_dsn()) {
        return 0;
    }
    ecm_test_log_init("test", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_rules_oracle");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->conn = ecm_pg_conn(f->pg);
    assert_non_null(f->conn);
    ecm_test_pg_exec(f->conn,
                     "CREATE TABLE oracle_cases (case_id int PRIMARY KEY, campaign_id bigint, "
                     "zone text, jur text[], channel text, margin_ms bigint);"
                     "CREATE TABLE oracle_history (case_id int, dispatched_ms bigint, "
                     "result_ms bigint, outcome text, channel text, own boolean, "
                     "same_subject boolean, same_phone boolean);"
                     "CREATE INDEX ON oracle_history (case_id);"
                     "CREATE TABLE oracle_probes (probe_id int PRIMARY KEY, case_id int, "
                     "t_ms bigint)");
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f) {
        return 0;
    }
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    free(f);
    return 0;
}

/* ---- one batch ------------------------------------------------------------ */

static void print_case(uint64_t seed, const gcampaign *c, const gcase *k, const gprobe *p,
                       int oracle)
{
    char a[40], b2[40];
    fprintf(stderr, "MISMATCH (seed %llu) campaign %lld, probe '%s' at %s: oracle %s, ",
            (unsigned long long)seed, (long long)c->id, PROBE_NAMES[p->kind],
            ecm_clock_format_ms(p->t_ms, a, sizeof a), oracle ? "allowed" : "refused");
    if (k->go) {
        fprintf(stderr, "evaluator GO\n");
    } else {
        fprintf(stderr, "evaluator WAIT until %s: %s\n",
                k->b.until_ms == ECM_WINDOW_NONE
                    ? "none"
                    : ecm_clock_format_ms(k->b.until_ms, b2, sizeof b2),
                k->b.why);
    }
    fprintf(stderr,
            "  contact: zone %s, jurisdictions %s%s%s, channel %s, now %s, margin %lld ms\n",
            k->zone, k->jur[0], k->njur == 2 ? " " : "", k->njur == 2 ? k->jur[1] : "",
            k->channel == ECM_RULES_VOICE ? "voice" : "sms",
            ecm_clock_format_ms(k->now_ms, a, sizeof a), (long long)k->margin_ms);
    for (int s = 0; s < c->nsets; s++) {
        const gset *g = &c->sets[s];
        fprintf(stderr, "  set %lld (%s):\n", (long long)g->id, g->jur);
        for (int i = 0; i < g->nrules; i++) {
            const grule *ru = &g->rules[i];
            char wd[32], day[16];
            wdays_text(ru->wdays, wd);
            date_of(ru->day, day);
            fprintf(stderr, "    rule %lld %s channel %s", (long long)ru->id, KINDS[ru->kind],
                    CHANNELS[ru->channel]);
            switch (ru->kind) {
            case 0:
                fprintf(stderr, " wdays %s [%d, %d) min\n", wd, ru->start_min, ru->end_min);
                break;
            case 1:
                fprintf(stderr, " day %s\n", day);
                break;
            case 2:
                fprintf(stderr, " %d in %lld s, scope %s\n", ru->max, (long long)ru->window_s,
                        SCOPES[ru->scope]);
                break;
            default:
                fprintf(stderr, " %lld s after %s, scope %s\n", (long long)ru->quiet_s,
                        OUTCOMES[ru->outcome], SCOPES[ru->scope]);
                break;
            }
        }
    }
    for (int i = 0; i < c->nblackouts; i++) {
        char day[16];
        date_of(c->blackouts[i], day);
        fprintf(stderr, "  blackout %s\n", day);
    }
    for (int i = 0; i < k->nhist; i++) {
        const ghist *h = &k->hist[i];
        fprintf(stderr, "  attempt dispatched %s result %s outcome %s channel %s same %u\n",
                ecm_clock_format_ms(h->dispatched_ms, a, sizeof a),
                h->result_ms ? ecm_clock_format_ms(h->result_ms, b2, sizeof b2) : "-",
                h->outcome < 0 ? "-" : OUTCOMES[h->outcome],
                h->channel == ECM_RULES_VOICE ? "voice" : "sms", h->same);
    }
}

typedef struct {
    long cases, probes, go, wait, none, mismatches;
    double eval_s, oracle_s;
} totals;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_batch(fixture *f, rng *r, uint64_t seed, int64_t *next_id, int ncases_wanted,
                      totals *tot)
{
    int ncamp = (ncases_wanted + CASES_PER_CAMPAIGN - 1) / CASES_PER_CAMPAIGN;
    gcampaign *cs = calloc((size_t)ncamp, sizeof *cs);
    gcase *ks = calloc((size_t)ncases_wanted, sizeof *ks);
    gprobe *ps = calloc((size_t)ncases_wanted * MAX_PROBES, sizeof *ps);
    assert_true(cs && ks && ps);
    ecm_buf sql;
    ecm_buf_init(&sql, BUF_MAX);
    for (int i = 0; i < ncamp; i++) {
        gen_campaign(r, &cs[i], (*next_id)++, next_id);
    }
    campaigns_sql(cs, ncamp, &sql);
    ecm_test_pg_exec(f->conn, "%s", ecm_buf_ptr(&sql));
    for (int i = 0; i < ncamp; i++) {
        assert_int_equal(ecm_rules_load(f->pg, cs[i].id, &cs[i].loaded), 0);
        assert_int_equal(ecm_rules_nsets(cs[i].loaded), cs[i].nsets);
    }

    /* The evaluator. */
    int nprobes = 0;
    double t0 = now_s();
    for (int i = 0; i < ncases_wanted; i++) {
        gcase *k = &ks[i];
        int ci = i / CASES_PER_CAMPAIGN;
        gen_case(r, &cs[ci], ci, k);
        ecm_rules_attempt hist[MAX_HISTORY];
        for (int h = 0; h < k->nhist; h++) {
            hist[h] = (ecm_rules_attempt){
                .dispatched_ms = k->hist[h].dispatched_ms,
                .result_ms = k->hist[h].result_ms,
                .outcome = k->hist[h].outcome < 0 ? NULL : OUTCOMES[k->hist[h].outcome],
                .channel = (ecm_rules_channel)k->hist[h].channel,
                .same = k->hist[h].same};
        }
        ecm_rules_in in = {.zone = k->zone,
                           .jurisdictions = k->jur,
                           .njurisdictions = (size_t)k->njur,
                           .channel = (ecm_rules_channel)k->channel,
                           .history = hist,
                           .nhistory = (size_t)k->nhist,
                           .now_ms = k->now_ms,
                           .margin_ms = k->margin_ms};
        int rc = ecm_rules_allows(cs[ci].loaded, &in, &k->b);
        assert_true(rc == 0 || rc == 1);
        k->go = rc;
        ps[nprobes++] = (gprobe){i, P_NOW, k->now_ms};
        if (rc == 1) {
            tot->go++;
            continue;
        }
        if (k->b.until_ms == ECM_WINDOW_NONE) {
            for (int i2 = 0; i2 < 3; i2++) {
                ps[nprobes++] = (gprobe){i, P_NEVER, k->now_ms + rin(r, 1, ECM_RULES_HORIZON_MS)};
            }
            tot->none++;
            continue;
        }
        tot->wait++;
        int64_t u = k->b.until_ms;
        assert_true(u > k->now_ms);
        ps[nprobes++] = (gprobe){i, P_UNTIL, u};
        if (u - MIN_MS > k->now_ms) {
            ps[nprobes++] = (gprobe){i, P_BEFORE_MIN, u - MIN_MS};
        }
        if (u - 1 > k->now_ms) {
            ps[nprobes++] = (gprobe){i, P_BEFORE_MS, u - 1};
            ps[nprobes++] = (gprobe){i, P_BETWEEN, k->now_ms + rin(r, 1, u - 1 - k->now_ms)};
        }
    }
    tot->eval_s += now_s() - t0;

    /* The oracle's tables. */
    ecm_buf cases, hist, probes;
    ecm_buf_init(&cases, BUF_MAX);
    ecm_buf_init(&hist, BUF_MAX);
    ecm_buf_init(&probes, BUF_MAX);
    for (int i = 0; i < ncases_wanted; i++) {
        const gcase *k = &ks[i];
        put(&cases, "%d\t%lld\t%s\t{%s%s%s}\t%s\t%lld\n", i, (long long)cs[k->campaign].id, k->zone,
            k->jur[0], k->njur == 2 ? "," : "", k->njur == 2 ? k->jur[1] : "",
            k->channel == ECM_RULES_VOICE ? "voice" : "sms", (long long)k->margin_ms);
        for (int h = 0; h < k->nhist; h++) {
            const ghist *g = &k->hist[h];
            char result[24] = "\\N";
            if (g->result_ms) {
                snprintf(result, sizeof result, "%lld", (long long)g->result_ms);
            }
            put(&hist, "%d\t%lld\t%s\t%s\t%s\t%s\t%s\t%s\n", i, (long long)g->dispatched_ms, result,
                g->outcome < 0 ? "\\N" : OUTCOMES[g->outcome],
                g->channel == ECM_RULES_VOICE ? "voice" : "sms",
                g->same & ECM_RULES_SAME_CONTACT ? "t" : "f",
                g->same & ECM_RULES_SAME_SUBJECT ? "t" : "f",
                g->same & ECM_RULES_SAME_PHONE ? "t" : "f");
        }
    }
    for (int i = 0; i < nprobes; i++) {
        put(&probes, "%d\t%d\t%lld\n", i, ps[i].case_index, (long long)ps[i].t_ms);
    }
    ecm_test_pg_exec(f->conn, "TRUNCATE oracle_cases, oracle_history, oracle_probes");
    copy_in(f->conn, "COPY oracle_cases FROM STDIN", &cases);
    copy_in(f->conn, "COPY oracle_history FROM STDIN", &hist);
    copy_in(f->conn, "COPY oracle_probes FROM STDIN", &probes);
    ecm_test_pg_exec(f->conn, "ANALYZE oracle_cases, oracle_history, oracle_probes");

    t0 = now_s();
    PGresult *res = ecm_test_pg_query(f->conn, "%s", ORACLE_SQL);
    tot->oracle_s += now_s() - t0;
    assert_int_equal(PQntuples(res), nprobes);
    for (int i = 0; i < nprobes; i++) {
        assert_int_equal(strtol(PQgetvalue(res, i, 0), NULL, 10), i);
        int oracle = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        const gprobe *p = &ps[i];
        const gcase *k = &ks[p->case_index];
        int want = p->kind == P_NOW ? k->go : p->kind == P_UNTIL;
        if (oracle != want) {
            if (tot->mismatches < MAX_MISMATCHES) {
                print_case(seed, &cs[k->campaign], k, p, oracle);
            }
            tot->mismatches++;
        }
    }
    PQclear(res);
    tot->cases += ncases_wanted;
    tot->probes += nprobes;

    ecm_test_pg_exec(f->conn,
                     "DELETE FROM campaigns WHERE id >= %lld; DELETE FROM rule_sets WHERE id >= "
                     "%lld",
                     ID_BASE, ID_BASE);
    for (int i = 0; i < ncamp; i++) {
        ecm_rules_destroy(cs[i].loaded);
    }
    ecm_buf_destroy(&sql);
    ecm_buf_destroy(&cases);
    ecm_buf_destroy(&hist);
    ecm_buf_destroy(&probes);
    free(cs);
    free(ks);
    free(ps);
}

static void test_rules_agree_with_the_sql_oracle(void **state)
{
    fixture *f = ecm_test_need(*state);
    long want = 50000;
    const char *env = getenv("ECM_RULES_ORACLE_CASES");
    if (env && *env) {
        char *end = NULL;
        want = strtol(env, &end, 10);
        if (end == env || *end != '\0' || want <= 0) {
            fail_msg("ECM_RULES_ORACLE_CASES=%s is not a positive number", env);
        }
    }
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    env = getenv("ECM_RULES_ORACLE_SEED");
    if (env && *env) {
        seed = strtoull(env, NULL, 10);
    }
    fprintf(stderr, "rules oracle: seed %llu (ECM_RULES_ORACLE_SEED replays it), %ld cases\n",
            (unsigned long long)seed, want);
    rng r = {seed};
    int64_t next_id = ID_BASE;
    totals tot = {0};
    double t0 = now_s();
    const long batch = (long)CAMPAIGNS_PER_BATCH * CASES_PER_CAMPAIGN;
    while (tot.cases < want) {
        long n = want - tot.cases < batch ? want - tot.cases : batch;
        run_batch(f, &r, seed, &next_id, (int)n, &tot);
    }
    double all = now_s() - t0;
    fprintf(stderr,
            "rules oracle: seed %llu, %ld cases (%ld GO, %ld WAIT, %ld no instant within 400 "
            "days), %ld probes, %ld mismatches; %.1f s in all, %.0f cases/s; evaluator %.2f s "
            "(%.0f cases/s), oracle %.2f s (%.0f probes/s)\n",
            (unsigned long long)seed, tot.cases, tot.go, tot.wait, tot.none, tot.probes,
            tot.mismatches, all, (double)tot.cases / all, tot.eval_s,
            (double)tot.cases / tot.eval_s, tot.oracle_s, (double)tot.probes / tot.oracle_s);
    if (tot.mismatches) {
        fail_msg("%ld probes where the evaluator and the oracle disagree (seed %llu)",
                 tot.mismatches, (unsigned long long)seed);
    }
    /* A generator that stops producing both answers would prove nothing. */
    assert_true(tot.go > tot.cases / 20);
    assert_true(tot.wait > tot.cases / 20);
}

/* ---- the loader and the cache --------------------------------------------- */

static void test_rules_load_reads_the_shipped_florida_set(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_test_pg_exec(
        f->conn,
        "INSERT INTO campaigns (id, name, channel, sms_template, strategy_id) VALUES (900, 'fl', "
        "'sms', 'hi', (SELECT min(id) FROM strategies));"
        "INSERT INTO campaign_rule_sets SELECT 900, id FROM rule_sets WHERE name IN "
        "('US-FL Florida Telephone Solicitation Act', 'US federal holidays');"
        "INSERT INTO campaign_blackouts VALUES (900, '2026-12-24', 'office closed')");
    ecm_rules *r = NULL;
    assert_int_equal(ecm_rules_load(f->pg, 900, &r), 0);
    assert_int_equal(ecm_rules_nsets(r), 2);
    const char *fl[] = {"US-FL"};
    int64_t now = T("2026-03-05T14:00:00Z");
    ecm_rules_attempt h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = (ecm_rules_attempt){.dispatched_ms = now - (i + 1) * HOUR_MS,
                                   .channel = ECM_RULES_VOICE,
                                   .same = ECM_RULES_SAME_SUBJECT};
    }
    ecm_rules_in in = {.zone = "America/New_York",
                       .jurisdictions = fl,
                       .njurisdictions = 1,
                       .channel = ECM_RULES_VOICE,
                       .history = h,
                       .nhistory = 2,
                       .now_ms = now};
    ecm_rules_block b;
    assert_int_equal(ecm_rules_allows(r, &in, &b), 1); /* the third call */
    in.nhistory = 3;
    assert_int_equal(ecm_rules_allows(r, &in, &b), 0); /* a fourth in 24 h */
    assert_string_equal(b.kind, "cap");
    assert_string_equal(b.set_name, "US-FL Florida Telephone Solicitation Act");
    /* The oldest leaves the 24 h at 06:00 local; the hours open at 08:00. */
    assert_int_equal(b.until_ms, T("2026-03-06T08:00:00-05:00"));
    in.nhistory = 0;
    in.now_ms = T("2026-03-05T20:00:00-05:00");
    assert_int_equal(ecm_rules_allows(r, &in, &b), 0); /* 8 pm */
    assert_string_equal(b.kind, "hours");
    assert_int_equal(b.until_ms, T("2026-03-06T08:00:00-05:00"));
    in.now_ms = T("2026-12-25T12:00:00-05:00");
    assert_int_equal(ecm_rules_allows(r, &in, &b), 0);
    assert_string_equal(b.kind, "day_off");
    assert_string_equal(b.set_name, "US federal holidays");
    in.now_ms = T("2026-12-24T12:00:00-05:00");
    assert_int_equal(ecm_rules_allows(r, &in, &b), 0);
    assert_string_equal(b.kind, "blackout");
    assert_string_equal(b.says, "office closed");
    ecm_rules_destroy(r);
    ecm_test_pg_exec(f->conn, "DELETE FROM campaigns WHERE id = 900");
}

static void test_rules_cache_reloads_when_the_generation_moves(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_test_pg_exec(
        f->conn,
        "INSERT INTO campaigns (id, name, channel, sms_template, strategy_id) VALUES (901, 'c', "
        "'sms', 'hi', (SELECT min(id) FROM strategies));"
        "INSERT INTO rule_sets (id, name, jurisdiction) VALUES (901, 'mine', '*');"
        "INSERT INTO campaign_rule_sets VALUES (901, 901)");
    ecm_rules_cache *cache = ecm_rules_cache_new();
    assert_non_null(cache);
    int64_t g1 = 0, g2 = 0;
    assert_int_equal(ecm_rules_generation(f->pg, &g1), 0);
    const ecm_rules *r1 = ecm_rules_cache_get(cache, f->pg, 901, g1);
    assert_non_null(r1);
    assert_int_equal(ecm_rules_lookback_s(r1), 0);
    assert_ptr_equal(ecm_rules_cache_get(cache, f->pg, 901, g1), r1);
    ecm_test_pg_exec(f->conn, "INSERT INTO rules (rule_set_id, kind, says, max_attempts, "
                              "window_s, scope) VALUES (901, 'cap', 'one a day', 1, 86400, "
                              "'contact')");
    assert_int_equal(ecm_rules_generation(f->pg, &g2), 0);
    assert_true(g2 > g1);
    const ecm_rules *r2 = ecm_rules_cache_get(cache, f->pg, 901, g2);
    assert_non_null(r2);
    assert_int_equal(ecm_rules_lookback_s(r2), 86400);
    /* A campaign that does not exist has no rules, which is no error. */
    const ecm_rules *none = ecm_rules_cache_get(cache, f->pg, 424242, g2);
    assert_non_null(none);
    assert_int_equal(ecm_rules_nsets(none), 0);
    ecm_rules_cache_destroy(cache);
    ecm_test_pg_exec(f->conn, "DELETE FROM campaigns WHERE id = 901; "
                              "DELETE FROM rule_sets WHERE id = 901");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_load_reads_the_shipped_florida_set),
        cmocka_unit_test(test_rules_cache_reloads_when_the_generation_moves),
        cmocka_unit_test(test_rules_agree_with_the_sql_oracle),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
