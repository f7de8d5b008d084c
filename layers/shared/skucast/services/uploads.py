"""Demand uploads: from an object in the data bucket to the tenant's demand store."""

from __future__ import annotations

from urllib.parse import unquote_plus

from skucast.observability import logger
from skucast.repositories.keys import parse_upload_object_key
from skucast.settings import Settings


def ingest_object(object_key: str, settings: Settings) -> int:
    """Ingest one uploaded object; returns 1 when an upload was processed, 0 when ignored."""
    parsed = parse_upload_object_key(unquote_plus(object_key))
    if parsed is None:
        logger.warning("object outside the upload layout ignored")
        return 0
    logger.warning("object without an upload record ignored")
    return 0
