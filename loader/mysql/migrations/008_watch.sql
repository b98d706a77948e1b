-- 008: watching the data (issue 25).
-- 'held': a file the quality gate kept out of fund_data (the reasons in error, the findings
-- in quality); 'discarded': a held file the operator dropped (fundsync discard).
-- quality: the gate's findings of a load, as JSON (NULL: nothing found, or not checked).
-- acked_at, acked_by, ack_note: an operator's acknowledgement of a problem (fundsync ack), or
-- how a held file was settled (released, discarded); status no longer pages for it.
ALTER TABLE fund_data_loads
    MODIFY status ENUM('loading', 'loaded', 'skipped', 'rejected', 'failed', 'abandoned',
                       'pruned', 'planned', 'reverted', 'held', 'discarded') NOT NULL,
    ADD COLUMN quality TEXT NULL AFTER error,
    ADD COLUMN acked_at DATETIME(6) NULL AFTER quality,
    ADD COLUMN acked_by VARCHAR(128) NULL AFTER acked_at,
    ADD COLUMN ack_note VARCHAR(512) NULL AFTER acked_by;

-- The profile of each trade date as its latest whole-day file had it, for the next date's
-- quality gate (no read of fund_data): the rows of each fund, and per col_code the rows,
-- NULLs, text values and the median numeric value.
CREATE TABLE IF NOT EXISTS fund_data_day_funds (
    d_trade DATE        NOT NULL,
    stock   VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    row_count BIGINT    NOT NULL,
    PRIMARY KEY (d_trade, stock)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS fund_data_day_codes (
    d_trade  DATE            NOT NULL,
    col_code VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    row_count BIGINT         NOT NULL,
    nulls    BIGINT          NOT NULL,
    texts    BIGINT          NOT NULL,
    median   DECIMAL(38, 12) NULL,
    PRIMARY KEY (d_trade, col_code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
