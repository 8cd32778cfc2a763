#include "gw_session.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "ecm_log.h"
#include "gw_client.h"
#include "gw_audit.h"
#include "gw_json.h"
#include "gw_users.h"

/* Written once by gw_session_configure before serving; read-only after. */
static gw_session_settings settings = {
    .opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE,
    .memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE,
    .max_failures = 5,
    .lock_s = 900,
    .idle_s = 1800,
    .max_s = 43200,
    .cookie_secure = 1,
    .addr_max_failures = 30,
    .addr_window_s = 300,
};

gw_session_settings gw_session_defaults(void)
{
    return (gw_session_settings){
        .opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE,
        .memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE,
        .max_failures = 5,
        .lock_s = 900,
        .idle_s = 1800,
        .max_s = 43200,
        .cookie_secure = 1,
        .addr_max_failures = 30,
        .addr_window_s = 300,
    };
}

int gw_session_configure(const gw_session_settings *s)
{
    if (sodium_init() < 0) {
        ecm_log_error("libsodium did not start", "reason=sodium_init failed");
        return -1;
    }
    if (s->opslimit < crypto_pwhash_OPSLIMIT_MIN || s->opslimit > crypto_pwhash_OPSLIMIT_MAX ||
        s->memlimit < crypto_pwhash_MEMLIMIT_MIN || s->max_failures < 1 || s->lock_s < 1 ||
        s->idle_s < 1 || s->max_s < 1 || s->addr_max_failures < 1 || s->addr_window_s < 1) {
        ecm_log_error("session settings refused", "reason=out of range");
        return -1;
    }
    /* Nothing is hashed here: an Argon2id hash touches memlimit bytes (64
     * MiB by default), which at start would set the gateway's peak RSS for
     * its whole life (docs/performance.md, the gateway's peak memory). A
     * mapping of that size, never touched, is not resident and still says
     * at start whether the host can give a hash its memory. */
    void *probe =
        mmap(NULL, s->memlimit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) {
        ecm_log_error("session settings refused", "reason=Argon2id out of memory");
        return -1;
    }
    (void)munmap(probe, s->memlimit);
    settings = *s;
    return 0;
}

const gw_session_settings *gw_session_settings_get(void)
{
    return &settings;
}

/* The integer PostgreSQL wrote as text s (a count, an id); 0 when s is
 * not one, which a column of integers never is. */
static long long pg_int(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '\0' ? v : 0;
}

