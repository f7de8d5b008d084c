"""The accuracy benches' one way of leaving a result: JSON numbers and the Markdown report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bench.accuracy.report_files import write_report


def test_the_result_is_written_as_json_and_markdown_and_the_report_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"  # not there yet: made
    write_report("accuracy_x", {"wape": 0.25, "cut": dt.date(2026, 1, 5)}, "# Accuracy\n", out)
    assert json.loads((out / "accuracy_x.json").read_text()) == {"wape": 0.25, "cut": "2026-01-05"}
    assert (out / "accuracy_x.md").read_text() == "# Accuracy\n"
    assert capsys.readouterr().out == "# Accuracy\n\n"
