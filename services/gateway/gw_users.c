#include "gw_users.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_utf8.h"
#include "gw_audit.h"
#include "gw_json.h"
#include "gw_session.h"

#define USER_COLUMNS                                                                               \
    "id, name, role, disabled, failed_logins, " GW_SQL_TIME(                                       \
        "CASE WHEN locked_until > now() THEN "                                                     \
        "locked_until END") ", " GW_SQL_TIME("password_changed_at") ", " GW_SQL_TIME("created_at") ", created_by"

/* The integer PostgreSQL wrote as text s (a count, an id); 0 when s is
 * not one, which a column of integers never is. */
static long long pg_int(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '\0' ? v : 0;
}

/* ---------------------------------------------------------------- passwords */

const char *gw_password_weak(const char *password, size_t len, const char *name)
{
    if (len > GW_PASSWORD_MAX_BYTES) {
        return "a password has at most 1024 bytes";
    }
    if (!ecm_utf8_valid(password, len) || memchr(password, '\0', len)) {
        return "a password is valid UTF-8 text";
    }
    if (ecm_utf8_chars(password, len) < GW_PASSWORD_MIN_CHARS) {
        return "a password has at least 12 characters";
    }
    if (name && strlen(name) == len && strncasecmp(password, name, len) == 0) {
        return "a password is not the user's name";
    }
    return NULL;
}

/* Argon2id hashes at once in this process: each takes memlimit bytes (64
 * MiB by default), so that a burst of sign-ins waits its turn instead of
 * taking the memory of the host. */
#define HASHES_AT_ONCE 4

static sem_t hash_slots;
static pthread_once_t hash_slots_once = PTHREAD_ONCE_INIT;

static void hash_slots_init(void)
{
    if (sem_init(&hash_slots, 0, HASHES_AT_ONCE) != 0) {
        abort(); /* only EINVAL, for a count over SEM_VALUE_MAX */
    }
}

static void hash_slot_take(void)
{
    (void)pthread_once(&hash_slots_once, hash_slots_init);
    while (sem_wait(&hash_slots) != 0 && errno == EINTR) {
    }
}

static void hash_slot_give(void)
{
    (void)sem_post(&hash_slots);
}

int gw_password_hash(const char *password, size_t len, char *out, size_t out_size)
{
    const gw_session_settings *s = gw_session_settings_get();
    if (out_size < crypto_pwhash_STRBYTES) {
        return -1;
    }
    hash_slot_take();
    int rc = crypto_pwhash_str_alg(out, password, len, s->opslimit, s->memlimit,
                                   crypto_pwhash_ALG_ARGON2ID13);
    hash_slot_give();
    return rc == 0 ? 0 : -1;
}

int gw_password_verify(const char *hash, const char *password, size_t len)
{
    hash_slot_take();
    int rc = crypto_pwhash_str_verify(hash, password, len);
    hash_slot_give();
    return rc == 0;
}

/* Is name a user name: 1 to 200 characters of valid UTF-8, no control
 * character, not only spaces? */
static int name_ok(const char *name, size_t len)
{
    if (len == 0 || !ecm_utf8_valid(name, len) || ecm_utf8_chars(name, len) > GW_USER_NAME_MAX) {
        return 0;
    }
    int visible = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
        visible |= c != ' ';
    }
    return visible;
}

