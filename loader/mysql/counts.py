"""The merge's exact counts, read from the server's OK packet (spec §2.1)."""

from __future__ import annotations

import re

from loader.errors import MergeCountMismatch
from loader.report import MergeCounts

_INFO = re.compile(r"Records:\s*(\d+)\s+Duplicates:\s*(\d+)\s+Warnings:\s*(\d+)")


def counts_from_server(staged: int, affected: int, info: str, mariadb: bool) -> MergeCounts:
    """Counts from the OK packet, with no second join (proven per server in the tests).

    ``Records: N  Duplicates: D``: MariaDB counts in D only the rows the
    update changed; MySQL counts every row that hit an existing key. Either
    way the server's affected rows must be ``inserted + 2 x updated``; figures
    that do not add up raise :class:`~loader.errors.MergeCountMismatch`.
    """
    match = _INFO.search(info or "")
    if match is None:
        raise MergeCountMismatch(f"no record counts from the server: {info!r}")
    records, duplicates = int(match[1]), int(match[2])
    if mariadb:
        updated = duplicates
        inserted = affected - 2 * updated
        unchanged = records - inserted - updated
    else:
        inserted = records - duplicates
        twice_updated = affected - inserted
        updated = twice_updated // 2
        unchanged = duplicates - updated
        if twice_updated % 2:
            updated = -1
    if (
        records != staged
        or min(inserted, updated, unchanged) < 0
        or inserted + updated + unchanged != staged
        or inserted + 2 * updated != affected
    ):
        raise MergeCountMismatch(
            f"merge counts do not add up (staged {staged}, affected {affected}, "
            f"server said {info!r}): rolled back"
        )
    return MergeCounts(inserted, updated, unchanged)
