-- A client's own name for an upload (issue 14): sent as the header
-- ECM-Upload-Ref when the upload starts, so that the client can read the
-- upload's counts (GET /api/v1/uploads?client_ref=...) while its body is
-- still streaming, before the answer gives the upload's id.
ALTER TABLE uploads ADD COLUMN client_ref text
    CHECK (client_ref ~ '^[A-Za-z0-9._-]{1,64}$');
CREATE INDEX uploads_client_ref ON uploads (client_ref) WHERE client_ref IS NOT NULL;
