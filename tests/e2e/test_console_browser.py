"""The web console in Debian's Chromium (Playwright) against the local stack, as a planner uses it:
sign in; upload a demand file with a bad row and see it in "Rejected rows"; start a run and watch
it reach SUCCEEDED; open a SKU whose name has a space and unicode and see history, forecast and
bands; adjust a week with a reason and see it in the chart, the "Adjustments" table and the CSV
export; a viewer sees no "Adjust" button and the forced adjust path shows the API's 403; another
tenant's SKU URL shows "Not found"; a hierarchy run started from the console shows each node's
reconciled and base forecast totals. Every screen is screenshot into artifacts/console-<screen>.png
and checked by axe-core (no serious or critical violation: the last test).

One test runs the steps in order on one browser and shares its pages (one sign-in each, one small
upload, one run): each step is the next thing a user does. One test, not one per step: a
distributed run (pytest-xdist) may send the tests of a module to different workers, each with its
own stack, and a step needs what the one before it did. Needs the console's build
(`make console`, which `make test` runs) and chromium (installed by `make test`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.chromium import CHROMIUM_ARGS
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.routes import Tenant

expect.set_options(timeout=30_000)  # a loaded 2-core machine: waits end as soon as the page is right

pytestmark = pytest.mark.e2e
DIST = ROOT / "console" / "dist"
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts"
SKU = "Bolt M8 Ø5 ü-ß"  # spaces and unicode: the URL, the heading and the export must keep it
OTHERS = ["Nut M8", "Washer 8"]
OTHER_TENANT_SKU = "B-ONLY 1"
HISTORY_DAYS = 84
HORIZON = 14
SLOW = 120_000  # ms: an upload's ingestion or a run on a loaded 2-core machine
BLOCKING = ("serious", "critical")


def demand_csv() -> tuple[bytes, int]:
    """Three SKUs x 84 days, and one bad row (a negative quantity); returns the file and its bad
    row's number as the upload report counts rows (the header is row 1)."""
    start, noise = dt.date(2026, 9, 1), random.Random(22)
    rows = [["sku", "date", "quantity"]]
    for k, sku in enumerate([SKU, *OTHERS]):
        for d in range(HISTORY_DAYS):  # a weekly pattern and noise, so the bands have a width to draw
            quantity = 10 + k * 5 + (d % 7) * 2 + noise.randint(0, 6)
            rows.append([sku, (start + dt.timedelta(days=d)).isoformat(), str(quantity)])
    bad_at = len(rows) + 1
    rows.append(["Broken 1", "2026-10-01", "-3"])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(), bad_at


class Screens:
    """Screenshots and axe results of every screen the tests reach."""

    def __init__(self) -> None:
        self.violations: dict[str, list[dict[str, Any]]] = {}

    def capture(self, page: Page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        self.violations[name] = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in found
            if v["impact"] in BLOCKING
        ]


@pytest.fixture(scope="module")
def screens() -> Screens:
    return Screens()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert (DIST / "index.html").is_file(), "the console is not built: run make console"
    assert AXE.is_file(), "axe-core is not installed: run make console (npm ci in console/)"
    assert shutil.which("chromium"), "chromium is not installed (make test installs Debian's chromium package)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Tenant:
    return Tenant.sign_up(stack, tier="enterprise")


