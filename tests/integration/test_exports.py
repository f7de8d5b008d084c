"""Run exports in-process: one object per (run, format), reused; big runs written by ExportFunction."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from skucast.errors import ExportPreparing
from skucast.repositories import objects
from skucast.repositories import runs as runs_repo
from skucast.repositories.keys import export_key
from skucast.services import exports
from skucast.settings import get_settings
from skucast_local.emulator import REGION, Provisioned
from tests.conftest import response_header
from tests.integration.pipeline import Pipeline, demand_mix, start_run

F = "/api/v1/forecast"


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every pass over a run's results (the real reader, counted)."""
    seen: list[str] = []
    real = runs_repo.iter_results

    def counted(table: str, client_id: str, run_id: str, shards: int) -> Iterator[dict[str, Any]]:
        seen.append(run_id)
        return real(table, client_id, run_id, shards)

    monkeypatch.setattr(exports.repo, "iter_results", counted)
    return seen


def _sync_max(monkeypatch: pytest.MonkeyPatch, skus: int) -> None:
    monkeypatch.setenv("SKUCAST_EXPORT_SYNC_MAX_SKUS", str(skus))
    get_settings.cache_clear()


def _finished_run(pipe: Pipeline, client: str, n: int) -> str:
    series = demand_mix(n)
    series["=HYPERLINK(1)"] = series["SKU-0000"]  # must leave neutralised
    pipe.store(client, series)
    run_id = str(start_run(pipe, client)["run_id"])
    pipe.drain()
    return run_id


def _big_run(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, name: str, n: int = 3) -> tuple[str, str]:
    """A finished run of `n` SKUs (plus one) above a lowered sync limit: exported off the request path."""
    client = pipe.tenant(name)
    run_id = _finished_run(pipe, client, n)
    _sync_max(monkeypatch, n - 2)
    return client, run_id


def _export(pipe: Pipeline, client: str, run_id: str, fmt: str) -> tuple[int, Any, dict[str, Any]]:
    return pipe.api("POST", f"{F}/runs/{run_id}/export", client, role="viewer", body={"format": fmt})


def _download(pipe: Pipeline, client: str, run_id: str, fmt: str, url: str) -> bytes:
    bucket, key = pipe.p.resources["DataBucket"].ref, export_key(client, run_id, fmt)
    assert key in url  # the link presigns the run's one object of this format
    return bytes(boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read())


def _objects(pipe: Pipeline, client: str) -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=pipe.p.resources["DataBucket"].ref, Prefix=f"exports/{client}/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


def _previous_exports(pipe: Pipeline, client: str, run_id: str) -> tuple[str, pa.Table]:
    """What export wrote before streaming: every row built in memory, one table, one DictWriter."""
    run = runs_repo.get_run(pipe.table, client, run_id)
    assert run is not None
    levels = list(run.params["levels"])
    columns = exports.export_columns(levels)
    items = list(runs_repo.iter_results(pipe.table, client, run_id, run.result_shards))
    rows = [row for item in items for row in exports.export_rows(item, levels)]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue(), exports.parquet_table(rows, exports.parquet_schema(columns))


def test_given_a_small_run_when_exported_then_200_and_the_same_csv_and_parquet_as_before(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "PARQUET_CHUNK_SKUS", 4)  # several row groups from 9 SKUs
    client = pipe.tenant("cli_small")
    run_id = _finished_run(pipe, client, 8)
    before_csv, before_parquet = _previous_exports(pipe, client, run_id)

    status, link, _ = _export(pipe, client, run_id, "csv")
    assert status == 200 and link["expires_in"] > 0, link
    assert _download(pipe, client, run_id, "csv", link["url"]).decode() == before_csv

    status, link, _ = _export(pipe, client, run_id, "parquet")
    assert status == 200, link
    written = pq.ParquetFile(io.BytesIO(_download(pipe, client, run_id, "parquet", link["url"])))
    assert written.metadata.num_row_groups == 3
    table = written.read()
    assert table.schema == before_parquet.schema
    assert table.equals(before_parquet)
    assert table.num_rows == 9 * 14 and "'=HYPERLINK(1)" in table.column("sku").to_pylist()
    assert table.schema.field("date").type == pa.date32()  # a typed date, not text
    dates = [d for d in table.column("date").to_pylist() if d is not None]
    assert dates and all(isinstance(d, dt.date) for d in dates)


