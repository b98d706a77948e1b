"""``fundsync backfill``: many exports from a folder or an S3 prefix, parallel and resumable."""

from loader.backfill.discover import DEFAULT_GLOBS, Export, default_workers, discover, trade_date_of
from loader.backfill.run import Backfill, Known
from loader.backfill.summary import BackfillSummary, FileOutcome

__all__ = [
    "DEFAULT_GLOBS",
    "Backfill",
    "BackfillSummary",
    "Export",
    "FileOutcome",
    "Known",
    "default_workers",
    "discover",
    "trade_date_of",
]
