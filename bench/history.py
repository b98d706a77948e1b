"""The history benchmark: a day's load, and the operator's views, on a fund_data of years.

    python bench/history.py [--sizes 5 20 50] [--day-rows 1000000] [--repeat 3]
                            [--scenarios ...] [--tools ...] [--no-ops] [--pool-share 0.25]

Production's fund_data holds years (about 1M rows a trading day), and its buffer pool holds
a fraction of it; MariaDB's fast path for empty tables, which Aurora lacks, says nothing
about that. So every figure here is taken on a table that already holds history: for each
size (millions of rows) a throwaway MariaDB starts on a cached data directory holding that
many rows of generated days, loaded by fund-data-sync itself (`bench/data/history-<N>M/`,
built on first use: generated exports, then `fundsync load`), with its buffer pool set to
``--pool-share`` of the table (1/4 by default) and a 1 GB redo log, durable commits.

Per size, in one run, the tools alternating within each repetition:

  ceiling      raw LOAD DATA LOCAL of the day's clean rows into the same table (the limit)
  fundsync     the whole `fundsync load` process (start, imports, parse, load, commit)
  rowwise, awswrangler   the peers (fresh day, first size only; --peers)

on the scenarios

  fresh      a new trade date of --day-rows rows
  reload     the identical file under another name (the day already loaded)
  few        a few funds restated: 20% of the values of 2% of the funds
  scattered  1% of the values changed, across all funds
  restated   every numeric value changed

each checked exact against rows computed by an independent reference (bench/reference.py);
with ``--revert``, after each load of ``few``, ``scattered`` and ``restated``, `fundsync
revert` of that load (the whole process), checked: the day holds its original rows again;
then the operator's commands (`status`, `history`, `show`, `query --ticker` for a year,
`query --source`, `verify --date`), each a whole process. Before each run the day is put
back as the scenario needs it (untimed), the dirty pages flushed and purge caught up.
Prints and writes bench/results/history/history.{json,md}: per size the median (and best)
seconds, the ratio to the ceiling, peak RSS, the stage profile, and how each cost grows
with the table; and history.png, the first size's runs as a chart (with the ``charts``
extra; ``--replot RUN/history.json`` redraws both from a run). Nothing is asserted: the
figures are for people.

Runtime and disk (measured on 2 cores): building the history takes about 6 s a million rows
(5M: half a minute, plus generating the day files), and the cache holds 2.3 GB for 5M rows,
5.2 GB for 20M (50M: about 12 GB by the same growth, not built here), plus the same again
while a run works on its copy. ``--sizes 5 --repeat 3 --peers`` took 27 minutes;
``--sizes 5 --repeat 3 --scenarios fresh few scattered restated --no-ops`` about 15.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.history_report import chart, markdown  # noqa: E402
from bench.history_setup import (  # noqa: E402
    DAY,
    Inputs,
    make_inputs,
    open_history,
    put_day_back,
    table_size,
    truths,
)
from bench.process import cli, timed_process  # noqa: E402
from bench.scenarios import compare, run_tool  # noqa: E402
from bench.server import machine, quiesce, recorded_run, settle  # noqa: E402
from loader.mysql.config import DbConfig  # noqa: E402

SCENARIOS = ("fresh", "reload", "few", "scattered", "restated")
TOOLS = ("ceiling", "fundsync")
PEERS = ("rowwise", "awswrangler")
REVERTED = ("few", "scattered", "restated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[5, 20, 50], help="M rows")
    parser.add_argument("--day-rows", type=int, default=1_000_000, help="rows of the day loaded")
    parser.add_argument(
        "--history-rows", type=int, default=1_000_000, help="rows of each day of history"
    )
    parser.add_argument("--days", type=int, help="trade dates the day's rows spread over")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--peers", action="store_true", help="the peers on the fresh day")
    parser.add_argument("--no-ops", action="store_true", help="skip the operator's commands")
    parser.add_argument(
        "--revert",
        action="store_true",
        help="after each load of an existing day, time `fundsync revert` of it (and check it)",
    )
    parser.add_argument("--pool-share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=20251209)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "history")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for fundsync (FUNDSYNC_MODE=replace-days, say)")  # fmt: skip
    parser.add_argument(
        "--replot", type=Path, metavar="JSON", help="only redraw the table and chart of a run"
    )
    args = parser.parse_args()
    if args.replot:
        write(args.replot.parent, recorded_run(args.replot, "history.py"))
        return 0
    inputs = make_inputs((HERE / "data").resolve(), args.day_rows, args.days, args.seed)
    record: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "sizes": []}
    for number, size in enumerate(args.sizes):
        data = (HERE / "data").resolve()
        with open_history(data, size, args.history_rows, args.seed, args.pool_share) as h:
            server, admin = h
            if not record.get("machine"):
                record["machine"] = machine(admin)
            peers = args.peers and number == 0
            with truths(admin, inputs):
                record["sizes"].append(run_size(args, inputs, server, admin, size, peers))
            record["sizes"][-1]["settings"] = machine(admin)
        write(args.out, record)
    print(markdown(record))
    return 0


def run_size(
    args: argparse.Namespace, inputs: Inputs, server: Any, admin: DbConfig, size: int, peers: bool
) -> dict[str, Any]:
    config = admin.with_database("fundsync")
    url = _url(server, "fundsync")
    data, index = table_size(config)
    print(f"== {size}M rows: fund_data {data / 2**30:.2f} GiB data + {index / 2**30:.2f} GiB "
          f"index; {machine(admin)}", flush=True)  # fmt: skip
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    env = dict(item.split("=", 1) for item in args.env)
    for repetition in range(args.repeat):
        for scenario in args.scenarios:
            tools = [t for t in args.tools if t != "ceiling" or scenario == "fresh"]
            if peers and scenario == "fresh":
                tools += list(PEERS)
            shift = repetition % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                outcome = one_run(server, admin, config, url, inputs, scenario, tool, env)
                done = [(tool, outcome)]
                if args.revert and tool == "fundsync" and scenario in REVERTED:
                    done.append(("revert", revert_run(server, admin, config, url, inputs, outcome)))
                for name, result in done:
                    runs.setdefault((scenario, name), []).append(result)
                    print(json.dumps({"size": size, "scenario": scenario, "tool": name,
                                      "seconds": round(result["seconds"], 3),
                                      "check": result["check"]}), flush=True)  # fmt: skip
    summary = {f"{scenario}/{tool}": summarize(runs[(scenario, tool)]) for scenario, tool in runs}
    ops = {} if args.no_ops else operator_views(server, admin, config, url, inputs)
    return {"size_m": size, "data_bytes": data, "index_bytes": index, "runs": summary, "ops": ops}


def one_run(
    server: Any,
    admin: DbConfig,
    config: DbConfig,
    url: str,
    inputs: Inputs,
    scenario: str,
    tool: str,
    env: dict[str, str],
) -> dict[str, Any]:
    """Put the day back as the scenario needs it, let the server settle, run, check."""
    loaded = inputs.file_of(scenario)
    put_day_back(config, inputs, present=scenario != "fresh")
    settle(admin)
    quiesce(server, 5.0)
    if tool == "fundsync":
        outcome = timed_process(cli("load", "--json", "--db", url, str(loaded.path)), env)
        report = json.loads(outcome.pop("stdout").splitlines()[-1])
        outcome.update(
            ledger_id=report["ledger_id"],
            status=report["status"],
            method=report["method"],
            counts=[report[k] for k in ("inserted", "updated", "unchanged")],
            stages=report["stage_seconds"],
        )
    elif tool == "ceiling":
        outcome = run_tool("ceiling", url, loaded.clean, DAY.key)
    else:
        outcome = run_tool(tool, url, loaded.path, DAY.key)
    outcome["check"] = compare(config, loaded.truth, days=inputs.days)
    return outcome


def revert_run(
    server: Any, admin: DbConfig, config: DbConfig, url: str, inputs: Inputs, load: dict[str, Any]
) -> dict[str, Any]:
    """`fundsync revert` of the load just made (the whole process), checked: the day holds the
    original rows again."""
    settle(admin)
    quiesce(server, 5.0)
    outcome = timed_process(cli("revert", "--load-id", str(load["ledger_id"]), "--db", url), {})
    assert outcome.pop("returncode", 0) == 0, outcome.get("stderr")
    outcome.pop("stdout", None)
    outcome["check"] = compare(config, inputs.day.truth, days=inputs.days)
    return outcome


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sorted(r["seconds"] for r in runs)
    out: dict[str, Any] = {
        "median": statistics.median(seconds),
        "best": seconds[0],
        "runs": len(runs),
        "peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in runs),
        "exact": all(not any(r["check"].values()) for r in runs),
        "check": runs[-1]["check"],
    }
    for extra in ("method", "counts", "status"):
        if extra in runs[-1]:
            out[extra] = runs[-1][extra]
    if "stages" in runs[-1]:
        names = runs[-1]["stages"]
        out["stages"] = {n: statistics.median(r["stages"].get(n, 0) for r in runs) for n in names}
    return out


def operator_views(
    server: Any, admin: DbConfig, config: DbConfig, url: str, inputs: Inputs
) -> dict[str, Any]:
    """The operator's commands on the table as it stands (the day loaded by fund-data-sync),
    each a whole process, median of three."""
    put_day_back(config, inputs, present=False)
    done = timed_process(cli("load", "--db", url, str(inputs.day.path)), {})
    assert done["returncode"] == 0, done
    settle(admin)
    quiesce(server, 5.0)
    source = str(inputs.day.path)
    year_ago = DAY.date.replace(year=DAY.date.year - 1).isoformat()
    commands = {
        "status": cli("status", "--db", url),
        "history": cli("history", source, "--db", url),
        "show": cli("show", source, "--db", url),
        "query --ticker, a year": cli(
            "query", "--ticker", inputs.ticker, "--since", year_ago, "--format", "csv", "--db", url
        ),
        "query --source": cli("query", "--source", source, "--format", "csv", "--db", url),
        "verify --date": cli("verify", "--date", DAY.date.isoformat(), "--db", url),
    }
    out = {}
    for name, command in commands.items():
        times = []
        for _ in range(3):
            run = timed_process(command, {})
            times.append(run["seconds"])
        out[name] = {"median": statistics.median(times), "best": min(times)}
        print(json.dumps({"op": name, "seconds": round(out[name]["median"], 3)}), flush=True)
    return out


def _url(server: Any, database: str) -> str:
    return str(server.url_for(database))


def write(out: Path, record: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.json").write_text(json.dumps(record, indent=1, default=str))
    (out / "history.md").write_text(markdown(record))
    try:
        chart(record, out / "history.png")
    except ImportError:  # matplotlib is the charts extra: the table is the result
        print("no chart drawn: matplotlib is not installed (the charts extra)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
