-- 004: verified loads and whole-day snapshots (docs/mysql.md, "Verified loads" and
-- "Whole-day snapshots"). digest: the MD5 over the load's (trade date, fund) group
-- digests that the server and the client agreed on before the commit; NULL for a load
-- that was not verified. deleted: the rows a replace-days load deleted (keys of its trade
-- dates that the file no longer holds); NULL for an upsert.
ALTER TABLE fund_data_loads
    ADD COLUMN digest CHAR(32) CHARACTER SET ascii NULL AFTER method,
    ADD COLUMN deleted BIGINT UNSIGNED NULL AFTER unchanged;
