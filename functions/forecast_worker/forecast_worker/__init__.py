"""Forecast worker: one SQS message = one batch of SKUs of one run."""
