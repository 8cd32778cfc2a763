-- The SMS STOP handler finds the contacts to close by key in contact_phones
-- (campaign_id, phone) instead of reading every contact's numbers
-- (docs/performance.md). The upload has written every number of the
-- contacts it loads there since 003; open contacts loaded before it (or
-- written by hand) get their numbers here, as the digits of each number
-- (what the STOP compared), when they can be an E.164 number. A number
-- already keyed for another contact of the campaign stays that contact's.
INSERT INTO contact_phones (campaign_id, phone, contact_id)
SELECT c.campaign_id, d.digits::bigint, c.id
FROM contacts c,
     unnest(c.phones) AS p (phone),
     LATERAL (SELECT regexp_replace(p.phone, '[^0-9]', '', 'g') AS digits) AS d
WHERE c.state <> 'closed'
  AND d.digits ~ '^[1-9][0-9]{0,14}$'
  AND NOT EXISTS (SELECT 1 FROM contact_phones x WHERE x.contact_id = c.id
                  AND x.campaign_id = c.campaign_id AND x.phone = d.digits::bigint)
ON CONFLICT (campaign_id, phone) DO NOTHING;
