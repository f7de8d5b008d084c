"""Reads template.yaml: the one description of what exists, for AWS and for the local stack alike.

Only what the local stack needs is modelled: functions with their events, the API's routes and
authorizer, queues, the table, the bucket, secrets, usage plans, event buses and gateway responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml


class TemplateError(Exception):
    """template.yaml cannot be used (one line, names the problem)."""


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorizer: str | None  # None = public
    api_key_required: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class SqsSubscription:
    function: str
    queue: str  # logical id
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class S3Notification:
    function: str
    bucket: str  # logical id
    events: tuple[str, ...]
    prefix: str
    suffix: str


@dataclass(frozen=True)
class Schedule:
    name: str  # "<Function>.<Event>"
    function: str
    expression: str
    input: Any


@dataclass
class Function:
    logical_id: str
    code_uri: str  # the code directory (an image function's: its FUNCTION_DIR build arg, see _image_code)
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]
    retries: int  # asynchronous invocations (S3, EventBridge)
    # Where an asynchronous event that failed every retry goes (logical id of an SQS queue): the
    # function's DeadLetterQueue (which receives the event itself) or its on-failure destination
    # (which receives Lambda's invocation record, the event under requestPayload).
    dead_letter_queue: str | None
    failure_record: bool = False  # True for an on-failure destination
    package_type: str = "Zip"  # or "Image"
    # An image function's build (template Metadata): its Dockerfile, relative to the template's
    # directory as `sam build` resolves it (DockerContext / Dockerfile), and its DockerBuildArgs.
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)


@dataclass
class Template:
    root: Path
    raw: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    # The API's operations: a method of a resource path (what the OpenAPI document describes).
    routes: list[Route] = field(default_factory=list)
    # `Method: ANY` events: API Gateway REST routes a request to a resource's explicit method, and
    # to the resource's ANY method only for the methods the resource does not define. Here, the
    # 405 answers for those methods (MethodNotAllowedFunction); not operations of the API.
    any_routes: list[Route] = field(default_factory=list)
    sqs: list[SqsSubscription] = field(default_factory=list)
    s3: list[S3Notification] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    default_authorizer: str | None = None

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v.get("Type") == type_}


def load(path: Path) -> Template:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    except FileNotFoundError:
        raise TemplateError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TemplateError(f"{path.name}: invalid YAML{where}: {problem}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("Resources"), dict) or not raw["Resources"]:
        raise TemplateError(f"{path.name}: no Resources section")
    template = Template(root=path.parent, raw=raw)
    try:
        _read_functions(template)
    except (KeyError, TypeError, ValueError) as exc:
        raise TemplateError(f"{path.name}: {exc}") from None
    return template


def _globals(raw: dict[str, Any]) -> dict[str, Any]:
    return (raw.get("Globals") or {}).get("Function") or {}


def _read_functions(t: Template) -> None:
    g = _globals(t.raw)
    api_auth = _api_auth(t)
    for logical_id, res in t.resources("AWS::Serverless::Function").items():
        props = res.get("Properties") or {}
        package_type = str(props.get("PackageType", g.get("PackageType", "Zip")))
        dockerfile: str | None = None
        build_args: dict[str, str] = {}
        if package_type == "Image":
            code_uri, handler, dockerfile, build_args = _image_code(t.root, logical_id, res)
        else:
            code_uri, handler = _zip_code(logical_id, res, g)
        env = dict(((g.get("Environment") or {}).get("Variables")) or {})
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        dlq = (props.get("DeadLetterQueue") or {}).get("TargetArn")
        invoke_config = props.get("EventInvokeConfig") or {}
        on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
        if on_failure and on_failure.get("Type") != "SQS":
            raise ValueError(f"function {logical_id}: the local stack sends on-failure records to SQS only")
        failures = on_failure.get("Destination") or dlq
        t.functions[logical_id] = Function(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=handler,
            timeout=int(props.get("Timeout", g.get("Timeout", 3))),
            memory=int(props.get("MemorySize", g.get("MemorySize", 128))),
            environment=env,
            retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            dead_letter_queue=_logical_of(failures) if failures else None,
            failure_record=bool(on_failure),
            package_type=package_type,
            dockerfile=dockerfile,
            build_args=build_args,
        )
        for event_name, event in (props.get("Events") or {}).items():
            _read_event(t, logical_id, event_name, event, api_auth)


def _zip_code(logical_id: str, res: dict[str, Any], g: dict[str, Any]) -> tuple[str, str]:
    props = res.get("Properties") or {}
    for required in ("CodeUri", "Handler"):
        if required not in props and required not in g:
            raise ValueError(f"function {logical_id} has no {required}")
    return str(props.get("CodeUri", g.get("CodeUri"))), str(props.get("Handler", g.get("Handler")))


# The build args of this project's one Dockerfile (functions/Dockerfile): the function's directory
# in the build context, and the package of that directory the image copies into its task root.
FUNCTION_DIR_ARG = "FUNCTION_DIR"
FUNCTION_PACKAGE_ARG = "FUNCTION_PACKAGE"


def _image_code(root: Path, logical_id: str, res: dict[str, Any]) -> tuple[str, str, str, dict[str, str]]:
    """An image function's code directory, handler, Dockerfile and build args.

    An image function names no code directory as a zip does. The handler is ImageConfig.Command[0].
    The code directory is, by this project's convention, the FUNCTION_DIR build arg in Metadata
    (DockerBuildArgs), relative to DockerContext as every COPY source of the Dockerfile is: the one
    Dockerfile installs that directory's requirements.txt and copies its FUNCTION_PACKAGE, and the
    shared layer's package, into the image's task root (tests/infra checks both), so the local stack
    serves the function from the same code, and the handler must be in FUNCTION_PACKAGE.
    """
    command = ((res.get("Properties") or {}).get("ImageConfig") or {}).get("Command")
    if not isinstance(command, list) or not command or not isinstance(command[0], str):
        raise ValueError(f"image function {logical_id} has no ImageConfig.Command naming its handler")
    metadata = res.get("Metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    for required in ("Dockerfile", "DockerContext"):
        if not isinstance(metadata.get(required), str) or not metadata[required]:
            raise ValueError(f"image function {logical_id} has no Metadata.{required}")
    context = PurePosixPath(metadata["DockerContext"])
    dockerfile = context / metadata["Dockerfile"]
    if not (root / dockerfile).is_file():
        raise ValueError(f"image function {logical_id}: Dockerfile {dockerfile} not found")
    raw_args = metadata.get("DockerBuildArgs")
    raw_args = raw_args if isinstance(raw_args, dict) else {}
    args = {str(k): str(v) for k, v in raw_args.items() if isinstance(v, str | int | float)}
    for required in (FUNCTION_DIR_ARG, FUNCTION_PACKAGE_ARG):
        if not args.get(required):
            raise ValueError(f"image function {logical_id} has no Metadata.DockerBuildArgs.{required}")
    code_dir = context / args[FUNCTION_DIR_ARG]
    if not (root / code_dir).is_dir():
        raise ValueError(f"image function {logical_id}: {FUNCTION_DIR_ARG} {code_dir} is not a directory")
    package = args[FUNCTION_PACKAGE_ARG]
    if command[0].split(".", 1)[0] != package:
        raise ValueError(
            f"image function {logical_id}: handler {command[0]} is not in {FUNCTION_PACKAGE_ARG} {package}, "
            "the one package the image copies"
        )
    return str(code_dir), command[0], str(dockerfile), args


def _api_auth(t: Template) -> dict[str, Any]:
    apis = t.resources("AWS::Serverless::Api")
    if len(apis) > 1:
        raise ValueError("the local stack serves one AWS::Serverless::Api")
    for api in apis.values():
        auth = (api.get("Properties") or {}).get("Auth") or {}
        t.default_authorizer = auth.get("DefaultAuthorizer")
        return auth
    return {}


def _read_event(t: Template, fn: str, name: str, event: dict[str, Any], api_auth: dict[str, Any]) -> None:
    kind, props = event.get("Type"), event.get("Properties") or {}
    if kind == "Api":
        auth = props.get("Auth") or {}
        authorizer = auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
        method = str(props["Method"]).upper()
        (t.any_routes if method == "ANY" else t.routes).append(
            Route(
                method=method,
                path=str(props["Path"]),
                function=fn,
                authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                api_key_required=bool(auth.get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))),
            )
        )
    elif kind == "SQS":
        t.sqs.append(
            SqsSubscription(
                function=fn,
                queue=_logical_of(props["Queue"]),
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            )
        )
    elif kind == "S3":
        rules = (((props.get("Filter") or {}).get("S3Key") or {}).get("Rules")) or []
        by_name = {r["Name"].lower(): r["Value"] for r in rules}
        events = props["Events"]
        t.s3.append(
            S3Notification(
                function=fn,
                bucket=_logical_of(props["Bucket"]),
                events=tuple(events if isinstance(events, list) else [events]),
                prefix=by_name.get("prefix", ""),
                suffix=by_name.get("suffix", ""),
            )
        )
    elif kind == "Schedule":
        raw_input = props.get("Input")
        t.schedules.append(
            Schedule(
                name=f"{fn}.{name}",
                function=fn,
                expression=str(props["Schedule"]),
                input=yaml.safe_load(raw_input) if isinstance(raw_input, str) else raw_input,
            )
        )
    else:
        raise ValueError(f"event {fn}.{name}: type {kind!r} is not served by the local stack")


def _logical_of(value: Any) -> str:
    """The logical id behind !Ref X / !GetAtt X.Arn."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    raise ValueError(f"expected !Ref or !GetAtt of a resource, got {value!r}")
