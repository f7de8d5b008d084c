"""The local API Gateway: template.yaml's routes, authorizer, usage plans and gateway responses.

Each request becomes a real REST API proxy event (payload v1). The authorizer named by the
template runs first; its usageIdentifierKey selects the caller's usage plan (API key source
AUTHORIZER), whose rate and burst a token bucket enforces; then the route's function runs.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from skucast_local.console import ConsoleFiles, is_console_path
from skucast_local.containers import Invocation
from skucast_local.emulator import ACCOUNT, REGION, Resolver
from skucast_local.template import Route, Template

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
DEFAULT_STATUS = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "INVALID_API_KEY": 403,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "BAD_REQUEST_BODY": 400,
    "AUTHORIZER_FAILURE": 500,
    "INTEGRATION_FAILURE": 504,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 502,
}
MESSAGES = {
    "UNAUTHORIZED": "Unauthorized",
    "ACCESS_DENIED": "User is not authorized to access this resource",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "INVALID_API_KEY": "Forbidden",
    "THROTTLED": "Too Many Requests",
    "QUOTA_EXCEEDED": "Limit Exceeded",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "AUTHORIZER_FAILURE": "Internal server error",
    "DEFAULT_5XX": "Internal server error",
}

Invoker = Callable[[str, dict[str, Any]], Invocation]


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> int:
        """0 when a request may pass, else the seconds to wait (Retry-After)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return max(1, math.ceil((1 - self.tokens) / self.rate))


@dataclass
class Plan:
    rate: float | None
    burst: int | None
    quota: int | None
    period_seconds: int


_PERIODS = {"DAY": 86400, "WEEK": 7 * 86400, "MONTH": 30 * 86400}


REFRESH_SECONDS = 0.2


