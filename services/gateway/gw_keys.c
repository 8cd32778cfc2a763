#include "gw_keys.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_json.h"

#define KEYS_LIST_DEFAULT 100
#define KEYS_LIST_MAX 1000
#define KEY_NAME_MAX 200

#define KEY_COLUMNS                                                                                                                                                     \
    "id, name, role, " GW_SQL_TIME("created_at") ", created_by, " GW_SQL_TIME(                                                                                          \
        "expires_at") ", " GW_SQL_TIME("revoked_at") ", revoked_by, " GW_SQL_TIME("last_used_at") ", CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "                  \
                                                                                                  "WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' " \
                                                                                                  "ELSE 'active' END"

static json_t *key_row_json(const PGresult *r, int i)
{
#define TEXT(c) gw_json_text_or_null(PQgetvalue(r, i, c), PQgetisnull(r, i, c))
    return json_pack("{ss ss ss so so so so so so ss}", "id", PQgetvalue(r, i, 0), "name",
                     PQgetvalue(r, i, 1), "role", PQgetvalue(r, i, 2), "created_at", TEXT(3),
                     "created_by", TEXT(4), "expires_at", TEXT(5), "revoked_at", TEXT(6),
                     "revoked_by", TEXT(7), "last_used_at", TEXT(8), "state", PQgetvalue(r, i, 9));
#undef TEXT
}

/* Reads and checks a key creation body. Returns 0, or -1 after answering. */
static int read_key_body(ecm_http_req *req, json_t **body, const char **name, gw_role *role,
                         const char **expires_at)
{
    *body = gw_body_json(req, "Invalid key");
    if (!*body) {
        return -1;
    }
    const char *field = NULL, *why = NULL;
    json_t *jname = json_object_get(*body, "name"), *jrole = json_object_get(*body, "role");
    json_t *jexp = json_object_get(*body, "expires_at");
    const char *unknown = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(*body, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "role") != 0 && strcmp(k, "expires_at") != 0) {
            unknown = k;
        }
    }
    if (!json_is_object(*body)) {
        field = "(body)", why = "must be a JSON object";
    } else if (unknown) {
        field = unknown, why = "is not a field of a key (name, role, expires_at)";
    } else if (!json_is_string(jname) || json_string_length(jname) == 0 ||
               ecm_utf8_chars(json_string_value(jname), json_string_length(jname)) > KEY_NAME_MAX) {
        field = "name", why = "must be a text of 1 to 200 characters";
    } else if (!json_is_string(jrole) || gw_role_parse(json_string_value(jrole)) == GW_ROLE_NONE) {
        field = "role", why = "must be admin, supervisor or viewer";
    } else if (jexp && !json_is_null(jexp) && !json_is_string(jexp)) {
        field = "expires_at", why = "must be an RFC 3339 time or null";
    }
    if (field) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid key", "%s: %s", field, why);
        json_decref(*body);
        *body = NULL;
        return -1;
    }
    *name = json_string_value(jname);
    *role = gw_role_parse(json_string_value(jrole));
    *expires_at = json_is_string(jexp) ? json_string_value(jexp) : NULL;
    return 0;
}

static void create_key(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body;
    const char *name, *expires_at;
    gw_role role;
    if (read_key_body(req, &body, &name, &role, &expires_at) != 0) {
        return;
    }
    const gw_principal *p = gw_auth_principal(req);
    char id[24], key[128], err[160];
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "create the key");
        goto out;
    }
    if (gw_auth_key_create(pg, name, role, expires_at, p ? p->id : NULL, id, sizeof id, key,
                           sizeof key, err, sizeof err) != 0) {
        ecm_pg_rollback(pg);
        if (strstr(err, "expires_at")) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid key", "%s", err);
        } else {
            gw_respond_db_down(req, pg, "create the key");
        }
        goto out;
    }
    json_t *summary = json_pack("{ss ss so}", "name", name, "role", gw_role_name(role),
                                "expires_at", expires_at ? json_string(expires_at) : json_null());
    char resource[40];
    (void)snprintf(resource, sizeof resource, "key/%s", id);
    int audited = gw_audit_add(pg, req, "key.create", resource, summary);
    json_decref(summary);
    const char *params[] = {id};
    PGresult *r =
        audited == 0
            ? ecm_pg_exec(pg, "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = $1", 1, params)
            : NULL;
    if (!r || PQntuples(r) != 1 || ecm_pg_commit(pg) != 0) {
        if (r) {
            PQclear(r);
        }
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "create the key");
        goto out;
    }
    json_t *answer = key_row_json(r, 0);
    PQclear(r);
    json_object_set_new(answer, "key", json_string(key));
    char location[64];
    (void)snprintf(location, sizeof location, "/api/v1/keys/%s", id);
    ecm_http_add_header(req, "Location", location);
    ecm_http_add_header(req, "Cache-Control", "no-store");
    gw_json_respond(req, 201, answer);
