"""Text from the outside shown in a table or a line: control characters escaped.

A file name may hold a newline, a tab, an escape sequence or a right-to-left override; put
in a table as it is, it breaks the table or hides what it is. :func:`shown` writes each
such character as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``); everything else,
accented and Thai letters included, stays as it is. JSON output needs none of this: it is
escaped by its own rules.
"""

from __future__ import annotations

import unicodedata

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _visible(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def shown(text: object) -> str:
    """``text`` for a table cell or one line of output: control and format characters (and
    the backslash that would make an escape ambiguous) escaped."""
    value = str(text)
    if value.isprintable() and "\\" not in value:
        return value
    return "".join(_visible(c) for c in value)
