"""`make up` refuses to start with one clear line, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import stack_env


def _run(env: dict[str, str], root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skucast_local", "--root", str(root)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_given_the_api_port_taken_when_starting_then_one_line_names_it(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["SKUCAST_API_PORT"])))
        busy.listen()
        result = _run(env)
    _one_clear_line(result, "already in use", env["SKUCAST_API_PORT"], "SKUCAST_API_PORT")


def _repo_copy(tmp_path: Path, template_text: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for part in ("functions", "layers"):
        os.symlink(ROOT / part, root / part)
    (root / "template.yaml").write_text(template_text)
    return root


def test_given_a_malformed_template_when_starting_then_one_line_names_the_problem(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text().replace("Resources:\n", "Resources:\n  Broken: [unclosed\n", 1)
    result = _run(stack_env(tmp_path), _repo_copy(tmp_path, text))
    _one_clear_line(result, "template.yaml", "invalid YAML")


def test_given_a_missing_environment_variable_when_starting_then_one_line_names_it(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    lines = [line for line in text.splitlines(keepends=True) if "SKUCAST_TABLE_NAME:" not in line]
    result = _run(stack_env(tmp_path), _repo_copy(tmp_path, "".join(lines)))
    _one_clear_line(result, "SKUCAST_TABLE_NAME")


@pytest.mark.parametrize(
    ("remove", "function", "problem"),
    [
        (
            "      ImageConfig:\n        Command: [forecast_worker.app.handler]\n",
            "ForecastWorkerFunction",
            "ImageConfig.Command",
        ),
        ("        FUNCTION_DIR: functions/ingest\n", "IngestFunction", "Metadata.DockerBuildArgs.FUNCTION_DIR"),
    ],
)
def test_given_an_image_function_without_its_handler_or_function_dir_when_starting_then_one_line_names_it(
    tmp_path: Path, remove: str, function: str, problem: str
) -> None:
    text = (ROOT / "template.yaml").read_text()
    assert text.count(remove) == 1
    result = _run(stack_env(tmp_path), _repo_copy(tmp_path, text.replace(remove, "")))
    _one_clear_line(result, "template.yaml", function, problem)


def test_given_a_non_numeric_port_when_starting_then_one_line_names_it(tmp_path: Path) -> None:
    result = _run(stack_env(tmp_path, SKUCAST_AWS_PORT="five-thousand"))
    _one_clear_line(result, "SKUCAST_AWS_PORT")
