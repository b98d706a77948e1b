"""The prepare half: no database. A source becomes an immutable, picklable PreparedFile."""

from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.prepare.prepared import PreparedFile

__all__ = ["PrepareOptions", "PreparedFile", "prepare_source"]