@pytest.fixture(scope="module")
def other_tenant(stack: RunningStack) -> Tenant:
    other = Tenant.sign_up(stack)
    records = [{"sku": OTHER_TENANT_SKU, "date": f"2026-10-{d:02d}", "quantity": 3} for d in range(1, 15)]
    r = other.http.post("/api/v1/forecast/demand", json={"records": records}, headers=other.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    return other


def sign_in(browser: Browser, stack: RunningStack, email: str, password: str, path: str = "/") -> Page:
    """A fresh context (tokens live in memory only: a new tab signs in), opened at `path`."""
    context = browser.new_context(base_url=stack.api, viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(path)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


@pytest.fixture(scope="module")
def admin(browser: Browser, stack: RunningStack, tenant: Tenant) -> Iterator[Page]:
    page = sign_in(browser, stack, tenant.email, tenant.password)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What one step leaves for the next (the run id, the adjusted week)."""
    return {}


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def step_sign_in_refuses_a_wrong_password_then_opens_the_overview(
    browser: Browser, stack: RunningStack, tenant: Tenant, screens: Screens, admin: Page
) -> None:
    assert any(line.startswith(f"console: open {stack.api}/ ") for line in stack.output), "make up prints the URL"
    page = browser.new_page(base_url=stack.api)
    page.goto("/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screens.capture(page, "signin")
    page.get_by_label("Email", exact=True).fill(tenant.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Unauthorized")
    page.close()

    expect(admin.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    banner = admin.get_by_role("banner")
    expect(banner).to_contain_text(tenant.email)
    expect(banner).to_contain_text("admin")
    for link in ("Overview", "SKUs", "Uploads", "Runs", "Settings"):
        expect(admin.get_by_role("navigation").get_by_role("link", name=link, exact=True)).to_be_visible()
    screens.capture(admin, "overview")


def step_an_upload_with_a_bad_row_shows_it_in_rejected_rows(admin: Page, screens: Screens, tenant: Tenant) -> None:
    data, bad_row = demand_csv()
    nav(admin, "Uploads")
    admin.get_by_label("Kind", exact=True).select_option("demand")
    admin.get_by_label("File", exact=True).set_input_files(
        {"name": "demand.csv", "mimeType": "text/csv", "buffer": data}
    )
    admin.get_by_role("button", name="Upload").click()
    expect(admin.get_by_test_id("upload-status")).to_have_text(re.compile("PARTIAL"), timeout=SLOW)
    rejected = admin.locator("table", has=admin.locator("caption", has_text="Rejected rows"))
    rows = rejected.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(str(bad_row))
    expect(rows.first).to_contain_text("quantity")
    # the same report the API keeps: row, column and code as sent
    report = tenant.http.get("/api/v1/forecast/uploads", headers=tenant.headers).json()["items"][0]
    (error,) = report["errors"]
    assert (error["row"], error["column"]) == (bad_row, "quantity")
    expect(rows.first).to_contain_text(error["code"])
    screens.capture(admin, "uploads")


def step_a_run_started_from_the_console_reaches_succeeded(admin: Page, screens: Screens, state: dict[str, Any]) -> None:
    nav(admin, "Runs")
    screens.capture(admin, "runs")
    admin.get_by_role("link", name="New run").click()
    admin.get_by_label("Horizon", exact=True).fill(str(HORIZON))
    admin.get_by_label("Name", exact=True).fill("browser run")
    screens.capture(admin, "runs-new")
    admin.get_by_role("button", name="Start run").click()
    admin.wait_for_url(re.compile(r"/runs/(?!new$)[^/]+$"))
    run_id = admin.url.rsplit("/", 1)[1]
    expect(admin.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    status = admin.get_by_test_id("run-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text("SUCCEEDED", timeout=SLOW)
    state["run_id"] = run_id
    screens.capture(admin, "run")


def _chart(page: Page) -> Any:
    return page.get_by_role("img", name="History and forecast")


def step_a_sku_shows_history_forecast_and_bands(
    admin: Page, screens: Screens, state: dict[str, Any], tenant: Tenant
) -> None:
    nav(admin, "SKUs")
    admin.get_by_label("Search SKU", exact=True).fill("Bolt")
    table = admin.locator("table", has=admin.locator("caption", has_text="SKUs"))
    expect(table.locator("tbody tr")).to_have_count(1)
    screens.capture(admin, "skus")
    table.get_by_role("link", name=SKU, exact=True).click()
    admin.wait_for_url(f"**/skus/{quote(SKU, safe='')}")
    expect(admin.get_by_role("heading", name=SKU, exact=True)).to_be_visible()
    chart = _chart(admin)
    expect(chart.locator("canvas").first).to_be_visible()
    # the data attributes the app sets from what it drew (UI_CONTRACT.md); the forecast loads after the history
    expect(chart).to_have_attribute("data-series", "history,forecast,lo-80,hi-80,lo-95,hi-95,final")
    expect(chart).to_have_attribute("data-history-points", str(HISTORY_DAYS))
    expect(chart).to_have_attribute("data-forecast-points", str(HORIZON))
    expect(chart).to_have_attribute("data-adjusted-periods", "")
    legend = admin.locator(".u-legend")
    for label in ("History", "Forecast", "80", "95"):
        expect(legend).to_contain_text(label)
    result = tenant.http.get(
        f"/api/v1/forecast/runs/{state['run_id']}/results/{quote(SKU, safe='')}", headers=tenant.headers
    ).json()
    assert all(p["lo_95"] <= p["lo_80"] <= p["mean"] <= p["hi_80"] <= p["hi_95"] for p in result["forecast"])
    assert any(p["hi_95"] - p["lo_95"] > 1 for p in result["forecast"]), "bands with no width to draw"
    state["forecast"] = result["forecast"]
    screens.capture(admin, "sku")


def step_an_adjusted_week_shows_in_the_chart_the_history_and_the_export(
    admin: Page, screens: Screens, state: dict[str, Any]
) -> None:
    week = state["forecast"][:7]
    start, end = week[0]["date"], week[-1]["date"]
    chart = _chart(admin)
    before = chart.get_attribute("data-final")
    admin.get_by_role("button", name="Adjust").click()
    admin.get_by_label("From", exact=True).fill(start)
    admin.get_by_label("To", exact=True).fill(end)
    admin.get_by_label("Operation", exact=True).select_option("add")
    admin.get_by_label("Value", exact=True).fill("40")
    admin.get_by_label("Reason", exact=True).select_option("promotion")
    admin.get_by_label("Comment", exact=True).fill("flyer week")
    screens.capture(admin, "sku-adjust")
    admin.get_by_role("button", name="Save adjustment").click()

    history = admin.locator("table", has=admin.locator("caption", has_text="Adjustments"))
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr").first).to_contain_text("promotion")
    expect(history.locator("tbody tr").first).to_contain_text("flyer week")
    expect(chart).not_to_have_attribute("data-final", before or "")
    finals = [float(x) for x in (chart.get_attribute("data-final") or "").strip("[]").split(",")]
    expected = [p["mean"] + 40 if i < 7 else p["mean"] for i, p in enumerate(state["forecast"])]
    assert finals == pytest.approx(expected, abs=0.01)
    screens.capture(admin, "sku-adjusted")

    admin.get_by_role("navigation").get_by_role("link", name="Runs", exact=True).click()
    admin.get_by_role("link", name=state["run_id"]).first.click()
    expect(admin.get_by_test_id("run-status")).to_contain_text("SUCCEEDED")
    with admin.expect_download() as download:
        admin.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    ours = {r["ds"] if "ds" in r else r["date"]: r for r in rows if r.get("unique_id", r.get("sku")) == SKU}
    assert len(ours) == HORIZON, sorted({r.get("unique_id", r.get("sku")) for r in rows})
    for point, want in zip(state["forecast"], expected, strict=True):
        assert float(ours[point["date"]]["final"]) == pytest.approx(want, abs=0.01), point["date"]


def step_a_viewer_sees_no_adjust_button_and_a_forced_adjust_shows_403(
    browser: Browser, stack: RunningStack, tenant: Tenant, screens: Screens
) -> None:
    user, _ = tenant.create_user("viewer")
    sku_path = f"/skus/{quote(SKU, safe='')}"
    page = sign_in(browser, stack, user["email"], "viewer password", sku_path)
    try:
        expect(page.get_by_role("heading", name=SKU, exact=True)).to_be_visible()
        expect(page.get_by_role("banner")).to_contain_text("viewer")
        expect(_chart(page).locator("canvas").first).to_be_visible()
        expect(page.get_by_role("button", name="Adjust")).to_have_count(0)
        page.goto(f"{sku_path}/adjust")  # a reload: tokens in memory only, so sign in again
        page.get_by_label("Email", exact=True).fill(user["email"])
        page.get_by_label("Password", exact=True).fill("viewer password")
        page.get_by_role("button", name="Sign in").click()
        expect(_chart(page)).to_have_attribute("data-forecast-points", str(HORIZON))  # the form's defaults are set
        page.get_by_label("Value", exact=True).fill("5")
        page.get_by_label("Reason", exact=True).select_option("other")
        page.get_by_role("button", name="Save adjustment").click()
        expect(page.get_by_role("alert")).to_contain_text("Forbidden")
        screens.capture(page, "sku-adjust-forbidden")
    finally:
        page.context.close()


def step_another_tenants_sku_url_shows_not_found(
    browser: Browser, stack: RunningStack, tenant: Tenant, other_tenant: Tenant, screens: Screens, admin: Page
) -> None:
    page = sign_in(browser, stack, tenant.email, tenant.password, f"/skus/{quote(OTHER_TENANT_SKU, safe='')}")
    try:
        expect(page.get_by_role("heading", name="Not found", exact=True)).to_be_visible()
        expect(page.get_by_text(OTHER_TENANT_SKU)).to_have_count(0)
        screens.capture(page, "not-found")
    finally:
        page.context.close()
    nav(admin, "Settings")
    for section in ("Schedule", "Calendar", "Drivers", "Hierarchies", "Alert thresholds", "Users", "API keys"):
        expect(admin.get_by_role("heading", name=section, exact=True)).to_be_visible()
    screens.capture(admin, "settings")


def _node_totals(items: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {", ".join(f"{k}={v}" for k, v in n["key"].items()): sum(p["mean"] for p in n[key]) for n in items}


def step_a_hierarchy_run_shows_each_nodes_reconciled_and_base_totals(
    admin: Page, screens: Screens, tenant: Tenant
) -> None:
    """Attributes and a hierarchy set up over the API; the run started from the console with the
    hierarchy; the "Nodes" table at the category level shows each node's reconciled and base
    forecast totals, as the API answers them."""
    records = [{"sku": SKU, "attributes": {"category": "Fasteners"}}]
    records += [{"sku": OTHERS[0], "attributes": {"category": "Fasteners"}}]
    records += [{"sku": OTHERS[1], "attributes": {"category": "Washers & co"}}]
    r = tenant.http.post("/api/v1/forecast/attributes", json={"records": records}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    r = tenant.http.put("/api/v1/forecast/hierarchies/product", json={"levels": ["category"]}, headers=tenant.headers)
    assert r.status_code in (200, 201), r.text

    nav(admin, "Runs")
    admin.get_by_role("link", name="New run").click()
    admin.get_by_label("Horizon", exact=True).fill(str(HORIZON))
    admin.get_by_label("Hierarchy", exact=True).select_option("product")
    admin.get_by_role("button", name="Start run").click()
    admin.wait_for_url(re.compile(r"/runs/(?!new$)[^/]+$"))
    run_id = admin.url.rsplit("/", 1)[1]
    expect(admin.get_by_test_id("run-status")).to_contain_text("SUCCEEDED", timeout=SLOW)
    r = tenant.http.get(f"/api/v1/forecast/runs/{run_id}/nodes", params={"level": "category"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    reconciled, base = _node_totals(items, "forecast"), _node_totals(items, "base_forecast")
    assert set(reconciled) == {"category=Fasteners", "category=Washers & co"}

    region = admin.get_by_role("region", name="Hierarchy nodes")
    region.get_by_label("Level", exact=True).select_option("category")
    table = region.locator("table", has=admin.locator("caption", has_text="Nodes"))
    expect(table.locator("thead")).to_contain_text("Base forecast total")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody")).to_contain_text("Washers & co")
    for row in table.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        node = cells[0]
        assert float(cells[2].replace(",", "")) == pytest.approx(reconciled[node], abs=0.051), (node, cells)
        assert float(cells[3].replace(",", "")) == pytest.approx(base[node], abs=0.051), (node, cells)
    screens.capture(admin, "run-hierarchy")


def step_every_screen_has_no_serious_or_critical_accessibility_violation(screens: Screens) -> None:
    expected = {"signin", "overview", "uploads", "runs", "runs-new", "run", "skus", "sku", "sku-adjust", "settings"}
    expected |= {"sku-adjusted", "sku-adjust-forbidden", "not-found", "run-hierarchy"}
    assert expected <= set(screens.violations), f"screens not reached: {expected - set(screens.violations)}"
    assert {name: v for name, v in screens.violations.items() if v} == {}


def test_a_planner_session_in_the_console(
    browser: Browser,
    stack: RunningStack,
    tenant: Tenant,
    other_tenant: Tenant,
    admin: Page,
    screens: Screens,
    state: dict[str, Any],
) -> None:
    step_sign_in_refuses_a_wrong_password_then_opens_the_overview(browser, stack, tenant, screens, admin)
    step_an_upload_with_a_bad_row_shows_it_in_rejected_rows(admin, screens, tenant)
    step_a_run_started_from_the_console_reaches_succeeded(admin, screens, state)
    step_a_sku_shows_history_forecast_and_bands(admin, screens, state, tenant)
    step_an_adjusted_week_shows_in_the_chart_the_history_and_the_export(admin, screens, state)
    step_a_viewer_sees_no_adjust_button_and_a_forced_adjust_shows_403(browser, stack, tenant, screens)
    step_another_tenants_sku_url_shows_not_found(browser, stack, tenant, other_tenant, screens, admin)
    step_a_hierarchy_run_shows_each_nodes_reconciled_and_base_totals(admin, screens, tenant)
    step_every_screen_has_no_serious_or_critical_accessibility_violation(screens)
