"""Every key format, in one place: DynamoDB keys, the sparse index's keys and data-bucket object keys.

No other module builds or parses a key (tests/unit/repositories/test_key_formats.py checks it):
they call the builders here, and read ids back out of a key with the `..._of` parsers.

Tenant data: pk always begins with CLIENT#<client_id>, so no query can reach another tenant's
items without that tenant's id (which only the verified credential supplies).
Global lookups (login by e-mail, credential by hash) cannot know the tenant yet; their items hold
the tenant id and are only ever read by exact key.
gsi1 is a sparse index for platform work lists (due schedules, active runs, uploads being
processed), never a request path.
"""

from __future__ import annotations

import zlib

SEP = "#"


def tenant_pk(client_id: str) -> str:
    if not client_id or SEP in client_id:
        raise ValueError("invalid client id")
    return f"CLIENT{SEP}{client_id}"


def tenant_scoped_pk(client_id: str, *parts: str) -> str:
    """A partition of its own under the tenant (e.g. one run's results)."""
    return SEP.join([tenant_pk(client_id), *parts])


def client_id_of(pk: str) -> str:
    """The tenant of a tenant item's pk (CLIENT#<client_id>, or a partition under it)."""
    parts = pk.split(SEP)
    if len(parts) < 2 or parts[0] != "CLIENT" or not parts[1]:
        raise ValueError("not a tenant key")
    return parts[1]


def _after_prefix(prefix: str, key: str) -> str:
    if not key.startswith(prefix):
        raise ValueError(f"not a {prefix[: -len(SEP)].lower()} key")
    return key[len(prefix) :]


def run_sk(run_id: str) -> str:
    return f"RUN{SEP}{run_id}"


def run_id_of(sk: str) -> str:
    """The run of a run item's sk (RUN#<run_id>)."""
    return _after_prefix(RUN_PREFIX, sk)


UPLOAD_PREFIX = f"UPLOAD{SEP}"


def upload_sk(upload_id: str) -> str:
    return UPLOAD_PREFIX + upload_id


def upload_id_of(sk: str) -> str:
    """The upload of an upload item's sk (UPLOAD#<upload_id>)."""
    return _after_prefix(UPLOAD_PREFIX, sk)


def ingest_lock_sk() -> str:
    """The tenant's merge lock: one upload at a time merges into its demand store."""
    return "INGEST_LOCK"


def upload_object_key(client_id: str, upload_id: str) -> str:
    """Where a tenant's uploaded file lands in the data bucket (the presigned POST pins it)."""
    return f"uploads/{client_id}/{upload_id}"


def parse_upload_object_key(key: str) -> tuple[str, str] | None:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "uploads" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def run_skus_key(client_id: str, run_id: str) -> str:
    """The SKU list a run was asked for (kept in the data bucket: it may be long)."""
    return f"runs/{client_id}/{run_id}/skus.json"


def compare_key(client_id: str, run_id: str, to: str) -> str:
    """Two finished runs' per-SKU totals, computed once (their means never change afterwards)."""
    return f"runs/{client_id}/{run_id}/comparisons/{to}.json"


def export_key(client_id: str, run_id: str, extension: str, revision: int = 0) -> str:
    """One object per (run, format, revision): a finished run's results change only by adjustments,
    each of which counts a new revision of the run, so an export is reused until the next one."""
    if revision:
        return f"exports/{client_id}/{run_id}/export-r{revision}.{extension}"
    return f"exports/{client_id}/{run_id}/export.{extension}"


def node_export_key(client_id: str, run_id: str, depth: int, extension: str) -> str:
    """One object per (run, hierarchy depth, format): a run's nodes are written once, when it is
    reconciled, and never adjusted, so the export of a level never changes."""
    return f"exports/{client_id}/{run_id}/nodes-d{depth}.{extension}"


