-- Who may use the API (issue 14): API keys with a role, and the audit log of
-- every change.
--
-- A key is shown once, as "ecm_<id>_<secret>": id is 16 hex digits, not
-- secret, the row's primary key; secret is 64 hex digits (256 random bits),
-- stored only as its SHA-256. A high-entropy secret needs no slow hash: no
-- dictionary reaches it, and SHA-256 keeps a lookup per request cheap.
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'viewer')),
    secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text,          -- key id that created it; NULL: the command line
    expires_at    timestamptz,   -- NULL: never
    revoked_at    timestamptz,
    revoked_by    text,
    last_used_at  timestamptz    -- kept to the minute
);

-- One row per change, written in the transaction of the change. Append-only:
-- the trigger below refuses UPDATE, DELETE and TRUNCATE, to every role the
-- services connect as. (A database superuser can still drop the trigger;
-- ship the rows to a store the operators cannot edit if that matters.)
--
-- actor_kind: 'key' (an API key), 'user' (a console user, issue 18),
-- 'cli' (ecm-gateway on the database's own credentials), 'none' (a gateway
-- without the guard: the handlers' unit tests only).
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('key', 'user', 'cli', 'none')),
    actor_id    text NOT NULL,
    actor_name  text NOT NULL,
    role        text NOT NULL,
    client_addr text,
    method      text NOT NULL,
    route       text NOT NULL,   -- the route's pattern, "/api/v1/campaigns/{}"
    action      text NOT NULL,   -- "campaign.create", "dnc.remove", "key.revoke", ...
    resource    text NOT NULL,   -- "campaign/12", "dnc/+12125550100", "key/0a1b..."
    summary     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_resource ON audit_log (resource, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- A text cell of a CSV export that a spreadsheet would run as a formula
-- (it starts with =, +, -, @, a tab or a carriage return: OWASP's list) is
-- prefixed with an apostrophe, so that it is shown as text.
CREATE FUNCTION ecm_csv_safe(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN t ~ '^[-=+@\t\r]' THEN '''' || t ELSE t END;
