#include "gw_export.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "gw_json.h"

/* A cell from outside ECM, neutralised (db/009: ecm_csv_safe). */
#define SAFE(c) "ecm_csv_safe(" c ")"
#define TIME(c) GW_SQL_TIME(c)

/* %lld: the campaign id (COPY takes no parameters; the id is an integer
 * parsed from the path). */
static const char attempts_sql[] = "COPY (SELECT a.campaign_id, a.contact_id, " SAFE(
    "c.account_number") " AS "
                        "account_number, " SAFE("c.first_name") " AS first_name, " SAFE(
                            "c.last_name") " AS "
                                           "last_"
                                           "name,"
                                           " "
                                           "a."
                                           "attem"
                                           "pt, "
                                           "a."
                                           "accou"
                                           "nt_"
                                           "numbe"
                                           "r AS "
                                           "attem"
                                           "pt_"
                                           "accou"
                                           "nt_"
                                           "numbe"
                                           "r, "
                                           "a."
                                           "chann"
                                           "el, "
                                           "a."
                                           "phone"
                                           ", "
                                           "a."
                                           "statu"
                                           "s,"
                                           " " TIME("a.dispatched_at") " AS dispatched_at, " TIME(
                                               "a"
                                               "."
                                               "s"
                                               "e"
                                               "n"
                                               "t"
                                               "_"
                                               "a"
                                               "t") " AS sent_at, " TIME("a.result_at") " AS "
                                                                                        "result_at,"
                                                                                        " a.raw_"
                                                                                        "code, "
                                                                                        "a.raw_"
                                                                                        "detail, "
                                                                                        "a.dlr_"
                                                                                        "status, "
                                                                                        "a.outcome "
                                                                                        "FROM "
                                                                                        "attempts "
                                                                                        "a JOIN "
                                                                                        "contacts "
                                                                                        "c ON c.id "
                                                                                        "= "
                                                                                        "a.contact_"
                                                                                        "id WHERE "
                                                                                        "a."
                                                                                        "campaign_"
                                                                                        "id = %lld "
                                                                                        "ORDER BY "
                                                                                        "a.contact_"
                                                                                        "id, "
                                                                                        "a.attempt)"
                                                                                        " "
                                                                                        "TO STDOUT "
                                                                                        "WITH "
                                                                                        "(FORMAT "
                                                                                        "csv, "
                                                                                        "HEADER "
                                                                                        "true, "
                                                                                        "FORCE_"
                                                                                        "QUOTE *)";

static const char contacts_sql[] = "COPY (SELECT c.id, c.upload_id, c.line_no, " SAFE(
    "c.account_number") " AS "
                        "account_number,"
                        " " SAFE(
                            "c."
                            "first_"
                            "name") " AS first_name, " SAFE("c.last_"
                                                            "name") " AS"
                                                                    " la"
                                                                    "st_"
                                                                    "nam"
                                                                    "e, "
                                                                    "arr"
                                                                    "ay_"
                                                                    "to_"
                                                                    "str"
                                                                    "ing"
                                                                    "(c."
                                                                    "pho"
                                                                    "nes"
                                                                    ", "
                                                                    "' "
                                                                    "') "
                                                                    "AS "
                                                                    "pho"
                                                                    "nes"
                                                                    ", "
                                                                    "c."
                                                                    "tim"
                                                                    "e_"
                                                                    "zon"
                                                                    "e, "
                                                                    "c."
                                                                    "sta"
                                                                    "te,"
                                                                    " c."
                                                                    "out"
                                                                    "com"
                                                                    "e, "
                                                                    "c."
                                                                    "att"
                                                                    "emp"
                                                                    "ts,"
                                                                    " " TIME(
                                                                        "c.next_attempt_"
                                                                        "at") " AS "
                                                                              "next_"
                                                                              "attempt_at,"
                                                                              " " TIME(
                                                                                  "c."
                                                                                  "ca"
                                                                                  "ll"
                                                                                  "ba"
                                                                                  "ck"
                                                                                  "_a"
                                                                                  "t") " AS "
                                                                                       "callback_"
                                                                                       "at, " TIME("c.created_at") " AS created_at, " TIME(
                                                                                           "c."
                                                                                           "closed_"
                                                                                           "at") " "
                                                                                                 "A"
                                                                                                 "S"
                                                                                                 " "
                                                                                                 "c"
                                                                                                 "l"
                                                                                                 "o"
                                                                                                 "s"
                                                                                                 "e"
                                                                                                 "d"
                                                                                                 "_"
                                                                                                 "a"
                                                                                                 "t"
                                                                                                 ","
                                                                                                 " " SAFE(
                                                                                                     "c.custom::text") " AS custom "
                                                                                                                       "FROM contacts c WHERE c.campaign_id = %lld ORDER BY c.id) "
                                                                                                                       "TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE *)";

