output "alarm_names" {
  value = [for a in aws_cloudwatch_metric_alarm.loader : a.alarm_name]
}

output "dashboard_name" {
  value = aws_cloudwatch_dashboard.loader.dashboard_name
}
