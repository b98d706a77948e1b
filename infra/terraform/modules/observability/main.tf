# What an AWS operator opens first: a dashboard of the loader's metrics (namespace
# FundDataSync, dimension service=fundsync: loader/pipeline/telemetry.py) and of its queues,
# the alarms on them (each to the alarm topic, again when it clears; docs/runbook.md,
# "Alarms"), and the scheduled freshness check: EventBridge runs the loader function with the
# check event, which emits LateTradeDates (loader/pipeline/handler.py).

locals {
  suffix     = "-${var.environment}"
  namespace  = "FundDataSync"
  dimensions = { service = "fundsync" }
  # metric, statistic, period (s), periods, threshold, comparison, missing data, runbook section
  alarms = {
    loads-failed = {
      metric     = "FilesFailed", stat = "Sum", period = 3600, periods = 1, threshold = 0
      comparison = "GreaterThanThreshold", missing = "notBreaching", section = "Loads failed"
    }
    files-rejected = {
      metric     = "FilesRejected", stat = "Sum", period = 3600, periods = 1, threshold = 0
      comparison = "GreaterThanThreshold", missing = "notBreaching", section = "Files rejected"
    }
    files-held = {
      metric     = "FilesHeld", stat = "Sum", period = 3600, periods = 1, threshold = 0
      comparison = "GreaterThanThreshold", missing = "notBreaching", section = "Files held"
    }
    quality-warnings = {
      metric     = "QualityWarnings", stat = "Sum", period = 3600, periods = 1, threshold = 0
      comparison = "GreaterThanThreshold", missing = "notBreaching", section = "Quality warnings"
    }
    rows-per-day = {
      metric    = "RowsMerged", stat = "Sum", period = 86400, periods = 1,
      threshold = var.min_rows_per_day, comparison = "LessThanThreshold", missing = "breaching",
      section   = "Rows per day"
    }
    load-duration = {
      metric    = "Duration_total", stat = "p95", period = 3600, periods = 1,
      threshold = var.max_load_seconds * 1000, comparison = "GreaterThanThreshold",
      missing   = "notBreaching", section = "Load duration"
    }
    trade-date-late = {
      metric     = "LateTradeDates", stat = "Maximum", period = 86400, periods = 1, threshold = 0
      comparison = "GreaterThanThreshold", missing = "breaching", section = "Trade date late"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "loader" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}${local.suffix}"
  alarm_description   = "${each.value.metric} ${each.value.comparison} ${each.value.threshold}: see docs/runbook.md, '${each.value.section}'."
  namespace           = local.namespace
  metric_name         = each.value.metric
  dimensions          = local.dimensions
  statistic           = startswith(each.value.stat, "p") ? null : each.value.stat
  extended_statistic  = startswith(each.value.stat, "p") ? each.value.stat : null
  period              = each.value.period
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = each.value.missing
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

resource "aws_cloudwatch_event_rule" "freshness" {
  name                = "${var.name}-freshness${local.suffix}"
  description         = "The daily freshness check of fund-data-sync: trade dates past their deadline with no file."
  schedule_expression = var.freshness_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "freshness" {
  rule  = aws_cloudwatch_event_rule.freshness.name
  arn   = var.function_arn
  input = jsonencode({ fundsync = "check-freshness" })
}

resource "aws_lambda_permission" "freshness" {
  statement_id  = "AllowFreshnessSchedule"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.freshness.arn
}

resource "aws_cloudwatch_dashboard" "loader" {
  dashboard_name = "${var.name}${local.suffix}"
  dashboard_body = jsonencode({
    widgets = [
      for i, w in [
        { title = "Files", metrics = [for m in ["FilesLoaded", "FilesSkipped", "FilesRejected", "FilesFailed", "FilesHeld"] : [local.namespace, m, "service", "fundsync", { stat = "Sum" }]] },
        { title = "Rows merged, inserted, updated, deleted", metrics = [for m in ["RowsMerged", "RowsInserted", "RowsUpdated", "RowsDeleted"] : [local.namespace, m, "service", "fundsync", { stat = "Sum", period = 86400 }]] },
        { title = "Quality warnings, late trade dates", metrics = [for m in ["QualityWarnings", "LateTradeDates"] : [local.namespace, m, "service", "fundsync", { stat = "Maximum" }]] },
        { title = "Load duration (ms)", metrics = [for s in ["p50", "p95", "Maximum"] : [local.namespace, "Duration_total", "service", "fundsync", { stat = s }]] },
        { title = "Queue: depth, oldest message (s)", metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name], ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { yAxis = "right" }]] },
        { title = "Dead-letter queue depth", metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name]] },
        ] : {
        type       = "metric"
        x          = (i % 2) * 12
        y          = floor(i / 2) * 6
        width      = 12
        height     = 6
        properties = { title = w.title, metrics = w.metrics, region = var.region, view = "timeSeries", period = 3600 }
      }
    ]
  })
}
