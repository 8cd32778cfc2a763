-- Room on each page of attempts for the updates that change no indexed
-- column (docs/performance.md, SMS "Figures, fifth step"): an SMS attempt
-- is updated three or four times (sent, the intermediate DLR, the final
-- DLR, the strategy's outcome). The intermediate DLR's codes and the
-- strategy's outcome touch no index, so with free space on the page they
-- are HOT updates: no new entry in any of the table's twelve indexes and
-- less for vacuum to do. Only pages written from now on keep the room.
ALTER TABLE attempts SET (fillfactor = 70);