static atomic_int exports_running;

/* One export in flight: the pooled connection in COPY OUT, and the row
 * being handed out. */
typedef struct {
    const gw_app *app;
    ecm_pg *pg;
    PGconn *conn;
    char *row; /* from PQgetCopyData; its trailing '\n' goes out as "\r\n" */
    int row_len, row_off;
    int done;
    long long campaign_id;
    long long rows;
} export_state;

/* Next row into s->row. Returns 1 (a row), 0 (the COPY ended well), -1. */
static int next_row(export_state *s)
{
    int n = PQgetCopyData(s->conn, &s->row, 0);
    if (n > 0) {
        s->row_len = n;
        s->row_off = 0;
        s->rows++;
        return 1;
    }
    s->row = NULL;
    if (n == -2) {
        ecm_log_error("export failed", "campaign=%lld: %s", s->campaign_id,
                      PQerrorMessage(s->conn));
        return -1;
    }
    PGresult *r = PQgetResult(s->conn);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        ecm_log_error("export failed", "campaign=%lld: %s", s->campaign_id,
                      PQresultErrorMessage(r));
    }
    PQclear(r);
    while ((r = PQgetResult(s->conn))) {
        PQclear(r);
    }
    s->done = 1;
    return ok ? 0 : -1;
}

static long export_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    export_state *s = ctx;
    (void)pos;
    size_t n = 0;
    while (n < max) {
        if (!s->row) {
            if (s->done) {
                break;
            }
            int got = next_row(s);
            if (got < 0) {
                return ECM_HTTP_READER_ERROR;
            }
            if (got == 0) {
                break;
            }
        }
        /* The row without its '\n', then "\r\n". */
        int body = s->row_len > 0 && s->row[s->row_len - 1] == '\n' ? s->row_len - 1 : s->row_len;
        while (n < max && s->row_off < body) {
            size_t k = (size_t)(body - s->row_off);
            k = k < max - n ? k : max - n;
            memcpy(buf + n, s->row + s->row_off, k);
            n += k;
            s->row_off += (int)k;
        }
        if (s->row_off >= body && s->row_off < body + 2 && n < max) {
            const char *eol = "\r\n";
            while (s->row_off < body + 2 && n < max) {
                buf[n++] = eol[s->row_off - body];
                s->row_off++;
            }
        }
        if (s->row_off >= body + 2) {
            PQfreemem(s->row);
            s->row = NULL;
        }
    }
    if (n == 0 && s->done) {
        return ECM_HTTP_READER_END;
    }
    return (long)n;
}

/* Ends the export: a COPY still running (the client went away) is
 * cancelled and drained, the transaction rolled back, the connection given
 * back. */
static void export_destroy(void *ctx)
{
    export_state *s = ctx;
    if (s->row) {
        PQfreemem(s->row);
    }
    if (!s->done && s->conn) {
        char err[256];
        PGcancel *c = PQgetCancel(s->conn);
        if (c) {
            (void)PQcancel(c, err, sizeof err);
            PQfreeCancel(c);
        }
        char *row;
        while (PQgetCopyData(s->conn, &row, 0) > 0) {
            PQfreemem(row);
        }
        PGresult *r;
        while ((r = PQgetResult(s->conn))) {
            PQclear(r);
        }
        ecm_log_info("export abandoned", "campaign=%lld rows_sent=%lld", s->campaign_id, s->rows);
    } else {
        ecm_log_info("export done", "campaign=%lld rows=%lld", s->campaign_id, s->rows);
    }
    ecm_pg_rollback(s->pg);
    ecm_pg_pool_put(s->app->pool, s->pg);
    atomic_fetch_sub(&exports_running, 1);
    free(s);
}

