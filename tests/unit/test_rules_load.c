/* Contact rules as data (db/016_contact_rules.sql, rules/<file>.json,
 * cmake/embed_migrations.cmake's "-- @load" directive) against a scratch
 * PostgreSQL database: every shipped file is loaded with all its rules and
 * citations, existing US campaigns get the federal set, ecm_rule_set_load
 * refuses bad sets naming the set and the rule, a reload keeps the set's id,
 * a customer's set of the same name is left alone, rules_generation moves on
 * every kind of change, and the table CHECKs refuse each malformed kind.
 * Needs ECM_TEST_PG_DSN (skips without it); the directive tests need cmake
 * on PATH and ECM_SOURCE_DIR (set by CTest). */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_test_support.h"

#define NEED_DB(state) ecm_test_db *db = ecm_test_need(*(state))

static int migrated_setup(void **state)
{
    ecm_test_log_init("test", ECM_LOG_ERROR);
    *state = ecm_test_db_new_migrated("ecm_rules_load");
    return 0;
}

static int bare_setup(void **state)
{
    ecm_test_log_init("test", ECM_LOG_ERROR);
    *state = ecm_test_db_new("ecm_rules_load");
    return 0;
}

/* ECM_SOURCE_DIR, or "." when unset (running the binary by hand from the
 * source tree). */
static const char *source_dir(void)
{
    const char *s = getenv("ECM_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* The whole file at path, NUL-terminated, for the caller to free; fails the
 * running test when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Writes text to path; fails the running test on error. */
static void spill(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Runs sql with one text parameter p1. Returns the result (caller clears). */
static PGresult *exec1(PGconn *c, const char *sql, const char *p1)
{
    const char *params[1] = {p1};
    return PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
}

/* ecm_rule_set_load(json): the set's id, 0 when it returned NULL. Fails the
 * running test when the call failed. */
static long long load_ok(PGconn *c, const char *json)
{
    PGresult *res = exec1(c, "SELECT ecm_rule_set_load($1::jsonb)", json);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "load failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        fail_msg("%s", msg);
        return -1;
    }
    long long id = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

/* Runs sql expecting it to fail with SQLSTATE state and a primary message
 * holding want (and, when want2 is not NULL, a message or detail holding
 * want2). */
static void expect_error(PGconn *c, const char *sql, const char *param, const char *state,
                         const char *want, const char *want2)
{
    PGresult *res = param ? exec1(c, sql, param) : PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_FATAL_ERROR) {
        PQclear(res);
        fail_msg("accepted: %s [%s]", sql, param ? param : "");
        return;
    }
    const char *got_state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    char all[2048];
    snprintf(all, sizeof all, "%s | %s", msg ? msg : "", detail ? detail : "");
    if (!got_state || strcmp(got_state, state) != 0 || !msg || !strstr(msg, want) ||
        (want2 && !strstr(all, want2))) {
        char m[2600];
        snprintf(m, sizeof m, "%s [%s]: want %s \"%s\" \"%s\", got %s \"%s\"", sql,
                 param ? param : "", state, want, want2 ? want2 : "", got_state ? got_state : "",
                 all);
        PQclear(res);
        fail_msg("%s", m);
        return;
    }
    PQclear(res);
}

static long long generation(PGconn *c)
{
    return ecm_test_pg_int(c, "SELECT n FROM rules_generation");
}

/* ---- shipped sets ---------------------------------------------------------- */

/* Every rules/<file>.json file is a shipped set in the database with exactly the
 * file's rules, each citing a source and a checked date; nothing else is
 * shipped. */
static void test_every_shipped_file_is_loaded(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/rules", source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0) {
            continue;
        }
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *json = slurp(path);
        /* The set of the file's name, shipped, with as many rules as the
         * file, and each of the file's rules (kind, says, source, date)
         * present once. */
        PGresult *res = exec1(
            c,
            "WITH f AS (SELECT $1::jsonb AS j), s AS (SELECT rs.* FROM rule_sets rs, f "
            "WHERE rs.name = f.j ->> 'name') "
            "SELECT (SELECT count(*) FROM s WHERE shipped AND jurisdiction = (SELECT j ->> "
            "'jurisdiction' FROM f) AND description = (SELECT coalesce(j ->> 'description', '') "
            "FROM f)), "
            "(SELECT count(*) FROM rules r JOIN s ON s.id = r.rule_set_id), "
            "(SELECT jsonb_array_length(j -> 'rules') FROM f), "
            "(SELECT count(*) FROM f, jsonb_array_elements(f.j -> 'rules') x WHERE (SELECT "
            "count(*) FROM rules r JOIN s ON s.id = r.rule_set_id WHERE r.kind = x ->> 'kind' AND "
            "r.says = x ->> 'says' AND r.source = x ->> 'source' AND r.checked_on = (x ->> "
            "'checked_on')::date) = 1)",
            json);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        if (strcmp(PQgetvalue(res, 0, 0), "1") != 0 ||
            strcmp(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2)) != 0 ||
            strcmp(PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2)) != 0) {
            char m[512];
            snprintf(m, sizeof m, "%s: set %s, rules in db %s, in file %s, matched %s", e->d_name,
                     PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                     PQgetvalue(res, 0, 3));
            PQclear(res);
            free(json);
            fail_msg("%s", m);
        }
        PQclear(res);
        free(json);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rule_sets WHERE shipped"), files);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r JOIN rule_sets s ON s.id = "
                                        "r.rule_set_id WHERE s.shipped AND (r.source IS NULL OR "
                                        "r.source NOT LIKE '%%http%%' OR r.checked_on IS NULL)"),
                     0);
    PQfinish(c);
}

