"""The web console's files, as the local gateway serves them at `/` (CloudFront does it on AWS).

Every GET or HEAD of a path outside `/api` is a file of `console/dist` when there is one, else
`index.html`, so the app's own router handles a deep link such as `/skus/A%20B` (the SPA history
fallback, as CloudFront's 403/404 → /index.html). A missing file under `/assets/` stays a 404:
serving the HTML page as a script would hide a broken build. Without a build, a 503 page says how
to make one.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

API_PREFIX = "/api"
# Vite names what it puts under assets/ by content hash: a changed file is a new URL.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # index.html and unhashed files: always asked again (ETag-less: cheap locally)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]
NOT_BUILT = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>skucast console not built</title>"
    "<h1>The console is not built</h1><p>Run <code>make console</code> (or <code>make up</code>, "
    "which builds it) in the repository, then reload this page. The API is at <code>/api</code>.</p>"
)


@dataclass
class StaticReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_console_path(raw_path: str) -> bool:
    """True for a path the console answers: anything not the API's (`/api` and below)."""
    path = urlsplit(raw_path).path
    return not (path == API_PREFIX or path.startswith(API_PREFIX + "/"))


class ConsoleFiles:
    def __init__(self, dist: Path) -> None:
        self.dist = dist

    def reply(self, raw_path: str) -> StaticReply:
        root = self.dist.resolve()
        index = root / "index.html"
        if not index.is_file():
            return _reply(503, NOT_BUILT.encode(), "text/html; charset=utf-8", "no-store")
        path = unquote(urlsplit(raw_path).path, errors="replace")
        if "\x00" in path or "\\" in path:
            return _not_found()
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root):  # `..`, encoded or not, or a symlink out of dist
            return _not_found()
        if target.is_file():
            cache = IMMUTABLE if target.parent == root / "assets" else REVALIDATE
            return _reply(200, target.read_bytes(), _content_type(target), cache)
        if target.is_relative_to(root / "assets"):
            return _not_found()
        return _reply(200, index.read_bytes(), TYPES[".html"], REVALIDATE)


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _reply(status: int, body: bytes, content_type: str, cache: str) -> StaticReply:
    headers = [("Content-Type", content_type), ("Cache-Control", cache), *SECURITY_HEADERS]
    return StaticReply(status, headers, body)


def _not_found() -> StaticReply:
    return _reply(404, b"Not found\n", "text/plain; charset=utf-8", "no-store")
