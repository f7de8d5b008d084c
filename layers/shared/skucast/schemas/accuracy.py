"""Accuracy against actuals (issue #20, items 1-2): GET /runs/{run_id}/accuracy and GET /accuracy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Metrics(BaseModel):
    """Errors are forecast - actual; a metric whose denominator is 0 is null."""

    model_config = ConfigDict(extra="allow")  # coverage_<level> of a run's other levels

    mae: float | None = None
    rmse: float | None = None
    wape: float | None = None
    bias: float | None = Field(default=None, description="mean error: > 0 over-forecast")
    mase: float | None = Field(default=None, description="on the run's own in-sample seasonal-naive MAE")
    coverage_80: float | None = None
    coverage_95: float | None = None


class GroupAccuracy(BaseModel):
    skus_scored: int = 0
    points_scored: int = 0
    metrics: Metrics | None = Field(
        default=None, description="the statistical forecast (`mean`); null until actuals arrive"
    )
    naive: Metrics | None = Field(default=None, description="the seasonal-naive benchmark built from the run's history")
    final: Metrics | None = Field(default=None, description="the adjusted forecast (`final`) as it stands")


class RunAccuracy(GroupAccuracy):
    run_id: str
    actuals_through: str | None = Field(default=None, description="the latest period scored")
    by_class: dict[str, GroupAccuracy] = {}
    by_method: dict[str, GroupAccuracy] = {}


class AccuracyItem(BaseModel):
    period: str = Field(description="the calendar month (YYYY-MM) of the actuals' dates")
    key: str = Field(description="the run id, demand class or method (`by`)")
    points_scored: int = 0
    metrics: Metrics | None = None
    naive: Metrics | None = None
    final: Metrics | None = None


class AccuracyList(BaseModel):
    items: list[AccuracyItem]
    next_cursor: str | None = None
