"""The AWS emulator (moto in server mode) and the resources of template.yaml created in it.

Nothing is declared here that the template does not declare; the one addition is an internal queue
per S3 notification, which stands in for S3's asynchronous invocation of the function.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from skucast_local import moto_fast, s3_post_policy
from skucast_local.template import Template, TemplateError

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "skucast-local"
ClientFactory = Callable[[str], Any]
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass
class Physical:
    """What a logical id resolves to: its Ref value and its attributes."""

    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Provisioned:
    endpoint: str
    resources: dict[str, Physical]
    service_key: str
    s3_queues: dict[str, str]  # S3 notification function -> internal queue URL
    environments: dict[str, dict[str, str]]  # function -> resolved environment


class Emulator:
    def __init__(self, host: str, port: int) -> None:
        self.endpoint = f"http://{host}:{port}"
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
        moto_fast.install()
        # Upload forms are signed by the functions, with the credentials the stack gives them.
        s3_post_policy.install({LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]: LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (the emulator accepts any)
        )


class Resolver:
    """Resolves the intrinsic functions the template uses (Ref, GetAtt, Sub, Join)."""

    def __init__(
        self, template: Template, resources: dict[str, Physical], overrides: dict[str, str] | None = None
    ) -> None:
        self.resources = resources
        params = template.raw.get("Parameters") or {}
        self.params = {name: str(p.get("Default", "")) for name, p in params.items()}
        for name, value in (overrides or {}).items():  # as `sam deploy --parameter-overrides`
            if name not in self.params:
                raise TemplateError(f"template.yaml: no parameter {name} to override")
            self.params[name] = value
        self.pseudo = {
            "AWS::StackName": STACK,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if "." in name:  # SAM's Api.Stage style
            logical, attr = name.split(".", 1)
            return self.getatt(logical, attr)
        if name in self.resources:
            return self.resources[name].ref
        raise TemplateError(f"template.yaml: !Ref {name} names nothing the local stack created")

    def getatt(self, logical: str, attr: str) -> str:
        try:
            return self.resources[logical].attrs[attr]
        except KeyError:
            raise TemplateError(f"template.yaml: !GetAtt {logical}.{attr} is not available locally") from None

    def sub(self, text: str, extra: dict[str, str] | None = None) -> str:
        def replace(match: Any) -> str:
            name = match.group(1)
            if extra and name in extra:
                return extra[name]
            if "." in name and name.split(".", 1)[0] in self.resources:
                return self.getatt(*name.split(".", 1))
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(logical, attr)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: str(self.resolve(v)) for k, v in arg[1].items()})
                return self.sub(arg)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def provision(
    client: ClientFactory,
    endpoint: str,
    template: Template,
    service_key: str | None,
    secret_values: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
) -> Provisioned:
    """Create the template's resources through `client` (the emulator's, or moto's in-process mock)."""
    resources: dict[str, Physical] = {}
    resolver = Resolver(template, resources, parameters)
    resources["Api"] = Physical(ref="local", attrs={"Stage": resolver.params.get("Stage", "prod")})
    key = service_key or secrets.token_urlsafe(32)
    _secrets(client, template, resolver, resources, key, secret_values or {})
    _tables(client, template, resolver, resources)
    _queues(client, template, resolver, resources)
    _event_buses(client, template, resolver, resources)
    s3_queues = _buckets(client, template, resolver, resources)
    _usage_plans(client, template, resolver)
    environments = {
        name: {k: str(resolver.resolve(v)) for k, v in fn.environment.items()}
        for name, fn in template.functions.items()
    }
    return Provisioned(endpoint, resources, key, s3_queues, environments)


def _secrets(
    client: ClientFactory,
    t: Template,
    r: Resolver,
    out: dict[str, Physical],
    service_key: str,
    values: dict[str, str],
) -> None:
    sm = client("secretsmanager")
    for logical, res in t.resources("AWS::SecretsManager::Secret").items():
        props = res.get("Properties") or {}
        # A generated secret is the operator's service key: SKUCAST_SERVICE_KEY or a fresh one.
        value = service_key if "GenerateSecretString" in props else str(r.resolve(props.get("SecretString", "")))
        value = values.get(logical, value)  # e.g. the local signing keyring (skucast_local.signing_keys)
        arn = sm.create_secret(Name=f"{STACK}-{logical}", SecretString=value)["ARN"]
        out[logical] = Physical(ref=arn)