int gw_users_create(ecm_pg *pg, const char *name, gw_role role, const char *password,
                    const char *created_by, char *id, size_t id_size, int *conflict, char *err,
                    size_t err_size)
{
    *conflict = 0;
    const char *weak = gw_password_weak(password, strlen(password), name);
    if (!name_ok(name, strlen(name))) {
        snprintf(err, err_size, "name: 1 to 200 characters, no control characters");
        return -1;
    }
    if (role == GW_ROLE_NONE) {
        snprintf(err, err_size, "role: must be admin, supervisor or viewer");
        return -1;
    }
    if (weak) {
        snprintf(err, err_size, "password: %s", weak);
        return -1;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (gw_password_hash(password, strlen(password), hash, sizeof hash) != 0) {
        snprintf(err, err_size, "password: not hashed (out of memory)");
        return -1;
    }
    const char *params[] = {name, gw_role_name(role), hash, created_by};
    ecm_pg_expect_sqlstate(pg, "23505"); /* unique_violation: the name is taken */
    PGresult *r = ecm_pg_exec(pg,
                              "INSERT INTO users (name, role, password_hash, created_by) "
                              "VALUES ($1, $2, $3, $4) RETURNING id",
                              4, params);
    sodium_memzero(hash, sizeof hash);
    if (!r) {
        const char *state = ecm_pg_last_sqlstate(pg);
        if (state && strcmp(state, "23505") == 0) {
            *conflict = 1;
            snprintf(err, err_size, "name: a user has that name already (in any case)");
        } else {
            snprintf(err, err_size, "database error%s%s", state ? " " : "", state ? state : "");
        }
        return -1;
    }
    snprintf(id, id_size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* ------------------------------------------------------------------- API */

static json_t *user_row_json(const PGresult *r, int i)
{
#define TEXT(c) gw_json_text_or_null(PQgetvalue(r, i, c), PQgetisnull(r, i, c))
    return json_pack("{sI ss ss sb sI so so so so}", "id", (json_int_t)pg_int(PQgetvalue(r, i, 0)),
                     "name", PQgetvalue(r, i, 1), "role", PQgetvalue(r, i, 2), "disabled",
                     strcmp(PQgetvalue(r, i, 3), "t") == 0, "failed_logins",
                     (json_int_t)pg_int(PQgetvalue(r, i, 4)), "locked_until", TEXT(5),
                     "password_changed_at", TEXT(6), "created_at", TEXT(7), "created_by", TEXT(8));
#undef TEXT
}

/* "user/<id>" or "key/<id>" for the principal of req; NULL without one. */
static const char *creator(ecm_http_req *req, char *out, size_t out_size)
{
    const gw_principal *p = gw_auth_principal(req);
    if (!p) {
        return NULL;
    }
    (void)snprintf(out, out_size, "%s/%s", p->kind, p->id);
    return out;
}

/* Answers one user row of id read on pg (200, or code given). */
static void respond_user(ecm_http_req *req, ecm_pg *pg, const char *id, int status)
{
    PGresult *r = ecm_pg_exec(pg, "SELECT " USER_COLUMNS " FROM users WHERE id = $1::bigint", 1,
                              (const char *[]){id});
    if (!r) {
        gw_respond_db_down(req, pg, "read the user");
        return;
    }
    if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such user", "no user has id %s", id);
    } else {
        gw_json_respond(req, status, user_row_json(r, 0));
    }
    PQclear(r);
}

static void create_user(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body = gw_body_json(req, "Invalid user");
    if (!body) {
        return;
    }
    const char *k;
    json_t *v, *jname = json_object_get(body, "name"), *jrole = json_object_get(body, "role"),
               *jpw = json_object_get(body, "password");
    const char *unknown = NULL;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "role") != 0 && strcmp(k, "password") != 0) {
            unknown = k;
        }
    }
    if (unknown || !json_is_string(jname) || !json_is_string(jrole) || !json_is_string(jpw) ||
        strlen(json_string_value(jpw)) != json_string_length(jpw)) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid user",
                                 "send {\"name\", \"role\", \"password\"} as texts%s%s",
                                 unknown ? "; not a field: " : "",
                                 unknown ? GW_QUOTE(unknown, 40) : "");
        json_decref(body);
        return;
    }
    char id[24], err[160], by[40];
    int conflict = 0;
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "create the user");
        goto out;
    }
    if (gw_users_create(pg, json_string_value(jname), gw_role_parse(json_string_value(jrole)),
                        json_string_value(jpw), creator(req, by, sizeof by), id, sizeof id,
                        &conflict, err, sizeof err) != 0) {
        ecm_pg_rollback(pg);
        if (strncmp(err, "database", 8) == 0) {
            gw_respond_db_down(req, pg, "create the user");
        } else {
            ecm_http_respond_problem(req, conflict ? 409 : 400,
                                     conflict ? "conflict" : "validation",
                                     conflict ? "Name taken" : "Invalid user", "%s", err);
        }
        goto out;
    }
    json_t *summary = json_pack("{ss ss}", "name", json_string_value(jname), "role",
                                gw_role_name(gw_role_parse(json_string_value(jrole))));
    char resource[40];
    (void)snprintf(resource, sizeof resource, "user/%s", id);
    int audited = gw_audit_add(pg, req, "user.create", resource, summary);
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "create the user");
        goto out;
    }
    char location[64];
    (void)snprintf(location, sizeof location, "/api/v1/users/%s", id);
    ecm_http_add_header(req, "Location", location);
    respond_user(req, pg, id, 201);
