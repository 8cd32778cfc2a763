-- Uploads cut off by a crash (issue 12): an owner and a lease, the point
-- each committed batch reached, and the 'interrupted' state.
--
-- owner: the gateway process that streams the upload (a random instance id,
-- then host:pid for people). lease_until: renewed (database clock) at each
-- committed batch and by the owner's timer; once it is past, any gateway
-- marks the upload 'interrupted'. committed_line / committed_bytes /
-- committed_sha256: after the last committed batch, its last line (CSV) or
-- item (JSON), the bytes of the body read by then and the SHA-256 (hex) of
-- those bytes; a resume must send a file whose first committed_bytes bytes
-- hash to it, and continues after committed_line.
ALTER TABLE uploads DROP CONSTRAINT uploads_state_check;
ALTER TABLE uploads
    ADD CONSTRAINT uploads_state_check
        CHECK (state IN ('running', 'done', 'failed', 'interrupted')),
    ADD COLUMN owner            text,
    ADD COLUMN lease_until      timestamptz,
    ADD COLUMN committed_line   bigint NOT NULL DEFAULT 0,
    ADD COLUMN committed_bytes  bigint NOT NULL DEFAULT 0,
    ADD COLUMN committed_sha256 text,
    ADD COLUMN interrupted_at   timestamptz,
    ADD COLUMN resumes          integer NOT NULL DEFAULT 0;

-- Uploads left 'running' by a version without leases: their owner is gone
-- (a restart applied this migration), so the first sweep marks them.
UPDATE uploads SET lease_until = now() WHERE state = 'running';

CREATE INDEX uploads_running_lease ON uploads (lease_until) WHERE state = 'running';