def _tables(client: ClientFactory, t: Template, r: Resolver, out: dict[str, Physical]) -> None:
    ddb = client("dynamodb")
    for logical, res in t.resources("AWS::DynamoDB::Table").items():
        props = r.resolve(res.get("Properties") or {})
        name = props.get("TableName") or f"{STACK}-{logical}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        arn = ddb.create_table(**kwargs)["TableDescription"]["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        out[logical] = Physical(ref=name, attrs={"Arn": arn})


def _queues(client: ClientFactory, t: Template, r: Resolver, out: dict[str, Physical]) -> None:
    sqs = client("sqs")
    pending = dict(t.resources("AWS::SQS::Queue"))
    while pending:  # dead-letter queues first: a redrive policy needs its target's ARN
        ready = {k: v for k, v in pending.items() if _redrive_target(v) is None or _redrive_target(v) in out}
        if not ready:
            raise TemplateError(f"template.yaml: redrive policies of {sorted(pending)} cannot be satisfied")
        for logical, res in ready.items():
            props = r.resolve(res.get("Properties") or {})
            name = props.get("QueueName") or f"{STACK}-{logical}"
            attributes = {
                k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds") if k in props
            }
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            out[logical] = Physical(ref=url, attrs={"Arn": arn, "QueueName": name, "QueueUrl": url})
            del pending[logical]


def _event_buses(client: ClientFactory, t: Template, r: Resolver, out: dict[str, Physical]) -> None:
    """The template's EventBridge buses (the emulator delivers their events to the rules' SQS
    targets, as EventBridge does: tests subscribe a queue to see what is published)."""
    events = client("events")
    for logical, res in t.resources("AWS::Events::EventBus").items():
        props = r.resolve(res.get("Properties") or {})
        name = props.get("Name") or f"{STACK}-{logical}"
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        out[logical] = Physical(ref=name, attrs={"Arn": arn, "Name": name})


def _redrive_target(res: dict[str, Any]) -> str | None:
    target = ((res.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    return None


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renamed = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
    return {renamed.get(key, key): value for key, value in rule.items()}


def _buckets(client: ClientFactory, t: Template, r: Resolver, out: dict[str, Physical]) -> dict[str, str]:
    s3, sqs = client("s3"), client("sqs")
    for logical, res in t.resources("AWS::S3::Bucket").items():
        props = r.resolve(res.get("Properties") or {})
        name = props.get("BucketName") or f"{STACK}-{logical}".lower()
        s3.create_bucket(Bucket=name)
        cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
        if cors:  # CloudFormation's names for the rules, S3 API's in put_bucket_cors
            rules = [_cors_rule(rule) for rule in cors]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        out[logical] = Physical(ref=name, attrs={"Arn": f"arn:aws:s3:::{name}"})
    internal: dict[str, str] = {}
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for n in t.s3:
        qname = f"{STACK}-s3-to-{n.function}"
        internal[n.function] = sqs.create_queue(QueueName=qname)["QueueUrl"]
        rules = [{"Name": "prefix", "Value": n.prefix}] if n.prefix else []
        rules += [{"Name": "suffix", "Value": n.suffix}] if n.suffix else []
        config: dict[str, Any] = {
            "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{qname}",
            "Events": list(n.events),
        }
        if rules:
            config["Filter"] = {"Key": {"FilterRules": rules}}
        by_bucket.setdefault(n.bucket, []).append(config)
    for bucket, configs in by_bucket.items():
        s3.put_bucket_notification_configuration(
            Bucket=out[bucket].ref, NotificationConfiguration={"QueueConfigurations": configs}
        )
    return internal


def _usage_plans(client: ClientFactory, t: Template, r: Resolver) -> None:
    apigw = client("apigateway")
    for logical, res in t.resources("AWS::ApiGateway::UsagePlan").items():
        props = r.resolve(res.get("Properties") or {})
        kwargs: dict[str, Any] = {"name": props.get("UsagePlanName") or f"{STACK}-{logical}"}
        if props.get("Throttle"):
            kwargs["throttle"] = {
                "rateLimit": float(props["Throttle"]["RateLimit"]),
                "burstLimit": int(props["Throttle"]["BurstLimit"]),
            }
        if props.get("Quota"):
            kwargs["quota"] = {"limit": int(props["Quota"]["Limit"]), "period": props["Quota"]["Period"]}
        apigw.create_usage_plan(**kwargs)
