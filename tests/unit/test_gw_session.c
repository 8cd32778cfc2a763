/* Console users and sessions (gw_session, gw_users, the guard of gw_auth)
 * against a scratch database, through the gateway's HTTP routes with the
 * guard on: sign-in, the cookie, CSRF, lock-out, timeouts, sign-out, the
 * admin's user routes and the last-admin rule. Passwords are hashed at
 * libsodium's lowest cost here, so that the tests run fast. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_campaigns.h"
#include "gw_keys.h"
#include "gw_session.h"
#include "gw_test_support.h"
#include "gw_users.h"

#define PORT_FIRST 7710
#define PORT_LAST 7729
#define ADMIN_PW "admin-password-1"
#define VIEWER_PW "viewer-password-1"

static int add_guard(ecm_http *h, const gw_app *app)
{
    gw_auth_install(h, app);
    return 0;
}

typedef struct {
    gw_test_api *api;
    char admin_id[24], viewer_id[24];
} fixture;

/* A session as a browser holds it: the cookie's token and the CSRF token. */
typedef struct {
    char token[GW_SESSION_TOKEN_HEX + 1];
    char csrf[GW_SESSION_TOKEN_HEX + 1];
} session;

static void make_user(gw_test_api *t, const char *name, gw_role role, const char *pw, char *id)
{
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(t->db->dsn, &stop);
    assert_non_null(pg);
    char err[160] = "";
    int conflict = 0;
    int rc = gw_users_create(pg, name, role, pw, NULL, id, 24, &conflict, err, sizeof err);
    ecm_pg_destroy(pg);
    if (rc != 0) {
        fail_msg("user %s not made: %s", name, err);
    }
}

/* The fixture with addr_max_failures refused sign-ins an address may have. */
static int setup_with(void **state, int addr_max_failures)
{
    gw_session_settings s = gw_session_defaults();
    s.opslimit = crypto_pwhash_OPSLIMIT_MIN;
    s.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    s.cookie_secure = 1;
    s.addr_max_failures = addr_max_failures;
    assert_int_equal(gw_session_configure(&s), 0);
    const gw_test_routes_fn routes[] = {
        gw_campaigns_register, gw_session_register, gw_users_register,
        gw_audit_register,     add_guard,           NULL};
    const gw_app settings = gw_test_settings();
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->api = gw_test_api_new("ecm_gw_session", &settings, PORT_FIRST, PORT_LAST, routes);
    if (f->api) {
        make_user(f->api, "Ada", GW_ROLE_ADMIN, ADMIN_PW, f->admin_id);
        make_user(f->api, "vera", GW_ROLE_VIEWER, VIEWER_PW, f->viewer_id);
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 30);
}

static int setup_spray(void **state)
{
    return setup_with(state, 4);
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_test_api_destroy(f->api);
    free(f);
    return 0;
}

/* One request with s's cookie (NULL: none), the CSRF header csrf (NULL:
 * none), a JSON body (NULL: none). Returns the status; *answer the JSON
 * answer (NULL: none); set_cookie, when not NULL, the Set-Cookie header. */
static long call(const fixture *f, const session *s, const char *csrf, const char *method,
                 const char *path, const char *body, json_t **answer, char *set_cookie,
                 size_t set_cookie_size)
{
    char cookie[200], x[200];
    const char *headers[5] = {"Expect:", "Content-Type: application/json"};
    int n = 2;
    if (s) {
        (void)gw_test_format(cookie, sizeof cookie, "Cookie: other=1; " GW_SESSION_COOKIE "=%s",
                             s->token);
        headers[n++] = cookie;
    }
    if (csrf) {
        (void)gw_test_format(x, sizeof x, "X-CSRF-Token: %s", csrf);
        headers[n++] = x;
    }
    headers[n] = NULL;
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->api->port, method, path, headers, body, body ? strlen(body) : 0,
                          NULL);
    gw_test_log_exchange(method, path, &a);
    json_t *j = a.len ? json_loads(a.body, 0, NULL) : NULL;
    if (answer) {
        *answer = j;
    } else {
        json_decref(j);
    }
    if (set_cookie) {
        (void)ecm_test_http_header(&a, "Set-Cookie", set_cookie, set_cookie_size);
    }
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

