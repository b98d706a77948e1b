"""One benchmark run of one tool, in a process of its own (so its peak RSS is its own).

    python bench/tools.py TOOL --db URL --file PATH --key SOURCE_KEY

Tools:
  fundsync     fund-data-sync's load_source (prepare, then merge: parse, stage, merge, ledger)
  rowwise      the original design: csv + Decimal per row, executemany of 1,000-row
               batches of INSERT ... ON DUPLICATE KEY UPDATE (mysql-connector), one commit
  awswrangler  pandas.read_csv, then awswrangler.mysql.to_sql(mode="upsert_duplicate_key",
               chunksize=1000) over pymysql (runs in bench/peers/.venv)
  ceiling      raw LOAD DATA LOCAL INFILE of the already-clean rows (--file is the clean
               file) into an empty fund_data

Prints one JSON line: the seconds from opening the file to the commit, and what the tool
reported. Imports are not timed: each tool pays its own start-up outside the clock.
Only the standard library is imported here at the top: the awswrangler run has no loader.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["d_trade", "stock", "ticker", "col_code"]
BATCH = 1000


def connection_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    args: dict[str, Any] = {
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
    }
    if query.get("unix_socket"):
        args["unix_socket"] = query["unix_socket"]
    else:
        args["host"], args["port"] = parts.hostname or "127.0.0.1", parts.port or 3306
    return args


def run_fundsync(url: str, path: Path, key: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import loader  # noqa: F401  (allocator settings before Polars)
    from loader.load import load_source
    from loader.mysql.config import DbConfig
    from loader.mysql.session import Session
    from loader.prepare.prepare import PrepareOptions
    from loader.settings import ParseSettings
    from loader.sources import LocalFile

    with Session(DbConfig.from_url(url)) as session:
        session.connection()  # connect outside the clock, as every tool does
        started = time.perf_counter()
        options = PrepareOptions(parse=ParseSettings.from_env())  # FUNDSYNC_MODE, say
        report = load_source(LocalFile(str(path), key), session, options)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": report.rows_read,
        "status": report.status,
        "method": report.method,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "deleted": report.to_dict().get("deleted"),
        "verified": report.to_dict().get("verified"),
        "stage_seconds": report.to_dict()["stage_seconds"],
    }


def run_rowwise(url: str, path: Path, key: str) -> dict[str, Any]:
    import csv
    from datetime import date
    from decimal import Decimal, InvalidOperation

    import mysql.connector

    conn = mysql.connector.connect(**connection_args(url), use_pure=True, autocommit=False)
    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+07:00'")
    statement = (
        "INSERT INTO fund_data (d_trade, stock, ticker, col_code, value_numeric, value_text, "
        "s3_source_key, synced_at) VALUES (%s, %s, %s, %s, %s, %s, %s, NOW(6)) "
        "ON DUPLICATE KEY UPDATE value_numeric = VALUES(value_numeric), "
        "value_text = VALUES(value_text), s3_source_key = VALUES(s3_source_key), "
        "synced_at = VALUES(synced_at)"
    )
    started = time.perf_counter()
    rows = 0
    batch: list[tuple[Any, ...]] = []
    with open(path, encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = [h.strip().lower() for h in next(reader)]
        where = [header.index(c) for c in (*KEYS, "value")]
        for record in reader:
            if not record:
                continue
            day, stock, ticker, col, raw = (record[i].strip() for i in where)
            numeric: Decimal | None = None
            text: str | None = None
            if raw and raw.upper() not in ("NULL", "\\N"):
                try:
                    numeric = Decimal(raw)
                except InvalidOperation:
                    text = raw
            batch.append((date.fromisoformat(day), stock, ticker, col, numeric, text, key))
            rows += 1
            if len(batch) == BATCH:
                cur.executemany(statement, batch)
                batch.clear()
    if batch:
        cur.executemany(statement, batch)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rows": rows, "status": "loaded"}


def run_awswrangler(url: str, path: Path, key: str) -> dict[str, Any]:
    import awswrangler as wr
    import pandas as pd
    import pymysql

    args = connection_args(url)
    conn = pymysql.connect(
        host=args.get("host"),
        port=args.get("port", 3306),
        unix_socket=args.get("unix_socket"),
        user=args["user"],
        password=args["password"],
        database=args["database"],
        charset="utf8mb4",
    )
    started = time.perf_counter()
    # a careful pandas user: everything as text first, so "N/A" stays text, then to_numeric
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [c.strip().lower() for c in frame.columns]
    for column in (*KEYS, "value"):
        frame[column] = frame[column].str.strip()
    rows = len(frame)
    frame = frame.drop_duplicates(subset=KEYS, keep="last")
    value = frame["value"].where(~frame["value"].str.upper().isin(["", "NULL", "\\N"]))
    numeric = pd.to_numeric(value, errors="coerce")  # float64: where precision goes
    out = pd.DataFrame(
        {
            "d_trade": pd.to_datetime(frame["d_trade"], format="%Y-%m-%d").dt.date,
            "stock": frame["stock"],
            "ticker": frame["ticker"],
            "col_code": frame["col_code"],
            "value_numeric": numeric,
            "value_text": value.where(numeric.isna() & value.notna(), None),
            "s3_source_key": key,
            "synced_at": pd.Timestamp.now(tz="Asia/Bangkok").tz_localize(None),
        }
    )
    out["value_numeric"] = (
        out["value_numeric"].astype(object).where(out["value_numeric"].notna(), None)
    )
    wr.mysql.to_sql(
        out,
        conn,
        table="fund_data",
        schema=args["database"],
        mode="upsert_duplicate_key",
        chunksize=BATCH,
        use_column_names=True,
    )
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rows": rows, "status": "loaded"}


def run_ceiling(url: str, path: Path, key: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from loader.mysql import sql
    from loader.mysql.config import DbConfig
    from loader.mysql.connection import connect

    conn = connect(DbConfig.from_url(url), staging_dir=path.parent)
    cur: Any = conn.cursor()
    cur.execute(sql.SET_LINEAGE, (key,))
    started = time.perf_counter()
    cur.execute(sql.load_data_into_target(), (str(path),))
    loaded, warnings = cur.rowcount, cur.warning_count
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rows": loaded, "status": "loaded", "warnings": warnings}


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM).

    Not the rusage of the child seen from the parent: on Linux that starts
    from the parent's RSS at fork time, so a big parent inflates every child.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


TOOLS = {
    "fundsync": run_fundsync,
    "rowwise": run_rowwise,
    "awswrangler": run_awswrangler,
    "ceiling": run_ceiling,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("--db", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    result = TOOLS[args.tool](args.db, args.file, args.key)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
