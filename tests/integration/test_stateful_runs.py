"""A stateful property test of the run pipeline for two tenants, in-process against moto.

Hypothesis interleaves: demand posted (POST /demand), runs started (some SKUs or all), the
queues pumped one delivery at a time (sometimes every message twice), cancels, full drains.
After every step:
- progress never exceeds the total, and a finished run never changes again;
- each tenant lists exactly its own runs, and every forecast comes from its own demand: the
  method is `naive` (the forecast is the last observed quantity) and the two tenants' quantities
  are disjoint, so a read of the other tenant's series would show;
- the tenant's active-run counter equals its active runs, in-flight batches never exceed the
  tier's cap, and once the queues are drained both counters are 0.
Tenant ids and SKU names are prefixes of each other ("cli_sNx" / "cli_sNx0", "S-1" / "S-10").
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from skucast import tiers
from skucast.repositories.keys import run_slots_sk, tenant_pk
from skucast.schemas.forecast import FINISHED
from skucast.services import batches
from skucast_local.emulator import REGION, Provisioned
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.slow

F = "/api/v1/forecast"
SKUS = ["S-1", "S-10", "S-100", "S-2", "S-20"]
FIRST_DAY = dt.date.today() - dt.timedelta(days=120)
QUANTITY = {0: (1, 50), 1: (1000, 1050)}  # tenant index -> its quantities: disjoint
TIERS = ("free", "standard")
RUN = {"horizon": 3, "frequency": "D", "levels": [80], "backtest_windows": 0, "method": "naive"}
examples = itertools.count()


class RunsMachine(RuleBasedStateMachine):
    pipe: Pipeline  # set by the test

    runs = Bundle("runs")

    @initialize()
    def two_tenants(self) -> None:
        n = next(examples)
        self.tenants = [self.pipe.tenant(f"cli_s{n}x", TIERS[0]), self.pipe.tenant(f"cli_s{n}x0", TIERS[1])]
        self.demand: list[dict[str, dict[dt.date, int]]] = [{}, {}]  # tenant -> sku -> day -> quantity
        self.owner: dict[str, int] = {}  # run id -> tenant index
        self.possible: dict[str, dict[str, set[int | None]]] = {}  # run -> sku -> last quantities it may see
        self.finished: dict[str, dict[str, Any]] = {}  # run -> its GET answer once finished

    # ------------------------------------------------------------------ helpers
    def _get(self, run_id: str) -> dict[str, Any]:
        t = self.owner[run_id]
        status, run, _ = self.pipe.api("GET", f"{F}/runs/{run_id}", self.tenants[t], role="viewer")
        assert status == 200, run
        return dict(run)

    def _last(self, t: int, sku: str) -> int | None:
        """What a naive forecast of `sku` reads: its demand on the tenant's last day of data (every
        SKU of a run is forecast from that one origin; a day with no row is zero demand)."""
        days = self.demand[t].get(sku)
        if not days:
            return None
        end = max(max(d) for d in self.demand[t].values())
        return days.get(end, 0)

    def _pump(self, deliveries: int, duplicate: bool) -> None:
        from forecast_worker.app import handler as worker
        from forecast_worker.planner import handler as planner

        for _ in range(deliveries):
            plans = self.pipe.receive("PlanQueue", 1)
            if plans:
                self.pipe.deliver("PlanQueue", planner, plans)
                continue
            batch = self.pipe.receive("ForecastQueue", 1)
            if not batch:
                return
            if duplicate:
                self.pipe.deliver("ForecastQueue", worker, batch)
            self.pipe.deliver("ForecastQueue", worker, batch)

    # ------------------------------------------------------------------ rules
    @rule(
        t=st.integers(0, 1),
        skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True),
        first=st.integers(0, 80),
        days=st.integers(1, 30),
        data=st.data(),
    )
    def post_demand(self, t: int, skus: list[str], first: int, days: int, data: st.DataObject) -> None:
        low, high = QUANTITY[t]
        records = []
        for sku in skus:
            for d in range(first, first + days):
                q = data.draw(st.integers(low, high))
                records.append({"sku": sku, "date": (FIRST_DAY + dt.timedelta(days=d)).isoformat(), "quantity": q})
        status, report, _ = self.pipe.api("POST", f"{F}/demand", self.tenants[t], "analyst", body={"records": records})
        assert status == 200 and report["status"] == "SUCCEEDED", report
        for r in records:
            self.demand[t].setdefault(r["sku"], {})[dt.date.fromisoformat(r["date"])] = r["quantity"]
        for run_id, by_sku in self.possible.items():  # what a run not yet forecast may now read
            if self.owner[run_id] == t and run_id not in self.finished:
                for sku in by_sku:  # a later last day moves every SKU's origin, not just these
                    by_sku[sku].add(self._last(t, sku))

    @rule(
        target=runs,
        t=st.integers(0, 1),
        skus=st.none() | st.lists(st.sampled_from(SKUS), min_size=1, max_size=5, unique=True),
    )
    def start_run(self, t: int, skus: list[str] | None) -> Any:
        body = {**RUN, **({"skus": skus} if skus else {})}
        status, run, _ = self.pipe.api("POST", f"{F}/runs", self.tenants[t], "analyst", body=body)
        active = [r for r, o in self.owner.items() if o == t and r not in self.finished]
        limit = tiers.TIERS[TIERS[t]].max_active_runs
        if len(active) >= limit:
            assert status == 409, run
            return multiple()  # no new run
        assert status == 202 and run["status"] == "QUEUED", run
        self.owner[run["run_id"]] = t
        # None: the SKU had no demand when the run started (it may end with `unknown_sku`).
        self.possible[run["run_id"]] = {sku: {self._last(t, sku)} for sku in (skus or SKUS)}
        return run["run_id"]

    @rule(deliveries=st.integers(1, 4), duplicate=st.booleans())
    def pump(self, deliveries: int, duplicate: bool) -> None:
        self._pump(deliveries, duplicate)

    @rule()
    def drain(self) -> None:
        self.pipe.drain()
        for t, client in enumerate(self.tenants):
            assert self._counters(client) == {"active_runs": 0, "batches_in_flight": 0}, t
        for run_id in self.owner:
            assert self._get(run_id)["status"] in FINISHED, run_id

    @rule(run_id=runs)
    def cancel(self, run_id: str) -> None:
        before = self._get(run_id)
        t = self.owner[run_id]
        status, body, _ = self.pipe.api("POST", f"{F}/runs/{run_id}/cancel", self.tenants[t], "analyst")
        if before["status"] in FINISHED:
            assert status == 409, body
        else:
            assert status == 202 and body["status"] == "CANCELLED", body

    @rule(run_id=runs)
    def other_tenant_cannot_touch(self, run_id: str) -> None:
        other = self.tenants[1 - self.owner[run_id]]
        before = self._get(run_id)
        for method, path in (("GET", ""), ("GET", "/results"), ("POST", "/cancel")):
            status, _, _ = self.pipe.api(method, f"{F}/runs/{run_id}{path}", other, "admin")
            assert status == 404, (method, path)
        assert self._get(run_id) == before

    # ------------------------------------------------------------------ invariants
    def _counters(self, client: str) -> dict[str, int]:
        table = boto3.resource("dynamodb", region_name=REGION).Table(self.pipe.table)
        key = {"pk": tenant_pk(client), "sk": run_slots_sk()}
        item = table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        return {k: int(item.get(k, 0)) for k in ("active_runs", "batches_in_flight")}

    @invariant()
    def runs_are_consistent(self) -> None:
        if not hasattr(self, "tenants"):
            return
        for run_id, t in self.owner.items():
            run = self._get(run_id)
            progress = run["progress"]
            assert 0 <= progress["skus_done"] + progress["skus_failed"] <= progress["skus_total"], run
            if run_id in self.finished:
                assert run == self.finished[run_id], "a finished run never changes"
            elif run["status"] in FINISHED:
                self.finished[run_id] = run
                self._check_results(run_id, t, run)

    @invariant()
    def tenants_see_only_their_runs_and_counters_add_up(self) -> None:
        if not hasattr(self, "tenants"):
            return
        for t, client in enumerate(self.tenants):
            status, listed, _ = self.pipe.api("GET", f"{F}/runs", client, "viewer", query={"limit": "1000"})
            assert status == 200
            assert {r["run_id"] for r in listed["items"]} == {r for r, o in self.owner.items() if o == t}
            active = sum(1 for r in listed["items"] if r["status"] not in FINISHED)
            counters = self._counters(client)
            assert counters["active_runs"] == active, (counters, active)
            assert 0 <= counters["batches_in_flight"] <= tiers.TIERS[TIERS[t]].max_batches_in_flight

    def _check_results(self, run_id: str, t: int, run: dict[str, Any]) -> None:
        status, page, _ = self.pipe.api(
            "GET", f"{F}/runs/{run_id}/results", self.tenants[t], "viewer", query={"limit": "1000"}
        )
        assert status == 200, page
        results = {r["sku"]: r for r in page["items"]}
        if run["status"] == "CANCELLED":
            return  # whatever was forecast before the cancel stays; nothing more is checked
        assert len(results) == run["progress"]["skus_total"], (run, sorted(results))
        for sku, result in results.items():
            possible = self.possible[run_id][sku]
            if result["error"]:
                assert result["error"]["code"] == "unknown_sku" and None in possible, (sku, result, possible)
                continue
            mean = {p["mean"] for p in result["forecast"]}
            assert len(mean) == 1 and mean <= possible - {None}, (sku, mean, possible, "another tenant's data?")

    def teardown(self) -> None:
        if hasattr(self, "tenants"):
            self.drain()
            self.runs_are_consistent()


def test_runs_for_two_tenants_keep_their_invariants_under_any_interleaving(
    provisioned: Provisioned, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "BATCH_SIZE", 2)  # several batches a run, so partial drains matter
    RunsMachine.pipe = Pipeline(provisioned, lambda_context)
    run_state_machine_as_test(
        RunsMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
