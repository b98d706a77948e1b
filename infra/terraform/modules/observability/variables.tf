variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "environment" {
  description = "dev, staging or prod: suffixes every name."
  type        = string
}

variable "region" {
  type = string
}

variable "function_name" {
  description = "The loader function (its metrics, and the target of the freshness check)."
  type        = string
}

variable "function_arn" {
  type = string
}

variable "queue_name" {
  type = string
}

variable "dlq_name" {
  type = string
}

variable "alarm_topic_arn" {
  description = "Every alarm notifies this SNS topic, and again when it clears."
  type        = string
}

variable "freshness_schedule" {
  description = "When the freshness check runs (EventBridge). Default: 02:30 UTC (09:30 at +07:00), Tuesday to Saturday: the weekday before's file is due by 09:00 local."
  type        = string
  default     = "cron(30 2 ? * TUE-SAT *)"
}

variable "min_rows_per_day" {
  description = "Fewer rows merged than this in a day raises the rows-per-day alarm (a quiet day is a problem)."
  type        = number
  default     = 100000
}

variable "max_load_seconds" {
  description = "A load whose p95 duration over an hour exceeds this raises the load-duration alarm."
  type        = number
  default     = 600
}

variable "tags" {
  type    = map(string)
  default = {}
}
