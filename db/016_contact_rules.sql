-- Issue 16: contact rules as data. A rule set is a named list of rules for
-- one jurisdiction (ISO 3166-1 country "US", ISO 3166-2 subdivision "US-FL",
-- or "*" for everywhere): allowed hours, days off, rolling caps and quiet
-- periods after an outcome. A campaign picks rule sets and may add its own
-- blackout days. The shipped sets live in rules/*.json, one readable file a
-- set, and are loaded at the end of this file by ecm_rule_set_load (the
-- "-- @load" lines are replaced by cmake/embed_migrations.cmake). docs/rules.md
-- says how to read and change them.

CREATE TABLE rule_sets (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    jurisdiction text NOT NULL CHECK (jurisdiction ~ '^(\*|[A-Z]{2}(-[A-Z0-9]{1,3})?)$'),
    description  text NOT NULL DEFAULT '',
    -- loaded from rules/ by a migration; a customer's own set is false
    shipped      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row a rule. Each kind has exactly its own columns (the others NULL),
-- checked by one named constraint a kind so an error says which kind broke.
CREATE TABLE rules (
    id            bigserial PRIMARY KEY,
    rule_set_id   bigint NOT NULL REFERENCES rule_sets (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('hours', 'day_off', 'cap', 'quiet')),
    says          text NOT NULL CHECK (btrim(says) <> ''), -- plain words
    source        text,  -- citation: statute or regulation section + URL
    checked_on    date,  -- when the source was last checked
    -- hours: allowed local [start_min, end_min) minutes of the day on the
    -- weekdays in wdays (0 = Sunday .. 6 = Saturday)
    wdays         int[],
    start_min     int,
    end_min       int,
    -- day_off: a local calendar day with no contact at all
    day           date,
    -- cap: at most max_attempts in any rolling window of window_s seconds
    max_attempts  int,
    window_s      bigint,
    -- quiet: no attempt for quiet_s seconds after an attempt ended with
    -- after_outcome
    after_outcome text,
    quiet_s       bigint,
    -- cap, quiet: which earlier attempts count (contact, subject, phone)
    scope         text CHECK (scope IN ('contact', 'subject', 'phone')),
    channel       text NOT NULL DEFAULT 'all' CHECK (channel IN ('voice', 'sms', 'all')),
    CONSTRAINT rules_hours CHECK (kind <> 'hours' OR (
        wdays IS NOT NULL AND array_ndims(wdays) = 1 AND cardinality(wdays) > 0
        AND wdays <@ '{0,1,2,3,4,5,6}'::int[]
        AND start_min IS NOT NULL AND end_min IS NOT NULL
        AND 0 <= start_min AND start_min < end_min AND end_min <= 1440
        AND day IS NULL AND max_attempts IS NULL AND window_s IS NULL
        AND after_outcome IS NULL AND quiet_s IS NULL AND scope IS NULL)),
    CONSTRAINT rules_day_off CHECK (kind <> 'day_off' OR (
        day IS NOT NULL
        AND wdays IS NULL AND start_min IS NULL AND end_min IS NULL
        AND max_attempts IS NULL AND window_s IS NULL
        AND after_outcome IS NULL AND quiet_s IS NULL AND scope IS NULL)),
    CONSTRAINT rules_cap CHECK (kind <> 'cap' OR (
        max_attempts IS NOT NULL AND max_attempts > 0
        AND window_s IS NOT NULL AND window_s > 0 AND scope IS NOT NULL
        AND wdays IS NULL AND start_min IS NULL AND end_min IS NULL AND day IS NULL
        AND after_outcome IS NULL AND quiet_s IS NULL)),
    CONSTRAINT rules_quiet CHECK (kind <> 'quiet' OR (
        after_outcome IS NOT NULL AND after_outcome IN (
            'CONNECTED', 'NO_ANSWER', 'BUSY', 'ANSWERING_MACHINE', 'FAX', 'INVALID_NUMBER',
            'NETWORK_ERROR', 'ABANDONED', 'CALLBACK_REQUESTED', 'AGENT_REJECTED',
            'WRONG_PARTY', 'NOT_ATTEMPTED', 'DNC', 'EXPIRED', 'SMS_DELIVERED',
            'SMS_UNDELIVERED', 'SMS_REJECTED', 'SMS_EXPIRED', 'MAX_ATTEMPTS')
        AND quiet_s IS NOT NULL AND quiet_s > 0 AND scope IS NOT NULL
        AND wdays IS NULL AND start_min IS NULL AND end_min IS NULL AND day IS NULL
        AND max_attempts IS NULL AND window_s IS NULL))
);
CREATE INDEX rules_rule_set ON rules (rule_set_id);

-- The sets a campaign picked. A set in use cannot be deleted (RESTRICT).
CREATE TABLE campaign_rule_sets (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    rule_set_id bigint NOT NULL REFERENCES rule_sets (id) ON DELETE RESTRICT,
    PRIMARY KEY (campaign_id, rule_set_id)
);
CREATE INDEX campaign_rule_sets_set ON campaign_rule_sets (rule_set_id);

-- A campaign's own days off (local calendar days of the contact's zone).
CREATE TABLE campaign_blackouts (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    day         date NOT NULL,
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (campaign_id, day)
);

-- A shipped rule cites its source and the day it was checked. A CHECK
-- cannot see the set, so a trigger does; it also runs when a set becomes
-- shipped.
CREATE FUNCTION ecm_rules_shipped_cited() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    IF TG_TABLE_NAME = 'rules' THEN
        IF (NEW.source IS NULL OR btrim(NEW.source) = '' OR NEW.checked_on IS NULL)
           AND EXISTS (SELECT 1 FROM rule_sets WHERE id = NEW.rule_set_id AND shipped) THEN
            RAISE EXCEPTION 'a rule of a shipped rule set needs a source and checked_on'
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.shipped THEN
        SELECT id INTO bad FROM rules
         WHERE rule_set_id = NEW.id
           AND (source IS NULL OR btrim(source) = '' OR checked_on IS NULL)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'rule set "%" is shipped but its rule % has no source or checked_on',
                NEW.name, bad USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rules_shipped_cited BEFORE INSERT OR UPDATE ON rules
    FOR EACH ROW EXECUTE FUNCTION ecm_rules_shipped_cited();
CREATE TRIGGER rule_sets_shipped_cited BEFORE INSERT OR UPDATE OF shipped ON rule_sets
    FOR EACH ROW EXECUTE FUNCTION ecm_rules_shipped_cited();

-- updated_at of a set moves with any change to the set or its rules.
CREATE FUNCTION ecm_rule_sets_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER rule_sets_touch BEFORE UPDATE ON rule_sets
    FOR EACH ROW EXECUTE FUNCTION ecm_rule_sets_touch();

-- Statement-level with transition tables: one UPDATE a statement, whatever
-- the number of rules it changed.
CREATE FUNCTION ecm_rules_touch_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE rule_sets SET updated_at = now()
         WHERE id IN (SELECT rule_set_id FROM new_rules) AND updated_at <> now();
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE rule_sets SET updated_at = now()
         WHERE id IN (SELECT rule_set_id FROM new_rules
                      UNION SELECT rule_set_id FROM old_rules) AND updated_at <> now();
    ELSE
        UPDATE rule_sets SET updated_at = now()
         WHERE id IN (SELECT rule_set_id FROM old_rules) AND updated_at <> now();
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER rules_touch_set_insert AFTER INSERT ON rules
    REFERENCING NEW TABLE AS new_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_touch_set();
CREATE TRIGGER rules_touch_set_update AFTER UPDATE ON rules
    REFERENCING OLD TABLE AS old_rules NEW TABLE AS new_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_touch_set();
CREATE TRIGGER rules_touch_set_delete AFTER DELETE ON rules
    REFERENCING OLD TABLE AS old_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_touch_set();

-- One counter any cache can compare: every statement that changes rule
-- sets, rules, campaign picks or blackouts moves it (statement-level, so a
-- bulk change moves it once; a statement that changed no row moves it too,
-- which only costs a cache reload).
CREATE TABLE rules_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL
);
INSERT INTO rules_generation (one, n) VALUES (true, 1);

CREATE FUNCTION ecm_rules_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rules_generation SET n = n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_sets_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule_sets
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_generation_bump();
CREATE TRIGGER rules_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_generation_bump();
CREATE TRIGGER campaign_rule_sets_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaign_rule_sets
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_generation_bump();
CREATE TRIGGER campaign_blackouts_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaign_blackouts
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_rules_generation_bump();

-- "HH:MM" (00:00 .. 24:00) -> minutes of the day; raises on anything else.
CREATE FUNCTION ecm_rules_hhmm(t text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    m int;
BEGIN
    IF t IS NULL OR t !~ '^[0-9]{2}:[0-9]{2}$' THEN
        RAISE EXCEPTION 'time "%" is not HH:MM', t USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := substr(t, 1, 2)::int * 60 + substr(t, 4, 2)::int;
    IF substr(t, 4, 2)::int > 59 OR m > 1440 THEN
        RAISE EXCEPTION 'time "%" is not between 00:00 and 24:00', t
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN m;
END $$;

-- A rule's duration: "window_s"/"quiet_s" (whole seconds, a JSON number) or
-- "window"/"quiet" (a PostgreSQL interval in words: "24 hours", "7 days"),
-- exactly one. NULL when neither is there.
CREATE FUNCTION ecm_rules_duration(r jsonb, key text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    secs numeric;
BEGIN
    IF r ? key AND r ? (key || '_s') THEN
        RAISE EXCEPTION 'give "%" or "%_s", not both', key, key
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF r ? (key || '_s') THEN
        IF jsonb_typeof(r -> (key || '_s')) <> 'number' THEN
            RAISE EXCEPTION '"%_s" is not a number', key USING ERRCODE = 'invalid_parameter_value';
        END IF;
        secs := (r ->> (key || '_s'))::numeric;
    ELSIF r ? key THEN
        IF jsonb_typeof(r -> key) <> 'string' THEN
            RAISE EXCEPTION '"%" is not a string like "7 days"', key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- An interval with months is not a fixed number of seconds.
        IF extract(month FROM (r ->> key)::interval) <> 0
           OR extract(year FROM (r ->> key)::interval) <> 0 THEN
            RAISE EXCEPTION '"%": "%" has months or years; say it in days', key, r ->> key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        secs := extract(epoch FROM (r ->> key)::interval);
    ELSE
        RETURN NULL;
    END IF;
    IF secs <> trunc(secs) THEN
        RAISE EXCEPTION '"%" is not a whole number of seconds', key
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN secs::bigint;
END $$;

-- Inserts or replaces a shipped rule set from its JSON file (format in
-- docs/rules.md) and returns its id. A shipped set of the same name keeps
-- its id (campaign picks survive) and gets the file's jurisdiction,
-- description and rules; a customer's own set (shipped = false) of the same
-- name is left alone, with a NOTICE, and NULL is returned. Bad data raises
-- an error naming the set and the rule (1-based), and changes nothing.
CREATE FUNCTION ecm_rule_set_load(j jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    set_name text;
    juris    text;
    descr    text;
    set_id   bigint;
    is_ship  boolean;
    r        jsonb;
    i        int := 0;
    k        text;
    allowed  text[];
    wd       int[];
    con      text;
    hint     text;
BEGIN
    IF j IS NULL OR jsonb_typeof(j) <> 'object' THEN
        RAISE EXCEPTION 'rule set: not a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    set_name := CASE WHEN jsonb_typeof(j -> 'name') = 'string' THEN j ->> 'name' END;
    IF set_name IS NULL OR btrim(set_name) = '' THEN
        RAISE EXCEPTION 'rule set: "name" missing or not a string'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k IN SELECT jsonb_object_keys(j) LOOP
        IF k NOT IN ('name', 'jurisdiction', 'description', 'rules') THEN
            RAISE EXCEPTION 'rule set "%": unknown key "%"', set_name, k
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    juris := CASE WHEN jsonb_typeof(j -> 'jurisdiction') = 'string' THEN j ->> 'jurisdiction' END;
    IF juris IS NULL OR juris !~ '^(\*|[A-Z]{2}(-[A-Z0-9]{1,3})?)$' THEN
        RAISE EXCEPTION 'rule set "%": "jurisdiction" must be "*", a country ("US") or a subdivision ("US-FL")',
            set_name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF j ? 'description' AND jsonb_typeof(j -> 'description') <> 'string' THEN
        RAISE EXCEPTION 'rule set "%": "description" is not a string', set_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    descr := coalesce(j ->> 'description', '');
    IF jsonb_typeof(j -> 'rules') IS DISTINCT FROM 'array' OR jsonb_array_length(j -> 'rules') = 0 THEN
        RAISE EXCEPTION 'rule set "%": "rules" must be a non-empty array', set_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT id, shipped INTO set_id, is_ship FROM rule_sets WHERE name = set_name FOR UPDATE;
    IF FOUND AND NOT is_ship THEN
        RAISE NOTICE 'rule set "%" (id %) is the customer''s own: the shipped set of that name is not loaded',
            set_name, set_id;
        RETURN NULL;
    ELSIF FOUND THEN
        DELETE FROM rules WHERE rule_set_id = set_id;
        UPDATE rule_sets SET jurisdiction = juris, description = descr WHERE id = set_id;
    ELSE
        INSERT INTO rule_sets (name, jurisdiction, description, shipped)
        VALUES (set_name, juris, descr, true) RETURNING id INTO set_id;
    END IF;

    FOR r IN SELECT value FROM jsonb_array_elements(j -> 'rules') LOOP
        i := i + 1;
        BEGIN
            IF jsonb_typeof(r) <> 'object' THEN
                RAISE EXCEPTION 'not a JSON object' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            allowed := CASE r ->> 'kind'
                WHEN 'hours'   THEN '{wdays,start,end}'
                WHEN 'day_off' THEN '{day}'
                WHEN 'cap'     THEN '{max_attempts,window,window_s,scope}'
                WHEN 'quiet'   THEN '{after_outcome,quiet,quiet_s,scope}'
            END;
            IF allowed IS NULL THEN
                RAISE EXCEPTION '"kind" must be hours, day_off, cap or quiet, not %',
                    coalesce(r -> 'kind', 'null'::jsonb) USING ERRCODE = 'invalid_parameter_value';
            END IF;
            allowed := allowed || '{kind,says,source,checked_on,channel}'::text[];
            FOR k IN SELECT jsonb_object_keys(r) LOOP
                IF NOT k = ANY (allowed) THEN
                    RAISE EXCEPTION 'unknown key "%" for a % rule', k, r ->> 'kind'
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
            END LOOP;
            FOR k IN SELECT unnest('{says,source,checked_on}'::text[]) LOOP
                IF jsonb_typeof(r -> k) IS DISTINCT FROM 'string' OR btrim(r ->> k) = '' THEN
                    RAISE EXCEPTION '"%" missing or empty (a shipped rule says what it does, cites its source and the day it was checked)',
                        k USING ERRCODE = 'invalid_parameter_value';
                END IF;
            END LOOP;
            IF r ->> 'checked_on' !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
                RAISE EXCEPTION '"checked_on" is not YYYY-MM-DD' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF r ? 'day' AND (jsonb_typeof(r -> 'day') <> 'string'
                              OR r ->> 'day' !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$') THEN
                RAISE EXCEPTION '"day" is not YYYY-MM-DD' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOR k IN SELECT unnest('{start,end,scope,channel,after_outcome}'::text[]) LOOP
                IF r ? k AND jsonb_typeof(r -> k) <> 'string' THEN
                    RAISE EXCEPTION '"%" is not a string', k USING ERRCODE = 'invalid_parameter_value';
                END IF;
            END LOOP;
            IF r ? 'max_attempts' AND jsonb_typeof(r -> 'max_attempts') <> 'number' THEN
                RAISE EXCEPTION '"max_attempts" is not a number' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            wd := NULL;
            IF r ? 'wdays' THEN
                IF jsonb_typeof(r -> 'wdays') <> 'array'
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(r -> 'wdays') e
                               WHERE jsonb_typeof(e) <> 'number') THEN
                    RAISE EXCEPTION '"wdays" is not an array of numbers 0 (Sunday) .. 6 (Saturday)'
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                SELECT array_agg(e::text::int) INTO wd FROM jsonb_array_elements(r -> 'wdays') e;
            END IF;
            INSERT INTO rules (rule_set_id, kind, says, source, checked_on, wdays, start_min,
                               end_min, day, max_attempts, window_s, after_outcome, quiet_s,
                               scope, channel)
            VALUES (set_id, r ->> 'kind', r ->> 'says', r ->> 'source',
                    (r ->> 'checked_on')::date, wd,
                    CASE WHEN r ? 'start' THEN ecm_rules_hhmm(r ->> 'start') END,
                    CASE WHEN r ? 'end' THEN ecm_rules_hhmm(r ->> 'end') END,
                    (r ->> 'day')::date, (r ->> 'max_attempts')::int,
                    ecm_rules_duration(r, 'window'), r ->> 'after_outcome',
                    ecm_rules_duration(r, 'quiet'), r ->> 'scope',
                    coalesce(r ->> 'channel', 'all'));
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS con = CONSTRAINT_NAME;
            -- A table CHECK says which constraint; say what it wants.
            hint := CASE con
                WHEN 'rules_hours' THEN 'an hours rule has "wdays" (a non-empty list of 0 = Sunday .. 6 = Saturday), "start" and "end" ("HH:MM", start before end, end at most 24:00) and no other kind''s field'
                WHEN 'rules_day_off' THEN 'a day_off rule has "day" (YYYY-MM-DD) and no other kind''s field'
                WHEN 'rules_cap' THEN 'a cap rule has "max_attempts" (> 0), "window" (> 0) and "scope", and no other kind''s field'
                WHEN 'rules_quiet' THEN 'a quiet rule has "after_outcome" (one of CONNECTED NO_ANSWER BUSY ANSWERING_MACHINE FAX INVALID_NUMBER NETWORK_ERROR ABANDONED CALLBACK_REQUESTED AGENT_REJECTED WRONG_PARTY NOT_ATTEMPTED DNC EXPIRED SMS_DELIVERED SMS_UNDELIVERED SMS_REJECTED SMS_EXPIRED MAX_ATTEMPTS), "quiet" (> 0) and "scope", and no other kind''s field'
                WHEN 'rules_scope_check' THEN '"scope" is contact, subject or phone'
                WHEN 'rules_channel_check' THEN '"channel" is voice, sms or all'
                WHEN 'rules_says_check' THEN '"says" must say something'
            END;
            IF hint IS NOT NULL THEN
                RAISE EXCEPTION 'rule set "%": rule % (%): %', set_name, i,
                    coalesce(r ->> 'kind', '?'), hint USING ERRCODE = SQLSTATE, DETAIL = SQLERRM;
            END IF;
            RAISE EXCEPTION 'rule set "%": rule % (%): %', set_name, i,
                coalesce(r ->> 'kind', '?'), SQLERRM USING ERRCODE = SQLSTATE;
        END;
    END LOOP;
    RETURN set_id;
END $$;

-- The shipped sets (rules/*.json).
-- @load rules/us_federal_tcpa.json
-- @load rules/us_regulation_f.json
-- @load rules/us_federal_holidays.json
-- @load rules/us_fl_ftsa.json
-- @load rules/us_la_telephonic_solicitation.json
-- @load rules/us_md_spam_calls.json
-- @load rules/us_ms_telephone_solicitation.json
-- @load rules/us_ok_otsa.json
-- @load rules/gb_ofcom_abandoned.json

-- Campaigns that exist now, in the US, keep calling under the federal hours
-- they had through ECM_LEGAL_HOURS, now as a rule set they can see.
INSERT INTO campaign_rule_sets (campaign_id, rule_set_id)
SELECT c.id, s.id
  FROM campaigns c
  JOIN rule_sets s ON s.name = 'US federal (TCPA)' AND s.shipped
 WHERE c.region = 'US';
