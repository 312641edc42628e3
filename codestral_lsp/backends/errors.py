"""Failures of the FIM backend, as one small hierarchy.

    BackendError
    ├── AuthError            401/403: wrong or missing key; the user must act
    ├── RateLimitError       429: carries retry_after (seconds) when the server said
    ├── RequestRejected      other 4xx: the request itself is wrong (400, 404, 422)
    ├── ServerError          5xx, including proxies' HTML error pages
    ├── BackendUnavailable   connection refused, DNS, TLS: nothing answered
    ├── BackendTimeout       no complete answer within requestTimeoutMs
    └── InvalidResponse      a 2xx whose body is not the FIM contract, or is over its bound

Every message is built by the backend client from redacted text: no error carries the API key.
"""

from __future__ import annotations


class BackendError(Exception):
    """A FIM call failed; ``str(error)`` is safe to log and to show."""

    kind = "error"

    def __init__(
        self, message: str, *, status: int | None = None, rate_limits: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.rate_limits = rate_limits or {}  # rate-limit headers of the answer, if any


class AuthError(BackendError):
    """The backend refused the key (401/403) or no key is configured."""

    kind = "auth"


class RateLimitError(BackendError):
    """The backend answered 429."""

    kind = "rate_limit"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        rate_limits: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, rate_limits=rate_limits)
        self.retry_after = retry_after


class RequestRejected(BackendError):
    """The backend rejected the request as malformed (400, 404, 422, ...)."""

    kind = "rejected"


class ServerError(BackendError):
    """The backend or a proxy in front of it failed (5xx)."""

    kind = "server"


class BackendUnavailable(BackendError):
    """No connection could be made: refused, DNS failure, TLS failure."""

    kind = "unavailable"


class BackendTimeout(BackendError):
    """No complete answer arrived within the request timeout."""

    kind = "timeout"


class InvalidResponse(BackendError):
    """A successful status with a body that does not follow the FIM contract, is larger than
    the request's byte bound, or is encoded in a way the client does not decode."""

    kind = "invalid_response"