out:
    json_decref(body);
    ecm_pg_pool_put(app->pool, pg);
}

static void list_users(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r =
        ecm_pg_exec(pg, "SELECT " USER_COLUMNS " FROM users ORDER BY id LIMIT 10000", 0, NULL);
    if (!r) {
        gw_respond_db_down(req, pg, "list users");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_array_append_new(items, user_row_json(r, i));
    }
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, json_pack("{so}", "items", items));
}

static void get_user(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long n;
    if (gw_path_id(req, "user", &n) != 0) {
        return;
    }
    char id[GW_LL_TEXT];
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    respond_user(req, pg, gw_ll_text(id, n), 200);
    ecm_pg_pool_put(app->pool, pg);
}

/* Locks the user row of id and the enabled admins' rows (so that two
 * changes cannot each leave the other admin the last), on pg inside a
 * transaction. Returns 1 and fills role/disabled, 0 when there is no such
 * user, -1 on a database error. *others: enabled admins but id. */
static int lock_user(ecm_pg *pg, const char *id, char role[16], int *disabled, char *name,
                     size_t name_size, long long *others)
{
    PGresult *a = ecm_pg_exec(pg,
                              "SELECT count(*) FILTER (WHERE id <> $1::bigint) FROM "
                              "(SELECT id FROM users WHERE role = 'admin' AND NOT disabled "
                              "ORDER BY id FOR UPDATE) x",
                              1, (const char *[]){id});
    if (!a) {
        return -1;
    }
    *others = pg_int(PQgetvalue(a, 0, 0));
    PQclear(a);
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT role, disabled, name FROM users WHERE id = $1::bigint "
                              "FOR UPDATE",
                              1, (const char *[]){id});
    if (!r) {
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found) {
        snprintf(role, 16, "%s", PQgetvalue(r, 0, 0));
        *disabled = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        snprintf(name, name_size, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return found;
}

static void respond_last_admin(ecm_http_req *req)
{
    ecm_http_respond_problem(req, 409, "conflict", "Last admin",
                             "this is the last enabled admin: make another admin first");
}

/* What is wrong with a PATCH body of a user, or NULL when nothing is. */
static const char *patch_problem(json_t *body)
{
    json_t *jrole = json_object_get(body, "role"), *jdis = json_object_get(body, "disabled"),
           *jpw = json_object_get(body, "password"), *junlock = json_object_get(body, "unlock");
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "role") != 0 && strcmp(k, "disabled") != 0 && strcmp(k, "password") != 0 &&
            strcmp(k, "unlock") != 0) {
            return "a field is none of role, disabled, password, unlock";
        }
    }
    if (jrole &&
        (!json_is_string(jrole) || gw_role_parse(json_string_value(jrole)) == GW_ROLE_NONE)) {
        return "role: must be admin, supervisor or viewer";
    }
    if (jdis && !json_is_boolean(jdis)) {
        return "disabled: must be true or false";
    }
    if (junlock && !json_is_true(junlock)) {
        return "unlock: must be true";
    }
    if (jpw &&
        (!json_is_string(jpw) || strlen(json_string_value(jpw)) != json_string_length(jpw))) {
        return "password: must be a text";
    }
    /* The name rule is checked once the user is read. */
    return jpw ? gw_password_weak(json_string_value(jpw), json_string_length(jpw), NULL) : NULL;
}