/* The rules the issue names, as the compliance officer reads them. */
static void test_shipped_sets_say_what_the_law_says(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
#define SET "JOIN rule_sets s ON s.id = r.rule_set_id WHERE s.shipped AND s.name = "
    /* TCPA: 08:00-21:00 every day, nationwide. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US federal (TCPA)' AND s.jurisdiction = 'US' AND "
                                        "r.kind = 'hours' AND r.start_min = 480 AND r.end_min = "
                                        "1260 AND r.wdays @> '{0,1,2,3,4,5,6}' AND r.channel = "
                                        "'all'"),
                     1);
    /* Reg F: 7 in 7 days per debt; 7 days after a conversation. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US Regulation F (debt collection)' AND r.kind = 'cap' "
                                        "AND r.max_attempts = 7 AND r.window_s = 604800 AND "
                                        "r.scope = 'subject' AND r.channel = 'voice'"),
                     1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US Regulation F (debt collection)' AND r.kind = 'quiet' "
                                        "AND r.after_outcome = 'CONNECTED' AND r.quiet_s = 604800 "
                                        "AND r.scope = 'subject' AND r.channel = 'voice'"),
                     1);
    /* Florida: 08:00-20:00, 3 per 24 h on one subject. */
    assert_int_equal(
        ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                           "'US-FL Florida Telephone Solicitation Act' AND s.jurisdiction = "
                           "'US-FL' AND r.kind = 'hours' AND r.start_min = 480 AND r.end_min = "
                           "1200 AND r.wdays @> '{0,1,2,3,4,5,6}'"),
        1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US-FL Florida Telephone Solicitation Act' AND r.kind = "
                                        "'cap' AND r.max_attempts = 3 AND r.window_s = 86400 AND "
                                        "r.scope = 'subject'"),
                     1);
    /* Oklahoma and Maryland: 08:00-20:00 and 3 per 24 h on one subject;
     * Mississippi and Louisiana: never on a Sunday. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r JOIN rule_sets s ON s.id = "
                                        "r.rule_set_id WHERE s.shipped AND s.jurisdiction IN "
                                        "('US-OK', 'US-MD') AND ((r.kind = 'hours' AND r.start_min "
                                        "= 480 AND r.end_min = 1200) OR (r.kind = 'cap' AND "
                                        "r.max_attempts = 3 AND r.window_s = 86400 AND r.scope = "
                                        "'subject'))"),
                     4);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r JOIN rule_sets s ON s.id = "
                                        "r.rule_set_id WHERE s.shipped AND s.jurisdiction IN "
                                        "('US-MS', 'US-LA') AND r.kind = 'hours' AND NOT 0 = "
                                        "ANY (r.wdays) AND r.wdays @> '{1,2,3,4,5,6}'"),
                     2);
    /* Ofcom: 72 h after an abandoned call, per number. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'UK Ofcom abandoned calls' AND s.jurisdiction = 'GB' AND "
                                        "r.kind = 'quiet' AND r.after_outcome = 'ABANDONED' AND "
                                        "r.quiet_s = 259200 AND r.scope = 'phone' AND r.channel = "
                                        "'voice'"),
                     1);
    /* Federal holidays: the 22 of 2026-2027, the weekday each weekend one
     * is observed on (Jul 3 2026, Jun 18, Jul 5, Dec 24 2027) and Dec 31 2027
     * (New Year's Day 2028 is a Saturday); an observed day is never on a
     * weekend. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US federal holidays' AND r.kind = 'day_off'"),
                     27);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US federal holidays' AND r.day IN ('2026-01-01', "
                                        "'2026-07-03', '2026-07-04', '2026-11-26', '2027-06-18', "
                                        "'2027-07-05', '2027-12-24', '2027-12-31')"),
                     8);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US federal holidays' AND r.says LIKE '%%observed%%' AND "
                                        "extract(isodow FROM r.day) IN (6, 7)"),
                     0);
    /* Every weekday in a "says" is the day's real weekday. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r " SET
                                        "'US federal holidays' AND r.says NOT LIKE 'No contact on "
                                        "' || trim(to_char(r.day, 'Day')) || ' %%'"),
                     0);
#undef SET
    PQfinish(c);
}

/* Campaigns in the US when 016 runs get the federal set; others none. */
static void test_existing_us_campaigns_get_tcpa(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    size_t before = 0;
    while (before < ecm_migrations_count && ecm_migrations[before].version < 16) {
        before++;
    }
    assert_true(before < ecm_migrations_count);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, before), (int)before);
    ecm_test_pg_exec(c,
                     "INSERT INTO campaigns (name, channel, strategy_id, region, sms_template) "
                     "SELECT n, 'sms', (SELECT id FROM strategies WHERE name = 'Default'), r, 'hi' "
                     "FROM (VALUES ('us1', 'US'), ('us2', 'US'), ('gb', 'GB')) v (n, r)");
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)(ecm_migrations_count - before));
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaign_rule_sets p JOIN campaigns "
                                        "c ON c.id = p.campaign_id JOIN rule_sets s ON s.id = "
                                        "p.rule_set_id WHERE c.name IN ('us1', 'us2') AND s.name = "
                                        "'US federal (TCPA)'"),
                     2);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaign_rule_sets"), 2);
    PQfinish(c);
}

