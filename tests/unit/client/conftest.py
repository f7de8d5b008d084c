"""Fixtures the client's unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest
from skucast_client import cli

from tests.unit.client.fake_api import Recorder, cli_against


@pytest.fixture
def cli_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    """The CLI against a scripted fake API, configured with an API key."""
    recorder = cli_against(Recorder(), monkeypatch, tmp_path / "config.json")
    cli.save_config(tmp_path / "config.json", {"api_url": "http://api.test", "api_key": "k"})
    return recorder
