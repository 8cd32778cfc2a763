-- Pause and stop that reach the dialer (issue 15). An attempt the feeder
-- took back from Cisco before it was dialled is 'withdrawn': it never
-- counts against the strategy's caps and its contact goes back to
-- 'queued' (contacts.attempts is not decremented: account numbers never
-- repeat). withdraw_kept marks a 'sent' attempt of a paused or stopped
-- campaign the feeder already looked at and left with the dialer (dialled,
-- or the interface can't withdraw it), so it is not looked at again.
ALTER TABLE attempts DROP CONSTRAINT attempts_status_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_status_check
    CHECK (status IN ('sending', 'sent', 'done', 'withdrawn'));
ALTER TABLE attempts ADD COLUMN withdraw_kept boolean NOT NULL DEFAULT false;
-- The withdrawal pass: 'sent' attempts not looked at yet, by campaign.
CREATE INDEX attempts_withdrawable ON attempts (campaign_id)
    WHERE status = 'sent' AND NOT withdraw_kept;
-- The hold: a target's results over a sliding window (its dial rate).
CREATE INDEX attempts_target_result ON attempts (target, result_at)
    WHERE result_at IS NOT NULL;
