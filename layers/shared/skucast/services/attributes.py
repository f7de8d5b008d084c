"""Item attributes and hierarchy declarations: validate and merge attribute uploads, read
attributes (now or as of a version), filter the catalog by them, declare hierarchies.

Uploads of attributes (file or JSON) are recorded like demand uploads (services/uploads.py owns
the upload record, claim and report); this module validates and merges (skucast.attributes:
idempotent, order-independent, versioned).

For the run code (hierarchies, analog new items): `current_version` gives the tenant's attribute
version to record on a run; `attributes_as_of(version)` gives every SKU's attributes as they were
at it, whatever changed later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from skucast.attributes import (
    MAX_HIERARCHIES,
    AttributeIngestResult,
    AttributeLimits,
    StoredAttributes,
    VersionGone,
    encode_attributes,
    ingest_attribute_file,
    ingest_attribute_records,
    level_problems,
    matches,
    merge_attributes,
    name_problem,
)
from skucast.clock import now_iso
from skucast.errors import Conflict, FieldError, NotFound, Unprocessable
from skucast.records import HierarchyRecord
from skucast.repositories import attributes as repo
from skucast.repositories import catalog
from skucast.schemas.attributes import (
    AttributeChange,
    AttributeName,
    AttributeNames,
    Hierarchy,
    HierarchyList,
    HierarchyRequest,
    SkuAttributes,
)
from skucast.settings import Settings

ROUND_ATTEMPTS = 8  # re-reads of a round that met another writer of the tenant
FILTER_PREFIX = "attr."


def limits_for(settings: Settings) -> AttributeLimits:
    return AttributeLimits(
        max_raw_bytes=min(settings.max_upload_bytes, AttributeLimits.max_raw_bytes),
        max_skus=settings.max_skus_per_upload,
        max_rejected_share=settings.max_rejected_share,
    )


def known_names(settings: Settings, client_id: str) -> dict[str, int]:
    """Attribute names at least one SKU holds now, with how many SKUs hold each."""
    return repo.meta(settings.table_name, client_id).counts


# ---------------------------------------------------------------- values in
def validate_records(settings: Settings, client_id: str, records: list[Any]) -> AttributeIngestResult:
    return ingest_attribute_records(records, known_names(settings, client_id), limits_for(settings))


def validate_file(settings: Settings, client_id: str, stream: IO[bytes]) -> AttributeIngestResult:
    return ingest_attribute_file(stream, known_names(settings, client_id), limits_for(settings))


def apply(
    settings: Settings,
    client_id: str,
    upload_id: str,
    result: AttributeIngestResult,
    heartbeat: Callable[[], None] = lambda: None,
) -> None:
    """Merge the accepted attributes in rounds of SKUs (each one transaction at the tenant's next
    version); re-applying changes nothing, so a retried upload may run this again."""
    skus = sorted(sku for sku, values in result.values.items() if values)
    start = 0
    while start < len(skus):
        start = _apply_round(settings, client_id, upload_id, result.values, skus, start)
        heartbeat()


def _apply_round(
    settings: Settings,
    client_id: str,
    upload_id: str,
    values: Mapping[str, Mapping[str, str | None]],
    skus: list[str],
    start: int,
) -> int:
    """Write the round beginning at skus[start]; returns where the next round begins."""
    for _ in range(ROUND_ATTEMPTS):
        read = repo.meta(settings.table_name, client_id)
        version = read.version
        chunk = skus[start : start + repo.ROUND_ITEMS]
        stored = repo.get_many(settings.table_name, client_id, chunk)
        at = now_iso()
        writes: list[tuple[str, StoredAttributes]] = []
        deltas: dict[str, int] = {}
        size = 0
        taken = 0
        changed = False
        for sku in chunk:
            taken += 1
            before = stored.get(sku)
            merged = merge_attributes(before, values[sku], upload_id, version + 1, at)
            if merged is None:
                continue
            for name in set(merged.current) ^ set(before.current if before else {}):
                deltas[name] = deltas.get(name, 0) + (1 if name in merged.current else -1)
            changed = changed or merged.version == version + 1
            writes.append((sku, merged))
            size += len(encode_attributes(merged)) + len(str(merged.current).encode()) + 200
            if size > repo.ROUND_BYTES:
                break
        if not writes:
            return start + taken
        try:
            repo.write_round(settings.table_name, client_id, read, writes, deltas, upload_id, changed)
            return start + taken
        except repo.RoundConflict:
            continue
    raise Conflict("Attributes kept changing under this upload; it will be retried.")


def report_of(result: AttributeIngestResult) -> dict[str, Any]:
    return result.report()


# ---------------------------------------------------------------- values out
def current_version(settings: Settings, client_id: str) -> int:
    """The tenant's attribute version now: what a run records to read attributes as of."""
    return repo.meta(settings.table_name, client_id).version


def attributes_as_of(
    settings: Settings, client_id: str, version: int, skus: Iterable[str] | None = None
) -> dict[str, dict[str, str]]:
    """Every SKU's attributes (or these SKUs') as they were at `version`, SKUs with none left
    out. Raises VersionGone when a SKU's kept history does not reach back that far."""
    if skus is None:
        stored: Iterable[tuple[str, StoredAttributes]] = repo.iter_stored(settings.table_name, client_id)
    else:
        stored = sorted(repo.get_many(settings.table_name, client_id, skus).items())
    out: dict[str, dict[str, str]] = {}
    for sku, attributes in stored:
        found = attributes.as_of(version)
        if found:
            out[sku] = found
    return out