/* The audit summary of a user change: the role and disabled members that
 * changed, and whether the password was reset, the user unlocked, sessions
 * ended. NULL when out of memory. */
static json_t *patch_summary(const char *role, int disabled, const char *new_role, int new_disabled,
                             int reset, int unlock, long long ended)
{
    json_t *before = json_pack("{ss sb}", "role", role, "disabled", disabled);
    json_t *after = json_pack("{ss sb}", "role", new_role, "disabled", new_disabled);
    json_t *summary = before && after ? gw_audit_diff(before, after) : NULL;
    json_decref(before);
    json_decref(after);
    if (summary && reset) {
        json_object_set_new(summary, "password", json_string("reset"));
    }
    if (summary && unlock) {
        json_object_set_new(summary, "unlock", json_true());
    }
    if (summary && ended > 0) {
        json_object_set_new(summary, "sessions_ended", json_integer(ended));
    }
    return summary;
}

/* PATCH /api/v1/users/{id}: {role?, disabled?, password?, unlock?}. */
static void patch_user(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long n;
    if (gw_path_id(req, "user", &n) != 0) {
        return;
    }
    json_t *body = gw_body_json(req, "Invalid user change");
    if (!body) {
        return;
    }
    char id[GW_LL_TEXT], hash[crypto_pwhash_STRBYTES] = "", role[16],
                         name[4 * GW_USER_NAME_MAX + 1];
    gw_ll_text(id, n);
    json_t *jrole = json_object_get(body, "role"), *jdis = json_object_get(body, "disabled"),
           *jpw = json_object_get(body, "password"), *junlock = json_object_get(body, "unlock");
    const char *bad = patch_problem(body);
    if (bad) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid user change", "%s", bad);
        json_decref(body);
        return;
    }
    /* Hashed before the transaction: Argon2id takes a while, and the
     * admins' rows are locked inside it. */
    if (jpw &&
        gw_password_hash(json_string_value(jpw), json_string_length(jpw), hash, sizeof hash) != 0) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        json_decref(body);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    long long others = 0, ended = 0;
    int disabled = 0;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "change the user");
        goto out;
    }
    int found = lock_user(pg, id, role, &disabled, name, sizeof name, &others);
    if (found <= 0) {
        ecm_pg_rollback(pg);
        if (found < 0) {
            gw_respond_db_down(req, pg, "change the user");
        } else {
            ecm_http_respond_problem(req, 404, "not-found", "No such user", "no user has id %s",
                                     id);
        }
        goto out;
    }
    const char *new_role = jrole ? json_string_value(jrole) : role;
    int new_disabled = jdis ? json_is_true(jdis) : disabled;
    int was_live_admin = strcmp(role, "admin") == 0 && !disabled;
    int is_live_admin = strcmp(new_role, "admin") == 0 && !new_disabled;
    if (was_live_admin && !is_live_admin && others == 0) {
        ecm_pg_rollback(pg);
        respond_last_admin(req);
        goto out;
    }
    const char *weak =
        jpw ? gw_password_weak(json_string_value(jpw), json_string_length(jpw), name) : NULL;
    if (weak) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 400, "validation", "Invalid user change", "password: %s",
                                 weak);
        goto out;
    }
    const char *params[] = {id, new_role, new_disabled ? "t" : "f", hash[0] ? hash : NULL,
                            junlock ? "t" : "f"};
    if (ecm_pg_cmd(pg,
                   "UPDATE users SET role = $2, disabled = $3::boolean, "
                   "password_hash = coalesce($4, password_hash), "
                   "password_changed_at = CASE WHEN $4 IS NULL THEN password_changed_at "
                   "ELSE now() END, "
                   "failed_logins = CASE WHEN $5::boolean THEN 0 ELSE failed_logins END, "
                   "locked_until = CASE WHEN $5::boolean THEN NULL ELSE locked_until END "
                   "WHERE id = $1::bigint",
                   5, params) != 0 ||
        ((new_disabled || jpw) && (ended = gw_session_end_user(pg, id, NULL)) < 0)) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the user");
        goto out;
    }
    json_t *summary =
        patch_summary(role, disabled, new_role, new_disabled, jpw != NULL, junlock != NULL, ended);
    char resource[40];
    (void)snprintf(resource, sizeof resource, "user/%s", id);
    int audited = summary ? gw_audit_add(pg, req, "user.update", resource, summary) : -1;
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the user");
        goto out;
    }
    respond_user(req, pg, id, 200);