# ---------------------------------------------------------------- demand
# Series are sharded by SKU so one tenant's bulk ingest spreads over partitions (each takes
# 1,000 WCU/s); the catalog (pages of many SKUs, listed in SKU order) is one partition per tenant.
SERIES_SHARDS = 16
SKU_PREFIX = f"SKU{SEP}"


def series_shard(sku: str) -> int:
    return zlib.crc32(sku.encode("utf-8")) % SERIES_SHARDS


def series_shard_pk(client_id: str, shard: int) -> str:
    return tenant_scoped_pk(client_id, "SERIES", str(shard))


def series_pk(client_id: str, sku: str) -> str:
    return series_shard_pk(client_id, series_shard(sku))


def sku_sk(sku: str) -> str:
    return SKU_PREFIX + sku


def sku_of(sk: str) -> str:
    """The SKU of a series, result or (legacy) catalog item's sk (SKU#<sku>; a SKU may hold '#')."""
    return _after_prefix(SKU_PREFIX, sk)


def catalog_pk(client_id: str) -> str:
    return tenant_scoped_pk(client_id, "SKUS")


CATALOG_PAGE_PREFIX = f"PAGE{SEP}"
CATALOG_PAGES_END = CATALOG_PAGE_PREFIX[: -len(SEP)] + chr(ord(SEP) + 1)  # just after every page key


def catalog_page_sk(first_sku: str) -> str:
    """A catalog page, keyed by the smallest SKU it may hold (repositories/catalog.py)."""
    return CATALOG_PAGE_PREFIX + first_sku


def catalog_page_first_sku(sk: str) -> str:
    return _after_prefix(CATALOG_PAGE_PREFIX, sk)


# ---------------------------------------------------------------- drivers and calendar
# Declared drivers are one partition per tenant (listed whole: at most 50). A driver's values are
# keyed under the driver and its generation (a new one each time the name is declared afresh), in
# SERIES_SHARDS partitions of one item per SKU: deleting a driver removes its declaration (its
# values are unreachable at once) and then its own partitions, without touching anything else.
DRIVER_PREFIX = f"DRIVER{SEP}"
DRIVER_PURGE_PREFIX = f"PURGE{SEP}"


def drivers_pk(client_id: str) -> str:
    return tenant_scoped_pk(client_id, "DRIVERS")


def driver_sk(name: str) -> str:
    return DRIVER_PREFIX + _id(name)


def driver_name_of(sk: str) -> str:
    return _after_prefix(DRIVER_PREFIX, sk)


def driver_purge_sk(name: str, generation: str) -> str:
    """A deleted driver generation whose values are still being removed."""
    return DRIVER_PURGE_PREFIX + _id(name) + SEP + _id(generation)


def driver_purge_of(sk: str) -> tuple[str, str]:
    name, _, generation = _after_prefix(DRIVER_PURGE_PREFIX, sk).partition(SEP)
    return name, generation


def driver_values_pk(client_id: str, name: str, generation: str, shard: int) -> str:
    return tenant_scoped_pk(client_id, "DRIVER", _id(name), _id(generation), str(shard))


def driver_values_shard_pk(client_id: str, name: str, generation: str, sku: str) -> str:
    return driver_values_pk(client_id, name, generation, series_shard(sku))


def calendar_sk() -> str:
    """The tenant's calendar (holiday codes and events), one item under its pk."""
    return "CALENDAR"


# ---------------------------------------------------------------- attributes and hierarchies
# A tenant's item attributes are one partition in SKU order (SKU#<sku>, one item per SKU, its
# versioned attributes) beside one META item (the tenant's attribute version and per-name counts),
# so a catalog page's SKU range reads its attributes in one query. Hierarchy declarations are a
# partition of their own (listed whole: at most 20).
ATTRIBUTES_META_SK = "META"
HIERARCHY_PREFIX = f"HIERARCHY{SEP}"


def attributes_pk(client_id: str) -> str:
    return tenant_scoped_pk(client_id, "ATTRS")


def attributes_meta_sk() -> str:
    return ATTRIBUTES_META_SK


