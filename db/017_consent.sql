-- Issue 16: one consent record across channels.
--
-- consent_ledger is the record: every "do not contact" (revoke) and every
-- "may contact again" (grant) of a number, for a channel scope (voice, sms,
-- all), on every campaign (campaign_id NULL) or one, with where it came from
-- and who. It is append-only. dnc is the current state derived from it, one
-- row per (number, campaign scope, channel) that is revoked now: the state
-- of a channel is the latest entry (by business time at, then id) covering
-- that channel for the same number and campaign scope. A trigger on ledger
-- INSERT (per statement) keeps dnc so; nothing else writes dnc rows.

CREATE TABLE consent_ledger (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL,
    phone_key   text GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9]', '', 'g')) STORED,
    campaign_id bigint REFERENCES campaigns (id) ON DELETE CASCADE,   -- NULL: every campaign
    scope       text NOT NULL CHECK (scope IN ('voice', 'sms', 'all')),
    action      text NOT NULL CHECK (action IN ('revoke', 'grant')),  -- revoke = do not contact
    source      text NOT NULL CHECK (source IN ('stop_keyword', 'start_keyword', 'api', 'upload',
                                                'agent_disposition', 'migration')),
    reason      text,
    actor       text NOT NULL,   -- key id / user, 'sms-mo', 'strategy', 'migration'
    at          timestamptz NOT NULL,             -- business time
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK (phone_key <> '')
);
CREATE INDEX consent_ledger_number ON consent_ledger (phone_key, at, id);
CREATE INDEX consent_ledger_campaign ON consent_ledger (campaign_id) WHERE campaign_id IS NOT NULL;

-- Append-only, as audit_log: UPDATE is refused, and so is a DELETE stated
-- directly. The rows of a deleted campaign go with it (the foreign key's
-- cascade runs from a trigger, pg_trigger_depth() > 1).
CREATE FUNCTION consent_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consent_ledger is append-only: % refused (append a grant or a revoke)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER consent_ledger_no_update_delete BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

-- ---- dnc becomes the derived state -------------------------------------

ALTER TABLE dnc DROP CONSTRAINT IF EXISTS dnc_source_check;
ALTER TABLE dnc ADD COLUMN channel text CHECK (channel IN ('voice', 'sms')),
                ADD COLUMN ledger_id bigint REFERENCES consent_ledger (id) ON DELETE CASCADE;

-- Existing entries migrate into the ledger: one revoke for all channels per
-- entry, its source kept (an SMS opt-out is a STOP keyword), at the time it
-- was listed. The old table held one entry per (number, campaign scope).
INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, reason, actor, at,
                            recorded_at)
SELECT phone, campaign_id, 'all', 'revoke',
       CASE source WHEN 'sms_optout' THEN 'stop_keyword' WHEN 'upload' THEN 'upload' ELSE 'api' END,
       reason, 'migration', created_at, created_at
FROM dnc ORDER BY id;

UPDATE dnc d SET channel = 'voice',
       source = CASE d.source WHEN 'sms_optout' THEN 'stop_keyword' ELSE d.source END,
       ledger_id = l.id
FROM consent_ledger l
WHERE l.phone_key = d.phone_key AND l.campaign_id IS NOT DISTINCT FROM d.campaign_id;
DROP INDEX dnc_unique;
INSERT INTO dnc (phone, campaign_id, source, reason, created_at, channel, ledger_id)
SELECT phone, campaign_id, source, reason, created_at, 'sms', ledger_id FROM dnc;

ALTER TABLE dnc ALTER COLUMN channel SET NOT NULL,
                ALTER COLUMN ledger_id SET NOT NULL,
                ADD CONSTRAINT dnc_source_check CHECK (source IN ('stop_keyword', 'api', 'upload',
                                                                  'agent_disposition', 'migration'));
CREATE UNIQUE INDEX dnc_unique ON dnc (phone_key, COALESCE(campaign_id, 0), channel);
CREATE INDEX dnc_ledger ON dnc (ledger_id);

