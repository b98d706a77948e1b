variable "region" {
  type    = string
  default = "ap-southeast-1"
}

variable "account_id" {
  type = string
}

variable "bucket_name" {
  type = string
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

variable "maximum_concurrency" {
  type    = number
  default = 2
}

variable "reserved_concurrency" {
  type    = number
  default = 4
}

variable "alarm_emails" {
  type    = list(string)
  default = []
}
