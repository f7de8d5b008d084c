"""`Client`: the skucast HTTP API (../../../shared/CONTRACT.md) for Python callers.

    from skucast_client import Client
    sc = Client("http://127.0.0.1:3000", email="me@example.com", password="...")
    sc.upload_demand(df)                  # sku/date/quantity or unique_id/ds/y columns
    fc = sc.forecast(horizon=28)          # statsforecast-shaped DataFrame (see frames.py)

Every call retries 429 and 503 with exponential backoff, honouring `Retry-After`; a user's
expired access token is refreshed once on 401 (then, if a password was given, a new login).
Errors raise `SkucastError` subclasses carrying the server's RFC 9457 problem document.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from skucast_client import errors
from skucast_client.frames import (
    attributes_csv_gz,
    compare_frame,
    demand_csv_gz,
    drivers_csv_gz,
    forecast_frame,
    is_dataframe,
    nodes_frame,
    read_table,
)
from skucast_client.frames import skus_frame as _skus_frame

__version__ = "0.1.0"

API = "/api/v1/forecast"
UPLOAD_PENDING = frozenset({"AWAITING_FILE", "PROCESSING"})
RUN_PENDING = frozenset({"QUEUED", "RUNNING"})
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 300.0
# A big run's export is written off the request path; the API answers 409 of this type meanwhile.
EXPORT_PREPARING = "export-preparing"

TokenCallback = Callable[[dict[str, Any]], None]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip()[:500]
    return {
        "title": response.reason_phrase or "error",
        "status": response.status_code,
        "detail": text or None,
    }


class Client:
    """A tenant's session with the API.

    Authenticate with `api_key=` (an integration key, sent as `X-Api-Key`), or `email=` and
    `password=` (logs in on first use), or tokens from an earlier login (`access_token=`,
    `refresh_token=`). `on_tokens` is called with every new token pair (the CLI stores them).
    `transport` and `sleep` exist for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        on_tokens: TokenCallback | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.email = email
        self._password = password
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_tokens = on_tokens
        self._sleep = sleep
        agent = {"User-Agent": f"skucast-client/{__version__}"}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, headers=agent)
        # Presigned S3 URLs: absolute, and never sent our credentials.
        self._files = httpx.Client(timeout=max(timeout, 300.0), transport=transport, headers=agent)

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self._http.close()
        self._files.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry `attempt` (0-based): the server's Retry-After when it gave
        one, else `backoff * 2**attempt`, capped at `max_backoff`."""
        after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        if after is not None:
            return min(after, MAX_RETRY_AFTER)
        return float(min(self.max_backoff, self.backoff * 2**attempt))

    def _auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-Api-Key": self.api_key}
        if not self.access_token:
            if self.email and self._password:
                self.login(self.email, self._password)
            elif self.refresh_token:
                self.refresh()
            else:
                raise errors.AuthenticationError("no credentials: give api_key, or email and password")
        return {"Authorization": f"Bearer {self.access_token}"}

    def _reauthenticate(self) -> bool:
        """After a 401: refresh, else log in again. False when there is nothing to try."""
        if self.api_key:
            return False
        if self.refresh_token:
            try:
                self.refresh()
                return True
            except errors.AuthenticationError:
                self.refresh_token = None
        if self.email and self._password:
            self.login(self.email, self._password)
            return True
        return False

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        """One API call with retries (429/503, connection failures) and one re-authentication."""
        attempt, reauthenticated = 0, False
        while True:
            sent = {**(self._auth_headers() if auth else {}), **(headers or {})}
            try:
                response = self._http.request(method, path, json=json, params=params, headers=sent)
            except httpx.TransportError as exc:
                # Nothing reached the server on a connect failure; any GET is safe to repeat.
                retryable = isinstance(exc, httpx.ConnectError) or method == "GET"
                if retryable and attempt < self.max_retries:
                    self._sleep(self.retry_delay(attempt, None))
                    attempt += 1
                    continue
                raise errors.TransportError(f"{method} {self.base_url}{path}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self._sleep(self.retry_delay(attempt, response))
                attempt += 1
                continue
            if response.status_code == 401 and auth and not reauthenticated and self._reauthenticate():
                reauthenticated = True
                continue
            if response.status_code >= 400:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise errors.error_for(response.status_code, _problem(response), retry_after)
            return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {**(params or {}), "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = self._json("GET", path, params={k: v for k, v in query.items() if v is not None})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # ------------------------------------------------------------------ auth
    def _store_tokens(self, tokens: dict[str, Any]) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens.get("refresh_token", self.refresh_token)
        if self.on_tokens:
            self.on_tokens(dict(tokens))

    def login(self, email: str, password: str) -> dict[str, Any]:
        tokens = self._json("POST", "/api/auth/login", json={"email": email, "password": password}, auth=False)
        self.email, self._password = email, password
        self._store_tokens(tokens)
        return dict(tokens)

    def refresh(self) -> dict[str, Any]:
        if not self.refresh_token:
            raise errors.AuthenticationError("no refresh token: log in again")
        tokens = self._json("POST", "/api/auth/refresh", json={"refresh_token": self.refresh_token}, auth=False)
        self._store_tokens(tokens)
        return dict(tokens)

    def logout(self) -> None:
        if self.refresh_token:
            self.request("POST", "/api/auth/logout", json={"refresh_token": self.refresh_token}, auth=False)
        self.access_token = self.refresh_token = None

    def me(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/auth/me"))

    # ------------------------------------------------------------------ demand
    def upload_demand(
        self,
        data: Any,
        aggregate: str = "reject",
        *,
        filename: str | None = None,
        wait: bool = True,
        timeout: float = 900.0,
        poll_interval: float = 1.0,
        granularity: str | None = None,
        missing: str | None = None,
        delimiter: str | None = None,
        decimal: str | None = None,
        date_format: str | None = None,
    ) -> dict[str, Any]:
        """Upload demand: a DataFrame (`sku/date/quantity` or `unique_id/ds/y`), a CSV/Parquet
        file path, or the file's bytes. Sends it through the presigned POST, waits for ingestion
        and returns the upload report; raises `UploadRejectedError` (with `.report`) on REJECTED.
        A PARTIAL report (some rows rejected) is returned: check `rows_rejected` and `errors`.

        Options left None are decided by the service: `granularity` ("D", "W", "M") is inferred
        from the dates, `missing` ("zero" or "unknown": what a date without a row means) is zero,
        and the file's `delimiter`, `decimal` separator and `date_format` are detected."""
        options = {"granularity": granularity, "missing": missing, "delimiter": delimiter}
        options |= {"decimal": decimal, "date_format": date_format}
        body = {"aggregate": aggregate, **{k: v for k, v in options.items() if v is not None}}
        return self._upload_file(data, body, "demand", demand_csv_gz, filename, wait, timeout, poll_interval)

    def _upload_file(
        self,
        data: Any,
        body: dict[str, Any],
        name: str,
        to_csv_gz: Callable[[Any], bytes],
        filename: str | None,
        wait: bool,
        timeout: float,
        poll_interval: float,
    ) -> dict[str, Any]:
        """The file door: `data` (a DataFrame, written by `to_csv_gz`; a file path; the file's
        bytes) sent through the presigned POST of an upload created with `body`; `name` names the
        file when `filename` does not and no path does. The report, once ingested when `wait`."""
        handle: IO[bytes] | None = None
        if is_dataframe(data):
            payload: bytes | IO[bytes] = to_csv_gz(data)
            filename = filename or f"{name}.csv.gz"
        elif isinstance(data, bytes | bytearray):
            payload, filename = bytes(data), filename or f"{name}.csv"
        else:
            path = Path(data)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            handle = payload = path.open("rb")
            filename = filename or path.name
        try:
            ticket = self._json("POST", f"{API}/uploads", json={"filename": filename, **body})
            self._post_presigned(ticket, filename, payload)
        finally:
            if handle:
                handle.close()
        if not wait:
            return self.upload(ticket["upload_id"])
        return self.wait_upload(ticket["upload_id"], timeout=timeout, poll_interval=poll_interval)

    def _post_presigned(self, ticket: dict[str, Any], filename: str, payload: bytes | IO[bytes]) -> None:
        for attempt in range(self.max_retries + 1):
            if not isinstance(payload, bytes):
                payload.seek(0)
            try:
                response = self._files.post(ticket["url"], data=ticket["fields"], files={"file": (filename, payload)})
            except httpx.TransportError as exc:
                raise errors.TransportError(f"uploading the file to storage failed: {exc}") from exc
            if response.status_code < 300:
                return
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self._sleep(self.retry_delay(attempt, response))
                continue
            detail = _s3_message(response.text)
            if response.status_code in (400, 403) and "EntityTooLarge" in response.text:
                raise errors.PayloadTooLargeError(
                    f"413 file too large (max {ticket.get('max_bytes')} bytes)",
                    status=413,
                    problem={"title": "Payload Too Large", "status": 413, "detail": detail},
                )
            raise errors.APIError(
                f"{response.status_code} storage refused the file: {detail}",
                status=response.status_code,
                problem={"title": "Upload refused", "status": response.status_code, "detail": detail},
            )

    def upload(self, upload_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"{API}/uploads/{upload_id}"))

    def uploads(self) -> list[dict[str, Any]]:
        return list(self._pages(f"{API}/uploads"))

    def wait_upload(self, upload_id: str, *, timeout: float = 900.0, poll_interval: float = 1.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            report = self.upload(upload_id)
            if report["status"] not in UPLOAD_PENDING:
                break
            if time.monotonic() > deadline:
                raise errors.WaitTimeoutError(f"upload {upload_id} still {report['status']} after {timeout:g}s")
            self._sleep(poll_interval)
        if report["status"] == "REJECTED":
            first = "; ".join(
                f"row {e.get('row')}: {e.get('message') or e.get('code')}" for e in report.get("errors", [])[:3]
            )
            raise errors.UploadRejectedError(
                f"upload {upload_id} was rejected" + (f": {first}" if first else ""), report
            )
        return report

    def post_demand(
        self,
        records: Sequence[dict[str, Any]],
        aggregate: str = "reject",
        *,
        granularity: str | None = None,
        missing: str | None = None,
    ) -> dict[str, Any]:
        """Small synchronous upload (≤ 10,000 `{sku, date, quantity}` records); options as in
        `upload_demand`."""
        body: dict[str, Any] = {"records": list(records), "aggregate": aggregate}
        body |= {k: v for k, v in (("granularity", granularity), ("missing", missing)) if v is not None}
        return dict(self._json("POST", f"{API}/demand", json=body))

    def skus(
        self, demand_class: str | None = None, attributes: Mapping[str, str] | None = None, prefix: str = ""
    ) -> list[dict[str, Any]]:
        """The catalog, each SKU with its `attributes`; `attributes` filters (all must hold, exact
        values), e.g. `{"category": "Desserts"}`; `prefix`: SKUs whose name starts with it."""
        params: dict[str, Any] = {"demand_class": demand_class, "prefix": prefix or None}
        params |= {f"attr.{k}": v for k, v in (attributes or {}).items()}
        return list(self._pages(f"{API}/skus", params))

    def skus_frame(self, demand_class: str | None = None, attributes: Mapping[str, str] | None = None) -> Any:
        """`skus(...)` as a DataFrame: the catalog fields and one column per attribute."""
        return _skus_frame(self.skus(demand_class, attributes))

    def sku(self, sku: str) -> dict[str, Any]:
        return dict(self._json("GET", f"{API}/skus/{_segment(sku)}"))

    def demand(self, sku: str, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]:
        """A SKU's history at its grain: `[{date, quantity, recorded}]` (`recorded` is False for a
        period no upload had a row for)."""
        params = {k: v for k, v in (("start", start), ("end", end)) if v}
        return list(self._json("GET", f"{API}/skus/{_segment(sku)}/demand", params=params)["points"])

    def methods(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{API}/methods")["items"])

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        horizon: int,
        frequency: str = "D",
        levels: Sequence[int] = (80, 95),
        method: str = "auto",
        skus: Sequence[str] | None = None,
        *,
        backtest_windows: int | None = None,
        name: str | None = None,
        idempotency_key: str | None = None,
        as_of: str | None = None,
        history_cleaning: str | None = None,
        drivers: str | Sequence[str] | None = None,
        hierarchy: str | None = None,
        reconciliation: str | None = None,
    ) -> dict[str, Any]:
        """POST /runs (202). Retries are safe: an Idempotency-Key is always sent. `as_of`
        (YYYY-MM-DD) is the forecast origin; default the end of the tenant's data.
        `history_cleaning="flagged"` fits on the history with the points ingestion flagged as
        outliers replaced (default "none"). `drivers`: "auto" (the server's default: each SKU's
        declared drivers with values, and the calendar), "none", or driver names. `hierarchy`: a
        declared hierarchy whose nodes are forecast and reconciled with the SKUs
        (`reconciliation`: "min_trace" by default, or "bottom_up"); read them with `nodes()`."""
        body: dict[str, Any] = {
            "horizon": horizon,
            "frequency": frequency,
            "levels": list(levels),
            "method": method,
        }
        if skus is not None:
            body["skus"] = list(skus)
        if backtest_windows is not None:
            body["backtest_windows"] = backtest_windows
        if name:
            body["name"] = name
        if as_of:
            body["as_of"] = as_of
        if history_cleaning:
            body["history_cleaning"] = history_cleaning
        if drivers is not None:
            body["drivers"] = drivers if isinstance(drivers, str) else list(drivers)
        if hierarchy:
            body["hierarchy"] = hierarchy
        if reconciliation:
            body["reconciliation"] = reconciliation
        key = idempotency_key or uuid.uuid4().hex
        return dict(self._json("POST", f"{API}/runs", json=body, headers={"Idempotency-Key": key}))

    def create_run(self, horizon: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """POST /runs: `start_run(horizon, ...)`, or with `scenario=` a what-if run of a finished
        base run (`what_if`'s arguments as a dict: {base_run_id, changes?, events?})."""
        scenario = kwargs.pop("scenario", None)
        if scenario is not None:
            return self.what_if(**scenario, **kwargs)
        if horizon is None:
            raise TypeError("create_run needs a horizon (or a scenario)")
        return self.start_run(horizon, **kwargs)

    def what_if(
        self,
        base_run_id: str,
        changes: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
        *,
        name: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A scenario run (202): the base run (finished SUCCEEDED/PARTIAL) forecast again with
        future drivers and events changed, reusing its models. `changes`: `{driver, start, end,
        set|multiply|add, skus?}` (dates may be date objects); `events`: `{name, dates, skus?}`.
        It takes every other parameter from the base run. No change: the base's forecast exactly."""
        scenario: dict[str, Any] = {
            "base_run_id": base_run_id,
            "changes": [{**c, "start": _day(c["start"]), "end": _day(c["end"])} for c in changes],
            "events": [{**e, "dates": [_day(d) for d in e.get("dates", [])]} for e in events],
        }
        body: dict[str, Any] = {"scenario": scenario, **({"name": name} if name else {})}
        key = idempotency_key or uuid.uuid4().hex
        return dict(self._json("POST", f"{API}/runs", json=body, headers={"Idempotency-Key": key}))

    def compare_items(self, run_id: str, to: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """GET /runs/{run_id}/compare?to=: `{run_id, to, totals}` and every page's items. Without
        `to`, a scenario run is compared with its base run."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {
                "limit": 1000,
                **({"to": to} if to else {}),
                **({"cursor": cursor} if cursor else {}),
            }
            page = self._json("GET", f"{API}/runs/{run_id}/compare", params=params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return {"run_id": page["run_id"], "to": page["to"], "totals": dict(page["totals"])}, items

    def compare(self, run_id: str, to: str | None = None) -> Any:
        """Per-SKU deltas of run `run_id` against run `to` (default, for a scenario run: its base)
        as a DataFrame `sku, run_total, to_total, delta, delta_pct`, biggest absolute delta first;
        `frame.attrs["totals"]` is `{run, to, delta, delta_pct}`."""
        meta, items = self.compare_items(run_id, to)
        return compare_frame(meta["run_id"], meta["to"], meta["totals"], items)

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"{API}/runs/{run_id}"))

    def runs(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every run, newest first."""
        return list(self._pages(f"{API}/runs", {"status": status}))

    def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(self._json("POST", f"{API}/runs/{run_id}/cancel"))

    def wait_run(
        self,
        run_id: str,
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the run finishes; a tqdm bar on stderr follows `progress.skus_done/skus_total`."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=None, unit="sku", desc=f"run {run_id}", disable=not progress, leave=True)
        try:
            while True:
                run = self.run(run_id)
                p = run.get("progress") or {}
                total = int(p.get("skus_total") or 0)
                done = int(p.get("skus_done") or 0) + int(p.get("skus_failed") or 0)
                if total and bar.total != total:
                    bar.total = total
                    bar.refresh()
                if done > bar.n:
                    bar.update(done - bar.n)
                bar.set_postfix_str(run["status"].lower(), refresh=True)
                if run["status"] not in RUN_PENDING:
                    return run
                if deadline is not None and time.monotonic() > deadline:
                    raise errors.WaitTimeoutError(f"run {run_id} still {run['status']} after {timeout:g}s")
                self._sleep(poll_interval)
        finally:
            bar.close()

    def results(self, run_id: str, demand_class: str | None = None) -> list[dict[str, Any]]:
        """Every result of a run (all pages): `{sku, demand_class, method, forecast, metrics, error}`."""
        return list(self._pages(f"{API}/runs/{run_id}/results", {"demand_class": demand_class}))

    def node_items(self, run_id: str, level: str | None = None) -> list[dict[str, Any]]:
        """A hierarchy run's reconciled nodes (all pages), of one level ("total" or an attribute) or all:
        `{node_id, level, key, skus, forecast, parent, ...}`."""
        return list(self._pages(f"{API}/runs/{run_id}/nodes", {"level": level}))

    def node(self, run_id: str, node_id: str) -> dict[str, Any]:
        """One node with its children's ids (node ids, or SKUs under the deepest level)."""
        return dict(self._json("GET", f"{API}/runs/{run_id}/nodes/{_segment(node_id)}"))

    def nodes(self, run_id: str, level: str | None = None, *, skus: bool = False) -> Any:
        """A hierarchy run's nodes as hierarchicalforecast shapes its output: one row per node and
        period, `unique_id` (the node id), `ds`, `mean`, `lo-<L>`..., `hi-<L>`..., and `level`;
        `frame.attrs["keys"]` maps each node id to its key ({attribute: value}, null: unassigned)
        and `frame.attrs["tags"]` each level to its unique_ids (hierarchicalforecast's `tags`).
        `skus=True` (all levels only) adds the reconciled SKU results as the bottom level
        (`unique_id` the SKU, `level` "sku"): every series of the hierarchy in one frame."""
        if skus and level is not None:
            raise ValueError("skus=True reads every level: leave level out")
        return nodes_frame(self.node_items(run_id, level), self.results(run_id) if skus else ())

    def result(self, run_id: str, sku: str) -> dict[str, Any]:
        return dict(self._json("GET", f"{API}/runs/{run_id}/results/{_segment(sku)}"))

    def adjust(
        self,
        run_id: str,
        sku: str,
        start: str | dt.date,
        end: str | dt.date,
        *,
        set: float | None = None,
        add: float | None = None,
        multiply: float | None = None,
        reason: str,
        comment: str | None = None,
        sticky: bool = False,
        expires: str | dt.date | None = None,
        etag: str | None = None,
    ) -> dict[str, Any]:
        """Adjust a finished run's forecast of `sku` over the periods `start`..`end` (each a
        period's first day): exactly one of `set=`, `add=` (may be negative; the final forecast
        is floored at 0) or `multiply=`, with a `reason` (promotion, event, supply, customer_info,
        correction, other). `sticky=True` carries it into later runs of the SKU over those dates
        until `expires` (default `end`).

        Concurrency: the change applies to the version of the result you read. Pass that
        version's `etag` (a result's `etag` field, or `result_etag()`); without one, the current
        one is fetched - then the adjustment applies to whatever the result is at that moment.
        Someone else's adjustment in between raises `PreconditionFailedError` (412): read the
        result again and decide again. Returns the result with its new `final` and `etag`."""
        body: dict[str, Any] = {"start": _day(start), "end": _day(end), "reason": reason, "sticky": sticky}
        body |= {k: v for k, v in (("set", set), ("add", add), ("multiply", multiply)) if v is not None}
        if comment is not None:
            body["comment"] = comment
        if expires is not None:
            body["expires"] = _day(expires)
        tag = etag or self.result_etag(run_id, sku)
        path = f"{API}/runs/{run_id}/results/{_segment(sku)}/adjustments"
        response = self.request("POST", path, json=body, headers={"If-Match": tag})
        result = dict(response.json())
        return {**result, "etag": response.headers.get("ETag") or result.get("etag")}

    def result_etag(self, run_id: str, sku: str) -> str:
        """The ETag of a result's current version (what `adjust` sends as If-Match)."""
        response = self.request("GET", f"{API}/runs/{run_id}/results/{_segment(sku)}")
        return str(response.headers.get("ETag") or response.json()["etag"])

    def adjustment_items(self, run_id: str, sku: str) -> list[dict[str, Any]]:
        """Every adjustment of the SKU in the run (all pages), as the API gives them: the sticky
        ones it carried from earlier runs first (`carried_from`), then its own, in order."""
        return list(self._pages(f"{API}/runs/{run_id}/results/{_segment(sku)}/adjustments"))

    def adjustments(self, run_id: str, sku: str) -> Any:
        """`adjustment_items` as a DataFrame, one row per adjustment (frames.adjustments_frame)."""
        from skucast_client.frames import adjustments_frame

        return adjustments_frame(self.adjustment_items(run_id, sku))

    def accuracy(
        self,
        run_id: str | None = None,
        *,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        by: str = "run",
    ) -> Any:
        """Forecast accuracy against the actuals that arrived after the forecast.

        With `run_id`: that run's answer, `{run_id, actuals_through, skus_scored, points_scored,
        metrics, naive, final, by_class, by_method}` - `metrics` for the statistical forecast,
        `naive` for the seasonal-naive benchmark, `final` for the adjusted forecast (Forecast
        Value Added: does each beat `naive`?), each `{mae, rmse, wape, bias, mase, coverage_80,
        coverage_95}` and null until actuals arrive. Without: the tenant's accuracy per calendar
        month of the actuals (`period`) and `by` key (run id, demand class or method) over the
        months overlapping `start`..`end`, every page: a list of `{period, key, points_scored,
        metrics, naive, final}`."""
        if run_id is not None:
            return dict(self._json("GET", f"{API}/runs/{run_id}/accuracy"))
        params = {"by": by, "from": _day(start) if start else None, "to": _day(end) if end else None}
        return list(self._pages(f"{API}/accuracy", params))

    def results_frame(self, run_id: str, levels: Sequence[int] | None = None) -> Any:
        """A finished run's results as the statsforecast-shaped DataFrame (frames.py)."""
        if levels is None:
            levels = self.run(run_id).get("params", {}).get("levels")
        return forecast_frame(self.results(run_id), levels)

    def forecast(
        self,
        horizon: int,
        frequency: str = "D",
        levels: Sequence[int] = (80, 95),
        method: str = "auto",
        skus: Sequence[str] | None = None,
        progress: bool = True,
        *,
        backtest_windows: int | None = None,
        name: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        as_of: str | None = None,
        history_cleaning: str | None = None,
        drivers: str | Sequence[str] | None = None,
    ) -> Any:
        """Run a forecast and return its DataFrame:
        `unique_id, ds, forecast, forecast-lo-<L>..., forecast-hi-<L>..., final, method, demand_class`
        (`final`: after adjustments; a new run's carries the sticky ones). `frame.attrs` holds
        `run` (the finished run) and `failed` (`{sku: error}`). Raises `RunFailedError` when the
        run ends FAILED or CANCELLED; warns when it ends PARTIAL."""
        started = self.start_run(
            horizon,
            frequency,
            levels,
            method,
            skus,
            backtest_windows=backtest_windows,
            name=name,
            as_of=as_of,
            history_cleaning=history_cleaning,
            drivers=drivers,
        )
        run = self.wait_run(started["run_id"], progress=progress, timeout=timeout, poll_interval=poll_interval)
        if run["status"] in ("FAILED", "CANCELLED"):
            reason = (run.get("error") or {}).get("message", "")
            raise errors.RunFailedError(
                f"run {run['run_id']} finished {run['status']}" + (f": {reason}" if reason else ""), run
            )
        frame = forecast_frame(self.results(run["run_id"]), sorted(int(v) for v in levels))
        frame.attrs["run"] = run
        if run["status"] == "PARTIAL":
            failed = frame.attrs["failed"]
            warnings.warn(
                f"run {run['run_id']} is PARTIAL: {len(failed)} SKUs have no forecast (frame.attrs['failed'])",
                stacklevel=2,
            )
        return frame

    def export_link(
        self, run_id: str, format: str = "csv", *, level: str | None = None, timeout: float = 1800.0
    ) -> dict[str, Any]:
        """POST /runs/{run_id}/export: `{url, expires_in}`, a presigned download of the export.
        `level`: a hierarchy run's nodes of one level ("total" or an attribute of its hierarchy;
        "sku" or None: the SKU results).

        A big run's export is prepared off the request path: the API answers 409 (problem type
        `export-preparing`) with `Retry-After` until it is written; this waits, honouring it, up
        to `timeout` seconds (then `WaitTimeoutError`). Any other 409 (run not finished) raises."""
        if format not in ("csv", "parquet"):
            raise ValueError("format is 'csv' or 'parquet'")
        body = {"format": format, **({"level": level} if level is not None else {})}
        started, waited = time.monotonic(), 0.0
        while True:
            try:
                return dict(self._json("POST", f"{API}/runs/{run_id}/export", json=body))
            except errors.ConflictError as exc:
                if not str(exc.problem.get("type", "")).endswith(EXPORT_PREPARING):
                    raise
                delay = min(exc.retry_after or 2.0, MAX_RETRY_AFTER)
            # The injected sleep in tests does not advance the clock: count both.
            if max(time.monotonic() - started, waited) + delay > timeout:
                raise errors.WaitTimeoutError(f"the {format} export of run {run_id} not ready after {timeout:g}s")
            self._sleep(delay)
            waited += delay

    def export(
        self,
        run_id: str,
        path: str | Path,
        format: str = "csv",
        *,
        level: str | None = None,
        timeout: float = 1800.0,
    ) -> Path:
        """Download a finished run's export (csv or parquet) to `path`, waiting up to `timeout`
        seconds while a big run's export is prepared (`export_link`); returns the path. `level`:
        a hierarchy run's nodes of one level (rows node_id, level, one column per key attribute,
        date, mean, bands); None or "sku": the SKU results."""
        link = self.export_link(run_id, format, level=level, timeout=timeout)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._files.stream("GET", link["url"]) as response:
                if response.status_code >= 400:
                    response.read()
                    raise errors.APIError(
                        f"{response.status_code} downloading the export failed: {_s3_message(response.text)}",
                        status=response.status_code,
                    )
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise errors.TransportError(f"downloading the export failed: {exc}") from exc
        return target

    def export_frame(self, run_id: str, format: str = "parquet", *, level: str | None = None) -> Any:
        """The server's export as a DataFrame (its own flat columns: sku, date, mean, lo_80, ...;
        with `level`, that level's nodes: node_id, level, key attributes, date, mean, ...)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = self.export(run_id, Path(tmp) / f"export.{format}", format, level=level)
            return read_table(path.read_bytes())

    # ------------------------------------------------------------------ schedule
    def schedule(self) -> dict[str, Any]:
        return dict(self._json("GET", f"{API}/schedule"))

    def set_schedule(self, **body: Any) -> dict[str, Any]:
        return dict(self._json("PUT", f"{API}/schedule", json=body))

    # ------------------------------------------------------------------ alerts
    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert, newest first; `status` "open" or "acknowledged" (default: both)."""
        return list(self._pages(f"{API}/alerts", {"status": status}))

    def acknowledge_alert(self, alert_id: str) -> dict[str, Any]:
        """Acknowledge an alert (analyst); an acknowledged one is answered as it is."""
        return dict(self._json("POST", f"{API}/alerts/{_segment(alert_id)}/acknowledge"))

    def alert_settings(self) -> dict[str, Any]:
        """`{wape_threshold, min_points, shift_periods}`, defaults filled in."""
        return dict(self._json("GET", f"{API}/alerts/settings"))

    def set_alert_settings(self, **settings: Any) -> dict[str, Any]:
        """Replace the alert settings (admin); a setting not given takes its default."""
        return dict(self._json("PUT", f"{API}/alerts/settings", json=settings))

    # ------------------------------------------------------------------ drivers and calendar
    def declare_driver(
        self,
        name: str,
        kind: str = "numeric",
        *,
        known_in_advance: bool = True,
        aggregate: str = "mean",
        description: str | None = None,
    ) -> dict[str, Any]:
        """Declare a driver (admin), or replace its settings (its values are kept). `kind`:
        "numeric" or "flag" (0/1); `aggregate`: how days roll up to W/M (mean, sum, max, last)."""
        body: dict[str, Any] = {"kind": kind, "known_in_advance": known_in_advance, "aggregate": aggregate}
        if description is not None:
            body["description"] = description
        return dict(self._json("PUT", f"{API}/drivers/{_segment(name)}", json=body))

    def drivers(self) -> list[dict[str, Any]]:
        """The declared drivers with how many SKUs have values and their first and last dates."""
        return list(self._json("GET", f"{API}/drivers")["items"])

    def delete_driver(self, name: str) -> None:
        """Delete a driver and its values (admin)."""
        self.request("DELETE", f"{API}/drivers/{_segment(name)}")

    def upload_drivers(
        self,
        data: Any,
        *,
        filename: str | None = None,
        wait: bool = True,
        timeout: float = 900.0,
        poll_interval: float = 1.0,
    ) -> dict[str, Any]:
        """Upload driver values: a DataFrame (`sku`/`date` or `unique_id`/`ds` and one column per
        declared driver; NaN means no value), a CSV file path, or the file's bytes, through the
        presigned POST like demand. Returns the upload report; raises `UploadRejectedError` on
        REJECTED (e.g. a column that is not a declared driver)."""
        body = {"kind": "drivers"}
        return self._upload_file(data, body, "drivers", drivers_csv_gz, filename, wait, timeout, poll_interval)

    def post_driver_values(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Small synchronous upload (≤ 10,000 `{sku, date, values: {<driver>: number}}` records)."""
        return dict(self._json("POST", f"{API}/drivers/values", json={"records": list(records)}))

    def sku_drivers(
        self, sku: str, start: str | None = None, end: str | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """A SKU's driver values: `{<driver>: [{date, value}]}`."""
        params = {k: v for k, v in (("start", start), ("end", end)) if v}
        return dict(self._json("GET", f"{API}/skus/{_segment(sku)}/drivers", params=params)["drivers"])

    # ------------------------------------------------------------------ attributes and hierarchies
    def upload_attributes(
        self,
        data: Any,
        *,
        filename: str | None = None,
        wait: bool = True,
        timeout: float = 900.0,
        poll_interval: float = 1.0,
    ) -> dict[str, Any]:
        """Upload item attributes: a DataFrame (`sku` or `unique_id` and one column per attribute;
        NaN means no value sent), a CSV file path, or the file's bytes, through the presigned POST
        like demand. Returns the upload report; raises `UploadRejectedError` on REJECTED."""
        body = {"kind": "attributes"}
        return self._upload_file(data, body, "attributes", attributes_csv_gz, filename, wait, timeout, poll_interval)

    def post_attributes(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Small synchronous upload (≤ 10,000 `{sku, attributes: {<name>: string|None}}` records;
        None removes the attribute)."""
        return dict(self._json("POST", f"{API}/attributes", json={"records": list(records)}))

    def attributes(self) -> dict[str, Any]:
        """`{version, items: [{name, skus}]}`: the attribute names SKUs hold and the tenant's version."""
        return dict(self._json("GET", f"{API}/attributes"))

    def sku_attributes(self, sku: str, version: int | None = None) -> dict[str, Any]:
        """A SKU's attributes now (or as of an attribute `version`), with its kept change history."""
        params = {"version": version} if version is not None else None
        return dict(self._json("GET", f"{API}/skus/{_segment(sku)}/attributes", params=params))

    def declare_hierarchy(self, name: str, levels: Sequence[str]) -> dict[str, Any]:
        """Declare a hierarchy (admin): attribute levels top to bottom; the SKU is the bottom level."""
        return dict(self._json("PUT", f"{API}/hierarchies/{_segment(name)}", json={"levels": list(levels)}))

    def hierarchies(self) -> list[dict[str, Any]]:
        return list(self._json("GET", f"{API}/hierarchies")["items"])

    def delete_hierarchy(self, name: str) -> None:
        """Delete a hierarchy declaration (admin)."""
        self.request("DELETE", f"{API}/hierarchies/{_segment(name)}")

    def calendar(self) -> dict[str, Any]:
        """The tenant's holiday codes and events."""
        return dict(self._json("GET", f"{API}/calendar"))

    def set_calendar(self, holidays: Sequence[str] = (), events: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Replace the calendar (admin): ISO 3166 holiday codes ("US", "DE-BY") and events
        `{name, dates: [YYYY-MM-DD...], skus?: [...]}` (dates may be date objects)."""
        body = {
            "holidays": list(holidays),
            "events": [{**e, "dates": [_day(d) for d in e.get("dates", [])]} for e in events],
        }
        return dict(self._json("PUT", f"{API}/calendar", json=body))


def _day(value: str | dt.date) -> str:
    """A date as the API takes it (YYYY-MM-DD), from a date, a datetime or pandas Timestamp, or text."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _s3_message(text: str) -> str:
    start, end = text.find("<Message>"), text.find("</Message>")
    if start >= 0 and end > start:
        return text[start + 9 : end]
    return text.strip()[:200] or "no detail"
