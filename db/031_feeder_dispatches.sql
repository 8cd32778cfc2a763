-- The attempts the feeder has recorded for each Cisco target, in all
-- (issue 19). Before each batch the feeder needs what the target holds now
-- (its attempts 'sending' and 'sent') against the hold. Counting them reads
-- attempts_inflight, whose entries for attempts already gone on stay until
-- no transaction can see those versions: at 2,000 attempts a second that
-- was ~5,000 dead entries for ~2,000 live ones, 2-19 ms a batch and a tenth
-- of the feeder's loop, the critical path of a voice run
-- (docs/performance.md, "The feeder's in-flight count"). An attempt enters
-- 'sending' only by the feeder's insert, so a count taken earlier plus the
-- attempts recorded since bounds what the target holds now; the feeder
-- counts again only when that bound leaves no room for a batch. The row is
-- written in the batch's transaction, under the target's advisory lock, so
-- every replica's batches are in it once they commit.
CREATE TABLE feeder_dispatches (
    target     text PRIMARY KEY,           -- attempts.target: "uccx:<id>", "ucce_api:<id>", ...
    dispatched bigint NOT NULL DEFAULT 0   -- attempts recorded for it, ever
);