class UsagePlans:
    """API key value -> usage plan, read from the emulated API Gateway (where sign-up puts keys)."""

    def __init__(self, apigateway: Any) -> None:
        self._apigw = apigateway
        self._by_key: dict[str, Plan] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._quota: dict[str, tuple[int, int]] = {}  # key -> (period index, used)
        self._lock = threading.Lock()
        self._refresh_began = -REFRESH_SECONDS  # monotonic time the last refresh began reading

    def _refresh(self) -> None:
        self._refresh_began = time.monotonic()
        by_key: dict[str, Plan] = {}
        for plan in self._apigw.get_usage_plans().get("items", []):
            throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
            p = Plan(
                rate=throttle.get("rateLimit"),
                burst=throttle.get("burstLimit"),
                quota=quota.get("limit"),
                period_seconds=_PERIODS.get(quota.get("period", "DAY"), 86400),
            )
            for key in self._apigw.get_usage_plan_keys(usagePlanId=plan["id"]).get("items", []):
                by_key[key["value"]] = p
        self._by_key = by_key

    def plan(self, key: str) -> Plan | None:
        """The key's plan. An unknown key is looked up again unless a read began after the request
        arrived (a key created since is never refused); at most one read per REFRESH_SECONDS, so
        a flood of made-up keys waits instead of hammering the emulator."""
        arrived = time.monotonic()
        while True:
            with self._lock:
                if key in self._by_key or self._refresh_began >= arrived:
                    return self._by_key.get(key)
                wait = self._refresh_began + REFRESH_SECONDS - time.monotonic()
                if wait <= 0:
                    self._refresh()
                    return self._by_key.get(key)
            time.sleep(wait)

    def admit(self, key: str, plan: Plan) -> tuple[str, int] | None:
        """None when admitted, else (gateway response type, retry-after seconds)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None and plan.rate:
                bucket = self._buckets[key] = TokenBucket(plan.rate, plan.burst or int(plan.rate))
            if plan.quota:
                period = int(time.time()) // plan.period_seconds
                index, used = self._quota.get(key, (period, 0))
                used = used if index == period else 0
                if used >= plan.quota:
                    return "QUOTA_EXCEEDED", plan.period_seconds - int(time.time()) % plan.period_seconds
                self._quota[key] = (period, used + 1)
        wait = bucket.take() if bucket else 0
        return ("THROTTLED", wait) if wait else None


class Gateway:
    def __init__(
        self,
        template: Template,
        resolver: Resolver,
        invoke: Invoker,
        plans: UsagePlans,
        console: ConsoleFiles | None = None,
    ) -> None:
        self.template = template
        self.console = console  # the web console's files at `/` (CloudFront's job on AWS)
        self.routes = [*template.routes, *template.any_routes]
        self.invoke = invoke
        self.plans = plans
        self.stage = resolver.ref("Stage") if "Stage" in resolver.params else "local"
        self.responses = {
            res["Properties"]["ResponseType"]: res["Properties"]
            for res in template.resources("AWS::ApiGateway::GatewayResponse").values()
        }
        self.stage_bucket = self._stage_throttle()

    def _stage_throttle(self) -> TokenBucket | None:
        for api in self.template.resources("AWS::Serverless::Api").values():
            for setting in (api.get("Properties") or {}).get("MethodSettings") or []:
                if "ThrottlingRateLimit" in setting:
                    return TokenBucket(float(setting["ThrottlingRateLimit"]), int(setting["ThrottlingBurstLimit"]))
        return None

    # ------------------------------------------------------------------ routing
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        return match_route(self.routes, method, path)

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str) -> Reply:
        if self.console and method in ("GET", "HEAD") and is_console_path(raw_path):
            static = self.console.reply(raw_path)
            return Reply(static.status, static.headers, static.body)
        request_id = str(uuid.uuid4())
        if len(body) > MAX_BODY:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id)
        if self.stage_bucket and (wait := self.stage_bucket.take()):
            return self.gateway_response("THROTTLED", request_id, retry_after=wait)
        parts = urlsplit(raw_path)
        try:
            found = self.match(method, parts.path)
        except UnicodeDecodeError:  # a path variable whose percent-escapes are not UTF-8
            return self.gateway_response("DEFAULT_4XX", request_id)
        if found is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        route, params = found
        event = self._event(route, method, parts.path, parts.query, headers, body, source_ip, request_id, params)
        if route.authorizer:
            denied = self._authorize(route, event, request_id)
            if denied:
                return denied
        outcome = self.invoke(route.function, event)
        return self._integration_reply(outcome, request_id)

    # ------------------------------------------------------------------ events
    def _event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
        params: dict[str, str],
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for k, v in headers:
            multi_headers.setdefault(k, []).append(v)
        multi_query: dict[str, list[str]] = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(k, []).append(v)
        text, is_b64 = _body(body)
        now = datetime.now(UTC)
        user_agent = next((v for k, v in headers if k.lower() == "user-agent"), "")
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "domainName": "127.0.0.1",
                "domainPrefix": "127",
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": user_agent,
                    "apiKey": None,
                    "apiKeyId": None,
                },
            },
            "body": text,
            "isBase64Encoded": is_b64,
        }

    def _authorize(self, route: Route, event: dict[str, Any], request_id: str) -> Reply | None:
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/{self.stage}/{event['httpMethod']}{event['path']}"
        request = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{k: v for k, v in event.items() if k != "body"},
        }
        request.pop("isBase64Encoded", None)
        outcome = self.invoke(self._authorizer_function(route.authorizer or ""), request)
        if not outcome.ok:
            kind = "UNAUTHORIZED" if outcome.error_message == "Unauthorized" else "AUTHORIZER_FAILURE"
            return self.gateway_response(kind, request_id)
        answer = outcome.result if isinstance(outcome.result, dict) else {}
        if not policy_allows(answer.get("policyDocument") or {}, method_arn):
            return self.gateway_response("ACCESS_DENIED", request_id)
        context = {k: v for k, v in (answer.get("context") or {}).items() if isinstance(v, str | int | float | bool)}
        event["requestContext"]["authorizer"] = {"principalId": answer.get("principalId"), **context}
        if route.api_key_required:
            key = answer.get("usageIdentifierKey")
            plan = self.plans.plan(key) if key else None
            if plan is None:
                return self.gateway_response("INVALID_API_KEY", request_id)
            event["requestContext"]["identity"]["apiKey"] = key
            refused = self.plans.admit(key, plan)  # type: ignore[arg-type]
            if refused:
                return self.gateway_response(refused[0], request_id, retry_after=refused[1])
        return None

    def _authorizer_function(self, name: str) -> str:
        for api in self.template.resources("AWS::Serverless::Api").values():
            auth = (api.get("Properties") or {}).get("Auth") or {}
            arn = ((auth.get("Authorizers") or {}).get(name) or {}).get("FunctionArn")
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                return str(arn["Fn::GetAtt"][0])
        raise LookupError(f"authorizer {name} has no FunctionArn")

    # ------------------------------------------------------------------ replies
    def _integration_reply(self, outcome: Invocation, request_id: str) -> Reply:
        result = outcome.result
        if not outcome.ok or not isinstance(result, dict) or "statusCode" not in result:
            return self.gateway_response("DEFAULT_5XX", request_id)
        headers: list[tuple[str, str]] = list((result.get("headers") or {}).items())
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((k, str(v)) for v in values if (k, str(v)) not in headers)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        headers.append(("x-amzn-RequestId", request_id))
        return Reply(int(result["statusCode"]), [(k, str(v)) for k, v in headers], data)

    def gateway_response(self, kind: str, request_id: str, retry_after: int | None = None) -> Reply:
        family = "DEFAULT_5XX" if DEFAULT_STATUS.get(kind, 500) >= 500 else "DEFAULT_4XX"
        spec = self.responses.get(kind) or self.responses.get(family) or {}
        status = int(spec.get("StatusCode") or DEFAULT_STATUS.get(kind, 500))
        message = MESSAGES.get(kind, kind)
        headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", kind)]
        for name, value in (spec.get("ResponseParameters") or {}).items():
            if name.startswith("gatewayresponse.header."):
                headers.append((name.split(".", 2)[2], str(value).strip("'")))
        if retry_after is not None and not any(k.lower() == "retry-after" for k, _ in headers):
            headers.append(("Retry-After", str(retry_after)))
        elif retry_after is not None:
            headers = [(k, str(retry_after) if k.lower() == "retry-after" else v) for k, v in headers]
        template = (spec.get("ResponseTemplates") or {}).get("application/json")
        if template:
            body = template.replace("$context.requestId", request_id)
            body = body.replace("$context.error.messageString", json.dumps(message))
            body = body.replace("$context.error.message", message)
        else:
            body = json.dumps({"message": message})
            headers.append(("Content-Type", "application/json"))
        return Reply(status, headers, body.encode("utf-8"))


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway REST takes for `path` (as sent: percent-encoded): the resource the
    path names (a literal segment before a {parameter}, before a {greedy+}), then that resource's
    method, else its ANY method; None when there is neither (MISSING_AUTHENTICATION_TOKEN). Its
    path parameters are as API Gateway puts them in `pathParameters`: each variable matched on the
    encoded path (so `%2F` in a SKU stays inside its segment), then URL-decoded once (`%20` is a
    space, `+` stays `+`). The event's `path` keeps the encoding. Raises UnicodeDecodeError for
    escapes that are not UTF-8."""
    matching = [r for r in routes if r.pattern.match(path)]
    if not matching:
        return None
    resource = max((r.path for r in matching), key=_specificity)
    on_resource = [r for r in matching if r.path == resource]
    route = next((r for r in on_resource if r.method == method), None)
    route = route or next((r for r in on_resource if r.method == "ANY"), None)
    m = route.pattern.match(path) if route else None
    if route is None or m is None:
        return None
    return route, {k: unquote(v, errors="strict") for k, v in m.groupdict().items()}


def _specificity(resource: str) -> tuple[int, ...]:
    """Orders the resource paths one request path matches: literal segments first, then {param}."""
    return tuple(0 if s.endswith("+}") else 1 if s.startswith("{") else 2 for s in resource.strip("/").split("/"))


def _body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    def matches(resource: Any) -> bool:
        resources = resource if isinstance(resource, list) else [resource]
        return any(re.fullmatch(re.escape(str(r)).replace(r"\*", ".*"), method_arn) for r in resources)

    statements = policy.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    if any(s.get("Effect") == "Deny" and matches(s.get("Resource")) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s.get("Resource")) for s in statements)


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                reply = gateway.gateway_response("REQUEST_TOO_LARGE", str(uuid.uuid4()))
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                reply = gateway.handle(
                    self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                )
            self.send_response(reply.status)
            for k, v in reply.headers:
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        def __getattr__(self, name: str) -> Any:
            # Every HTTP method reaches the gateway (API Gateway has no 501): unknown ones find no
            # route and get the template's "no such route" answer.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the stack prints its own one-line access log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
    return server
