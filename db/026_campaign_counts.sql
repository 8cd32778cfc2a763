-- A campaign's counts (contacts by state, closed contacts by outcome,
-- attempts by outcome) without counting its rows at every read: GET
-- /api/v1/campaigns/{id} and the list, which the console polls, counted a
-- million-contact campaign in 0.6-0.7 s (docs/performance.md).
--
-- Statement-level triggers with transition tables append what each
-- statement changed, summed by (campaign, kind, key), to
-- campaign_count_deltas, in the statement's own transaction: exact, and a
-- crash can't make them drift. Appending (not adding to a counter row)
-- lets concurrent transactions of one campaign write without waiting for
-- each other. The gateway folds a campaign's deltas into campaign_counts
-- when it reads them (one at a time per campaign, by an advisory lock),
-- and every few seconds for all campaigns; a reader sums both tables.
--
-- kind: 's' contacts by state, 'o' closed contacts by outcome ('UNKNOWN'
-- when none), 'a' attempts by outcome ('' while an attempt has none).
CREATE TABLE campaign_counts (
    campaign_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('s', 'o', 'a')),
    key         text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (campaign_id, kind, key)
);

CREATE TABLE campaign_count_deltas (
    campaign_id bigint NOT NULL,
    kind        text NOT NULL,
    key         text NOT NULL,
    n           bigint NOT NULL
);
CREATE INDEX campaign_count_deltas_campaign ON campaign_count_deltas (campaign_id);

-- The rows of one side of a statement (sign +1: new, -1: old) as counts.
CREATE FUNCTION campaign_counts_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT x.campaign_id, x.kind, x.key, sum(x.n) FROM (
            SELECT campaign_id, 's' AS kind, state AS key, 1 AS n FROM new_rows
            UNION ALL SELECT campaign_id, 'o', coalesce(outcome, 'UNKNOWN'), 1 FROM new_rows
                WHERE state = 'closed') x
        GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT x.campaign_id, x.kind, x.key, sum(x.n) FROM (
            SELECT campaign_id, 's' AS kind, state AS key, 1 AS n FROM new_rows
            UNION ALL SELECT campaign_id, 'o', coalesce(outcome, 'UNKNOWN'), 1 FROM new_rows
                WHERE state = 'closed'
            UNION ALL SELECT campaign_id, 's', state, -1 FROM old_rows
            UNION ALL SELECT campaign_id, 'o', coalesce(outcome, 'UNKNOWN'), -1 FROM old_rows
                WHERE state = 'closed') x
        GROUP BY 1, 2, 3 HAVING sum(x.n) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT x.campaign_id, x.kind, x.key, sum(x.n) FROM (
            SELECT campaign_id, 's' AS kind, state AS key, -1 AS n FROM old_rows
            UNION ALL SELECT campaign_id, 'o', coalesce(outcome, 'UNKNOWN'), -1 FROM old_rows
                WHERE state = 'closed') x
        GROUP BY 1, 2, 3;
    ELSE -- TRUNCATE
        DELETE FROM campaign_counts WHERE kind IN ('s', 'o');
        DELETE FROM campaign_count_deltas WHERE kind IN ('s', 'o');
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION campaign_counts_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT campaign_id, 'a', coalesce(outcome, ''), count(*) FROM new_rows GROUP BY 1, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT x.campaign_id, 'a', x.key, sum(x.n) FROM (
            SELECT campaign_id, coalesce(outcome, '') AS key, 1 AS n FROM new_rows
            UNION ALL SELECT campaign_id, coalesce(outcome, ''), -1 FROM old_rows) x
        GROUP BY 1, 3 HAVING sum(x.n) <> 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO campaign_count_deltas (campaign_id, kind, key, n)
        SELECT campaign_id, 'a', coalesce(outcome, ''), -count(*) FROM old_rows GROUP BY 1, 3;
    ELSE -- TRUNCATE
        DELETE FROM campaign_counts WHERE kind = 'a';
        DELETE FROM campaign_count_deltas WHERE kind = 'a';
    END IF;
    RETURN NULL;
END $$;

-- No writer may change contacts or attempts between the triggers and the
-- back-fill (the migration is one transaction).
LOCK TABLE contacts, attempts IN SHARE MODE;

CREATE TRIGGER contacts_counts_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_contacts();
CREATE TRIGGER contacts_counts_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_contacts();
CREATE TRIGGER contacts_counts_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_contacts();
CREATE TRIGGER contacts_counts_truncate AFTER TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_contacts();

CREATE TRIGGER attempts_counts_insert AFTER INSERT ON attempts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_attempts();
CREATE TRIGGER attempts_counts_update AFTER UPDATE ON attempts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_attempts();
CREATE TRIGGER attempts_counts_delete AFTER DELETE ON attempts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_attempts();
CREATE TRIGGER attempts_counts_truncate AFTER TRUNCATE ON attempts
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_counts_attempts();

INSERT INTO campaign_counts (campaign_id, kind, key, n)
SELECT campaign_id, 's', state, count(*) FROM contacts GROUP BY 1, 3
UNION ALL
SELECT campaign_id, 'o', coalesce(outcome, 'UNKNOWN'), count(*) FROM contacts
    WHERE state = 'closed' GROUP BY 1, 3
UNION ALL
SELECT campaign_id, 'a', coalesce(outcome, ''), count(*) FROM attempts GROUP BY 1, 3;
