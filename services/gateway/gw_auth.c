#include "gw_auth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ecm_log.h"
#include "gw_client.h"
#include "gw_json.h"
#include "gw_session.h"

#define KEY_ID_HEX 16
#define KEY_SECRET_HEX 64
#define KEY_PREFIX "ecm_"

/* ------------------------------------------------------------------ roles */

const char *gw_role_name(gw_role r)
{
    switch (r) {
    case GW_ROLE_VIEWER:
        return "viewer";
    case GW_ROLE_SUPERVISOR:
        return "supervisor";
    case GW_ROLE_ADMIN:
        return "admin";
    case GW_ROLE_NONE:
        break;
    }
    return "none";
}

gw_role gw_role_parse(const char *s)
{
    if (!s) {
        return GW_ROLE_NONE;
    }
    for (gw_role r = GW_ROLE_VIEWER; r <= GW_ROLE_ADMIN; r++) {
        if (strcmp(s, gw_role_name(r)) == 0) {
            return r;
        }
    }
    return GW_ROLE_NONE;
}

/* Which role each route needs. Reads are for viewers, changes for
 * supervisors; keys, the audit log and removing a DNC entry (which lets ECM
 * contact a number again) are for admins. JSON: the route's body, when it
 * has one, must be application/json, so that no HTML form of another site
 * can send it (a form can only send form, multipart or plain text). */
