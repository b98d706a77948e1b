output "function_name" {
  value = aws_lambda_function.loader.function_name
}

output "function_arn" {
  value = aws_lambda_function.loader.arn
}

output "repository_url" {
  value = aws_ecr_repository.loader.repository_url
}

output "security_group_id" {
  value = aws_security_group.loader.id
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.loader.name
}

output "event_source_mapping_uuid" {
  description = "To pause the loader: aws lambda update-event-source-mapping --uuid UUID --no-enabled"
  value       = aws_lambda_event_source_mapping.queue.uuid
}
