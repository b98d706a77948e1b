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

from loader.mysql.merge import is_latest_load, merge, skip_known_version, skip_superseded
from loader.mysql.merge_options import MergeOptions
from loader.mysql.session import Session
from loader.prepare.prepare import PrepareOptions, prepare_source
from loader.rejects import RejectsWriter
from loader.report import LoadReport
from loader.sources import S3Object, Source, current_version, unknown_identity
from loader.timing import Span, no_span


def load_source(
    source: Source,
    session: Session,
    options: PrepareOptions | None = None,
    merging: MergeOptions | None = None,
    *,
    rejects: RejectsWriter | None = None,
    s3: Any = None,
    span: Span = no_span,
) -> LoadReport:
    """Load one source, prepared as ``options`` and merged as ``merging`` ask (None: what the
    session's configuration asks); returns its report (``status`` says what became of it)."""
    options = options or PrepareOptions()
    merging = merging or MergeOptions.of(session.config)
    request = options.parse.request_for(source.key)
    if not merging.force:
        try:
            skipped = _superseded(source, session, s3, request) or skip_known_version(
                session, source.key, source.identity, request, merging.verify
            )
        except Exception as error:
            return LoadReport.failed(unknown_identity(source), error)
        if skipped is not None:
            return skipped
    skip_if = None if merging.force else partial(is_latest_load, session, merging.verify)
    prepared = prepare_source(source, options, skip_if=skip_if, s3=s3, span=span)
    report = merge(session, prepared, merging, span=span)
    if rejects is not None:
        report = rejects.write(source, report, prepared.rejected_rows)
    return report


def _superseded(source: Source, session: Session, s3: Any, request: str) -> LoadReport | None:
    """An event for an object version that is no longer current: skipped, before any download.

    In a versioned bucket, a retried notification of version 1 can arrive after
    version 2 loaded; loading it would put version 1's values back. The
    current version's own notification loads (or loaded) it: this one is
    recorded as ``skipped``, superseded.
    """
    if not isinstance(source, S3Object) or not source.version_id:
        return None
    current = current_version(source, s3)
    if current == source.version_id:
        return None
    note = (
        f"superseded: version {source.version_id} is no longer the object's current version "
        f"({current or 'the object was deleted'})"
    )
    return skip_superseded(session, unknown_identity(source), note, request)
