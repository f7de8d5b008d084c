"""Test and demo controls of the local stack, on their own port (never part of the API).

GET  /describe                 what is served (routes, subscriptions, resources)
GET  /stats                    delivery and invocation counters
GET  /containers               live container pids per function
POST /schedules/<name>/fire    fire a schedule now
POST /switches                 {"duplicate_deliveries": bool}: deliver every SQS batch twice;
                               {"failing_functions": [name, ...]}: every invocation of these fails
                               (an Unhandled error, the function unrun) until switched back to []
POST /functions/<name>/kill    kill the function's containers (mid-invocation, as a crash would)
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skucast_local.stack import LocalStack

Answer = tuple[int, Any]


def _routes(stack: LocalStack) -> dict[tuple[str, str], Callable[..., Answer]]:
    def fire(name: str, body: dict[str, Any]) -> Answer:
        if name not in stack.schedules.schedules:
            return 404, {"error": f"no schedule {name}"}
        outcome = stack.schedules.fire(name)
        return (200 if outcome.ok else 500), vars(outcome)

    def switches(body: dict[str, Any]) -> Answer:
        failing = body.get("failing_functions", [])
        if not isinstance(failing, list) or not set(failing) <= set(stack.pools):
            return 400, {"error": f"failing_functions: a list of {sorted(stack.pools)}"}
        if "duplicate_deliveries" in body:
            stack.switches.duplicate_deliveries = bool(body["duplicate_deliveries"])
        if "failing_functions" in body:
            stack.switches.failing_functions = set(failing)
        s = stack.switches
        return 200, {"duplicate_deliveries": s.duplicate_deliveries, "failing_functions": sorted(s.failing_functions)}

    def kill(name: str, body: dict[str, Any]) -> Answer:
        pool = stack.pools.get(name)
        if pool is None:
            return 404, {"error": f"no function {name}"}
        pids = pool.processes()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return 200, {"killed": pids}

    return {
        ("GET", "/describe"): lambda body: (200, stack.describe()),
        ("GET", "/stats"): lambda body: (200, stack.stats.snapshot()),
        ("GET", "/containers"): lambda body: (200, {n: p.processes() for n, p in stack.pools.items()}),
        ("POST", "/schedules/([^/]+)/fire"): fire,
        ("POST", "/switches"): switches,
        ("POST", "/functions/([^/]+)/kill"): kill,
    }


def serve_control(stack: LocalStack, host: str, port: int) -> ThreadingHTTPServer:
    routes = _routes(stack)

    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            status, answer = 404, {"error": "unknown control route"}
            for (method, pattern), action in routes.items():
                m = re.fullmatch(pattern, self.path)
                if m and method == self.command:
                    status, answer = action(*m.groups(), body)
                    break
            data = json.dumps(answer, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server
