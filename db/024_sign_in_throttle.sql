-- Sign-in failures per client address (issue 18): the per-user lock-out
-- stops guessing one user's password; this stops one address trying a few
-- passwords on many users ("password spraying"). A row counts the refused
-- sign-ins from addr since first_at; once the window is past, the next
-- failure starts a new count. Shared by every gateway replica.
CREATE TABLE sign_in_failures (
    addr     text PRIMARY KEY,
    failures integer NOT NULL CHECK (failures >= 1),
    first_at timestamptz NOT NULL DEFAULT now()
);
