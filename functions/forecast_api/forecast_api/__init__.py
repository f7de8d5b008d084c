"""Forecasting, monitoring and documentation routes (one Lambda function)."""
