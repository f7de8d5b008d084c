"""The template's route table, so tests that must cover every route cover new ones automatically.

`id_routes()` lists the tenant routes with `{...}` path parameters. The isolation test
(test_auth_isolation.py) calls each with another tenant's ids and expects 404; it needs, for every
parameter name, an id source in ID_SOURCES (a function that creates something for the given
tenant and returns its id). Issues that add id-bearing routes add their sources here (and, when
the route takes a body, a valid sample body in SAMPLE_BODIES so validation is not what answers).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from skucast_local.template import Route, load
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack

PARAM = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")


def routes() -> list[Route]:
    return list(load(ROOT / "template.yaml").routes)


# Routes whose path parameter is a name the caller chooses, not an id: PUT declares that name in the
# caller's own tenant (201), whatever another tenant holds under it. Isolation for them is that
# the other tenant's values never show: tests/e2e/test_drivers_flow.py, test_attributes_flow.py.
NAMED_UPSERTS = {("PUT", "/api/v1/forecast/drivers/{name}"), ("PUT", "/api/v1/forecast/hierarchies/{name}")}


def id_routes() -> list[Route]:
    """Tenant routes (behind the authorizer) whose path carries an id."""
    return [r for r in routes() if r.authorizer and PARAM.search(r.path) and (r.method, r.path) not in NAMED_UPSERTS]


def params(route: Route) -> list[str]:
    return PARAM.findall(route.path)


# (method, path) -> the query parameters a route requires, as templates of the same values: GET
# .../compare?to= names a second run (the same tenant's, or another's / none in isolation tests).
REQUIRED_QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/forecast/runs/{run_id}/compare"): {"to": "{run_id}"},
}


def fill(route: Route, values: dict[str, str]) -> str:
    """The route's path with these values, each URL-encoded as one segment (a SKU may hold '/'),
    and the query it requires (REQUIRED_QUERIES) filled from the same values."""
    path = PARAM.sub(lambda m: quote(values[m.group(1)], safe=""), route.path)
    query = REQUIRED_QUERIES.get((route.method, route.path))
    if not query:
        return path
    filled = {k: PARAM.sub(lambda m: values[m.group(1)], v) for k, v in query.items()}
    return path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in filled.items())


@dataclass
class Tenant:
    """A client signed up through the API, with its admin signed in."""

    http: httpx.Client
    client_id: str
    admin_user_id: str
    email: str
    password: str
    headers: dict[str, str] = field(default_factory=dict)
    created_ids: set[str] = field(default_factory=set)  # everything of this tenant a test created
    stack: RunningStack | None = None  # the stack it signed up on (its emulator and controls)

    @classmethod
    def sign_up(cls, stack: RunningStack, tier: str = "standard", http: httpx.Client | None = None) -> Tenant:
        http = http or stack.http()
        email, password = f"admin-{uuid.uuid4().hex[:10]}@e2e.example", "e2e admin password"
        r = http.post(
            "/api/auth/clients",
            json={"name": f"e2e {tier}", "tier": tier, "admin_email": email, "admin_password": password},
            headers={"X-Service-Key": stack.service_key},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        tenant = cls(http, body["client_id"], body["admin_user_id"], email, password, stack=stack)
        tenant.headers = tenant.login(email, password)
        tenant.created_ids |= {tenant.client_id, tenant.admin_user_id, email}
        return tenant

    def login(self, email: str, password: str) -> dict[str, str]:
        r = self.http.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def create_user(self, role: str) -> tuple[dict[str, Any], dict[str, str]]:
        """A user of this tenant and that user's bearer header."""
        email = f"{role}-{uuid.uuid4().hex[:10]}@e2e.example"
        body = {"email": email, "password": f"{role} password", "role": role}
        r = self.http.post("/api/auth/users", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        self.created_ids |= {r.json()["user_id"], email}
        return r.json(), self.login(email, f"{role} password")

    def create_api_key(self, role: str = "viewer") -> dict[str, Any]:
        r = self.http.post("/api/auth/api-keys", json={"name": "e2e", "role": role}, headers=self.headers)
        assert r.status_code == 201, r.text
        self.created_ids.add(r.json()["key_id"])
        return dict(r.json())


# The SKU of the isolation tests: a name that needs URL encoding in a path ('/', space, unicode,
# comma, quote, '%', '#'), so every {sku} route is proven to find such names.
ISO_SKU = 'SKU ISO/1 日本茶,"%#'


def start_run(tenant: Tenant, skus: list[str] | None = None, hierarchy: str | None = None) -> str:
    body: dict[str, Any] = {"horizon": 7, "skus": skus or [ISO_SKU], "backtest_windows": 0}
    if hierarchy:
        body["hierarchy"] = hierarchy
    r = tenant.http.post("/api/v1/forecast/runs", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    tenant.created_ids.add(r.json()["run_id"])
    return str(r.json()["run_id"])


def once(make: Callable[[Tenant], str]) -> Callable[[Tenant], str]:
    """One id per tenant for every route that needs one (a run per route would hit tier limits)."""
    made: dict[str, str] = {}

    def source(tenant: Tenant) -> str:
        if tenant.client_id not in made:
            made[tenant.client_id] = make(tenant)
        return made[tenant.client_id]

    return source


def create_upload(tenant: Tenant) -> str:
    r = tenant.http.post("/api/v1/forecast/uploads", json={"filename": "iso.csv"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    tenant.created_ids.add(r.json()["upload_id"])
    return str(r.json()["upload_id"])


def store_sku(tenant: Tenant, sku: str = ISO_SKU) -> str:
    """Demand for `sku` in the tenant's store, so that its SKU routes answer it 200."""
    body = {"records": [{"sku": sku, "date": "2024-01-01", "quantity": 1}]}
    r = tenant.http.post("/api/v1/forecast/demand", json=body, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    return sku


def schedule_missed_alert(tenant: Tenant, slot: str = "2020-01-01T03:00:00Z") -> str:
    """An alert of the tenant, raised by the real scheduler: its daily schedule is made due at an
    old `slot` (as if the scheduler had not fired since), so firing the reforecast tick starts the
    slot's run late and raises one `schedule_missed` for the slots after it. Waits for that run."""
    assert tenant.stack is not None
    http, stack = tenant.http, tenant.stack
    schedule = {"cron": "0 3 * * *", "horizon": 7, "method": "naive", "levels": [80], "enabled": True}
    assert http.put("/api/v1/forecast/schedule", json=schedule, headers=tenant.headers).status_code == 200
    table: Any = stack.aws_client("dynamodb")
    table.update_item(
        TableName=stack.describe()["resources"]["Table"],
        Key={"pk": {"S": f"CLIENT#{tenant.client_id}"}, "sk": {"S": "SCHEDULE"}},
        UpdateExpression="SET next_run_at = :slot, gsi1sk = :gsi",
        ExpressionAttributeValues={":slot": {"S": slot}, ":gsi": {"S": f"{slot}#{tenant.client_id}"}},
    )
    before = {a["alert_id"] for a in http.get("/api/v1/forecast/alerts", headers=tenant.headers).json()["items"]}
    fired = httpx.post(f"{stack.control}/schedules/SchedulerFunction.Reforecast/fire", timeout=120)
    assert fired.status_code == 200, fired.text
    alerts = http.get("/api/v1/forecast/alerts", headers=tenant.headers).json()["items"]
    [alert] = [a for a in alerts if a["alert_id"] not in before]
    assert alert["kind"] == "schedule_missed", alert

    def settled() -> bool:
        listed = http.get("/api/v1/forecast/runs", headers=tenant.headers).json()["items"]
        return not any(r["trigger"] == "schedule" and r["status"] in ("QUEUED", "RUNNING") for r in listed)

    wait(settled, 300, "the late scheduled run to finish")
    tenant.created_ids.add(alert["alert_id"])
    return str(alert["alert_id"])


def declare_driver(tenant: Tenant) -> str:
    """A name the tenant has declared as a driver and as a hierarchy (what /drivers/{name} and
    /hierarchies/{name} routes take; the hierarchy's one level is an attribute of one SKU)."""
    r = tenant.http.put("/api/v1/forecast/drivers/iso_price", json={"kind": "numeric"}, headers=tenant.headers)
    assert r.status_code in (200, 201), r.text
    records = [{"sku": "ISO-ATTR 1", "attributes": {"iso_level": "x"}}]
    r = tenant.http.post("/api/v1/forecast/attributes", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    r = tenant.http.put(
        "/api/v1/forecast/hierarchies/iso_price", json={"levels": ["iso_level"]}, headers=tenant.headers
    )
    assert r.status_code in (200, 201), r.text
    return "iso_price"


_iso_sku = once(store_sku)


def start_hierarchy_run(tenant: Tenant) -> str:
    """A run of the stored ISO_SKU with a one-level hierarchy over it: a run as any other (results,
    exports, adjustments), and it has nodes (what /runs/{run_id}/nodes/{node_id} takes)."""
    _iso_sku(tenant)
    records = [{"sku": ISO_SKU, "attributes": {"iso_level": "x"}}]
    r = tenant.http.post("/api/v1/forecast/attributes", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    r = tenant.http.put(
        "/api/v1/forecast/hierarchies/iso_nodes", json={"levels": ["iso_level"]}, headers=tenant.headers
    )
    assert r.status_code in (200, 201), r.text
    return start_run(tenant, hierarchy="iso_nodes")


def node_of_run(tenant: Tenant) -> str:
    """The total node of the tenant's run (ID_SOURCES' run_id), once it has finished."""
    run_id = ID_SOURCES["run_id"](tenant)
    finish(tenant, run_id, 300)
    r = tenant.http.get(f"/api/v1/forecast/runs/{run_id}/nodes", params={"level": "total"}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["items"], r.text
    return str(r.json()["items"][0]["node_id"])


IdSource = Callable[[Tenant], str]
ID_SOURCES: dict[str, IdSource] = {
    "alert_id": schedule_missed_alert,
    "key_id": lambda tenant: str(tenant.create_api_key()["key_id"]),
    "run_id": once(start_hierarchy_run),
    "node_id": node_of_run,
    "sku": _iso_sku,
    "upload_id": create_upload,
    "name": declare_driver,
}
# (method, path) -> a body that passes validation, for id routes that take one.
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/forecast/runs/{run_id}/export"): {"format": "csv"},
    ("POST", "/api/v1/forecast/runs/{run_id}/results/{sku}/adjustments"): {
        "start": "2024-01-02",
        "end": "2024-01-02",
        "add": 1,
        "reason": "other",
    },
}


# ---------------------------------------------------------------- flows a user goes through
def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def csv_cell(value: str) -> str:
    """A CSV field as a spreadsheet writes it: quoted when it holds a comma or a quote."""
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"') else value


def upload(tenant: Tenant, data: bytes, kind: str = "demand", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A `kind` file (demand, attributes or drivers) through the presigned POST, by the tenant's
    admin or whoever `headers` sign in; its upload report once ingested or rejected."""
    http, headers = tenant.http, headers or tenant.headers
    filename = f"{kind}.csv"
    # Demand is the default kind: asked for as most clients do, without naming it.
    body = {"filename": filename, **({"kind": kind} if kind != "demand" else {})}
    r = http.post("/api/v1/forecast/uploads", json=body, headers=headers)
    assert r.status_code == 201, r.text
    ticket = r.json()
    posted = httpx.post(ticket["url"], data=ticket["fields"], files={"file": (filename, data)}, timeout=120)
    assert posted.status_code in (200, 201, 204), posted.text

    def finished() -> dict[str, Any] | None:
        report = http.get(f"/api/v1/forecast/uploads/{ticket['upload_id']}", headers=headers).json()
        return report if report["status"] not in ("AWAITING_FILE", "PROCESSING") else None

    return dict(wait(finished, 300, f"the {kind} upload to be ingested"))


def run_to_end(tenant: Tenant, body: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    r = tenant.http.post("/api/v1/forecast/runs", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.headers["location"].endswith(r.json()["run_id"])
    return finish(tenant, r.json()["run_id"], timeout)


def finish(tenant: Tenant, run_id: str, timeout: float = 900) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = tenant.http.get(f"/api/v1/forecast/runs/{run_id}", headers=tenant.headers).json()
        return run if run["status"] not in ("QUEUED", "RUNNING") else None

    return dict(wait(done, timeout, f"run {run_id} to finish"))


def results(tenant: Tenant, run_id: str) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = tenant.http.get(f"/api/v1/forecast/runs/{run_id}/results", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        yield from r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return
