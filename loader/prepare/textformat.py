"""The staging text's format, shared by its writer (:mod:`loader.prepare.staging`) and the
statement that reads it (:func:`loader.mysql.sql.load_data`). Plain Python: no Polars."""

from __future__ import annotations

LOAD_DATA_FORMAT = "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
"""How ``LOAD DATA`` reads the staging text (a clause of its statement)."""
ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
"""Inside a value: backslash, tab, LF and CR are written with a backslash."""
NULL = "\\N"