/* The status alone. */
static long status_of(const fixture *f, const session *s, const char *method, const char *path,
                      const char *body)
{
    return call(f, s, s ? s->csrf : NULL, method, path, body, NULL, NULL, 0);
}

/* Signs in; returns the status, and fills s on 201 (*detail: the problem's
 * detail on a refusal, when detail is not NULL). */
static long sign_in(const fixture *f, const char *name, const char *pw, session *s, char *detail,
                    size_t detail_size)
{
    char body[512], cookie[512];
    (void)gw_test_format(body, sizeof body, "{\"name\": \"%s\", \"password\": \"%s\"}", name, pw);
    json_t *answer = NULL;
    long status =
        call(f, NULL, NULL, "POST", "/api/v1/session", body, &answer, cookie, sizeof cookie);
    if (status == 201) {
        const char *prefix = GW_SESSION_COOKIE "=";
        assert_memory_equal(cookie, prefix, strlen(prefix));
        memcpy(s->token, cookie + strlen(prefix), GW_SESSION_TOKEN_HEX);
        s->token[GW_SESSION_TOKEN_HEX] = '\0';
        (void)gw_test_format(s->csrf, sizeof s->csrf, "%s", gw_test_jstr(answer, "csrf_token"));
        assert_non_null(strstr(cookie, "; HttpOnly"));
        assert_non_null(strstr(cookie, "; SameSite=Strict"));
        assert_non_null(strstr(cookie, "; Path=/"));
        assert_non_null(strstr(cookie, "; Secure"));
    } else if (detail) {
        (void)gw_test_format(detail, detail_size, "%s", gw_test_jstr(answer, "detail"));
    }
    json_decref(answer);
    return status;
}

/* One number the scratch database answers (printf-like SQL). */
#define count(f, ...) ecm_test_pg_int((f)->api->conn, __VA_ARGS__)

static const char *campaign_body = "{\"name\": \"console\", \"channel\": \"voice_ivr\", "
                                   "\"cisco\": {\"kind\": \"uccx\", \"campaign_id\": \"7\"}}";

static void test_the_password_policy(void **state)
{
    (void)state;
    assert_non_null(gw_password_weak("short-pw", 8, "ana"));
    assert_non_null(gw_password_weak("Supervisor-1", 12, "supervisor-1"));
    assert_null(gw_password_weak("twelve chars", 12, "ana"));
    /* 12 characters, 24 bytes: characters count, not bytes */
    assert_null(gw_password_weak("ééééééééééé1", strlen("ééééééééééé1"), "ana"));
    assert_non_null(gw_password_weak("éééééé", strlen("éééééé"), "ana")); /* 12 bytes, 6 chars */
    assert_non_null(gw_password_weak("abcdefghijk\xff", 12, "ana"));      /* not UTF-8 */
    char big[GW_PASSWORD_MAX_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_non_null(gw_password_weak(big, strlen(big), "ana"));
    assert_null(gw_password_weak(big, GW_PASSWORD_MAX_BYTES, "ana"));
}

/* This process's peak resident set (VmHWM), in KiB; -1 when unreadable. */
static long long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        return -1;
    }
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %lld kB", &kib) == 1) {
            break;
        }
    }
    (void)fclose(f);
    return kib;
}

/* Configuring at the default cost (64 MiB an Argon2id hash) makes no hash:
 * one made at start set the gateway's peak RSS (docs/performance.md). */
