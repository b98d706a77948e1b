"""Trade dates: the four formats, the midnight suffix, and day/month order (spec §1.1).

Dates are judged once per *distinct* text, never per row: a daily export has
one or a handful of distinct dates, so this costs nothing, and it lets every
rule be plain Python. What needs the whole file (one format per file, the
slash order proven by the data) is decided by the parse stage from the
per-value facts returned here.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

ISO = "YYYY-MM-DD"
COMPACT = "YYYYMMDD"
SLASH = "slash"  # MM/DD/YYYY or DD/MM/YYYY, decided per file
MONTH_FIRST = "MM/DD/YYYY"
DAY_FIRST = "DD/MM/YYYY"

MIN_YEAR, MAX_YEAR = 1900, 2100
BUDDHIST_OFFSET = 543

_DATE = re.compile(
    r"(?:(?P<iy>[0-9]{4})-(?P<im>[0-9]{2})-(?P<id>[0-9]{2})"
    r"|(?P<cy>[0-9]{4})(?P<cm>[0-9]{2})(?P<cd>[0-9]{2})"
    r"|(?P<s1>[0-9]{1,2})/(?P<s2>[0-9]{1,2})/(?P<sy>[0-9]{4}))"
    r"(?:(?P<sep>[ T])(?P<time>.*))?",
    re.DOTALL,
)
_MIDNIGHT = re.compile(r"00:00(?::00(?:\.0{1,7})?)?")
_ANY_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,7})?)?")


@dataclass(frozen=True, slots=True)
class DateFacts:
    """What one distinct ``d_trade`` text says, before the file's order is known."""

    form: str | None
    """ISO, COMPACT or SLASH; None when the text is no date in a known format."""
    error: str | None
    """Why this value is a row error, or None."""
    proves: str | None = None
    """For valid slash dates: ``day-first`` or ``month-first`` when the value proves it.

    A row error never proves anything: bad rows do not steer the file."""
    year: int = 0
    first: int = 0
    second: int = 0

    def to_date(self, order: str) -> date:
        """The calendar date; ``order`` applies to slash dates that prove no order."""
        order = self.proves or order
        if self.form == ISO or self.form == COMPACT or order == "month-first":
            return date(self.year, self.first, self.second)
        return date(self.year, self.second, self.first)


def _valid(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def judge(text: str, buddhist_era: bool) -> DateFacts:
    """Facts about one trimmed, non-null ``d_trade`` text."""
    m = _DATE.fullmatch(text)
    if m is None:
        return DateFacts(None, f"{text[:40]!r} is not a date in a known format")
    if m["sep"] is not None and not _MIDNIGHT.fullmatch(m["time"]):
        form = ISO if m["iy"] else COMPACT if m["cy"] else SLASH
        if _ANY_TIME.fullmatch(m["time"]):
            return DateFacts(form, f"time part {m['time']!r} is not midnight")
        return DateFacts(None, f"{text[:40]!r} is not a date in a known format")
    if m["iy"]:
        form, year, first, second = ISO, int(m["iy"]), int(m["im"]), int(m["id"])
    elif m["cy"]:
        form, year, first, second = COMPACT, int(m["cy"]), int(m["cm"]), int(m["cd"])
    else:
        form, year, first, second = SLASH, int(m["sy"]), int(m["s1"]), int(m["s2"])
    if buddhist_era and MIN_YEAR + BUDDHIST_OFFSET <= year <= MAX_YEAR + BUDDHIST_OFFSET:
        year -= BUDDHIST_OFFSET
    if not MIN_YEAR <= year <= MAX_YEAR:
        hint = " (a Buddhist-era year? see --buddhist-era)" if year > MAX_YEAR + 300 else ""
        return DateFacts(form, f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}{hint}")
    if form != SLASH:
        if not _valid(year, first, second):
            return DateFacts(form, f"{text!r} is not a valid calendar date")
        return DateFacts(form, None, None, year, first, second)
    if first > 12 and second > 12:
        return DateFacts(form, f"{text!r} is not a valid date in either day/month order")
    proves = "day-first" if first > 12 else "month-first" if second > 12 else None
    month, day = (second, first) if proves == "day-first" else (first, second)
    if not _valid(year, month, day):
        return DateFacts(form, f"{text!r} is not a valid calendar date")
    return DateFacts(form, None, proves, year, first, second)


def format_name(form: str | None, order: str | None) -> str | None:
    """The contract's ``date_format`` label."""
    if form == SLASH:
        return DAY_FIRST if order == "day-first" else MONTH_FIRST
    return form
