"""Tests share helpers through support modules (tests/support, tests/integration/pipeline.py,
tests/e2e/routes.py, conftest.py), never by importing another test module or a private name of
the local stack: a test module can then be changed or removed without breaking its neighbours."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def _violations(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        parts = node.module.split(".")
        if parts[0] == "tests" and parts[-1].startswith("test_"):
            found.append(f"{where}:{node.lineno} imports the test module {node.module}")
        if parts[0] == "skucast_local":
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private:
                found.append(f"{where}:{node.lineno} imports private {private} of {node.module}")
    return found


def test_given_every_test_file_then_none_imports_another_test_module_or_a_private_of_the_local_stack() -> None:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        found += _violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_check_sees_both_kinds_of_import() -> None:
    source = "from tests.integration.test_runs import RUN\nfrom skucast_local.pumps import _record, ok\n"
    assert len(_violations(source, "x.py")) == 2
    assert _violations("from tests.integration.pipeline import RUN\nfrom skucast_local.pumps import ok\n", "x") == []

