-- Reading contacts through the API (issue 14): a campaign's contacts newest
-- first, paged by id, and found by account number.
CREATE INDEX contacts_campaign_id ON contacts (campaign_id, id);
CREATE INDEX contacts_campaign_account ON contacts (campaign_id, account_number);
