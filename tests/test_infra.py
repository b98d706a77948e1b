"""The deployment as code: Terraform formatted, valid and planned offline; the plan checked
by the Rego policies (each deny rule proven to fire on a deliberately broken plan); and the
queue module with the bucket notification applied to moto's server, delivering a file from
the bucket to MariaDB through ``fundsync worker``.

Terraform and the AWS provider come from this machine (``terraform`` on PATH, the provider
in a filesystem mirror, /opt/tf-plugins unless TF_PLUGIN_MIRROR says otherwise): no
registry. A machine without them fails these tests with a message saying what is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "infra" / "terraform"
POLICIES = ROOT / "infra" / "policies"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terraform"
CHECK_PLAN = ROOT / "infra" / "check_plan.py"
_spec = importlib.util.spec_from_file_location("check_plan", CHECK_PLAN)
assert _spec and _spec.loader
check_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_plan)
pytestmark = pytest.mark.infra


def terraform() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.fail(
            "terraform is not installed: the infra tests need the terraform CLI on PATH "
            "(1.10 or newer) and the hashicorp/aws provider in a filesystem mirror "
            "(/opt/tf-plugins, or set TF_PLUGIN_MIRROR)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory) -> dict[str, str]:
    """Environment for terraform: the project's CLI config (mirror only), a plugin cache."""
    mirror = os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins")
    if not (Path(mirror) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.fail(
            f"no hashicorp/aws provider in the filesystem mirror {mirror}: install it there "
            "or point TF_PLUGIN_MIRROR at a mirror (terraform providers mirror DIR)",
            pytrace=False,
        )
    work = tmp_path_factory.mktemp("terraform")
    config = work / "terraformrc"
    text = (TERRAFORM / "terraformrc").read_text().replace("/opt/tf-plugins", mirror)
    config.write_text(text + f'\nplugin_cache_dir = "{work / "cache"}"\n')
    (work / "cache").mkdir()
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def tf(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [terraform(), *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, (
        f"terraform {' '.join(args)} failed in {cwd}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    )
    return run


def plan_json(env: dict[str, str], root: Path) -> dict:
    tf(env, root, "init", "-input=false")  # a local backend (override file) where S3 is set
    tf(env, root, "plan", "-input=false", "-out=plan.bin")
    shown = subprocess.run(
        [terraform(), "show", "-json", "plan.bin"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(shown.stdout)


def evaluate(plan: dict) -> tuple[list[str], list[str]]:
    """The policies' deny and warn messages, by the runbook's own checker."""
    return check_plan.evaluate(plan)


def copy_terraform(tmp_path: Path) -> Path:
    target = tmp_path / "terraform"
    shutil.copytree(
        TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "plan.*")
    )
    return target


def test_terraform_is_formatted(tf_env):
    run = subprocess.run(
        [terraform(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM), str(FIXTURES)],
        env=tf_env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"terraform fmt would change:\n{run.stdout}"


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_environment_validates(tf_env, tmp_path, environment):
    root = copy_terraform(tmp_path) / "environments" / environment
    tf(tf_env, root, "init", "-input=false", "-backend=false")
    tf(tf_env, root, "validate")


def test_an_unformatted_tfvars_file_is_named_with_the_fix(tf_env, tmp_path):
    """The offline plan used to exit 3 with no output when a tfvars file was not formatted."""
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    tfvars = tmp_path / "infra" / "terraform" / "environments" / "dev" / "terraform.tfvars"
    tfvars.write_text(tfvars.read_text() + "\nalarm_emails   =    []\n")
    run = subprocess.run(
        ["bash", str(tmp_path / "infra" / "plan_offline.sh"), "dev"],
        env={**tf_env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 3
    assert "not formatted" in run.stderr and "terraform.tfvars" in run.stderr, run.stderr
    assert "run: terraform fmt -recursive infra/terraform" in run.stderr


@pytest.fixture(scope="module")
def dev_plan(tf_env, tmp_path_factory) -> dict:
    """The dev plan, made by the documented offline command (infra/plan_offline.sh)."""
    out = tmp_path_factory.mktemp("dev") / "plan.json"
    run = subprocess.run(
        ["bash", str(ROOT / "infra" / "plan_offline.sh"), "dev", str(out)],
        env={**tf_env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "policies pass" in run.stdout
    return json.loads(out.read_text())


def test_the_dev_plan_passes_every_policy(dev_plan, tmp_path):
    deny, warn = evaluate(dev_plan)
    assert deny == [] and warn == []
    (tmp_path / "plan.json").write_text(json.dumps(dev_plan))
    run = subprocess.run(
        [sys.executable, str(CHECK_PLAN), str(tmp_path / "plan.json")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "policies pass" in run.stdout, run.stdout + run.stderr


def test_the_plan_checker_refuses_what_is_not_a_plan(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"format_version": "1.0", "values": {}}))
    run = subprocess.run(
        [sys.executable, str(CHECK_PLAN), str(tmp_path / "state.json")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "is not a plan" in run.stderr


def test_the_dev_plan_has_the_promised_shape(dev_plan):
    after = {r["address"]: r["change"]["after"] for r in dev_plan["resource_changes"]}
    queue = after["module.fundsync.module.queue.aws_sqs_queue.main"]
    function = after["module.fundsync.module.loader.aws_lambda_function.loader"]
    mapping = after["module.fundsync.module.loader.aws_lambda_event_source_mapping.queue"]
    assert queue["name"] == "fundsync-exports-dev" and queue["receive_wait_time_seconds"] == 20
    assert queue["visibility_timeout_seconds"] >= 6 * function["timeout"]
    assert json.loads(queue["redrive_policy"])["maxReceiveCount"] == 3
    assert function["image_config"][0]["command"] == ["handler.lambda_handler"]
    assert function["tracing_config"][0]["mode"] == "Active"
    env = function["environment"][0]["variables"]
    assert {
        "FUNDSYNC_DB_SECRET_ARN",
        "FUNDSYNC_DLQ_URL",
        "FUNDSYNC_REJECTS_BUCKET",
        "FUNDSYNC_TIME_ZONE",
    } <= set(env)
    # Every setting Terraform hands the function is one the loader reads: a rename on
    # either side fails here rather than silently in production.
    source = "\n".join(p.read_text() for p in (ROOT / "loader").rglob("*.py"))
    unread = [name for name in env if name.startswith("FUNDSYNC_") and name not in source]
    assert unread == []
    assert (
        function["reserved_concurrent_executions"]
        >= mapping["scaling_config"][0]["maximum_concurrency"]
    )
    assert mapping["batch_size"] == 10 and mapping["maximum_batching_window_in_seconds"] > 0
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    notification = after["module.fundsync.module.notification.aws_s3_bucket_notification.exports"]
    [queue_config] = notification["queue"]
    assert (queue_config["filter_prefix"], queue_config["filter_suffix"]) == (
        "raw/sql_server/fund_data/",
        ".csv",
    )
    from loader.pipeline.infra import RAW_PREFIX, SUFFIX

    assert (queue_config["filter_prefix"], queue_config["filter_suffix"]) == (RAW_PREFIX, SUFFIX)
    policy = json.loads(
        after["module.fundsync.module.notification.aws_sqs_queue_policy.from_bucket"]["policy"]
    )
    [statement] = policy["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == "arn:aws:s3:::fund-data-lake-dev"
    access = json.loads(after["module.fundsync.module.loader.aws_iam_role_policy.loader"]["policy"])
    reads = next(s for s in access["Statement"] if s["Sid"] == "ReadExports")
    assert reads["Resource"] == "arn:aws:s3:::fund-data-lake-dev/raw/sql_server/fund_data/*"
    rules = [a for a, r in after.items() if "security_group_egress_rule" in a]
    ports = {after[a]["from_port"] for a in rules}
    assert ports == {3306, 443}


def test_the_dev_plan_watches_the_data(dev_plan):
    """Issue 25: a dashboard, an alarm per loader metric that pages, each to the alarm topic,
    and the scheduled freshness check that invokes the loader with its check event."""
    after = {r["address"]: r["change"]["after"] for r in dev_plan["resource_changes"]}
    prefix = "module.fundsync.module.observability."
    alarms = {a["metric_name"]: a for k, a in after.items()
              if k.startswith(prefix + "aws_cloudwatch_metric_alarm.loader")}  # fmt: skip
    assert set(alarms) == {
        "FilesFailed", "FilesRejected", "FilesHeld", "QualityWarnings", "RowsMerged",
        "Duration_total", "LateTradeDates",
    }  # fmt: skip
    assert all(a["namespace"] == "FundDataSync" for a in alarms.values())
    assert all(a["dimensions"] == {"service": "fundsync"} for a in alarms.values())
    assert alarms["LateTradeDates"]["treat_missing_data"] == "breaching"  # the check stopped
    assert alarms["Duration_total"]["extended_statistic"] == "p95"
    from loader.pipeline.handler import CHECK_FRESHNESS
    from loader.pipeline.telemetry import NAMESPACE, STATUS_METRICS

    assert NAMESPACE == "FundDataSync" and STATUS_METRICS["held"] == "FilesHeld"
    target = after[prefix + "aws_cloudwatch_event_target.freshness"]
    assert json.loads(target["input"]) == CHECK_FRESHNESS
    rule = after[prefix + "aws_cloudwatch_event_rule.freshness"]
    assert rule["schedule_expression"].startswith("cron(")
    permission = after[prefix + "aws_lambda_permission.freshness"]
    assert permission["principal"] == "events.amazonaws.com"
    board = json.loads(after[prefix + "aws_cloudwatch_dashboard.loader"]["dashboard_body"])
    shown = {m[1] for w in board["widgets"] for m in w["properties"]["metrics"]}
    assert {"FilesHeld", "QualityWarnings", "LateTradeDates", "RowsMerged"} <= shown
    queues = [a for k, a in after.items() if k.startswith("module.fundsync.module.queue.aws_cloud")]
    assert len(queues) == 3  # the DLQ depth, queue depth and oldest message alarms stay


BROKEN = {
    "queue_without_dlq": ("deny", "[queue-without-dlq]"),
    "short_visibility_timeout": ("deny", "[short-visibility-timeout]"),
    "queue_not_encrypted": ("deny", "[queue-not-encrypted]"),
    "name_without_environment": ("deny", "[name-without-environment]"),
    "mapping_without_partial_batch_response": ("deny", "[mapping-without-partial-batch-response]"),
    "iam_star_resource": ("deny", "[iam-star-resource]"),
    "alarm_without_action": ("deny", "[alarm-without-action]"),
    "warn_max_receive_count": ("warn", "[max-receive-count]"),
    "warn_short_retention": ("warn", "[short-retention]"),
    "warn_iam_policy_unknown_at_plan": ("warn", "[iam-policy-unknown-at-plan]"),
}


def test_the_policy_base_passes_every_rule(tf_env, tmp_path):
    """The base each broken plan starts from is clean: what fires below is the break."""
    root = tmp_path / "base"
    shutil.copytree(FIXTURES / "policy_base", root)
    assert evaluate(plan_json(tf_env, root)) == ([], [])


def test_every_rule_has_a_broken_plan():
    rules = set(re.findall(r'"\[([a-z-]+)\]', (POLICIES / "fundsync.rego").read_text()))
    assert rules == {rule.strip("[]") for _, rule in BROKEN.values()}
    assert {p.stem for p in (FIXTURES / "broken").glob("*.tf")} == set(BROKEN)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_rule_fires_on_a_deliberately_broken_plan(tf_env, tmp_path, case):
    """The base plus one override file (tests/fixtures/terraform/broken/CASE.tf)."""
    kind, rule = BROKEN[case]
    root = tmp_path / case
    shutil.copytree(FIXTURES / "policy_base", root)
    shutil.copy(FIXTURES / "broken" / f"{case}.tf", root / f"{case}_override.tf")
    plan = plan_json(tf_env, root)
    deny, warn = evaluate(plan)
    fired = deny if kind == "deny" else warn
    assert fired and all(message.startswith(rule) for message in fired), (deny, warn)
    if kind == "warn":
        assert deny == []  # a warning never blocks
    else:
        assert warn == []
    # The runbook's command: a deny blocks (exit 1), a warning is printed and passes.
    (root / "plan.json").write_text(json.dumps(plan))
    run = subprocess.run(
        [sys.executable, str(CHECK_PLAN), str(root / "plan.json")], capture_output=True, text=True
    )
    assert run.returncode == (1 if kind == "deny" else 0), run.stdout + run.stderr
    assert f"{kind.upper():<5} {rule}" in run.stdout


@pytest.mark.aws
@pytest.mark.db
@pytest.mark.slow
def test_the_applied_wiring_delivers_a_file_to_the_table(tf_env, tmp_path, aws_endpoint, db):
    """Apply the queue module and the bucket notification to moto, put an export, load it."""
    from tests.conftest import aws_clients, csv_bytes, db_url, query

    work = tmp_path / "live"
    shutil.copytree(TERRAFORM / "modules", work / "modules")
    shutil.copytree(FIXTURES / "live_moto", work / "live")
    root = work / "live"
    tf(tf_env, root, "init", "-input=false")
    tf(
        tf_env,
        root,
        "apply",
        "-auto-approve",
        "-input=false",
        f"-var=endpoint={aws_endpoint}",
        timeout=900,
    )
    outputs = json.loads(tf(tf_env, root, "output", "-json").stdout)
    queue_url, dlq_url = outputs["queue_url"]["value"], outputs["dlq_url"]["value"]
    bucket = outputs["bucket"]["value"]
    s3, sqs = aws_clients(aws_endpoint)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        ":fundsync-exports-dlq-dev"
    )
    assert (
        attributes["SqsManagedSseEnabled"] == "true"
        and attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    )
    import boto3

    alarms = boto3.client(
        "cloudwatch", region_name="us-east-1", endpoint_url=aws_endpoint
    ).describe_alarms()
    assert len(alarms["MetricAlarms"]) == 3

    key = "raw/sql_server/fund_data/2025-12-09/fund_data_2025-12-09.csv"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=csv_bytes("2025-12-09,KF,KF-A,NAV,10.25", "2025-12-09,KF,KF-A,ST,Open"),
    )
    s3.put_object(Bucket=bucket, Key="raw/sql_server/fund_data/readme.txt", Body=b"not an export")
    s3.put_object(Bucket=bucket, Key="elsewhere/fund_data.csv", Body=b"not under the prefix")
    worker = subprocess.run(
        [
            str(Path(os.sys.executable).parent / "fundsync"),
            "worker",
            "--queue-url",
            queue_url,
            "--dlq-url",
            dlq_url,
            "--wait",
            "1",
            "--until-empty",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FUNDSYNC_DB_URL": db_url(db), "FUNDSYNC_WORK_DIR": str(tmp_path)},
    )
    assert worker.returncode == 0, worker.stderr
    assert query(
        db, "SELECT col_code, value_text, s3_source_key FROM fund_data ORDER BY col_code"
    ) == [
        ("NAV", None, key),
        ("ST", "Open", key),
    ]
    assert query(db, "SELECT source_key, status FROM fund_data_loads") == [(key, "loaded")]


def _queue(name: str, **after) -> dict:
    return {
        "address": f"aws_sqs_queue.{name}",
        "type": "aws_sqs_queue",
        "change": {
            "actions": ["create"],
            "after": {
                "name": name,
                "visibility_timeout_seconds": 300,
                "sqs_managed_sse_enabled": True,
                "message_retention_seconds": 345600,
                **after,
            },
        },
    }


def test_policy_messages_name_the_queue_and_a_dead_letter_queue_is_not_flagged():
    from infra.check_plan import evaluate

    plan = {
        "resource_changes": [
            _queue("lonely-dev"),
            _queue("parked-dev", redrive_allow_policy='{"redrivePermission": "allowAll"}'),
        ]
    }
    deny, _ = evaluate(plan)
    without = [m for m in deny if m.startswith("[queue-without-dlq]")]
    assert without == [
        '[queue-without-dlq] aws_sqs_queue.lonely-dev: queue "lonely-dev" has no dead-letter '
        "queue (redrive_policy)"
    ]
    assert not any("%q" in m for m in deny)