static void test_configure_makes_no_hash_at_the_default_cost(void **state)
{
    (void)state;
    FILE *clear = fopen("/proc/self/clear_refs", "w");
    int reset = clear && fputs("5", clear) >= 0;
    if (clear && fclose(clear) != 0) {
        reset = 0;
    }
    if (!reset) {
        skip(); /* the peak cannot be reset on this kernel */
    }
    long long before = peak_rss_kib();
    gw_session_settings s = gw_session_defaults();
    assert_true(s.memlimit >= 32u * 1024 * 1024);
    assert_int_equal(gw_session_configure(&s), 0);
    long long after = peak_rss_kib();
    assert_true(before > 0 && after > 0);
    assert_in_range(after - before, 0, (long long)(s.memlimit / 1024 / 8));
}

static void test_a_sign_in_gives_a_cookie_session_stored_hashed(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session s;
    /* the name in any case */
    assert_int_equal(sign_in(f, "ADA", ADMIN_PW, &s, NULL, 0), 201);
    json_t *who = NULL;
    assert_int_equal(call(f, &s, NULL, "GET", "/api/v1/session", NULL, &who, NULL, 0), 200);
    assert_string_equal(gw_test_jstr(who, "user"), "Ada");
    assert_string_equal(gw_test_jstr(who, "role"), "admin");
    assert_string_equal(gw_test_jstr(who, "csrf_token"), s.csrf);
    json_decref(who);
    /* the table holds the token's SHA-256, never the token */
    unsigned char digest[32];
    char hex[65];
    crypto_hash_sha256(digest, (const unsigned char *)s.token, strlen(s.token));
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    assert_int_equal(count(f, "SELECT count(*) FROM user_sessions WHERE id = '%s'", hex), 1);
    assert_int_equal(count(f, "SELECT count(*) FROM user_sessions WHERE id = '%s'", s.token), 0);
    /* the password is stored as an Argon2id hash */
    assert_int_equal(
        count(f, "SELECT count(*) FROM users WHERE password_hash LIKE '%s'", "$argon2id$%"), 2);
    /* no session, a made-up one: 401 */
    assert_int_equal(status_of(f, NULL, "GET", "/api/v1/session", NULL), 401);
    session fake = s;
    fake.token[0] = fake.token[0] == 'a' ? 'b' : 'a';
    assert_int_equal(status_of(f, &fake, "GET", "/api/v1/campaigns", NULL), 401);
}

static void test_a_change_needs_the_csrf_token(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session s;
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &s, NULL, 0), 201);
    json_t *answer = NULL;
    assert_int_equal(
        call(f, &s, NULL, "POST", "/api/v1/campaigns", campaign_body, &answer, NULL, 0), 403);
    assert_string_equal(gw_test_jstr(answer, "detail"), "CSRF token missing or wrong");
    json_decref(answer);
    char wrong[65];
    snprintf(wrong, sizeof wrong, "%s", s.csrf);
    wrong[5] = wrong[5] == '0' ? '1' : '0';
    assert_int_equal(call(f, &s, wrong, "POST", "/api/v1/campaigns", campaign_body, NULL, NULL, 0),
                     403);
    assert_int_equal(count(f, "SELECT count(*) FROM campaigns"), 0);
    /* a read needs none */
    assert_int_equal(call(f, &s, NULL, "GET", "/api/v1/campaigns", NULL, NULL, NULL, 0), 200);
    /* with it, the change is made and audited as the user */
    assert_int_equal(status_of(f, &s, "POST", "/api/v1/campaigns", campaign_body), 201);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE action = 'campaign.create' "
                           "AND actor_kind = 'user' AND actor_name = 'Ada' AND actor_id = '%s'",
                           f->admin_id),
                     1);
}

static void test_a_viewer_is_refused_a_change(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session s;
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &s, NULL, 0), 201);
    json_t *answer = NULL;
    assert_int_equal(
        call(f, &s, s.csrf, "POST", "/api/v1/campaigns", campaign_body, &answer, NULL, 0), 403);
    assert_non_null(strstr(gw_test_jstr(answer, "detail"), "supervisor role"));
    json_decref(answer);
    assert_int_equal(status_of(f, &s, "GET", "/api/v1/users", NULL), 403);
    assert_int_equal(count(f, "SELECT count(*) FROM campaigns"), 0);
}

