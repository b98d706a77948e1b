output "notification_id" {
  value = aws_s3_bucket_notification.exports.id
}
