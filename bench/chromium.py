"""How the benches and the browser tests start Debian's chromium: as root in a container (no
sandbox), without a GPU, and with nothing of its own fetched in the background, so that only the
page under test uses the network and the CPU. Playwright's launch adds `--headless` itself; a
bare `chromium` command line must add it."""

from __future__ import annotations

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
