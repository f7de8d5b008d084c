"""Ingestion: an object created under uploads/ in the data bucket starts the ingest of that upload."""