out:
    sodium_memzero(hash, sizeof hash);
    json_decref(body);
    ecm_pg_pool_put(app->pool, pg);
}

static void delete_user(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long n;
    if (gw_path_id(req, "user", &n) != 0) {
        return;
    }
    char id[GW_LL_TEXT], role[16], name[4 * GW_USER_NAME_MAX + 1];
    gw_ll_text(id, n);
    long long others = 0;
    int disabled = 0;
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "remove the user");
        goto out;
    }
    int found = lock_user(pg, id, role, &disabled, name, sizeof name, &others);
    if (found <= 0) {
        ecm_pg_rollback(pg);
        if (found < 0) {
            gw_respond_db_down(req, pg, "remove the user");
        } else {
            ecm_http_respond_problem(req, 404, "not-found", "No such user", "no user has id %s",
                                     id);
        }
        goto out;
    }
    if (strcmp(role, "admin") == 0 && !disabled && others == 0) {
        ecm_pg_rollback(pg);
        respond_last_admin(req);
        goto out;
    }
    char resource[40];
    (void)snprintf(resource, sizeof resource, "user/%s", id);
    json_t *summary = json_pack("{ss ss}", "name", name, "role", role);
    int audited = gw_audit_add(pg, req, "user.delete", resource, summary);
    json_decref(summary);
    /* Its sessions go with it (ON DELETE CASCADE). */
    if (audited != 0 ||
        ecm_pg_cmd(pg, "DELETE FROM users WHERE id = $1::bigint", 1, (const char *[]){id}) != 0 ||
        ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "remove the user");
        goto out;
    }
    ecm_http_respond(req, 204, NULL, NULL, 0);
out:
    ecm_pg_pool_put(app->pool, pg);
}

