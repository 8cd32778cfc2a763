-- Vacuum follows the churn of the queue-like tables (docs/performance.md,
-- "The third step"): a contact's state and an attempt change several
-- times within seconds of each other, outbox and campaign_count_deltas
-- rows are deleted soon after their insert. The default (a vacuum once 20%
-- of the table is dead) lets a million-contact table carry 200,000 dead
-- rows, and their index entries, which the queue reads (the feeder's take
-- and target list, the outbox relay) step over until the vacuum.
ALTER TABLE contacts SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE campaign_count_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