/* ---- the loader ---------------------------------------------------------- */

#define CITED "\"source\": \"s https://example.org\", \"checked_on\": \"2026-12-01\""
#define HOURS(extra)                                                                               \
    "{\"kind\": \"hours\", \"says\": \"h\", " CITED ", \"wdays\": [1, 2], \"start\": \"08:00\", "  \
    "\"end\": \"20:00\"" extra "}"
#define SET1(rules) "{\"name\": \"Bad\", \"jurisdiction\": \"US-TX\", \"rules\": [" rules "]}"

/* Bad data raises invalid_parameter_value or check_violation naming the set
 * and the rule, and leaves no set behind. */
static void test_loader_refuses_bad_sets(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    static const struct {
        const char *json, *state, *want, *want2;
    } bad[] = {
        {"[1]", "22023", "rule set: not a JSON object", NULL},
        {"{\"jurisdiction\": \"US\", \"rules\": []}", "22023", "\"name\" missing", NULL},
        {"{\"name\": \"Bad\", \"jurisdiction\": \"USA\", \"rules\": [" HOURS("") "]}", "22023",
         "rule set \"Bad\": \"jurisdiction\"", NULL},
        {"{\"name\": \"Bad\", \"jurisdiction\": \"US\", \"rules\": []}", "22023",
         "rule set \"Bad\": \"rules\" must be a non-empty array", NULL},
        {"{\"name\": \"Bad\", \"jurisdiction\": \"US\", \"rule\": []}", "22023",
         "rule set \"Bad\": unknown key \"rule\"", NULL},
        {SET1(HOURS("") ", {\"kind\": \"nap\"}"), "22023", "rule set \"Bad\": rule 2 (nap)",
         "\"kind\" must be"},
        {SET1(HOURS("") ", " HOURS(", \"scope\": \"phone\"")), "22023",
         "rule set \"Bad\": rule 2 (hours)", "unknown key \"scope\""},
        {SET1("{\"kind\": \"hours\", \"says\": \"h\", " CITED ", \"wdays\": [7], \"start\": "
              "\"08:00\", \"end\": \"20:00\"}"),
         "23514", "rule set \"Bad\": rule 1 (hours): an hours rule has", "rules_hours"},
        {SET1("{\"kind\": \"hours\", \"says\": \"h\", " CITED ", \"wdays\": [1], \"start\": "
              "\"20:00\", \"end\": \"08:00\"}"),
         "23514", "rule set \"Bad\": rule 1 (hours)", "start before end"},
        {SET1("{\"kind\": \"hours\", \"says\": \"h\", " CITED ", \"wdays\": [1], \"start\": "
              "\"8:00\", \"end\": \"20:00\"}"),
         "22023", "rule set \"Bad\": rule 1 (hours)", "\"8:00\" is not HH:MM"},
        {SET1("{\"kind\": \"hours\", \"says\": \"h\", " CITED ", \"wdays\": [1], \"start\": "
              "\"08:00\", \"end\": \"24:01\"}"),
         "22023", "rule set \"Bad\": rule 1 (hours)", "between 00:00 and 24:00"},
        {SET1("{\"kind\": \"day_off\", \"says\": \"d\", " CITED ", \"day\": \"2026-02-30\"}"),
         "22008", "rule set \"Bad\": rule 1 (day_off)", NULL},
        {SET1("{\"kind\": \"cap\", \"says\": \"c\", " CITED ", \"max_attempts\": 0, \"window\": "
              "\"1 day\", \"scope\": \"subject\"}"),
         "23514", "rule set \"Bad\": rule 1 (cap): a cap rule has", NULL},
        {SET1("{\"kind\": \"cap\", \"says\": \"c\", " CITED ", \"max_attempts\": 3, \"window\": "
              "\"1 month\", \"scope\": \"subject\"}"),
         "22023", "rule set \"Bad\": rule 1 (cap)", "months or years"},
        {SET1("{\"kind\": \"cap\", \"says\": \"c\", " CITED ", \"max_attempts\": 3, \"window\": "
              "\"1 day\", \"window_s\": 86400, \"scope\": \"subject\"}"),
         "22023", "rule set \"Bad\": rule 1 (cap)", "not both"},
        {SET1("{\"kind\": \"cap\", \"says\": \"c\", " CITED ", \"max_attempts\": 3, \"window\": "
              "\"1 day\", \"scope\": \"debt\"}"),
         "23514", "rule set \"Bad\": rule 1 (cap)", "contact, subject or phone"},
        {SET1("{\"kind\": \"quiet\", \"says\": \"q\", " CITED ", \"after_outcome\": \"HUNG_UP\", "
              "\"quiet\": \"72 hours\", \"scope\": \"phone\"}"),
         "23514", "rule set \"Bad\": rule 1 (quiet): a quiet rule has", "ABANDONED"},
        {SET1("{\"kind\": \"quiet\", \"says\": \"q\", " CITED ", \"after_outcome\": \"BUSY\", "
              "\"quiet\": \"72 hours\", \"scope\": \"phone\", \"channel\": \"fax\"}"),
         "23514", "rule set \"Bad\": rule 1 (quiet)", "voice, sms or all"},
        {SET1("{\"kind\": \"quiet\", \"says\": \"q\", \"checked_on\": \"2026-12-01\", "
              "\"after_outcome\": \"BUSY\", \"quiet\": \"1 day\", \"scope\": \"phone\"}"),
         "22023", "rule set \"Bad\": rule 1 (quiet)", "\"source\" missing"},
        {SET1("{\"kind\": \"day_off\", \"says\": \" \", " CITED ", \"day\": \"2026-12-25\"}"),
         "22023", "rule set \"Bad\": rule 1 (day_off)", "\"says\" missing or empty"},
    };
    long long gen = generation(c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_error(c, "SELECT ecm_rule_set_load($1::jsonb)", bad[i].json, bad[i].state,
                     bad[i].want, bad[i].want2);
    }
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rule_sets WHERE name = 'Bad'"), 0);
    assert_int_equal(generation(c), gen);
    /* The same shape, fixed, loads. */
    assert_true(load_ok(c, SET1(HOURS(""))) > 0);
    PQfinish(c);
}

