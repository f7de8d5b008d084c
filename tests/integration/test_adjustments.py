"""Planner adjustments in-process (real handlers, moto): the conditional write on a result's
version, the audit trail, the problems the API answers, carry-over of sticky adjustments into the
runs planned after them, and exports of `mean` beside `final` keyed by the run's revision."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from typing import Any
from urllib.parse import quote

import boto3
import numpy as np
import pytest

from skucast import clock
from skucast.records import AdjustmentRecord
from skucast.repositories import adjustments as adj_repo
from skucast.repositories import dynamo
from skucast.repositories import runs as runs_repo
from skucast.repositories.keys import adjustment_sk, adjustments_pk, export_key
from skucast.schemas.forecast import AdjustmentRequest
from skucast.services import adjustments
from skucast.settings import get_settings
from skucast_local.emulator import REGION, Provisioned
from tests.conftest import response_header
from tests.integration.pipeline import Pipeline, start_run

F = "/api/v1/forecast"
RUN = {"horizon": 7, "frequency": "D", "levels": [80], "backtest_windows": 0, "method": "naive"}
START = dt.date(2024, 1, 1)
DAYS = 60  # history 2024-01-01 .. 2024-02-29: the naive forecast starts on 2024-03-01
FIRST = [f"2024-03-0{d}" for d in range(1, 8)]


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _tenant(pipe: Pipeline, name: str) -> str:
    client = pipe.tenant(name)
    pipe.store(client, {"A": np.full(DAYS, 10.0), "B#1": np.full(DAYS, 4.0), "Z": np.full(DAYS, 0.0)}, START)
    return client


def _run(pipe: Pipeline, client: str, **changes: Any) -> str:
    run_id = str(start_run(pipe, client, {**RUN, **changes})["run_id"])
    pipe.drain()
    return run_id


def _path(run_id: str, sku: str, tail: str = "") -> str:
    return f"{F}/runs/{run_id}/results/{quote(sku, safe='')}{tail}"


def _read(pipe: Pipeline, client: str, run_id: str, sku: str) -> tuple[dict[str, Any], str]:
    status, result, response = pipe.api("GET", _path(run_id, sku), client, role="viewer")
    assert status == 200, result
    tag = response_header(response, "ETag")
    assert tag and tag == result["etag"]
    return result, tag


def _adjust(
    pipe: Pipeline, client: str, run_id: str, sku: str, body: dict[str, Any], tag: str | None, role: str = "analyst"
) -> tuple[int, Any, dict[str, Any]]:
    headers = {"If-Match": tag} if tag is not None else {}
    return pipe.api("POST", _path(run_id, sku, "/adjustments"), client, role=role, body=body, headers=headers)


def _listed(pipe: Pipeline, client: str, run_id: str, sku: str, limit: str = "100") -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        status, page, _ = pipe.api("GET", _path(run_id, sku, "/adjustments"), client, role="viewer", query=query)
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


# ---------------------------------------------------------------- the API
def test_given_a_finished_run_when_adjusted_with_its_etag_then_final_changes_over_the_range_and_mean_never(
    pipe: Pipeline,
) -> None:
    client = _tenant(pipe, "cli_adj")
    run_id = _run(pipe, client)
    before, tag = _read(pipe, client, run_id, "A")
    assert [p["date"] for p in before["forecast"]] == FIRST
    assert all(p["mean"] == p["final"] == 10.0 for p in before["forecast"]) and before["adjustments"] == 0

    steps = [
        ({"start": FIRST[1], "end": FIRST[3], "add": 2.5, "reason": "promotion"}, [10, 12.5, 12.5, 12.5, 10, 10, 10]),
        ({"start": FIRST[3], "end": FIRST[4], "multiply": 2, "reason": "event"}, [10, 12.5, 12.5, 25, 20, 10, 10]),
        ({"start": FIRST[0], "end": FIRST[0], "set": 0, "reason": "supply"}, [0, 12.5, 12.5, 25, 20, 10, 10]),
        ({"start": FIRST[4], "end": FIRST[6], "add": -15, "reason": "correction", "comment": "shortage"},
         [0, 12.5, 12.5, 25, 5, 0, 0]),
    ]  # fmt: skip
    tags = {tag}
    for body, expected in steps:
        status, result, response = _adjust(pipe, client, run_id, "A", body, tag)
        assert status == 201, result
        tag = str(response_header(response, "ETag"))
        assert tag == result["etag"] and tag not in tags
        tags.add(tag)
        assert [p["final"] for p in result["forecast"]] == expected
        assert [p["mean"] for p in result["forecast"]] == [10.0] * 7
        assert _read(pipe, client, run_id, "A")[0] == result  # what GET answers now
    assert result["adjustments"] == 4

    listed = _listed(pipe, client, run_id, "A", limit="3")  # two pages
    assert [(a["reason"], a["by"], a["by_kind"], a["carried_from"]) for a in listed] == [
        (s[0]["reason"], "usr_test", "user", None) for s in steps
    ]
    assert [(a["set"], a["add"], a["multiply"]) for a in listed] == [(None, 2.5, None), (None, None, 2.0),
                                                                   (0.0, None, None), (None, -15.0, None)]  # fmt: skip
    assert listed[1]["changes"] == [
        {"date": FIRST[3], "before": 12.5, "after": 25.0},
        {"date": FIRST[4], "before": 10.0, "after": 20.0},
    ]
    assert listed[3]["comment"] == "shortage" and listed[3]["sticky"] is False
    # The other SKUs, and the results list, tell the same story.
    items = {r["sku"]: r for r in pipe.api("GET", f"{F}/runs/{run_id}/results", client, role="viewer")[1]["items"]}
    assert [p["final"] for p in items["A"]["forecast"]] == steps[-1][1] and items["A"]["etag"] == tag
    assert all(p["final"] == p["mean"] == 4.0 for p in items["B#1"]["forecast"]) and items["B#1"]["adjustments"] == 0


def test_given_bad_requests_then_the_problem_names_the_issue(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_bad")
    run_id = _run(pipe, client)
    _, tag = _read(pipe, client, run_id, "A")
    ok = {"start": FIRST[0], "end": FIRST[1], "add": 1, "reason": "other"}

    status, problem, _ = _adjust(pipe, client, run_id, "A", ok, None)
    assert status == 428 and problem["type"].endswith("/precondition-required"), problem
    assert _adjust(pipe, client, run_id, "A", ok, "*")[0] == 428
    for stale in ('"0.0000000000000000"', f"W/{tag}", adjustments.rules.etag(run_id, "B#1", 0)):
        status, problem, _ = _adjust(pipe, client, run_id, "A", ok, stale)
        assert status == 412 and problem["type"].endswith("/precondition-failed"), (stale, problem)
    assert _adjust(pipe, client, run_id, "A", ok, tag, role="viewer")[0] == 403
    assert _adjust(pipe, client, run_id, "NOPE", ok, tag)[0] == 404
    assert _adjust(pipe, pipe.tenant("cli_other"), run_id, "A", ok, tag)[0] == 404

    cases = [
        ({**ok, "start": "2024-02-29"}, [("start", "outside_forecast")]),
        ({**ok, "end": "2024-03-08"}, [("end", "outside_forecast")]),
        ({**ok, "start": FIRST[2], "end": FIRST[1]}, [("end", "end_before_start")]),
        ({"start": FIRST[0], "end": FIRST[1], "reason": "other"}, [("set", "one_operation")]),
        ({**ok, "set": 3}, [("add", "one_operation")]),
        ({**ok, "expires": "2030-01-01"}, [("expires", "not_sticky")]),
        ({**ok, "sticky": True, "expires": "2020-01-01"}, [("expires", "in_past")]),
        ({**ok, "add": None, "set": 1e15, "end": FIRST[0]}, []),  # the largest quantity: fine
    ]
    for body, expected in cases:
        status, problem, _ = _adjust(pipe, client, run_id, "B#1", body, _read(pipe, client, run_id, "B#1")[1])
        if not expected:
            assert status == 201, problem
            continue
        assert status == 422, (body, problem)
        assert [(e["field"], e["code"]) for e in problem["errors"]] == expected, problem
    _, tag = _read(pipe, client, run_id, "B#1")
    huge = {**ok, "start": FIRST[0], "end": FIRST[0], "add": 1e15}
    status, problem, _ = _adjust(pipe, client, run_id, "B#1", huge, tag)
    assert status == 422 and problem["errors"][0]["code"] == "out_of_range", problem
    _, tag = _read(pipe, client, run_id, "A")
    for body in ({**ok, "multiply": 1.5}, {**ok, "reason": "whim"}, {**ok, "comment": "x" * 1001},
                 {**ok, "add": -1e16}, {**ok, "client_id": "cli_other"}):  # fmt: skip
        assert _adjust(pipe, client, run_id, "A", body, tag)[0] == 422, body
    assert _read(pipe, client, run_id, "A")[0]["adjustments"] == 0  # nothing refused left a trace


def test_given_a_weekly_run_then_only_the_first_days_of_its_weeks_are_accepted(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_weekly")
    run_id = _run(pipe, client, frequency="W", horizon=3)
    result, tag = _read(pipe, client, run_id, "A")
    weeks = [p["date"] for p in result["forecast"]]
    assert len(weeks) == 3 and len({dt.date.fromisoformat(w).weekday() for w in weeks}) == 1
    tuesday = (dt.date.fromisoformat(weeks[1]) + dt.timedelta(days=1)).isoformat()
    body = {"start": weeks[0], "end": tuesday, "multiply": 2, "reason": "event"}
    status, problem, _ = _adjust(pipe, client, run_id, "A", body, tag)
    assert status == 422 and problem["errors"][0]["code"] == "not_a_period_start", problem
    assert weeks[1] in problem["errors"][0]["message"] and weeks[2] in problem["errors"][0]["message"]
    status, adjusted, _ = _adjust(pipe, client, run_id, "A", {**body, "end": weeks[1]}, tag)
    assert status == 201, adjusted
    means = [p["mean"] for p in adjusted["forecast"]]
    assert [p["final"] for p in adjusted["forecast"]] == [means[0] * 2, means[1] * 2, means[2]]


def test_given_a_run_not_finished_or_a_result_without_forecast_then_409(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_409")
    run_id = _run(pipe, client, skus=["A", "GHOST"])
    _, tag = _read(pipe, client, run_id, "GHOST")  # unknown SKU: an error result, no forecast
    body = {"start": FIRST[0], "end": FIRST[0], "add": 1, "reason": "other"}
    status, problem, _ = _adjust(pipe, client, run_id, "GHOST", body, tag)
    assert status == 409 and "unknown_sku" in problem["detail"], problem
    queued = str(start_run(pipe, client, RUN)["run_id"])  # not planned yet: QUEUED, no results
    status, problem, _ = _adjust(pipe, client, queued, "A", body, tag)
    assert status == 409 and "QUEUED" in problem["detail"], problem
    runs_repo.transition(pipe.table, client, queued, to=runs_repo.RunStatus.RUNNING, allowed_from=runs_repo.ACTIVE,
                         set_fields={"result_shards": 1})  # fmt: skip
    runs_repo.put_results(pipe.table, client, queued, 1, [{"sku": "A", "forecast": [{"date": FIRST[0], "mean": 1.0}]}])
    status, problem, _ = _adjust(pipe, client, queued, "A", body, adjustments.rules.etag(queued, "A", 0))
    assert status == 409 and "RUNNING" in problem["detail"], problem


# ---------------------------------------------------------------- the conditional write
def test_given_two_analysts_with_the_same_etag_at_the_same_time_then_exactly_one_is_saved(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _tenant(pipe, "cli_race")
    run_id = _run(pipe, client)
    _, tag = _read(pipe, client, run_id, "A")
    both_read = threading.Barrier(2)
    real = adj_repo.add_adjustment

    def write_after_both_read(*args: Any, **kwargs: Any) -> None:
        both_read.wait(timeout=30)  # each passed the If-Match check with the same version
        real(*args, **kwargs)

    monkeypatch.setattr(adjustments.repo, "add_adjustment", write_after_both_read)
    outcomes: list[Any] = []

    def analyst(value: float) -> None:
        body = {"start": FIRST[0], "end": FIRST[6], "set": value, "reason": "other"}
        request = AdjustmentRequest.model_validate(body)
        try:
            outcomes.append(adjustments.adjust(get_settings(), client, run_id, "A", request, tag, by=f"usr_{value:g}",
                                               by_kind="user"))  # fmt: skip
        except Exception as exc:  # collected and asserted below
            outcomes.append(exc)

    threads = [threading.Thread(target=analyst, args=(v,)) for v in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert type(lost[0]).__name__ == "PreconditionFailed"
    result, _ = _read(pipe, client, run_id, "A")
    assert result == won[0].model_dump() and result["adjustments"] == 1
    [made] = _listed(pipe, client, run_id, "A")
    assert made["by"] == f"usr_{won[0].forecast[0]['final']:g}"
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None and run.adjustments_made == 1


def _record(version: int, sticky: bool = False) -> AdjustmentRecord:
    return AdjustmentRecord(
        adjustment_id=f"adj_{version:020x}", by="usr_1", by_kind="user", at=clock.now_iso(), start=FIRST[0],
        end=FIRST[0], operation="add", value=1.0, reason="other", sticky=sticky,
    )  # fmt: skip


def test_given_a_stale_version_or_a_step_that_fails_then_the_transaction_writes_nothing(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_atomic")
    run_id = _run(pipe, client)
    shards = 1
    final = [11.0] + [10.0] * 6
    adj_repo.add_adjustment(pipe.table, client, run_id, shards, "A", version=0, final=final, record=_record(1))
    with pytest.raises(adj_repo.VersionMoved):  # someone wrote version 1 after this writer read version 0
        adj_repo.add_adjustment(pipe.table, client, run_id, shards, "A", version=0, final=[0.0] * 7, record=_record(9))
    with pytest.raises(adj_repo.VersionMoved):
        adj_repo.add_adjustment(pipe.table, client, run_id, shards, "A", version=5, final=[0.0] * 7, record=_record(9))

    # An audit item already at the next version (a stray write): the whole transaction is refused,
    # the result's own version check included.
    boto3.resource("dynamodb", region_name=REGION).Table(pipe.table).put_item(
        Item={"pk": adjustments_pk(client, run_id, "A"), "sk": adjustment_sk(2), "adjustment_id": "stray"}
    )
    with pytest.raises(adj_repo.VersionMoved):
        adj_repo.add_adjustment(
            pipe.table, client, run_id, shards, "A", version=1, final=[0.0] * 7, record=_record(2, sticky=True)
        )
    stored = runs_repo.get_result(pipe.table, client, run_id, shards, "A")
    assert stored is not None and stored.version == 1 and stored.final == tuple(final)
    assert [p["mean"] for p in stored.forecast] == [10.0] * 7
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None and run.adjustments_made == 1
    assert adj_repo.count_sticky(pipe.table, client, "2000-01-01") == 0
    # A result that does not exist cannot be adjusted into existence.
    with pytest.raises(adj_repo.VersionMoved):
        adj_repo.add_adjustment(pipe.table, client, run_id, shards, "NOPE", version=0, final=[1.0], record=_record(1))
    assert runs_repo.get_result(pipe.table, client, run_id, shards, "NOPE") is None


def test_given_concurrent_writes_on_one_run_then_conflicts_are_retried_and_each_sku_counts_once(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _tenant(pipe, "cli_conflict")
    run_id = _run(pipe, client)
    real = dynamo.transact
    conflicts = iter([True, True])

    def transact(table_name: str, actions: list[dict[str, Any]]) -> None:
        if next(conflicts, False):  # DynamoDB cancels a transaction racing another on the run item
            from botocore.exceptions import ClientError

            reasons = [{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict"}]
            error = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        real(table_name, actions)

    monkeypatch.setattr(dynamo, "transact", transact)
    monkeypatch.setattr(dynamo.time, "sleep", lambda seconds: None)
    adj_repo.add_adjustment(pipe.table, client, run_id, 1, "A", version=0, final=[1.0] * 7, record=_record(1))
    adj_repo.add_adjustment(pipe.table, client, run_id, 1, "B#1", version=0, final=[1.0] * 7, record=_record(1))
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None and run.adjustments_made == 2
    assert [len(adj_repo.list_adjustments(pipe.table, client, run_id, s)) for s in ("A", "B#1")] == [1, 1]


def test_given_a_write_whose_answer_was_lost_when_retried_then_it_is_its_own_success_not_a_412(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _tenant(pipe, "cli_lost")
    run_id = _run(pipe, client)
    real = dynamo.transact

    def applied_then_retried(table_name: str, actions: list[dict[str, Any]]) -> None:
        real(table_name, actions)  # it went in, but its answer never came back:
        real(table_name, actions)  # the retry finds the version moved - by itself

    monkeypatch.setattr(dynamo, "transact", applied_then_retried)
    adj_repo.add_adjustment(pipe.table, client, run_id, 1, "A", version=0, final=[1.0] * 7, record=_record(1))
    with pytest.raises(adj_repo.VersionMoved):  # another writer's version stays a 412
        adj_repo.add_adjustment(pipe.table, client, run_id, 1, "A", version=0, final=[2.0] * 7, record=_record(7))
    stored = runs_repo.get_result(pipe.table, client, run_id, 1, "A")
    assert stored is not None and stored.version == 1 and stored.final == (1.0,) * 7


# ---------------------------------------------------------------- carry-over
def test_given_a_sticky_adjustment_then_runs_planned_after_it_carry_it_marked_and_others_do_not(
    pipe: Pipeline,
) -> None:
    client = _tenant(pipe, "cli_sticky")
    first = _run(pipe, client)
    planned_before = str(start_run(pipe, client, RUN)["run_id"])
    plan = pipe.receive("PlanQueue", 1)
    from forecast_worker.planner import handler as planner

    pipe.deliver("PlanQueue", planner, plan)  # planned now: before the sticky adjustment exists

    _, tag = _read(pipe, client, first, "A")
    sticky = {"start": FIRST[2], "end": FIRST[3], "add": 5, "reason": "promotion", "sticky": True,
              "comment": "spring promo", "expires": (clock.today() + dt.timedelta(days=30)).isoformat()}  # fmt: skip
    status, made, _ = _adjust(pipe, client, first, "A", sticky, tag)
    assert status == 201, made
    _, tag_b = _read(pipe, client, first, "B#1")
    plain = {"start": FIRST[0], "end": FIRST[6], "multiply": 3, "reason": "other"}  # not sticky
    assert _adjust(pipe, client, first, "B#1", plain, tag_b)[0] == 201
    pipe.drain()  # the run planned before finishes

    later = _run(pipe, client)  # planned after the sticky adjustment was saved
    weekly = _run(pipe, client, frequency="W", horizon=2)  # another frequency: not carried

    carried, carried_tag = _read(pipe, client, later, "A")
    assert [p["final"] for p in carried["forecast"]] == [10, 10, 15, 15, 10, 10, 10]
    assert [p["mean"] for p in carried["forecast"]] == [10.0] * 7 and carried["adjustments"] == 1
    [entry] = _listed(pipe, client, later, "A")
    original = _listed(pipe, client, first, "A")[0]
    assert entry["carried_from"] == first and original["carried_from"] is None
    same = [k for k in original if k != "carried_from"]
    assert [entry[k] for k in same] == [original[k] for k in same] and set(entry) == set(original)
    assert entry["changes"] == [{"date": FIRST[2], "before": 10.0, "after": 15.0},
                                {"date": FIRST[3], "before": 10.0, "after": 15.0}]  # fmt: skip
    for run_id, sku in ((planned_before, "A"), (later, "B#1"), (weekly, "A")):
        result, _ = _read(pipe, client, run_id, sku)
        assert all(p["final"] == p["mean"] for p in result["forecast"]) and result["adjustments"] == 0, (run_id, sku)
        assert _listed(pipe, client, run_id, sku) == []

    # The later run's own adjustments apply on top of what it carried, and are listed after it.
    status, result, _ = _adjust(pipe, client, later, "A", {**plain, "multiply": 2}, carried_tag)
    assert status == 201 and [p["final"] for p in result["forecast"]] == [20, 20, 30, 30, 20, 20, 20]
    assert [a["carried_from"] for a in _listed(pipe, client, later, "A")] == [first, None]


def test_given_an_expired_or_later_sticky_adjustment_then_it_is_not_carried(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_expired")
    first = _run(pipe, client)
    today = clock.today().isoformat()
    # Registered directly with an expiry already past, as if saved weeks ago.
    old = AdjustmentRecord(
        adjustment_id="adj_000000000001aaaaaaaa", by="usr_1", by_kind="user", at="2024-01-01T00:00:00Z",
        start=FIRST[0], end=FIRST[6], operation="set", value=99.0, reason="other", sticky=True, expires="2024-01-31",
    )  # fmt: skip
    adj_repo.add_adjustment(pipe.table, client, first, 1, "Z", version=0, final=[99.0] * 7, record=old)
    assert adj_repo.count_sticky(pipe.table, client, today) == 0
    later = _run(pipe, client)
    result, _ = _read(pipe, client, later, "Z")
    assert all(p["final"] == p["mean"] == 0.0 for p in result["forecast"])


# ---------------------------------------------------------------- exports
def _export_rows(pipe: Pipeline, client: str, run_id: str) -> tuple[str, list[dict[str, str]]]:
    status, link, _ = pipe.api("POST", f"{F}/runs/{run_id}/export", client, role="viewer", body={"format": "csv"})
    assert status == 200, link
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None
    key = export_key(client, run_id, "csv", run.adjustments_made)
    assert key in link["url"]
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=pipe.p.resources["DataBucket"].ref, Key=key)
    return key, list(csv.DictReader(io.StringIO(body["Body"].read().decode())))


def test_given_adjustments_then_exports_carry_mean_and_final_of_the_runs_current_revision(pipe: Pipeline) -> None:
    client = _tenant(pipe, "cli_export")
    run_id = _run(pipe, client)
    key0, rows = _export_rows(pipe, client, run_id)
    assert list(rows[0])[:6] == ["sku", "demand_class", "method", "date", "mean", "final"]
    assert all(r["mean"] == r["final"] for r in rows)
    _, tag = _read(pipe, client, run_id, "A")
    body = {"start": FIRST[5], "end": FIRST[6], "set": 1.25, "reason": "customer_info"}
    assert _adjust(pipe, client, run_id, "A", body, tag)[0] == 201
    key1, rows = _export_rows(pipe, client, run_id)
    assert key1 != key0
    a = [r for r in rows if r["sku"] == "A"]
    assert [float(r["mean"]) for r in a] == [10.0] * 7
    assert [float(r["final"]) for r in a] == [10.0] * 5 + [1.25, 1.25]
    assert all(r["mean"] == r["final"] for r in rows if r["sku"] != "A")
    assert _export_rows(pipe, client, run_id)[0] == key1  # reused until the next adjustment
