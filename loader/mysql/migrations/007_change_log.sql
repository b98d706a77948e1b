-- 007: undoing a load (fundsync revert) and the history of a value (issue 24).
-- fund_data_changes: per load, the state each key held before the load changed it (the
-- before-image: value and lineage), written in the load's own transaction. 'update' and
-- 'delete' carry the row the key held; 'insert' (written by a revert only) a key that was
-- absent. A load's plain inserts are not logged: they are the keys whose lineage is the
-- load's own (s3_source_key and synced_at), so a fresh day of new keys writes nothing here.
-- fund_data_loads.synced_at: the lineage time a load wrote (joins fund_data to its load);
-- reverts: the load a revert undid; reverted_by: the revert that undid this load (cleared
-- when that revert is reverted); changes_pruned_at: when retention removed the load's change
-- log (it can no longer be reverted). 'reverted': the ledger status of a revert.
CREATE TABLE IF NOT EXISTS fund_data_changes (
    load_id       BIGINT UNSIGNED NOT NULL,
    d_trade       DATE            NOT NULL,
    stock         VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ticker        VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    col_code      VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    op            ENUM('insert', 'update', 'delete') NOT NULL,
    value_numeric DECIMAL(38, 12) NULL,
    value_text    TEXT            CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    s3_source_key VARCHAR(1024)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    synced_at     DATETIME(6)     NULL,
    PRIMARY KEY (load_id, d_trade, stock, ticker, col_code),
    KEY ix_fund_data_changes_key (ticker, col_code, d_trade)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE fund_data_loads
    MODIFY status ENUM('loading', 'loaded', 'skipped', 'rejected', 'failed', 'abandoned',
                       'pruned', 'planned', 'reverted') NOT NULL,
    ADD COLUMN synced_at DATETIME(6) NULL AFTER finished_at,
    ADD COLUMN reverts BIGINT UNSIGNED NULL AFTER synced_at,
    ADD COLUMN reverted_by BIGINT UNSIGNED NULL AFTER reverts,
    ADD COLUMN changes_pruned_at DATETIME(6) NULL AFTER reverted_by,
    ADD KEY ix_fund_data_loads_synced (synced_at);
