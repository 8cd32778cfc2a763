-- The queue of each campaign, with each contact's channel in the index
-- (docs/performance.md, "The 1,000,000-contact run"). The feeder's and the
-- sms service's takes pick their candidates by an index-only scan of this
-- index (campaign, then id: the oldest first), the channel test included,
-- and only then lock those rows. Asked for the oldest queued contacts in id
-- order, the planner walked the primary key instead, filtering on state:
-- it expects queued contacts spread evenly over the ids, while the taken
-- ones are exactly the lowest, so each take read past every contact taken
-- so far (141 ms a take a quarter of the way into a million contacts,
-- growing). Replaces contacts_queued (same key and predicate).
CREATE INDEX contacts_queued_next ON contacts (campaign_id, id) INCLUDE (channel)
    WHERE state = 'queued';
DROP INDEX contacts_queued;
