-- ECM DB, first migration: campaigns, strategies, contacts, attempts, uploads,
-- the outbox, result-sync watermarks and the CallResult mapping.

CREATE TABLE strategies (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    max_attempts         integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    max_attempts_per_day integer NOT NULL DEFAULT 3 CHECK (max_attempts_per_day > 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- One rule per outcome. max_attempts caps the attempts that ended with this
-- outcome; next_phone moves the next attempt to the contact's next number.
CREATE TABLE strategy_rules (
    strategy_id   bigint NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
    outcome       text NOT NULL,
    action        text NOT NULL CHECK (action IN ('retry', 'close')),
    delay_seconds integer NOT NULL DEFAULT 0 CHECK (delay_seconds >= 0),
    max_attempts  integer NOT NULL DEFAULT 1 CHECK (max_attempts > 0),
    next_phone    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (strategy_id, outcome)
);

CREATE TABLE campaigns (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('voice_ivr', 'voice_agent', 'sms')),
    state             text NOT NULL DEFAULT 'draft'
                      CHECK (state IN ('draft', 'active', 'paused', 'stopped', 'completed', 'expired')),
    strategy_id       bigint NOT NULL REFERENCES strategies (id),
    cisco_kind        text CHECK (cisco_kind IN ('uccx', 'cce')),
    cisco_campaign_id text,
    region            text NOT NULL DEFAULT 'US',
    time_zone         text NOT NULL DEFAULT 'UTC',
    start_at          timestamptz,
    end_at            timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (channel = 'sms' OR (cisco_kind IS NOT NULL AND cisco_campaign_id IS NOT NULL))
);

CREATE TABLE uploads (
    id            bigserial PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES campaigns (id),
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    content_type  text,
    rows_read     bigint NOT NULL DEFAULT 0,
    rows_loaded   bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    errors        jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

-- Contact life: pending (loaded) -> queued (a dispatcher took it) -> dispatched
-- (an attempt is out) -> waiting (retry at next_attempt_at) -> retry_due (retry
-- event emitted) -> queued ... -> closed.
CREATE TABLE contacts (
    id              bigserial PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns (id),
    upload_id       bigint REFERENCES uploads (id),
    line_no         bigint,
    account_number  text,
    first_name      text,
    last_name       text,
    phones          text[] NOT NULL,
    custom          jsonb NOT NULL DEFAULT '{}',
    time_zone       text,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'queued', 'dispatched', 'waiting', 'retry_due', 'closed')),
    attempts        integer NOT NULL DEFAULT 0, -- dispatches so far (numbers account numbers)
    counted_attempts integer NOT NULL DEFAULT 0, -- attempts that count against the strategy caps
    phone_index     integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    outcome         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz
);
CREATE INDEX contacts_campaign_state ON contacts (campaign_id, state);
CREATE INDEX contacts_queued ON contacts (campaign_id, id) WHERE state = 'queued';
CREATE INDEX contacts_due ON contacts (next_attempt_at) WHERE state = 'waiting';

-- One row per dispatch. status: sending (recorded before the hand-off),
-- sent (the dialer or gateway accepted it), done (a result arrived).
CREATE TABLE attempts (
    contact_id     bigint NOT NULL REFERENCES contacts (id),
    attempt        integer NOT NULL CHECK (attempt > 0),
    campaign_id    bigint NOT NULL REFERENCES campaigns (id),
    channel        text NOT NULL,
    target         text,
    phone          text NOT NULL,
    account_number text NOT NULL UNIQUE,
    status         text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'done')),
    sending_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    result_at      timestamptz,
    raw_code       integer,
    raw_detail     integer,
    outcome        text,
    PRIMARY KEY (contact_id, attempt)
);
CREATE INDEX attempts_sending ON attempts (target, sending_at) WHERE status = 'sending';
CREATE INDEX attempts_inflight ON attempts (target) WHERE status IN ('sending', 'sent');
CREATE INDEX attempts_campaign ON attempts (campaign_id);

-- Transactional outbox: rows written with the state change, published in id
-- order by the relay, deleted only after the broker's delivery report.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    msg_key    text,
    ce_id      uuid NOT NULL,
    ce_type    text NOT NULL,
    ce_source  text NOT NULL,
    ce_time    timestamptz NOT NULL DEFAULT now(),
    payload    bytea NOT NULL
);

