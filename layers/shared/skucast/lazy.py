"""Names a package exports from its submodules, imported on first use (PEP 562).

A package whose heavy submodules (pyarrow, statsforecast) only some functions need keeps its
public names in one place while a light caller never pays for the heavy import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` for `package`: each name in `names` from its submodule."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    return __getattr__