def test_given_an_exported_run_when_asked_again_then_the_object_is_reused_without_reading_results(
    pipe: Pipeline, reads: list[str]
) -> None:
    client = pipe.tenant("cli_again")
    run_id = _finished_run(pipe, client, 3)
    first = _export(pipe, client, run_id, "csv")
    second = _export(pipe, client, run_id, "csv")
    assert first[0] == second[0] == 200
    assert _objects(pipe, client) == [export_key(client, run_id, "csv")]
    assert reads == [run_id]  # the second answer only presigned the object
    assert _export(pipe, client, run_id, "parquet")[0] == 200
    assert len(_objects(pipe, client)) == 2 and len(reads) == 2  # one object per format


def test_given_a_run_above_the_sync_limit_when_exported_then_409_until_the_export_function_wrote_it(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    from forecast_worker.exports import handler

    client, run_id = _big_run(pipe, monkeypatch, "cli_big", 5)

    status, problem, response = _export(pipe, client, run_id, "csv")
    assert status == 409, problem
    assert problem["type"].endswith("/export-preparing") and problem["title"] == "Export Being Prepared"
    assert int(response_header(response, "Retry-After") or 0) >= 1
    assert response_header(response, "Content-Type") == "application/problem+json"
    assert reads == [] and _objects(pipe, client) == []  # nothing read on the request path

    status, _, _ = _export(pipe, client, run_id, "csv")
    assert status == 409  # still preparing: no second job
    messages = pipe.receive("ExportQueue")
    assert len(messages) == 1
    assert pipe.deliver("ExportQueue", handler, messages) == set()

    status, link, _ = _export(pipe, client, run_id, "csv")
    assert status == 200, link
    rows = list(csv.DictReader(io.StringIO(_download(pipe, client, run_id, "csv", link["url"]).decode())))
    assert {r["sku"] for r in rows} == {*demand_mix(5), "'=HYPERLINK(1)"}
    assert len(rows) == 6 * 14 and reads == [run_id]
    assert pipe.receive("ExportQueue") == []


def test_given_two_concurrent_requests_for_a_big_export_then_one_job_is_queued(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, run_id = _big_run(pipe, monkeypatch, "cli_race")
    settings = get_settings()
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = []

    def ask() -> None:
        barrier.wait()
        try:
            exports.export_run(settings, client, run_id, "parquet")
            outcomes.append(None)
        except BaseException as exc:  # collected and asserted below
            outcomes.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and all(isinstance(o, ExportPreparing) for o in outcomes), outcomes
    assert len(pipe.receive("ExportQueue")) == 1


def test_given_a_failed_export_job_then_the_next_request_starts_another_and_it_succeeds(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast_worker.exports import handler

    client, run_id = _big_run(pipe, monkeypatch, "cli_fail")
    assert _export(pipe, client, run_id, "csv")[0] == 409
    real_put = objects.put_file

    def storage_down(*args: Any) -> None:
        raise OSError("storage unavailable")  # fault injection: the upload fails

    monkeypatch.setattr(objects, "put_file", storage_down)
    failed = pipe.receive("ExportQueue")
    with pytest.raises(BatchProcessingError):  # every record failed: the invocation fails, SQS retries
        pipe.deliver("ExportQueue", handler, failed)

    status, problem, _ = _export(pipe, client, run_id, "csv")
    assert status == 409 and "last attempt failed" in problem["detail"], problem
    assert "storage unavailable" not in problem["detail"]  # no internals in a problem document
    queued = pipe.receive("ExportQueue")
    assert len(queued) == 2  # the retry of the failed job and the new one

    monkeypatch.setattr(objects, "put_file", real_put)
    assert pipe.deliver("ExportQueue", handler, queued) == set()
    status, link, _ = _export(pipe, client, run_id, "csv")
    assert status == 200, link
    assert _objects(pipe, client) == [export_key(client, run_id, "csv")]


def test_given_another_tenants_big_run_then_404_and_no_job(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    a, run_id = _big_run(pipe, monkeypatch, "cli_owner")
    b = pipe.tenant("cli_other")
    status, problem, _ = _export(pipe, b, run_id, "csv")
    assert status == 404, problem
    assert pipe.receive("ExportQueue") == [] and _objects(pipe, b) == [] and _objects(pipe, a) == []
