"""The report's driver views: promotion, holiday and event periods shaded on a SKU's chart (a
scenario's flag changes included), and the effects table under it."""

from __future__ import annotations

import datetime as dt
import re

from skucast_client.report import Shade, build_report, chart_shades, promotion_days

D = dt.date
SKU = 'Mug "L" <é>'
VALUES = {"promo": [{"date": f"2026-11-{d:02d}", "value": 1.0 if d in (3, 4, 5, 20) else 0.0} for d in range(1, 31)]}


def test_promotion_days_follow_the_flag_and_a_scenarios_set_changes_from_the_forecast_on() -> None:
    assert promotion_days(VALUES, ["promo"], SKU) == {"promo": {D(2026, 11, d) for d in (3, 4, 5, 20)}}
    scenario = {
        "changes": [
            {"driver": "promo", "start": "2026-11-01", "end": "2026-12-02", "set": 1, "skus": [SKU]},
            {"driver": "promo", "start": "2026-11-20", "end": "2026-11-20", "set": 0},
            {"driver": "promo", "start": "2026-12-05", "end": "2026-12-05", "set": 1, "skus": ["other"]},
        ]
    }
    days = promotion_days(VALUES, ["promo"], SKU, scenario, first_forecast=D(2026, 12, 1))["promo"]
    # History keeps its stored promotions (a scenario changes the future only).
    assert days == {D(2026, 11, d) for d in (3, 4, 5, 20)} | {D(2026, 12, 1), D(2026, 12, 2)}


def test_chart_shades_join_days_into_spans_with_holidays_and_events_for_this_sku() -> None:
    calendar = {
        "holidays": ["US"],
        "events": [
            {"name": "payday", "dates": ["2026-11-27", "2026-11-28"]},
            {"name": "not mine", "dates": ["2026-11-10"], "skus": ["other"]},
        ],
    }
    scenario = {"events": [{"name": "launch", "dates": ["2026-12-03"]}]}
    shades = chart_shades(SKU, VALUES, ["promo"], calendar, scenario, D(2026, 11, 1), D(2026, 12, 31))
    assert Shade(D(2026, 11, 3), D(2026, 11, 5), "promotion", "promo") in shades
    assert Shade(D(2026, 11, 20), D(2026, 11, 20), "promotion", "promo") in shades
    assert Shade(D(2026, 11, 27), D(2026, 11, 28), "event", "payday") in shades
    assert Shade(D(2026, 12, 3), D(2026, 12, 3), "event", "launch") in shades
    assert not any(s.label == "not mine" for s in shades)
    holidays = {s.start for s in shades if s.kind == "holiday"}
    assert {D(2026, 11, 26), D(2026, 12, 25)} <= holidays  # Thanksgiving and Christmas, from `holidays`


def test_the_chart_shades_its_spans_and_the_effects_table_is_escaped() -> None:
    run = {"run_id": "run1", "status": "SUCCEEDED", "params": {"horizon": 3, "frequency": "D", "levels": [80]}}
    forecast = [{"date": f"2026-12-0{d}", "mean": 5.0, "lo_80": 4.0, "hi_80": 6.0} for d in (1, 2, 3)]
    result = {
        "sku": SKU,
        "demand_class": "smooth",
        "method": "global_lgbm",
        "forecast": forecast,
        "metrics": {},
        "drivers_used": ["promo", "holiday"],
        "effects": [{"name": "promo", "units": 4.5, "share": 0.3}, {"name": "event:<x>", "units": -1.0, "share": 0.05}],
        "warnings": [{"code": "no_future_values", "message": "price: carried <forward>"}],
    }
    history = [{"date": f"2026-11-{d:02d}", "quantity": 3} for d in range(1, 31)]
    shades = {
        SKU: [
            Shade(D(2026, 11, 3), D(2026, 11, 5), "promotion", "promo"),
            Shade(D(2026, 12, 2), D(2026, 12, 2), "holiday", "X"),
        ]
    }
    page = build_report(run, [result], {SKU: history}, [SKU], shades=shades)
    assert len(re.findall(r'<rect class="shade shade-promotion"', page)) == 1
    assert len(re.findall(r'<rect class="shade shade-holiday"', page)) == 1
    assert 'class="shade-legend"' in page and ">promotion</text>" in page
    assert "drivers used: promo, holiday" in page
    assert (
        "<td>event:&lt;x&gt;</td><td>-1</td><td>5.0%</td>" in page
        and "<td>promo</td><td>4.5</td><td>30.0%</td>" in page
    )
    assert "no_future_values: price: carried &lt;forward&gt;" in page
    plain = build_report(run, [{**result, "drivers_used": [], "effects": [], "warnings": []}], {SKU: history}, [SKU])
    assert "shade" not in plain and "drivers used" not in plain