int gw_users_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/users", 16384, create_user, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/users", 0, list_users, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/users/{}", 0, get_user, ctx) != 0 ||
        ecm_http_route(h, "PATCH", "/api/v1/users/{}", 16384, patch_user, ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/users/{}", 0, delete_user, ctx) != 0) {
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- command line */

static int cli_usage(void)
{
    fprintf(stderr, "usage: ecm-gateway users create --name NAME --role admin|supervisor|viewer\n"
                    "       ecm-gateway users list\n"
                    "Works on the database of ECM_PG_DSN (migrations applied first). create reads\n"
                    "the password from stdin (one line: at least 12 characters, not the name).\n"
                    "ECM_GATEWAY_PASSWORD_OPSLIMIT and _MEMLIMIT set the hash's cost, as for the\n"
                    "service.\n");
    return 2;
}

/* The cost from the environment, as the service reads it. Returns 0 or -1. */
static int cli_cost(void)
{
    gw_session_settings s = gw_session_defaults();
    const char *ops = getenv("ECM_GATEWAY_PASSWORD_OPSLIMIT"),
               *mem = getenv("ECM_GATEWAY_PASSWORD_MEMLIMIT");
    char *end = NULL;
    if (ops && *ops) {
        s.opslimit = strtoull(ops, &end, 10);
        if (*end) {
            fprintf(stderr, "ecm-gateway users: ECM_GATEWAY_PASSWORD_OPSLIMIT: not a number\n");
            return -1;
        }
    }
    if (mem && *mem) {
        s.memlimit = (size_t)strtoull(mem, &end, 10);
        if (*end) {
            fprintf(stderr, "ecm-gateway users: ECM_GATEWAY_PASSWORD_MEMLIMIT: not a number\n");
            return -1;
        }
    }
    if (gw_session_configure(&s) != 0) {
        fprintf(stderr, "ecm-gateway users: the password cost is out of libsodium's range\n");
        return -1;
    }
    return 0;
}

static int cli_create(ecm_pg *pg, int argc, char **argv)
{
    const char *role = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--role") == 0) {
            role = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--name") == 0) {
            name = argv[++i];
        } else {
            return cli_usage();
        }
    }
    if (!role || gw_role_parse(role) == GW_ROLE_NONE || !name) {
        return cli_usage();
    }
    char pw[GW_PASSWORD_MAX_BYTES + 3];
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "ecm-gateway users create: no password on stdin\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char id[24], err[160] = "";
    int conflict = 0, rc = 1;
    if (ecm_pg_begin(pg) == 0 && gw_users_create(pg, name, gw_role_parse(role), pw, NULL, id,
                                                 sizeof id, &conflict, err, sizeof err) == 0) {
        char resource[40];
        (void)snprintf(resource, sizeof resource, "user/%s", id);
        json_t *s = json_pack("{ss ss}", "name", name, "role", role);
        char *text = s ? json_dumps(s, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(s);
        const char *user = getenv("USER");
        const char *params[] = {user ? user : "-", resource, text ? text : "{}"};
        if (ecm_pg_cmd(pg,
                       "INSERT INTO audit_log (actor_kind, actor_id, actor_name, role, method, "
                       "route, action, resource, summary) VALUES ('cli', $1, 'ecm-gateway users', "
                       "'admin', 'CLI', 'ecm-gateway users', 'user.create', $2, $3::jsonb)",
                       3, params) == 0 &&
            ecm_pg_commit(pg) == 0) {
            rc = 0;
        }
        free(text);
    }
    sodium_memzero(pw, sizeof pw);
    if (rc != 0) {
        ecm_pg_rollback(pg);
        fprintf(stderr, "ecm-gateway users create: %s\n", err[0] ? err : "database error");
        return 1;
    }
    fprintf(stderr, "created user %s (%s, role %s)\n", id, name, role);
    printf("%s\n", id);
    return 0;
}

static int cli_list(ecm_pg *pg)
{
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT id, role, CASE WHEN disabled THEN 'disabled' "
                              "WHEN locked_until > now() THEN 'locked' ELSE 'active' END, name "
                              "FROM users ORDER BY id",
                              0, NULL);
    if (!r) {
        fprintf(stderr, "ecm-gateway users list: database error\n");
        return 1;
    }
    printf("%-8s  %-10s  %-8s  %s\n", "ID", "ROLE", "STATE", "NAME");
    for (int i = 0; i < PQntuples(r); i++) {
        printf("%-8s  %-10s  %-8s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    }
    PQclear(r);
    return 0;
}

int gw_users_cli(int argc, char **argv, const char *dsn)
{
    if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "list") != 0) ||
        (strcmp(argv[1], "list") == 0 && argc != 2)) {
        return cli_usage();
    }
    if (cli_cost() != 0) {
        return 2;
    }
    static volatile sig_atomic_t no_stop = 0;
    ecm_pg *pg = ecm_pg_new(dsn, &no_stop);
    PGconn *conn = pg ? ecm_pg_try_conn(pg) : NULL;
    if (!conn || ecm_migrate_apply(conn, ecm_migrations, ecm_migrations_count) < 0) {
        fprintf(stderr, "ecm-gateway users: the database of ECM_PG_DSN is not reachable or its "
                        "migrations did not apply\n");
        ecm_pg_destroy(pg);
        return 1;
    }
    int rc = strcmp(argv[1], "create") == 0 ? cli_create(pg, argc - 1, argv + 1) : cli_list(pg);
    ecm_pg_destroy(pg);
    return rc;
}
