#include "ecm_migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_log.h"

/* Runs sql (which may hold many statements) and checks the status. Returns 0,
 * or -1 with an error log naming what failed and its SQLSTATE. */
static int run(PGconn *conn, const char *sql, ExecStatusType want, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    if (res && PQresultStatus(res) == want) {
        PQclear(res);
        return 0;
    }
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char err[1024];
    snprintf(err, sizeof err, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
    ecm_log_error("migration step failed", "%s: SQLSTATE %s: %s", what, st ? st : "08006", err);
    PQclear(res);
    return -1;
}

/* pg_advisory_lock / pg_advisory_unlock on ECM_MIGRATE_LOCK_KEY. */
static int advisory(PGconn *conn, const char *fn)
{
    char sql[64], key[24];
    const char *params[1] = {key};
    int n = snprintf(sql, sizeof sql, "SELECT %s($1::bigint)", fn);
    if (n < 0 || (size_t)n >= sizeof sql)
        return -1;
    snprintf(key, sizeof key, "%lld", (long long)ECM_MIGRATE_LOCK_KEY);
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    ecm_log_error("migration lock failed", "%s: SQLSTATE %s: %s", fn, st ? st : "08006",
                  res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return -1;
}

/* Creates schema_migrations when missing. Checked first rather than with
 * IF NOT EXISTS, whose NOTICE would reach stderr outside the JSON log. */
static int ensure_table(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NULL");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        ecm_log_error("migration step failed", "looking for schema_migrations: SQLSTATE %s: %s",
                      st ? st : "08006", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!missing) {
        return 0;
    }
    return run(conn,
               "CREATE TABLE schema_migrations ("
               " version integer PRIMARY KEY,"
               " name text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())",
               PGRES_COMMAND_OK, "creating schema_migrations");
}

static int current_version(PGconn *conn, int *out)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        ecm_log_error("migration step failed", "reading schema_migrations: SQLSTATE %s: %s",
                      st ? st : "08006", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    char *end = NULL;
    long long v = strtoll(PQgetvalue(res, 0, 0), &end, 10);
    int bad = !end || *end != '\0';
    PQclear(res);
    if (bad) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int apply_one(PGconn *conn, const ecm_migration *m)
{
    char version[16];
    const char *params[2] = {version, m->name};
    snprintf(version, sizeof version, "%d", m->version);

    if (run(conn, "BEGIN", PGRES_COMMAND_OK, "BEGIN") != 0) {
        return -1;
    }
    /* PQexec (not PQexecParams): a migration holds many statements. */
    PGresult *res = PQexec(conn, m->sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        char err[1024];
        snprintf(err, sizeof err, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n') {
            err[--n] = '\0';
        }
        ecm_log_error("migration failed", "version %d (%s): SQLSTATE %s: %s", m->version, m->name,
                      code ? code : "08006", err);
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        ecm_log_error("migration not recorded", "version %d: SQLSTATE %s: %s", m->version,
                      code ? code : "08006",
                      res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    if (run(conn, "COMMIT", PGRES_COMMAND_OK, "COMMIT") != 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    ecm_log_info("migration applied", "version %d (%s)", m->version, m->name);
    return 0;
}

int ecm_migrate_apply(PGconn *conn, const ecm_migration *list, size_t n)
{
    int applied = 0;
    int version = 0;

    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        ecm_log_error("migrations not applied", "no connection to PostgreSQL");
        return -1;
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        ecm_log_error("migrations not applied", "the connection is inside a transaction");
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        if (list[i].version <= list[i - 1].version) {
            ecm_log_error("migrations not applied", "versions out of order: %d after %d",
                          list[i].version, list[i - 1].version);
            return -1;
        }
    }
    /* The lock comes before the table check, which is not safe against a
     * concurrent creator. */
    if (advisory(conn, "pg_advisory_lock") != 0) {
        return -1;
    }
    if (ensure_table(conn) != 0 || current_version(conn, &version) != 0) {
        applied = -1;
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].version <= version) {
            continue;
        }
        if (apply_one(conn, &list[i]) != 0) {
            applied = -1;
            goto unlock;
        }
        applied++;
    }
    if (applied > 0) {
        ecm_log_info("database schema up to date", "%d migration(s) applied, now at version %d",
                     applied, list[n - 1].version);
    }
unlock:
    advisory(conn, "pg_advisory_unlock");
    return applied;
}

int ecm_migrate_schema_current(PGconn *conn, int want, int *applied)
{
    if (!conn)
        return -1;
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int rc = -1;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *applied = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        rc = *applied >= want;
    } else if (res) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (st && strcmp(st, "42P01") == 0) { /* undefined_table: never migrated */
            *applied = 0;
            rc = want <= 0;
        } else if (st && strcmp(st, "42501") == 0) { /* insufficient_privilege */
            rc = -2;
        }
    }
    PQclear(res);
    return rc;
}

