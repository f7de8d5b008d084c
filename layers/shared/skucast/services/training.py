"""The training stage of a run: the global model (forecasting/global_model.py), trained per shard
on the same SQS -> Lambda fleet as the forecast batches.

A run uses the global model when `uses_global_model` says so (one predicate, here). Its SKUs are
then split into training shards of `settings.training_shard_skus`; each shard's batches are
carved inside it (a batch never spans two shards), so a worker loads one shard's models per
batch. One TrainMessage per shard goes to TrainQueue; a trainer trains its shard, writes the
models to the data bucket under the tenant and run, and settles the shard (exactly once). The
run's batches are sent only once every shard is settled. A shard whose training fails every
retry is dead-lettered and settled FAILED: its SKUs get a `training_failed` error result, the
rest of the run goes on (PARTIAL).

A what-if run (`params["models_from"]`: the run whose models it reuses) trains nothing: it
batches its SKUs by that run's shard map and its workers load that run's models.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skucast import clock
from skucast.observability import logger, metrics
from skucast.records import RunStatus, ShardRecord, ShardStatus
from skucast.repositories import objects, queues
from skucast.repositories import runs as runs_repo
from skucast.repositories import training as repo
from skucast.repositories.keys import shard_map_key, shard_model_key
from skucast.schemas.messages import TrainMessage
from skucast.settings import Settings

if TYPE_CHECKING:  # the model code loads mlforecast and LightGBM: only the workers import it
    from skucast.forecasting.engine import ExternalForecast, Features, ForecastSpec, SeriesInput

# How long a trainer holds its shard: the TrainFunction timeout (template.yaml). A trainer that
# died holding it lets the message's redelivery (after the queue's visibility timeout, longer
# than this) take it again.
LEASE_SECONDS = 900


class TrainingFailed(RuntimeError):
    """The test-only fault hook (settings.test_fail_training_sku) fired."""


# ---------------------------------------------------------------- planning
def uses_global_model(settings: Settings, client_id: str, params: Mapping[str, Any]) -> bool:
    """Whether a run trains the global model: it asks for drivers (not "none") and the tenant has
    a declared driver, or a calendar with holidays or events. History alone is the per-SKU fits'
    job; the global model earns its training stage on features."""
    from skucast.services import drivers

    if params.get("drivers", "auto") == "none":
        return False
    if drivers.declared(settings, client_id):
        return True
    calendar = drivers.calendar_of(settings, client_id)
    return bool(calendar.holidays or calendar.events)


@dataclass(frozen=True)
class Layout:
    """A run's batches, the shard of each batch (None: no global model), and the shards to train."""

    batches: list[list[str]]
    batch_shards: list[str | None]
    shards: list[ShardRecord]
    shard_map: dict[str, str]


def plain_layout(skus: Sequence[str], batch_size: int) -> Layout:
    batches = [list(skus[i : i + batch_size]) for i in range(0, len(skus), batch_size)]
    return Layout(batches, [None] * len(batches), [], {})


def sharded_layout(skus: Sequence[str], batch_size: int, shard_size: int) -> Layout:
    """Shards of `shard_size` SKUs in run order, each cut into batches of `batch_size`."""
    batches: list[list[str]] = []
    batch_shards: list[str | None] = []
    shards: list[ShardRecord] = []
    shard_map: dict[str, str] = {}
    for index, start in enumerate(range(0, len(skus), shard_size)):
        members = list(skus[start : start + shard_size])
        shard = repo.shard_id(index)
        first = len(batches)
        for i in range(0, len(members), batch_size):
            batches.append(members[i : i + batch_size])
            batch_shards.append(shard)
        shards.append(ShardRecord(shard, ShardStatus.PENDING, first, len(batches) - first, len(members)))
        shard_map.update(dict.fromkeys(members, shard))
    return Layout(batches, batch_shards, shards, shard_map)


def reused_layout(skus: Sequence[str], base_map: Mapping[str, str], batch_size: int) -> Layout:
    """A run reusing another run's models: its SKUs batched by the shard that trained them (SKUs
    that run did not train are batched apart, history only), nothing to train."""
    groups: dict[str | None, list[str]] = {}
    for sku in skus:
        groups.setdefault(base_map.get(sku), []).append(sku)
    batches: list[list[str]] = []
    batch_shards: list[str | None] = []
    for shard in sorted(groups, key=lambda s: (s is None, s or "")):
        members = groups[shard]
        for i in range(0, len(members), batch_size):
            batches.append(members[i : i + batch_size])
            batch_shards.append(shard)
    return Layout(batches, batch_shards, [], {s: base_map[s] for s in skus if s in base_map})


