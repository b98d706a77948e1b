"""The prepare half of every load: source -> identity and hash -> decode, parse, dedup -> key order.

No database: :func:`prepare_source` runs anywhere (the CLI, the Lambda
handler, the worker, a backfill's worker processes) and never raises for a
bad or missing source: the outcome is in the returned
:class:`~loader.prepare.prepared.PreparedFile`, decided by
:func:`loader.outcome.outcome_of`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from loader.heap import release_free_memory
from loader.parse.file import parse_file
from loader.prepare.prepared import PreparedFile
from loader.prepare.staging import StagedRows
from loader.settings import ParseSettings
from loader.sources import Source, SourceCopy, SourceIdentity, fetched, unknown_identity
from loader.timing import Span, Stopwatch, no_span

SkipIf = Callable[[SourceIdentity, str], bool]
"""Asked once the content is hashed, with the load's request: True means the latest load
merged this content, asked the same way (not parsed)."""


@dataclass(frozen=True, slots=True)
class PrepareOptions:
    """How sources are read and parsed."""

    parse: ParseSettings = field(default_factory=ParseSettings)
    work_dir: str | None = None
    """Where S3 objects are downloaded to (private temporary files; default: the system's)."""
    max_object_bytes: int = 2 << 30
    """An S3 object larger than this is rejected before it is downloaded."""
    staging_dir: str | None = None
    """Write the staging text to a file here, for another process to merge (the backfill's
    workers); None keeps the rows in memory and streams the text at merge time."""


def prepare_source(
    source: Source,
    options: PrepareOptions | None = None,
    *,
    skip_if: SkipIf | None = None,
    s3: Any = None,
    span: Span = no_span,
) -> PreparedFile:
    """Fetch, hash, parse and key-order one source; never raises for a bad or missing source."""
    options = options or PrepareOptions()
    watch = Stopwatch(span)
    identity = unknown_identity(source)
    request = options.parse.request_for(source.key)
    replace_days = options.parse.mode_for(source.key) == "replace-days"
    try:
        with fetched(source, watch, options.work_dir, options.max_object_bytes, s3) as copy:
            identity = copy.identity
            prepared = _prepare(copy, options, watch, skip_if)
    except Exception as error:
        prepared = PreparedFile.failed(identity, error, watch.timings(), watch.elapsed)
    return replace(prepared, request=request, replace_days=replace_days)


def _prepare(
    copy: SourceCopy, options: PrepareOptions, watch: Stopwatch, skip_if: SkipIf | None
) -> PreparedFile:
    identity = copy.identity
    if skip_if is not None and skip_if(identity, options.parse.request_for(identity.key)):
        return PreparedFile(
            identity, already_loaded=True, timings=watch.timings(), seconds=watch.elapsed
        )
    with watch.stage("parse", record=False):
        parsed = parse_file(copy.path, name=identity.key, settings=options.parse)
    watch.extend(tuple(parsed.seconds.items()))
    release_free_memory()
    # The escaping is judged here ("write"); the text itself is written into a named
    # pipe while LOAD DATA reads it (StagedRows.open), so its formatting overlaps the
    # server's inserting instead of preceding it.
    with watch.stage("write"):
        staging = StagedRows(parsed.rows.drop("line"))  # the line numbers served the parse
        if options.staging_dir is not None:
            staging = staging.to_file(options.staging_dir)
        per_day = parsed.rows.group_by("d_trade").len().sort("d_trade")
    return PreparedFile(
        identity,
        parsed=parsed.summary(),
        staging=staging,
        days=tuple(per_day["d_trade"].to_list()),
        day_rows=tuple(per_day["len"].to_list()),
        timings=watch.timings(),
        seconds=watch.elapsed,
        rejected_rows=parsed.rejects,
        max_delete_share=None
        if options.parse.allow_mass_delete
        else options.parse.max_delete_share,
    )
