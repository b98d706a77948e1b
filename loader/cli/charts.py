"""``fundsync status --chart``: rows per trade date, with the missing and short days marked.

matplotlib is an optional dependency (``pip install 'fund-data-sync[charts]'``; the
development environment has it, the Lambda image does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.errors import ConfigError

if TYPE_CHECKING:
    from loader.mysql.status import Day

COLORS = {None: "#4c72b0", "short": "#dd8452", "missing": "#c44e52"}


def rows_per_day(days: Sequence[Day], path: str) -> Path:
    """A bar per trade date; short days in orange, missing weekdays as red marks at zero."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--chart needs matplotlib: pip install 'fund-data-sync[charts]' (or use ./dev)"
        ) from None
    figure, axes = plt.subplots(figsize=(max(8.0, len(days) * 0.22), 4.2))
    dates: Any = [d.d_trade for d in days]
    axes.bar(dates, [d.rows for d in days], color=[COLORS[d.flag] for d in days], width=0.8)
    missing: Any = [d.d_trade for d in days if d.flag == "missing"]
    from matplotlib.dates import date2num

    for when in missing:  # a band where a weekday has no row at all
        middle = date2num(when)  # type: ignore[no-untyped-call]
        axes.axvspan(middle - 0.45, middle + 0.45, color=COLORS["missing"], alpha=0.3)
    if missing:
        axes.scatter(missing, [0] * len(missing), marker="x", color=COLORS["missing"], zorder=3)
    axes.set_ylabel("rows in fund_data")
    figure.suptitle("rows per trade date", x=0.01, ha="left", fontsize="medium")
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    from matplotlib.patches import Patch

    axes.legend(
        handles=[
            Patch(color=COLORS[None], label="held"),
            Patch(color=COLORS["short"], label="short (< half the median day)"),
            Patch(color=COLORS["missing"], label="missing weekday"),
        ],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02, 1.0, 0.1),
        ncols=3,
        frameon=False,
        fontsize="small",
    )
    figure.autofmt_xdate()
    figure.tight_layout()
    out = Path(path)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