-- The state of every (number, campaign scope, channel) an INSERT's entries
-- cover, from the ledger into dnc, in one pass over the statement's rows
-- (a DNC upload appends thousands at once): a row when the latest entry
-- covering the channel is a revoke, none else. The row's created_at is when
-- that entry was recorded (database time, as attempts.sending_at), its
-- source and reason the entry's.
--
-- Two transactions writing entries for the same number must not derive
-- from snapshots that each miss the other's entry: the statement first
-- takes, in order, a transaction lock per bucket of its numbers (256
-- buckets of hashtext(phone_key)), and derives after, in a snapshot taken
-- once the other transaction has committed.
CREATE FUNCTION consent_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4410163, b)
    FROM (SELECT DISTINCT hashtext(phone_key) & 255 AS b FROM added ORDER BY 1) s;
    WITH k AS (
        SELECT DISTINCT a.phone_key, a.campaign_id, ch.channel
        FROM added a JOIN (VALUES ('voice'), ('sms')) AS ch (channel)
          ON a.scope IN (ch.channel, 'all')),
    latest AS (
        SELECT k.phone_key, k.campaign_id, k.channel, e.id, e.phone, e.action, e.source,
               e.reason, e.recorded_at
        FROM k CROSS JOIN LATERAL (
            SELECT x.id, x.phone, x.action, x.source, x.reason, x.recorded_at
            FROM consent_ledger x
            WHERE x.phone_key = k.phone_key AND x.campaign_id IS NOT DISTINCT FROM k.campaign_id
              AND x.scope IN (k.channel, 'all')
            ORDER BY x.at DESC, x.id DESC LIMIT 1) e),
    granted AS (
        DELETE FROM dnc d USING latest l
        WHERE l.action = 'grant' AND d.phone_key = l.phone_key
          AND d.campaign_id IS NOT DISTINCT FROM l.campaign_id AND d.channel = l.channel
        RETURNING 1)
    INSERT INTO dnc (phone, campaign_id, channel, source, reason, created_at, ledger_id)
    SELECT l.phone, l.campaign_id, l.channel, l.source, l.reason, l.recorded_at, l.id
    FROM latest l WHERE l.action = 'revoke'
    ON CONFLICT (phone_key, (COALESCE(campaign_id, 0)), channel) DO UPDATE
        SET phone = EXCLUDED.phone, source = EXCLUDED.source, reason = EXCLUDED.reason,
            created_at = EXCLUDED.created_at, ledger_id = EXCLUDED.ledger_id
        WHERE dnc.ledger_id IS DISTINCT FROM EXCLUDED.ledger_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER consent_ledger_derive AFTER INSERT ON consent_ledger
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_apply();

-- dnc is written by consent_ledger_apply only. A row inserted straight into dnc
-- (older tools and fixtures: INSERT INTO dnc (phone[, campaign_id][, source]))
-- becomes what it means, a revoke in the ledger for its channel (all when
-- none is given), whose derivation then writes the rows; UPDATE and DELETE
-- stated directly are refused (append a grant instead).
CREATE FUNCTION dnc_derived_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, reason, actor, at)
        VALUES (NEW.phone, NEW.campaign_id, coalesce(NEW.channel, 'all'), 'revoke',
                CASE NEW.source WHEN 'sms_optout' THEN 'stop_keyword'
                                WHEN 'upload' THEN 'upload'
                                WHEN 'stop_keyword' THEN 'stop_keyword'
                                WHEN 'agent_disposition' THEN 'agent_disposition'
                                ELSE 'api' END,
                NEW.reason, current_user, coalesce(NEW.created_at, now()));
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'dnc is derived from consent_ledger: % refused (append a grant or a revoke)',
        TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- Only for statements run directly (depth 0): the rows the ledger's
-- trigger writes, and the foreign keys' cascades, do not pay for a call.
CREATE TRIGGER dnc_derived BEFORE INSERT OR UPDATE OR DELETE ON dnc
    FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION dnc_derived_only();