/* Reloading a shipped set keeps its id (so campaign picks survive) and
 * replaces its jurisdiction, description and rules; a customer's own set of
 * the same name is left alone and the call returns NULL with a NOTICE. */
static void notice_keep(void *arg, const PGresult *res)
{
    snprintf(arg, 512, "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

static void test_reload_keeps_id_and_customer_set_untouched(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    ecm_test_pg_exec(c, "INSERT INTO campaigns (name, channel, strategy_id, sms_template) SELECT "
                        "'c', 'sms', id, 'hi' "
                        "FROM strategies WHERE name = 'Default'");
    long long id = load_ok(c, "{\"name\": \"Acme TX\", \"jurisdiction\": \"US-TX\", \"rules\": "
                              "[" HOURS("") ", " HOURS("") "]}");
    assert_true(id > 0);
    ecm_test_pg_exec(c, "INSERT INTO campaign_rule_sets SELECT id, %lld FROM campaigns", id);
    long long again = load_ok(c, "{\"name\": \"Acme TX\", \"jurisdiction\": \"US\", "
                                 "\"description\": \"v2\", \"rules\": [{\"kind\": \"day_off\", "
                                 "\"says\": \"d\", " CITED ", \"day\": \"2026-12-25\"}]}");
    assert_int_equal(again, id);
    assert_int_equal(ecm_test_pg_int(c,
                                     "SELECT count(*) FROM rule_sets WHERE id = %lld AND shipped "
                                     "AND jurisdiction = 'US' AND description = 'v2'",
                                     id),
                     1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules WHERE rule_set_id = %lld", id),
                     1);
    assert_int_equal(
        ecm_test_pg_int(c,
                        "SELECT count(*) FROM rules WHERE rule_set_id = %lld AND kind = "
                        "'day_off' AND day = '2026-12-25'",
                        id),
        1);
    assert_int_equal(
        ecm_test_pg_int(c, "SELECT count(*) FROM campaign_rule_sets WHERE rule_set_id = %lld", id),
        1);
    /* A shipped file reloaded (as a later migration would) keeps its id. */
    long long tcpa =
        ecm_test_pg_int(c, "SELECT id FROM rule_sets WHERE name = 'US federal (TCPA)'");
    char path[1100];
    snprintf(path, sizeof path, "%s/rules/us_federal_tcpa.json", source_dir());
    char *json = slurp(path);
    assert_int_equal(load_ok(c, json), tcpa);
    free(json);

    /* A customer's set of the same name. */
    ecm_test_pg_exec(c, "INSERT INTO rule_sets (name, jurisdiction, description) VALUES ('Mine', "
                        "'US-CA', 'ours')");
    ecm_test_pg_exec(c, "INSERT INTO rules (rule_set_id, kind, says, day) SELECT id, 'day_off', "
                        "'our picnic', '2026-08-14' FROM rule_sets WHERE name = 'Mine'");
    char *before = ecm_test_pg_text(c, "SELECT row(s.*, r.*)::text FROM rule_sets s JOIN rules r "
                                       "ON r.rule_set_id = s.id WHERE s.name = 'Mine'");
    char notice[512] = "";
    PQsetNoticeReceiver(c, notice_keep, notice);
    assert_int_equal(load_ok(c, "{\"name\": \"Mine\", \"jurisdiction\": \"US\", \"rules\": "
                                "[" HOURS("") "]}"),
                     0);
    assert_non_null(strstr(notice, "rule set \"Mine\""));
    assert_non_null(strstr(notice, "customer's own"));
    char *after = ecm_test_pg_text(c, "SELECT row(s.*, r.*)::text FROM rule_sets s JOIN rules r "
                                      "ON r.rule_set_id = s.id WHERE s.name = 'Mine'");
    assert_string_equal(after, before);
    free(before);
    free(after);
    PQfinish(c);
}

/* ---- the tables ---------------------------------------------------------- */

/* rules_generation moves on every statement that changes rule sets, rules,
 * campaign picks or blackouts, and on nothing else. */
static void test_generation_moves_on_every_change(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    ecm_test_pg_exec(c, "INSERT INTO campaigns (name, channel, strategy_id, sms_template) SELECT "
                        "'c', 'sms', id, 'hi' "
                        "FROM strategies WHERE name = 'Default'");
    static const char *const changes[] = {
        "INSERT INTO rule_sets (name, jurisdiction) VALUES ('G', 'US-NY')",
        "UPDATE rule_sets SET description = 'd' WHERE name = 'G'",
        "INSERT INTO rules (rule_set_id, kind, says, wdays, start_min, end_min) SELECT id, "
        "'hours', 'h', '{1}', 480, 1200 FROM rule_sets WHERE name = 'G'",
        "UPDATE rules SET end_min = 1260 WHERE says = 'h'",
        "DELETE FROM rules WHERE says = 'h'",
        "INSERT INTO campaign_rule_sets SELECT c.id, s.id FROM campaigns c, rule_sets s WHERE "
        "s.name = 'G'",
        "DELETE FROM campaign_rule_sets",
        "INSERT INTO campaign_blackouts (campaign_id, day, reason) SELECT id, '2026-12-24', 'x' "
        "FROM campaigns",
        "UPDATE campaign_blackouts SET reason = 'Christmas Eve'",
        "DELETE FROM campaign_blackouts",
        "DELETE FROM rule_sets WHERE name = 'G'",
        "TRUNCATE campaign_blackouts",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        long long before = generation(c);
        ecm_test_pg_exec(c, "%s", changes[i]);
        long long after = generation(c);
        if (after <= before) {
            fail_msg("generation %lld -> %lld after %s", before, after, changes[i]);
        }
    }
    /* Other tables do not move it. */
    long long before = generation(c);
    ecm_test_pg_exec(c, "UPDATE campaigns SET name = 'c2'");
    assert_int_equal(generation(c), before);
    PQfinish(c);
}

/* updated_at of a set moves with the set and with its rules. */
static void test_updated_at_follows_rules(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    ecm_test_pg_exec(c, "INSERT INTO rule_sets (name, jurisdiction) VALUES ('U', '*')");
    const char *stale = "ALTER TABLE rule_sets DISABLE TRIGGER rule_sets_touch; "
                        "UPDATE rule_sets SET updated_at = '2000-01-01' WHERE name = 'U'; "
                        "ALTER TABLE rule_sets ENABLE TRIGGER rule_sets_touch";
    const char *fresh = "SELECT count(*) FROM rule_sets WHERE name = 'U' AND updated_at > "
                        "'2001-01-01'";
    static const char *const changes[] = {
        ("INSERT INTO rules (rule_set_id, kind, says, day) SELECT id, 'day_off', 'd', "
         "'2026-12-25' FROM rule_sets WHERE name = 'U'"),
        "UPDATE rules SET day = '2026-12-26' WHERE says = 'd'",
        "DELETE FROM rules WHERE says = 'd'",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        ecm_test_pg_exec(c, "%s", stale);
        assert_int_equal(ecm_test_pg_int(c, "%s", fresh), 0);
        ecm_test_pg_exec(c, "%s", changes[i]);
        if (ecm_test_pg_int(c, "%s", fresh) != 1) {
            fail_msg("updated_at did not move after %s", changes[i]);
        }
    }
    ecm_test_pg_exec(c, "%s", stale);
    ecm_test_pg_exec(c, "UPDATE rule_sets SET description = 'x' WHERE name = 'U'");
    assert_int_equal(ecm_test_pg_int(c, "%s", fresh), 1);
    PQfinish(c);
}

/* The table CHECKs refuse each malformed kind, whoever writes (the API
 * writes rows, not JSON), and a shipped set's rules must be cited. */
static void test_checks_refuse_malformed_rules(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    ecm_test_pg_exec(c, "INSERT INTO rule_sets (name, jurisdiction) VALUES ('K', 'CA-ON')");
    static const struct {
        const char *cols, *vals, *constraint;
    } bad[] = {
        /* hours */
        {"wdays, start_min, end_min", "'{1}', 600, 600", "rules_hours"},
        {"wdays, start_min, end_min", "'{1}', 600, 1441", "rules_hours"},
        {"wdays, start_min, end_min", "'{1}', -1, 600", "rules_hours"},
        {"wdays, start_min, end_min", "'{}', 480, 600", "rules_hours"},
        {"wdays, start_min, end_min", "'{7}', 480, 600", "rules_hours"},
        {"wdays, start_min, end_min", "'{1,NULL}', 480, 600", "rules_hours"},
        {"wdays, start_min, end_min", "'{{1},{2}}', 480, 600", "rules_hours"},
        {"start_min, end_min", "480, 600", "rules_hours"},
        {"wdays, start_min, end_min, day", "'{1}', 480, 600, '2026-12-25'", "rules_hours"},
        {"wdays, start_min, end_min, scope", "'{1}', 480, 600, 'phone'", "rules_hours"},
        /* day_off */
        {"day", "NULL", "rules_day_off"},
        {"day, max_attempts", "'2026-12-25', 1", "rules_day_off"},
        /* cap */
        {"max_attempts, window_s, scope", "0, 86400, 'contact'", "rules_cap"},
        {"max_attempts, window_s, scope", "3, 0, 'contact'", "rules_cap"},
        {"max_attempts, window_s", "3, 86400", "rules_cap"},
        {"max_attempts, window_s, scope, quiet_s", "3, 86400, 'contact', 5", "rules_cap"},
        /* quiet */
        {"after_outcome, quiet_s, scope", "'HUNG_UP', 3600, 'phone'", "rules_quiet"},
        {"after_outcome, quiet_s, scope", "'ABANDONED', 0, 'phone'", "rules_quiet"},
        {"after_outcome, quiet_s", "'ABANDONED', 3600", "rules_quiet"},
        {"quiet_s, scope", "3600, 'phone'", "rules_quiet"},
        {"after_outcome, quiet_s, scope, wdays", "'ABANDONED', 3600, 'phone', '{1}'",
         "rules_quiet"},
    };
    static const char *const kinds[] = {"hours", "day_off", "cap", "quiet"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kind = kinds[strncmp(bad[i].constraint, "rules_hours", 11) == 0     ? 0
                                 : strncmp(bad[i].constraint, "rules_day_off", 13) == 0 ? 1
                                 : strncmp(bad[i].constraint, "rules_cap", 9) == 0      ? 2
                                                                                        : 3];
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO rules (rule_set_id, kind, says, %s) SELECT id, '%s', 'x', %s FROM "
                 "rule_sets WHERE name = 'K'",
                 bad[i].cols, kind, bad[i].vals);
        expect_error(c, sql, NULL, "23514", bad[i].constraint, NULL);
    }
    /* Each kind well formed is accepted. */
    ecm_test_pg_exec(c, "INSERT INTO rules (rule_set_id, kind, says, wdays, start_min, end_min, "
                        "day, max_attempts, window_s, after_outcome, quiet_s, scope, channel) "
                        "SELECT id, k, 'ok', w, s, e, d, m, ws, o, q, sc, ch FROM rule_sets, "
                        "(VALUES ('hours', '{0,6}'::int[], 0, 1440, NULL::date, NULL::int, "
                        "NULL::bigint, NULL, NULL::bigint, NULL, 'all'), ('day_off', NULL, NULL, "
                        "NULL, '2026-12-25', NULL, NULL, NULL, NULL, NULL, 'sms'), ('cap', NULL, "
                        "NULL, NULL, NULL, 3, 86400, NULL, NULL, 'subject', 'voice'), ('quiet', "
                        "NULL, NULL, NULL, NULL, NULL, NULL, 'SMS_REJECTED', 60, 'contact', "
                        "'sms')) v (k, w, s, e, d, m, ws, o, q, sc, ch) WHERE name = 'K'");
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules r JOIN rule_sets s ON s.id = "
                                        "r.rule_set_id WHERE s.name = 'K'"),
                     4);
    /* Kind, channel, scope, says and the sets' own columns. */
    expect_error(c,
                 "INSERT INTO rules (rule_set_id, kind, says, day) SELECT id, 'holiday', 'x', "
                 "'2026-12-25' FROM rule_sets WHERE name = 'K'",
                 NULL, "23514", "rules_kind_check", NULL);
    expect_error(c,
                 "INSERT INTO rules (rule_set_id, kind, says, day, channel) SELECT id, 'day_off', "
                 "'x', '2026-12-25', 'fax' FROM rule_sets WHERE name = 'K'",
                 NULL, "23514", "rules_channel_check", NULL);
    expect_error(c,
                 "INSERT INTO rules (rule_set_id, kind, says, day) SELECT id, 'day_off', '  ', "
                 "'2026-12-25' FROM rule_sets WHERE name = 'K'",
                 NULL, "23514", "rules_says_check", NULL);
    static const char *const bad_juris[] = {"USA", "us", "US-", "US-FLOR", "U1", "", "**"};
    for (size_t i = 0; i < sizeof bad_juris / sizeof bad_juris[0]; i++) {
        expect_error(c, "INSERT INTO rule_sets (name, jurisdiction) VALUES ('J', $1)", bad_juris[i],
                     "23514", "rule_sets_jurisdiction_check", NULL);
    }
    static const char *const good_juris[] = {"*", "US", "US-FL", "GB-ENG", "FR-75C", "CA-ON"};
    for (size_t i = 0; i < sizeof good_juris / sizeof good_juris[0]; i++) {
        PGresult *res = exec1(
            c, "INSERT INTO rule_sets (name, jurisdiction) VALUES ('J' || $1, $1)", good_juris[i]);
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
    }
    /* A shipped set's rules cite their source, whichever way the set gets
     * shipped. */
    expect_error(c, "UPDATE rule_sets SET shipped = true WHERE name = 'K'", NULL, "23514",
                 "rule set \"K\" is shipped but its rule", NULL);
    ecm_test_pg_exec(c, "INSERT INTO rule_sets (name, jurisdiction, shipped) VALUES ('S', 'GB', "
                        "true)");
    expect_error(c,
                 "INSERT INTO rules (rule_set_id, kind, says, day) SELECT id, 'day_off', 'x', "
                 "'2026-12-25' FROM rule_sets WHERE name = 'S'",
                 NULL, "23514", "needs a source and checked_on", NULL);
    ecm_test_pg_exec(c, "INSERT INTO rules (rule_set_id, kind, says, day, source, checked_on) "
                        "SELECT id, 'day_off', 'x', '2026-12-25', 'law', '2026-12-01' FROM "
                        "rule_sets WHERE name = 'S'");
    expect_error(c, "UPDATE rules SET source = NULL WHERE says = 'x'", NULL, "23514",
                 "needs a source and checked_on", NULL);
    /* A set in use cannot be deleted; a campaign's deletion drops its picks
     * and blackouts. */
    ecm_test_pg_exec(c, "INSERT INTO campaigns (name, channel, strategy_id, sms_template) SELECT "
                        "'c', 'sms', id, 'hi' "
                        "FROM strategies WHERE name = 'Default'");
    ecm_test_pg_exec(c, "INSERT INTO campaign_rule_sets SELECT c.id, s.id FROM campaigns c, "
                        "rule_sets s WHERE s.name = 'K'");
    ecm_test_pg_exec(c, "INSERT INTO campaign_blackouts (campaign_id, day) SELECT id, "
                        "'2026-12-24' FROM campaigns");
    expect_error(c, "DELETE FROM rule_sets WHERE name = 'K'", NULL, "23503", "rule_set", NULL);
    ecm_test_pg_exec(c, "DELETE FROM campaigns");
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaign_rule_sets"), 0);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaign_blackouts"), 0);
    ecm_test_pg_exec(c, "DELETE FROM rule_sets WHERE name = 'K'");
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM rules WHERE says = 'ok'"), 0);
    PQfinish(c);
}