def plan(settings: Settings, client_id: str, run_id: str, params: Mapping[str, Any], skus: list[str]) -> Layout:
    """The run's layout; for a run that trains, its shards and shard map are stored (idempotent)."""
    from skucast.services.batches import BATCH_SIZE

    models_from = params.get("models_from")
    if models_from:
        base_map = objects.get_json(settings.data_bucket, shard_map_key(client_id, str(models_from))) or {}
        return reused_layout(skus, base_map, BATCH_SIZE)
    if not skus or not uses_global_model(settings, client_id, params):
        return plain_layout(skus, BATCH_SIZE)
    layout = sharded_layout(skus, BATCH_SIZE, settings.training_shard_skus)
    objects.put_json(settings.data_bucket, shard_map_key(client_id, run_id), layout.shard_map)
    repo.put_shards(settings.table_name, client_id, run_id, layout.shards)
    return layout


def send_training(settings: Settings, client_id: str, run_id: str) -> int:
    """One TrainMessage per shard not settled yet (a re-send is safe: a shard trains once)."""
    sent = 0
    for shard in repo.iter_shards(settings.table_name, client_id, run_id):
        if shard.status is ShardStatus.PENDING:
            message = TrainMessage(client_id=client_id, run_id=run_id, shard_id=shard.shard_id)
            queues.send_train(settings.train_queue_url, message)
            sent += 1
    return sent


# ---------------------------------------------------------------- the run's spec and inputs
def run_spec(params: Mapping[str, Any], as_of: str | None) -> ForecastSpec:
    from skucast.forecasting.engine import ForecastSpec

    return ForecastSpec.from_params(params, as_of)


def features_of(
    settings: Settings, client_id: str, params: Mapping[str, Any], inputs: Sequence[SeriesInput], as_of: str | None
) -> dict[str, Features]:
    from skucast.services.features import features_for

    return features_for(settings, client_id, params, inputs, as_of)


def shard_skus(settings: Settings, client_id: str, run_id: str, shard: ShardRecord) -> list[str]:
    skus: list[str] = []
    for index in range(shard.first_batch, shard.first_batch + shard.batches):
        batch = runs_repo.get_batch(settings.table_name, client_id, run_id, runs_repo.batch_id(index))
        skus.extend(batch.skus if batch else ())
    return skus


# ---------------------------------------------------------------- training one shard
def train_shard(message: TrainMessage, settings: Settings) -> None:
    """Train one shard once: a settled shard, or one another trainer holds, is left alone; a
    failure gives the shard back and raises, so SQS retries it (then its DLQ: record_dead_letter)."""
    from skucast.forecasting import global_model
    from skucast.services.batches import continue_tenant

    client_id, run_id, shard_id = message.client_id, message.run_id, message.shard_id
    run = runs_repo.get_run(settings.table_name, client_id, run_id)
    shard = repo.get_shard(settings.table_name, client_id, run_id, shard_id) if run else None
    if run is None or shard is None:
        logger.warning("training for an unknown run or shard dropped")
        return
    if shard.status is not ShardStatus.PENDING or run.status is not RunStatus.RUNNING:
        continue_tenant(settings, client_id, run_id)  # a duplicate: finish what the first may not have
        return
    now = clock.now()
    until = clock.iso(now + dt.timedelta(seconds=LEASE_SECONDS))
    if not repo.take_lease(settings.table_name, client_id, run_id, shard_id, clock.iso(now), until):
        logger.info("shard held by another trainer")
        return
    try:
        skus = shard_skus(settings, client_id, run_id, shard)
        if settings.test_fail_training_sku and settings.test_fail_training_sku in skus:
            raise TrainingFailed("test-only fault hook: this shard's training fails")
        inputs = _inputs(settings, client_id, run.params, skus)
        spec = run_spec(run.params, run.as_of)
        features = features_of(settings, client_id, run.params, inputs, run.as_of)
        models = global_model.train(inputs, features, spec, global_model.GlobalConfig())
        objects.put_bytes(settings.data_bucket, shard_model_key(client_id, run_id, shard_id), models)
    except Exception:
        repo.release_lease(settings.table_name, client_id, run_id, shard_id)
        raise
    metrics.add_metric(name="ShardsTrained", unit="Count", value=1)
    _settle(settings, client_id, run_id, shard_id, ShardStatus.TRAINED)


