/* Console sign-in: server-side sessions in a cookie, their CSRF tokens, the
 * lock-out after repeated failures, and the routes /api/v1/session.
 *
 * A session's token is 256 random bits, 64 hex digits, sent once in the
 * cookie "ecm_session" (HttpOnly, SameSite=Strict, Path=/, Secure unless
 * configured off) and stored only as its SHA-256. Each session has its own
 * CSRF token (256 random bits) that a change must echo in X-CSRF-Token.
 * A session ends when signed out, after idle_s without a request, after
 * max_s in all, or when its user is disabled or removed.
 *
 * Sign-in answers the same 401 for a wrong name, a wrong password, a
 * disabled user and a locked one, and runs one Argon2id at the configured
 * cost whichever it is (for an unknown name, a hash of the password tried,
 * thrown away), so that neither the answer nor its time says whether a name
 * exists. max_failures wrong passwords in a
 * row lock the user for lock_s; the audit log says so. addr_max_failures
 * refused sign-ins from one client address within addr_window_s (whatever
 * the names) make that address wait out the window: 429 with Retry-After,
 * before any name is looked up. */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <stddef.h>

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_auth.h"

#define GW_SESSION_COOKIE "ecm_session"
#define GW_SESSION_TOKEN_HEX 64

typedef struct {
    unsigned long long opslimit; /* Argon2id passes (crypto_pwhash) */
    size_t memlimit;             /* Argon2id memory, bytes */
    int max_failures;            /* wrong passwords in a row that lock a user */
    long long lock_s;            /* how long a lock lasts */
    long long idle_s;            /* a session ends after this long unused */
    long long max_s;             /* ... and this long after sign-in in all */
    int cookie_secure;           /* the cookie says Secure */
    int addr_max_failures;       /* refused sign-ins from one address ... */
    long long addr_window_s;     /* ... within this long: 429 until the window is past */
} gw_session_settings;

/* The defaults: libsodium's interactive cost, 5 failures, 900 s lock, 1800 s
 * idle, 43200 s in all, Secure cookies, 30 failures an address in 300 s.
 * Can't fail. */
gw_session_settings gw_session_defaults(void);

/* Sets the process's session settings (copied) and prepares libsodium; no
 * hash is made (each takes memlimit bytes while it runs). Call once before serving (main, a test's
 * setup); the settings are read-only afterwards. Returns 0, or -1 when
 * libsodium cannot start or the cost is out of its range (logged). */
int gw_session_configure(const gw_session_settings *s) __attribute__((warn_unused_result));

/* The settings gw_session_configure set (the defaults before). */
const gw_session_settings *gw_session_settings_get(void);

/* The session token of req's Cookie header (64 lower-case hex digits), or
 * NULL when it carries none of that form. Copied into out (65 bytes). */
const char *gw_session_cookie(ecm_http_req *req, char out[GW_SESSION_TOKEN_HEX + 1]);

/* Looks up the live session of token through pg, renewing its idle time:
 * fills p (kind "user", the user's id, name and role; session: the session
 * id) and csrf (65 bytes). Returns 1, 0 when the session is not live (or
 * its user disabled), -1 on a database error. */
int gw_session_lookup(ecm_pg *pg, const char *token, gw_principal *p,
                      char csrf[GW_SESSION_TOKEN_HEX + 1]) __attribute__((warn_unused_result));

/* Is the X-CSRF-Token header of req the session's csrf (constant time)? */
int gw_session_csrf_ok(ecm_http_req *req, const char *csrf);

/* Ends every live session of user_id on pg (in the caller's transaction),
 * but keep_session (a session id, or NULL). Returns how many, -1 on a
 * database error. */
long long gw_session_end_user(ecm_pg *pg, const char *user_id, const char *keep_session)
    __attribute__((warn_unused_result));

/* Writes an audit row on pg naming a user as the actor (sign-in and its
 * failures, made before any principal exists). Returns 0 or -1. */
int gw_session_audit_user(ecm_pg *pg, ecm_http_req *req, const char *user_id, const char *name,
                          const char *role, const char *action, const json_t *summary)
    __attribute__((warn_unused_result));

/* POST/GET/DELETE /api/v1/session and POST /api/v1/session/password.
 * Returns 0, or -1 when the route table is full. */
int gw_session_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif
