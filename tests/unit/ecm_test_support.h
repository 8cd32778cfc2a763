/* Scaffolding shared by the unit tests: scratch PostgreSQL databases from
 * ECM_TEST_PG_DSN, one-line SQL checks, librdkafka's in-process mock cluster
 * and a libcurl client for tests that talk HTTP.
 *
 * Header-only because CMake builds every tests/unit/test_*.c as its own
 * binary and compiles no other .c file into it. Everything is static inline:
 * a test that calls nothing of a section pays nothing for it, and an unused
 * helper is no -Werror warning.
 *
 * Helpers that say "fails the running test" report through cmocka (fail_msg,
 * skip), so call them from a test, or from a cmocka setup or teardown
 * function, on the thread that runs it. cmocka does not declare _fail
 * noreturn, hence the unreachable returns after fail_msg. */
#ifndef ECM_TEST_SUPPORT_H
#define ECM_TEST_SUPPORT_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ecm_clock.h"
#include "ecm_http.h"
#include "ecm_kafka.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"

#define ECM_TEST_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))

/* ---- environment ---------------------------------------------------------- */

/* ECM_TEST_PG_DSN, or NULL when it is unset or empty: the tests that need
 * PostgreSQL then skip. */
static inline const char *ecm_test_pg_dsn(void)
{
    const char *dsn = getenv("ECM_TEST_PG_DSN");
    return dsn && *dsn ? dsn : NULL;
}

/* Starts the logger at the level ECM_LOG_LEVEL names, or at dflt when it is
 * unset or names no level: a developer can turn a quiet test verbose. */
static inline void ecm_test_log_init(const char *name, ecm_log_level dflt)
{
    ecm_log_level level = dflt;
    const char *env = getenv("ECM_LOG_LEVEL");
    if (env && ecm_log_level_parse(env, &level) != 0) {
        level = dflt;
    }
    ecm_log_init(name, level);
}

/* Returns fixture, or skips the running test when it is NULL, which is what
 * the fixtures here leave when ECM_TEST_PG_DSN is unset: cmocka cannot skip
 * from a setup function, so each test that needs one starts with this. */
static inline void *ecm_test_need(void *fixture)
{
    if (!fixture) {
        skip();
    }
    return fixture;
}

/* Sleeps ms milliseconds (ms >= 0). */
static inline void ecm_test_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ms since the epoch of an RFC 3339 time with an offset, as
 * ecm_clock_parse_time reads it; fails the running test when it does not
 * parse. */
static inline int64_t ecm_test_time_ms(const char *rfc3339)
{
    int64_t ms = 0;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0) {
        fail_msg("bad test time %s", rfc3339);
    }
    return ms;
}

/* ---- PostgreSQL: connections and one-line SQL ---------------------------- */

/* Writes dsn (key=value pairs or a URI) to out as key='value' pairs, with
 * dbname replaced by dbname, or kept when dbname is NULL. Returns 0, or -1
 * when dsn does not parse or out is too small; out is then "". Appending
 * "key=value" to the result overrides key, as later keywords win. */
static inline int ecm_test_dsn_with_db(const char *dsn, const char *dbname, char *out,
                                       size_t out_size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        PQfreemem(err);
        out[0] = '\0';
        return -1;
    }
    size_t len = 0;
    int have_db = 0;
    int ok = 1;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; ok && o->keyword; o++) {
        const char *val = o->val;
        if (strcmp(o->keyword, "dbname") == 0) {
            have_db = 1;
            if (dbname) {
                val = dbname;
            }
        }
        if (!val) {
            continue;
        }
        int n = snprintf(out + len, out_size - len, "%s%s='", len ? " " : "", o->keyword);
        ok = n >= 0 && (size_t)n < out_size - len;
        if (ok) {
            len += (size_t)n;
        }
        for (const char *c = val; ok && *c; c++) {
            /* Room for the escape, the character, the quote and the NUL. */
            ok = len + 4 <= out_size;
            if (ok) {
                if (*c == '\'' || *c == '\\') {
                    out[len++] = '\\';
                }
                out[len++] = *c;
            }
        }
        if (ok) {
            ok = len + 2 <= out_size;
        }
        if (ok) {
            out[len++] = '\'';
            out[len] = '\0';
        }
    }
    PQconninfoFree(opts);
    if (ok && dbname && !have_db) {
        int n = snprintf(out + len, out_size - len, "%sdbname='%s'", len ? " " : "", dbname);
        ok = n >= 0 && (size_t)n < out_size - len;
    }
    if (!ok) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* The same server over ODBC: the psqlODBC connection string for database db
 * of the server dsn names (port_override, when not NULL, replaces its port, e.g.
 * a dead one). Returns 0, or -1 when dsn does not parse or out is too small. */
