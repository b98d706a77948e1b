# One environment of fund-data-sync: the queue pair with its alarms, the loader function
# fed by it, and the data lake's notification. Environments differ only in their variables.

locals {
  tags = {
    project     = "fund-data-sync"
    environment = var.environment
  }
}

module "queue" {
  source                   = "../modules/etl_queue"
  name                     = "fundsync-exports"
  environment              = var.environment
  region                   = var.region
  account_id               = var.account_id
  consumer_timeout_seconds = var.function_timeout_seconds
  tags                     = local.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = module.queue.alarm_topic_arn
  protocol  = "email"
  endpoint  = each.value
}

module "loader" {
  source                      = "../modules/loader_lambda"
  environment                 = var.environment
  region                      = var.region
  account_id                  = var.account_id
  image_tag                   = var.image_tag
  timeout_seconds             = var.function_timeout_seconds
  reserved_concurrency        = var.reserved_concurrency
  maximum_concurrency         = var.maximum_concurrency
  queue_arn                   = module.queue.queue_arn
  dlq_arn                     = module.queue.dlq_arn
  dlq_url                     = module.queue.dlq_url
  bucket_name                 = var.bucket_name
  db_secret_arn               = var.db_secret_arn
  vpc_id                      = var.vpc_id
  private_subnet_ids          = var.private_subnet_ids
  aurora_security_group_id    = var.aurora_security_group_id
  endpoints_security_group_id = var.endpoints_security_group_id
  s3_prefix_list_id           = var.s3_prefix_list_id
  tags                        = local.tags
}

module "observability" {
  source          = "../modules/observability"
  name            = "fundsync"
  environment     = var.environment
  region          = var.region
  function_name   = module.loader.function_name
  function_arn    = module.loader.function_arn
  queue_name      = module.queue.queue_name
  dlq_name        = module.queue.dlq_name
  alarm_topic_arn = module.queue.alarm_topic_arn
  tags            = local.tags
}

module "notification" {
  source      = "../modules/bucket_notification"
  bucket_name = var.bucket_name
  queue_arn   = module.queue.queue_arn
  queue_url   = module.queue.queue_url
  account_id  = var.account_id
}
