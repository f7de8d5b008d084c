"""Forecast runs as the API sees them: start, read, list, cancel, results (exports: exports.py)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any

from skucast import clock, ids, scenarios, tiers
from skucast.adjustments import etag
from skucast.errors import Conflict, FieldError, NotFound, NotReady, Unprocessable
from skucast.forecasting.catalogue import method_names
from skucast.observability import logger, metrics
from skucast.pagination import decode_after, decode_cursor, encode_after, encode_cursor
from skucast.records import RunRecord, RunStatus, StoredResult, Trigger
from skucast.repositories import alerts as alerts_repo
from skucast.repositories import clients as clients_repo
from skucast.repositories import objects, queues
from skucast.repositories import runs as repo
from skucast.repositories.keys import run_skus_key
from skucast.schemas.forecast import (
    CreateRunRequest,
    ResultList,
    Run,
    RunList,
    RunParams,
    RunProgress,
    SkuResult,
)
from skucast.schemas.messages import PlanMessage
from skucast.services import alerts, analog, drivers, hierarchy
from skucast.settings import Settings

IDEMPOTENCY_SECONDS = 24 * 3600


def progress_deadline(settings: Settings, now: datetime | None = None) -> str:
    """When a run that makes no progress from now on is stalled (settings.run_progress_timeout_seconds)."""
    return clock.iso((now or clock.now()) + timedelta(seconds=settings.run_progress_timeout_seconds))


def tier_of(settings: Settings, client_id: str) -> tiers.TierLimits:
    client = clients_repo.get_client(settings.table_name, client_id)
    return tiers.limits_for(client.get("tier") if client else None)


def check_params(params: RunParams | CreateRunRequest, limits: tiers.TierLimits) -> None:
    errors = []
    if params.horizon is None:
        errors.append(FieldError("horizon", "missing", "A run needs a horizon (a scenario run takes its base run's)."))
    if params.method not in method_names():
        errors.append(FieldError("method", "unknown_method", "Not a method of GET /methods."))
    if params.horizon is not None and params.horizon > limits.max_horizon.limit(params.frequency):
        most = limits.max_horizon.describe(params.frequency)
        errors.append(FieldError("horizon", "over_tier_limit", f"Your tier forecasts up to {most} ahead."))
    if params.as_of is not None and params.as_of > clock.today() + timedelta(days=1):
        errors.append(FieldError("as_of", "in_future", "The forecast origin cannot be in the future."))
    if params.skus is not None and len(params.skus) > limits.max_skus_per_run:
        errors.append(
            FieldError("skus", "over_tier_limit", f"Your tier forecasts up to {limits.max_skus_per_run} SKUs a run.")
        )
    if errors:
        raise Unprocessable("The run cannot be started as asked.", errors=errors)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_run(
    settings: Settings,
    client_id: str,
    request: CreateRunRequest,
    *,
    idempotency_key: str | None = None,
    trigger: Trigger = "api",
) -> Run:
    limits = tier_of(settings, client_id)
    now = clock.now()
    run_id = ids.new_sortable_id("run")
    if request.scenario is not None:
        params = scenario_params(settings, client_id, request)  # the base run's, hierarchy included
    else:
        check_params(request, limits)
        check_drivers(settings, client_id, request.drivers)
        params = request.model_dump(mode="json", exclude={"name", "skus", "scenario", "hierarchy", "reconciliation"})
        params["skus"] = len(request.skus) if request.skus is not None else "all"
        params.update(hierarchy.run_params(settings, client_id, request))  # {} without a hierarchy
        if "attributes_version" not in params:  # new SKUs' groups are read as of it (services/analog.py)
            params.update(analog.run_params(settings, client_id, request))
    if request.skus is not None:
        objects.put_json(settings.data_bucket, run_skus_key(client_id, run_id), request.skus)
    run = RunRecord(
        run_id=run_id,
        name=request.name,
        status=RunStatus.QUEUED,
        trigger=trigger,
        params=params,
        created_at=clock.iso(now),
    )
    idempotency = None
    if idempotency_key:
        idempotency = (_digest(idempotency_key), _digest(request.model_dump_json()))
    try:
        repo.create_run(
            settings.table_name,
            client_id,
            run,
            expires_at=int(now.timestamp()) + IDEMPOTENCY_SECONDS,
            deadline=progress_deadline(settings, now),
            max_active=limits.max_active_runs,
            idempotency=idempotency,
        )
    except repo.IdempotencyKeyUsed as used:
        if idempotency and used.params_digest != idempotency[1]:
            raise Unprocessable("This Idempotency-Key was used with other parameters.") from None
        return get_run(settings, client_id, used.run_id)
    except repo.LimitReached:
        raise Conflict(f"Your tier runs at most {limits.max_active_runs} forecast run(s) at a time.") from None
    try:
        queues.send_plan(settings.plan_queue_url, PlanMessage(client_id=client_id, run_id=run_id))
    except Exception:
        logger.exception("could not queue the run's planning")
        fail_run(settings, client_id, run_id, "not_queued", "The run could not be queued.")
        raise NotReady("The run could not be queued; try again.") from None
    metrics.add_metric(name="RunsStarted", unit="Count", value=1)
    return get_run(settings, client_id, run_id)


def check_drivers(settings: Settings, client_id: str, choice: str | list[str]) -> None:
    """`drivers` as a list names declared drivers only (422 naming each other one)."""
    if isinstance(choice, str):
        return
    declared = drivers.declared(settings, client_id)
    errors = [
        FieldError(f"drivers[{i}]", "undeclared_driver", f"{name!r} is not a declared driver")
        for i, name in enumerate(choice)
        if name not in declared
    ]
    if errors:
        raise Unprocessable("The run names drivers that are not declared.", errors=errors)


def scenario_params(settings: Settings, client_id: str, request: CreateRunRequest) -> dict[str, Any]:
    """A what-if run's parameters: its base run's, with the scenario (skucast/scenarios.py has
    the rules). The base must be the caller's (404 otherwise, like any other tenant's run) and
    finished with results (SUCCEEDED or PARTIAL: 409 otherwise)."""
    assert request.scenario is not None
    sent = request.scenario.model_dump(mode="json", exclude_none=True)
    base_id = request.scenario.base_run_id
    base = repo.get_run(settings.table_name, client_id, base_id) if ids.is_id(base_id, "run") else None
    if base is None:
        raise NotFound(
            "No such base run.",
            errors=[FieldError("scenario.base_run_id", "unknown_run", "no run of yours has this id")],
        )
    if base.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        raise Conflict(
            f"The base run is {base.status}: a scenario changes a run that finished SUCCEEDED or PARTIAL.",
            errors=[FieldError("scenario.base_run_id", "base_not_finished", f"the base run is {base.status}")],
        )
    inherited = {**base.params, "as_of": base.as_of, "drivers": base.params.get("drivers", "auto")}
    asked = request.model_dump(mode="json", include=request.model_fields_set - {"name", "scenario"})
    declared = {n: r.kind for n, r in drivers.declared(settings, client_id).items()}
    origin = dt.date.fromisoformat(base.as_of) if base.as_of else None
    changes = [c.model_dump() for c in request.scenario.changes]  # dates as dates for the checks
    errors = [
        *scenarios.inherited_conflicts(asked, inherited),
        *scenarios.check_changes(changes, declared, scenarios.BaseRun(origin, inherited["drivers"])),
        *scenarios.check_events(sent.get("events", [])),
    ]
    if scenarios.sku_references(sent) > scenarios.MAX_SCENARIO_SKUS:
        errors.append(
            FieldError(
                "scenario",
                "too_many_skus",
                f"at most {scenarios.MAX_SCENARIO_SKUS} SKU references over all changes and events "
                "(a change without skus covers every SKU)",
            )
        )
    if errors:
        raise Unprocessable("The scenario cannot be run as asked.", errors=errors)
    base_params = {k: v for k, v in inherited.items() if k not in ("scenario", "models_from")}
    return {
        **base_params,
        "scenario": scenarios.stacked(base.params.get("scenario"), sent),
        # The run whose trained global models this one reuses: the first non-scenario run up the chain.
        "models_from": base.params.get("models_from") or base.run_id,
    }


def fail_run(settings: Settings, client_id: str, run_id: str, code: str, message: str) -> bool:
    """Fail an active run; False when it is no longer active. Its `run_failed` alert is written in
    the transaction that fails it: a run fails once, so it alerts once, however many sweepers,
    retries or redeliveries reach this point, and a crash after the write cannot lose the alert
    (its event waits on the outbox: services/alerts.py)."""
    error = {"code": code, "message": message}
    alert, condition = alerts.new_alert("run_failed", run_id=run_id, detail={"status": "FAILED", "error": error})
    transition = functools.partial(
        repo.transition,
        settings.table_name,
        client_id,
        run_id,
        to=RunStatus.FAILED,
        allowed_from=repo.ACTIVE,
        set_fields={"finished_at": clock.now_iso(), "error": error},
        release_active=True,
    )
    raised = True
    try:
        failed = transition(also=alerts_repo.new_alert_actions(client_id, alert, condition, None, None))
    except repo.AlsoRefused:  # the run already has its alert (raised elsewhere): fail it without another
        failed, raised = transition(), False
    if failed:
        metrics.add_metric(name="RunsFailed", unit="Count", value=1)
        if raised:
            alerts.raised(settings, client_id, alert)
    return failed


def to_run(run: RunRecord) -> Run:
    return Run(
        run_id=run.run_id,
        name=run.name,
        status=run.status,
        trigger=run.trigger,
        # The origin the planner settled on (as asked, else the end of the tenant's data).
        params={**run.params, **({"as_of": run.as_of} if run.as_of else {})},
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        progress=RunProgress(skus_total=run.skus_total, skus_done=run.skus_done, skus_failed=run.skus_failed),
        summary=run.summary,
        error=run.error,
        scenario=run.params.get("scenario"),
        base_run_id=(run.params.get("scenario") or {}).get("base_run_id"),
        models_from=run.params.get("models_from"),
    )


def load_run(settings: Settings, client_id: str, run_id: str) -> RunRecord:
    run = repo.get_run(settings.table_name, client_id, run_id) if ids.is_id(run_id, "run") else None
    if run is None:
        raise NotFound("No such run.")
    return run


def get_run(settings: Settings, client_id: str, run_id: str) -> Run:
    return to_run(load_run(settings, client_id, run_id))


def list_runs(settings: Settings, client_id: str, limit: int, cursor: str | None, status: str | None) -> RunList:
    """`status` one of RunStatus's values (the route validates it)."""
    after = decode_after(cursor, "runs", lambda v: ids.is_id(v, "run"))
    items, last = repo.page_runs(settings.table_name, client_id, limit, after, RunStatus(status) if status else None)
    return RunList(items=[to_run(i) for i in items], next_cursor=encode_after("runs", last))


