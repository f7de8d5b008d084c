"""What every bench entry point shares: the repository on sys.path, and writing its result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The function packages and the shared layer, as the local stack puts them on a container's path.
PATHS = (
    ROOT / "functions" / "forecast_api",
    ROOT / "functions" / "forecast_worker",
    ROOT / "local",
    ROOT / "layers" / "shared",
    ROOT,
)
for _path in PATHS:
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def emit(result: dict[str, Any], out: Path | None) -> None:
    """The result as JSON: into `out` when given (the entry point's report), else on stdout."""
    text = json.dumps(result, indent=2, default=str)
    if out:
        out.write_text(text)
    else:
        print(text)