/* ---- the @load directive -------------------------------------------------- */

/* Runs cmake/embed_migrations.cmake on dir/db/001_t.sql (holding sql) with
 * dir/rules/a.json (holding json). Returns cmake's exit status; on 0, the
 * generated SQL of the one migration, decoded, in *out (caller frees). */
static int embed(const char *sql, const char *json, char **out)
{
    char dir[] = "/tmp/ecm_rules_embed_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[2048];
    snprintf(path, sizeof path, "%s/db", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/rules", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/db/001_t.sql", dir);
    spill(path, sql);
    snprintf(path, sizeof path, "%s/rules/a.json", dir);
    spill(path, json);
    snprintf(cmd, sizeof cmd,
             "cmake -DOUT=%s/out.c -DFILES=%s/db/001_t.sql -P %s/cmake/embed_migrations.cmake "
             ">/dev/null 2>&1",
             dir, dir, source_dir());
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 0 && out) {
        snprintf(path, sizeof path, "%s/out.c", dir);
        char *c = slurp(path);
        size_t n = strlen(c), k = 0;
        char *sqlout = malloc(n + 1);
        assert_non_null(sqlout);
        for (size_t i = 0; i + 3 < n; i++) {
            if (c[i] == '\\' && c[i + 1] == 'x') {
                char hex[3] = {c[i + 2], c[i + 3], 0};
                sqlout[k++] = (char)strtol(hex, NULL, 16);
                i += 3;
            }
        }
        sqlout[k] = '\0';
        free(c);
        *out = sqlout;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return rc;
}