def cancel_run(settings: Settings, client_id: str, run_id: str) -> Run:
    run = load_run(settings, client_id, run_id)
    cancelled = repo.transition(
        settings.table_name,
        client_id,
        run_id,
        to=RunStatus.CANCELLED,
        allowed_from=repo.ACTIVE,
        set_fields={"finished_at": clock.now_iso()},
        release_active=True,
    )
    if not cancelled:
        # The run left the active states between our read and the transition (it completed or
        # failed meanwhile): answer the status it has now, not the one read before.
        status = load_run(settings, client_id, run_id).status if run.active else run.status
        raise Conflict(f"The run has already finished ({status}).")
    return get_run(settings, client_id, run_id)


# ---------------------------------------------------------------- results
def with_final(point: dict[str, Any], final: float | None) -> dict[str, Any]:
    """A forecast point as served: its statistical `mean`, then `final`, then the rest."""
    head: dict[str, Any] = {k: point[k] for k in ("date", "mean") if k in point}
    return {**head, "final": final, **{k: v for k, v in point.items() if k not in head}}


def to_result(run_id: str, stored: StoredResult) -> SkuResult:
    item = stored.document
    forecast = [with_final(p, f) for p, f in zip(stored.forecast, stored.finals(), strict=False)]
    return SkuResult(
        sku=item["sku"],
        demand_class=item.get("demand_class"),
        method=item.get("method"),
        forecast=forecast,
        metrics=item.get("metrics", {}),
        candidates=item.get("candidates", {}),
        reason=item.get("reason"),
        error=item.get("error"),
        adjustments=stored.version + len(stored.carried),
        history_cleaned=item.get("history_cleaned"),
        etag=etag(run_id, stored.sku, stored.version),
        # Results written before drivers existed used none.
        drivers_used=item.get("drivers_used") or [],
        effects=item.get("effects") or [],
        warnings=item.get("warnings") or [],
        analog=item.get("analog"),
        base_forecast=item.get("base_forecast"),
    )


