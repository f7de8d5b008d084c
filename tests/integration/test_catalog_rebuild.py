"""`python -m skucast.admin rebuild-catalog`: the catalog classified again from the stored series,
with the deployment's thresholds, under the tenant's merge lock; old one-SKU items removed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import numpy as np
import pytest
from boto3.dynamodb.conditions import Key

from skucast import admin
from skucast.ingestion import DemandSeries
from skucast.repositories import catalog
from skucast.repositories import uploads as uploads_repo
from skucast.repositories.keys import catalog_pk
from skucast.services import catalog_rebuild
from skucast.services.demand import catalog_entry
from skucast_local.emulator import Provisioned
from tests.integration.pipeline import Pipeline


@pytest.fixture
def pipe(provisioned: Provisioned, lambda_context: Any) -> Pipeline:
    return Pipeline(provisioned, lambda_context)


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(9)
    return {
        "smooth": rng.poisson(20, 200).astype(float),
        "sporadic": (rng.random(200) < 0.2) * rng.integers(1, 80, 200).astype(float),
        "gone": np.concatenate([rng.poisson(5, 100), np.zeros(100)]).astype(float),
    }


def _catalog_items(pipe: Pipeline, client: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(pipe.table)
    return table.query(KeyConditionExpression=Key("pk").eq(catalog_pk(client)), ConsistentRead=True)["Items"]


def _rebuild(pipe: Pipeline, client: str, *extra: str) -> int:
    return admin.main(["rebuild-catalog", "--table", pipe.table, "--client-id", client, *extra])


def test_given_stored_series_when_rebuilt_then_every_entry_is_classified_and_old_items_are_gone(
    pipe: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    client = pipe.tenant("cli_rebuild")
    series = _series()
    pipe.store(client, series)  # catalog entries of class "unknown"
    legacy = {"pk": catalog_pk(client), "sk": "SKU#smooth", "demand_class": "smooth"}  # before pages
    boto3.resource("dynamodb", region_name="us-east-1").Table(pipe.table).put_item(Item=legacy)

    assert _rebuild(pipe, client) == 0
    assert "3 SKUs classified, 1 catalog pages written, 1 one-SKU catalog items deleted" in capsys.readouterr().out
    stored = {s: DemandSeries(start=dt.date(2024, 1, 1), values=v) for s, v in series.items()}  # as stored
    expected = [catalog_entry(s, stored[s]) for s in sorted(stored)]
    assert [e.model_dump() for e in catalog.iter_entries(pipe.table, client)] == expected
    assert [e["demand_class"] for e in expected] == ["inactive", "smooth", "intermittent"]
    assert [i["sk"] for i in _catalog_items(pipe, client)] == ["PAGE#"]

    assert _rebuild(pipe, client) == 0  # nothing changed: nothing written
    assert "0 catalog pages written, 0 one-SKU" in capsys.readouterr().out
    # New thresholds (as the deployment's ClassificationThresholds): 1,000 days of history to leave `new`.
    assert _rebuild(pipe, client, "--thresholds", '{"min_periods_d": 1000}') == 0
    classes = {e.sku: e.demand_class for e in catalog.iter_entries(pipe.table, client)}
    assert classes == {"gone": "inactive", "sporadic": "new", "smooth": "new"}
    assert uploads_repo.acquire_lock(pipe.table, client, "lck_next", "upl_next", 0, 60)  # it released the lock


def test_given_an_ingest_holding_the_lock_when_rebuilt_then_refused_and_nothing_changes(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = pipe.tenant("cli_rebuild_busy")
    pipe.store(client, _series())
    before = _catalog_items(pipe, client)
    assert uploads_repo.acquire_lock(pipe.table, client, "lck_ingest", "upl_ingest", 0, 2**40)
    monkeypatch.setattr(catalog_rebuild, "LOCK_PATIENCE_SECONDS", 0)
    assert _rebuild(pipe, client) == 2
    assert "being merged" in capsys.readouterr().err
    assert _catalog_items(pipe, client) == before


@pytest.mark.parametrize("thresholds", ['{"min_periods_d": 0}', '{"typo": 1}', "nope"])
def test_given_bad_thresholds_then_the_command_refuses_before_touching_anything(
    pipe: Pipeline, thresholds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _rebuild(pipe, pipe.tenant("cli_rebuild_bad"), "--thresholds", thresholds)
    assert exc.value.code == 2 and "--thresholds" in capsys.readouterr().err
