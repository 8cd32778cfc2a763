/* Console users: their passwords (Argon2id through libsodium, at the cost
 * gw_session_configure set), the password policy, the admin's routes
 * /api/v1/users and the command line "ecm-gateway users".
 *
 * Policy: a password has 12 to 1024 bytes of valid UTF-8, at least 12
 * characters, and is not the user's name (any case). The last enabled
 * admin cannot be removed, disabled or demoted (409). Disabling a user,
 * removing it or resetting its password ends its sessions. Every change is
 * an audit row; no password or hash is ever in one. */
#ifndef GW_USERS_H
#define GW_USERS_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_auth.h"

#define GW_USER_NAME_MAX 200
#define GW_PASSWORD_MIN_CHARS 12
#define GW_PASSWORD_MAX_BYTES 1024

/* Does password meet the policy for a user called name? Returns NULL when
 * it does, else why not (a static text to show). */
const char *gw_password_weak(const char *password, size_t len, const char *name);

/* Hashes password into out (crypto_pwhash_STRBYTES = 128 bytes) at the
 * configured cost. At most 4 hashes or verifications run at once in the
 * process (each takes memlimit bytes); more wait their turn. Returns 0, or
 * -1 when out of memory. */
int gw_password_hash(const char *password, size_t len, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Does password match hash (crypto_pwhash_str_verify)? 1 or 0. Waits for
 * its turn as gw_password_hash does. */
int gw_password_verify(const char *hash, const char *password, size_t len);

/* A new user on pg (in the caller's transaction if one is open): checks
 * the name and the policy, hashes password. created_by: "user/<id>",
 * "key/<id>" or NULL. On success writes its id (>= 24 bytes) and returns
 * 0; else -1 with a reason in err, and *conflict set when the name is
 * taken (1) rather than invalid or a database error (0). */
int gw_users_create(ecm_pg *pg, const char *name, gw_role role, const char *password,
                    const char *created_by, char *id, size_t id_size, int *conflict, char *err,
                    size_t err_size) __attribute__((warn_unused_result));

/* GET/POST /api/v1/users, GET/PATCH/DELETE /api/v1/users/{id}. Returns 0,
 * or -1 when the route table is full. */
int gw_users_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

/* 'ecm-gateway users create --name NAME --role ROLE' (password read from
 * stdin, one line) and 'ecm-gateway users list' on the database of dsn
 * (migrations applied first). argv[0] is "users". Returns the exit
 * status. */
int gw_users_cli(int argc, char **argv, const char *dsn);

#endif
