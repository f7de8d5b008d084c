"""The API and ingest functions must not load the forecasting engine (statsforecast): it costs
seconds of cold start and tens of MB that only the worker needs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PATHS = [ROOT / "layers" / "shared", *(ROOT / "functions" / f for f in ("auth", "forecast_api", "ingest", "scheduler"))]


@pytest.mark.parametrize("module", ["forecast_api.app", "auth_api.app", "auth_api.authorizer", "ingest.app"])
def test_given_a_light_function_when_imported_then_statsforecast_is_not_loaded(module: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in PATHS)}
    code = f"import sys, {module}; sys.exit(1 if 'statsforecast' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr or f"{module} imports statsforecast"
