"""SQL statements, built by pure functions: easy to read, to test without a server, to log.

Everything here runs unchanged on MySQL 8 / Aurora MySQL 3 and MariaDB 10.11:
``VALUES(col)`` in ``ON DUPLICATE KEY UPDATE`` (MySQL 8.0.20+ deprecates it
with a warning but keeps it; the row-alias form does not exist in MariaDB).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from loader.prepare.textformat import LOAD_DATA_FORMAT

STATEMENT_BUDGET = 1 << 20
"""Bytes of parameters one statement carries at most: far under any server's
``max_allowed_packet`` (MySQL 8 and Aurora: 64 MiB, MariaDB: 16 MiB, MySQL 5.7: 4 MiB),
however many keys a group holds."""
PARAMETER_OVERHEAD = 8
"""Per parameter: quotes, a comma and a placeholder's share of the statement."""

STAGE_TABLE = "fund_data_stage"
TARGET_TABLE = "fund_data"
DATA_COLUMNS = ("d_trade", "stock", "ticker", "col_code", "value_numeric", "value_text")

STAGE_COLUMNS = """(
    d_trade       DATE            NOT NULL,
    stock         VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    ticker        VARCHAR(32)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    col_code      VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    value_numeric DECIMAL(38, 12) NULL,
    value_text    TEXT            CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
) ENGINE = InnoDB"""

CREATE_STAGE = f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_TABLE} {STAGE_COLUMNS}"
"""The default staging table: TEMPORARY, one per connection, invisible to any other."""

TRUNCATE_STAGE = f"TRUNCATE TABLE {STAGE_TABLE}"

REGULAR_STAGE_PREFIX = f"{STAGE_TABLE}_"
LEFTOVER_STAGES = f"SHOW TABLES LIKE '{STAGE_TABLE}_%'"
"""Candidates only (`_` is a wildcard): the names are matched again by the caller."""


def regular_stage(ledger_id: int) -> str:
    """The regular staging table of one load (``staging_table=regular``: Aurora's fast insert
    path works only on regular tables), named after the load's ledger row."""
    return f"{REGULAR_STAGE_PREFIX}{int(ledger_id)}"


def create_regular_stage(table: str) -> str:
    return f"CREATE TABLE {table} {STAGE_COLUMNS}"


def drop_stage(table: str) -> str:
    return f"DROP TABLE IF EXISTS {table}"


def truncate_stage(table: str) -> str:
    return f"TRUNCATE TABLE {table}"


def load_data(table: str, extra_set: str = "") -> str:
    """``LOAD DATA LOCAL INFILE %s`` of a staging file into ``table`` (path as parameter)."""
    columns = ", ".join(DATA_COLUMNS)
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 {LOAD_DATA_FORMAT} "
        f"({columns}){extra_set}"
    )


def load_data_into_target() -> str:
    """The fast path for a file none of whose keys exist yet: straight into fund_data."""
    return load_data(
        TARGET_TABLE, " SET s3_source_key = @fundsync_source, synced_at = @fundsync_synced_at"
    )


def insert_stage_rows(count: int, stage: str = STAGE_TABLE) -> str:
    """Multi-row INSERT into the staging table: the fallback when LOCAL INFILE is refused."""
    row = "(" + ", ".join(["%s"] * len(DATA_COLUMNS)) + ")"
    return f"INSERT INTO {stage} ({', '.join(DATA_COLUMNS)}) VALUES " + ", ".join([row] * count)


SET_LINEAGE = "SET @fundsync_source = %s, @fundsync_synced_at = NOW(6)"

_SAME = (
    f"({TARGET_TABLE}.value_numeric <=> VALUES(value_numeric) "
    f"AND BINARY {TARGET_TABLE}.value_text <=> BINARY VALUES(value_text))"
)


def merge(stage: str = STAGE_TABLE) -> str:
    """One INSERT ... SELECT ... ON DUPLICATE KEY UPDATE with spec §2.1 semantics.

    Assignments apply left to right and later ones see earlier new values,
    so the lineage columns are decided first, while ``fund_data`` still
    holds the old values; only then are the values replaced. An unchanged
    row is assigned its own values: the server counts it as not affected.
    Text compares as BINARY so a case or trailing-space change is a change
    whatever the column's collation.
    """
    columns = ", ".join(DATA_COLUMNS)
    return (
        f"INSERT INTO {TARGET_TABLE} ({columns}, s3_source_key, synced_at) "
        f"SELECT {columns}, @fundsync_source, @fundsync_synced_at FROM {stage} "
        "ON DUPLICATE KEY UPDATE "
        f"s3_source_key = IF({_SAME}, {TARGET_TABLE}.s3_source_key, VALUES(s3_source_key)), "
        f"synced_at = IF({_SAME}, {TARGET_TABLE}.synced_at, VALUES(synced_at)), "
        "value_numeric = VALUES(value_numeric), "
        "value_text = VALUES(value_text)"
    )


