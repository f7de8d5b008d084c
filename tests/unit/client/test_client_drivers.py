"""The drivers frame the client uploads: aliases, empty cells for missing values, flags as 0/1,
floats in full."""

from __future__ import annotations

import gzip
import math

import pandas as pd
import pytest
from skucast_client.frames import drivers_csv_gz


def test_a_drivers_frame_becomes_the_csv_the_service_reads() -> None:
    frame = pd.DataFrame(
        {
            "unique_id": ['Mug "L", blue', "B"],
            "ds": pd.to_datetime(["2026-12-01", "2026-12-02"]),
            "price": [0.1 + 0.2, math.nan],
            "promo": [True, False],
        }
    )
    text = gzip.decompress(drivers_csv_gz(frame)).decode()
    assert text == 'sku,date,price,promo\n"Mug ""L"", blue",2026-12-01,0.30000000000000004,1\nB,2026-12-02,,0\n'


def test_a_frame_without_sku_date_or_drivers_is_refused() -> None:
    with pytest.raises(ValueError, match="sku and date"):
        drivers_csv_gz(pd.DataFrame({"sku": ["A"], "price": [1.0]}))
    with pytest.raises(ValueError, match="driver column"):
        drivers_csv_gz(pd.DataFrame({"sku": ["A"], "date": ["2026-12-01"]}))