def _inputs(settings: Settings, client_id: str, params: Mapping[str, Any], skus: list[str]) -> list[SeriesInput]:
    from skucast.repositories import demand
    from skucast.services.batches import series_input

    stored = demand.get_stored_series(settings.table_name, client_id, skus)
    cleaning = params.get("history_cleaning", "none") == "flagged"
    return [series_input(s, stored[s], cleaning) for s in skus if s in stored]


def _settle(settings: Settings, client_id: str, run_id: str, shard_id: str, outcome: ShardStatus) -> None:
    from skucast.services.batches import continue_tenant
    from skucast.services.runs import progress_deadline

    repo.settle_shard(settings.table_name, client_id, run_id, shard_id, outcome, progress_deadline(settings))
    continue_tenant(settings, client_id, run_id)  # the last shard settled sends the batches


def record_dead_letter(message: TrainMessage, settings: Settings) -> None:
    """A shard that failed every retry: settled FAILED, so the run goes on; its batches then give
    their SKUs a `training_failed` error (services/batches.process_batch)."""
    client_id, run_id, shard_id = message.client_id, message.run_id, message.shard_id
    shard = repo.get_shard(settings.table_name, client_id, run_id, shard_id)
    if shard is None or shard.status is not ShardStatus.PENDING:
        return
    metrics.add_metric(name="ShardsDeadLettered", unit="Count", value=1)
    _settle(settings, client_id, run_id, shard_id, ShardStatus.FAILED)


def shard_failed(settings: Settings, client_id: str, model_run: str, shard_id: str) -> bool:
    shard = repo.get_shard(settings.table_name, client_id, model_run, shard_id)
    return shard is not None and shard.status is ShardStatus.FAILED


# ---------------------------------------------------------------- prediction in the workers
def model_run(run_id: str, params: Mapping[str, Any]) -> str:
    """The run whose trained models a run's workers load: its own, or the one it reuses."""
    return str(params.get("models_from") or run_id)


class _Missing(LookupError):
    pass


@functools.lru_cache(maxsize=2)
def _cached_models(bucket: str, key: str) -> Mapping[str, Any]:
    """A shard's models, deserialized once per container: a worker's next batch is most often of
    the same shard. A missing object raises (and so is not cached)."""
    from skucast.forecasting import global_model

    body = objects.get_bytes(bucket, key)
    if body is None:
        raise _Missing(key)
    return global_model.load(body)


def external_forecasts(
    settings: Settings,
    client_id: str,
    model_run_id: str,
    shard_id: str,
    inputs: Sequence[SeriesInput],
    features: Mapping[str, Features],
    spec: ForecastSpec,
) -> dict[str, ExternalForecast]:
    """The shard's global model on these SKUs ({} when its models are missing: history only)."""
    from skucast.forecasting import global_model

    try:
        models = _cached_models(settings.data_bucket, shard_model_key(client_id, model_run_id, shard_id))
    except _Missing:
        logger.warning("shard models missing", extra={"shard": shard_id})
        return {}
    return global_model.predict(models, inputs, features, spec)


def with_global_model(
    settings: Settings,
    client_id: str,
    run_id: str,
    params: Mapping[str, Any],
    shard_id: str,
    inputs: Sequence[SeriesInput],
    as_of: str | None,
) -> tuple[list[SeriesInput], int]:
    """The batch's inputs (their features already set: services/batches.forecast_skus) with their
    shard's global-model candidate; and how many SKUs the shard's model predicted."""
    spec = run_spec(params, as_of)
    features = {item.sku: item.features for item in inputs if item.features is not None}
    external = external_forecasts(settings, client_id, model_run(run_id, params), shard_id, inputs, features, spec)
    out = [
        dataclasses.replace(item, external=(external[item.sku],)) if item.sku in external else item for item in inputs
    ]
    return out, len(external)