def delete_unchanged_from_stage(stage: str = STAGE_TABLE) -> str:
    """Drop the staged rows whose values fund_data already holds (the same test as the merge's).

    A multi-table DELETE takes shared locks on the fund_data rows it reads,
    also under READ COMMITTED, so they stay as judged until the commit.
    """
    same = "f.value_numeric <=> s.value_numeric AND BINARY f.value_text <=> BINARY s.value_text"
    return (
        f"DELETE s FROM {stage} s JOIN {TARGET_TABLE} f "
        f"USING (d_trade, stock, ticker, col_code) WHERE {same}"
    )


def delete_superseded_from_stage(sources: int, stage: str = STAGE_TABLE) -> str:
    """Drop the staged rows whose fund_data row one of these (newer) sources wrote last.

    Like the unchanged pre-pass, the multi-table DELETE reads fund_data with
    shared locks held to the commit.
    """
    marks = ", ".join(["%s"] * sources)
    return (
        f"DELETE s FROM {stage} s JOIN {TARGET_TABLE} f "
        f"USING (d_trade, stock, ticker, col_code) WHERE f.s3_source_key IN ({marks})"
    )


KEY_COLUMNS = ("d_trade", "stock", "ticker", "col_code")


def superseded_keys_in_stage(sources: int, stage: str = STAGE_TABLE) -> str:
    """The keys :func:`delete_superseded_from_stage` would drop (read first when verifying)."""
    marks = ", ".join(["%s"] * sources)
    return (
        f"SELECT s.d_trade, s.stock, s.ticker, s.col_code FROM {stage} s JOIN {TARGET_TABLE} f "
        f"USING (d_trade, stock, ticker, col_code) WHERE f.s3_source_key IN ({marks}) "
        "LOCK IN SHARE MODE"
    )


def any_key_exists(days: int) -> str:
    """Whether fund_data has any row on the file's trade dates (``days`` placeholders)."""
    marks = ", ".join(["%s"] * days)
    return f"SELECT 1 FROM {TARGET_TABLE} WHERE d_trade IN ({marks}) LIMIT 1"


UNIQUE_INDEXES = """
SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0
GROUP BY INDEX_NAME
"""

KEY_COLLATIONS = """
SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME IN (%s, %s, %s)
"""

TRIGGERS = """
SELECT COUNT(*) FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s
"""

SELECT_COLUMNS = (
    "d_trade, stock, ticker, col_code, value_numeric, value_text, s3_source_key, synced_at"
)


def select_rows(ticker: bool, start: bool, end: bool, col_code: bool = False) -> str:
    """Rows of fund_data in key order: of one ticker (its index), between two trade dates
    (the primary key's first column), of one col_code; parameters in that order."""
    conditions = (
        ("ticker = %s", ticker),
        ("d_trade >= %s", start),
        ("d_trade <= %s", end),
        ("col_code = %s", col_code),
    )
    where = [condition for condition, given in conditions if given]
    return (
        f"SELECT {SELECT_COLUMNS} FROM {TARGET_TABLE} WHERE {' AND '.join(where) or 'TRUE'} "
        "ORDER BY d_trade, stock, ticker, col_code"
    )


SELECT_BY_SOURCE = (
    f"SELECT {SELECT_COLUMNS} FROM {TARGET_TABLE} WHERE s3_source_key = %s "
    "ORDER BY d_trade, stock, ticker, col_code"
)
"""Every row a source wrote last, found by a scan of fund_data (loads before migration 003
recorded no trade dates)."""

SOURCE_DAYS = (
    "SELECT DISTINCT d.d_trade FROM fund_data_load_days d JOIN fund_data_loads l "
    "ON l.id = d.load_id WHERE l.source_key_hash = %s AND l.status = 'loaded' ORDER BY 1"
)
SOURCE_LOADS_WITHOUT_DAYS = (
    "SELECT COUNT(*) FROM fund_data_loads l WHERE l.source_key_hash = %s AND l.status = "
    "'loaded' AND NOT EXISTS (SELECT 1 FROM fund_data_load_days d WHERE d.load_id = l.id)"
)


