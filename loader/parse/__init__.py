"""The parse side: an export's bytes to an exact, deduplicated table (spec §1).

No database, no AWS: :func:`parse_file` takes a path or bytes and returns a
:class:`ParseResult`, or raises :class:`~loader.errors.FileRejected`.
"""

from loader.parse.fields import WHITESPACE
from loader.parse.file import parse_file
from loader.parse.result import ParseResult, ParseSummary

__all__ = ["WHITESPACE", "ParseResult", "ParseSummary", "parse_file"]
