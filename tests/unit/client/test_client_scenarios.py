"""The client's what-if runs and comparisons against a scripted API: what is sent, the compare
DataFrame over every page, and the CLI verbs (`run --drivers`, `what-if`, `compare`)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from skucast_client import cli

from tests.unit.client.fake_api import Recorder

RUNS = "/api/v1/forecast/runs"
COMPARE = f"{RUNS}/run_2/compare"
RUN = {"run_id": "run_2", "status": "QUEUED", "trigger": "api", "params": {}, "created_at": "2026-12-06T00:00:00Z"}


def _pages(request: httpx.Request) -> httpx.Response:
    """Two pages: the cursor of the first brings the second."""
    assert request.url.params.get("to", "run_1") == "run_1"  # default: the scenario's base
    totals = {"run": 30.0, "to": 25.0, "delta": 5.0, "delta_pct": 20.0}
    if "cursor" not in request.url.params:
        items = [{"sku": "B é", "run_total": 20.0, "to_total": 14.0, "delta": 6.0, "delta_pct": 100 * 6 / 14}]
        return httpx.Response(200, json={"run_id": "run_2", "to": "run_1", "totals": totals, "items": items,
                                         "next_cursor": "c1"})  # fmt: skip
    assert request.url.params["cursor"] == "c1"
    items = [
        {"sku": 'A "x"', "run_total": 10.0, "to_total": 11.0, "delta": -1.0, "delta_pct": -100 / 11},
        {"sku": "Z", "run_total": 0.0, "to_total": 0.0, "delta": 0.0, "delta_pct": None},
    ]
    return httpx.Response(
        200, json={"run_id": "run_2", "to": "run_1", "totals": totals, "items": items, "next_cursor": None}
    )


def test_what_if_sends_the_scenario_alone_with_dates_as_text() -> None:
    api = Recorder()
    api.add("POST", RUNS, httpx.Response(202, json=RUN))
    client = api.client()
    change = {"driver": "price", "start": dt.date(2026, 12, 7), "end": "2026-12-31", "multiply": 0.9}
    client.what_if("run_1", [change], [{"name": "launch", "dates": [dt.date(2026, 12, 10)]}], name="cut")
    [sent] = api.sent("POST", RUNS)
    assert json.loads(sent.content) == {
        "scenario": {
            "base_run_id": "run_1",
            "changes": [{"driver": "price", "start": "2026-12-07", "end": "2026-12-31", "multiply": 0.9}],
            "events": [{"name": "launch", "dates": ["2026-12-10"]}],
        },
        "name": "cut",
    }  # no horizon, frequency or levels: a scenario takes its base run's
    assert sent.headers["Idempotency-Key"]
    client.create_run(scenario={"base_run_id": "run_1"})
    assert json.loads(api.sent("POST", RUNS)[1].content)["scenario"]["changes"] == []
    client.create_run(14, drivers=["price", "promo"])
    assert json.loads(api.sent("POST", RUNS)[2].content)["drivers"] == ["price", "promo"]
    with pytest.raises(TypeError, match="horizon"):
        client.create_run()


def test_compare_is_every_page_as_a_frame_with_the_totals() -> None:
    api = Recorder()
    api.add("GET", COMPARE, _pages)
    frame = api.client().compare("run_2", "run_1")
    assert list(frame.columns) == ["sku", "run_total", "to_total", "delta", "delta_pct"]
    assert list(frame["sku"]) == ["B é", 'A "x"', "Z"]  # the server's order, names exact
    assert math.isnan(frame["delta_pct"].iloc[2])
    assert frame.attrs["totals"] == {"run": 30.0, "to": 25.0, "delta": 5.0, "delta_pct": 20.0}
    assert frame["delta"].sum() == frame.attrs["totals"]["delta"]
    assert api.client().compare("run_2").attrs["to"] == "run_1"  # the base the server compared with
    assert "to" not in api.requests[-1].url.params


def test_cli_run_drivers_what_if_and_compare(
    cli_api: Recorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli_api.add("POST", RUNS, httpx.Response(202, json=RUN))
    assert cli.main(["run", "--horizon", "7", "--drivers", "price,promo"]) == 0
    assert json.loads(cli_api.sent("POST", RUNS)[0].content)["drivers"] == ["price", "promo"]
    assert cli.main(["run", "--horizon", "7", "--drivers", "none"]) == 0
    assert json.loads(cli_api.sent("POST", RUNS)[1].content)["drivers"] == "none"
    capsys.readouterr()

    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"name": "fair", "dates": ["2026-12-20"]}]), encoding="utf-8")
    argv = ["what-if", "run_1", "--multiply", "price=0.9", "--set", "promo=1", "--start", "2026-12-07"]
    assert cli.main([*argv, "--end", "2026-12-13", "--sku", "A", "--events", str(events)]) == 0
    body: dict[str, Any] = json.loads(cli_api.sent("POST", RUNS)[2].content)
    assert body["scenario"]["changes"] == [
        {"driver": "promo", "start": "2026-12-07", "end": "2026-12-13", "set": 1.0, "skus": ["A"]},
        {"driver": "price", "start": "2026-12-07", "end": "2026-12-13", "multiply": 0.9, "skus": ["A"]},
    ]
    assert body["scenario"]["events"] == [{"name": "fair", "dates": ["2026-12-20"]}]
    assert capsys.readouterr().out.strip() == "run_2"
    assert cli.main(["what-if", "run_1", "--multiply", "price=0.9"]) == 2  # no period: a usage error
    with pytest.raises(SystemExit) as bad:  # argparse's own usage error
        cli.main(["what-if", "run_1", "--multiply", "price"])
    assert bad.value.code == 2
    capsys.readouterr()

    cli_api.add("GET", COMPARE, _pages)
    assert cli.main(["compare", "run_2", "--to", "run_1"]) == 0
    out = capsys.readouterr().out
    assert "delta +5 (+20.0%) over 3 SKUs" in out and out.index("B é") < out.index('A "x"')
    assert cli.main(["compare", "run_2", "--to", "run_1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    target = tmp_path / "compare.csv"
    assert cli.main(["compare", "run_2", "--to", "run_1", "-o", str(target)]) == 0
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sku,run_total,to_total,delta,delta_pct" and lines[2].startswith('"A ""x""",10.0,11.0,-1.0')


def test_a_scenario_runs_status_names_its_base() -> None:
    from skucast_client.cli import run_text

    run = {**RUN, "base_run_id": "run_1", "scenario": {"base_run_id": "run_1", "changes": [{}, {}], "events": []}}
    assert "what-if of run_1: 2 change(s)" in run_text(run)
    assert "what-if" not in run_text(RUN)