def select_by_source_days(days: int) -> str:
    """Every row a source wrote last, on the trade dates its loads touched: a range of the
    primary key per day instead of a scan (docs/mysql.md has the figures)."""
    marks = ", ".join(["%s"] * days)
    return (
        f"SELECT {SELECT_COLUMNS} FROM {TARGET_TABLE} WHERE d_trade IN ({marks}) "
        "AND s3_source_key = %s ORDER BY d_trade, stock, ticker, col_code"
    )


GROUP_CONCAT_LIMIT = "SET SESSION group_concat_max_len = 1073741824"
CONCAT_LIMIT = "SELECT LEAST(@@group_concat_max_len, @@max_allowed_packet)"
"""The longest text GROUP_CONCAT can return here (a longer group's digest is not trusted)."""
"""Room for a group's canonical text (1 GiB; the server's max_allowed_packet may cap it
lower on MySQL, which truncates with a warning: see :func:`group_digests`)."""

_CANONICAL_ROW = (
    "CONCAT(ticker, 0x00, col_code, 0x00, IFNULL(value_numeric, ''), 0x00, "
    "IFNULL(CONCAT('=', value_text), ''))"
)


def group_digests(stocks: int | None, lock: bool = True) -> str:
    """Per (d_trade, stock) of one trade date: the row count, the MD5 of the group's
    canonical text (:mod:`loader.prepare.digest` computes the same in the client), and that
    text's length in bytes (a group longer than GROUP_CONCAT can return has no digest).

    ``stocks``: that many funds (parameters: the trade date, then the funds), or None for
    every fund of the date (parameter: the date; one range of the key instead of one per
    fund). Rows are joined in byte order of (ticker, col_code), whatever the columns'
    collation. The read takes shared locks on the rows it reads, held to the commit, like
    the merge's pre-pass: a group judged unchanged stays so until this load commits.
    ``lock=False`` (``fundsync verify``, read only) reads without locks: SELECT is all the
    privilege it needs.
    """
    funds = "" if stocks is None else f" AND stock IN ({', '.join(['%s'] * stocks)})"
    locking = " LOCK IN SHARE MODE" if lock else ""
    return (
        f"SELECT d_trade, stock, COUNT(*), MD5(GROUP_CONCAT({_CANONICAL_ROW} "
        "ORDER BY CAST(ticker AS BINARY), CAST(col_code AS BINARY) SEPARATOR 0x00)), "
        f"SUM(LENGTH({_CANONICAL_ROW})) + COUNT(*) - 1 "
        f"FROM {TARGET_TABLE} WHERE d_trade = %s{funds} "
        f"GROUP BY d_trade, stock{locking}"
    )


def stored_rows_of_groups(stocks: int, lock: bool = False) -> str:
    """The rows of ``stocks`` funds on one trade date, the decimal as text (parameters: the
    date, then the funds); ``lock``: with shared locks."""
    marks = ", ".join(["%s"] * stocks)
    return (
        "SELECT d_trade, stock, ticker, col_code, CAST(value_numeric AS CHAR), value_text, "
        f"s3_source_key FROM {TARGET_TABLE} WHERE d_trade = %s AND stock IN ({marks})"
        + (" LOCK IN SHARE MODE" if lock else "")
    )


_HELD_ROW = (
    "CONCAT(ticker, 0x00, col_code, 0x00, "
    "IFNULL(value_numeric, IFNULL(CONCAT('=', value_text), '')))"
)


def held_values(stocks: int | None) -> str:
    """Per (d_trade, stock) of one trade date: the row count and every row's key and canonical
    value joined by NUL (:mod:`loader.mysql.diff`). ``stocks``: that many funds
    (parameters: the date, then the funds), or None for every fund of the date. Exclusive
    locks on every row read, held to the commit: the rows that change are written under the
    locks already held (a restated day's REPLACE of 1M rows after shared locks took ~5 s
    longer: each shared lock is upgraded). Plain reads are not blocked (they read the last
    committed version); the loads of one date run one after another anyway."""
    funds = "" if stocks is None else f" AND stock IN ({', '.join(['%s'] * stocks)})"
    return (
        f"SELECT d_trade, stock, COUNT(*), GROUP_CONCAT({_HELD_ROW} SEPARATOR 0x00) "
        f"FROM {TARGET_TABLE} WHERE d_trade = %s{funds} GROUP BY d_trade, stock "
        "FOR UPDATE"
    )


