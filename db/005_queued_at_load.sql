-- Uploads load contacts 'queued' (ready for the feeder or the sms service
-- as soon as their campaign is active) and announce each load batch with
-- one ContactsUploaded event; before, each contact was loaded 'pending'
-- with its own event, and the feeder or sms service rewrote every row to
-- 'queued' when the event came back: the whole upload written twice.
-- 'pending' stays a valid state for rows written before this version;
-- they are queued here, since nothing queues them any more.
UPDATE contacts SET state = 'queued', updated_at = now() WHERE state = 'pending';

-- contact_phones is written only by the upload, inside the transaction
-- that also writes the contacts of a campaign that exists; its check
-- against campaigns cost one lookup per number (two per contact) for
-- nothing. Campaigns are never deleted by ECM; whoever deletes one by hand
-- deletes its contact_phones rows too.
ALTER TABLE contact_phones DROP CONSTRAINT IF EXISTS contact_phones_campaign_id_fkey;

-- Outbox relays wait on a notification instead of polling the table: each
-- statement that adds outbox rows notifies once, delivered at commit (so a
-- relay never wakes for rows it cannot see yet). Idle services no longer
-- query the database every 50 ms each, and an event leaves at once.
CREATE FUNCTION ecm_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ecm_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION ecm_outbox_notify();
