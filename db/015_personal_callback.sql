-- Personal callbacks on UCCE (issue 15). A CallResult 14/15 that names an
-- agent (Dialer_Detail.AgentPeripheralNumber) on a ucce_api or ucce_db
-- target makes the strategy schedule the contact for that agent: it waits
-- ('waiting', next_attempt_at) until the callback time like any retry, and
-- the feeder then hands it to Cisco's personal callback interface
-- (Personal_Callback_List or the Personal Callback API) instead of the
-- import, after the dispatch gate (DNC, calling window).
--
-- pcb_agent: the agent's peripheral number, NULL when the next attempt is
-- not a personal callback. pcb_at: the callback time the agent asked for
-- (the feeder writes it, or the later time the calling window moved the
-- contact to). The strategy sets or clears both with every decision, so a
-- personal callback is one attempt; its result decides like any other.
ALTER TABLE contacts ADD COLUMN pcb_agent text
    CONSTRAINT contacts_pcb_agent_digits CHECK (pcb_agent ~ '^[0-9]{1,15}$');
ALTER TABLE contacts ADD COLUMN pcb_at timestamptz;
