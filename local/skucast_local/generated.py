"""Files generated from template.yaml and committed (the OpenAPI document, the 405 table): one
command line for each, `--write` to refresh the file, else the text on stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from skucast_local.template import Template, load

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None, description: str, output: Path, render: Callable[[Template], str]) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--write", action="store_true", help=f"write {output.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    text = render(load(ROOT / "template.yaml"))
    if args.write:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)
    return 0
