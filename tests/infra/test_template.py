"""template.yaml holds what production needs; checked offline on every run."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from skucast_local import allowed_methods, openapi
from skucast_local.template import Template, load
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def template() -> Template:
    return load(ROOT / "template.yaml")


def _props(t: Template, logical: str) -> dict[str, Any]:
    return t.raw["Resources"][logical].get("Properties") or {}


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _dead_letter_queues(template: Template) -> set[str]:
    """Queues that receive what failed every retry: redrive targets and asynchronous failure queues."""
    return {
        str(props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
        for props in (r.get("Properties") or {} for r in template.resources("AWS::SQS::Queue").values())
        if "RedrivePolicy" in props
    } | {fn.dead_letter_queue for fn in template.functions.values() if fn.dead_letter_queue}


def test_every_subscribed_queue_has_a_dlq_partial_batch_responses_and_a_long_enough_visibility(
    template: Template,
) -> None:
    assert template.sqs
    dlqs = _dead_letter_queues(template)
    for sub in template.sqs:
        props = _props(template, sub.queue)
        assert sub.report_batch_item_failures, sub.queue
        if sub.queue in dlqs:
            continue  # a DLQ's recorder: what it fails on stays in the DLQ, retried and alarmed
        redrive = props["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in template.raw["Resources"]
        assert 1 <= int(redrive["maxReceiveCount"]) <= 5
        timeout = template.functions[sub.function].timeout
        assert int(props["VisibilityTimeout"]) >= 6 * timeout, sub.queue


def test_every_dead_letter_queue_has_a_depth_alarm(template: Template) -> None:
    dlqs = _dead_letter_queues(template) | {"ForecastParkedQueue"}
    alarmed = {
        str(dim["Value"]["Fn::GetAtt"][0])
        for alarm in template.resources("AWS::CloudWatch::Alarm").values()
        for dim in (alarm["Properties"].get("Dimensions") or [])
        if isinstance(dim.get("Value"), dict) and "Fn::GetAtt" in dim["Value"]
    }
    assert dlqs and dlqs <= alarmed


def test_asynchronously_invoked_functions_park_failures_in_a_dlq(template: Template) -> None:
    for notification in template.s3:
        assert template.functions[notification.function].dead_letter_queue


def test_every_zip_function_runs_python311_with_the_shared_layer_and_no_image_function_can_inherit_them(
    template: Template,
) -> None:
    # Image functions may not have Runtime/Handler/Layers, and SAM merges Globals into every function.
    assert not {"Runtime", "Handler", "Layers"} & set(template.raw["Globals"]["Function"])
    zips = [name for name, fn in template.functions.items() if fn.package_type == "Zip"]
    assert zips
    for logical in zips:
        props = _props(template, logical)
        assert props.get("Runtime") == "python3.11", logical
        assert props.get("Handler"), logical
        assert {"Ref": "SharedLayer"} in (props.get("Layers") or []), f"{logical} lacks the shared layer"


def test_every_asynchronous_failure_queue_has_a_recorder(template: Template) -> None:
    # Failed S3 events land in a queue; something must turn each into a finished upload.
    recorded = {sub.queue for sub in template.sqs}
    for fn in template.functions.values():
        if fn.dead_letter_queue:
            assert fn.dead_letter_queue in recorded, fn.logical_id


# What the zip functions must import without: each is installed only if its requirements name it.
HEAVY_MODULES = ("pyarrow", "numpy", "pandas", "scipy", "statsforecast", "statsmodels")


def _requirement_names(path: Path) -> set[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return {re.split(r"[=<>\[]", line)[0].lower() for line in lines if line and not line.startswith("#")}


def test_every_zip_function_imports_with_only_what_it_packages(template: Template) -> None:
    # A zip holds the shared layer and its own requirements.txt; anything else it imports fails at
    # cold start on AWS while passing here, where the whole lock is installed.
    layer = _requirement_names(ROOT / "layers" / "shared" / "requirements.txt")
    zips = [fn for fn in template.functions.values() if fn.package_type == "Zip"]
    assert zips
    for fn in zips:
        packaged = layer | _requirement_names(ROOT / fn.code_uri / "requirements.txt")
        blocked = [m for m in HEAVY_MODULES if m not in packaged]
        module = fn.handler.rsplit(".", 1)[0]
        code = f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\nimport {module}\n"
        paths = [str(ROOT / fn.code_uri), str(ROOT / "layers" / "shared")]
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONPATH": ":".join(paths)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{fn.logical_id}: {result.stderr[-1500:]}"


def test_every_handler_imports(template: Template) -> None:
    for fn in template.functions.values():
        module_name, attr = fn.handler.rsplit(".", 1)
        sys.path.insert(0, str(ROOT / fn.code_uri))
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attr)), fn.handler


def test_the_table_is_on_demand_recoverable_and_expires_items(template: Template) -> None:
    (table,) = template.resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]


def test_the_api_meters_the_authorizer_key_against_usage_plans(template: Template) -> None:
    (api,) = template.resources("AWS::Serverless::Api").values()
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    assert api["Properties"]["Auth"]["DefaultAuthorizer"]
    plans = {
        p["Properties"]["UsagePlanName"]["Fn::Sub"].split("-")[-1]
        for p in template.resources("AWS::ApiGateway::UsagePlan").values()
    }
    assert plans == {"free", "standard", "enterprise"}


def test_the_committed_openapi_document_matches_the_code_and_the_template(template: Template) -> None:
    committed = openapi.OUTPUT.read_text(encoding="utf-8")
    assert committed == openapi.render(template), "run `make openapi` and commit the result"
    import json

    paths = json.loads(committed)["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    # The operations are the template's explicit methods. Its ANY methods answer the other methods
    # of a path (405); they are not operations, so the document does not describe them.
    assert documented == {(r.method, r.path) for r in template.routes}
    assert {r.path for r in template.any_routes} == set(paths)


def test_every_reference_in_the_openapi_document_resolves() -> None:
    """A dangling $ref breaks code generators (the console's types are generated from it)."""
    import json

    document = json.loads(openapi.OUTPUT.read_text(encoding="utf-8"))
    refs = set(re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(document)))
    assert refs, "the document uses references"
    for ref in refs:
        node: Any = document
        for part in ref.split("/"):
            assert isinstance(node, dict) and part in node, f"#/{ref} does not resolve"
            node = node[part]


