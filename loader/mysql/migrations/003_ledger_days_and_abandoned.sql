-- 003: what the hardening of the load path needs from the ledger. CONTRACT §2.2.
-- 'abandoned': a 'loading' row whose process or connection ended without finishing,
-- marked so by the next attempt on the same source (it never blocks a load).
-- source_modified: when the loaded content was written (the S3 object's LastModified,
-- a local file's modification time), UTC: files of one trade date apply in that order.
-- fund_data_load_days: the trade dates (and rows) each load touched.
ALTER TABLE fund_data_loads
    MODIFY status ENUM('loading', 'loaded', 'skipped', 'rejected', 'failed', 'abandoned') NOT NULL,
    ADD COLUMN source_modified DATETIME(6) NULL AFTER size_bytes,
    ADD KEY ix_fund_data_loads_latest (source_key_hash, status, id);

CREATE TABLE IF NOT EXISTS fund_data_load_days (
    load_id      BIGINT UNSIGNED NOT NULL,
    d_trade      DATE            NOT NULL,
    rows_in_file BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (load_id, d_trade),
    KEY ix_fund_data_load_days_day (d_trade, load_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