def current_of(settings: Settings, client_id: str, skus: list[str]) -> dict[str, dict[str, str]]:
    """The current attributes of these SKUs (given in SKU order), read as one range."""
    if not skus:
        return {}
    found = repo.current_in_range(settings.table_name, client_id, skus[0], skus[-1])
    return {s: found[s] for s in skus if s in found}


def get_sku_attributes(settings: Settings, client_id: str, sku: str, version: int | None) -> SkuAttributes:
    now = repo.meta(settings.table_name, client_id).version
    if version is not None and version > now:
        raise Unprocessable(
            f"Attribute version {version} does not exist yet (the tenant is at {now}).",
            errors=[FieldError("version", "version_not_reached", f"at most {now}")],
        )
    stored = repo.get_many(settings.table_name, client_id, [sku]).get(sku) if sku else None
    if stored is None and (not sku or catalog.get_entry(settings.table_name, client_id, sku) is None):
        raise NotFound("No such SKU.")
    stored = stored or StoredAttributes({})
    try:
        shown = stored.as_of(version) if version is not None else stored.current
    except VersionGone:
        raise Conflict(
            f"SKU attributes before version {stored.base_version} are no longer kept "
            "(each SKU keeps its newest changes)."
        ) from None
    return SkuAttributes(
        sku=sku,
        version=now if version is None else version,
        attributes=shown,
        history=[
            AttributeChange(version=c.version, at=c.at, upload_id=c.upload_id, changes=c.changes)
            for c in stored.history
        ],
        history_from=stored.base_version,
    )


def list_names(settings: Settings, client_id: str) -> AttributeNames:
    meta = repo.meta(settings.table_name, client_id)
    return AttributeNames(version=meta.version, items=[AttributeName(name=n, skus=c) for n, c in meta.counts.items()])


# ---------------------------------------------------------------- filters for GET /skus
def parse_filters(query: Mapping[str, str] | None) -> dict[str, str]:
    """`attr.<name>=<value>` query parameters (ANDed); a bad name is 422 naming it."""
    filters: dict[str, str] = {}
    for key, value in sorted((query or {}).items()):
        if not key.startswith(FILTER_PREFIX):
            continue
        name = key[len(FILTER_PREFIX) :]
        problem = name_problem(name)
        if problem:
            raise Unprocessable(problem, errors=[FieldError(key, "invalid_attribute_name", problem)])
        filters[name] = value
    return filters


def keep_matching(settings: Settings, client_id: str, filters: Mapping[str, str]) -> Callable[[list[str]], set[str]]:
    """For catalog.page_entries: which of a page's SKUs hold every filtered value (one range read)."""

    def keep(skus: list[str]) -> set[str]:
        found = repo.current_in_range(settings.table_name, client_id, skus[0], skus[-1])
        return {s for s in skus if matches(found.get(s, {}), filters)}

    return keep


def filters_can_match(settings: Settings, client_id: str, filters: Mapping[str, str]) -> bool:
    """False when a filtered attribute is held by no SKU: the answer is empty without reading pages."""
    known = known_names(settings, client_id)
    return all(name in known for name in filters)


# ---------------------------------------------------------------- hierarchies
def _to_hierarchy(record: HierarchyRecord) -> Hierarchy:
    return Hierarchy(
        name=record.name, levels=list(record.levels), created_at=record.created_at, updated_at=record.updated_at
    )


def declare_hierarchy(
    settings: Settings, client_id: str, name: str, request: HierarchyRequest
) -> tuple[Hierarchy, bool]:
    problem = name_problem(name, "hierarchy")
    if problem:
        raise Unprocessable(problem, errors=[FieldError("name", "invalid_hierarchy_name", problem)])
    problems = level_problems(request.levels, known_names(settings, client_id))
    if problems:
        raise Unprocessable("; ".join(m for _, _, m in problems[:5]), errors=[FieldError(*p) for p in problems])
    existing = repo.list_hierarchies(settings.table_name, client_id)
    if len(existing) >= MAX_HIERARCHIES and all(h.name != name for h in existing):
        raise Conflict(f"At most {MAX_HIERARCHIES} hierarchies per client: delete one first.")
    created = repo.put_hierarchy(settings.table_name, client_id, name, list(request.levels), now_iso())
    record = repo.get_hierarchy(settings.table_name, client_id, name)
    if record is None:
        raise Conflict("The hierarchy was deleted meanwhile; retry.")
    return _to_hierarchy(record), created


def list_hierarchies(settings: Settings, client_id: str) -> HierarchyList:
    return HierarchyList(items=[_to_hierarchy(h) for h in repo.list_hierarchies(settings.table_name, client_id)])


def get_hierarchy(settings: Settings, client_id: str, name: str) -> HierarchyRecord | None:
    """A declared hierarchy (for the run code), or None."""
    return repo.get_hierarchy(settings.table_name, client_id, name) if name_problem(name, "hierarchy") is None else None


def delete_hierarchy(settings: Settings, client_id: str, name: str) -> None:
    if name_problem(name, "hierarchy") is not None or not repo.delete_hierarchy(settings.table_name, client_id, name):
        raise NotFound("No such hierarchy.")