METHOD_NOT_ALLOWED = "MethodNotAllowedFunction"


def test_every_path_answers_the_methods_it_does_not_define_with_405(template: Template) -> None:
    """Each path with methods has one ANY method (API Gateway's fallback for the other methods),
    public, routed to MethodNotAllowedFunction, and nothing else has one."""
    paths = [r.path for r in template.any_routes]
    assert sorted(paths) == sorted({r.path for r in template.routes}), "one ANY event per path with methods"
    for route in template.any_routes:
        assert route.function == METHOD_NOT_ALLOWED, route
        # It reveals only a path's methods, as GET /api/openapi.json does; a CORS preflight has no credential.
        assert route.authorizer is None and not route.api_key_required, route
    assert {r.function for r in template.routes}.isdisjoint({METHOD_NOT_ALLOWED})


def test_the_committed_allowed_methods_match_the_template(template: Template) -> None:
    committed = allowed_methods.OUTPUT.read_text(encoding="utf-8")
    assert committed == allowed_methods.render(template), "run `make allowed-methods` and commit the result"
    fn = template.functions[METHOD_NOT_ALLOWED]
    assert allowed_methods.OUTPUT.parent == ROOT / fn.code_uri / fn.handler.split(".")[0]


def test_every_function_has_an_errors_alarm_within_cloudwatchs_limits(template: Template) -> None:
    alarmed: set[str] = set()
    for alarm in template.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics") or [] if "MetricStat" in m]
        # PutMetricAlarm takes at most 10 metrics (MetricStat) in one alarm.
        assert len(stats) <= 10, props["AlarmDescription"]
        if not stats:
            stats = [props]
        for metric in stats:
            if (metric.get("Namespace"), metric.get("MetricName")) == ("AWS/Lambda", "Errors"):
                alarmed |= {str(d["Value"]["Ref"]) for d in metric["Dimensions"] if d["Name"] == "FunctionName"}
    assert alarmed == set(template.functions)


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_function_requirements_are_pinned_to_the_lock(template: Template) -> None:
    locked = _locked_versions()
    files = [ROOT / "layers" / "shared" / "requirements.txt"]
    files += sorted({ROOT / fn.code_uri / "requirements.txt" for fn in template.functions.values()})
    for path in files:
        assert path.exists(), path
        for line in path.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            name, version = re.split(r"==", line.strip())
            assert locked.get(name.lower()) == version, f"{path.relative_to(ROOT)}: {line} (lock: {locked.get(name)})"


def test_the_forecast_workers_pool_is_one_parameter_and_bounds_each_tenant(template: Template) -> None:
    """skucast.services.batches caps a tenant's batches in flight at SKUCAST_WORKER_CONCURRENCY,
    counted in messages: that equals the pool only at one message per invocation."""
    (sub,) = [s for s in template.sqs if s.queue == "ForecastQueue"]
    events = template.raw["Resources"][sub.function]["Properties"]["Events"]
    (source,) = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert sub.batch_size == 1
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WorkerConcurrency"}
    env = template.raw["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SKUCAST_WORKER_CONCURRENCY"] == {"Ref": "WorkerConcurrency"}
