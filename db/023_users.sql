-- Console users (issue 18): people sign in with a name and a password and
-- get a server-side session; programs keep using API keys (db/009).
--
-- password_hash is libsodium's crypto_pwhash_str output (Argon2id, its cost
-- and salt inside the text), never the password. A name is unique whatever
-- its case ("Ana" and "ana" are one user).
CREATE TABLE users (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role                text NOT NULL CHECK (role IN ('admin', 'supervisor', 'viewer')),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled            boolean NOT NULL DEFAULT false,
    failed_logins       integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until        timestamptz,   -- NULL or past: not locked
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text           -- "user/<id>", "key/<id>"; NULL: the command line
);
CREATE UNIQUE INDEX users_name_ci ON users (lower(name));

-- One row a sign-in. id is the SHA-256 (hex) of the random token the
-- cookie carries, so that a copy of this table signs nobody in. A session
-- is live while ended_at is NULL, expires_at (absolute) is ahead and
-- last_seen_at is within the idle timeout. Removing a user removes its
-- sessions.
CREATE TABLE user_sessions (
    id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL CHECK (csrf_token ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    addr         text,
    user_agent   text
);
CREATE INDEX user_sessions_user ON user_sessions (user_id) WHERE ended_at IS NULL;