static inline int ecm_test_odbc_string(const char *dsn, const char *db, const char *port_override,
                                       char *out, size_t out_size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        PQfreemem(err);
        return -1;
    }
    const char *host = "127.0.0.1";
    const char *port = "5432";
    const char *user = "";
    const char *password = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            password = o->val;
    }
    int n = snprintf(out, out_size,
                     "Driver={PostgreSQL Unicode};Server=%s;Port=%s;Database=%s;Uid=%s;Pwd=%s;",
                     host, port_override ? port_override : port, db, user, password);
    PQconninfoFree(opts);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* A notice processor that drops the server's notices ("... already exists,
 * skipping"): tests check results, and the chatter would bury the report. */
static inline void ecm_test_pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A connection to dsn with notices silenced; the caller PQfinish()es it.
 * Fails the running test when it cannot connect. */
static inline PGconn *ecm_test_pg_connect(const char *dsn)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("cannot connect to PostgreSQL: %s", msg);
        return NULL;
    }
    PQsetNoticeProcessor(c, ecm_test_pg_quiet, NULL);
    return c;
}

/* Runs the SQL that fmt and ap make on c. Returns the result, which the caller
 * PQclear()s. Fails the running test unless the statement succeeded (a
 * command or a query). */
static inline PGresult *ecm_test_pg_vquery(PGconn *c, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    assert_true(n >= 0);
    char *sql = malloc((size_t)n + 1);
    assert_non_null(sql);
    vsnprintf(sql, (size_t)n + 1, fmt, again);
    va_end(again);
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
        free(sql);
        fail_msg("%s", msg);
        return NULL;
    }
    free(sql);
    return res;
}

/* ecm_test_pg_vquery with the arguments inline. */
static inline PGresult *ecm_test_pg_query(PGconn *c, const char *fmt, ...) ECM_TEST_PRINTF(2, 3);
static inline PGresult *ecm_test_pg_query(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *res = ecm_test_pg_vquery(c, fmt, ap);
    va_end(ap);
    return res;
}

/* Runs a statement for its effect; fails the running test unless it
 * succeeded. */
static inline void ecm_test_pg_exec(PGconn *c, const char *fmt, ...) ECM_TEST_PRINTF(2, 3);
static inline void ecm_test_pg_exec(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PQclear(ecm_test_pg_vquery(c, fmt, ap));
    va_end(ap);
}

/* The value of a query that returns one row whose first column is a non-NULL
 * integer; fails the running test otherwise. */
static inline long long ecm_test_pg_int(PGconn *c, const char *fmt, ...) ECM_TEST_PRINTF(2, 3);
static inline long long ecm_test_pg_int(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *res = ecm_test_pg_vquery(c, fmt, ap);
    va_end(ap);
    assert_int_equal(PQntuples(res), 1);
    assert_false(PQgetisnull(res, 0, 0));
    char text[64];
    snprintf(text, sizeof text, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0') {
        fail_msg("not an integer: '%s'", text);
        return 0;
    }
    return v;
}

/* The value of a query that returns one row, as a string the caller frees; a
 * NULL comes back as "(null)". Fails the running test unless there is
 * exactly one row. */
static inline char *ecm_test_pg_text(PGconn *c, const char *fmt, ...) ECM_TEST_PRINTF(2, 3);
static inline char *ecm_test_pg_text(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *res = ecm_test_pg_vquery(c, fmt, ap);
    va_end(ap);
    assert_int_equal(PQntuples(res), 1);
    char *s = strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
    PQclear(res);
    assert_non_null(s);
    return s;
}