int ecm_migrate_latest(const ecm_migration *list, size_t n)
{
    return n > 0 ? list[n - 1].version : 0;
}

int ecm_migrate_role_valid(const char *role, char *errstr, size_t errstr_size)
{
    size_t n = role ? strlen(role) : 0;
    if (n == 0 || n > 63) {
        snprintf(errstr, errstr_size, "a role name is 1 to 63 characters");
        return 0;
    }
    if (!isalpha((unsigned char)role[0]) && role[0] != '_') {
        snprintf(errstr, errstr_size, "a role name starts with a letter or '_'");
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char ch = (unsigned char)role[i];
        if (!isalnum(ch) && ch != '_' && ch != '$' && ch != '-') {
            snprintf(errstr, errstr_size,
                     "a role name holds only letters, digits, '_', '$' and '-' (not '%c')",
                     isprint(ch) ? ch : '?');
            return 0;
        }
    }
    if (strncasecmp(role, "pg_", 3) == 0 || strcasecmp(role, "public") == 0) {
        snprintf(errstr, errstr_size, "'%s' is reserved by PostgreSQL", role);
        return 0;
    }
    return 1;
}

/* The statements of ecm_migrate_grant, role and schema already quoted as
 * identifiers. ALTER DEFAULT PRIVILEGES without FOR ROLE covers the objects
 * that the connected role (the owner, who runs every migration) creates. */
static int grant_statements(PGconn *conn, const char *role, const char *schema)
{
    static const char *const fmt[] = {
        "GRANT USAGE ON SCHEMA %s TO %s",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %s TO %s",
        ("ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES "
         "TO %s"),
        "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT USAGE, SELECT ON SEQUENCES TO %s",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT EXECUTE ON FUNCTIONS TO %s",
    };
    char sql[512];
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        int w = snprintf(sql, sizeof sql, fmt[i], schema, role);
        if (w < 0 || (size_t)w >= sizeof sql)
            return -1;
        if (run(conn, sql, PGRES_COMMAND_OK, "granting to the application role") != 0)
            return -1;
    }
    return 0;
}

/* The current schema (where the migrations create ECM's objects) quoted as
 * an identifier into out. Returns 0, or -1 logged. */
static int quoted_schema(PGconn *conn, char *out, size_t out_size)
{
    PGresult *res = PQexec(conn, "SELECT current_schema()");
    int rc = -1;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        !PQgetisnull(res, 0, 0)) {
        const char *name = PQgetvalue(res, 0, 0);
        char *q = PQescapeIdentifier(conn, name, strlen(name));
        if (q && strlen(q) < out_size) {
            snprintf(out, out_size, "%s", q);
            rc = 0;
        }
        PQfreemem(q);
    }
    if (rc != 0)
        ecm_log_error("grants not given", "no current schema: %s", PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

int ecm_migrate_grant(PGconn *conn, const char *role)
{
    char err[160], schema[160];
    if (!conn || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        ecm_log_error("grants not given", "no idle connection to PostgreSQL");
        return -1;
    }
    if (!ecm_migrate_role_valid(role, err, sizeof err)) {
        ecm_log_error("grants not given", "ECM_MIGRATE_APP_ROLE: %s", err);
        return -1;
    }
    char *qrole = PQescapeIdentifier(conn, role, strlen(role));
    if (!qrole) {
        ecm_log_error("grants not given", "ECM_MIGRATE_APP_ROLE: %s", PQerrorMessage(conn));
        return -1;
    }
    /* Under the migration lock: GRANTs racing a concurrent run's on the same
     * catalog rows fail with "tuple concurrently updated". */
    int rc = -1;
    if (advisory(conn, "pg_advisory_lock") != 0) {
        PQfreemem(qrole);
        return -1;
    }
    if (quoted_schema(conn, schema, sizeof schema) == 0 &&
        run(conn, "BEGIN", PGRES_COMMAND_OK, "BEGIN") == 0) {
        if (grant_statements(conn, qrole, schema) == 0 &&
            run(conn, "COMMIT", PGRES_COMMAND_OK, "COMMIT") == 0) {
            rc = 0;
        } else {
            PQclear(PQexec(conn, "ROLLBACK"));
        }
    }
    advisory(conn, "pg_advisory_unlock");
    if (rc == 0)
        ecm_log_info("application role granted", "%s: DML on the tables of schema %s", role,
                     schema);
    PQfreemem(qrole);
    return rc;
}
