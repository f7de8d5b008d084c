"""Exceptions. Every API error carries the RFC 9457 problem document the server answered."""

from __future__ import annotations

from typing import Any


class SkucastError(Exception):
    """Base class. `problem` is the RFC 9457 document (`type, title, status, detail, request_id,
    errors`) when the server sent one; client-side failures have an empty `problem`."""

    def __init__(self, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.problem: dict[str, Any] = dict(problem or {})

    @property
    def title(self) -> str | None:
        return self.problem.get("title")

    @property
    def detail(self) -> str | None:
        return self.problem.get("detail")

    @property
    def request_id(self) -> str | None:
        return self.problem.get("request_id")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])


class APIError(SkucastError):
    """The API answered an error status (4xx/5xx); `retry_after` is its `Retry-After` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class BadRequestError(APIError):
    """400: malformed request."""


class AuthenticationError(APIError):
    """401: not authenticated (bad credentials, expired or revoked token, revoked API key)."""


class PermissionDeniedError(APIError):
    """403: authenticated, but the role is too low."""


class NotFoundError(APIError):
    """404: no such resource (including every resource of another tenant)."""


class ConflictError(APIError):
    """409: conflict or bad state (e.g. exporting a run that has not finished; `export()` waits
    on its own for a big run's export being prepared, problem type `.../export-preparing`)."""


class PreconditionFailedError(APIError):
    """412: the If-Match ETag is no longer the result's current one (someone adjusted it since you
    read it): read the result again and decide again. Never retried by the client."""


class PreconditionRequiredError(APIError):
    """428: the request must say which version it changes (If-Match)."""


class PayloadTooLargeError(APIError):
    """413: body or file too large."""


class ValidationError(APIError):
    """422: well-formed but invalid; `errors` lists `{field, code, message}`."""


class RateLimitedError(APIError):
    """429 after every retry; `retry_after` is the server's last `Retry-After` in seconds."""


class ServiceUnavailableError(APIError):
    """503 after every retry: the service is not ready."""


class ServerError(APIError):
    """Any other 5xx (always a server bug)."""


class TransportError(SkucastError):
    """The API could not be reached (connection refused, DNS, timeout)."""


class UploadRejectedError(SkucastError):
    """The upload finished REJECTED; `report` is the upload report (status, counts, first errors)."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report


class RunFailedError(SkucastError):
    """A run finished FAILED or CANCELLED; `run` is the run document."""

    def __init__(self, message: str, run: dict[str, Any]):
        super().__init__(message)
        self.run = run


class WaitTimeoutError(SkucastError):
    """An upload, run or export did not finish within the caller's timeout."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    422: ValidationError,
    428: PreconditionRequiredError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def error_for(status: int, problem: dict[str, Any], retry_after: float | None = None) -> APIError:
    """The exception for an error answer: `<status> <title>: <detail>` and the problem document."""
    title = problem.get("title") or "error"
    detail = problem.get("detail")
    message = f"{status} {title}" + (f": {detail}" if detail and detail != title else "")
    for err in problem.get("errors") or []:
        if isinstance(err, dict):
            message += f"\n  {err.get('field', '')}: {err.get('message', err.get('code', ''))}"
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(message, status=status, problem=problem, retry_after=retry_after)
