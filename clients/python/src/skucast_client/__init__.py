"""skucast_client: the Python client, CLI (`skucast`) and HTML report of the skucast API."""

from skucast_client.client import Client, __version__, parse_retry_after
from skucast_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RunFailedError,
    ServerError,
    ServiceUnavailableError,
    SkucastError,
    TransportError,
    UploadRejectedError,
    ValidationError,
    WaitTimeoutError,
)
from skucast_client.frames import forecast_columns, forecast_frame

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RunFailedError",
    "ServerError",
    "ServiceUnavailableError",
    "SkucastError",
    "TransportError",
    "UploadRejectedError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
    "forecast_columns",
    "forecast_frame",
    "parse_retry_after",
]
