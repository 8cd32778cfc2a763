-- result-sync's UCCX page marks each attempt it found a result for
-- (result_seen_at = now()). That column was in the predicate of
-- attempts_uccx_outstanding, so every such update wrote a new entry into
-- each of attempts' indexes: 50 ms for a page of ~400 results, the top
-- statement of a voice run, inside the page's transaction and so inside the
-- decision delay (docs/performance.md, "The fifth step"). Without it in any
-- index, and with room left on each page for the new row version, the
-- update is HOT: no index entry written. The outstanding query still asks
-- result_seen_at IS NULL; the index now also holds the attempts seen and not
-- yet decided (a fraction of a second's worth), which that query steps over.
-- An SMS attempt's intermediate DLR codes and the strategy's outcome touch no
-- index, so with room on the page those updates are HOT too.
ALTER TABLE attempts SET (fillfactor = 70);
CREATE INDEX attempts_uccx_sent ON attempts (sent_at, contact_id, attempt)
    WHERE status = 'sent' AND target LIKE 'uccx:%';
DROP INDEX attempts_uccx_outstanding;
