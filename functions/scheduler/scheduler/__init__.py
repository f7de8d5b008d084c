"""Scheduled work: start due reforecasts, sweep runs and uploads that stopped making progress."""
