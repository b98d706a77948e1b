output "queue_arn" {
  value = local.queue_arn
}

output "queue_url" {
  value      = local.queue_url
  depends_on = [aws_sqs_queue.main]
}

output "queue_name" {
  value = aws_sqs_queue.main.name
}

output "dlq_arn" {
  value = local.dlq_arn
}

output "dlq_url" {
  value      = local.dlq_url
  depends_on = [aws_sqs_queue.dlq]
}

output "visibility_timeout_seconds" {
  value = aws_sqs_queue.main.visibility_timeout_seconds
}

output "alarm_topic_arn" {
  value = local.alarm_topic_arn
}

output "dlq_name" {
  value = aws_sqs_queue.dlq.name
}
