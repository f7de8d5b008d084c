"""Which finished runs join the scoring index, and the dates that can meet their forecast."""

from __future__ import annotations

from skucast.records import RunRecord, RunStatus
from skucast.services.scoring import index_actions, scoring_entry


def _run(frequency: str = "D", horizon: int = 28, as_of: str | None = "2024-04-29") -> RunRecord:
    params = {"frequency": frequency, "horizon": horizon}
    return RunRecord("run_1", RunStatus.RUNNING, "2024-04-30T00:00:00Z", params=params, result_shards=2, as_of=as_of)


def test_given_a_run_finishing_then_only_succeeded_and_partial_runs_are_indexed() -> None:
    for status in RunStatus:
        actions = index_actions(_run(), status, "cli_1")
        assert bool(actions) == (status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)), status
    [put] = index_actions(_run(), RunStatus.PARTIAL, "cli_1")
    item = put["Put"]["Item"]
    assert item["pk"].startswith("CLIENT#cli_1#") and item["run_id"] == "run_1" and item["result_shards"] == 2


def test_given_a_runs_origin_then_its_window_covers_its_forecast_and_without_one_any_date() -> None:
    daily = scoring_entry(_run())
    assert daily.window_from == "2024-04-30" and daily.window_to >= "2024-05-27"
    monthly = scoring_entry(_run("M", 3))
    assert monthly.window_from == "2024-04-30" and monthly.window_to >= "2024-07-31"
    anywhere = scoring_entry(_run(as_of=None))
    assert (anywhere.window_from, anywhere.window_to) == ("0001-01-01", "9999-12-31")
