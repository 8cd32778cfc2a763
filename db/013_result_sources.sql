-- Result sources per Cisco system (issue 15). UCCE (Dialer_Detail) and UCCX
-- (db_cra dialinglist) number their CallResult codes differently (UCCE 10 is
-- a connected call, UCCX 10 an agent's preview reject with close), so the
-- CallResult -> outcome map is data per source kind.
ALTER TABLE call_result_map ADD COLUMN source_kind text NOT NULL DEFAULT 'ucce'
    CHECK (source_kind IN ('ucce', 'uccx'));
ALTER TABLE call_result_map ALTER COLUMN source_kind DROP DEFAULT;
ALTER TABLE call_result_map DROP CONSTRAINT call_result_map_pkey;
ALTER TABLE call_result_map ADD PRIMARY KEY (source_kind, call_result);

-- UCCX callResult codes (UCCX Admin and Reporting guides; see
-- docs/cisco-research.md 1.4), in ECM's words. counts_as_attempt is false
-- where the customer's phone was not dialled (an agent turned the preview
-- down or let it time out, a callback that was never placed). 13 is not
-- here: UCCX uses it internally and never stores it, so it would map as an
-- unknown code.
INSERT INTO call_result_map (source_kind, call_result, outcome, counts_as_attempt, description)
VALUES
    ('uccx', 1, 'CONNECTED', true, 'live voice, the customer was put through to an agent'),
    ('uccx', 2, 'FAX', true, 'a fax or modem answered'),
    ('uccx', 3, 'ANSWERING_MACHINE', true, 'an answering machine picked up'),
    ('uccx', 4, 'INVALID_NUMBER', true, 'the network reported the number as invalid'),
    ('uccx', 5, 'DNC', true, 'the customer asked never to be called again'),
    ('uccx', 6, 'WRONG_PARTY', true, 'someone answered, but the number was the wrong one'),
    ('uccx', 7, 'WRONG_PARTY', true, 'the number was right, the person who answered was not'),
    ('uccx', 8, 'CALLBACK_REQUESTED', true, 'the customer asked to be called back'),
    ('uccx', 9, 'AGENT_REJECTED', false, 'the agent turned the preview call down'),
    ('uccx', 10, 'AGENT_REJECTED', false,
     'the agent turned the preview call down and closed the record, nothing was dialled'),
    ('uccx', 11, 'BUSY', true, 'the line was busy'),
    ('uccx', 12, 'AGENT_REJECTED', false,
     'the agent did not take the preview offer before it timed out'),
    ('uccx', 14, 'NOT_ATTEMPTED', false,
     'a callback went by without being placed and the record was set to be retried'),
    ('uccx', 15, 'NO_ANSWER', true,
     'no answer before the timeout (ring no answer, or the gateway failed)'),
    ('uccx', 16, 'ABANDONED', true,
     'abandoned by the system: no IVR port free, or the transfer to one failed'),
    ('uccx', 17, 'NETWORK_ERROR', true,
     'the call failed in the gateway or network (cancelled, declined, down, timed out)'),
    ('uccx', 18, 'ABANDONED', true,
     'the customer hung up within the abandoned-call wait time');

-- The Dialer_Detail reader's watermark was named after the wrong system:
-- Dialer_Detail is UCCE's table. The row keeps its position under the new
-- name (the service's default source name changes with it).
UPDATE sync_watermarks SET source = 'ucce:Dialer_Detail'
WHERE source = 'uccx:Dialer_Detail'
  AND NOT EXISTS (SELECT 1 FROM sync_watermarks WHERE source = 'ucce:Dialer_Detail');

-- UCCX has no watermark (no documented change column on dialinglist), so
-- the uccx reader asks db_cra by key for ECM's outstanding uccx attempts and
-- remembers here, in the transaction that writes the CallResult event, that
-- an attempt's result was emitted: a result is emitted once.
ALTER TABLE attempts ADD COLUMN result_seen_at timestamptz;
CREATE INDEX attempts_uccx_outstanding ON attempts (sent_at, contact_id, attempt)
    WHERE status = 'sent' AND result_seen_at IS NULL AND target LIKE 'uccx:%';