/* The payload of the only outbox row on topic with msg_key key, unescaped
 * (the caller PQfreemem()s it), its length in *len; when ce_type is not
 * NULL, the row's CloudEvents type is copied there. Fails the running test
 * unless there is exactly one such row. */
static inline unsigned char *ecm_test_outbox_payload(PGconn *c, const char *topic, long long key,
                                                     size_t *len, char *ce_type,
                                                     size_t ce_type_size)
{
    PGresult *res = ecm_test_pg_query(
        c, "SELECT payload, ce_type FROM outbox WHERE topic = '%s' AND msg_key = '%lld'", topic,
        key);
    assert_int_equal(PQntuples(res), 1);
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), len);
    if (ce_type) {
        snprintf(ce_type, ce_type_size, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    assert_non_null(bytes);
    return bytes;
}

/* ---- PostgreSQL: scratch databases --------------------------------------- */

/* A database of its own for a test or a group, so that test binaries can run
 * side by side on one server. */
typedef struct {
    PGconn *admin;  /* to the server, kept to drop the database at the end */
    char name[64];  /* <prefix>_<pid>_<n>_<time> */
    char dsn[2048]; /* ECM_TEST_PG_DSN pointing at the scratch database */
} ecm_test_db;

/* Creates database <prefix>_<pid>_<n>_<time> (prefix: lower-case letters,
 * digits and '_') on the server of ECM_TEST_PG_DSN. Returns a handle for
 * ecm_test_db_destroy(), or NULL when ECM_TEST_PG_DSN is unset or empty (the
 * caller skips). The admin connection goes to the DSN's own database, or to
 * "postgres" when that one cannot be reached (it may not exist yet). Fails
 * the running test on any error. */
static inline ecm_test_db *ecm_test_db_new(const char *prefix)
{
    static unsigned seq;
    const char *base = ecm_test_pg_dsn();
    if (!base) {
        return NULL;
    }
    ecm_test_db *db = calloc(1, sizeof *db);
    assert_non_null(db);
    db->admin = PQconnectdb(base);
    if (PQstatus(db->admin) != CONNECTION_OK) {
        char msg[512], admin_dsn[sizeof db->dsn];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db->admin));
        PQfinish(db->admin);
        db->admin = NULL;
        if (ecm_test_dsn_with_db(base, "postgres", admin_dsn, sizeof admin_dsn) == 0) {
            db->admin = PQconnectdb(admin_dsn);
        }
        if (PQstatus(db->admin) != CONNECTION_OK) {
            PQfinish(db->admin);
            free(db);
            fail_msg("ECM_TEST_PG_DSN: %s", msg);
            return NULL;
        }
    }
    PQsetNoticeProcessor(db->admin, ecm_test_pg_quiet, NULL);
    int n = snprintf(db->name, sizeof db->name, "%s_%ld_%u_%ld", prefix, (long)getpid(), seq++,
                     (long)time(NULL) % 100000);
    if (n < 0 || (size_t)n >= sizeof db->name ||
        ecm_test_dsn_with_db(base, db->name, db->dsn, sizeof db->dsn) != 0) {
        PQfinish(db->admin);
        free(db);
        fail_msg("scratch database name or DSN too long (prefix %s)", prefix);
        return NULL;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db->name);
    PGresult *res = PQexec(db->admin, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(db->admin);
        free(db);
        fail_msg("%s", msg);
        return NULL;
    }
    PQclear(res);
    return db;
}

/* Drops the database WITH (FORCE), so that connections still open do not keep
 * it, and frees db; NULL is a no-op. Returns 0, or -1 when the drop failed
 * (said on stderr; db is freed all the same). */
static inline int ecm_test_db_destroy(ecm_test_db *db)
{
    if (!db) {
        return 0;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db->name);
    PGresult *res = PQexec(db->admin, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
    }
    PQclear(res);
    PQfinish(db->admin);
    free(db);
    return rc;
}

/* ecm_test_db_new, then ECM's embedded migrations (db/NNN_name.sql) applied: the
 * schema the services run on. Fails the running test unless every migration
 * applied. */
