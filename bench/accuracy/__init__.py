"""The accuracy benches, each run as `python -m bench.accuracy[.<bench>]`: with or without the
Makefile's PYTHONPATH, the shared layer and the local stack's package are on the path from here,
before any bench module imports them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "layers" / "shared", ROOT / "local"):  # as the Makefile's PYTHONPATH
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