out:
    memset(key, 0, sizeof key);
    json_decref(body);
    ecm_pg_pool_put(app->pool, pg);
}

static void list_keys(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long limit;
    if (gw_query_int(req, "limit", KEYS_LIST_DEFAULT, 1, KEYS_LIST_MAX, &limit) != 0) {
        return;
    }
    char limit_param[24];
    (void)snprintf(limit_param, sizeof limit_param, "%lld", limit + 1);
    const char *params[] = {ecm_http_req_query(req, "cursor"), limit_param};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT " KEY_COLUMNS " FROM api_keys "
                              "WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2::int",
                              2, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list keys");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    int rows = PQntuples(r), shown = rows > limit ? (int)limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_array_append_new(items, key_row_json(r, i));
    }
    json_t *next = rows > shown ? json_string(PQgetvalue(r, shown - 1, 0)) : json_null();
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, json_pack("{so so}", "items", items, "next_cursor", next));
}

/* The path's key id, or NULL after answering 404. */
static const char *path_key_id(ecm_http_req *req)
{
    const char *id = ecm_http_req_param(req, 0);
    size_t n = id ? strlen(id) : 0;
    if (n != 16 || strspn(id, "0123456789abcdef") != n) {
        ecm_http_respond_problem(req, 404, "not-found", "No such key", "'%s' is not a key id",
                                 GW_QUOTE(id ? id : "", 40));
        return NULL;
    }
    return id;
}

static void get_key(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const char *id = path_key_id(req);
    if (!id) {
        return;
    }
    const char *params[] = {id};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = $1", 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the key");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such key", "no key has id %s", id);
    } else {
        gw_json_respond(req, 200, key_row_json(r, 0));
    }
    if (r) {
        PQclear(r);
    }
    ecm_pg_pool_put(app->pool, pg);
}

static void revoke_key(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const char *id = path_key_id(req);
    if (!id) {
        return;
    }
    const gw_principal *p = gw_auth_principal(req);
    if (p && strcmp(p->id, id) == 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Key in use",
                                 "a key cannot revoke itself; revoke it with another admin key");
        return;
    }
    const char *params[] = {id, p ? p->id : NULL};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "revoke the key");
        goto out;
    }
    r = ecm_pg_exec(pg,
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), "
                    "revoked_by = coalesce(revoked_by, $2) WHERE id = $1 "
                    "RETURNING (xmax = 0)::int, name",
                    2, params);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "revoke the key");
        goto out;
    }
    if (PQntuples(r) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such key", "no key has id %s", id);
        goto out;
    }
    char resource[40];
    (void)snprintf(resource, sizeof resource, "key/%s", id);
    json_t *summary = json_pack("{ss}", "name", PQgetvalue(r, 0, 1));
    int audited = gw_audit_add(pg, req, "key.revoke", resource, summary);
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "revoke the key");
        goto out;
    }
    ecm_http_respond(req, 204, NULL, NULL, 0);
out:
    if (r) {
        PQclear(r);
    }
    ecm_pg_pool_put(app->pool, pg);
}

