-- Fewer index entries an attempt (issue 19). A change of status is never a
-- HOT update (status is in five partial indexes' predicates), so each of
-- the two or three a voice or SMS attempt goes through writes a new entry
-- into every index of attempts whose predicate the row meets; with the
-- insert, ~24 index entries a voice attempt before this (docs/performance.md,
-- "Fewer index entries an attempt"). Two of them served nothing:
--
-- attempts_contact_dispatched (contact_id, dispatched_at): every query
-- that reads a contact's attempts (the strategy's day count, the contact
-- rules' history, the eligibility check, the console) asks for contact_id
-- and then filters on an expression of dispatched_at or on an OR with
-- outcome_at that the second column cannot serve. The primary key
-- (contact_id, attempt) finds the same rows, a contact's handful.
DROP INDEX attempts_contact_dispatched;

-- attempts_message_id_key: an SMS attempt's message id, unique. A voice
-- attempt has none, and a btree keeps an entry for NULL too: one written at
-- each of its versions and never read. Unique where there is an id; every
-- lookup is by an id (message_id = ..., a strict operator implies NOT
-- NULL), and the sms service's ON CONFLICT DO NOTHING names no conflict
-- target, so this index still arbitrates it.
ALTER TABLE attempts DROP CONSTRAINT attempts_message_id_key;
CREATE UNIQUE INDEX attempts_message_id_key ON attempts (message_id) WHERE message_id IS NOT NULL;

-- attempts_phone_key_dispatched (phone_key, dispatched_at): the contact
-- rules' history of a number across campaigns asks phone_key = ... and
-- then an OR of dispatched_at and outcome_at, which the second column
-- cannot serve. A number's key alone makes the entries of one number equal,
-- so B-tree deduplication keeps them as one key and a list of row ids:
-- a smaller index, and fewer of its pages touched (each a full-page image
-- in the WAL after a checkpoint: its inserts land at random places, the
-- largest share of images after the contacts heap).
CREATE INDEX attempts_phone_key ON attempts (phone_key);
DROP INDEX attempts_phone_key_dispatched;
