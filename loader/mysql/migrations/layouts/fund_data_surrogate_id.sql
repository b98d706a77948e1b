-- The older layout the loader must also work against (CONTRACT §2): a
-- surrogate id primary key plus the unique key uk_fund_data_composite.
-- Not a migration; the tests create it to prove the loader handles both.
CREATE TABLE IF NOT EXISTS fund_data (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    d_trade       DATE            NOT NULL,
    stock         VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ticker        VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    col_code      VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    value_numeric DECIMAL(38, 12) NULL,
    value_text    TEXT            CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    s3_source_key VARCHAR(1024)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    synced_at     DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_fund_data_composite (d_trade, stock, ticker, col_code),
    KEY ix_fund_data_ticker (ticker, d_trade)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
