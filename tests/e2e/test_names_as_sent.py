"""Names come back byte-identical everywhere (issue #17): SKUs and a run name that spell JSON
words or numbers, or need URL encoding, uploaded as a file through the presigned POST, listed,
forecast by `skus=[...]`, and read back from the run, its results, each per-SKU result (name
URL-encoded in the path, as for /skus/{sku}), the CSV and Parquet exports and the HTML report."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pyarrow.parquet as pq
import pytest
from skucast_client import Client
from skucast_client.report import write_report

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, finish, results, upload

F = "/api/v1/forecast"
NAMES = [
    "Infinity Scarf",
    "NaN-Bread",
    "null",
    "1e999",
    "日本茶-500g",
    'Comma, "quoted"',
    "sp ace",
    "a/b",
    "100%",
    "#1",
    " WS1 ",
    "WS1",
]
RUN_NAME = "Infinity War promo NaN"


def demand_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sku", "date", "quantity"])
    start = dt.date(2024, 1, 1)
    for i, name in enumerate(NAMES):
        for day in range(60):
            writer.writerow([name, (start + dt.timedelta(days=day)).isoformat(), (i + day) % 7 + 1])
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def finished(stack: RunningStack) -> Iterator[tuple[Tenant, dict]]:
    with stack.http() as http:
        tenant = Tenant.sign_up(stack, http=http)
        report = upload(tenant, demand_csv())
        assert report["status"] == "SUCCEEDED" and report["skus_touched"] == len(NAMES), report
        body = {"horizon": 7, "skus": NAMES, "name": RUN_NAME, "backtest_windows": 0}
        r = http.post(f"{F}/runs", json=body, headers=tenant.headers)
        assert r.status_code == 202, r.text
        yield tenant, finish(tenant, r.json()["run_id"], timeout=600)


def test_given_names_that_spell_json_or_need_encoding_then_list_and_get_find_each_as_sent(
    finished: tuple[Tenant, dict],
) -> None:
    tenant, _ = finished
    listed = tenant.http.get(f"{F}/skus", params={"limit": 1000}, headers=tenant.headers).json()["items"]
    assert sorted(s["sku"] for s in listed) == sorted(NAMES)
    for name in NAMES:
        for path in (f"{F}/skus/{quote(name, safe='')}", f"{F}/skus/{quote(name, safe='')}/demand"):
            r = tenant.http.get(path, headers=tenant.headers)
            assert r.status_code == 200 and r.json()["sku"] == name, (path, r.text)
    # A name's beginning finds it, exactly as sent (case, spaces, unicode, quotes).
    for prefix in ("日本", 'Comma, "', " WS", "WS", "N", "n", "Infinity Scarf", "Nothing"):
        found = tenant.http.get(f"{F}/skus", params={"prefix": prefix}, headers=tenant.headers).json()["items"]
        assert [s["sku"] for s in found] == sorted(n for n in NAMES if n.startswith(prefix)), prefix


def test_given_a_run_over_those_names_then_params_results_and_each_result_hold_them_as_sent(
    finished: tuple[Tenant, dict],
) -> None:
    tenant, run = finished
    assert run["status"] == "SUCCEEDED", run
    assert run["name"] == RUN_NAME  # the run's params answer its SKUs as a count; results name them
    assert run["progress"] == {"skus_total": len(NAMES), "skus_done": len(NAMES), "skus_failed": 0}
    got = {r["sku"]: r for r in results(tenant, run["run_id"])}
    assert sorted(got) == sorted(NAMES)
    for name in NAMES:
        r = tenant.http.get(f"{F}/runs/{run['run_id']}/results/{quote(name, safe='')}", headers=tenant.headers)
        assert r.status_code == 200, (name, r.text)
        assert r.json()["sku"] == name and r.json()["forecast"] == got[name]["forecast"]


def test_given_a_run_over_those_names_then_csv_and_parquet_exports_hold_them_as_sent(
    finished: tuple[Tenant, dict],
) -> None:
    tenant, run = finished
    exported = {}
    for fmt in ("csv", "parquet"):
        r = tenant.http.post(f"{F}/runs/{run['run_id']}/export", json={"format": fmt}, headers=tenant.headers)
        assert r.status_code == 200, r.text
        exported[fmt] = httpx.get(r.json()["url"], timeout=60).content
    rows = list(csv.DictReader(io.StringIO(exported["csv"].decode("utf-8"))))
    assert {row["sku"] for row in rows} == set(NAMES)
    assert len(rows) == 7 * len(NAMES)
    table = pq.read_table(io.BytesIO(exported["parquet"]))
    assert set(table.column("sku").to_pylist()) == set(NAMES)


def test_given_a_run_over_those_names_then_the_html_report_shows_them_as_sent(
    stack: RunningStack, finished: tuple[Tenant, dict], tmp_path: Path
) -> None:
    tenant, run = finished
    client = Client(stack.api, email=tenant.email, password=tenant.password)
    out = tmp_path / "report.html"
    write_report(client, run["run_id"], out, skus=NAMES)
    page = out.read_text(encoding="utf-8")
    assert f"<title>{html.escape(RUN_NAME)}</title>" in page
    for name in NAMES:  # escaped for HTML, which a browser shows as exactly the name
        assert html.escape(name, quote=True) in page, name
    assert "null War" not in page and "null Scarf" not in page
