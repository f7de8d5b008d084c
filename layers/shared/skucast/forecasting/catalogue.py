"""The methods a user may name, and auto's candidates per class (what GET /methods serves)."""

from __future__ import annotations

from skucast.forecasting.methods import MethodInfo, list_methods
from skucast.forecasting.methods import method_names as _registered


def method_names() -> list[str]:
    return ["auto", *_registered()]


__all__ = ["MethodInfo", "list_methods", "method_names"]
