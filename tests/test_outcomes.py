"""One outcome vocabulary, decided once: every error type through every entry point.

Each error the loader can raise is injected (``FUNDSYNC_INJECT_FAULT``) into a
real load through the four entry points (``fundsync load``, the Lambda
handler, ``fundsync worker``, ``fundsync backfill``), against a real MariaDB
and moto; each must end in the same status, the one
:func:`loader.outcome.outcome_of` decides: bad input is ``rejected`` (never
retried, dead-lettered at once), anything else ``failed`` (retried). The
ledger, the CLI's exit status, the pipeline's verdict and the backfill's
summary all say the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader import errors
from loader.backfill import Backfill, discover
from loader.outcome import outcome_of
from loader.pipeline.events import s3_notification
from loader.pipeline.process import Pipeline
from loader.pipeline.worker import Worker
from loader.prepare.prepare import PrepareOptions
from loader.settings import PipelineSettings
from loader.sources import S3Object
from tests.conftest import csv_bytes, query
from tests.helpers import fundsync, plain_url

pytestmark = [pytest.mark.db, pytest.mark.aws]

GOOD = csv_bytes("2025-12-09,KF,KF-A,NAV,10.1234", "2025-12-09,KF,KF-A,AUM,7")
# error type -> the stage it is injected at (where such an error arises)
ERRORS = {
    "FileRejected": "parse",
    "SourceMissing": "parse",
    "SourceUnreadable": "parse",
    "SourceKeyTooLong": "parse",
    "SourceChanged": "parse",
    "MalformedMessage": "parse",
    "AwsError": "parse",
    "NotEnoughTime": "parse",
    "ShuttingDown": "parse",
    "ConfigError": "parse",
    "RuntimeError": "write",
    "DatabaseError": "merge",
    "PrivilegeMissing": "merge",
    "DatabaseSilent": "merge",
    "SchemaError": "ledger",
    "MigrationError": "ledger",
    "StagingError": "merge",
    "MergeCountMismatch": "merge",
    "LedgerChanged": "merge",
    "VerificationFailed": "merge",
    "ConcurrentWrite": "merge",
    "MassDeleteRefused": "merge",
    "RevertRefused": "merge",
    "TransientError": "merge",
    "InputError": "parse",
}
ROOTS = {"LoaderError"}


def expected(kind: str) -> str:
    return "rejected" if isinstance(errors_instance(kind), errors.InputError) else "failed"


def errors_instance(kind: str) -> BaseException:
    from loader.faults import make

    return make(kind, "test")


def test_every_error_type_of_the_loader_is_driven_here():
    declared = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.LoaderError)
    }
    assert declared - ROOTS == set(ERRORS) - {"RuntimeError"}


def test_the_outcome_function_is_the_only_rule():
    assert {kind: outcome_of(errors_instance(kind)).status for kind in ERRORS} == {
        kind: ("rejected" if kind in {
            "FileRejected", "SourceMissing", "SourceUnreadable", "SourceKeyTooLong",
            "MalformedMessage", "InputError", "MassDeleteRefused",
        } else "failed")
        for kind in ERRORS
    }  # fmt: skip


def last_ledger_status(db) -> str:
    return query(db, "SELECT status FROM fund_data_loads ORDER BY id DESC LIMIT 1")[0][0]


def through_the_cli(db, path: Path, fault: str) -> tuple[str, str | None]:
    run = fundsync(
        "load", "--json", str(path), "--db", plain_url(db), env={"FUNDSYNC_INJECT_FAULT": fault}
    )
    report = json.loads(run.stdout)
    assert run.returncode == 1, run.stderr  # rejected or failed: exit status 1
    assert last_ledger_status(db) == report["status"]
    return report["status"], report["error_type"]


def through_the_handler(handler, lake, db) -> tuple[str, str | None]:
    key = lake.put("handler/day.csv", GOOD)
    lake.clear()
    failed = handler(handler.event(s3_notification(S3Object(lake.bucket, key))))
    [report] = [r["load_report"] for r in handler.log_records() if "load_report" in r][-1:]
    letters = lake.receive(lake.dlq_url)
    if report["status"] == "failed":
        assert failed and letters == []  # left for SQS to retry
    else:
        assert failed == [] and len(letters) == 1  # dead-lettered at once
        attributes = letters[0]["MessageAttributes"]
        assert attributes["fundsync.error_type"]["StringValue"] == report["error_type"]
    assert last_ledger_status(db) == report["status"]
    return report["status"], report["error_type"]


def through_the_worker(lake, db, tmp_path: Path) -> tuple[str, str | None]:
    lake.clear()
    lake.put("worker/day.csv", GOOD)
    settings = PipelineSettings(dlq_url=lake.dlq_url, work_dir=str(tmp_path))
    results = []
    with Pipeline(settings, db=db, s3=lake.s3, sqs=lake.sqs) as pipeline:
        worker = Worker(pipeline, lake.queue_url, sqs=lake.sqs, wait_seconds=0)
        worker.on_result = lambda result: (results.append(result), worker.stop())
        worker.run()
    [result] = results
    [report] = result.reports
    assert (
        result.verdict
        == {"loaded": "done", "rejected": "rejected", "failed": "retry"}[report.status]
    )
    if report.status == "rejected":
        assert result.dead_lettered and lake.receive() == []  # deleted from the queue
    assert last_ledger_status(db) == report.status
    return report.status, report.error_type


def through_the_backfill(db, folder: Path) -> tuple[str, str | None]:
    summary = Backfill(db, PrepareOptions(), workers=1).run(discover(str(folder)))
    [outcome] = summary.outcomes
    report = outcome.report
    assert getattr(summary, report.status) == 1 and not summary.ok
    assert last_ledger_status(db) == report.status
    return report.status, report.error_type


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_every_entry_point_gives_the_same_outcome(kind, handler, lake, db, tmp_path, monkeypatch):
    fault = f"{ERRORS[kind]}={kind}"
    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "fund_data_2025-12-09.csv"
    path.write_bytes(GOOD)
    monkeypatch.setenv("FUNDSYNC_INJECT_FAULT", fault)
    outcomes = {
        "cli": through_the_cli(db, path, fault),
        "handler": through_the_handler(handler, lake, db),
        "worker": through_the_worker(lake, db, tmp_path),
        "backfill": through_the_backfill(db, folder),
    }
    assert set(outcomes.values()) == {(expected(kind), kind)}, outcomes
    assert query(db, "SELECT COUNT(*) FROM fund_data") == [(0,)]  # nothing half-written


def test_a_real_bad_file_and_a_real_missing_source_agree_everywhere(handler, lake, db, tmp_path):
    """The same, with no injection: a broken file, and a source that does not exist."""
    broken = csv_bytes("2025-12-09,KF,KF-A,NAV,1", "2025-12-40,KF,KF-A,BID,2")
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "fund_data_2025-12-09.csv").write_bytes(broken)
    cli = fundsync(
        "load",
        "--json",
        str(folder / "fund_data_2025-12-09.csv"),
        str(tmp_path / "nope.csv"),
        "--db",
        plain_url(db),
    )
    assert cli.returncode == 1
    bad, missing = (json.loads(line) for line in cli.stdout.splitlines())
    assert (bad["status"], bad["error_type"]) == ("rejected", "FileRejected")
    assert (missing["status"], missing["error_type"]) == ("rejected", "SourceMissing")
    key = lake.put("real/day.csv", broken)
    lake.clear()
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, key)))) == []
    assert handler(handler.event(s3_notification(S3Object(lake.bucket, "raw/gone.csv")))) == []
    letters = lake.receive(lake.dlq_url)
    assert sorted(
        m["MessageAttributes"]["fundsync.error_type"]["StringValue"] for m in letters
    ) == [
        "FileRejected",
        "SourceMissing",
    ]
    summary = Backfill(db, PrepareOptions(), workers=1).run(discover(str(folder)))
    assert (summary.rejected, summary.failed) == (1, 0)
