"""Progress a person can follow: a live bar on a terminal, plain lines in a pipe, a summary.

On a terminal (rich): files done of total, rows merged, rows/s, the time
left (estimated from the bytes done) and the files that failed, redrawn in
place. Anywhere else: one plain line every ``interval`` seconds on stderr,
so a log file or a CI console gets a readable history rather than control
codes. The summary at the end is a table either way (or JSON with ``--json``).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import IO, Any

from loader.backfill.discover import Export
from loader.backfill.summary import BackfillSummary, FileOutcome
from loader.display import shown


class BackfillProgress:
    """The backfill's listener: feeds the bar or the periodic lines."""

    def __init__(
        self,
        exports: list[Export],
        mode: str = "auto",
        interval: float = 10.0,
        stream: IO[str] | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode
        self.interval = interval
        self.total_bytes = sum(e.size for e in exports) or 1
        self.bytes_done = 0
        self.started = time.monotonic()
        self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None

    # -- the listener ----------------------------------------------------------

    def __call__(self, event: str, summary: BackfillSummary, outcome: FileOutcome | None) -> None:
        if outcome is not None:
            self.bytes_done += outcome.export.size
        if self.mode == "off":
            return
        if self.mode == "bar":
            self._draw(event, summary)
        elif self.mode == "lines":
            now = time.monotonic()
            if event == "end" or (event != "start" and now - self._last_line >= self.interval):
                self._last_line = now
                print(self.line(summary), file=self.stream, flush=True)

    # -- what is shown ---------------------------------------------------------

    def eta(self) -> timedelta | None:
        elapsed = time.monotonic() - self.started
        if self.bytes_done <= 0 or elapsed <= 0:
            return None
        left = (self.total_bytes - self.bytes_done) * elapsed / self.bytes_done
        return timedelta(seconds=round(max(left, 0)))

    def line(self, summary: BackfillSummary) -> str:
        eta = self.eta()
        return (
            f"backfill: {summary.done}/{summary.files} files "
            f"({summary.loaded} loaded, {summary.skipped} skipped, {summary.rejected} rejected, "
            f"{summary.failed} failed), {summary.rows_merged:,} rows, "
            f"{summary.rows_per_second:,.0f} rows/s, "
            f"ETA {eta if eta is not None else '?'}"
        )

    def _draw(self, event: str, summary: BackfillSummary) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]backfill"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} files"),
                TextColumn("{task.fields[rows]:>12,} rows"),
                TextColumn("{task.fields[rate]:>9,.0f} rows/s"),
                TextColumn("ETA {task.fields[eta]}"),
                TextColumn("[red]{task.fields[problems]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "backfill", total=summary.files, rows=0, rate=0.0, eta="?", problems=""
            )
        eta = self.eta()
        problems = ", ".join(
            f"{n} {status}"
            for status, n in (("rejected", summary.rejected), ("failed", summary.failed))
            if n
        )
        self._bar.update(
            self._task,
            completed=summary.done,
            rows=summary.rows_merged,
            rate=summary.rows_per_second,
            eta=str(eta) if eta is not None else "?",
            problems=problems,
        )
        if event == "end":
            self._bar.stop()


def summary_table(summary: BackfillSummary, stream: IO[str] | None = None) -> None:
    """The end-of-run table and the files that did not load, with their first reasons."""
    out = stream or sys.stdout
    figures = [
        ("loaded", f"{summary.loaded:,}"),
        ("skipped (already loaded)", f"{summary.skipped:,}"),
        ("rejected", f"{summary.rejected:,}"),
        ("failed", f"{summary.failed:,}"),
        ("not started", f"{summary.files - summary.done:,}"),
        ("rows merged", f"{summary.rows_merged:,}"),
        ("  inserted / updated / unchanged",
         f"{summary.inserted:,} / {summary.updated:,} / {summary.unchanged:,}"),
        ("seconds", f"{summary.seconds:,.1f}"),
        ("rows/s", f"{summary.rows_per_second:,.0f}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in figures)
    title = f"backfill of {summary.files:,} file(s)" + (
        " (interrupted)" if summary.interrupted else ""
    )
    print(title, file=out)
    for name, value in figures:
        print(f"  {name:<{width}}  {value:>14}", file=out)
    problems = summary.problems()
    if problems:
        print(f"\n{len(problems)} file(s) did not load:", file=out)
        for outcome in problems:
            print(f"  {outcome.report.status:<9}{shown(outcome.export.source)}", file=out)
            for error in outcome.report.errors[:3]:
                where = f"line {error['line']}" if error.get("line") else "file"
                column = f", column {error['column']}" if error.get("column") else ""
                print(f"             {where}{column}: {shown(error['reason'])}", file=out)
    out.flush()
