"""Lambda-like execution: each function runs in its own warm worker processes ("containers").

A container is a separate Python process that imports the handler on first use and keeps it warm,
as Lambda does. An invocation that outlives the function's timeout, or whose process dies, is a
failed invocation and its container is replaced (a cold start), so one bad batch never wedges the
stack and killing a worker mid-batch behaves as it does on AWS.
"""

from __future__ import annotations

import importlib
import io
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from skucast_local.template import Function


@dataclass
class Invocation:
    ok: bool
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None


class _Context:
    """The LambdaContext fields handlers and Powertools read."""

    def __init__(self, name: str, memory: int, timeout: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# Lambda runs a function's initialisation (imports, module state) in an INIT phase of its own,
# outside the invocation's timeout. Locally the same: a new container imports its handler first
# and only then counts the function's timeout. A loaded 2-core machine can take many seconds to
# import statsforecast, hence the generous allowance.
INIT_TIMEOUT_SECONDS = 120


def _container_main(conn: Connection, fn: Function, root: str, paths: list[str], env: dict[str, str], log: str) -> None:
    """Body of a container process: import the handler (INIT), then serve invocations."""
    os.environ.update(env)
    sys.path[:0] = paths
    stream = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    sys.stdout = sys.stderr = stream
    module_name, func_name = fn.handler.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # an init error fails every invocation of this container, as on Lambda
        traceback.print_exc(file=stream)
        failure = Invocation(ok=False, error_type="Runtime.ImportModuleError", error_message=str(exc))
        conn.send(failure)
        return
    conn.send(Invocation(ok=True))  # initialised
    while True:
        try:
            event = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        context = _Context(fn.logical_id, fn.memory, fn.timeout)
        try:
            conn.send(Invocation(ok=True, result=handler(event, context)))
        except Exception as exc:  # a handler's exception is the invocation's result, as on Lambda
            buf = io.StringIO()
            traceback.print_exc(file=buf)
            stream.write(buf.getvalue())
            conn.send(Invocation(ok=False, error_type=type(exc).__name__, error_message=str(exc)))


class _Container:
    def __init__(self, ctx: Any, fn: Function, root: Path, paths: list[str], env: dict[str, str], log: Path) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_container_main,
            args=(child, fn, str(root), paths, env, str(log)),
            name=f"lambda-{fn.logical_id}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._initialised = False

    def _await_init(self) -> Invocation | None:
        """None once the handler is imported; else the failed invocation to report."""
        if self._initialised:
            return None
        if not self.conn.poll(INIT_TIMEOUT_SECONDS):
            self.kill()
            return Invocation(ok=False, error_type="Runtime.InitTimeout", error_message="init timed out")
        try:
            ready: Invocation = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            return Invocation(ok=False, error_type="Runtime.ExitError", error_message="the container exited")
        if not ready.ok:
            self.kill()
            return ready
        self._initialised = True
        return None

    def invoke(self, event: Any, timeout: float) -> Invocation:
        failed_init = self._await_init()
        if failed_init:
            return failed_init
        self.conn.send(event)
        if not self.conn.poll(timeout):
            self.kill()
            return Invocation(ok=False, error_type="Timeout", error_message=f"Task timed out after {timeout:.0f} s")
        try:
            answer: Invocation = self.conn.recv()
            return answer
        except (EOFError, OSError):
            self.kill()
            return Invocation(ok=False, error_type="Runtime.ExitError", error_message="the container exited")

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class FunctionPool:
    """Up to `concurrency` warm containers of one function, started on demand."""

    def __init__(self, fn: Function, root: Path, paths: list[str], env: dict[str, str], log: Path, concurrency: int):
        self.fn = fn
        self._args = (fn, root, paths, env, log)
        self._ctx = mp.get_context("spawn")
        self._idle: list[_Container] = []
        self._all: list[_Container] = []
        self._slots = threading.Semaphore(concurrency)
        self._lock = threading.Lock()
        self.concurrency = concurrency

    def invoke(self, event: Any) -> Invocation:
        with self._slots:
            container = self._checkout()
            result = container.invoke(event, self.fn.timeout)
            self._checkin(container)
            return result

    def _checkout(self) -> _Container:
        with self._lock:
            while self._idle:
                container = self._idle.pop()
                if container.alive:
                    return container
                self._all.remove(container)
        container = _Container(self._ctx, *self._args)
        with self._lock:
            self._all.append(container)
        return container

    def _checkin(self, container: _Container) -> None:
        with self._lock:
            if container.alive:
                self._idle.append(container)
            elif container in self._all:
                self._all.remove(container)

    def processes(self) -> list[int]:
        with self._lock:
            return [c.process.pid for c in self._all if c.alive]

    def close(self) -> None:
        with self._lock:
            for container in self._all:
                container.kill()
            self._all.clear()
            self._idle.clear()
