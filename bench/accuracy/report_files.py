"""Where an accuracy bench leaves its result: bench/out/<stem>.json (the numbers) and
bench/out/<stem>.md (the report, which it also prints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "out"


def write_report(stem: str, res: Any, md: str, out: Path = OUT) -> None:
    """`res` as JSON (dates and the like as text) and `md` beside it under `out`; `md` on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2, default=str))
    (out / f"{stem}.md").write_text(md)
    print(md)
