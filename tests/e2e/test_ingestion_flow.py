"""Demand ingestion over the local stack: presigned POST to the emulated S3, the bucket's
notification to IngestFunction, the report over HTTP, the store behind it.

This module runs its own stack with a small upload limit (64 KiB), so that an oversize file is
cheap to send: the local S3 enforces the POST policy's content-length-range as S3 does, so the file
never reaches the ingester (which refuses an oversize object itself too: tests/integration).
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skucast.repositories.keys import series_pk, sku_sk
from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.e2e.routes import Tenant

F = "/api/v1/forecast"
MAX_UPLOAD = 64 * 1024
TERMINAL = {"SUCCEEDED", "PARTIAL", "REJECTED"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("ingest-stack"),
        SKUCAST_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        SKUCAST_LOCAL_WORKERS="1",
    )
    yield running
    stop_stack(running)


def _csv(rows: list[tuple[str, str, Any]]) -> bytes:
    return ("sku,date,quantity\n" + "".join(f"{s},{d},{q}\n" for s, d, q in rows)).encode()


def _days(n: int, first: str = "2024-01-01") -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


def _upload(tenant: Tenant, content: bytes, filename: str = "demand.csv", **options: str) -> dict[str, Any]:
    """POST /uploads (with any format `options`), send the file with the presigned form, wait for
    the report."""
    r = tenant.http.post(f"{F}/uploads", json={"filename": filename, **options}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["max_bytes"] == MAX_UPLOAD
    sent = httpx.post(ticket["url"], data=ticket["fields"], files={"file": (filename, content)}, timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text
    return _wait(tenant, ticket["upload_id"])


def _wait(tenant: Tenant, upload_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = tenant.http.get(f"{F}/uploads/{upload_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in TERMINAL:
            return dict(r.json())
        assert time.monotonic() < deadline, f"upload still {r.json()['status']}"
        time.sleep(0.3)


def _demand(tenant: Tenant, sku: str) -> dict[str, Any]:
    r = tenant.http.get(f"{F}/skus/{quote(sku, safe='')}/demand", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _stored(stack: RunningStack, tenant: Tenant, sku: str) -> dict[str, Any]:
    table = stack.describe()["resources"]["Table"]
    dynamodb: Any = stack.aws_client("dynamodb")
    key = {"pk": {"S": series_pk(tenant.client_id, sku)}, "sk": {"S": sku_sk(sku)}}
    return dict(dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


def test_given_a_tenant_when_it_uploads_files_then_succeeded_partial_rejected_and_classes(
    small: RunningStack,
) -> None:
    with small.http() as http:
        tenant = Tenant.sign_up(small, http=http)
        smooth = [("SKU/smooth 1", d, 10 + i % 3) for i, d in enumerate(_days(100))]
        lumpy = [("SKU-lumpy", d, (100 if i % 10 else 1) if i % 5 == 0 else 0) for i, d in enumerate(_days(100))]
        done = _upload(tenant, _csv(smooth + lumpy))
        assert done["status"] == "SUCCEEDED", done
        assert (done["rows_total"], done["rows_accepted"], done["rows_rejected"], done["skus_touched"]) == (
            200, 200, 0, 2,
        )  # fmt: skip
        assert done["errors"] == [] and done["finished_at"] and done["filename"] == "demand.csv"

        # Known bad rows: an impossible date (file row 4), a negative quantity (row 7).
        rows = [("SKU-new", d, 2) for d in _days(30, "2024-05-01")]
        rows[2] = ("SKU-new", "2024-02-30", 2)
        rows[5] = ("SKU-new", rows[5][1], -1)
        partial = _upload(tenant, _csv(rows))
        assert partial["status"] == "PARTIAL", partial
        assert (partial["rows_total"], partial["rows_accepted"], partial["rows_rejected"]) == (30, 28, 2)
        assert [(e["row"], e["column"], e["code"]) for e in partial["errors"]] == [
            (4, "date", "date_invalid"),
            (7, "quantity", "quantity_negative"),
        ]

        # A structurally broken file: REJECTED, and the stored demand does not move a byte.
        before = (_demand(tenant, "SKU/smooth 1"), _stored(small, tenant, "SKU/smooth 1"))
        broken = _upload(tenant, b"sku,date\nSKU/smooth 1,2024-01-01\n")
        assert broken["status"] == "REJECTED" and broken["errors"][0]["code"] == "missing_columns", broken
        r = http.post(f"{F}/uploads", json={"filename": "big.csv"}, headers=tenant.headers)
        oversize = r.json()
        big = _csv([("SKU/smooth 1", d, 99) for d in _days(4000, "2010-01-01")])
        assert len(big) > MAX_UPLOAD
        sent = httpx.post(oversize["url"], data=oversize["fields"], files={"file": ("big.csv", big)}, timeout=60)
        assert sent.status_code == 400 and "EntityTooLarge" in sent.text, sent.text  # as S3 answers
        waiting = http.get(f"{F}/uploads/{oversize['upload_id']}", headers=tenant.headers).json()
        assert waiting["status"] == "AWAITING_FILE", waiting
        assert (_demand(tenant, "SKU/smooth 1"), _stored(small, tenant, "SKU/smooth 1")) == before
        assert [p["quantity"] for p in before[0]["points"][:4]] == [10, 11, 12, 10]

        listed = http.get(f"{F}/skus", headers=tenant.headers).json()["items"]
        assert {i["sku"]: i["demand_class"] for i in listed} == {
            "SKU-lumpy": "lumpy", "SKU-new": "new", "SKU/smooth 1": "smooth",
        }  # fmt: skip
        one = http.get(f"{F}/skus/{quote('SKU/smooth 1', safe='')}", headers=tenant.headers).json()
        assert one["first_date"] == "2024-01-01" and one["last_date"] == "2024-04-09" and one["n_periods"] == 100
        lumpy_only = http.get(f"{F}/skus", params={"demand_class": "lumpy"}, headers=tenant.headers).json()
        assert [i["sku"] for i in lumpy_only["items"]] == ["SKU-lumpy"]

        uploads = http.get(f"{F}/uploads", headers=tenant.headers).json()["items"]
        assert [u["upload_id"] for u in uploads] == [
            oversize["upload_id"], broken["upload_id"], partial["upload_id"], done["upload_id"],
        ]  # fmt: skip
        stats = small.stats()
        assert stats.get("s3.IngestFunction.failed", 0) == 0 and stats.get("s3.IngestFunction.dead_lettered", 0) == 0


def test_given_another_tenant_when_it_reads_a_uploads_and_skus_then_404(small: RunningStack) -> None:
    with small.http() as http:
        a, b = Tenant.sign_up(small, http=http), Tenant.sign_up(small, http=http)
        done = _upload(a, _csv([("SKU-A-only", "2024-01-01", 1)]))
        for path in (
            f"{F}/uploads/{done['upload_id']}",
            f"{F}/skus/SKU-A-only",
            f"{F}/skus/SKU-A-only/demand",
        ):
            assert http.get(path, headers=a.headers).status_code == 200
            r = http.get(path, headers=b.headers)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path
        assert http.get(f"{F}/skus", headers=b.headers).json()["items"] == []
        assert http.get(f"{F}/uploads", headers=b.headers).json()["items"] == []


def test_given_ingestion_failing_every_retry_when_a_file_is_uploaded_then_it_ends_rejected_not_stuck(
    small: RunningStack,
) -> None:
    rows = _csv([("SKU-unlucky", d, 3) for d in _days(10)])
    with small.http() as http:
        tenant = Tenant.sign_up(small, http=http)
        before = small.stats()
        forced = httpx.post(f"{small.control}/switches", json={"failing_functions": ["IngestFunction"]}, timeout=10)
        assert forced.status_code == 200 and forced.json()["failing_functions"] == ["IngestFunction"]
        try:
            failed = _upload(tenant, rows)  # S3 -> 3 failed attempts -> IngestDLQ -> its recorder
        finally:
            httpx.post(f"{small.control}/switches", json={"failing_functions": []}, timeout=10)
        assert failed["status"] == "REJECTED" and failed["finished_at"], failed
        assert [(e["row"], e["code"]) for e in failed["errors"]] == [(None, "ingest_failed")]
        assert failed["errors"][0]["message"].endswith("nothing from it was stored. Upload the file again.")
        after = small.stats()
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        assert delta.get("s3.IngestFunction.failed") == 3 and delta.get("s3.IngestFunction.dead_lettered") == 1
        assert delta.get("sqs.IngestDLQ.delivered", 0) >= 1 and delta.get("invoke.IngestDeadLetterFunction.ok", 0) >= 1
        assert http.get(f"{F}/skus/SKU-unlucky", headers=tenant.headers).status_code == 404  # demand untouched
        assert http.get(f"{F}/uploads/{failed['upload_id']}", headers=tenant.headers).json() == failed

        again = _upload(tenant, rows)  # with ingestion healthy, the same file goes in
        assert again["status"] == "SUCCEEDED", again
        assert [p["quantity"] for p in _demand(tenant, "SKU-unlucky")["points"]] == [3] * 10


def _quantities(tenant: Tenant, sku: str) -> dict[str, float]:
    """The SKU's stored non-zero days (the stored series is dense: zeros fill the gaps)."""
    return {p["date"]: p["quantity"] for p in _demand(tenant, sku)["points"] if p["quantity"]}