static void test_load_directive(void **state)
{
    (void)state;
    if (system("cmake --version >/dev/null 2>&1") != 0) {
        skip();
    }
    char *out = NULL;
    const char *json = "{\"name\": \"it's $5; [x]\", \"says\": \"\xc2\xa7 501\"}\n";
    assert_int_equal(embed("SELECT 1;\n-- @load rules/a.json\nSELECT 2;\n", json, &out), 0);
    char want[512];
    snprintf(
        want, sizeof want,
        "SELECT 1;\n-- rules/a.json\nSELECT ecm_rule_set_load($ecm_rules$%s$ecm_rules$::jsonb);"
        "\nSELECT 2;\n",
        json);
    assert_string_equal(out, want);
    free(out);
    /* A migration without the directive is embedded as it is. */
    assert_int_equal(embed("SELECT '-- @load is only a directive at a line start';\n", json, &out),
                     0);
    assert_string_equal(out, "SELECT '-- @load is only a directive at a line start';\n");
    free(out);
    /* A missing file, a path outside rules/, a malformed directive, and a
     * file holding the quote tag stop the build. */
    assert_int_not_equal(embed("-- @load rules/b.json\n", json, NULL), 0);
    assert_int_not_equal(embed("-- @load ../rules/a.json\n", json, NULL), 0);
    assert_int_not_equal(embed("--@load rules/a.json\n", json, NULL), 0);
    assert_int_not_equal(embed("-- @load rules/a.json x\n", json, NULL), 0);
    assert_int_not_equal(embed("-- @load rules/a.json\n", "{\"x\": \"$ecm_rules$\"}", NULL), 0);
}

int main(void)
{
#define T_(name, setup) cmocka_unit_test_setup_teardown(name, setup, ecm_test_db_teardown)
    const struct CMUnitTest tests[] = {
        T_(test_every_shipped_file_is_loaded, migrated_setup),
        T_(test_shipped_sets_say_what_the_law_says, migrated_setup),
        T_(test_existing_us_campaigns_get_tcpa, bare_setup),
        T_(test_loader_refuses_bad_sets, migrated_setup),
        T_(test_reload_keeps_id_and_customer_set_untouched, migrated_setup),
        T_(test_generation_moves_on_every_change, migrated_setup),
        T_(test_updated_at_follows_rules, migrated_setup),
        T_(test_checks_refuse_malformed_rules, migrated_setup),
        cmocka_unit_test(test_load_directive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
