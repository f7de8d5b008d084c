"""One Logger, Tracer and Metrics for the whole service (Powertools reads POWERTOOLS_* settings)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
