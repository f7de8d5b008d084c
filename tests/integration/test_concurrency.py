"""At-least-once delivery, concurrently: the same message handled by two invocations at the same
time (SQS may hand a message to a second consumer while the first still works on it). In-process
against moto, with a barrier so both invocations have read the batch as PENDING before either
settles it: the race is forced on every run, not left to timing. Final state must be exact.

moto applies each API call without a lock; DynamoDB applies each call (a transaction included)
atomically. `atomic_calls` serialises moto's request processing, so calls interleave as they
would on DynamoDB, and only the product's own conditions stand between the two invocations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import numpy as np
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from skucast.repositories.keys import run_slots_sk, tenant_pk
from skucast.services import batches
from skucast_local.emulator import REGION, Provisioned
from skucast_local.pumps import sqs_record
from tests.integration.pipeline import Pipeline

RUN = {"horizon": 7, "frequency": "D", "levels": [80], "backtest_windows": 0, "method": "naive"}


@pytest.fixture
def atomic_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any, atomic_calls: None) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


@pytest.fixture
def rendezvous(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """`arm(n)`: the next n batch computations wait for each other before going on, so n
    deliveries of one batch all pass the PENDING check before any of them settles."""
    original = batches.forecast_skus
    lock = threading.Lock()
    armed: list[threading.Barrier] = []
    waiting = [0]

    def forecast_skus(*args: Any, **kwargs: Any) -> Any:
        with lock:
            barrier = armed[0] if armed and waiting[0] > 0 else None
            waiting[0] -= 1
        if barrier is not None:
            barrier.wait(timeout=30)
        return original(*args, **kwargs)

    def arm(parties: int) -> None:
        armed[:], waiting[0] = [threading.Barrier(parties)], parties

    monkeypatch.setattr(batches, "forecast_skus", forecast_skus)
    yield arm


def _series(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"C-{i:03d}": rng.poisson(5, 60).astype(float) for i in range(n)}


def _counters(pipe: Pipeline, client: str) -> dict[str, int]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipe.table)
    item = table.get_item(Key={"pk": tenant_pk(client), "sk": run_slots_sk()}, ConsistentRead=True).get("Item")
    return {k: int(item.get(k, 0)) for k in ("active_runs", "batches_in_flight")} if item else {}


def _start(pipe: Pipeline, client: str, n: int) -> str:
    pipe.store(client, _series(n))
    status, run, _ = pipe.api("POST", "/api/v1/forecast/runs", client, body=RUN)
    assert status == 202, run
    return str(run["run_id"])


def _plan(pipe: Pipeline) -> None:
    from forecast_worker.planner import handler as planner

    pipe.deliver("PlanQueue", planner, pipe.receive("PlanQueue", 1))


def _at_once(pipe: Pipeline, logical: str, handlers: list[Callable[..., Any]], message: dict[str, Any]) -> None:
    """Each handler gets `message` as its own one-record batch, all at the same time; the message
    is deleted once afterwards (as the last consumer's delete would)."""
    arn = pipe.p.resources[logical].attrs["Arn"]

    def invoke(handler: Callable[..., Any]) -> Any:
        return handler({"Records": [sqs_record(message, arn)]}, pipe.context)

    with ThreadPoolExecutor(max_workers=len(handlers)) as pool:
        answers = list(pool.map(invoke, handlers))
    assert all(not a.get("batchItemFailures") for a in answers), answers
    pipe.sqs.delete_message(QueueUrl=pipe.queue(logical), ReceiptHandle=message["ReceiptHandle"])


def _run(pipe: Pipeline, client: str, run_id: str) -> dict[str, Any]:
    status, run, _ = pipe.api("GET", f"/api/v1/forecast/runs/{run_id}", client, role="viewer")
    assert status == 200, run
    return dict(run)


def _result_skus(pipe: Pipeline, client: str, run_id: str) -> list[str]:
    status, page, _ = pipe.api(
        "GET", f"/api/v1/forecast/runs/{run_id}/results", client, role="viewer", query={"limit": "1000"}
    )
    assert status == 200 and page["next_cursor"] is None, page
    return sorted(r["sku"] for r in page["items"])


def _assert_every_sku_once(pipe: Pipeline, client: str, run_id: str, n: int) -> None:
    """The run succeeded with each of its n SKUs forecast once, and its slots are all released."""
    done = _run(pipe, client, run_id)
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == {"skus_total": n, "skus_done": n, "skus_failed": 0}
    assert _result_skus(pipe, client, run_id) == sorted(_series(n))
    assert _counters(pipe, client) == {"active_runs": 0, "batches_in_flight": 0}


def test_given_one_batch_delivered_twice_at_the_same_time_then_it_counts_once(
    pipe: Pipeline, rendezvous: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast_worker.app import handler as worker

    settles: list[bool] = []
    original = batches.repo.settle_batch

    def settle_batch(*args: Any, **kwargs: Any) -> bool:
        settles.append(original(*args, **kwargs))
        return settles[-1]

    monkeypatch.setattr(batches.repo, "settle_batch", settle_batch)
    client = pipe.tenant("cli_conc_dup")
    n = batches.BATCH_SIZE + 5  # two batches
    run_id = _start(pipe, client, n)
    _plan(pipe)
    rendezvous(2)
    first = pipe.receive("ForecastQueue", 1)[0]
    _at_once(pipe, "ForecastQueue", [worker, worker], first)
    pipe.drain()
    _assert_every_sku_once(pipe, client, run_id, n)
    assert sorted(settles)[:2] == [False, True], "both deliveries raced to settle; exactly one won"


def test_given_a_plan_delivered_twice_at_the_same_time_then_one_set_of_batches(pipe: Pipeline) -> None:
    from forecast_worker.planner import handler as planner

    client = pipe.tenant("cli_conc_plan")
    n = 2 * batches.BATCH_SIZE + 1
    run_id = _start(pipe, client, n)
    plan = pipe.receive("PlanQueue", 1)[0]
    _at_once(pipe, "PlanQueue", [planner, planner], plan)
    sent = pipe.receive("ForecastQueue", 10)
    assert sorted(m["Body"] for m in sent) == sorted({m["Body"] for m in sent}), "no batch sent twice"
    pipe.drain()
    _assert_every_sku_once(pipe, client, run_id, n)


def test_given_a_batch_redriven_while_its_first_delivery_still_works_then_one_outcome(
    pipe: Pipeline,
) -> None:
    """The worker and the dead-letter handler settle the same batch at once: it ends either
    forecast or failed, never both, and the run's counts add up to its SKUs."""
    from forecast_worker.app import handler as worker
    from forecast_worker.dead_letters import handler as dead_letters

    client = pipe.tenant("cli_conc_dlq")
    n = batches.BATCH_SIZE
    run_id = _start(pipe, client, n)
    _plan(pipe)
    message = pipe.receive("ForecastQueue", 1)[0]
    _at_once(pipe, "ForecastQueue", [worker, dead_letters], message)
    pipe.drain()
    done = _run(pipe, client, run_id)
    progress = done["progress"]
    assert progress["skus_total"] == n and progress["skus_done"] + progress["skus_failed"] == n, done
    assert progress in (
        {"skus_total": n, "skus_done": n, "skus_failed": 0},
        {"skus_total": n, "skus_done": 0, "skus_failed": n},
    )
    assert done["status"] == ("SUCCEEDED" if progress["skus_done"] else "PARTIAL")
    assert len(_result_skus(pipe, client, run_id)) == n
    assert _counters(pipe, client) == {"active_runs": 0, "batches_in_flight": 0}


def _planned_run(pipe: Pipeline, tenant: str, n: int) -> tuple[str, str]:
    """A new tenant's run of n SKUs, planned (its batches queued, none forecast yet)."""
    client = pipe.tenant(tenant)
    run_id = _start(pipe, client, n)
    _plan(pipe)
    return client, run_id


def test_given_a_cancel_while_a_batch_settles_then_the_run_stays_cancelled_and_slots_return(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, run_id = _planned_run(pipe, "cli_conc_cancel", 3 * batches.BATCH_SIZE)
    cancelled = threading.Event()
    original = batches.forecast_skus

    def forecast_then_cancel(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if not cancelled.is_set():  # the cancel lands between the computation and the settle
            status, body, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run_id}/cancel", client, "analyst")
            assert status == 202, body
            cancelled.set()
        return out

    monkeypatch.setattr(batches, "forecast_skus", forecast_then_cancel)
    pipe.drain()
    done = _run(pipe, client, run_id)
    assert done["status"] == "CANCELLED" and done["progress"]["skus_done"] == 0, done
    assert _counters(pipe, client) == {"active_runs": 0, "batches_in_flight": 0}
    # The batch computing across the cancel wrote nothing: results are what progress counts.
    assert _result_skus(pipe, client, run_id) == []
    # The finished run never changes again, whatever is delivered late.
    pipe.drain(duplicate=True)
    assert _run(pipe, client, run_id) == done
    assert _result_skus(pipe, client, run_id) == []


def test_given_a_batch_computing_across_a_cancel_then_its_results_are_never_written_or_served(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, run_id = _planned_run(pipe, "cli_conc_cancel_late", 3 * batches.BATCH_SIZE)
    calls = [0]
    original = batches.forecast_skus
    at_cancel: dict[str, Any] = {}

    def cancel_during_the_second_batch(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 2:  # the first batch settled; the second is computed when the cancel lands
            status, body, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run_id}/cancel", client, "analyst")
            assert status == 202, body
            at_cancel.update(run=_run(pipe, client, run_id), skus=_result_skus(pipe, client, run_id))
        return out

    monkeypatch.setattr(batches, "forecast_skus", cancel_during_the_second_batch)
    pipe.drain()
    done = _run(pipe, client, run_id)
    assert done == at_cancel["run"] and done["status"] == "CANCELLED"
    assert done["progress"]["skus_done"] + done["progress"]["skus_failed"] == batches.BATCH_SIZE
    assert _result_skus(pipe, client, run_id) == at_cancel["skus"] and len(at_cancel["skus"]) == batches.BATCH_SIZE


def test_given_a_cancel_racing_the_runs_completion_then_409_names_the_status_it_finished_with(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pipe.tenant("cli_conc_cancel_race")
    run_id = _start(pipe, client, 3)
    _plan(pipe)
    original = batches.repo.transition

    def complete_first(*args: Any, **kwargs: Any) -> bool:
        if kwargs.get("to") == "CANCELLED":  # the cancel read RUNNING; the last batch settles now
            pipe.drain()
        return bool(original(*args, **kwargs))

    monkeypatch.setattr(batches.repo, "transition", complete_first)
    status, problem, _ = pipe.api("POST", f"/api/v1/forecast/runs/{run_id}/cancel", client, "analyst")
    finished = _run(pipe, client, run_id)["status"]
    assert finished in ("SUCCEEDED", "PARTIAL")
    assert status == 409 and problem["detail"] == f"The run has already finished ({finished}).", problem
