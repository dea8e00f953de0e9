"""Domain errors raised by services and parsers.

Services never build HTTP responses: each API family renders these in its own error
format (kSense `{"status":"ERROR"}`, Barchart failure arrays, DRF detail objects).
The status code travels with the error so every family agrees on it.
"""


class DomainError(Exception):
    status_code = 400
    code = "REQUEST_GENERAL_FAILURE"

    def __init__(self, message: str, *, field: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        # One message per offending field, for formats that list them (Barchart's children).
        self.details = details or []


class InvalidInput(DomainError):
    status_code = 400
    code = "REQUEST_PARAMETER_MALFORMED"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "REQUEST_TOO_LARGE"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "REQUEST_UNSUPPORTED_MEDIA_TYPE"


class AuthenticationFailed(DomainError):
    status_code = 401
    code = "UNAUTHORIZED"


class PermissionDenied(DomainError):
    status_code = 403
    code = "FORBIDDEN"


class NotFound(DomainError):
    status_code = 404
    code = "NOT_FOUND"


class MethodNotAllowed(DomainError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(DomainError):
    status_code = 409
    code = "CONFLICT"


class TooManyRequests(DomainError):
    status_code = 429
    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """A service we depend on (database, broker, object storage) is down: clients should retry."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after
