output "queue_arn" {
  value = aws_sqs_queue.main.arn
}

output "queue_url" {
  value = aws_sqs_queue.main.id
}

output "queue_name" {
  value = aws_sqs_queue.main.name
}

output "dlq_arn" {
  value = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  value = aws_sqs_queue.dlq.id
}

output "visibility_timeout_seconds" {
  value = aws_sqs_queue.main.visibility_timeout_seconds
}

output "alarm_topic_arn" {
  value = local.alarm_topic_arn
}
