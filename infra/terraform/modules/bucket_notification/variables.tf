variable "bucket_name" {
  description = "The data-lake bucket the exports land in."
  type        = string
}

variable "queue_arn" {
  description = "The queue S3 notifies."
  type        = string
}

variable "queue_url" {
  description = "The queue's URL (for its policy)."
  type        = string
}

variable "account_id" {
  description = "The account that owns the bucket (aws:SourceAccount in the queue policy)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the exports (loader/pipeline/infra.py RAW_PREFIX)."
  type        = string
  default     = "raw/sql_server/fund_data/"
}

variable "suffix" {
  description = "Key suffix of the exports (loader/pipeline/infra.py SUFFIX)."
  type        = string
  default     = ".csv"
}
