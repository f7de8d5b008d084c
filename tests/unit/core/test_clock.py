"""One clock and one timestamp format (skucast/clock.py): ISO 8601 UTC to the second, with `Z`."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from skucast import clock
from tests.conftest import ROOT

CLOCK_FILE = ROOT / "layers" / "shared" / "skucast" / "clock.py"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_given_now_then_it_is_written_in_the_contract_format_and_reads_back() -> None:
    written = clock.now_iso()
    assert STAMP.match(written)
    assert abs(clock.parse_iso(written) - clock.now()) < timedelta(seconds=2)
    ahead = clock.parse_iso(clock.now_iso(90)) - clock.parse_iso(written)
    assert ahead in (timedelta(seconds=90), timedelta(seconds=91))


def test_given_moments_in_other_zones_or_none_then_they_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert clock.iso(datetime(2025, 6, 1, 8, 30, 15, 999999, tzinfo=paris)) == "2025-06-01T06:30:15Z"
    assert clock.iso(datetime(2025, 6, 1, 8, 30, 15)) == "2025-06-01T08:30:15Z"  # naive: taken as UTC
    assert clock.parse_iso("2025-06-01T06:30:15Z") == datetime(2025, 6, 1, 6, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2025-06-01", "2025-06-01T06:30:15", "2025-06-01T06:30:15+00:00", ""])
def test_given_other_text_when_parsed_then_it_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        clock.parse_iso(text)


def test_given_the_code_base_then_only_clock_py_reads_the_wall_clock_or_spells_the_format() -> None:
    """`datetime.now(...)`, `time.time()` and the format literal live in clock.py (ids.py's
    millisecond ids and the local stack's imitations of AWS event times aside)."""
    allowed = {CLOCK_FILE, ROOT / "layers" / "shared" / "skucast" / "ids.py"}
    found = []
    for top in ("layers", "functions"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path in allowed:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value == clock.ISO_FORMAT:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: the timestamp format")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = ast.unparse(node.func.value)
                    if (node.func.attr, owner) in {("now", "datetime"), ("now", "dt.datetime"), ("time", "time")}:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)