static void test_failures_lock_the_user_with_one_answer_for_all(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session s;
    char unknown[200], wrong[200], locked[200];
    assert_int_equal(sign_in(f, "nobody", ADMIN_PW, &s, unknown, sizeof unknown), 401);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sign_in(f, "vera", "not-her-password", &s, wrong, sizeof wrong), 401);
        assert_string_equal(wrong, unknown);
    }
    /* locked: the right password is refused, with the same answer */
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &s, locked, sizeof locked), 401);
    assert_string_equal(locked, unknown);
    assert_int_equal(
        count(f, "SELECT count(*) FROM users WHERE id = %s AND locked_until > now()", f->viewer_id),
        1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE resource = 'user/%s' "
                           "AND action = 'user.lock'",
                           f->viewer_id),
                     1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE resource = 'user/%s' AND "
                           "action = 'session.refused' AND summary->>'reason' = 'locked'",
                           f->viewer_id),
                     1);
    /* per user: Ada still signs in */
    session admin;
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &admin, NULL, 0), 201);
    /* four failures, then a success, reset the count */
    char path[64];
    (void)gw_test_format(path, sizeof path, "/api/v1/users/%s", f->viewer_id);
    assert_int_equal(status_of(f, &admin, "PATCH", path, "{\"unlock\": true}"), 200);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sign_in(f, "vera", "not-her-password", &s, NULL, 0), 401);
    }
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &s, NULL, 0), 201);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sign_in(f, "vera", "not-her-password", &s, NULL, 0), 401);
    }
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &s, NULL, 0), 201);
    /* a disabled user: the same answer */
    assert_int_equal(status_of(f, &admin, "PATCH", path, "{\"disabled\": true}"), 200);
    assert_int_equal(status_of(f, &s, "GET", "/api/v1/campaigns", NULL), 401);
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &s, locked, sizeof locked), 401);
    assert_string_equal(locked, unknown);
}

/* Refused sign-ins from one address, whatever the names, make it wait out
 * the window (429, Retry-After) even with a right password; afterwards it
 * signs in, and a new failure starts a new count. */
static void test_an_address_spraying_passwords_waits(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session s;
    assert_int_equal(sign_in(f, "nobody", ADMIN_PW, &s, NULL, 0), 401);
    assert_int_equal(sign_in(f, "vera", "not-her-password", &s, NULL, 0), 401);
    assert_int_equal(sign_in(f, "Ada", "not-her-password", &s, NULL, 0), 401);
    assert_int_equal(sign_in(f, "someone", "whatever-at-all", &s, NULL, 0), 401);
    assert_int_equal(count(f, "SELECT failures FROM sign_in_failures WHERE addr = '127.0.0.1'"), 4);

    json_t *answer = NULL;
    char body[256], retry[32];
    (void)gw_test_format(body, sizeof body, "{\"name\": \"Ada\", \"password\": \"%s\"}", ADMIN_PW);
    ecm_test_http_answer a;
    const char *headers[] = {"Expect:", "Content-Type: application/json", NULL};
    ecm_test_http_request(&a, f->api->port, "POST", "/api/v1/session", headers, body, strlen(body),
                          NULL);
    assert_int_equal(a.status, 429);
    assert_int_equal(ecm_test_http_header(&a, "Retry-After", retry, sizeof retry), 0);
    long after = strtol(retry, NULL, 10);
    assert_true(after >= 1 && after <= 300);
    answer = json_loads(a.body, 0, NULL);
    assert_non_null(strstr(gw_test_jstr(answer, "detail"), "too many refused sign-ins"));
    json_decref(answer);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(count(f, "SELECT count(*) FROM user_sessions WHERE user_id = %s", f->admin_id),
                     0);
    /* the lock-out counts of the users were not touched by the refusal */
    assert_int_equal(count(f, "SELECT failed_logins FROM users WHERE id = %s", f->admin_id), 1);

    /* the window is past: the right password works again */
    ecm_test_pg_exec(f->api->conn, "UPDATE sign_in_failures SET first_at = now() - "
                                   "interval '301 seconds'");
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &s, NULL, 0), 201);
    assert_int_equal(sign_in(f, "vera", "not-her-password", &s, NULL, 0), 401);
    assert_int_equal(count(f, "SELECT failures FROM sign_in_failures WHERE addr = '127.0.0.1'"), 1);
}