/* ----------------------------------------------------------------- tokens */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* 32 random bytes as 64 hex digits in out (65 bytes). */
static void random_hex(char out[GW_SESSION_TOKEN_HEX + 1])
{
    unsigned char raw[GW_SESSION_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, GW_SESSION_TOKEN_HEX + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

/* The session id of token: its SHA-256 in hex (65 bytes). */
static void session_id(const char *token, char out[GW_SESSION_TOKEN_HEX + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, GW_SESSION_TOKEN_HEX + 1, digest, sizeof digest);
}

const char *gw_session_cookie(ecm_http_req *req, char out[GW_SESSION_TOKEN_HEX + 1])
{
    static const char name[] = GW_SESSION_COOKIE "=";
    const char *h = ecm_http_req_header(req, "Cookie");
    while (h && *h) {
        while (*h == ' ' || *h == ';') {
            h++;
        }
        size_t len = strcspn(h, ";");
        if (len == sizeof name - 1 + GW_SESSION_TOKEN_HEX &&
            strncmp(h, name, sizeof name - 1) == 0 &&
            is_lower_hex(h + sizeof name - 1, GW_SESSION_TOKEN_HEX)) {
            memcpy(out, h + sizeof name - 1, GW_SESSION_TOKEN_HEX);
            out[GW_SESSION_TOKEN_HEX] = '\0';
            return out;
        }
        h += len;
    }
    return NULL;
}

int gw_session_csrf_ok(ecm_http_req *req, const char *csrf)
{
    const char *h = ecm_http_req_header(req, "X-CSRF-Token");
    if (!h || !csrf || strlen(h) != GW_SESSION_TOKEN_HEX || strlen(csrf) != GW_SESSION_TOKEN_HEX) {
        return 0;
    }
    return sodium_memcmp(h, csrf, GW_SESSION_TOKEN_HEX) == 0;
}

/* ------------------------------------------------------------- the guard */

int gw_session_lookup(ecm_pg *pg, const char *token, gw_principal *p,
                      char csrf[GW_SESSION_TOKEN_HEX + 1])
{
    char sid[GW_SESSION_TOKEN_HEX + 1], idle[GW_LL_TEXT];
    session_id(token, sid);
    const char *params[] = {sid, gw_ll_text(idle, settings.idle_s)};
    PGresult *r = ecm_pg_exec(pg,
                              "UPDATE user_sessions s SET last_seen_at = now() FROM users u "
                              "WHERE s.id = $1 AND u.id = s.user_id AND s.ended_at IS NULL "
                              "AND s.expires_at > now() AND NOT u.disabled "
                              "AND s.last_seen_at > now() - make_interval(secs => $2::int) "
                              "RETURNING u.id, u.name, u.role, s.csrf_token",
                              2, params);
    if (!r) {
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found) {
        snprintf(p->kind, sizeof p->kind, "user");
        snprintf(p->id, sizeof p->id, "%s", PQgetvalue(r, 0, 0));
        snprintf(p->name, sizeof p->name, "%s", PQgetvalue(r, 0, 1));
        p->role = gw_role_parse(PQgetvalue(r, 0, 2));
        snprintf(p->session, sizeof p->session, "%s", sid);
        snprintf(csrf, GW_SESSION_TOKEN_HEX + 1, "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return found && p->role != GW_ROLE_NONE;
}

long long gw_session_end_user(ecm_pg *pg, const char *user_id, const char *keep_session)
{
    const char *params[] = {user_id, keep_session};
    PGresult *r = ecm_pg_exec(pg,
                              "WITH e AS (UPDATE user_sessions SET ended_at = now() "
                              "WHERE user_id = $1::bigint AND ended_at IS NULL "
                              "AND ($2::text IS NULL OR id <> $2) RETURNING 1) "
                              "SELECT count(*) FROM e",
                              2, params);
    if (!r) {
        return -1;
    }
    long long n = pg_int(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

int gw_session_audit_user(ecm_pg *pg, ecm_http_req *req, const char *user_id, const char *name,
                          const char *role, const char *action, const json_t *summary)
{
    char addr[46] = "", resource[40];
    if (gw_client_addr(req, addr, sizeof addr) != 0) {
        addr[0] = '\0';
    }
    (void)snprintf(resource, sizeof resource, "user/%s", user_id);
    char *text = summary ? json_dumps(summary, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    const char *params[] = {user_id,
                            name,
                            role,
                            addr[0] ? addr : NULL,
                            ecm_http_req_method(req),
                            ecm_http_req_route(req) ? ecm_http_req_route(req)
                                                    : ecm_http_req_path(req),
                            action,
                            resource,
                            text ? text : "{}"};
    int rc = ecm_pg_cmd(pg,
                        "INSERT INTO audit_log (actor_kind, actor_id, actor_name, role, "
                        "client_addr, method, route, action, resource, summary) "
                        "VALUES ('user', $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
                        9, params);
    free(text);
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- sign-in */

static void respond_sign_in_refused(ecm_http_req *req)
{
    ecm_http_respond_problem(req, 401, "unauthorized", "Unauthorized",
                             "wrong user name or password");
}

/* Seconds until the client address addr may try again (it had
 * addr_max_failures refused sign-ins within the window), 0 when it may now,
 * -1 on a database error. */
static long long addr_wait_s(ecm_pg *pg, const char *addr)
{
    char max[24], window[24];
    (void)snprintf(max, sizeof max, "%d", settings.addr_max_failures);
    (void)snprintf(window, sizeof window, "%lld", settings.addr_window_s);
    PGresult *r = ecm_pg_exec(
        pg,
        "SELECT ceil(extract(epoch FROM first_at + make_interval(secs => $3::int) - now())) "
        "FROM sign_in_failures WHERE addr = $1 AND failures >= $2::int "
        "AND first_at > now() - make_interval(secs => $3::int)",
        3, (const char *[]){addr, max, window});
    if (!r) {
        return -1;
    }
    int held = PQntuples(r) == 1;
    long long wait = held ? pg_int(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return held && wait < 1 ? 1 : wait;
}

/* Counts a refused sign-in from addr (a new count once the window is past;
 * rows of addresses quiet for two windows go). Logged when it fails: the
 * refusal stands either way. */
static void addr_count_failure(ecm_pg *pg, const char *addr)
{
    char window[24];
    (void)snprintf(window, sizeof window, "%lld", settings.addr_window_s);
    if (ecm_pg_cmd(pg,
                   "WITH gone AS (DELETE FROM sign_in_failures WHERE first_at < now() - "
                   "make_interval(secs => 2 * $2::int) AND addr <> $1) "
                   "INSERT INTO sign_in_failures (addr, failures) VALUES ($1, 1) "
                   "ON CONFLICT (addr) DO UPDATE SET "
                   "failures = CASE WHEN sign_in_failures.first_at > now() - "
                   "make_interval(secs => $2::int) THEN sign_in_failures.failures + 1 ELSE 1 END, "
                   "first_at = CASE WHEN sign_in_failures.first_at > now() - "
                   "make_interval(secs => $2::int) THEN sign_in_failures.first_at ELSE now() END",
                   2, (const char *[]){addr, window}) != 0) {
        ecm_log_warn("sign-in failure of an address not counted", "addr=%s", addr);
    }
}

/* The user named name (any case): fills id, role, hash and flags. Returns
 * 1, 0 when there is none, -1 on a database error. */
typedef struct {
    char id[24], name[4 * GW_USER_NAME_MAX + 1], role[16];
    char hash[crypto_pwhash_STRBYTES];
    int disabled, locked;
} found_user;

static int find_user(ecm_pg *pg, const char *name, found_user *u)
{
    const char *params[] = {name};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT id, name, role, password_hash, disabled, "
                              "coalesce(locked_until > now(), false) "
                              "FROM users WHERE lower(name) = lower($1)",
                              1, params);
    if (!r) {
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found) {
        snprintf(u->id, sizeof u->id, "%s", PQgetvalue(r, 0, 0));
        snprintf(u->name, sizeof u->name, "%s", PQgetvalue(r, 0, 1));
        snprintf(u->role, sizeof u->role, "%s", PQgetvalue(r, 0, 2));
        snprintf(u->hash, sizeof u->hash, "%s", PQgetvalue(r, 0, 3));
        u->disabled = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
        u->locked = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
    }
    PQclear(r);
    return found;
}

/* Records a wrong password of u (not while locked): counts it, and locks u
 * when it is the max_failures'th in a row. Returns 1 when this locked u, 0
 * when not, -1 on a database error. */
static int count_failure(ecm_pg *pg, const found_user *u)
{
    char max[GW_LL_TEXT], lock[GW_LL_TEXT];
    const char *params[] = {u->id, gw_ll_text(max, settings.max_failures),
                            gw_ll_text(lock, settings.lock_s)};
    PGresult *r = ecm_pg_exec(pg,
                              "UPDATE users SET "
                              "locked_until = CASE WHEN failed_logins + 1 >= $2::int "
                              "THEN now() + make_interval(secs => $3::int) ELSE locked_until END, "
                              "failed_logins = CASE WHEN failed_logins + 1 >= $2::int THEN 0 "
                              "ELSE failed_logins + 1 END "
                              "WHERE id = $1::bigint "
                              "RETURNING coalesce(locked_until > now(), false)",
                              3, params);
    if (!r) {
        return -1;
    }
    int locked = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return locked;
}

/* Starts a session for u: writes its row and answers 201 with the cookie. */
static void start_session(ecm_http_req *req, ecm_pg *pg, const found_user *u)
{
    char token[GW_SESSION_TOKEN_HEX + 1], sid[GW_SESSION_TOKEN_HEX + 1],
        csrf[GW_SESSION_TOKEN_HEX + 1], max[GW_LL_TEXT], addr[46] = "";
    random_hex(token);
    random_hex(csrf);
    session_id(token, sid);
    if (gw_client_addr(req, addr, sizeof addr) != 0) {
        addr[0] = '\0';
    }
    const char *ua = ecm_http_req_header(req, "User-Agent");
    char ua_cut[256];
    (void)snprintf(ua_cut, sizeof ua_cut, "%s", ua ? GW_QUOTE(ua, 200) : "");
    const char *params[] = {sid,
                            u->id,
                            csrf,
                            gw_ll_text(max, settings.max_s),
                            addr[0] ? addr : NULL,
                            ua ? ua_cut : NULL};
    PGresult *r = NULL;
    if (ecm_pg_begin(pg) != 0) {
        goto down;
    }
    r = ecm_pg_exec(
        pg,
        "INSERT INTO user_sessions (id, user_id, csrf_token, expires_at, addr, "
        "user_agent) VALUES ($1, $2::bigint, $3, now() + make_interval(secs => $4::int), "
        "$5, $6) RETURNING " GW_SQL_TIME("expires_at"),
        6, params);
    if (!r || PQntuples(r) != 1 ||
        ecm_pg_cmd(pg, "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1", 1,
                   (const char *[]){u->id}) != 0 ||
        gw_session_audit_user(pg, req, u->id, u->name, u->role, "session.create", NULL) != 0 ||
        ecm_pg_commit(pg) != 0) {
        goto down;
    }
    char cookie[200];
    (void)snprintf(cookie, sizeof cookie,
                   GW_SESSION_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s",
                   token, settings.max_s, settings.cookie_secure ? "; Secure" : "");
    ecm_http_add_header(req, "Set-Cookie", cookie);
    ecm_http_add_header(req, "Cache-Control", "no-store");
    gw_json_respond(req, 201,
                    json_pack("{ss sI ss ss ss}", "user", u->name, "user_id",
                              (json_int_t)pg_int(u->id), "role", u->role, "csrf_token", csrf,
                              "expires_at", PQgetvalue(r, 0, 0)));
    PQclear(r);
    sodium_memzero(token, sizeof token);
    return;
down:
    if (r) {
        PQclear(r);
    }
    ecm_pg_rollback(pg);
    gw_respond_db_down(req, pg, "sign in");
    sodium_memzero(token, sizeof token);
}

/* Refuses a sign-in as u: the audit row and log line say why, the answer
 * (401) does not. */
static void refuse(ecm_http_req *req, ecm_pg *pg, const found_user *u, const char *why)
{
    json_t *summary = json_pack("{ss}", "reason", why);
    if (gw_session_audit_user(pg, req, u->id, u->name, u->role, "session.refused", summary) != 0) {
        ecm_log_warn("sign-in refusal not audited", "user=%s", u->id);
    }
    json_decref(summary);
    ecm_log_warn("sign-in refused", "user=%s reason=%s", u->id, why);
    respond_sign_in_refused(req);
}

static void create_session(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body = gw_body_json(req, "Invalid sign-in");
    if (!body) {
        return;
    }
    json_t *jname = json_object_get(body, "name"), *jpw = json_object_get(body, "password");
    if (!json_is_string(jname) || !json_is_string(jpw)) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid sign-in",
                                 "send {\"name\": \"...\", \"password\": \"...\"}");
        json_decref(body);
        return;
    }
    const char *name = json_string_value(jname), *pw = json_string_value(jpw);
    size_t pw_len = json_string_length(jpw);
    found_user u = {0};
    char addr[64];
    if (gw_client_addr(req, addr, sizeof addr) != 0) {
        (void)snprintf(addr, sizeof addr, "unknown");
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    long long wait = addr_wait_s(pg, addr);
    if (wait != 0) {
        if (wait < 0) {
            gw_respond_db_down(req, pg, "sign in");
        } else {
            char after[24];
            (void)snprintf(after, sizeof after, "%lld", wait);
            ecm_http_add_header(req, "Retry-After", after);
            ecm_http_respond_problem(req, 429, "too-many-requests", "Too Many Requests",
                                     "too many refused sign-ins from this address; try again in "
                                     "%lld s",
                                     wait);
            ecm_log_warn("sign-in refused", "addr=%s reason=too many failures from the address",
                         addr);
        }
        ecm_pg_pool_put(app->pool, pg);
        json_decref(body);
        return;
    }
    int found = json_string_length(jname) <= 4 * GW_USER_NAME_MAX ? find_user(pg, name, &u) : 0;
    /* The connection goes back while Argon2id runs: it takes a while. */
    ecm_pg_pool_put(app->pool, pg);
    if (found < 0) {
        gw_respond_db_down(req, NULL, "sign in");
        json_decref(body);
        return;
    }
    /* Always one Argon2id at the configured cost: a known name's hash is
     * verified; for an unknown name, or a password over the policy's length
     * (it cannot be one), a password is hashed and thrown away, which costs
     * what verifying a hash made at that cost does. */
    int long_pw = pw_len > GW_PASSWORD_MAX_BYTES;
    int match = 0;
    if (found && !long_pw) {
        match = gw_password_verify(u.hash, pw, pw_len);
    } else {
        char unused[crypto_pwhash_STRBYTES];
        if (gw_password_hash(long_pw ? "x" : pw, long_pw ? 1 : pw_len, unused, sizeof unused) !=
            0) {
            ecm_log_warn("sign-in hash failed", "reason=Argon2id out of memory");
        }
    }
    pg = ecm_pg_pool_get(app->pool);
    if (!found || u.disabled || u.locked || !match) {
        addr_count_failure(pg, addr);
    }
    if (!found) {
        /* Audited too (the name tried in the summary): a row written here
         * as for a known name keeps the two paths' times alike. */
        found_user nobody = {.id = "-", .name = "(unknown)", .role = "none"};
        json_t *summary =
            json_pack("{ss ss%}", "reason", "no such user", "name", name,
                      json_string_length(jname) > 800 ? (size_t)800 : json_string_length(jname));
        if (gw_session_audit_user(pg, req, nobody.id, nobody.name, nobody.role, "session.refused",
                                  summary) != 0) {
            ecm_log_warn("sign-in refusal not audited", "user=-");
        }
        json_decref(summary);
        ecm_log_warn("sign-in refused", "reason=no such user");
        respond_sign_in_refused(req);
    } else if (u.disabled) {
        refuse(req, pg, &u, "disabled");
    } else if (u.locked) {
        refuse(req, pg, &u, "locked");
    } else if (!match) {
        int locked = count_failure(pg, &u);
        if (locked < 0) {
            gw_respond_db_down(req, pg, "sign in");
        } else {
            refuse(req, pg, &u, locked ? "wrong password; now locked" : "wrong password");
            if (locked) {
                json_t *s = json_pack("{sI}", "lock_s", (json_int_t)settings.lock_s);
                if (gw_session_audit_user(pg, req, u.id, u.name, u.role, "user.lock", s) != 0) {
                    ecm_log_warn("lock not audited", "user=%s", u.id);
                }
                json_decref(s);
            }
        }
    } else {
        if (crypto_pwhash_str_needs_rehash(u.hash, settings.opslimit, settings.memlimit) != 0) {
            char fresh[crypto_pwhash_STRBYTES];
            if (gw_password_hash(pw, pw_len, fresh, sizeof fresh) == 0 &&
                ecm_pg_cmd(pg, "UPDATE users SET password_hash = $2 WHERE id = $1::bigint", 2,
                           (const char *[]){u.id, fresh}) != 0) {
                ecm_log_warn("password not rehashed", "user=%s", u.id);
            }
        }
        start_session(req, pg, &u);
    }
    ecm_pg_pool_put(app->pool, pg);
    sodium_memzero(u.hash, sizeof u.hash);
    json_decref(body);
}

/* The principal of req when it is a signed-in user; else answers 400
 * (the request came with an API key) and returns NULL. */
static const gw_principal *session_principal(ecm_http_req *req)
{
    const gw_principal *p = gw_auth_principal(req);
    if (!p || strcmp(p->kind, "user") != 0) {
        ecm_http_respond_problem(req, 400, "validation", "No session",
                                 "this request came with an API key, not a session");
        return NULL;
    }
    return p;
}

static void get_session(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const gw_principal *p = session_principal(req);
    if (!p) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    const char *params[] = {p->session};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT csrf_token, " GW_SQL_TIME("expires_at") ", " GW_SQL_TIME(
                                  "created_at") " FROM user_sessions WHERE id = $1",
                              1, params);
    if (!r || PQntuples(r) != 1) {
        gw_respond_db_down(req, pg, "read the session");
    } else {
        ecm_http_add_header(req, "Cache-Control", "no-store");
        gw_json_respond(req, 200,
                        json_pack("{ss sI ss ss ss ss}", "user", p->name, "user_id",
                                  (json_int_t)pg_int(p->id), "role", gw_role_name(p->role),
                                  "csrf_token", PQgetvalue(r, 0, 0), "expires_at",
                                  PQgetvalue(r, 0, 1), "created_at", PQgetvalue(r, 0, 2)));
    }
    if (r) {
        PQclear(r);
    }
    ecm_pg_pool_put(app->pool, pg);
}

static void end_session(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const gw_principal *p = session_principal(req);
    if (!p) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    const char *params[] = {p->session};
    if (ecm_pg_begin(pg) != 0 ||
        ecm_pg_cmd(pg, "UPDATE user_sessions SET ended_at = now() WHERE id = $1", 1, params) != 0 ||
        gw_audit_add(pg, req, "session.end", "session", NULL) != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "sign out");
    } else {
        char cookie[160];
        (void)snprintf(cookie, sizeof cookie,
                       GW_SESSION_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
                       settings.cookie_secure ? "; Secure" : "");
        ecm_http_add_header(req, "Set-Cookie", cookie);
        ecm_http_respond(req, 204, NULL, NULL, 0);
    }
    ecm_pg_pool_put(app->pool, pg);
}

/* POST /api/v1/session/password {current, new}: the signed-in user's own
 * password; the user's other sessions end. */
static void change_password(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const gw_principal *p = session_principal(req);
    if (!p) {
        return;
    }
    json_t *body = gw_body_json(req, "Invalid password change");
    if (!body) {
        return;
    }
    json_t *jcur = json_object_get(body, "current"), *jnew = json_object_get(body, "new");
    if (!json_is_string(jcur) || !json_is_string(jnew)) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid password change",
                                 "send {\"current\": \"...\", \"new\": \"...\"}");
        json_decref(body);
        return;
    }
    const char *weak = gw_password_weak(json_string_value(jnew), json_string_length(jnew), p->name);
    if (weak) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid password change", "new: %s",
                                 weak);
        json_decref(body);
        return;
    }
    found_user u = {0};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    int found = find_user(pg, p->name, &u);
    ecm_pg_pool_put(app->pool, pg);
    if (found <= 0) {
        gw_respond_db_down(req, NULL, "change the password");
        json_decref(body);
        return;
    }
    size_t cur_len = json_string_length(jcur);
    char fresh[crypto_pwhash_STRBYTES];
    if (cur_len > GW_PASSWORD_MAX_BYTES ||
        !gw_password_verify(u.hash, json_string_value(jcur), cur_len)) {
        ecm_http_respond_problem(req, 403, "forbidden", "Forbidden", "current: not your password");
        json_decref(body);
        return;
    }
    if (gw_password_hash(json_string_value(jnew), json_string_length(jnew), fresh, sizeof fresh) !=
        0) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        json_decref(body);
        return;
    }
    json_decref(body);
    pg = ecm_pg_pool_get(app->pool);
    long long ended = -1;
    if (ecm_pg_begin(pg) != 0 ||
        ecm_pg_cmd(pg,
                   "UPDATE users SET password_hash = $2, password_changed_at = now() "
                   "WHERE id = $1::bigint",
                   2, (const char *[]){p->id, fresh}) != 0 ||
        (ended = gw_session_end_user(pg, p->id, p->session)) < 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the password");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    char resource[40];
    (void)snprintf(resource, sizeof resource, "user/%s", p->id);
    json_t *summary = json_pack("{sb sI}", "password", 1, "sessions_ended", (json_int_t)ended);
    int audited = gw_audit_add(pg, req, "user.password", resource, summary);
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the password");
    } else {
        ecm_http_respond(req, 204, NULL, NULL, 0);
    }
    ecm_pg_pool_put(app->pool, pg);
}

int gw_session_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/session", 4096, create_session, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/session", 0, get_session, ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/session", 0, end_session, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/session/password", 4096, change_password, ctx) != 0) {
        return -1;
    }
    return 0;
}
