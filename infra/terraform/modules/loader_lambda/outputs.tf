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
