#include "gw_audit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "gw_client.h"
#include "gw_auth.h"
#include "gw_json.h"

#define AUDIT_LIST_DEFAULT 100
#define AUDIT_LIST_MAX 1000

int gw_audit_add(ecm_pg *pg, ecm_http_req *req, const char *action, const char *resource,
                 const json_t *summary)
{
    const gw_principal *p = gw_auth_principal(req);
    char addr[46] = "";
    if (!p) {
        if (gw_client_addr(req, addr, sizeof addr) != 0) {
            addr[0] = '\0'; /* unknown: stored as NULL */
        }
    }
    char *text = summary ? json_dumps(summary, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    const char *params[] = {
        p ? p->kind : "none",
        p ? p->id : "-",
        p ? p->name : "(no guard)",
        p ? gw_role_name(p->role) : "none",
        p ? (p->addr[0] ? p->addr : NULL) : (addr[0] ? addr : NULL),
        ecm_http_req_method(req),
        ecm_http_req_route(req) ? ecm_http_req_route(req) : ecm_http_req_path(req),
        action,
        resource,
        text ? text : "{}",
    };
    int rc = ecm_pg_cmd(pg,
                        "INSERT INTO audit_log (actor_kind, actor_id, actor_name, role, "
                        "client_addr, method, route, action, resource, summary) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
                        10, params);
    free(text);
    if (rc != 0) {
        ecm_log_error("audit row not written", "action=%s resource=%s", action, resource);
        return -1;
    }
    return 0;
}

int gw_audit_add_id(ecm_pg *pg, ecm_http_req *req, const char *action, const char *kind,
                    long long id, const json_t *summary)
{
    char resource[96];
    if (snprintf(resource, sizeof resource, "%s/%lld", kind, id) >= (int)sizeof resource) {
        return -1;
    }
    return gw_audit_add(pg, req, action, resource, summary);
}

json_t *gw_audit_diff(const json_t *before, const json_t *after)
{
    json_t *diff = json_object();
    const char *key;
    json_t *to;
    json_object_foreach((json_t *)after, key, to)
    {
        json_t *from = json_object_get(before, key);
        if (from && json_equal(from, to)) {
            continue;
        }
        json_t *change = json_pack("{sO sO}", "from", from ? from : json_null(), "to", to);
        if (!diff || !change || json_object_set_new(diff, key, change) != 0) {
            json_decref(diff);
            return NULL;
        }
    }
    return diff;
}

static json_t *audit_row_json(const PGresult *r, int i)
{
    json_error_t jerr;
    json_t *summary = json_loads(PQgetvalue(r, i, 11), 0, &jerr);
    return json_pack("{sI ss s{ss ss ss ss} so ss ss ss ss so}", "id",
                     (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "at", PQgetvalue(r, i, 1),
                     "actor", "kind", PQgetvalue(r, i, 2), "id", PQgetvalue(r, i, 3), "name",
                     PQgetvalue(r, i, 4), "role", PQgetvalue(r, i, 5), "client_addr",
                     gw_json_text_or_null(PQgetvalue(r, i, 6), PQgetisnull(r, i, 6)), "method",
                     PQgetvalue(r, i, 7), "route", PQgetvalue(r, i, 8), "action",
                     PQgetvalue(r, i, 9), "resource", PQgetvalue(r, i, 10), "summary",
                     summary ? summary : json_object());
}

/* ?since and ?until must be times PostgreSQL reads: the query's own
 * 22007/22008 becomes a 400. */
static void list_audit(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    gw_page page;
    if (gw_page_args(req, AUDIT_LIST_DEFAULT, AUDIT_LIST_MAX, &page) != 0) {
        return;
    }
    const char *params[] = {
        page.cursor_param,
        page.limit_param,
        ecm_http_req_query(req, "actor"),
        ecm_http_req_query(req, "action"),
        ecm_http_req_query(req, "resource"),
        ecm_http_req_query(req, "since"),
        ecm_http_req_query(req, "until"),
    };
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (pg) {
        ecm_pg_expect_sqlstate(pg, "22007");
        ecm_pg_expect_sqlstate(pg, "22008");
    }
    PGresult *r = ecm_pg_exec(
        pg,
        "SELECT id, " GW_SQL_TIME("at") ", actor_kind, actor_id, actor_name, role, "
                                        "client_addr, method, route, action, "
                                        "resource, summary::text FROM audit_log "
                                        "WHERE ($1::bigint = 0 OR id < $1::bigint) "
                                        "AND ($3::text IS NULL OR actor_id = $3) "
                                        "AND ($4::text IS NULL OR action = $4) "
                                        "AND ($5::text IS NULL OR resource = $5) "
                                        "AND ($6::timestamptz IS NULL OR at >= $6::timestamptz) "
                                        "AND ($7::timestamptz IS NULL OR at < $7::timestamptz) "
                                        "ORDER BY id DESC LIMIT $2::int",
        7, params);
    if (!r) {
        const char *state = pg ? ecm_pg_last_sqlstate(pg) : NULL;
        if (state && strncmp(state, "2200", 4) == 0) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                     "since and until are RFC 3339 times "
                                     "(2026-12-03T14:00:00Z)");
        } else {
            gw_respond_db_down(req, pg, "read the audit log");
        }
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    json_t *answer = gw_page_json(r, &page, audit_row_json);
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, answer);
}

int gw_audit_register(ecm_http *h, const gw_app *app)
{
    return ecm_http_route(h, "GET", "/api/v1/audit", 0, list_audit, (void *)(uintptr_t)app);
}
