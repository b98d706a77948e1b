variable "name" {
  description = "Base name of the queue, without the environment (fundsync-exports)."
  type        = string
}

variable "environment" {
  description = "dev, staging or prod: the suffix of every name."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "The queues' region (their ARNs are known at plan time, for the policy checks)."
  type        = string
}

variable "account_id" {
  type = string
}

variable "consumer_timeout_seconds" {
  description = "The consuming function's timeout; the visibility timeout is at least six times it."
  type        = number
  default     = 900
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the main queue; null means 6 x consumer_timeout_seconds."
  type        = number
  default     = null
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the dead-letter queue."
  type        = number
  default     = 3
}

variable "message_retention_seconds" {
  description = "How long the main queue keeps a message (4 days)."
  type        = number
  default     = 345600
}

variable "dlq_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (14 days, the maximum)."
  type        = number
  default     = 1209600
}

variable "depth_alarm_threshold" {
  description = "Alarm when more messages than this wait on the main queue."
  type        = number
  default     = 100
}

variable "oldest_message_alarm_seconds" {
  description = "Alarm when the oldest message on the main queue is older than this."
  type        = number
  default     = 3600
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify; null creates one for this queue."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "restrict_dlq_sources" {
  description = "Allow only the main queue to use the DLQ (a redrive allow policy)."
  type        = bool
  default     = true
}
