"""Scheduled work: start due reforecasts, sweep runs that stopped making progress."""
