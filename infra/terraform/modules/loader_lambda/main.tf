# The loader function: an ECR repository (scan on push, lifecycle), the function from its
# image in the VPC's private subnets, its log group, its role with least privilege, its
# security group (Aurora on 3306, the VPC endpoints on 443, nothing else), and the SQS
# event source mapping that reports partial batch failures.

locals {
  suffix        = "-${var.environment}"
  function_name = "${var.name}${local.suffix}"
  function_arn  = "arn:aws:lambda:${var.region}:${var.account_id}:function:${local.function_name}"
  log_group_arn = "arn:aws:logs:${var.region}:${var.account_id}:log-group:/aws/lambda/${local.function_name}"
}

resource "aws_ecr_repository" "loader" {
  name                 = local.function_name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "AES256"
  }
  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "loader" {
  repository = aws_ecr_repository.loader.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images go after a week"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last 20 images"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
        action       = { type = "expire" }
      }
    ]
  })
}

resource "aws_ecr_repository_policy" "lambda_pull" {
  repository = aws_ecr_repository.loader.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "LambdaPullsThisFunctionsImage"
        Effect    = "Allow"
        Principal = { Service = "lambda.amazonaws.com" }
        Action    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Condition = { StringLike = { "aws:sourceArn" = local.function_arn } }
      }
    ]
  })
}

resource "aws_cloudwatch_log_group" "loader" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_iam_role" "loader" {
  name = "${var.name}-role${local.suffix}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "lambda.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      }
    ]
  })
  tags = var.tags
}

# The function's own permissions, each on its one resource.
resource "aws_iam_role_policy" "loader" {
  name = "${var.name}-access${local.suffix}"
  role = aws_iam_role.loader.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadExports"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = "arn:aws:s3:::${var.bucket_name}/${var.export_prefix}*"
      },
      {
        Sid      = "WriteRejectsReports"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = "arn:aws:s3:::${var.bucket_name}/${var.rejects_prefix}*"
      },
      {
        Sid      = "ConsumeTheQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        Resource = var.queue_arn
      },
      {
        Sid      = "ParkBadInputInTheDlq"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = var.dlq_arn
      },
      {
        Sid      = "ReadTheDatabaseSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = var.db_secret_arn
      },
      {
        Sid      = "WriteItsLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.log_group_arn}:*"
      }
    ]
  })
}

# Network interfaces in the VPC and X-Ray segments: these APIs take no resource ARN, so
# AWS's own managed policies (not statements of ours) grant them.
resource "aws_iam_role_policy_attachment" "vpc_access" {
  role       = aws_iam_role.loader.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "xray" {
  role       = aws_iam_role.loader.name
  policy_arn = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_security_group" "loader" {
  name        = "${var.name}-sg${local.suffix}"
  description = "The loader function: out to Aurora on 3306 and to the VPC endpoints on 443 only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "to_aurora" {
  security_group_id            = aws_security_group.loader.id
  description                  = "MySQL to the Aurora cluster"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = var.aurora_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "to_endpoints" {
  security_group_id            = aws_security_group.loader.id
  description                  = "HTTPS to the interface endpoints (SQS, Secrets Manager, X-Ray, Logs)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.endpoints_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "to_s3" {
  security_group_id = aws_security_group.loader.id
  description       = "HTTPS to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.s3_prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "aurora_from_loader" {
  security_group_id            = var.aurora_security_group_id
  description                  = "MySQL from the loader function"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = aws_security_group.loader.id
}

resource "aws_lambda_function" "loader" {
  function_name                  = local.function_name
  description                    = "fund-data-sync: SQS batches of S3 export notifications into Aurora MySQL"
  role                           = aws_iam_role.loader.arn
  package_type                   = "Image"
  image_uri                      = "${aws_ecr_repository.loader.repository_url}:${var.image_tag}"
  architectures                  = ["x86_64"]
  timeout                        = var.timeout_seconds
  memory_size                    = var.memory_mb
  reserved_concurrent_executions = var.reserved_concurrency

  image_config {
    command = ["handler.lambda_handler"]
  }

  ephemeral_storage {
    size = var.ephemeral_storage_mb
  }

  vpc_config {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.loader.id]
  }

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = {
      FUNDSYNC_DB_SECRET_ARN       = var.db_secret_arn
      FUNDSYNC_DLQ_URL             = var.dlq_url
      FUNDSYNC_REJECTS_BUCKET      = var.bucket_name
      FUNDSYNC_REJECTS_PREFIX      = var.rejects_prefix
      FUNDSYNC_TIME_ZONE           = var.time_zone
      FUNDSYNC_DEADLINE            = var.freshness_deadline
      FUNDSYNC_HOLIDAYS            = join(",", var.holidays)
      FUNDSYNC_RETRY_DELAY_SECONDS = tostring(var.retry_delay_seconds)
      FUNDSYNC_WORK_DIR            = "/tmp"
      POWERTOOLS_SERVICE_NAME      = "fundsync"
      POWERTOOLS_METRICS_NAMESPACE = "FundDataSync"
      POWERTOOLS_LOG_LEVEL         = "INFO"
    }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.loader.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.loader, aws_cloudwatch_log_group.loader]
}

resource "aws_lambda_event_source_mapping" "queue" {
  event_source_arn                   = var.queue_arn
  function_name                      = aws_lambda_function.loader.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  enabled                            = true

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }
}