def _results_position(state: dict[str, Any], run_id: str) -> bool:
    """A results cursor holds its run, a shard and the last SKU seen in it (None: from its start)."""
    shard, after = state.get("shard"), state.get("after")
    return (
        set(state) == {"run", "shard", "after"}
        and state["run"] == run_id
        and isinstance(shard, int)
        and not isinstance(shard, bool)
        and shard >= 0
        and (after is None or isinstance(after, str))
    )


def list_results(
    settings: Settings, client_id: str, run_id: str, limit: int, cursor: str | None, demand_class: str | None
) -> ResultList:
    shards = load_run(settings, client_id, run_id).result_shards
    state = decode_cursor(cursor, "results", lambda s: _results_position(s, run_id)) or {"shard": 0, "after": None}
    items, position = repo.page_results(
        settings.table_name, client_id, run_id, shards, limit, (state["shard"], state["after"]), demand_class
    )
    next_cursor = (
        encode_cursor("results", {"run": run_id, "shard": position[0], "after": position[1]}) if position else None
    )
    return ResultList(items=[to_result(run_id, i) for i in items], next_cursor=next_cursor)


def load_result(
    settings: Settings, client_id: str, run_id: str, sku: str, run: RunRecord | None = None
) -> tuple[RunRecord, StoredResult]:
    """The run (`run` when the caller read it already) and one SKU's result in it; 404 if either is missing."""
    run = run or load_run(settings, client_id, run_id)
    shards = run.result_shards
    stored = repo.get_result(settings.table_name, client_id, run_id, shards, sku) if shards else None
    if stored is None:
        raise NotFound("No result for this SKU in this run.")
    return run, stored


def get_result(settings: Settings, client_id: str, run_id: str, sku: str) -> SkuResult:
    return to_result(run_id, load_result(settings, client_id, run_id, sku)[1])