def hierarchies_pk(client_id: str) -> str:
    return tenant_scoped_pk(client_id, "HIERARCHIES")


def hierarchy_sk(name: str) -> str:
    return HIERARCHY_PREFIX + _id(name)


def hierarchy_name_of(sk: str) -> str:
    return _after_prefix(HIERARCHY_PREFIX, sk)


# ---------------------------------------------------------------- runs
RUN_PREFIX = f"RUN{SEP}"
BATCH_PREFIX = f"BATCH{SEP}"


def batches_pk(client_id: str, run_id: str) -> str:
    return tenant_scoped_pk(client_id, "RUN", run_id, "BATCHES")


def batch_sk(batch_id: str) -> str:
    return BATCH_PREFIX + batch_id


def batch_id_of(sk: str) -> str:
    return _after_prefix(BATCH_PREFIX, sk)


# A run's training shards (the global model: services/training.py), one partition per run beside
# its batches; each shard's fitted models and the run's SKU -> shard map live in the data bucket.
SHARD_PREFIX = f"SHARD{SEP}"


def shards_pk(client_id: str, run_id: str) -> str:
    return tenant_scoped_pk(client_id, "RUN", run_id, "SHARDS")


def shard_sk(shard_id: str) -> str:
    return SHARD_PREFIX + _id(shard_id)


def shard_id_of(sk: str) -> str:
    return _after_prefix(SHARD_PREFIX, sk)


def shard_model_key(client_id: str, run_id: str, shard_id: str) -> str:
    """One training shard's serialized global models (forecasting/global_model.py)."""
    return f"models/{client_id}/{run_id}/{shard_id}.pkl"


def shard_map_key(client_id: str, run_id: str) -> str:
    """Which training shard each SKU of the run belongs to ({sku: shard_id}): scenario runs
    reusing the run's models read it."""
    return f"models/{client_id}/{run_id}/shards.json"


def results_pk(client_id: str, run_id: str, shard: int) -> str:
    """One run's results are spread over `result_shards` partitions (see services/runs.py)."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "RESULTS", str(shard))


def result_shard(sku: str, shards: int) -> int:
    return zlib.crc32(sku.encode("utf-8")) % shards


# ---------------------------------------------------------------- hierarchy runs
NODE_PREFIX = f"NODE{SEP}"


def nodes_pk(client_id: str, run_id: str) -> str:
    """A hierarchy run's reconciled node results (services/hierarchy.py)."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "NODES")


def node_depth_prefix(depth: int) -> str:
    return f"{NODE_PREFIX}{depth:02d}{SEP}"


def node_sk(depth: int, node_id: str) -> str:
    """Nodes sort by depth (total first), so one level is one key range."""
    return node_depth_prefix(depth) + node_id


def run_hierarchy_key(client_id: str, run_id: str, name: str) -> str:
    """A hierarchy run's working objects: its plan, node histories and node base forecasts per
    node batch, and the SKUs' recent history for the reconciliation's residuals."""
    return f"runs/{client_id}/{run_id}/hierarchy/{name}"


def run_analog_key(client_id: str, run_id: str) -> str:
    """A run's analog profiles: the launch profile of each attribute group its new SKUs borrow
    from, and which group each of those SKUs takes (services/analog.py)."""
    return f"runs/{client_id}/{run_id}/analog/profiles.json"


# ---------------------------------------------------------------- adjustments
ADJUSTMENT_PREFIX = f"ADJ{SEP}"


def adjustments_pk(client_id: str, run_id: str, sku: str) -> str:
    """The adjustments made to one SKU's result in one run: its audit trail, one item each.
    The SKU is the last part, so a SKU holding '#' still names one partition."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "ADJUSTMENTS", sku)


def adjustment_sk(version: int) -> str:
    """The adjustment that made a result's `version` (1, 2, ...): sk order is the order made."""
    return f"{ADJUSTMENT_PREFIX}{version:06d}"


def sticky_pk(client_id: str) -> str:
    """The tenant's sticky adjustments, carried into later runs until they expire."""
    return tenant_scoped_pk(client_id, "STICKY")