int gw_keys_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/keys", 4096, create_key, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/keys", 0, list_keys, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/keys/{}", 0, get_key, ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/keys/{}", 0, revoke_key, ctx) != 0) {
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- command line */

static int cli_usage(void)
{
    fprintf(stderr,
            "usage: ecm-gateway keys create --role admin|supervisor|viewer --name NAME "
            "[--expires-at TIME]\n"
            "       ecm-gateway keys list\n"
            "       ecm-gateway keys revoke ID\n"
            "Works on the database of ECM_PG_DSN (migrations applied first). create prints\n"
            "the key alone on stdout, once: it is stored only as a hash.\n");
    return 2;
}

/* Writes one audit row for a change made on the command line. */
static int cli_audit(ecm_pg *pg, const char *action, const char *id, const char *name)
{
    char resource[40], summary[512];
    (void)snprintf(resource, sizeof resource, "key/%s", id);
    json_t *s = json_pack("{ss}", "name", name);
    char *text = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    (void)snprintf(summary, sizeof summary, "%s", text ? text : "{}");
    free(text);
    const char *user = getenv("USER");
    const char *params[] = {user ? user : "-", action, resource, summary};
    return ecm_pg_cmd(pg,
                      "INSERT INTO audit_log (actor_kind, actor_id, actor_name, role, method, "
                      "route, action, resource, summary) VALUES ('cli', $1, 'ecm-gateway keys', "
                      "'admin', 'CLI', 'ecm-gateway keys', $2, $3, $4::jsonb)",
                      4, params);
}

static int cli_create(ecm_pg *pg, int argc, char **argv)
{
    const char *role = NULL, *name = NULL, *expires = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--role") == 0) {
            role = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--name") == 0) {
            name = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--expires-at") == 0) {
            expires = argv[++i];
        } else {
            return cli_usage();
        }
    }
    if (!role || gw_role_parse(role) == GW_ROLE_NONE || !name || !*name ||
        strlen(name) > KEY_NAME_MAX) {
        return cli_usage();
    }
    char id[24], key[128], err[160];
    if (ecm_pg_begin(pg) != 0 ||
        gw_auth_key_create(pg, name, gw_role_parse(role), expires, NULL, id, sizeof id, key,
                           sizeof key, err, sizeof err) != 0 ||
        cli_audit(pg, "key.create", id, name) != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        fprintf(stderr, "ecm-gateway keys create: %s\n", err[0] ? err : "database error");
        return 1;
    }
    fprintf(stderr, "created key %s (%s, role %s); it is shown once:\n", id, name, role);
    printf("%s\n", key);
    memset(key, 0, sizeof key);
    return 0;
}

static int cli_list(ecm_pg *pg)
{
    PGresult *r =
        ecm_pg_exec(pg,
                    "SELECT id, role, CASE WHEN revoked_at IS NOT NULL THEN 'revoked' "
                    "WHEN expires_at <= now() THEN 'expired' ELSE 'active' END, "
                    "coalesce(" GW_SQL_TIME("last_used_at") ", '-'), name "
                                                            "FROM api_keys ORDER BY created_at, id",
                    0, NULL);
    if (!r) {
        fprintf(stderr, "ecm-gateway keys list: database error\n");
        return 1;
    }
    printf("%-16s  %-10s  %-7s  %-24s  %s\n", "ID", "ROLE", "STATE", "LAST USED", "NAME");
    for (int i = 0; i < PQntuples(r); i++) {
        printf("%-16s  %-10s  %-7s  %-24s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    }
    PQclear(r);
    return 0;
}

static int cli_revoke(ecm_pg *pg, const char *id)
{
    const char *params[] = {id};
    if (ecm_pg_begin(pg) != 0) {
        return 1;
    }
    PGresult *r = ecm_pg_exec(pg,
                              "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                              "WHERE id = $1 RETURNING name",
                              1, params);
    if (!r || PQntuples(r) != 1) {
        ecm_pg_rollback(pg);
        fprintf(stderr, "ecm-gateway keys revoke: %s\n", r ? "no such key" : "database error");
        if (r) {
            PQclear(r);
        }
        return 1;
    }
    int rc = cli_audit(pg, "key.revoke", id, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rc != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        fprintf(stderr, "ecm-gateway keys revoke: database error\n");
        return 1;
    }
    fprintf(stderr, "revoked key %s\n", id);
    return 0;
}

int gw_keys_cli(int argc, char **argv, const char *dsn)
{
    if (argc < 2) {
        return cli_usage();
    }
    const char *verb = argv[1];
    if (strcmp(verb, "create") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0) {
        return cli_usage();
    }
    if (strcmp(verb, "revoke") == 0 && argc != 3) {
        return cli_usage();
    }
    if (strcmp(verb, "list") == 0 && argc != 2) {
        return cli_usage();
    }
    static volatile sig_atomic_t no_stop = 0;
    ecm_pg *pg = ecm_pg_new(dsn, &no_stop);
    PGconn *conn = pg ? ecm_pg_try_conn(pg) : NULL;
    if (!conn || ecm_migrate_apply(conn, ecm_migrations, ecm_migrations_count) < 0) {
        fprintf(stderr, "ecm-gateway keys: the database of ECM_PG_DSN is not reachable or its "
                        "migrations did not apply\n");
        ecm_pg_destroy(pg);
        return 1;
    }
    int rc = strcmp(verb, "create") == 0 ? cli_create(pg, argc - 1, argv + 1)
             : strcmp(verb, "list") == 0 ? cli_list(pg)
                                         : cli_revoke(pg, argv[2]);
    ecm_pg_destroy(pg);
    return rc;
}