def load_data_replacing_target() -> str:
    """The rows of a file that are new or changed, straight into fund_data: a key it holds
    has its row replaced (InnoDB updates it in place: fund_data has no other unique key, no
    foreign key, no trigger), a new key is inserted; lineage set as the merge sets it."""
    columns = ", ".join(DATA_COLUMNS)
    return (
        f"LOAD DATA LOCAL INFILE %s REPLACE INTO TABLE {TARGET_TABLE} CHARACTER SET utf8mb4 "
        f"{LOAD_DATA_FORMAT} ({columns}) "
        "SET s3_source_key = @fundsync_source, synced_at = @fundsync_synced_at"
    )


def group_counts(stocks: int | None = None) -> str:
    """Per fund of one trade date, the rows fund_data holds (shared locks, to the commit);
    with ``stocks``, of that many funds only (parameters: the date, then the funds)."""
    funds = "" if stocks is None else f" AND stock IN ({', '.join(['%s'] * stocks)})"
    return (
        f"SELECT d_trade, stock, COUNT(*) FROM {TARGET_TABLE} WHERE d_trade = %s{funds} "
        "GROUP BY d_trade, stock LOCK IN SHARE MODE"
    )


def delete_groups(stocks: int) -> str:
    """Delete every row of ``stocks`` funds on one trade date (the date, then the funds)."""
    marks = ", ".join(["%s"] * stocks)
    return f"DELETE FROM {TARGET_TABLE} WHERE d_trade = %s AND stock IN ({marks})"


DAYS_TABLE = "fund_data_days"


def lock_days(days: int) -> str:
    """Lock (making when new) the rows of ``days`` trade dates in ``fund_data_days``: the
    duplicate key path of ON DUPLICATE KEY UPDATE takes an exclusive lock on the row."""
    rows = ", ".join(["(%s, 0, NOW(6))"] * days)
    return (
        f"INSERT INTO {DAYS_TABLE} (d_trade, row_count, updated_at) VALUES {rows} "
        "ON DUPLICATE KEY UPDATE row_count = row_count"
    )


COUNT_DAY_CHANGE = (
    f"UPDATE {DAYS_TABLE} SET row_count = row_count + %s, last_load_id = %s, "
    "updated_at = NOW(6) WHERE d_trade = %s"
)
DAYS_FROM = f"SELECT d_trade, row_count FROM {DAYS_TABLE} WHERE d_trade >= %s ORDER BY d_trade"


def new_keys_by_day(stage: str = STAGE_TABLE) -> str:
    """Per trade date, the staged rows whose key fund_data does not hold."""
    return (
        f"SELECT s.d_trade, COUNT(*) FROM {stage} s LEFT JOIN {TARGET_TABLE} f "
        "USING (d_trade, stock, ticker, col_code) WHERE f.d_trade IS NULL GROUP BY s.d_trade"
    )


def group_keys(for_update: bool = True) -> str:
    """The (ticker, col_code) keys fund_data holds in one (d_trade, stock) group."""
    lock = " FOR UPDATE" if for_update else ""
    return f"SELECT ticker, col_code FROM {TARGET_TABLE} WHERE d_trade = %s AND stock = %s{lock}"


def delete_keys(keys: int) -> str:
    """Delete ``keys`` (ticker, col_code) keys of one (d_trade, stock) group (parameters: the
    date, the fund, then the pairs)."""
    pairs = ", ".join(["(%s, %s)"] * keys)
    return (
        f"DELETE FROM {TARGET_TABLE} WHERE d_trade = %s AND stock = %s "
        f"AND (ticker, col_code) IN ({pairs})"
    )


def by_bytes(
    items: Sequence[Sequence[str]], budget: int = STATEMENT_BUDGET, most: int = 5_000
) -> Iterator[Sequence[Sequence[str]]]:
    """``items`` (each a few string parameters) in runs of at most ``most`` items and about
    ``budget`` bytes of parameters, escaping included (a value may double): a statement
    built from a run always fits the server's packet. An item over the budget goes alone."""
    start, used = 0, 0
    for index, item in enumerate(items):
        size = sum(2 * len(value.encode("utf-8")) + PARAMETER_OVERHEAD for value in item)
        if index > start and (index - start >= most or used + size > budget):
            yield items[start:index]
            start, used = index, 0
        used += size
    if start < len(items):
        yield items[start:]


PRUNE_BATCH = f"DELETE FROM {TARGET_TABLE} WHERE d_trade = %s LIMIT %s"
"""A batch of one trade date's rows, for ``fundsync prune`` (the date's rows are all going)."""