static void test_sessions_end_on_sign_out_idle_and_age(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session a, b, c;
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &a, NULL, 0), 201);
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &b, NULL, 0), 201);
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &c, NULL, 0), 201);
    /* sign-out needs the CSRF token, clears the cookie, ends only that one */
    assert_int_equal(call(f, &a, NULL, "DELETE", "/api/v1/session", NULL, NULL, NULL, 0), 403);
    char cookie[256];
    assert_int_equal(
        call(f, &a, a.csrf, "DELETE", "/api/v1/session", NULL, NULL, cookie, sizeof cookie), 204);
    assert_non_null(strstr(cookie, GW_SESSION_COOKIE "=;"));
    assert_non_null(strstr(cookie, "Max-Age=0"));
    assert_int_equal(status_of(f, &a, "GET", "/api/v1/session", NULL), 401);
    assert_int_equal(status_of(f, &b, "GET", "/api/v1/session", NULL), 200);
    /* idle longer than the idle timeout */
    ecm_test_pg_exec(f->api->conn,
                     "UPDATE user_sessions SET last_seen_at = now() - interval '1801 s' "
                     "WHERE csrf_token = '%s'",
                     b.csrf);
    assert_int_equal(status_of(f, &b, "GET", "/api/v1/session", NULL), 401);
    /* older than the absolute bound, however used */
    assert_int_equal(status_of(f, &c, "GET", "/api/v1/session", NULL), 200);
    ecm_test_pg_exec(f->api->conn,
                     "UPDATE user_sessions SET expires_at = now() - interval '1 s' "
                     "WHERE csrf_token = '%s'",
                     c.csrf);
    assert_int_equal(status_of(f, &c, "GET", "/api/v1/session", NULL), 401);
}

static void test_admins_manage_users_and_keep_one_admin(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session admin, sam;
    assert_int_equal(sign_in(f, "Ada", ADMIN_PW, &admin, NULL, 0), 201);
    const char *sam_body = "{\"name\": \"Sam\", \"role\": \"supervisor\", "
                           "\"password\": \"sam-password-12\"}";
    json_t *made = NULL;
    assert_int_equal(call(f, &admin, admin.csrf, "POST", "/api/v1/users", sam_body, &made, NULL, 0),
                     201);
    long long sam_id = gw_test_jint(made, "id");
    assert_string_equal(gw_test_jstr(made, "role"), "supervisor");
    assert_null(json_object_get(made, "password_hash"));
    json_decref(made);
    /* the same name in another case, a weak password */
    assert_int_equal(status_of(f, &admin, "POST", "/api/v1/users",
                               "{\"name\": \"SAM\", \"role\": \"viewer\", "
                               "\"password\": \"another-password\"}"),
                     409);
    assert_int_equal(
        status_of(f, &admin, "POST", "/api/v1/users",
                  "{\"name\": \"tim\", \"role\": \"viewer\", \"password\": \"short\"}"),
        400);
    assert_int_equal(status_of(f, &admin, "POST", "/api/v1/users",
                               "{\"name\": \"tim\", \"role\": \"viewer\", "
                               "\"password\": \"TIM\"}"),
                     400);
    assert_int_equal(sign_in(f, "sam", "sam-password-12", &sam, NULL, 0), 201);
    /* the last admin cannot be demoted, disabled or removed */
    char ada[64], path[64];
    (void)gw_test_format(ada, sizeof ada, "/api/v1/users/%s", f->admin_id);
    (void)gw_test_format(path, sizeof path, "/api/v1/users/%lld", sam_id);
    assert_int_equal(status_of(f, &admin, "PATCH", ada, "{\"role\": \"viewer\"}"), 409);
    assert_int_equal(status_of(f, &admin, "PATCH", ada, "{\"disabled\": true}"), 409);
    assert_int_equal(status_of(f, &admin, "DELETE", ada, NULL), 409);
    /* once Sam is an admin, Ada may step down */
    assert_int_equal(status_of(f, &admin, "PATCH", path, "{\"role\": \"admin\"}"), 200);
    assert_int_equal(status_of(f, &admin, "PATCH", ada, "{\"role\": \"supervisor\"}"), 200);
    /* roles are read on each request: Ada is no longer an admin */
    assert_int_equal(status_of(f, &admin, "GET", "/api/v1/users", NULL), 403);
    /* Sam's password reset by an admin ends Sam's sessions */
    session sam2;
    assert_int_equal(sign_in(f, "sam", "sam-password-12", &sam2, NULL, 0), 201);
    assert_int_equal(status_of(f, &sam2, "PATCH", ada, "{\"password\": \"ada-new-password\"}"),
                     200);
    assert_int_equal(status_of(f, &admin, "GET", "/api/v1/session", NULL), 401);
    assert_int_equal(sign_in(f, "Ada", "ada-new-password", &admin, NULL, 0), 201);
    /* removing a user ends its sessions */
    assert_int_equal(status_of(f, &sam2, "DELETE", ada, NULL), 204);
    assert_int_equal(status_of(f, &admin, "GET", "/api/v1/session", NULL), 401);
    assert_int_equal(status_of(f, &sam2, "GET", ada, NULL), 404);
    /* every change audited, naming who made it, never a password */
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%%' "
                              "AND actor_kind = 'user' AND actor_name IN ('Ada', 'Sam') "
                              "AND summary::text NOT LIKE '%%password-%%'"),
                     5);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE summary::text LIKE "
                              "'%%password-%%'"),
                     0);
}

