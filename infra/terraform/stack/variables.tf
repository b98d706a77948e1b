variable "environment" {
  description = "dev, staging or prod."
  type        = string
}

variable "region" {
  type = string
}

variable "account_id" {
  type = string
}

variable "bucket_name" {
  description = "The existing data-lake bucket the SQL Server exports land in."
  type        = string
}

variable "db_secret_arn" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "aurora_security_group_id" {
  type = string
}

variable "endpoints_security_group_id" {
  type = string
}

variable "s3_prefix_list_id" {
  type = string
}

variable "image_tag" {
  type    = string
  default = "latest"
}

variable "function_timeout_seconds" {
  type    = number
  default = 900
}

variable "reserved_concurrency" {
  type    = number
  default = 4
}

variable "maximum_concurrency" {
  description = "Concurrent invocations the queue may drive: the throttle on the database."
  type        = number
  default     = 2
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}
