-- A contact's jurisdiction (issue 16): where the rules of lib/rules/ecm_rules
-- look for the contact's rule sets.
--
-- region: the jurisdiction the upload's state / region / province column
-- gave ("US-FL", "GB"; a bare "FL" is read in the campaign's country), NULL
-- when the file says nothing. subject_key: the debt or subject a cap counts
-- across campaigns (the upload's subject_key / debt_id column). phone_regions:
-- per number, in the order of phones / phone_types / phone_zones, the
-- jurisdiction of the number itself (lib/rules/ecm_phone's
-- ecm_phone_subdivision: "US-FL", "CA-ON", "US" when the state is unknown,
-- "GB"), NULL for a number without a place.
--
-- attempts.phone_key: the number's digits, so that a cap or quiet period
-- scoped to the number counts attempts of every campaign (the consent
-- ledger keys numbers the same way).
ALTER TABLE contacts ADD COLUMN region text,        -- explicit jurisdiction from the upload (US-FL)
                     ADD COLUMN subject_key text,   -- debt / subject for cross-campaign caps
                     ADD COLUMN phone_regions text[]; -- per phone: US-FL, GB, US (state unknown) or NULL
CREATE INDEX contacts_subject ON contacts (subject_key) WHERE subject_key IS NOT NULL;
ALTER TABLE attempts ADD COLUMN phone_key text GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9]', '', 'g')) STORED;
CREATE INDEX attempts_phone_key_dispatched ON attempts (phone_key, dispatched_at);
