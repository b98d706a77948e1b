# A queue for an ETL consumer: main queue and dead-letter queue with a redrive policy,
# SQS-managed encryption, long polling, a visibility timeout of at least six times the
# consumer's timeout, and CloudWatch alarms (DLQ not empty, queue too deep, oldest
# message too old) notifying an SNS topic. Names end with the environment.

locals {
  suffix             = "-${var.environment}"
  queue_name         = "${var.name}${local.suffix}"
  dlq_name           = "${var.name}-dlq${local.suffix}"
  visibility_timeout = coalesce(var.visibility_timeout_seconds, 6 * var.consumer_timeout_seconds)
  alarm_topic_arn    = var.alarm_topic_arn != null ? var.alarm_topic_arn : aws_sns_topic.alarms[0].arn
  # Built from the names, so policies and the redrive policy are known at plan time and
  # the plan can be checked (infra/policies) before anything exists.
  queue_arn = "arn:aws:sqs:${var.region}:${var.account_id}:${local.queue_name}"
  dlq_arn   = "arn:aws:sqs:${var.region}:${var.account_id}:${local.dlq_name}"
  queue_url = "https://sqs.${var.region}.amazonaws.com/${var.account_id}/${local.queue_name}"
  dlq_url   = "https://sqs.${var.region}.amazonaws.com/${var.account_id}/${local.dlq_name}"
}

resource "aws_sqs_queue" "dlq" {
  name                       = local.dlq_name
  message_retention_seconds  = var.dlq_retention_seconds
  visibility_timeout_seconds = 300 # fundsync dlq inspect/replay hold what they read this long at most
  sqs_managed_sse_enabled    = true
  tags                       = var.tags
}

resource "aws_sqs_queue" "main" {
  name                       = local.queue_name
  visibility_timeout_seconds = local.visibility_timeout
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = local.dlq_arn
    maxReceiveCount     = var.max_receive_count
  })
  tags       = var.tags
  depends_on = [aws_sqs_queue.dlq]

  lifecycle {
    precondition {
      condition     = local.visibility_timeout >= 6 * var.consumer_timeout_seconds
      error_message = "The visibility timeout must be at least six times the consumer's timeout."
    }
  }
}

# Only the main queue may use this DLQ. (moto does not echo the attribute back, and the
# provider waits for it: tests/fixtures/terraform/live_moto turns it off.)
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.restrict_dlq_sources ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == null ? 1 : 0
  name  = "${var.name}-alarms${local.suffix}"
  tags  = var.tags
}

# The three alarms of the runbook (docs/runbook.md, "Alarms"), each to the alarm topic,
# again when it clears.
locals {
  alarms = {
    dlq-not-empty = {
      queue       = aws_sqs_queue.dlq.name
      metric      = "ApproximateNumberOfMessagesVisible"
      threshold   = 0
      periods     = 1
      description = "Messages are waiting in ${local.dlq_name}: see docs/runbook.md, 'DLQ not empty'."
    }
    queue-depth = {
      queue       = aws_sqs_queue.main.name
      metric      = "ApproximateNumberOfMessagesVisible"
      threshold   = var.depth_alarm_threshold
      periods     = 3
      description = "More than ${var.depth_alarm_threshold} messages wait on ${local.queue_name}: see docs/runbook.md, 'Queue depth'."
    }
    oldest-message = {
      queue       = aws_sqs_queue.main.name
      metric      = "ApproximateAgeOfOldestMessage"
      threshold   = var.oldest_message_alarm_seconds
      periods     = 1
      description = "The oldest message on ${local.queue_name} is over ${var.oldest_message_alarm_seconds} s old: see docs/runbook.md, 'Oldest message'."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "queue" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}${local.suffix}"
  alarm_description   = each.value.description
  namespace           = "AWS/SQS"
  metric_name         = each.value.metric
  dimensions          = { QueueName = each.value.queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = var.tags
}
