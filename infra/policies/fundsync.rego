# Policies for fund-data-sync's Terraform, evaluated on `terraform show -json` of a plan.
#
#   deny: the plan must not be applied.  warn: worth a look, not a blocker.
#
# Every message starts with the rule's id in brackets, so a test (and a person) can tell
# which rule fired. Evaluated by tests/test_infra.py with regopy (rego-cpp, from PyPI).
package fundsync.terraform

import rego.v1

env_suffixes := ["-dev", "-staging", "-prod"]

# What the plan creates or changes (not what it deletes).
resources contains r if {
	some r in input.resource_changes
	r.change.after != null
	not "delete" in r.change.actions
}

queues contains q if {
	some q in resources
	q.type == "aws_sqs_queue"
}

# -- SQS --------------------------------------------------------------------------

dlq_arns contains arn if {
	some q in queues
	is_string(q.change.after.redrive_policy)
	arn := json.unmarshal(q.change.after.redrive_policy).deadLetterTargetArn
}

is_dead_letter_queue(q) if {
	some arn in dlq_arns
	endswith(arn, concat("", [":", q.change.after.name]))
}

# A queue that allows others to redrive into it (its own redrive_allow_policy, or one set
# by an aws_sqs_queue_redrive_allow_policy) is a dead-letter queue too.
is_dead_letter_queue(q) if {
	is_string(q.change.after.redrive_allow_policy)
	q.change.after.redrive_allow_policy != ""
}

is_dead_letter_queue(q) if {
	some r in resources
	r.type == "aws_sqs_queue_redrive_allow_policy"
	is_string(r.change.after.queue_url)
	endswith(r.change.after.queue_url, concat("", ["/", q.change.after.name]))
}

has_redrive(q) if {
	is_string(q.change.after.redrive_policy)
	q.change.after.redrive_policy != ""
}

# An unknown redrive policy does not count: the provider shows an unset one as "known
# after apply" too. Build the DLQ's ARN from its name (modules/etl_queue does) so the
# plan shows it.

deny contains msg if {
	some q in queues
	not is_dead_letter_queue(q)
	not has_redrive(q)
	msg := sprintf("[queue-without-dlq] %s: queue \"%s\" has no dead-letter queue (redrive_policy)", [q.address, q.change.after.name])
}

deny contains msg if {
	some q in queues
	q.change.after.visibility_timeout_seconds < 60
	msg := sprintf("[short-visibility-timeout] %s: visibility timeout %d s is under 60 s", [q.address, q.change.after.visibility_timeout_seconds])
}

encrypted(q) if q.change.after.sqs_managed_sse_enabled == true

encrypted(q) if {
	is_string(q.change.after.kms_master_key_id)
	q.change.after.kms_master_key_id != ""
}

deny contains msg if {
	some q in queues
	not encrypted(q)
	msg := sprintf("[queue-not-encrypted] %s: queue \"%s\" has neither SQS-managed nor KMS encryption", [q.address, q.change.after.name])
}

warn contains msg if {
	some q in queues
	is_string(q.change.after.redrive_policy)
	count := to_number(json.unmarshal(q.change.after.redrive_policy).maxReceiveCount)
	not between(count, 3, 5)
	msg := sprintf("[max-receive-count] %s: maxReceiveCount %v is outside 3-5", [q.address, count])
}

between(x, low, high) if {
	x >= low
	x <= high
}

warn contains msg if {
	some q in queues
	q.change.after.message_retention_seconds < 86400
	msg := sprintf("[short-retention] %s: messages are kept %d s, under a day", [q.address, q.change.after.message_retention_seconds])
}

# -- names --------------------------------------------------------------------------

name_fields := {
	"aws_sqs_queue": "name",
	"aws_lambda_function": "function_name",
	"aws_sns_topic": "name",
	"aws_ecr_repository": "name",
	"aws_cloudwatch_log_group": "name",
	"aws_cloudwatch_metric_alarm": "alarm_name",
	"aws_iam_role": "name",
	"aws_iam_role_policy": "name",
	"aws_iam_policy": "name",
	"aws_security_group": "name",
}

has_env_suffix(name) if {
	some suffix in env_suffixes
	endswith(name, suffix)
}

deny contains msg if {
	some r in resources
	field := name_fields[r.type]
	name := r.change.after[field]
	is_string(name)
	not has_env_suffix(name)
	msg := sprintf("[name-without-environment] %s: \"%s\" does not end with -dev, -staging or -prod", [r.address, name])
}

# -- Lambda -------------------------------------------------------------------------

reports_batch_item_failures(r) if "ReportBatchItemFailures" in r.change.after.function_response_types

deny contains msg if {
	some r in resources
	r.type == "aws_lambda_event_source_mapping"
	not reports_batch_item_failures(r)
	msg := sprintf("[mapping-without-partial-batch-response] %s: function_response_types lacks ReportBatchItemFailures", [r.address])
}

# -- IAM ------------------------------------------------------------------------------

policy_types := {"aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy"}

as_list(x) := x if is_array(x)

as_list(x) := [x] if not is_array(x)

deny contains msg if {
	some r in resources
	r.type in policy_types
	is_string(r.change.after.policy)
	some statement in as_list(json.unmarshal(r.change.after.policy).Statement)
	statement.Effect == "Allow"
	some resource in as_list(statement.Resource)
	resource == "*"
	msg := sprintf("[iam-star-resource] %s: statement %v allows %v on every resource", [r.address, object.get(statement, "Sid", "(no Sid)"), statement.Action])
}

warn contains msg if {
	some r in resources
	r.type in policy_types
	r.change.after_unknown.policy == true
	msg := sprintf("[iam-policy-unknown-at-plan] %s: the policy is only known after apply and cannot be checked", [r.address])
}

# -- CloudWatch ---------------------------------------------------------------------

# An alarm is only worth its cost when it tells someone: every alarm notifies a topic (its
# actions may be known only after apply, when the topic is created in the same plan).
notifies(a) if count(object.get(a.change.after, "alarm_actions", [])) > 0

notifies(a) if a.change.after_unknown.alarm_actions

deny contains msg if {
	some a in resources
	a.type == "aws_cloudwatch_metric_alarm"
	not notifies(a)
	msg := sprintf("[alarm-without-action] %s: alarm \"%s\" notifies no one (alarm_actions)", [a.address, a.change.after.alarm_name])
}