def sticky_sk(sku: str, adjustment_id: str) -> str:
    return sku_sk(sku) + SEP + _id(adjustment_id)


def sticky_prefix(sku: str) -> str:
    """Every sticky adjustment of `sku` - and of SKUs that begin with `sku#`: readers check the SKU."""
    return sku_sk(sku) + SEP


def carried_pk(client_id: str, run_id: str) -> str:
    """The sticky adjustments a run carries, one item per SKU (sku_sk), as its planner found them."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "CARRIED")


# ---------------------------------------------------------------- scoring against actuals
def scores_pk(client_id: str, run_id: str, shard: int) -> str:
    """A run's scored points, one item per SKU (sku_sk), sharded like its results."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "SCORES", str(shard))


def run_accuracy_pk(client_id: str, run_id: str) -> str:
    """A run's accuracy sums (one item, RUN_ACCURACY_ALL: the whole run, per class, per method)."""
    return tenant_scoped_pk(client_id, "RUN", run_id, "ACCURACY")


RUN_ACCURACY_ALL = "ALL"


def tenant_accuracy_pk(client_id: str) -> str:
    """The tenant's accuracy over time: sums per (by, calendar month, key)."""
    return tenant_scoped_pk(client_id, "ACCURACY")


def tenant_accuracy_sk(by: str, month: str, key: str) -> str:
    return SEP.join([by, month, key])


def tenant_accuracy_range(by: str, first_month: str, last_month: str) -> tuple[str, str]:
    """The sk bounds of the months first_month..last_month of one `by`, every key included."""
    return SEP.join([by, first_month]), SEP.join([by, last_month, chr(0x10FFFF)])


def tenant_accuracy_parts(sk: str) -> tuple[str, str, str]:
    """(by, month, key) of a tenant accuracy item's sk; the key is the rest (it may hold '#')."""
    by, month, key = sk.split(SEP, 2)
    return by, month, key


def scoring_index_pk(client_id: str) -> str:
    """The tenant's finished runs that actuals may score, one item per run, by frequency."""
    return tenant_scoped_pk(client_id, "SCORING")


def scoring_index_prefix(frequency: str) -> str:
    return f"{RUN_PREFIX}{frequency}{SEP}"


def scoring_index_sk(frequency: str, run_id: str) -> str:
    """Run ids sort by creation time: a frequency's newest runs come first in a reversed query."""
    return scoring_index_prefix(frequency) + _id(run_id)


def run_slots_sk() -> str:
    """The tenant's counter of forecast batches in flight (fairness across tenants)."""
    return "INFLIGHT"


def schedule_sk() -> str:
    return "SCHEDULE"


def run_idempotency_sk(key_digest: str) -> str:
    return f"IDEMPOTENCY{SEP}RUN{SEP}{key_digest}"


def export_sk(run_id: str, file_format: str) -> str:
    """A run's export in one format: whether it is being prepared, or why it last failed."""
    return f"EXPORT{SEP}{run_id}{SEP}{file_format}"


# ---------------------------------------------------------------- alerts
ALERT_PREFIX = f"ALERT{SEP}"


def alerts_pk(client_id: str) -> str:
    """The tenant's alerts (one item each, newest last: alert ids sort by creation) and their conditions."""
    return tenant_scoped_pk(client_id, "ALERTS")


def alert_sk(alert_id: str) -> str:
    return ALERT_PREFIX + _id(alert_id)


def alert_id_of(sk: str) -> str:
    return _after_prefix(ALERT_PREFIX, sk)


def alert_condition_sk(kind: str, scope: str, subject: str) -> str:
    """One alert condition (kind, and what it is about: a run, a schedule slot, a SKU, the tenant)
    holding its open alert: the deduplication point. The subject is last, so a SKU holding '#'
    still names one condition."""
    return SEP.join(["ALERTCOND", _id(kind), _id(scope), subject])


def alert_settings_sk() -> str:
    return "ALERT_SETTINGS"


