"""The storage boundary (repositories/dynamo.py): what is written is what reads back.

Any JSON value - strings that spell numbers or JSON words included - survives `storable` then
`plain` unchanged, floats exactly (`Decimal(repr(x))`); numbers DynamoDB's Number cannot hold are
refused with NotStorable, never changed and never left to boto3 to crash on.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings

from skucast.repositories import dynamo
from skucast.repositories.dynamo import NotStorable
from tests.support.boundary import assert_same, fits_a_number, json_values, storable_everywhere


@settings(max_examples=400)
@given(json_values)
def test_given_any_json_value_when_stored_and_read_back_then_it_is_equal_or_refused(value: Any) -> None:
    if storable_everywhere(value):
        assert_same(dynamo.plain(dynamo.storable(value)), value)
    else:
        with pytest.raises(NotStorable):
            dynamo.storable(value)


@settings(max_examples=200)
@given(json_values)
def test_given_any_json_value_as_metrics_then_only_unstorable_numbers_become_null(value: Any) -> None:
    def expected(v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return v if fits_a_number(v) else None
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()}
        if isinstance(v, list):
            return [expected(x) for x in v]
        return v

    assert_same(dynamo.plain(dynamo.storable(value, undefined_as_null=True)), expected(value))


@settings(max_examples=200)
@given(json_values)
def test_given_any_json_value_in_a_result_document_then_only_non_finite_floats_become_null(value: Any) -> None:
    def expected(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()}
        if isinstance(v, list):
            return [expected(x) for x in v]
        return v

    assert_same(json.loads(json.dumps(dynamo.defined(value), allow_nan=False)), expected(value))


def test_given_the_issue_17_names_then_they_are_stored_as_sent() -> None:
    run = {"name": "Infinity War promo NaN", "skus": ["Infinity Scarf", "NaN-Bread", "null", "1e999"]}
    assert dynamo.storable(run) == run
    assert dynamo.plain(dynamo.storable(run)) == run


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (0.1, Decimal("0.1")),  # the shortest round-trip text, not 0.1000000000000000055511151231257827
        (1e125, Decimal("1E+125")),
        (-2.5e-130, Decimal("-2.5E-130")),
        (10**40, Decimal("1E+40")),  # 41 digits, one of them significant
        (12345678901234567890123456789012345678, Decimal(12345678901234567890123456789012345678)),
    ],
)
def test_given_a_number_dynamodb_holds_then_it_is_stored_exactly(value: int | float, stored: Decimal) -> None:
    assert dynamo.storable(value) == stored and str(dynamo.storable(value)) == str(stored)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), 1e126, 1e300, 1e-131, 5e-324, 10**38 + 1, 2**200]
)
def test_given_a_number_dynamodb_cannot_hold_then_it_is_refused_naming_where(value: int | float) -> None:
    with pytest.raises(NotStorable, match=r"^\$\.params\.q\[1\]: "):
        dynamo.storable({"params": {"q": [1, value]}})
    assert dynamo.storable({"q": [value]}, undefined_as_null=True) == {"q": [None]}


def test_given_a_non_string_key_or_an_unknown_type_then_it_is_refused() -> None:
    with pytest.raises(NotStorable, match="key 80"):
        dynamo.storable({"covered": {80: 1}})
    with pytest.raises(NotStorable, match="set"):
        dynamo.storable({"skus": {"A"}})


def test_given_run_skus_and_name_with_spaces_then_the_request_keeps_them_as_sent() -> None:
    from pydantic import ValidationError

    from skucast.schemas.forecast import CreateRunRequest

    body = CreateRunRequest.model_validate(
        {
            "horizon": 7,
            "skus": [" WS1 ", "WS1", "Infinity Scarf"],
            "name": " Infinity War promo NaN ",
            "method": " auto ",
        }
    )
    assert body.skus == [" WS1 ", "WS1", "Infinity Scarf"]
    assert body.name == " Infinity War promo NaN "
    assert body.method == "auto"  # not a name: still trimmed
    with pytest.raises(ValidationError):
        CreateRunRequest.model_validate({"horizon": 7, "skus": ["   "]})
