-- Why a contact is held back (issue 16): the dispatch gate writes, with a
-- contact it makes wait or closes EXPIRED, what held it in plain words and
-- the contact rule's id (NULL for the campaign's window or the legal hours);
-- both are cleared when the contact goes. GET /api/v1/contacts/{id} shows
-- them. No foreign key: a rule set replaced through the API renumbers its
-- rules, and the words stay true of the moment they were written.
ALTER TABLE contacts
    ADD COLUMN hold_reason text,
    ADD COLUMN hold_rule_id bigint;

-- When ECM learnt an attempt's outcome, in business time (the strategy's
-- clock; result_at is the dialer's or the gateway's): a quiet period after
-- an outcome (Reg F's 7 days after a conversation, Ofcom's 72 hours after an
-- abandoned call) counts from it. NULL for older rows: result_at is used.
ALTER TABLE attempts ADD COLUMN outcome_at timestamptz;
