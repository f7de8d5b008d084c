"""The attributes frame the client uploads (values as text, exactly; missing = empty cell) and the
SKU frame with one column per attribute; the file it writes reads back the same in the service."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest
from skucast_client.frames import attributes_csv_gz, skus_frame

from skucast.attributes import ingest_attribute_file


def test_an_attributes_frame_becomes_a_csv_the_service_reads_back_exactly() -> None:
    frame = pd.DataFrame(
        {"unique_id": ['Mug "L", blue', "B"], "category": [" Küche ", None], "brand": ['Acme "Pro", Inc', "x"]}
    )
    blob = attributes_csv_gz(frame)
    assert gzip.decompress(blob).decode().splitlines()[0] == "sku,category,brand"
    result = ingest_attribute_file(io.BytesIO(blob))
    assert result.values == {
        'Mug "L", blue': {"category": " Küche ", "brand": 'Acme "Pro", Inc'},
        "B": {"brand": "x"},
    }


def test_a_frame_without_sku_or_attributes_is_refused() -> None:
    with pytest.raises(ValueError, match="sku"):
        attributes_csv_gz(pd.DataFrame({"category": ["A"]}))
    with pytest.raises(ValueError, match="attribute column"):
        attributes_csv_gz(pd.DataFrame({"sku": ["A"]}))


def test_the_skus_frame_has_a_column_per_attribute_prefixed_only_on_a_clash() -> None:
    frame = skus_frame(
        [
            {"sku": "A", "demand_class": "smooth", "attributes": {"category": "x", "adi": "odd"}},
            {"sku": "B", "demand_class": "new", "attributes": {}},
        ]
    )
    assert list(frame.columns)[-2:] == ["attr.adi", "category"]
    assert frame["category"].tolist() == ["x", None]