/* Does campaign id exist? 1, 0 (answered 404), -1 (answered 503). */
static int campaign_exists(ecm_http_req *req, ecm_pg *pg, long long id)
{
    char sid[24];
    (void)snprintf(sid, sizeof sid, "%lld", id);
    const char *params[] = {sid};
    PGresult *r = ecm_pg_exec(pg, "SELECT 1 FROM campaigns WHERE id = $1", 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "export the campaign");
        return -1;
    }
    int n = PQntuples(r);
    PQclear(r);
    if (n == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "no campaign has id %lld", id);
    }
    return n > 0;
}

static void export_csv(const gw_app *app, ecm_http_req *req, const char *sql_fmt, const char *what)
{
    long long id;
    if (gw_path_id(req, "campaign", &id) != 0) {
        return;
    }
    if (atomic_fetch_add(&exports_running, 1) >= GW_EXPORT_MAX_AT_ONCE) {
        atomic_fetch_sub(&exports_running, 1);
        ecm_http_add_header(req, "Retry-After", "10");
        ecm_http_respond_problem(req, 503, "busy", "Exports busy",
                                 "%d exports are running; try again later", GW_EXPORT_MAX_AT_ONCE);
        return;
    }
    export_state *s = calloc(1, sizeof *s);
    ecm_pg *pg = s ? ecm_pg_pool_get(app->pool) : NULL;
    PGresult *r = NULL;
    int exists = 0;
    if (!s) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
    } else if (!pg) {
        gw_respond_db_down(req, pg, "export the campaign");
    } else if ((exists = campaign_exists(req, pg, id)) > 0) {
        char sql[2048];
        if (snprintf(sql, sizeof sql, sql_fmt, id) < (int)sizeof sql && ecm_pg_begin(pg) == 0 &&
            ecm_pg_cmd(pg, "SET LOCAL statement_timeout = 0", 0, NULL) == 0) {
            r = PQexec(ecm_pg_conn(pg), sql);
        }
        if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
            ecm_log_error("export not started", "campaign=%lld: %s", id,
                          r ? PQresultErrorMessage(r) : "no transaction");
            ecm_pg_rollback(pg);
            gw_respond_db_down(req, pg, "export the campaign");
            PQclear(r);
            r = NULL;
        }
    }
    if (!r) {
        ecm_pg_pool_put(app->pool, pg);
        free(s);
        atomic_fetch_sub(&exports_running, 1);
        return;
    }
    PQclear(r);
    *s = (export_state){.app = app, .pg = pg, .conn = ecm_pg_conn(pg), .campaign_id = id};
    char disposition[128];
    (void)snprintf(disposition, sizeof disposition, "attachment; filename=\"campaign-%lld-%s.csv\"",
                   id, what);
    ecm_http_add_header(req, "Content-Disposition", disposition);
    ecm_http_add_header(req, "Cache-Control", "no-store");
    ecm_http_respond_reader(req, 200, "text/csv; charset=utf-8; header=present", export_read,
                            export_destroy, s);
}

static void export_attempts(void *ctx, ecm_http_req *req)
{
    export_csv(ctx, req, attempts_sql, "attempts");
}

static void export_contacts(void *ctx, ecm_http_req *req)
{
    export_csv(ctx, req, contacts_sql, "contacts");
}

int gw_export_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "GET", "/api/v1/campaigns/{}/attempts.csv", 0, export_attempts, ctx) !=
            0 ||
        ecm_http_route(h, "GET", "/api/v1/campaigns/{}/contacts.csv", 0, export_contacts, ctx) !=
            0) {
        return -1;
    }
    return 0;
}
