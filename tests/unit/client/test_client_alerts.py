"""Alerts in the client: `alerts()` pages through every alert with the status filter,
`acknowledge_alert`, the settings; the CLI's `alerts`, `ack` and `alert-settings`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from skucast_client import PermissionDeniedError, cli

from tests.unit.client.fake_api import Recorder, problem

ALERTS = "/api/v1/forecast/alerts"
SETTINGS = ALERTS + "/settings"
DEFAULTS = {"wape_threshold": 0.5, "min_points": 28, "shift_periods": 3}


def _alert(n: int, status: str = "open") -> dict[str, Any]:
    return {
        "alert_id": f"alert_{n:020x}",
        "kind": "run_failed",
        "sku": None,
        "run_id": f"run_{n}",
        "created_at": "2026-12-06T17:00:00Z",
        "status": status,
        "detail": {"status": "FAILED"},
        "acknowledged_at": None,
        "acknowledged_by": None,
    }


def test_given_two_pages_of_alerts_then_alerts_returns_every_one_with_the_status_asked() -> None:
    api = Recorder()
    api.add(
        "GET",
        ALERTS,
        httpx.Response(200, json={"items": [_alert(2)], "next_cursor": "c1"}),
        httpx.Response(200, json={"items": [_alert(1)], "next_cursor": None}),
    )
    items = api.client().alerts("open")
    assert [a["run_id"] for a in items] == ["run_2", "run_1"]
    first, second = api.sent("GET", ALERTS)
    assert first.url.params["status"] == "open" and "cursor" not in first.url.params
    assert second.url.params["cursor"] == "c1"


def test_given_an_alert_then_acknowledge_posts_and_a_viewer_gets_the_403() -> None:
    api = Recorder()
    path = f"{ALERTS}/{_alert(1)['alert_id']}/acknowledge"
    acked = {**_alert(1), "status": "acknowledged", "acknowledged_by": "usr_1"}
    api.add("POST", path, httpx.Response(200, json=acked), problem(403, "Forbidden", "Analysts only."))
    client = api.client()
    assert client.acknowledge_alert(_alert(1)["alert_id"]) == acked
    with pytest.raises(PermissionDeniedError):
        client.acknowledge_alert(_alert(1)["alert_id"])


def test_given_settings_then_read_and_replaced() -> None:
    api = Recorder()
    api.add("GET", SETTINGS, httpx.Response(200, json=DEFAULTS))
    api.add("PUT", SETTINGS, lambda request: httpx.Response(200, json=json.loads(request.content)))
    client = api.client()
    assert client.alert_settings() == DEFAULTS
    assert client.set_alert_settings(shift_periods=4) == {"shift_periods": 4}
    [put] = api.sent("PUT", SETTINGS)
    assert json.loads(put.content) == {"shift_periods": 4}


def test_cli_alerts_ack_and_settings(cli_api: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    cli_api.add("GET", ALERTS, httpx.Response(200, json={"items": [_alert(1)], "next_cursor": None}))
    assert cli.main(["alerts", "--status", "open"]) == 0
    out = capsys.readouterr().out
    assert "run_failed" in out and _alert(1)["alert_id"] in out and "run_1" in out

    path = f"{ALERTS}/{_alert(1)['alert_id']}/acknowledge"
    cli_api.add("POST", path, httpx.Response(200, json={**_alert(1), "status": "acknowledged"}))
    assert cli.main(["ack", _alert(1)["alert_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "acknowledged"

    cli_api.add("GET", SETTINGS, httpx.Response(200, json=DEFAULTS))
    cli_api.add("PUT", SETTINGS, lambda request: httpx.Response(200, json=json.loads(request.content)))
    assert cli.main(["alert-settings"]) == 0
    assert "shift_periods: 3" in capsys.readouterr().out and cli_api.sent("PUT", SETTINGS) == []
    assert cli.main(["alert-settings", "--shift-periods", "5"]) == 0  # the others keep their values
    [put] = cli_api.sent("PUT", SETTINGS)
    assert json.loads(put.content) == {**DEFAULTS, "shift_periods": 5}
    assert "shift_periods: 5" in capsys.readouterr().out
