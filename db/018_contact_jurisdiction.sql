-- placeholder of H-phone's migration (the contract's block), replaced by theirs at merge
ALTER TABLE contacts ADD COLUMN region text,
                     ADD COLUMN subject_key text,
                     ADD COLUMN phone_regions text[];
CREATE INDEX contacts_subject ON contacts (subject_key) WHERE subject_key IS NOT NULL;
ALTER TABLE attempts ADD COLUMN phone_key text GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9]', '', 'g')) STORED;
CREATE INDEX attempts_phone_key_dispatched ON attempts (phone_key, dispatched_at);
