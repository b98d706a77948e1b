"""The side-by-side benchmark's results for people: the ratios to the ceiling and to
fund-data-sync, the markdown table and the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.scenarios import LABELS, WITHOUT_TICKER_INDEX


def add_ratios(results: list[dict[str, Any]]) -> None:
    """x ceiling (median time over the ceiling's median, in the same shape and scenario; a
    tool without ix_fund_data_ticker over the ceiling without it, when that ran) and
    fund-data-sync's speed-up over each tool."""
    by = {(r.get("shape", "empty"), r["scenario"], r["tool"]): r for r in results}
    for r in results:
        shape = r.get("shape", "empty")
        ceiling = by.get((shape, r["scenario"], "ceiling"))
        if r["tool"].endswith(WITHOUT_TICKER_INDEX):
            ceiling = by.get((shape, r["scenario"], "ceiling_noticker"), ceiling)
        ours = by.get((shape, r["scenario"], "fundsync"))
        r["x_ceiling"] = round(r["seconds"] / ceiling["seconds"], 2) if ceiling else None
        r["fundsync_speedup"] = round(r["seconds"] / ours["seconds"], 2) if ours else None


def markdown(record: dict[str, Any]) -> str:
    """The history table first (the production shape), then the empty-table one."""
    repeat = record.get("repeat", 1)
    lines = [
        f"Side by side: a day of {record['rows']:,} rows, one server ({record['machine']}; "
        f"{record['when']}). Median of {repeat} (best in brackets); the tools alternate "
        "within each repetition. Time is from opening the file to the commit; peak RSS is "
        "the tool's own process. x ceiling: median time over the median of a raw LOAD DATA "
        "of the same clean, key-ordered rows into the same table shape. fund-data-sync "
        "faster by: this tool's time over fund-data-sync's.",
    ]
    shapes = list(dict.fromkeys(r.get("shape", "empty") for r in record["results"]))
    for shape in shapes:
        if shape == "history":
            title = (
                f"Into history: fund_data already holds {record.get('history_days', 0)} days x "
                f"{record.get('history_rows', 0):,} rows"
            )
        else:
            title = "Into an empty fund_data (secondary: production is never empty)"
        lines += [
            "",
            f"**{title}**",
            "",
            "| scenario | tool | rows | rows/s | seconds (best) | peak RSS MB | x ceiling | "
            "fund-data-sync faster by | correct |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in record["results"]:
            if r.get("shape", "empty") != shape:
                continue
            if r["exact"]:
                correct = "exact"
            else:
                parts = [f"{r[k]:,} {k}" for k in ("differing", "missing", "extra") if r[k]]
                correct = "**WRONG**: " + ", ".join(parts)
                if r["tool"] == "awswrangler":
                    correct += " (values through float64)"
            speedup = (
                "" if r["tool"] in ("fundsync", "ceiling") else f"{r['fundsync_speedup']:.1f}x"
            )
            best = r.get("best_seconds", r["seconds"])
            lines.append(
                f"| {r['scenario_title']} | {r['label']} | {r.get('rows', record['rows']):,} | "
                f"{r['rows_per_second']:,} | {r['seconds']:.2f} ({best:.2f}) | "
                f"{r['peak_rss_mb']:,.0f} | {r['x_ceiling']:.2f} | {speedup} | {correct} |"
            )
    return "\n".join(lines) + "\n"


PANELS = (
    ("rows_per_second", "rows per second (higher is better)", "{:,.0f}"),
    ("x_ceiling", "time as a multiple of the ceiling (lower is better)", "{:.2f}x"),
    ("peak_rss_mb", "peak memory, MB (lower is better)", "{:,.0f}"),
)


COLOURS = {
    "ceiling": "#9e9e9e",
    "fundsync": "#1b7f3b",
    "fundsync_regular": "#6fbf73",
    "fundsync_verify": "#0b4f24",
    "fundsync_replace": "#4c9a6a",
    "fundsync_noticker": "#8fd19e",
    "ceiling_noticker": "#cfcfcf",
    "rowwise": "#c77c02",
    "awswrangler": "#2a5ea8",
}


def _panel(
    ax: Any,
    panel: tuple[str, str, str],
    results: list[dict[str, Any]],
    rows_of: dict[tuple[str, str], dict[str, Any]],
    scenarios: list[str],
    tools: list[str],
    height: float,
) -> None:
    """One panel: a bar per scenario and tool of ``field``, its own axis."""
    import matplotlib.ticker

    field, title, form = panel
    top = max(r[field] for r in results)
    for i, scenario in enumerate(scenarios):
        for j, tool in enumerate(tools):
            row = rows_of.get((scenario, tool))
            if row is None:
                continue
            y = i + j * height
            ax.barh(
                y,
                row[field],
                height=height * 0.9,
                color=COLOURS.get(tool, "#555"),
                hatch="//" if not row["exact"] else None,
                edgecolor="white" if row["exact"] else "#b00020",
            )
            note = " " + form.format(row[field])
            if field == "rows_per_second" and not row["exact"]:
                wrong = row["differing"] + row["missing"] + row["extra"]
                note += f"  WRONG: {wrong:,} rows"
            ax.text(row[field], y, note, va="center", fontsize=7.5)
    room = 1.45 if field == "rows_per_second" else 1.3
    ax.set_xlim(0, top * room)
    ax.set_title(title, fontsize=9.5)
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(
            lambda x, _, f=field: f"{x:.0f}x" if f == "x_ceiling" else f"{x:,.0f}"
        )
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def chart(record: dict[str, Any], target: Path) -> None:
    """Three panels side by side, one bar per tool and scenario in each: rows per second,
    the time as a multiple of the ceiling, and peak memory. Each axis fits its own data
    (with room for the labels); a wrong load is hatched, and the legend says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shapes = [r.get("shape", "empty") for r in record["results"]]
    primary = "history" if "history" in shapes else "empty"
    results = [r for r in record["results"] if r.get("shape", "empty") == primary]
    scenarios = list(dict.fromkeys(r["scenario_title"] for r in results))
    tools = list(dict.fromkeys(r["tool"] for r in results))
    rows_of = {(r["scenario_title"], r["tool"]): r for r in results}
    height = 0.8 / len(tools)
    fig, axes = plt.subplots(
        1,
        len(PANELS),
        sharey=True,
        figsize=(15, 1.6 + 0.42 * len(scenarios) * len(tools)),
        gridspec_kw={"width_ratios": [1.25, 1, 1]},
    )
    for ax, panel in zip(axes, PANELS, strict=True):
        _panel(ax, panel, results, rows_of, scenarios, tools, height)
    axes[0].set_yticks([i + 0.4 - height / 2 for i in range(len(scenarios))])
    axes[0].set_yticklabels(scenarios)
    axes[0].invert_yaxis()
    handles = [Patch(facecolor=COLOURS.get(t, "#555"), edgecolor="white", label=LABELS[t])
               for t in tools]  # fmt: skip
    handles.append(
        Patch(facecolor="white", edgecolor="#b00020", hatch="//",
              label="hatched, red edge: the table then held wrong values")
    )  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    where = (
        f"a fund_data holding {record['history_days']} days of history"
        if primary == "history"
        else "an empty fund_data"
    )
    fig.suptitle(
        f"Loading a day of {record['rows']:,} rows into {where}, one server (median of "
        f"{record.get('repeat', 1)})",
        fontsize=11,
    )
    fig.text(0.01, 0.005, record["machine"], fontsize=6.5, color="#555")
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    fig.savefig(target, dpi=110)
    plt.close(fig)