static void test_a_user_changes_their_own_password(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    session a, b;
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &a, NULL, 0), 201);
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &b, NULL, 0), 201);
    assert_int_equal(status_of(f, &a, "POST", "/api/v1/session/password",
                               "{\"current\": \"wrong-password\", \"new\": \"vera-new-password\"}"),
                     403);
    assert_int_equal(status_of(f, &a, "POST", "/api/v1/session/password",
                               "{\"current\": \"" VIEWER_PW "\", \"new\": \"too-short\"}"),
                     400);
    assert_int_equal(status_of(f, &a, "POST", "/api/v1/session/password",
                               "{\"current\": \"" VIEWER_PW "\", \"new\": \"vera-new-password\"}"),
                     204);
    /* this session goes on, the other ended; the old password is refused */
    assert_int_equal(status_of(f, &a, "GET", "/api/v1/session", NULL), 200);
    assert_int_equal(status_of(f, &b, "GET", "/api/v1/session", NULL), 401);
    assert_int_equal(sign_in(f, "vera", VIEWER_PW, &b, NULL, 0), 401);
    assert_int_equal(sign_in(f, "vera", "vera-new-password", &b, NULL, 0), 201);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE action = 'user.password' "
                           "AND actor_id = '%s'",
                           f->viewer_id),
                     1);
}

static void test_sign_in_takes_only_json(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    json_t *answer = NULL;
    assert_int_equal(gw_test_send(f->api, "POST", "/api/v1/session", "text/plain",
                                  "{\"name\": \"Ada\", \"password\": \"" ADMIN_PW "\"}", &answer,
                                  NULL, 0),
                     415);
    json_decref(answer);
    assert_int_equal(count(f, "SELECT count(*) FROM user_sessions"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_password_policy),
        cmocka_unit_test(test_configure_makes_no_hash_at_the_default_cost),
        cmocka_unit_test_setup_teardown(test_a_sign_in_gives_a_cookie_session_stored_hashed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_change_needs_the_csrf_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_viewer_is_refused_a_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_lock_the_user_with_one_answer_for_all, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_end_on_sign_out_idle_and_age, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_admins_manage_users_and_keep_one_admin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_user_changes_their_own_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_in_takes_only_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_address_spraying_passwords_waits, setup_spray,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
