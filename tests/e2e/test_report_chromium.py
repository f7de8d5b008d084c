"""The `skucast` CLI end to end (login, upload, run --wait, report), then the HTML report opened in
headless Chromium with no network: the SVG charts must be in the rendered DOM and on the screenshot.

Chromium is required (Makefile `test` installs Debian's package): without it this test fails.
The screenshot is kept in artifacts/report.png for CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from bench.chromium import CHROMIUM_ARGS
from skucast_local.sample_data import generate
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

pytestmark = pytest.mark.e2e
ARTIFACTS = ROOT / "artifacts"
WIDTH, HEIGHT = 1200, 2600
FORECAST_BLUE = (0x19, 0x71, 0xC2)  # the forecast line and band colour in report.py
HISTORY_GREY = (0x49, 0x50, 0x57)


def skucast(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skucast_client", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed (make test installs Debian's chromium package)"
    flags = [
        "--headless", *CHROMIUM_ARGS, "--hide-scrollbars",
        f"--user-data-dir={profile}",
        # no network at all: every host resolves to nothing and every fetch goes to a dead proxy
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    ]  # fmt: skip
    return subprocess.run([binary, *flags, *args], capture_output=True, timeout=120, check=False)


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA PNG -> (h, w, channels) array (enough of PNG for Chromium's screenshots)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        filt, line = int(raw[y, 0]), raw[y, 1:].astype(np.int64)
        if filt == 0:
            row = line
        elif filt == 1:  # Sub: running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif filt == 2:  # Up
            row = (line + prev) % 256
        else:  # Average / Paeth: sequential within the row
            row = line.copy()
            for i in range(row.size):
                a = int(row[i - bpp]) if i >= bpp else 0
                b, c = int(prev[i]), int(prev[i - bpp]) if i >= bpp else 0
                if filt == 3:
                    row[i] = (row[i] + (a + b) // 2) % 256
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
        out[y], prev = row, row
    return out.reshape(height, width, bpp)[:, :, :3]


def near(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 10) -> int:
    return int((np.abs(image.astype(int) - np.array(colour)).max(axis=2) <= tolerance).sum())


@pytest.fixture(scope="module")
def report(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Drive the CLI: login, upload a CSV, run --wait, report. Returns the HTML report's path."""
    tmp = tmp_path_factory.mktemp("cli")
    tenant = Tenant.sign_up(stack, tier="enterprise")
    env = {**os.environ, "SKUCAST_CONFIG": str(tmp / "config.json"), "SKUCAST_API_URL": stack.api}
    env.pop("SKUCAST_API_KEY", None)

    done = skucast(env, "login", "--email", tenant.email, "--password-stdin", stdin=tenant.password + "\n")
    assert done.returncode == 0, done.stderr
    assert oct((tmp / "config.json").stat().st_mode & 0o777) == "0o600"
    assert tenant.password not in (tmp / "config.json").read_text()

    csv = tmp / "demand.csv"
    generate(24, seed=5).frame.to_csv(csv, index=False, date_format="%Y-%m-%d")
    done = skucast(env, "upload", str(csv), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCEEDED"

    done = skucast(env, "run", "--horizon", "21", "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "SUCCEEDED" and run["progress"]["skus_done"] == 24

    done = skucast(env, "status", run["run_id"])
    assert done.returncode == 0 and "SUCCEEDED" in done.stdout
    done = skucast(env, "status", "run_nope")
    assert done.returncode == 1 and "404" in done.stderr
    out = tmp / "forecasts.parquet"
    done = skucast(env, "export", run["run_id"], "--format", "parquet", "-o", str(out))
    assert done.returncode == 0 and out.read_bytes()[:4] == b"PAR1", done.stderr

    path = tmp / "report.html"
    done = skucast(env, "report", run["run_id"], "-o", str(path), "--worst", "4", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["charted"]) == 4
    return path


def test_the_report_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "src=" not in page and "url(" not in page
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"] * page.count("xmlns=")


def test_the_report_renders_its_charts_in_headless_chromium_without_network(report: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode()
    assert html.count('class="forecast-chart"') == 4
    for kind in ("history", "forecast", "band band-80", "band band-95"):
        paths = re.findall(rf'<path class="{kind}" d="(M[^"]+)"', html)
        assert len(paths) == 4, kind
        assert all(len(re.findall(r"[ML]", d)) >= 15 for d in paths), kind  # real polylines
    assert len(re.findall(r'<rect class="bar"', html)) >= 2

    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report.png"
    png.unlink(missing_ok=True)
    size = f"--window-size={WIDTH},{HEIGHT}"
    shot = chromium(tmp_path / "profile-shot", f"--screenshot={png}", size, report.as_uri())
    assert shot.returncode == 0 and png.exists(), shot.stderr.decode(errors="replace")[-2000:]
    image = decode_png(png.read_bytes())
    assert image.shape == (HEIGHT, WIDTH, 3)
    background = (image.astype(int) - np.array([0xF8, 0xF9, 0xFA])).__abs__().max(axis=2) > 6
    assert background.mean() > 0.2, "the page is nearly blank"
    charts = image[image.shape[0] // 2 :]  # the charts sit below the summary and the tables
    rgb = charts.astype(int)
    assert ((rgb[:, :, 2] - rgb[:, :, 0]) > 20).sum() > 10_000, "no interval bands drawn"  # translucent blue
    assert near(charts, FORECAST_BLUE) > 300, "no forecast lines drawn"
    assert near(charts, HISTORY_GREY, tolerance=30) > 2000, "no history lines drawn"
