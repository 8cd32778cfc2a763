-- Issue 17: recycling. A supervisor (or a campaign's schedule) re-opens
-- closed contacts of a campaign by outcome and age for another round under
-- the strategy, without a new upload. The contact keeps its history and its
-- attempt numbers (account numbers never repeat); round_first_attempt
-- (migration 020) marks where the new round starts.

-- How many times the contact was re-opened (max_rounds limits it).
ALTER TABLE contacts
    ADD COLUMN recycled integer NOT NULL DEFAULT 0 CHECK (recycled >= 0);

-- One row per recycle run (the API's, or a schedule's that re-opened
-- anything): who, what was asked and how many contacts it re-opened. "at" is
-- the business instant of the run (ecm_clock), created_at the DB's.
CREATE TABLE recycles (
    id           bigserial PRIMARY KEY,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    actor        text NOT NULL,   -- the API key's name, or 'schedule'
    actor_key_id text,            -- the API key's id; NULL for the schedule
    outcomes     text[] NOT NULL CHECK (cardinality(outcomes) > 0),
    older_than_s bigint NOT NULL CHECK (older_than_s >= 0),
    max_rounds   integer CHECK (max_rounds > 0),
    contacts     bigint NOT NULL CHECK (contacts >= 0),
    at           timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recycles_campaign ON recycles (campaign_id, id);

-- A campaign's recycle schedule: the strategy service re-opens, once per
-- ECM_RECYCLE_INTERVAL_S of business time, the campaign's closed contacts
-- with one of outcomes that closed at least older_than_s ago and were
-- re-opened fewer than max_rounds times (NULL: no limit). last_run_at is the
-- business instant of its last run.
CREATE TABLE campaign_recycle_schedules (
    campaign_id  bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    outcomes     text[] NOT NULL CHECK (cardinality(outcomes) > 0),
    older_than_s bigint NOT NULL CHECK (older_than_s >= 0),
    max_rounds   integer CHECK (max_rounds > 0),
    enabled      boolean NOT NULL DEFAULT true,
    last_run_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
