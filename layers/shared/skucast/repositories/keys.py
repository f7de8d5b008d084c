"""Every DynamoDB key format, in one place.

Tenant data: pk always begins with CLIENT#<client_id>, so no query can reach another tenant's
items without that tenant's id (which only the verified credential supplies).
Global lookups (login by e-mail, credential by hash) cannot know the tenant yet; their items hold
the tenant id and are only ever read by exact key.
gsi1 is a sparse index for platform work lists (due schedules, active runs), never a request path.
"""

from __future__ import annotations

SEP = "#"


def tenant_pk(client_id: str) -> str:
    if not client_id or SEP in client_id:
        raise ValueError("invalid client id")
    return f"CLIENT{SEP}{client_id}"


def tenant_scoped_pk(client_id: str, *parts: str) -> str:
    """A partition of its own under the tenant (e.g. one run's results)."""
    return SEP.join([tenant_pk(client_id), *parts])


def run_sk(run_id: str) -> str:
    return f"RUN{SEP}{run_id}"


def upload_sk(upload_id: str) -> str:
    return f"UPLOAD{SEP}{upload_id}"


def upload_object_key(client_id: str, upload_id: str) -> str:
    """Where a tenant's uploaded file lands in the data bucket (the presigned POST pins it)."""
    return f"uploads/{client_id}/{upload_id}"


def parse_upload_object_key(key: str) -> tuple[str, str] | None:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "uploads" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


# gsi1 work lists
ACTIVE_RUNS = "ACTIVE_RUNS"
SCHEDULES = "SCHEDULES"
