-- SMS campaigns: message template and gateway per campaign, the SMS side of
-- attempts (our message id, segments, DLRs), the do-not-call list, inbound
-- messages (opt-out keywords) and system messages (opt-out confirmations).

ALTER TABLE campaigns
    ADD COLUMN sms_template  text,
    ADD COLUMN sms_sender    text,
    ADD COLUMN sms_gateway   text,
    ADD COLUMN dlr_timeout_s integer NOT NULL DEFAULT 86400 CHECK (dlr_timeout_s > 0),
    ADD CONSTRAINT campaigns_sms_template CHECK (channel <> 'sms' OR sms_template IS NOT NULL);

-- message_id is ECM's own id, carried in the gateway's dlr-url so that a DLR
-- maps back to exactly one attempt; gateway_ref is the gateway's id if it
-- gives one. dlr_status is the last DLR code seen (Kannel's numbering).
ALTER TABLE attempts
    ADD COLUMN message_id  text UNIQUE,
    ADD COLUMN gateway_ref text,
    ADD COLUMN encoding    text CHECK (encoding IN ('GSM7', 'UCS2')),
    ADD COLUMN segments    integer,
    ADD COLUMN dlr_status  integer,
    ADD COLUMN dlr_at      timestamptz;
CREATE INDEX attempts_sms_awaiting_dlr ON attempts (sent_at)
    WHERE channel = 'sms' AND status = 'sent';

-- Every DLR received, for the record and for support; handling is idempotent
-- on the attempt, so a gateway's resend adds a row here and changes nothing else.
CREATE TABLE sms_dlrs (
    id          bigserial PRIMARY KEY,
    message_id  text NOT NULL,
    status      integer NOT NULL,
    detail      text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_dlrs_message ON sms_dlrs (message_id);

-- Do-not-call: campaign_id NULL is the global list. phone holds the number as
-- normalised by the upload (digits, optional leading '+'), compared by digits.
CREATE TABLE dnc (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL,
    phone_key   text GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9]', '', 'g')) STORED,
    campaign_id bigint REFERENCES campaigns (id) ON DELETE CASCADE,
    source      text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'upload', 'sms_optout')),
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX dnc_unique ON dnc (phone_key, COALESCE(campaign_id, 0));

-- Inbound (MO) messages and what ECM did with them.
CREATE TABLE sms_inbound (
    id          bigserial PRIMARY KEY,
    from_phone  text NOT NULL,
    to_phone    text,
    body        text NOT NULL,
    keyword     text,
    action      text NOT NULL CHECK (action IN ('opt_out', 'opt_in', 'help', 'none')),
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Messages ECM sends on its own account (opt-out confirmations, HELP answers):
-- queued in the same transaction as the inbound message, sent by the sender.
CREATE TABLE sms_system_messages (
    id          bigserial PRIMARY KEY,
    to_phone    text NOT NULL,
    body        text NOT NULL,
    message_id  text NOT NULL UNIQUE,
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX sms_system_queued ON sms_system_messages (id) WHERE state IN ('queued', 'sending');
