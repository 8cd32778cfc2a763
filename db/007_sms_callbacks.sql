-- Hardened SMS callbacks (issue 11): the reply limits and the retention purge.

-- The last reply (HELP answer, opt-out or opt-in confirmation) sent to a
-- number, by kind, in business time: at most one of a kind per
-- ECM_SMS_REPLY_INTERVAL_S. phone_key is the number's digits, as dnc.phone_key.
-- Updated in the inbound message's transaction, so the limit holds across
-- replicas; rows older than the interval are purged.
CREATE TABLE sms_reply_log (
    phone_key text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('help', 'opt_out', 'opt_in')),
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (phone_key, kind)
);
CREATE INDEX sms_reply_log_last ON sms_reply_log (last_at);

-- Replies in all per business minute (minutes since the epoch), capped at
-- ECM_SMS_REPLY_MAX_PER_MINUTE; past minutes are purged.
CREATE TABLE sms_reply_window (
    minute  bigint PRIMARY KEY,
    replies integer NOT NULL CHECK (replies >= 0)
);

-- The retention purge deletes by age, oldest first.
CREATE INDEX sms_dlrs_received ON sms_dlrs (received_at);
CREATE INDEX sms_inbound_received ON sms_inbound (received_at);
