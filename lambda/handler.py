"""AWS Lambda entry point (CONTRACT §3): ``handler.lambda_handler`` in the container image.

SQS batches of S3 notifications in, ``{"batchItemFailures": [...]}`` out. The
logic lives in the library (loader/handler.py, loader/pipeline.py), so the
worker, the demo and the tests run exactly what Lambda runs.
"""

from loader.pipeline.handler import lambda_handler

__all__ = ["lambda_handler"]