def test_given_files_as_spreadsheets_and_databases_export_them_when_uploaded_then_each_is_read_exactly(
    small: RunningStack,
) -> None:
    shirt, cafe, tab = 'Blue "XL" shirt, size 2', "Café crème 250 g", "SKU 7 / Ü"
    with small.http() as http:
        tenant = Tenant.sign_up(small, http=http)

        # A European spreadsheet: ';', decimal commas, dd/mm/yyyy, CRLF, quoted names with quotes.
        european = (
            "sku;date;quantity\r\n"
            '"Blue ""XL"" shirt, size 2";31/12/2024;12,5\r\n'
            '"Blue ""XL"" shirt, size 2";02/01/2025;3\r\n'
            "Café crème 250 g;13/01/2025;0,25\r\n"
        ).encode()
        done = _upload(tenant, european)
        assert done["status"] == "SUCCEEDED" and done["rows_accepted"] == 3, done
        assert done["warnings"] == [] and done["error_summary"] == [] and done["delimiter"] is None
        assert _quantities(tenant, shirt) == {"2024-12-31": 12.5, "2025-01-02": 3}
        assert _quantities(tenant, cafe) == {"2025-01-13": 0.25}

        # A database export: tab-separated date-times at midnight, in several spellings.
        stamps = ["2025-01-01 00:00:00", "2025-01-02T00:00:00", "2025-01-03T00:00:00Z", "2025-01-04T00:00:00.000+00:00"]
        timed = "sku\tdate\tquantity\n" + "".join(f"{tab}\t{d}\t{i + 1}\n" for i, d in enumerate(stamps))
        done = _upload(tenant, timed.encode())
        assert done["status"] == "SUCCEEDED" and done["rows_accepted"] == 4, done
        assert _quantities(tenant, tab) == {"2025-01-01": 1, "2025-01-02": 2, "2025-01-03": 3, "2025-01-04": 4}

        # Parquet from a warehouse: integer SKU codes, timestamp dates, an extra column.
        sink = io.BytesIO()
        table = pa.table(
            {
                "unique_id": pa.array([40123, 40123, 7], pa.int64()),
                "ds": pa.array([dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 2), dt.datetime(2025, 1, 1)]),
                "y": [4.0, 5.5, 1.0],
                "store": ["north", "north", "south"],
            }
        )
        pq.write_table(table, sink)
        done = _upload(tenant, sink.getvalue(), "demand.parquet")
        assert done["status"] == "SUCCEEDED" and done["rows_accepted"] == 3, done
        assert done["warnings"] == [{"code": "extra_columns_ignored", "message": "Ignored columns: store"}]
        assert _quantities(tenant, "40123") == {"2025-01-01": 4, "2025-01-02": 5.5}
        assert _quantities(tenant, "7") == {"2025-01-01": 1}

        # A CSV with columns we do not use: read, and the report says what was ignored.
        extra = "region,sku,date,quantity,price\n" + "".join(f"EU,{cafe},2025-02-0{d},{d},9.90\n" for d in (1, 2))
        done = _upload(tenant, extra.encode())
        assert done["status"] == "SUCCEEDED", done
        assert done["warnings"] == [{"code": "extra_columns_ignored", "message": "Ignored columns: region, price"}]
        assert _quantities(tenant, cafe) == {"2025-01-13": 0.25, "2025-02-01": 1, "2025-02-02": 2}

        # Two kinds of problem, one of them 150 times: both listed, both counted exactly.
        good = [(f"SKU-{i}", "2025-01-01", 1) for i in range(2000)]
        bad = [(f"BAD-{i}", "2025-01-01", "n/a") for i in range(150)] + [("LATE", "2025-01-01T09:00:00", 1)]
        mixed = _upload(tenant, _csv(good + bad))
        assert mixed["status"] == "PARTIAL" and mixed["rows_rejected"] == 151, mixed
        assert mixed["error_summary"] == [
            {"code": "quantity_not_number", "count": 150, "first_rows": [2002, 2003, 2004, 2005, 2006]},
            {"code": "date_has_time", "count": 1, "first_rows": [2152]},
        ]
        assert len(mixed["errors"]) == 100 and {e["code"] for e in mixed["errors"]} == {
            "quantity_not_number", "date_has_time",
        }  # fmt: skip
        assert mixed["errors"][-1] == {
            "row": 2152,
            "column": "date",
            "code": "date_has_time",
            "message": "date '2025-01-01T09:00:00' has a time of day: a daily date has no time, or midnight (00:00:00)",
        }
        listed = http.get(f"{F}/uploads", headers=tenant.headers).json()["items"]
        assert listed[0]["error_summary"] == mixed["error_summary"]
