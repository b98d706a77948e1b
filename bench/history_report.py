"""The history benchmark's tables: per size, and how each cost grows with the table."""

from __future__ import annotations

from typing import Any

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