def unpublished_alert_gsi1sk(created_at: str, client_id: str, alert_id: str) -> str:
    """An alert on UNPUBLISHED_ALERTS until its EventBridge event is sent (the outbox)."""
    return SEP.join([created_at, client_id, alert_id])


# gsi1 work lists: gsi1pk names the list, gsi1sk begins with the time the entry is due (ISO 8601
# UTC, skucast/clock.py), then the tenant, so a list is read in due order across tenants.
ACTIVE_RUNS = "ACTIVE_RUNS"
SCHEDULES = "SCHEDULES"
PROCESSING_UPLOADS = "PROCESSING_UPLOADS"
UNPUBLISHED_ALERTS = "UNPUBLISHED_ALERTS"


def active_run_gsi1sk(deadline: str, client_id: str, run_id: str) -> str:
    """An active run on ACTIVE_RUNS until its progress deadline."""
    return SEP.join([deadline, client_id, run_id])


def processing_upload_gsi1sk(stall_deadline: str, client_id: str, upload_id: str) -> str:
    """An upload on PROCESSING_UPLOADS until its stall deadline."""
    return SEP.join([stall_deadline, client_id, upload_id])


def schedule_gsi1sk(next_run_at: str, client_id: str) -> str:
    """An enabled schedule on SCHEDULES, due at its next firing time."""
    return SEP.join([next_run_at, client_id])


def due_before(moment: str) -> str:
    """The gsi1sk bound below which every entry is due at `moment` (an ISO time) or earlier."""
    return moment + SEP + "~"


# ---------------------------------------------------------------- tenancy and authentication
# Under CLIENT#<client_id>: the client's profile, its users, API keys and login sessions.
CLIENT_PROFILE_SK = "PROFILE"
USER_PREFIX = f"USER{SEP}"
API_KEY_PREFIX = f"APIKEY{SEP}"
SESSION_PREFIX = f"SESSION{SEP}"


def _id(value: str) -> str:
    if not value or SEP in value:
        raise ValueError("invalid id")
    return value


def user_sk(user_id: str) -> str:
    return USER_PREFIX + _id(user_id)


def user_id_of(sk: str) -> str:
    return _after_prefix(USER_PREFIX, sk)


def api_key_sk(key_id: str) -> str:
    return API_KEY_PREFIX + _id(key_id)


def api_key_id_of(sk: str) -> str:
    return _after_prefix(API_KEY_PREFIX, sk)


def session_sk(session_id: str) -> str:
    """One login's refresh-token family (revoking it ends every token of that login)."""
    return SESSION_PREFIX + _id(session_id)


# Global lookups, read by exact key only, before the tenant is known. The key holds a SHA-256
# digest (of the normalised e-mail, or of the presented secret), never the value itself.
LOOKUP_SK = "LOOKUP"  # a credential's lookup; in an e-mail partition, the schema-1 single identity
EMAIL_IDENTITY_PREFIX = f"IDENTITY{SEP}"


def email_lookup_pk(email_digest: str) -> str:
    """Login by e-mail: the partition of every identity (tenant, user) signing in with it."""
    return f"EMAIL{SEP}{_id(email_digest)}"


def email_identity_sk(client_id: str) -> str:
    """The one user of this tenant with the partition's e-mail (identities are per tenant)."""
    return EMAIL_IDENTITY_PREFIX + _id(client_id)


def credential_lookup_pk(secret_digest: str) -> str:
    """A refresh token or API key by the hash of its value -> its tenant and owner."""
    return f"CREDENTIAL{SEP}{_id(secret_digest)}"


def login_failures_pk(scope: str, subject_digest: str) -> str:
    """Failed-login counter per e-mail or per source IP (scope "email" | "ip"); expires by TTL."""
    return f"LOGINFAIL{SEP}{_id(scope)}{SEP}{_id(subject_digest)}"


def login_failures_sk(window: int) -> str:
    return f"WINDOW{SEP}{window}"
