"""The event pipeline: S3 notifications on SQS, the Lambda handler, the worker, the DLQ."""
