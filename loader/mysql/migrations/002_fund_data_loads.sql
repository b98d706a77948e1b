-- fund_data_loads: the load ledger, one row per attempt. CONTRACT §2.2.
-- source_key_hash (SHA-256 of the key) makes the skip lookup indexable for
-- keys up to 1024 characters.
CREATE TABLE IF NOT EXISTS fund_data_loads (
    id                     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    source_key             VARCHAR(1024)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    source_key_hash        CHAR(64)        CHARACTER SET ascii NOT NULL,
    object_version         VARCHAR(1024)   NULL,
    content_hash           CHAR(64)        CHARACTER SET ascii NOT NULL,
    size_bytes             BIGINT UNSIGNED NOT NULL,
    status                 ENUM('loading', 'loaded', 'skipped', 'rejected', 'failed') NOT NULL,
    rows_read              BIGINT UNSIGNED NULL,
    rows_merged            BIGINT UNSIGNED NULL,
    duplicates_in_file     BIGINT UNSIGNED NULL,
    conflicting_duplicates BIGINT UNSIGNED NULL,
    inserted               BIGINT UNSIGNED NULL,
    updated                BIGINT UNSIGNED NULL,
    unchanged              BIGINT UNSIGNED NULL,
    rejected_rows          BIGINT UNSIGNED NULL,
    encoding               VARCHAR(32)     NULL,
    date_format            VARCHAR(16)     NULL,
    date_order             VARCHAR(16)     NULL,
    method                 VARCHAR(32)     NULL,
    started_at             DATETIME(6)     NOT NULL,
    finished_at            DATETIME(6)     NULL,
    duration_ms            BIGINT UNSIGNED NULL,
    error                  TEXT            NULL,
    PRIMARY KEY (id),
    KEY ix_fund_data_loads_skip (source_key_hash, content_hash, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
