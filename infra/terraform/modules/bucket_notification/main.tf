# S3 -> SQS: the bucket notifies the queue of every object created under the exports'
# prefix with the exports' suffix, and the queue accepts messages from that bucket only
# (aws:SourceArn and aws:SourceAccount), as AWS recommends against confused deputies.

resource "aws_sqs_queue_policy" "from_bucket" {
  queue_url = var.queue_url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3NotificationsFromTheDataLakeOnly"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = var.queue_arn
        Condition = {
          ArnEquals    = { "aws:SourceArn" = "arn:aws:s3:::${var.bucket_name}" }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      }
    ]
  })
}

resource "aws_s3_bucket_notification" "exports" {
  bucket = var.bucket_name

  queue {
    id            = "fund-data-exports"
    queue_arn     = var.queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.prefix
    filter_suffix = var.suffix
  }

  depends_on = [aws_sqs_queue_policy.from_bucket]
}
