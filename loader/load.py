"""The one way through for a source in one process: prepare, then merge.

:func:`load_source` is what ``fundsync load``, the Lambda handler and
``fundsync worker`` call for each source; the backfill calls the same two
halves (:func:`~loader.prepare.prepare_source` in worker processes,
:func:`~loader.mysql.merge.merge` in its merging threads). A redelivered S3
object whose version the ledger has already loaded is skipped before any
download; content that the latest load of the source merged is skipped
before it is parsed. It never raises for a bad, missing or failed source:
the outcome is the report's ``status``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from loader.mysql.merge import is_latest_load, merge, skip_known_version
from loader.mysql.session import Session
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.rejects import RejectsWriter
from loader.report import LoadReport
from loader.sources import Source, unknown_identity
from loader.timing import Span, no_span


def load_source(
    source: Source,
    session: Session,
    options: PrepareOptions | None = None,
    *,
    force: bool = False,
    rejects: RejectsWriter | None = None,
    s3: Any = None,
    span: Span = no_span,
) -> LoadReport:
    """Load one source; returns its report (``status`` says what became of it)."""
    if not force:
        try:
            skipped = skip_known_version(session, source.key, source.identity)
        except Exception as error:
            return LoadReport.failed(unknown_identity(source), error)
        if skipped is not None:
            return skipped
    skip_if = None if force else partial(is_latest_load, session)
    prepared = prepare_source(source, options, skip_if=skip_if, s3=s3, span=span)
    report = merge(session, prepared, force=force, span=span)
    if rejects is not None:
        report = rejects.write(source, report, prepared.rejected_rows)
    return report
