"""The CLI's credentials file and exit codes, and the report's HTML (offline, charts present)."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from skucast_client import cli
from skucast_client.report import build_report, choose_skus, group_accuracy, history_at, worst_fits

from tests.unit.client.fake_api import Recorder, cli_against, problem, result

DATES = ["2025-03-01", "2025-03-02", "2025-03-03"]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    return cli_against(Recorder(), monkeypatch, tmp_path / "cfg" / "config.json")


def test_login_stores_tokens_not_the_password_in_a_0600_file(
    api: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add("POST", "/api/auth/login", httpx.Response(200, json={"access_token": "a1", "refresh_token": "r1"}))
    api.add(
        "GET",
        "/api/auth/me",
        httpx.Response(200, json={"user_id": "u", "email": "me@x.example", "client_id": "c", "role": "admin"}),
    )
    monkeypatch.setenv("SKUCAST_PASSWORD", "secret pw")
    assert cli.main(["login", "--api", "http://api.test", "--email", "me@x.example"]) == 0
    path = tmp_path / "cfg" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = json.loads(path.read_text())
    assert config == {
        "api_url": "http://api.test",
        "email": "me@x.example",
        "access_token": "a1",
        "refresh_token": "r1",
    }
    assert "secret pw" not in path.read_text()
    assert "logged in" in capsys.readouterr().out


def test_rotated_tokens_are_written_back(api: Recorder, tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.json"
    cli.save_config(path, {"api_url": "http://api.test", "access_token": "old", "refresh_token": "r1"})
    api.add(
        "GET",
        "/api/v1/forecast/methods",
        problem(401, "Unauthorized"),
        httpx.Response(200, json={"items": []}),
    )
    api.add("POST", "/api/auth/refresh", httpx.Response(200, json={"access_token": "a2", "refresh_token": "r2"}))
    assert cli.main(["methods", "--json"]) == 0
    assert json.loads(path.read_text())["refresh_token"] == "r2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_exit_codes(api: Recorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "r1"]) == 2  # not logged in
    assert "skucast login" in capsys.readouterr().err
    cli.save_config(tmp_path / "cfg" / "config.json", {"api_url": "http://api.test", "api_key": "k"})
    api.add("GET", "/api/v1/forecast/runs/nope", problem(404, "Not Found", "No such run."))
    assert cli.main(["status", "nope", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["exit_code"] == 1 and out["problem"]["title"] == "Not Found"
    run = {
        "run_id": "r1",
        "status": "PARTIAL",
        "trigger": "api",
        "params": {},
        "created_at": "x",
        "progress": {"skus_total": 2, "skus_done": 1, "skus_failed": 1},
    }
    api.add("POST", "/api/v1/forecast/runs", httpx.Response(202, json={**run, "status": "QUEUED"}))
    api.add("GET", "/api/v1/forecast/runs/r1", httpx.Response(200, json=run))
    assert cli.main(["run", "--horizon", "7", "--wait", "--no-progress"]) == 3
    assert cli.main(["status", "r1"]) == 0
    assert cli.main(["upload", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit) as usage:
        cli.main(["run"])  # --horizon is required
    assert usage.value.code == 2

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api.add("GET", "/api/v1/forecast/methods", refuse)
    assert cli.main(["methods"]) == 4


# ---------------------------------------------------------------- report
def _results() -> list[dict[str, Any]]:
    good = result("GOOD", DATES)
    bad = result("BAD", DATES, method="croston_sba", demand_class="lumpy")
    bad["metrics"] = {**bad["metrics"], "mase": 3.5, "wape": 0.9}
    no_backtest = result("NEW", DATES, method="naive", demand_class="new")
    no_backtest["metrics"] = {}
    failed: dict[str, Any] = {
        "sku": "ERR",
        "demand_class": None,
        "method": None,
        "forecast": [],
        "metrics": {},
        "error": {"code": "batch_failed", "message": "failed <every> retry"},
    }
    return [good, bad, no_backtest, failed]


def test_worst_fits_rank_by_mase_and_skip_skus_without_backtest_or_forecast() -> None:
    assert worst_fits(_results(), 5) == ["BAD", "GOOD"]
    assert choose_skus(_results(), ["NEW", "NEW"]) == ["NEW"]


def test_group_accuracy_pools_wape_from_per_sku_sums() -> None:
    rows = {r["demand_class"]: r for r in group_accuracy(_results(), "demand_class")}
    assert rows["smooth"]["skus"] == 1 and rows["smooth"]["wape"] == pytest.approx(0.2)
    assert rows["lumpy"]["median_mase"] == 3.5
    assert rows["smooth"]["coverage_80"] == pytest.approx(0.8)
    assert list(rows) == ["smooth", "lumpy", "new"]  # contract order of classes


def test_history_fills_gaps_and_sums_to_the_run_frequency() -> None:
    points = [
        {"date": "2025-03-03", "quantity": 2},
        {"date": "2025-03-05", "quantity": 3},
        {"date": "2025-03-11", "quantity": 1},
    ]
    daily = history_at(points, "D", until=dt.date(2025, 3, 13))
    assert len(daily) == 11 and daily[1] == (dt.date(2025, 3, 4), 0.0) and daily[-1][1] == 0.0
    assert history_at(points, "W") == [(dt.date(2025, 3, 3), 5.0), (dt.date(2025, 3, 10), 1.0)]


def test_report_is_self_contained_escaped_and_charts_every_chosen_sku() -> None:
    run = {
        "run_id": "run1",
        "name": "<demo>",
        "status": "PARTIAL",
        "trigger": "api",
        "params": {"horizon": 3, "frequency": "D", "levels": [80, 95]},
        "progress": {"skus_total": 4, "skus_done": 3, "skus_failed": 1},
        "summary": {
            "by_class": {"smooth": 1, "lumpy": 1, "new": 1},
            "by_method": {"ets_level": 1},
            "metrics": {"mase": 1.1, "wape": 0.3, "n_points": 14, "coverage_80": 0.8},
        },
    }
    history = [{"date": f"2025-02-{d:02d}", "quantity": d % 5} for d in range(1, 29)]
    page = build_report(run, _results(), {"BAD": history, "GOOD": history}, ["BAD", "GOOD", "GONE"])
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "src=" not in page and "@import" not in page and "<link" not in page
    assert "&lt;demo&gt;" in page and "failed &lt;every&gt; retry" in page
    assert len(re.findall(r'<svg class="forecast-chart"', page)) == 2
    assert len(re.findall(r'<path class="band band-95"', page)) == 2
    assert len(re.findall(r'<path class="history" d="M', page)) == 2
    assert len(re.findall(r'<path class="forecast" d="M', page)) == 2
    assert len(re.findall(r'<rect class="bar"', page)) == 4  # 3 classes + 1 method
    assert "not in this run" in page  # GONE


@pytest.mark.parametrize("top", [0.3, 1.0, 17.6, 310.0, 12_345.0])
def test_the_y_axis_always_reaches_the_largest_value(top: float) -> None:
    from skucast_client.report import _nice_ticks

    ticks = _nice_ticks(0.0, top)
    assert ticks[0] <= 0.0 and ticks[-1] >= top and 3 <= len(ticks) <= 12
