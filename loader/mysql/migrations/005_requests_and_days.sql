-- 005: what a load was asked, and the trade dates fund_data holds (issue 21).
-- mode: upsert or replace-days. request: everything asked of the load that changes its
-- outcome (mode, a forced encoding, the slash-date order, Buddhist-era years, the bad-row
-- allowance): the skip rule skips only a load of the same content asked the same way.
-- source_bucket: the S3 bucket of an object (NULL for a local file), so that verify can
-- read it again without being told.
ALTER TABLE fund_data_loads
    ADD COLUMN source_bucket VARCHAR(255) NULL AFTER source_key_hash,
    ADD COLUMN mode VARCHAR(16) NULL AFTER method,
    ADD COLUMN request VARCHAR(512) NULL AFTER mode;

-- fund_data_days: one row per trade date fund_data holds. Every load locks the rows of its
-- trade dates first (loads of one date run one after another) and keeps row_count exact
-- in its own transaction, so the operator's views never count fund_data itself.
CREATE TABLE IF NOT EXISTS fund_data_days (
    d_trade      DATE            NOT NULL,
    row_count    BIGINT          NOT NULL,
    last_load_id BIGINT UNSIGNED NULL,
    updated_at   DATETIME(6)     NOT NULL,
    PRIMARY KEY (d_trade)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The dates already held, counted once (a scan of fund_data: on a large table run it when
-- no load runs; docs/operations.md).
INSERT INTO fund_data_days (d_trade, row_count, updated_at)
SELECT d_trade, COUNT(*), NOW(6) FROM fund_data GROUP BY d_trade;
