-- fund_data: one row per (d_trade, stock, ticker, col_code). CONTRACT §2.
-- Layout chosen by measurement (docs/mysql.md): the composite key is the
-- clustered primary key, so a merge finds each row in one B-tree and no
-- secondary unique index has to be maintained. Key columns are binary
-- (utf8mb4_bin): they compare byte for byte, like the in-memory dedup.
CREATE TABLE IF NOT EXISTS fund_data (
    d_trade       DATE            NOT NULL,
    stock         VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ticker        VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    col_code      VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    value_numeric DECIMAL(38, 12) NULL,
    value_text    TEXT            CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    s3_source_key VARCHAR(1024)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    synced_at     DATETIME(6)     NOT NULL,
    PRIMARY KEY (d_trade, stock, ticker, col_code),
    KEY ix_fund_data_ticker (ticker, d_trade)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
