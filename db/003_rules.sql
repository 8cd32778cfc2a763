-- Issue 5: normalised numbers and their types and zones, duplicate detection
-- per campaign, the upload report, DNC uploads, calling windows and the
-- business time of each dispatch.

-- Weekly calling window, in the form lib/ecm_window.h reads:
-- {"mon": [["09:00", "17:00"]], ...}. NULL: every day, so only the
-- deployment's legal hours (ECM_LEGAL_HOURS, default 08:00-21:00 local)
-- restrict it.
ALTER TABLE campaigns ADD COLUMN call_window jsonb;

-- Per phone (same order as phones): libphonenumber's number type
-- ("mobile", "fixed_line_or_mobile", ... see ecm_phone_type_name) and the
-- zone of the number's region when it has exactly one ('' when ambiguous,
-- e.g. +1). A contact's effective zone for phone i (1-based) is
--   COALESCE(time_zone, NULLIF(phone_zones[i], ''), campaigns.time_zone).
ALTER TABLE contacts
    ADD COLUMN phone_types text[],
    ADD COLUMN phone_zones text[];

-- Business time (lib/ecm_clock) of the dispatch: what windows and per-day
-- caps are checked against. sending_at stays the database's own time, used
-- for leases and reconcile ages.
ALTER TABLE attempts ADD COLUMN dispatched_at timestamptz;
CREATE INDEX attempts_contact_dispatched ON attempts (contact_id, dispatched_at);

-- Every number of every contact of a campaign, once: the upload reports a
-- row whose number is already here as a duplicate instead of loading it.
CREATE TABLE contact_phones (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone       text NOT NULL, -- E.164
    contact_id  bigint NOT NULL,
    PRIMARY KEY (campaign_id, phone)
);

-- Uploads of contacts (campaign_id set) and of DNC numbers (kind 'dnc',
-- campaign_id NULL for the global list). Counts are written with each
-- batch, so a GET while the upload runs shows its progress.
ALTER TABLE uploads
    ALTER COLUMN campaign_id DROP NOT NULL,
    ADD COLUMN kind           text NOT NULL DEFAULT 'contacts' CHECK (kind IN ('contacts', 'dnc')),
    ADD COLUMN rows_duplicate bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_dnc       bigint NOT NULL DEFAULT 0,
    ADD COLUMN bytes_read     bigint NOT NULL DEFAULT 0,
    ADD COLUMN bytes_total    bigint,
    ADD CONSTRAINT uploads_contacts_campaign CHECK (kind = 'dnc' OR campaign_id IS NOT NULL);

-- The upload's row report: every row not loaded as a new open contact, with
-- its line (for a JSON array: the item's position, from 1) and the reason.
-- kind: rejected (not loaded), duplicate (not loaded), dnc (loaded closed).
CREATE TABLE upload_rows (
    upload_id bigint NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    line_no   bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('rejected', 'duplicate', 'dnc')),
    reason    text NOT NULL,
    PRIMARY KEY (upload_id, line_no)
);

ALTER TABLE strategies ADD COLUMN description text;
