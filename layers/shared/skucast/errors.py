"""Domain errors. Each is one RFC 9457 problem document; the API layer renders them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PROBLEM_BASE = "https://skucast.dev/problems/"


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class ProblemError(Exception):
    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_problem(self, request_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "request_id": request_id,
        }
        if self.errors:
            body["errors"] = [asdict(e) for e in self.errors]
        return body


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class ExportPreparing(Conflict):
    """A big run's export is being written off the request path; ask again after Retry-After."""

    title, slug = "Export Being Prepared", "export-preparing"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class PreconditionFailed(ProblemError):
    """The request's If-Match names a version of the resource that is no longer the current one."""

    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class PreconditionRequired(ProblemError):
    """The request must say which version it changes (If-Match: the ETag it read; RFC 6585)."""

    status, title, slug = 428, "Precondition Required", "precondition-required"


class PayloadTooLarge(ProblemError):
    status, title, slug = 413, "Content Too Large", "payload-too-large"


class Unprocessable(ProblemError):
    status, title, slug = 422, "Unprocessable Content", "validation-failed"


class Throttled(ProblemError):
    status, title, slug = 429, "Too Many Requests", "throttled"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class NotReady(ProblemError):
    status, title, slug = 503, "Service Unavailable", "not-ready"


class MethodNotAllowed(ProblemError):
    """A method the resource does not define; `Allow` lists the ones it does (RFC 9110 15.5.6)."""

    status, title, slug = 405, "Method Not Allowed", "method-not-allowed"

    def __init__(self, detail: str, *, allow: list[str]) -> None:
        super().__init__(detail, headers={"Allow": ", ".join(allow)})