static inline ecm_test_db *ecm_test_db_new_migrated(const char *prefix)
{
    ecm_test_db *db = ecm_test_db_new(prefix);
    if (!db) {
        return NULL;
    }
    PGconn *c = ecm_test_pg_connect(db->dsn);
    int applied = ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count);
    PQfinish(c);
    if (applied != (int)ecm_migrations_count) {
        fail_msg("migrations on %s: %d of %zu applied", db->name, applied, ecm_migrations_count);
    }
    return db;
}

/* cmocka teardown for a fixture that left an ecm_test_db (or NULL) in *state. */
static inline int ecm_test_db_teardown(void **state)
{
    (void)ecm_test_db_destroy(*state);
    *state = NULL;
    return 0;
}

/* ---- Kafka: librdkafka's in-process mock cluster ------------------------- */

typedef struct {
    rd_kafka_t *host; /* the client instance the cluster lives in */
    rd_kafka_mock_cluster_t *mock;
    const char *bootstraps; /* owned by mock */
} ecm_test_kafka;

/* Starts a one-broker mock cluster with n_topics topics of one partition
 * each. Returns 0, or -1 with everything released and k zeroed. */
static inline int ecm_test_kafka_start(ecm_test_kafka *k, const char *const *topics,
                                       size_t n_topics)
{
    char err[256];
    memset(k, 0, sizeof *k);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Only errors: the mock's broker chatter would bury the test report. */
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    k->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->host) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "mock cluster host: %s\n", err);
        return -1;
    }
    k->mock = rd_kafka_mock_cluster_new(k->host, 1);
    int ok = k->mock != NULL;
    for (size_t i = 0; ok && i < n_topics; i++) {
        ok = rd_kafka_mock_topic_create(k->mock, topics[i], 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    if (!ok) {
        if (k->mock) {
            rd_kafka_mock_cluster_destroy(k->mock);
        }
        rd_kafka_destroy(k->host);
        memset(k, 0, sizeof *k);
        return -1;
    }
    k->bootstraps = rd_kafka_mock_cluster_bootstraps(k->mock);
    return 0;
}

/* Stops the cluster; a zeroed (never started) k is a no-op. */
static inline void ecm_test_kafka_stop(ecm_test_kafka *k)
{
    if (k->mock) {
        rd_kafka_mock_cluster_destroy(k->mock);
    }
    if (k->host) {
        rd_kafka_destroy(k->host);
    }
    memset(k, 0, sizeof *k);
}

/* A consumer of one topic of the cluster, with source "/ecm/test" and
 * dead-letter topic dlq. Fails the running test when it cannot be made. */
static inline ecm_kafka_consumer *ecm_test_kafka_consumer(const ecm_test_kafka *k,
                                                          ecm_metrics *metrics, const char *group,
                                                          const char *topic, const char *dlq)
{
    char err[512] = "";
    const char *topics[] = {topic};
    ecm_kafka_consumer *c = ecm_kafka_consumer_new(k->bootstraps, group, topics, 1, dlq,
                                                   "/ecm/test", metrics, err, sizeof err);
    if (!c) {
        fail_msg("consumer: %s", err);
    }
    return c;
}

/* ---- HTTP client: one libcurl request to 127.0.0.1 ------------------------ */

typedef struct {
    long status;        /* the HTTP status, 0 when no answer came */
    char *body;         /* NUL-terminated, "" when none; ecm_test_http_answer_destroy */
    size_t len;         /* of body, without the NUL */
    char headers[4096]; /* the raw header lines, as many as fit */
    size_t hlen;
} ecm_test_http_answer;

static inline size_t ecm_test_http_on_body(char *data, size_t size, size_t n, void *ctx)
{
    ecm_test_http_answer *a = ctx;
    size_t len = size * n;
    char *grown = realloc(a->body, a->len + len + 1);
    if (!grown) {
        return 0; /* curl fails the transfer */
    }
    a->body = grown;
    memcpy(a->body + a->len, data, len);
    a->len += len;
    a->body[a->len] = '\0';
    return len;
}

static inline size_t ecm_test_http_on_header(char *data, size_t size, size_t n, void *ctx)
{
    ecm_test_http_answer *a = ctx;
    size_t len = size * n;
    if (a->hlen + len < sizeof a->headers) {
        memcpy(a->headers + a->hlen, data, len);
        a->hlen += len;
        a->headers[a->hlen] = '\0';
    }
    return len;
}

/* A curl handle for method on http://127.0.0.1:<port><path> that collects the
 * answer in a (zeroed first), with a 30 s timeout; HEAD asks for no body. The
 * caller may set more options, then calls ecm_test_http_perform(). Fails the
 * running test when curl cannot make a handle. */
static inline CURL *ecm_test_http_prepare(ecm_test_http_answer *a, int port, const char *method,
                                          const char *path)
{
    char url[1024];
    memset(a, 0, sizeof *a);
    int n = snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    assert_true(n > 0 && (size_t)n < sizeof url);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ecm_test_http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ecm_test_http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    return c;
}

/* Performs the request of c, sets a->status (0 when no answer came), makes
 * a->body "" when the answer had none, and frees c. Returns curl's code. */
static inline CURLcode ecm_test_http_perform(CURL *c, ecm_test_http_answer *a)
{
    CURLcode rc = curl_easy_perform(c);
    a->status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_cleanup(c);
    if (!a->body) {
        a->body = calloc(1, 1);
        assert_non_null(a->body);
    }
    return rc;
}

/* One request to http://127.0.0.1:<port><path>, the answer in a (the caller
 * frees it with ecm_test_http_answer_destroy). body: len bytes to send, or NULL
 * for none; headers: extra "Name: value" lines ending with NULL, or NULL;
 * userpwd: "user:password" for Basic authentication, or NULL. Fails the
 * running test when no answer comes. */
static inline void ecm_test_http_request(ecm_test_http_answer *a, int port, const char *method,
                                         const char *path, const char *const *headers,
                                         const char *body, size_t len, const char *userpwd)
{
    CURL *c = ecm_test_http_prepare(a, port, method, path);
    struct curl_slist *hs = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *more = curl_slist_append(hs, headers[i]);
        assert_non_null(more);
        hs = more;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    CURLcode rc = ecm_test_http_perform(c, a);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
        fail_msg("%s 127.0.0.1:%d%s: %s", method, port, path, curl_easy_strerror(rc));
    }
}

