"""Drivers and the calendar over the local stack's real HTTP: declare drivers, upload a drivers CSV
through the presigned POST (SKU names as exports write them: spaces, unicode, quotes, commas),
read the values back, bad inputs named (an undeclared column rejects the file and stores nothing;
NaN / Infinity words, a flag of 2, a bad date are row errors), the JSON door, another tenant sees
nothing, and the calendar with an unknown holiday code refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant, csv_cell, upload

pytestmark = pytest.mark.e2e
F = "/api/v1/forecast"
SKUS = ["Tee shirt 日本 M", 'Mug "Large", blue', "Ça coûte 1/2"]
TODAY = dt.date.today()
PAST, NEXT = (TODAY - dt.timedelta(days=3)).isoformat(), (TODAY + dt.timedelta(days=20)).isoformat()


def _drivers_of(tenant: Tenant, sku: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return tenant.http.get(f"{F}/skus/{quote(sku, safe='')}/drivers", headers=headers or tenant.headers)


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Tenant:
    tenant = Tenant.sign_up(stack, http=stack.http())
    for name, body in {
        "price": {"kind": "numeric", "aggregate": "mean", "description": "shelf price"},
        "promo": {"kind": "flag", "aggregate": "max"},
    }.items():
        r = tenant.http.put(f"{F}/drivers/{name}", json=body, headers=tenant.headers)
        assert r.status_code == 201, r.text
    return tenant


def test_given_declared_drivers_when_a_file_is_uploaded_then_each_value_reads_back_as_sent(tenant: Tenant) -> None:
    analyst = tenant.create_user("analyst")[1]
    rows = [
        (SKUS[0], PAST, "19.99", "1"),
        (SKUS[1], PAST, "4.5", ""),
        (SKUS[1], NEXT, "3.99", "1"),
        (SKUS[2], NEXT, "", "0"),
    ]
    content = "sku,date,price,promo\n" + "".join(f"{csv_cell(s)},{d},{p},{f}\n" for s, d, p, f in rows)
    report = upload(tenant, content.encode(), "drivers", analyst)
    assert (report["status"], report["kind"], report["rows_accepted"], report["skus_touched"]) == (
        "SUCCEEDED",
        "drivers",
        4,
        3,
    ), report
    viewer = tenant.create_user("viewer")[1]
    r = _drivers_of(tenant, SKUS[1], viewer)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "sku": SKUS[1],
        "drivers": {
            "price": [{"date": PAST, "value": 4.5}, {"date": NEXT, "value": 3.99}],
            "promo": [{"date": NEXT, "value": 1.0}],
        },
    }
    # No demand was ever sent for these SKUs: their values are kept for when it comes.
    assert _drivers_of(tenant, SKUS[2]).json()["drivers"] == {"promo": [{"date": NEXT, "value": 0.0}]}
    listed = {d["name"]: d for d in tenant.http.get(f"{F}/drivers", headers=viewer).json()["items"]}
    assert listed["price"] | {"created_at": None, "updated_at": None} == {
        "name": "price",
        "kind": "numeric",
        "known_in_advance": True,
        "aggregate": "mean",
        "description": "shelf price",
        "skus_with_values": 2,
        "first_date": PAST,
        "last_date": NEXT,
        "created_at": None,
        "updated_at": None,
    }
    # The same file again: the same values.
    assert upload(tenant, content.encode(), "drivers", analyst)["status"] == "SUCCEEDED"
    assert _drivers_of(tenant, SKUS[1], viewer).json() == r.json()


def test_given_an_undeclared_column_then_the_file_is_rejected_naming_it_and_nothing_is_stored(tenant: Tenant) -> None:
    report = upload(tenant, f"sku,date,price,discount\nNEVER-STORED,{PAST},1,0.1\n".encode(), "drivers", tenant.headers)
    assert report["status"] == "REJECTED"
    assert [(e["column"], e["code"]) for e in report["errors"]] == [("discount", "undeclared_driver")]
    assert "discount" in report["errors"][0]["message"]
    assert _drivers_of(tenant, "NEVER-STORED").status_code == 404


def test_given_bad_values_then_each_is_a_row_error_naming_the_problem(tenant: Tenant) -> None:
    good = "".join(f"GOOD-{i},{PAST},1,0\n" for i in range(40))
    bad = f"BAD-1,{PAST},NaN,\nBAD-2,{PAST},Infinity,\nBAD-3,{PAST},,2\nBAD-4,2026-02-30,1,\n"
    report = upload(tenant, ("sku,date,price,promo\n" + bad + good).encode(), "drivers", tenant.headers)
    assert report["status"] == "PARTIAL"
    assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
        (2, "price", "value_not_finite"),
        (3, "price", "value_not_finite"),
        (4, "promo", "flag_not_binary"),
        (5, "date", "date_invalid"),
    ]
    assert all(_drivers_of(tenant, f"BAD-{i}").status_code == 404 for i in range(1, 5))
    assert _drivers_of(tenant, "GOOD-0").status_code == 200


def test_the_json_door_answers_the_report(tenant: Tenant) -> None:
    body = {
        "records": [
            {"sku": SKUS[0], "date": NEXT, "values": {"price": 17.5}},
            {"sku": "X", "date": "tomorrow", "values": {}},
        ]
    }
    r = tenant.http.post(f"{F}/drivers/values", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "REJECTED"  # 1 of 2 rows rejected is over the 10 % share
    assert r.json()["errors"][-1] | {"message": ""} == {
        "row": 2,
        "column": "date",
        "code": "date_invalid",
        "message": "",
    }
    body["records"] = body["records"][:1]
    assert tenant.http.post(f"{F}/drivers/values", json=body, headers=tenant.headers).json()["status"] == "SUCCEEDED"
    assert {"date": NEXT, "value": 17.5} in _drivers_of(tenant, SKUS[0]).json()["drivers"]["price"]


def test_another_tenant_sees_nothing(stack: RunningStack, tenant: Tenant) -> None:
    other = Tenant.sign_up(stack, http=stack.http())
    assert _drivers_of(other, SKUS[1]).status_code == 404
    assert other.http.get(f"{F}/drivers", headers=other.headers).json() == {"items": []}
    assert other.http.delete(f"{F}/drivers/price", headers=other.headers).status_code == 404
    assert other.http.get(f"{F}/calendar", headers=other.headers).json()["holidays"] == []
    assert _drivers_of(tenant, SKUS[1]).status_code == 200  # still there for its owner


def test_delete_takes_the_values_and_the_name_values_is_a_route(tenant: Tenant) -> None:
    r = tenant.http.put(f"{F}/drivers/shelf", json={"kind": "flag"}, headers=tenant.headers)
    assert r.status_code == 201
    body = {"records": [{"sku": "SHELF-1", "date": PAST, "values": {"shelf": 1}}]}
    assert tenant.http.post(f"{F}/drivers/values", json=body, headers=tenant.headers).json()["status"] == "SUCCEEDED"
    assert tenant.http.delete(f"{F}/drivers/shelf", headers=tenant.headers).status_code == 204
    assert _drivers_of(tenant, "SHELF-1").status_code == 404
    assert tenant.http.put(f"{F}/drivers/Shelf-2", json={"kind": "flag"}, headers=tenant.headers).status_code == 422
    r = tenant.http.put(f"{F}/drivers/values", json={"kind": "flag"}, headers=tenant.headers)
    assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"


def test_calendar_put_get_and_an_unknown_holiday_code(tenant: Tenant) -> None:
    body = {"holidays": ["US", "DE-BY"], "events": [{"name": "launch", "dates": [NEXT], "skus": [SKUS[0]]}]}
    r = tenant.http.put(f"{F}/calendar", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    got = tenant.http.get(f"{F}/calendar", headers=tenant.headers).json()
    assert (got["holidays"], got["events"]) == (["US", "DE-BY"], body["events"])
    r = tenant.http.put(f"{F}/calendar", json={"holidays": ["US", "QQ"], "events": []}, headers=tenant.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "'QQ'" in r.json()["detail"] and r.json()["errors"][0]["field"] == "holidays[1]"
    bad_event = {"holidays": [], "events": [{"name": "sale", "dates": ["2026-02-30"]}]}
    r = tenant.http.put(f"{F}/calendar", json=bad_event, headers=tenant.headers)
    assert r.status_code == 422 and "2026-02-30" in r.json()["detail"]
    assert tenant.http.get(f"{F}/calendar", headers=tenant.headers).json()["holidays"] == ["US", "DE-BY"]


def test_the_client_declares_uploads_a_frame_and_sets_the_calendar(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import math

    import pandas as pd
    from skucast_client import Client, UploadRejectedError, cli

    tenant = Tenant.sign_up(stack, http=stack.http())
    with Client(stack.api, email=tenant.email, password=tenant.password) as sc:
        assert sc.declare_driver("discount", description="share off")["kind"] == "numeric"
        assert sc.declare_driver("display", "flag", aggregate="max")["aggregate"] == "max"
        frame = pd.DataFrame(
            {
                "unique_id": [SKUS[1], SKUS[1], "B"],
                "ds": pd.to_datetime([PAST, NEXT, PAST]),
                "discount": [0.1 + 0.2, math.nan, 0.25],  # 0.30000000000000004 arrives as sent
                "display": [True, False, True],
            }
        )
        report = sc.upload_drivers(frame)
        assert (report["status"], report["rows_accepted"]) == ("SUCCEEDED", 3)
        assert sc.sku_drivers(SKUS[1]) == {
            "discount": [{"date": PAST, "value": 0.1 + 0.2}],
            "display": [{"date": PAST, "value": 1.0}, {"date": NEXT, "value": 0.0}],
        }
        assert {d["name"]: d["skus_with_values"] for d in sc.drivers()} == {"discount": 2, "display": 2}
        with pytest.raises(UploadRejectedError) as refused:
            sc.upload_drivers(frame.assign(colour=1.0))
        assert refused.value.report["errors"][0]["column"] == "colour"
        calendar = sc.set_calendar(["FR"], [{"name": "soldes", "dates": [dt.date.fromisoformat(NEXT)]}])
        assert calendar["events"] == [{"name": "soldes", "dates": [NEXT], "skus": None}]
        assert sc.calendar()["holidays"] == ["FR"]
    # The CLI's verbs over the same client, signed in as the admin.
    monkeypatch.setenv("SKUCAST_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("SKUCAST_PASSWORD", tenant.password)
    assert cli.main(["--api", stack.api, "login", "--email", tenant.email]) == 0
    assert cli.main(["declare-driver", "price", "--aggregate", "last"]) == 0
    assert cli.main(["drivers"]) == 0
    assert "price" in capsys.readouterr().out
    drivers_file = tmp_path / "drivers.csv"
    drivers_file.write_text(f"sku,date,price\n{csv_cell(SKUS[1])},{NEXT},2.5\n", encoding="utf-8")
    assert cli.main(["upload-drivers", str(drivers_file)]) == 0
    assert cli.main(["set-calendar", "--holiday", "ZZ"]) == 1  # 422: unknown code
    assert cli.main(["delete-driver", "display"]) == 0
    assert cli.main(["delete-driver", "display"]) == 1  # 404: already gone
