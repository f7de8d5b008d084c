"""Rebuild a tenant's SKU catalog from its stored series (operator: `python -m skucast.admin
rebuild-catalog`).

The series are the source of truth; the catalog is derived from them at each ingest. Rebuild it
after changing the deployment's ClassificationThresholds (entries keep the class they were given
until their SKU is ingested again), or to move a catalog written before pages (one item per SKU)
into pages. It runs under the tenant's merge lock, so no ingest merges meanwhile, and its page
writes carry the lock's fence.
"""

from __future__ import annotations

from dataclasses import dataclass

from skucast.errors import Conflict
from skucast.forecasting.thresholds import ClassificationConfig
from skucast.repositories import catalog
from skucast.repositories import demand as series_repo
from skucast.services.demand import catalog_entry
from skucast.services.uploads import MergeLock

LOCK_PATIENCE_SECONDS = 60  # an ingest holding the lock usually finishes within this
HOLDER = "rebuild-catalog"


@dataclass(frozen=True)
class Rebuilt:
    skus: int
    pages_written: int
    legacy_items_deleted: int


def rebuild_catalog(table_name: str, client_id: str, config: ClassificationConfig) -> Rebuilt:
    """Every stored series classified again with `config` and merged into the catalog pages; then
    the old one-item-per-SKU entries deleted. Raises Conflict when an ingest holds the lock."""
    lock = MergeLock(table_name, client_id, HOLDER)
    if not lock.acquire(LOCK_PATIENCE_SECONDS, lambda: None):
        raise Conflict("An upload of this client is being merged; retry when it has finished.")
    try:
        entries = []
        for sku, series in series_repo.iter_series(table_name, client_id):
            entries.append(catalog_entry(sku, series, config))
            lock.renew()  # writes only every RENEW_SECONDS
        pages = catalog.merge_entries(table_name, client_id, entries, lock.fence())
        legacy = catalog.delete_legacy_items(table_name, client_id)
    finally:
        lock.release()
    return Rebuilt(len(entries), pages, legacy)