/* Copies the value of the answer's first header called name (any case),
 * without surrounding blanks, to out. Returns 0, or -1 with out "" when there
 * is no such header. A value longer than out is cut. */
static inline int ecm_test_http_header(const ecm_test_http_answer *a, const char *name, char *out,
                                       size_t out_size)
{
    size_t name_len = strlen(name);
    out[0] = '\0';
    for (const char *line = a->headers; *line;) {
        const char *eol = strchr(line, '\n');
        size_t line_len = eol ? (size_t)(eol - line) : strlen(line);
        if (line_len > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len + 1;
            size_t vlen = line_len - name_len - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ')) {
                vlen--;
            }
            snprintf(out, out_size, "%.*s", (int)vlen, v);
            return 0;
        }
        line += line_len + (eol ? 1 : 0);
    }
    return -1;
}

/* Frees the answer's body; a is then empty and may be reused. */
static inline void ecm_test_http_answer_destroy(ecm_test_http_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->len = 0;
}

/* ---- fake HTTP peers ---- */

/* One route of a fake peer's server. */
typedef struct {
    const char *method;
    const char *pattern;
    size_t max_body;
    ecm_http_handler fn;
} ecm_test_route;

/* Starts a server with the n routes (their handlers get ctx) on the first
 * port of [port_lo, port_hi] it can listen on, so that parallel runs of a
 * test do not collide. Returns it with *port, or NULL when no port was
 * free. */
static inline ecm_http *ecm_test_http_serve(int port_lo, int port_hi, const ecm_test_route *routes,
                                            size_t n, void *ctx, int *port)
{
    for (int p = port_lo; p <= port_hi; p++) {
        ecm_http *h = ecm_http_new("127.0.0.1", p, NULL);
        if (!h)
            continue;
        size_t added = 0;
        while (added < n && ecm_http_route(h, routes[added].method, routes[added].pattern,
                                           routes[added].max_body, routes[added].fn, ctx) == 0)
            added++;
        if (added == n && ecm_http_start(h) == 0) {
            *port = p;
            return h;
        }
        ecm_http_destroy(h);
    }
    return NULL;
}

#endif
