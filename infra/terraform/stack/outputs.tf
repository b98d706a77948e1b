output "queue_url" {
  value = module.queue.queue_url
}

output "dlq_url" {
  value = module.queue.dlq_url
}

output "function_name" {
  value = module.loader.function_name
}

output "repository_url" {
  value = module.loader.repository_url
}

output "alarm_topic_arn" {
  value = module.queue.alarm_topic_arn
}

output "log_group_name" {
  value = module.loader.log_group_name
}

output "event_source_mapping_uuid" {
  value = module.loader.event_source_mapping_uuid
}
