"""Writes the methods of every resource path of template.yaml for MethodNotAllowedFunction.

That function answers, through each resource's ANY method, the methods the resource does not
define (405 with `Allow`). It is deployed alone and cannot read the template, so the table is
generated here (`make allowed-methods`) and committed beside its handler; a test fails when it
drifts from the template.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skucast_local import generated
from skucast_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "functions" / "method_not_allowed" / "method_not_allowed" / "allowed_methods.json"


def allowed_methods(template: Template) -> dict[str, list[str]]:
    """Resource path -> its methods (the template's operations; ANY methods are not operations)."""
    table: dict[str, set[str]] = {}
    for route in template.routes:
        table.setdefault(route.path, set()).add(route.method)
    return {path: sorted(methods) for path, methods in sorted(table.items())}


def render(template: Template) -> str:
    return json.dumps(allowed_methods(template), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "Generate MethodNotAllowedFunction's table of methods.", OUTPUT, render)


if __name__ == "__main__":
    sys.exit(main())
