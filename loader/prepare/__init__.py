"""The prepare half: no database. A source becomes an immutable, picklable PreparedFile.

:func:`loader.prepare.prepare.prepare_source` is the entry; the result type is
:class:`loader.prepare.prepared.PreparedFile`, whose rows are a
:class:`loader.prepare.staging.StagedRows` (typed rows, key order, digests, staging
text). Nothing is imported here, so that the statements
(:mod:`loader.mysql.sql`) can read the text's format without Polars.
"""
