-- Issue 17: a contact may move between channels (voice <-> SMS) by its
-- strategy, and a closed contact may be re-opened for another round.

-- The channel of the contact's next attempt: NULL is the campaign's own
-- channel (voice for voice_ivr/voice_agent, sms for sms); 'voice' or 'sms'
-- after a strategy rule switched it. The feeder takes queued contacts whose
-- channel is voice, the sms service those whose channel is sms.
ALTER TABLE contacts
    ADD COLUMN channel text CHECK (channel IN ('voice', 'sms')),
    -- the last channel switch a rule asked for and the strategy skipped, in
    -- plain words ("SMS step skipped: no mobile number"); NULL: none
    ADD COLUMN channel_note text,
    -- the first attempt of the contact's current round: 1, or attempts + 1
    -- when a recycle re-opened it. The strategy's per-outcome and
    -- per-channel caps count the attempts of the round; account numbers
    -- keep counting across rounds (attempt numbers never repeat).
    ADD COLUMN round_first_attempt integer NOT NULL DEFAULT 1 CHECK (round_first_attempt > 0);

-- A rule may switch the channel: once switch_after attempts of the round
-- ended with the rule's outcome, the next attempt goes on switch_channel.
ALTER TABLE strategy_rules
    ADD COLUMN switch_channel text CHECK (switch_channel IN ('voice', 'sms')),
    ADD COLUMN switch_after integer NOT NULL DEFAULT 1 CHECK (switch_after > 0);

-- Caps per channel, besides max_attempts over all channels (NULL: none).
ALTER TABLE strategies
    ADD COLUMN max_voice_attempts integer CHECK (max_voice_attempts > 0),
    ADD COLUMN max_sms_attempts integer CHECK (max_sms_attempts > 0);
