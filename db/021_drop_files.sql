-- Files picked up from the drop folder (issue 17, ecm-dropbox): one row per
-- file identity (its path relative to the drop folder, size and modification
-- time in nanoseconds), claimed with INSERT ... ON CONFLICT DO NOTHING, so a
-- file is uploaded once across restarts and replicas. The claimant renews
-- its lease (owner, lease_until: database clock) while it streams; another
-- replica takes a file over only once the lease is past. The upload it made
-- is recorded (the gateway finds it again by its ECM-Upload-Ref
-- "drop-<id>" when the process died before it learnt the id). The file is
-- moved (archive or failed folder) only after the row says archived or
-- failed; moved_at records the move, so a crash in between re-does the move,
-- never the upload.
CREATE TABLE drop_files (
    id bigserial PRIMARY KEY,
    rel_path text NOT NULL CHECK (rel_path <> ''),
    size bigint NOT NULL CHECK (size >= 0),
    mtime_ns bigint NOT NULL,
    campaign_id bigint,
    state text NOT NULL DEFAULT 'claimed'
        CHECK (state IN ('claimed', 'uploading', 'archived', 'failed')),
    owner text,
    lease_until timestamptz,
    upload_id bigint REFERENCES uploads (id),
    reason text,
    moved_to text,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    moved_at timestamptz,
    UNIQUE (rel_path, size, mtime_ns),
    CHECK ((state IN ('claimed', 'uploading')) = (owner IS NOT NULL AND lease_until IS NOT NULL))
);
-- Done files whose move is still to do (a crash between the two).
CREATE INDEX drop_files_unmoved ON drop_files (id)
    WHERE state IN ('archived', 'failed') AND moved_at IS NULL;