static const struct {
    const char *method, *pattern;
    gw_role role;
    int json;
} route_roles[] = {
    {"GET", "/api/v1/openapi.yaml", GW_ROLE_NONE, 0},
    /* The console's page and its files: the page signs in through the API. */
    {"GET", "/", GW_ROLE_NONE, 0},
    {"GET", "/assets/{}", GW_ROLE_NONE, 0},

    /* Signing in is open (its body must still be JSON); the rest of the
     * session needs one (or a key, which these routes then refuse). */
    {"POST", "/api/v1/session", GW_ROLE_NONE, 1},
    {"GET", "/api/v1/session", GW_ROLE_VIEWER, 0},
    {"DELETE", "/api/v1/session", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/session/password", GW_ROLE_VIEWER, 1},

    {"GET", "/api/v1/campaigns", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/campaigns", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/campaigns/{}", GW_ROLE_VIEWER, 0},
    {"PATCH", "/api/v1/campaigns/{}", GW_ROLE_SUPERVISOR, 1},
    {"POST", "/api/v1/campaigns/{}/activate", GW_ROLE_SUPERVISOR, 1},
    {"POST", "/api/v1/campaigns/{}/pause", GW_ROLE_SUPERVISOR, 1},
    {"POST", "/api/v1/campaigns/{}/resume", GW_ROLE_SUPERVISOR, 1},
    {"POST", "/api/v1/campaigns/{}/stop", GW_ROLE_SUPERVISOR, 1},
    {"POST", "/api/v1/campaigns/{}/recycle", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/campaigns/{}/recycle-schedule", GW_ROLE_VIEWER, 0},
    {"PUT", "/api/v1/campaigns/{}/recycle-schedule", GW_ROLE_SUPERVISOR, 1},
    {"DELETE", "/api/v1/campaigns/{}/recycle-schedule", GW_ROLE_SUPERVISOR, 0},

    {"POST", "/api/v1/campaigns/{}/uploads", GW_ROLE_SUPERVISOR, 0},
    {"POST", "/api/v1/uploads/{}/resume", GW_ROLE_SUPERVISOR, 0},
    {"GET", "/api/v1/uploads", GW_ROLE_VIEWER, 0},
    {"GET", "/api/v1/uploads/{}", GW_ROLE_VIEWER, 0},

    {"GET", "/api/v1/campaigns/{}/contacts", GW_ROLE_VIEWER, 0},
    {"GET", "/api/v1/campaigns/{}/stats", GW_ROLE_VIEWER, 0},
    {"GET", "/api/v1/campaigns/{}/attempts.csv", GW_ROLE_VIEWER, 0},
    {"GET", "/api/v1/campaigns/{}/contacts.csv", GW_ROLE_VIEWER, 0},

    {"GET", "/api/v1/contacts/{}", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/contacts/{}/callback", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/contacts/{}/eligibility", GW_ROLE_VIEWER, 0},

    {"GET", "/api/v1/dnc", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/dnc", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/dnc/{}", GW_ROLE_VIEWER, 0},
    {"DELETE", "/api/v1/dnc/{}", GW_ROLE_ADMIN, 0},
    {"POST", "/api/v1/dnc/uploads", GW_ROLE_SUPERVISOR, 0},
    {"GET", "/api/v1/campaigns/{}/dnc", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/campaigns/{}/dnc", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/campaigns/{}/dnc/{}", GW_ROLE_VIEWER, 0},
    {"DELETE", "/api/v1/campaigns/{}/dnc/{}", GW_ROLE_ADMIN, 0},
    {"POST", "/api/v1/campaigns/{}/dnc/uploads", GW_ROLE_SUPERVISOR, 0},
    {"GET", "/api/v1/consent/{}", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/consent", GW_ROLE_SUPERVISOR, 1}, /* grant: admin, in the handler */

    {"GET", "/api/v1/strategies", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/strategies", GW_ROLE_SUPERVISOR, 1},
    {"GET", "/api/v1/strategies/{}", GW_ROLE_VIEWER, 0},
    {"PUT", "/api/v1/strategies/{}", GW_ROLE_SUPERVISOR, 1},
    {"DELETE", "/api/v1/strategies/{}", GW_ROLE_SUPERVISOR, 0},
    /* A dry run changes nothing: a viewer may try a strategy. */
    {"POST", "/api/v1/strategies/dry-run", GW_ROLE_VIEWER, 1},
    {"POST", "/api/v1/strategies/{}/dry-run", GW_ROLE_VIEWER, 1},

    /* Rule sets: a compliance officer's (admin) to change. */
    {"GET", "/api/v1/rule-sets", GW_ROLE_VIEWER, 0},
    {"POST", "/api/v1/rule-sets", GW_ROLE_ADMIN, 1},
    {"GET", "/api/v1/rule-sets/{}", GW_ROLE_VIEWER, 0},
    {"PUT", "/api/v1/rule-sets/{}", GW_ROLE_ADMIN, 1},
    {"DELETE", "/api/v1/rule-sets/{}", GW_ROLE_ADMIN, 0},

    {"GET", "/api/v1/keys", GW_ROLE_ADMIN, 0},
    {"POST", "/api/v1/keys", GW_ROLE_ADMIN, 1},
    {"GET", "/api/v1/keys/{}", GW_ROLE_ADMIN, 0},
    {"DELETE", "/api/v1/keys/{}", GW_ROLE_ADMIN, 0},
    {"GET", "/api/v1/audit", GW_ROLE_ADMIN, 0},

    {"GET", "/api/v1/users", GW_ROLE_ADMIN, 0},
    {"POST", "/api/v1/users", GW_ROLE_ADMIN, 1},
    {"GET", "/api/v1/users/{}", GW_ROLE_ADMIN, 0},
    {"PATCH", "/api/v1/users/{}", GW_ROLE_ADMIN, 1},
    {"DELETE", "/api/v1/users/{}", GW_ROLE_ADMIN, 0},
};

gw_role gw_auth_route_role(const char *method, const char *pattern, int *json_body)
{
    for (size_t i = 0; i < sizeof(route_roles) / sizeof(route_roles[0]); i++) {
        if (strcmp(route_roles[i].method, method) == 0 &&
            strcmp(route_roles[i].pattern, pattern) == 0) {
            if (json_body) {
                *json_body = route_roles[i].json;
            }
            return route_roles[i].role;
        }
    }
    if (json_body) {
        *json_body = 1;
    }
    return GW_ROLE_ADMIN;
}

/* ------------------------------------------------------------------- keys */

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static int sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

int gw_auth_key_parse(const char *key, char id[17], unsigned char digest[32])
{
    const size_t pre = sizeof(KEY_PREFIX) - 1;
    if (!key || strlen(key) != pre + KEY_ID_HEX + 1 + KEY_SECRET_HEX ||
        strncmp(key, KEY_PREFIX, pre) != 0 || key[pre + KEY_ID_HEX] != '_' ||
        !is_lower_hex(key + pre, KEY_ID_HEX) ||
        !is_lower_hex(key + pre + KEY_ID_HEX + 1, KEY_SECRET_HEX)) {
        return -1;
    }
    memcpy(id, key + pre, KEY_ID_HEX);
    id[KEY_ID_HEX] = '\0';
    return sha256(key + pre + KEY_ID_HEX + 1, KEY_SECRET_HEX, digest);
}

int gw_auth_key_create(ecm_pg *pg, const char *name, gw_role role, const char *expires_at,
                       const char *created_by, char *id, size_t id_size, char *key, size_t key_size,
                       char *err, size_t err_size)
{
    unsigned char raw_id[KEY_ID_HEX / 2], raw_secret[KEY_SECRET_HEX / 2], digest[32];
    char secret[KEY_SECRET_HEX + 1], digest_hex[65];
    if (role == GW_ROLE_NONE || id_size < KEY_ID_HEX + 1 ||
        key_size < sizeof(KEY_PREFIX) + KEY_ID_HEX + 1 + KEY_SECRET_HEX) {
        snprintf(err, err_size, "no such role, or the buffers are too small");
        return -1;
    }
    if (RAND_bytes(raw_id, sizeof raw_id) != 1 || RAND_bytes(raw_secret, sizeof raw_secret) != 1) {
        snprintf(err, err_size, "no random bytes from OpenSSL");
        return -1;
    }
    hex_encode(raw_id, sizeof raw_id, id);
    hex_encode(raw_secret, sizeof raw_secret, secret);
    if (sha256(secret, KEY_SECRET_HEX, digest) != 0) {
        snprintf(err, err_size, "SHA-256 failed");
        return -1;
    }
    hex_encode(digest, sizeof digest, digest_hex);
    const char *params[] = {id, name, gw_role_name(role), digest_hex, created_by, expires_at};
    ecm_pg_expect_sqlstate(pg, "22007"); /* invalid_datetime_format */
    ecm_pg_expect_sqlstate(pg, "22008"); /* datetime_field_overflow */
    int rc = ecm_pg_cmd(pg,
                        "INSERT INTO api_keys (id, name, role, secret_sha256, created_by, "
                        "expires_at) VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6::timestamptz)",
                        6, params);
    if (rc != 0) {
        const char *state = ecm_pg_last_sqlstate(pg);
        if (state && strncmp(state, "2200", 4) == 0) {
            snprintf(err, err_size, "expires_at is not a time PostgreSQL reads");
        } else {
            snprintf(err, err_size, "database error%s%s", state ? " " : "", state ? state : "");
        }
        OPENSSL_cleanse(secret, sizeof secret);
        return -1;
    }
    /* key_size was checked above: the whole key fits. */
    int n = snprintf(key, key_size, KEY_PREFIX "%s_%s", id, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(raw_secret, sizeof raw_secret);
    return n > 0 && (size_t)n < key_size ? 0 : -1;
}

/* ------------------------------------------------------------------ guard */

const gw_principal *gw_auth_principal(const ecm_http_req *req)
{
    return ecm_http_req_principal(req);
}

static void respond_forbidden(ecm_http_req *req, const gw_principal *p, gw_role need)
{
    ecm_http_respond_problem(req, 403, "forbidden", "Forbidden",
                             "this needs the %s role; %s %s has the %s role", gw_role_name(need),
                             p->kind, strcmp(p->kind, "user") == 0 ? p->name : p->id,
                             gw_role_name(p->role));
}

int gw_auth_require(ecm_http_req *req, gw_role role)
{
    const gw_principal *p = gw_auth_principal(req);
    if (!p || p->role >= role) {
        return 1;
    }
    respond_forbidden(req, p, role);
    return 0;
}

/* Every failure to authenticate gets this one answer (RFC 6750's
 * WWW-Authenticate), whatever the reason, so that an answer never says
 * whether a key id exists or why a session ended. */
static int respond_unauthorized(ecm_http_req *req)
{
    ecm_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"ecm\"");
    ecm_http_respond_problem(req, 401, "unauthorized", "Unauthorized",
                             "sign in (POST /api/v1/session) or send a valid API key: "
                             "Authorization: Bearer ecm_...");
    return -1;
}

/* The bearer token of the Authorization header, or NULL. */
static const char *bearer_token(ecm_http_req *req)
{
    const char *h = ecm_http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
        return NULL;
    }
    h += 6;
    while (*h == ' ' || *h == '\t') {
        h++;
    }
    return *h ? h : NULL;
}

/* Does the request carry a body (a length over 0, or chunked)? */
static int has_body(ecm_http_req *req)
{
    const char *cl = ecm_http_req_header(req, "Content-Length");
    if (cl) {
        return strspn(cl, "0") != strlen(cl);
    }
    return ecm_http_req_header(req, "Transfer-Encoding") != NULL;
}

/* Is the Content-Type application/json (any case, parameters allowed)? */
static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct) {
        return 0;
    }
    while (*ct == ' ') {
        ct++;
    }
    if (strncasecmp(ct, want, sizeof want - 1) != 0) {
        return 0;
    }
    ct += sizeof want - 1;
    while (*ct == ' ') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}

/* Looks the key up. Returns 1 (p filled), 0 (not a live key), -1 (no
 * database: answered 503). */
static int key_lookup(const gw_app *app, ecm_http_req *req, const char *id,
                      const unsigned char digest[32], gw_principal *p)
{
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    const char *params[] = {id};
    PGresult *r =
        pg ? ecm_pg_exec(pg,
                         "SELECT name, role, encode(secret_sha256, 'hex'), "
                         "(expires_at IS NULL OR expires_at > now()) "
                         "AND revoked_at IS NULL, "
                         "last_used_at IS NULL OR last_used_at < now() - interval '1 min' "
                         "FROM api_keys WHERE id = $1",
                         1, params)
           : NULL;
    if (!r) {
        gw_respond_db_down(req, pg, "check the API key");
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    char want[65], got[65];
    hex_encode(digest, 32, got);
    /* Compared even when the id is unknown, against a value no key hashes
     * to, so that an unknown id costs what a wrong secret does. */
    snprintf(want, sizeof want, "%s",
             PQntuples(r) == 1
                 ? PQgetvalue(r, 0, 2)
                 : "unknown-key-id-unknown-key-id-unknown-key-id-unknown-key-id-xxxx");
    int match = strlen(want) == 64 && CRYPTO_memcmp(want, got, 64) == 0;
    int live = match && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    if (live) {
        snprintf(p->kind, sizeof p->kind, "key");
        snprintf(p->id, sizeof p->id, "%s", id);
        snprintf(p->name, sizeof p->name, "%s", PQgetvalue(r, 0, 0));
        p->role = gw_role_parse(PQgetvalue(r, 0, 1));
        if (strcmp(PQgetvalue(r, 0, 4), "t") == 0 &&
            ecm_pg_cmd(pg, "UPDATE api_keys SET last_used_at = now() WHERE id = $1", 1, params) !=
                0) {
            ecm_log_warn("API key's last use not recorded", "key=%s", id);
        }
    }
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    return live && p->role != GW_ROLE_NONE;
}

/* Is method one that changes nothing (GET, HEAD)? */
static int is_safe_method(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Looks the session of token up. Returns 1 (p filled), 0 (no live session),
 * -1 (no database: answered 503; wrong CSRF token: answered 403). */
static int session_check(const gw_app *app, ecm_http_req *req, const char *method,
                         const char *token, gw_principal *p)
{
    char csrf[GW_SESSION_TOKEN_HEX + 1] = "";
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    int found = pg ? gw_session_lookup(pg, token, p, csrf) : -1;
    if (found < 0) {
        gw_respond_db_down(req, pg, "check the session");
    }
    ecm_pg_pool_put(app->pool, pg);
    if (found == 1 && !is_safe_method(method) && !gw_session_csrf_ok(req, csrf)) {
        ecm_http_respond_problem(req, 403, "forbidden", "Forbidden", "CSRF token missing or wrong");
        return -1;
    }
    return found;
}

/* An open route's checks: its body, when JSON, must say so. Returns 0, or
 * -1 after answering 415. */
static int open_route_check(ecm_http_req *req, int json)
{
    if (json && has_body(req) && !is_json_type(ecm_http_req_header(req, "Content-Type"))) {
        ecm_http_respond_problem(req, 415, "unsupported-media-type", "Unsupported media type",
                                 "send the body as Content-Type: application/json");
        return -1;
    }
    return 0;
}

static int guard_check(void *ctx, ecm_http_req *req, const char *method, const char *pattern,
                       void **principal)
{
    const gw_app *app = ctx;
    int json = 0;
    gw_role need = gw_auth_route_role(method, pattern, &json);
    if (need == GW_ROLE_NONE) {
        return open_route_check(req, json);
    }
    char id[KEY_ID_HEX + 1], cookie[GW_SESSION_TOKEN_HEX + 1];
    unsigned char digest[32];
    const char *token = bearer_token(req);
    const char *session = token ? NULL : gw_session_cookie(req, cookie);
    if (!session && (!token || gw_auth_key_parse(token, id, digest) != 0)) {
        return respond_unauthorized(req);
    }
    gw_principal *p = calloc(1, sizeof *p);
    if (!p) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    int found =
        session ? session_check(app, req, method, session, p) : key_lookup(app, req, id, digest, p);
    if (found <= 0) {
        free(p);
        return found < 0 ? -1 : respond_unauthorized(req);
    }
    if (p->role < need) {
        respond_forbidden(req, p, need);
        free(p);
        return -1;
    }
    if (open_route_check(req, json) != 0) {
        free(p);
        return -1;
    }
    if (gw_client_addr(req, p->addr, sizeof p->addr) != 0) {
        p->addr[0] = '\0'; /* unknown: the audit row says NULL */
    }
    *principal = p;
    return 0;
}

static void guard_release(void *ctx, void *principal)
{
    (void)ctx;
    free(principal);
}

void gw_auth_install(ecm_http *h, const gw_app *app)
{
    static const ecm_http_guard guard = {guard_check, guard_release};
    ecm_http_set_guard(h, &guard, (void *)(uintptr_t)app);
}
