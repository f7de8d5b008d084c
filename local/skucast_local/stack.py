"""The local stack: emulator + provisioned resources + function containers + gateway + pumps."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skucast_local import emulator as emu
from skucast_local import gateway as gw
from skucast_local import pumps, signing_keys
from skucast_local.console import ConsoleFiles
from skucast_local.containers import FunctionPool, Invocation
from skucast_local.control import serve_control
from skucast_local.template import Template, TemplateError, load

# Function settings (skucast.settings) the template leaves at their default, which the stack's own
# environment may set for every function: tests use them to reach size limits with small data.
TUNABLE_SETTINGS = (
    "SKUCAST_EXPORT_SYNC_MAX_SKUS",
    "SKUCAST_RUN_PROGRESS_TIMEOUT_SECONDS",
    "SKUCAST_TRAINING_SHARD_SKUS",
    # Test-only: the training fault hook (settings.test_fail_training_sku).
    "SKUCAST_TEST_FAIL_TRAINING_SKU",
)


class StackError(Exception):
    """The stack cannot start (one line, names the problem)."""


@dataclass(frozen=True)
class StackConfig:
    root: Path
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 5000
    control_port: int = 3001
    service_key: str | None = None
    workers: int = max(1, os.cpu_count() or 1)
    state_dir: Path | None = None
    tuned: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, root: Path, env: dict[str, str] | None = None) -> StackConfig:
        env = dict(os.environ if env is None else env)

        def port(name: str, default: int) -> int:
            raw = env.get(name, "") or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{name}={raw!r} is not a TCP port number")
            return int(raw)

        api = port("SKUCAST_API_PORT", 3000)
        workers = env.get("SKUCAST_LOCAL_WORKERS", "")
        if workers and not workers.isdigit():
            raise StackError(f"SKUCAST_LOCAL_WORKERS={workers!r} is not a number")
        return cls(
            root=root,
            api_port=api,
            aws_port=port("SKUCAST_AWS_PORT", 5000),
            control_port=port("SKUCAST_CONTROL_PORT", api + 1),
            service_key=env.get("SKUCAST_SERVICE_KEY") or None,
            workers=int(workers) if workers else max(1, os.cpu_count() or 1),
            state_dir=Path(env["SKUCAST_LOCAL_STATE"]) if env.get("SKUCAST_LOCAL_STATE") else root / ".local",
            tuned=tuple((name, env[name]) for name in TUNABLE_SETTINGS if env.get(name)),
        )


def _check_port(host: str, port: int, name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise StackError(f"port {port} ({name}) on {host} is already in use; set {name} to a free port") from None


class LocalStack:
    API_CONCURRENCY = 4  # warm containers per API function (the authorizer, route handlers)

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.stats = pumps.Stats()
        self.switches = pumps.Settings()
        self.pools: dict[str, FunctionPool] = {}
        self._closers: list[Any] = []

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        c = self.config
        for port, name in (
            (c.api_port, "SKUCAST_API_PORT"),
            (c.aws_port, "SKUCAST_AWS_PORT"),
            (c.control_port, "SKUCAST_CONTROL_PORT"),
        ):
            _check_port(c.host, port, name)
        try:
            self.template = load(c.root / "template.yaml")
        except TemplateError as exc:
            raise StackError(str(exc)) from None
        self.layer_paths = self._layer_paths(self.template)
        self.emulator = emu.Emulator(c.host, c.aws_port)
        self.emulator.start()
        self._closers.append(self.emulator.stop)
        try:
            self.provisioned = emu.provision(
                self.emulator.client,
                self.emulator.endpoint,
                self.template,
                c.service_key,
                {signing_keys.LOGICAL_ID: signing_keys.keyring_json(c.state_dir or c.root / ".local")},
                # The workers' pool here is the local worker processes, as WorkerConcurrency is on AWS.
                parameters={"WorkerConcurrency": str(c.workers)},
            )
        except TemplateError as exc:
            raise StackError(str(exc)) from None
        self._check_settings()
        self._start_pools()
        self._start_pumps()
        self.gateway = gw.Gateway(
            self.template,
            emu.Resolver(self.template, self.provisioned.resources),
            self.invoke,
            gw.UsagePlans(self.emulator.client("apigateway")),
            ConsoleFiles(self.console_dist),
        )
        server = gw.serve(self.gateway, c.host, c.api_port)
        self._closers.append(server.shutdown)
        control = serve_control(self, c.host, c.control_port)
        self._closers.append(control.shutdown)

    @property
    def console_dist(self) -> Path:
        return self.config.root / "console" / "dist"

    def _layer_paths(self, t: Template) -> list[str]:
        paths = []
        for res in t.resources("AWS::Serverless::LayerVersion").values():
            paths.append(str(self.config.root / str(res["Properties"]["ContentUri"])))
        return paths

    def function_env(self, name: str) -> dict[str, str]:
        fn = self.template.functions[name]
        return {
            **emu.LOCAL_CREDENTIALS,
            **self.provisioned.environments[name],
            "AWS_ENDPOINT_URL": self.provisioned.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "SKUCAST_LOCAL_STATE": str(self.config.state_dir),
            **dict(self.config.tuned),
        }

    def _check_settings(self) -> None:
        """Every function's environment must satisfy the shared settings model."""
        sys.path[:0] = [p for p in self.layer_paths if p not in sys.path]
        from skucast.settings import ConfigurationError, load_settings

        for name in self.template.functions:
            try:
                load_settings(self.function_env(name))
            except ConfigurationError as exc:
                raise StackError(f"template.yaml: function {name}: {exc}") from None

    def _start_pools(self) -> None:
        assert self.config.state_dir is not None
        logs = self.config.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        workers = {s.function for s in self.template.sqs} | {n.function for n in self.template.s3}
        for name, fn in self.template.functions.items():
            # A zip function's layers sit beside its code on the path; an image function's code is its
            # FUNCTION_DIR build arg, and the one Dockerfile copies the same layer code beside it into
            # the task root (tests/infra checks), hence the same path.
            paths = [str(self.config.root / fn.code_uri), *self.layer_paths]
            concurrency = self.config.workers if name in workers else self.API_CONCURRENCY
            self.pools[name] = FunctionPool(
                fn, self.config.root, paths, self.function_env(name), logs / f"{name}.log", concurrency
            )
        self._closers.extend(pool.close for pool in self.pools.values())

    def _start_pumps(self) -> None:
        sqs = self.emulator.client("sqs")
        res = self.provisioned.resources
        started: list[Any] = []
        for sub in self.template.sqs:
            q = res[sub.queue]
            started.append(
                pumps.SqsPump(
                    sqs,
                    sub,
                    q.ref,
                    q.attrs["Arn"],
                    self.invoke,
                    self.pools[sub.function].concurrency,
                    self.stats,
                    self.switches,
                )
            )
        for n in self.template.s3:
            fn = self.template.functions[n.function]
            dlq = res[fn.dead_letter_queue].ref if fn.dead_letter_queue else None
            started.append(pumps.S3Pump(sqs, fn, self.provisioned.s3_queues[n.function], dlq, self.invoke, self.stats))
        self.schedules = pumps.SchedulePump(self.template.schedules, self.invoke, self.stats)
        started.append(self.schedules)
        for p in started:
            p.start()
            self._closers.append(p.stop)

    # ------------------------------------------------------------------ use
    def invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        started = time.monotonic()
        if function in self.switches.failing_functions:  # a fault a test forces: the function errors
            outcome = Invocation(ok=False, error_type="InjectedFault", error_message=f"{function} forced to fail")
        else:
            outcome = self.pools[function].invoke(event)
        self.stats.add(f"invoke.{function}.{'ok' if outcome.ok else 'error'}")
        if event.get("httpMethod") and "type" not in event:
            status = outcome.result.get("statusCode") if outcome.ok and isinstance(outcome.result, dict) else "ERR"
            elapsed_ms = (time.monotonic() - started) * 1000
            print(f"{event['httpMethod']} {event['path']} -> {status} ({elapsed_ms:.0f} ms)", flush=True)
        return outcome

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {
            "api": f"http://{c.host}:{c.api_port}",
            "console": f"http://{c.host}:{c.api_port}/",
            "console_built": (self.console_dist / "index.html").is_file(),
            "aws": self.provisioned.endpoint,
            "control": f"http://{c.host}:{c.control_port}",
            "routes": sorted(f"{r.method} {r.path}" for r in [*self.template.routes, *self.template.any_routes]),
            "sqs": sorted(f"{s.queue} -> {s.function}" for s in self.template.sqs),
            "s3": sorted(f"{n.bucket} {','.join(n.events)} {n.prefix}* -> {n.function}" for n in self.template.s3),
            "schedules": sorted(f"{s.name} {s.expression}" for s in self.template.schedules),
            "resources": {k: v.ref for k, v in self.provisioned.resources.items()},
        }

    def stop(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # shutting down: report, keep closing the rest
                print(f"shutdown: {exc}", file=sys.stderr)
        self._closers.clear()
