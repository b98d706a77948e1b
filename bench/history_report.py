"""The history benchmark's tables: per size, and how each cost grows with the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.compare_report import COLOURS
from bench.scenarios import LABELS as TOOL_LABELS

LABELS = {
    "fresh": "a fresh day",
    "reload": "identical file, new name",
    "few": "a few funds restated (20% of 2%)",
    "scattered": "1% of values changed",
    "restated": "every value restated",
}


def markdown(record: dict[str, Any]) -> str:
    lines = [f"Machine: {record.get('machine', '?')}", ""]
    for size in record["sizes"]:
        lines += _size_table(size)
    if len(record["sizes"]) > 1:
        lines += _growth(record["sizes"])
    return "\n".join(lines) + "\n"


def _ceiling(size: dict[str, Any]) -> float | None:
    ceiling = size["runs"].get("fresh/ceiling")
    return ceiling["median"] if ceiling else None


def _size_table(size: dict[str, Any]) -> list[str]:
    total = (size["data_bytes"] + size["index_bytes"]) / 2**30
    lines = [
        f"### {size['size_m']}M rows of history (fund_data {total:.2f} GiB)",
        "",
        f"Server: {size.get('settings', '')}",
        "",
        "| scenario | tool | seconds, median (best) | x ceiling | peak RSS MB | method | exact |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    ceiling = _ceiling(size)
    for key, run in size["runs"].items():
        scenario, tool = key.split("/")
        ratio = f"{run['median'] / ceiling:.2f}" if ceiling else "-"
        exact = "exact" if run["exact"] else f"**WRONG** {run['check']}"
        lines.append(
            f"| {LABELS.get(scenario, scenario)} | {tool} | {run['median']:.2f} ({run['best']:.2f})"
            f" | {ratio} | {run['peak_rss_mb']:,.0f} | {run.get('method') or ''} | {exact} |"
        )
    if size.get("ops"):
        lines += ["", "| operator's command | seconds, median (best) |", "|---|---:|"]
        for name, op in size["ops"].items():
            lines.append(f"| `{name}` | {op['median']:.2f} ({op['best']:.2f}) |")
    profiles = [(k, r["stages"]) for k, r in size["runs"].items() if r.get("stages")]
    if profiles:
        lines += ["", "Stage seconds (median), fund-data-sync:", ""]
        for key, stages in profiles:
            text = ", ".join(f"{n} {s:.2f}" for n, s in stages.items() if s >= 0.01)
            lines.append(f"- {LABELS.get(key.split('/')[0], key)}: {text}")
    return [*lines, ""]


def _growth(sizes: list[dict[str, Any]]) -> list[str]:
    keys = [
        k for k in sizes[0]["runs"] if k.endswith(("/fundsync", "/revert")) or k == "fresh/ceiling"
    ]
    head = " | ".join(f"{s['size_m']}M" for s in sizes)
    lines = [
        "### How a day's cost grows with the table (median seconds; x ceiling in brackets)",
        "",
        f"| what | {head} |",
        "|---|" + "---:|" * len(sizes),
    ]
    for key in keys:
        cells = []
        for size in sizes:
            run, ceiling = size["runs"].get(key), _ceiling(size)
            if run is None:
                cells.append("-")
                continue
            ratio = (
                f" ({run['median'] / ceiling:.2f}x)" if ceiling and key != "fresh/ceiling" else ""
            )
            cells.append(f"{run['median']:.2f}{ratio}")
        scenario, tool = key.split("/")
        lines.append(f"| {LABELS.get(scenario, scenario)}, {tool} | {' | '.join(cells)} |")
    ops = list(sizes[0].get("ops") or {})
    for name in ops:
        cells = [
            f"{s['ops'][name]['median']:.2f}" if name in s.get("ops", {}) else "-" for s in sizes
        ]
        lines.append(f"| `{name}` | {' | '.join(cells)} |")
    return [*lines, ""]


def chart(record: dict[str, Any], target: Path) -> None:
    """The first size's runs as bars of median seconds, one per scenario and tool, each
    labelled with its multiple of the ceiling; a wrong result hatched with a red edge, the
    ceiling a dashed line. Needs matplotlib (the ``charts`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    size = record["sizes"][0]
    runs = size["runs"]
    ceiling = _ceiling(size)
    keys = list(runs)
    fig, ax = plt.subplots(figsize=(11, 1.4 + 0.42 * len(keys)))
    top = max(run["median"] for run in runs.values())
    for y, key in enumerate(keys):
        run, tool = runs[key], key.split("/")[1]
        ax.barh(
            y,
            run["median"],
            height=0.75,
            color=COLOURS.get(tool, "#555"),
            hatch=None if run["exact"] else "//",
            edgecolor="white" if run["exact"] else "#b00020",
        )
        note = f" {run['median']:.2f} s"
        if ceiling and tool != "ceiling":
            note += f", {run['median'] / ceiling:.2f}x the ceiling"
        if not run["exact"]:
            note += "  WRONG: " + ", ".join(f"{n:,} {k}" for k, n in run["check"].items() if n)
        ax.text(run["median"], y, note, va="center", fontsize=8)
    if ceiling:
        ax.axvline(ceiling, color="#616161", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(keys)))
    scenarios = [k.split("/")[0] for k in keys]  # each named once, at its first bar
    names = [LABELS.get(s, s) if s not in scenarios[:i] else "" for i, s in enumerate(scenarios)]
    ax.set_yticklabels(names, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.55)
    ax.set_xlabel("seconds, whole process (median)", fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    tools = list(dict.fromkeys(k.split("/")[1] for k in keys))
    handles = [Patch(facecolor=COLOURS.get(t, "#555"), label=TOOL_LABELS.get(t, t)) for t in tools]
    handles.append(Patch(facecolor="white", edgecolor="#b00020", hatch="//",
                         label="hatched, red edge: the table then held wrong values"))  # fmt: skip
    ax.legend(
        handles=handles, loc="lower right", bbox_to_anchor=(1, 0.16), fontsize=7.5, frameon=False
    )
    repeat = record.get("args", {}).get("repeat", "?")
    ax.set_title(
        f"A day's load into a fund_data of {size['size_m']}M rows (buffer pool "
        f"{record.get('args', {}).get('pool_share', '?')} of its size), median of {repeat}",
        fontsize=10,
    )
    fig.text(0.01, 0.005, size.get("settings", ""), fontsize=6, color="#555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(target, dpi=110)
    plt.close(fig)
