# The root of every environment: environments/<env>/ holds a link to this file and to
# variables.tf, its own environment.tf (the name) and terraform.tfvars (its values), and
# keeps its own state, so one init can never plan one environment against another's
# state. Deploy: docs/runbook.md.

terraform {
  required_version = ">= 1.10"
  # State in S3, configured at init: terraform init -backend-config=../backend-<env>.hcl
  # (docs/runbook.md). The tests plan offline with a local backend override.
  backend "s3" {}
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "fund-data-sync", environment = local.environment }
  }
}

module "fundsync" {
  source                      = "../../stack"
  environment                 = local.environment
  region                      = var.region
  account_id                  = var.account_id
  bucket_name                 = var.bucket_name
  db_secret_arn               = var.db_secret_arn
  vpc_id                      = var.vpc_id
  private_subnet_ids          = var.private_subnet_ids
  aurora_security_group_id    = var.aurora_security_group_id
  endpoints_security_group_id = var.endpoints_security_group_id
  s3_prefix_list_id           = var.s3_prefix_list_id
  image_tag                   = var.image_tag
  maximum_concurrency         = var.maximum_concurrency
  reserved_concurrency        = var.reserved_concurrency
  alarm_emails                = var.alarm_emails
}

output "queue_url" {
  value = module.fundsync.queue_url
}

output "dlq_url" {
  value = module.fundsync.dlq_url
}

output "function_name" {
  value = module.fundsync.function_name
}

output "repository_url" {
  value = module.fundsync.repository_url
}

output "alarm_topic_arn" {
  value = module.fundsync.alarm_topic_arn
}

output "log_group_name" {
  value = module.fundsync.log_group_name
}

output "event_source_mapping_uuid" {
  value = module.fundsync.event_source_mapping_uuid
}
