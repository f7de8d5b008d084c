"""Every repository write path that crosses the storage boundary, through the emulated DynamoDB:
run parameters and names, batch records, result documents and catalog entries read back exactly as
written - strings that spell `NaN`, `Infinity`, `null` or `1e999` included - or are refused with
NotStorable before anything is sent (repositories/dynamo.py)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skucast.records import BatchStatus, RunRecord, RunStatus
from skucast.repositories import catalog, dynamo
from skucast.repositories import runs as runs_repo
from skucast.repositories.dynamo import NotStorable
from skucast_local.emulator import Provisioned
from tests.support.boundary import (
    assert_same,
    fits_a_number,
    json_values,
    storable_everywhere,
    text,
)

_tenants = itertools.count()
MOTO = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
names = text.filter(lambda s: 0 < len(s) <= 128 and not any(ord(c) < 32 or ord(c) == 127 for c in s))


@pytest.fixture
def table(provisioned: Provisioned) -> str:
    return str(provisioned.resources["Table"].ref)


def _tenant() -> str:
    return f"cl_boundary{next(_tenants)}"


def _create(table: str, client: str, run: RunRecord) -> None:
    runs_repo.create_run(table, client, run, expires_at=2_000_000_000, deadline="2026-01-01T00:00:00Z", max_active=5)


def _run(name: str | None = None, params: dict[str, Any] | None = None) -> RunRecord:
    return RunRecord(
        run_id="run_1", status=RunStatus.QUEUED, created_at="2026-01-01T00:00:00Z", name=name, params=params or {}
    )


@MOTO
@given(name=text, params=json_values, skus=st.lists(names, max_size=5))
def test_given_any_run_params_and_name_when_created_then_the_run_reads_back_exactly(
    table: str, name: str, params: Any, skus: list[str]
) -> None:
    client = _tenant()
    run = _run(name, {"skus": skus, "extra": params})
    if not storable_everywhere(params):
        with pytest.raises(NotStorable):
            _create(table, client, run)
        assert runs_repo.get_run(table, client, "run_1") is None  # refused before anything was sent
        return
    _create(table, client, run)
    back = runs_repo.get_run(table, client, "run_1")
    assert back is not None
    assert (back.run_id, back.status, back.created_at) == (run.run_id, run.status, run.created_at)
    assert_same([back.name, back.params], [run.name, run.params])


@MOTO
@given(sku=names, result=json_values)
def test_given_any_result_document_when_written_then_get_and_page_read_it_back_exactly(
    table: str, sku: str, result: Any
) -> None:
    client = _tenant()
    document = {"sku": sku, "demand_class": "smooth", "payload": result}
    runs_repo.put_results(table, client, "run_1", 2, [document])

    def expected(v: Any) -> Any:  # undefined numbers (NaN, infinities) are null in a result document
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()}
        return [expected(x) for x in v] if isinstance(v, list) else v

    stored = runs_repo.get_result(table, client, "run_1", 2, sku)
    assert stored is not None and (stored.version, stored.final, stored.carried) == (0, None, ())
    assert_same(stored.document, expected(document))
    assert_same([r.document for r in runs_repo.iter_results(table, client, "run_1", 2)], [expected(document)])


@MOTO
@given(record=json_values)
def test_given_any_batch_record_when_settled_then_it_reads_back_with_only_unstorable_numbers_null(
    table: str, record: Any
) -> None:
    client = _tenant()
    _create(table, client, _run())
    assert runs_repo.transition(table, client, "run_1", to=RunStatus.RUNNING, allowed_from=[RunStatus.QUEUED])
    runs_repo.put_batches(table, client, "run_1", [["A"]])
    settled = runs_repo.settle_batch(
        table,
        client,
        "run_1",
        "b0000000",
        outcome=BatchStatus.DONE,
        done=1,
        failed=0,
        record={"r": record},
        deadline="x",
        results=[],  # the call predated settle_batch writing results: it failed with a TypeError
        shards=1,
    )
    assert settled

    def expected(v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return v if fits_a_number(v) else None
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()}
        return [expected(x) for x in v] if isinstance(v, list) else v

    batch = runs_repo.get_batch(table, client, "run_1", "b0000000")
    assert batch is not None
    assert_same(batch.record, {"r": expected(record)})


finite = st.floats(allow_nan=False, allow_infinity=False)


@MOTO
@given(
    entries=st.lists(
        st.fixed_dictionaries(
            {
                "sku": names,
                "demand_class": text,
                "adi": st.one_of(st.none(), finite),
                "cv2": st.one_of(st.none(), finite),
                "n_periods": st.integers(min_value=0, max_value=10**6),
                "first_date": text,
                "last_date": text,
                "total_quantity": finite,
                "granularity": st.sampled_from(["D", "W", "M"]),
            }
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda e: e["sku"],
    )
)
def test_given_any_catalog_entries_when_merged_then_each_reads_back_exactly(
    table: str, entries: list[dict[str, Any]]
) -> None:
    client = _tenant()
    catalog.merge_entries(table, client, entries, None)
    for entry in entries:
        back = catalog.get_entry(table, client, entry["sku"])
        assert back is not None
        assert_same(back.model_dump(), entry)
    assert_same([e.model_dump() for e in catalog.iter_entries(table, client)], sorted(entries, key=lambda e: e["sku"]))


def test_given_the_issue_17_run_when_stored_then_name_and_skus_are_as_sent(table: str) -> None:
    params = {"skus": ["Infinity Scarf", "NaN-Bread", "null", "1e999", "-Infinity"], "horizon": 7}
    run = _run("Infinity War promo NaN", params)
    _create(table, "cl_issue17", run)
    assert runs_repo.get_run(table, "cl_issue17", "run_1") == run
    assert dynamo.plain(dynamo.storable(params)) == params