CREATE TABLE sync_watermarks (
    source     text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Cisco CallResult -> ECM outcome (Cisco Outbound Option guide). Data, so a
-- deployment can override a row without a rebuild.
CREATE TABLE call_result_map (
    call_result       integer PRIMARY KEY,
    outcome           text NOT NULL,
    counts_as_attempt boolean NOT NULL DEFAULT true,
    description       text NOT NULL
);
INSERT INTO call_result_map (call_result, outcome, counts_as_attempt, description) VALUES
    (2, 'NETWORK_ERROR', true, 'error condition while dialing'),
    (3, 'INVALID_NUMBER', true, 'number reported not in service by the network'),
    (4, 'NETWORK_ERROR', true, 'no ringback from the network'),
    (5, 'INVALID_NUMBER', true, 'operator intercept'),
    (6, 'NETWORK_ERROR', true, 'no dial tone'),
    (7, 'INVALID_NUMBER', true, 'number reported as invalid by the network'),
    (8, 'NO_ANSWER', true, 'customer phone did not answer'),
    (9, 'BUSY', true, 'customer phone was busy'),
    (10, 'CONNECTED', true, 'customer answered and was connected'),
    (11, 'FAX', true, 'fax machine detected'),
    (12, 'ANSWERING_MACHINE', true, 'answering machine detected'),
    (13, 'ABANDONED', true, 'dialer stopped dialing the customer (no agent)'),
    (14, 'CALLBACK_REQUESTED', true, 'customer requested a callback'),
    (15, 'CALLBACK_REQUESTED', true, 'callback: number successfully contacted but wrong time'),
    (16, 'ABANDONED', true, 'customer abandoned'),
    (17, 'AGENT_REJECTED', true, 'failed to reserve agent for personal callback'),
    (18, 'AGENT_REJECTED', true, 'agent rejected the preview call'),
    (19, 'AGENT_REJECTED', true, 'agent rejected the preview call with close'),
    (20, 'ABANDONED', true, 'customer abandoned to IVR'),
    (21, 'ABANDONED', true, 'customer dropped the call within the configured abandon time'),
    (22, 'ANSWERING_MACHINE', true, 'mostly used with TDM switches: network answering machine'),
    (23, 'WRONG_PARTY', true, 'number successfully contacted but wrong party'),
    (24, 'WRONG_PARTY', true, 'number successfully contacted but reached the wrong person'),
    (25, 'NOT_ATTEMPTED', false, 'dialer flushed the record without attempting it'),
    (26, 'DNC', true, 'customer is on the do-not-call list'),
    (27, 'NETWORK_ERROR', true, 'network disconnected while dialing'),
    (28, 'NO_ANSWER', true, 'dead air or low voice volume'),
    (29, 'NETWORK_ERROR', true, 'network error: SIP'),
    (30, 'NETWORK_ERROR', true, 'network error: dialer'),
    (31, 'NETWORK_ERROR', true, 'network error: gateway'),
    (32, 'NETWORK_ERROR', true, 'network error: other'),
    (33, 'AGENT_REJECTED', true, 'agent skipped or rejected the call');

-- The Default strategy, voice and SMS rules, editable.
INSERT INTO strategies (name, max_attempts, max_attempts_per_day) VALUES ('Default', 5, 3);
INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds, max_attempts, next_phone)
SELECT s.id, r.outcome, r.action, r.delay_seconds, r.max_attempts, r.next_phone
FROM strategies s,
     (VALUES ('CONNECTED', 'close', 0, 1, false),
             ('NO_ANSWER', 'retry', 3600, 3, false),
             ('BUSY', 'retry', 900, 3, false),
             ('ANSWERING_MACHINE', 'retry', 7200, 2, false),
             ('FAX', 'close', 0, 1, false),
             ('INVALID_NUMBER', 'retry', 0, 1, true),
             ('NETWORK_ERROR', 'retry', 300, 3, false),
             ('ABANDONED', 'retry', 600, 2, false),
             ('CALLBACK_REQUESTED', 'retry', 3600, 3, false),
             ('AGENT_REJECTED', 'retry', 600, 2, false),
             ('WRONG_PARTY', 'retry', 0, 1, true),
             ('NOT_ATTEMPTED', 'retry', 60, 5, false),
             ('DNC', 'close', 0, 1, false),
             ('SMS_DELIVERED', 'close', 0, 1, false),
             ('SMS_UNDELIVERED', 'retry', 3600, 2, false),
             ('SMS_REJECTED', 'close', 0, 1, false),
             ('SMS_EXPIRED', 'retry', 3600, 2, false))
     AS r (outcome, action, delay_seconds, max_attempts, next_phone)
WHERE s.name = 'Default';
