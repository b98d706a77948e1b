variable "name" {
  description = "Base name, without the environment (fundsync-loader)."
  type        = string
  default     = "fundsync-loader"
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
  type = string
}

variable "account_id" {
  type = string
}

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository (pushed by the deploy)."
  type        = string
  default     = "latest"
}

variable "timeout_seconds" {
  description = "Function timeout; the queue's visibility timeout must be at least 6 x this."
  type        = number
  default     = 900
}

variable "memory_mb" {
  description = "Memory; a 10M-row file peaks at about 1.5 GB in the loader."
  type        = number
  default     = 3008
}

variable "ephemeral_storage_mb" {
  description = "/tmp size: the downloaded object lives there during a load (the staging text goes through a pipe)."
  type        = number
  default     = 4096
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function."
  type        = number
  default     = 4
}

variable "maximum_concurrency" {
  description = "Event source mapping's maximum concurrency: the throttle that protects the database."
  type        = number
  default     = 2
}

variable "batch_size" {
  type    = number
  default = 10
}

variable "batching_window_seconds" {
  type    = number
  default = 5
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "queue_arn" {
  type = string
}

variable "dlq_arn" {
  type = string
}

variable "dlq_url" {
  type = string
}

variable "bucket_name" {
  description = "The data-lake bucket: exports are read under export_prefix, rejects reports written under rejects_prefix."
  type        = string
}

variable "export_prefix" {
  type    = string
  default = "raw/sql_server/fund_data/"
}

variable "rejects_prefix" {
  type    = string
  default = "rejects/"
}

variable "db_secret_arn" {
  description = "The Aurora credentials secret (RDS JSON: username, password, host, port, dbname)."
  type        = string
}

variable "retry_delay_seconds" {
  description = "A message that failed for a transient reason (database down, throttled) comes back after this, not after the queue's visibility timeout (6 x the function timeout)."
  type        = number
  default     = 120
  validation {
    condition     = var.retry_delay_seconds >= 0 && var.retry_delay_seconds <= 43200
    error_message = "retry_delay_seconds must be between 0 and 43200 (SQS's limit)."
  }
}

variable "time_zone" {
  type    = string
  default = "+07:00"
}

variable "freshness_deadline" {
  description = "A trade date's file is due by this time (HH:MM, time_zone) the next day (FUNDSYNC_DEADLINE)."
  type        = string
  default     = "09:00"
}

variable "holidays" {
  description = "Trade dates no file is expected for, YYYY-MM-DD (FUNDSYNC_HOLIDAYS)."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  type = string
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "aurora_security_group_id" {
  description = "The Aurora cluster's security group: it gets an ingress rule for 3306 from the function."
  type        = string
}

variable "endpoints_security_group_id" {
  description = "Security group of the VPC interface endpoints (SQS, Secrets Manager, X-Ray, Logs)."
  type        = string
}

variable "s3_prefix_list_id" {
  description = "The S3 gateway endpoint's prefix list (pl-...)."
  type        = string
}

variable "tags" {
  type    = map(string)
  default = {}
}
