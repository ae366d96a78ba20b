"""One exception tree for every error Hubbub reports to a client.

Each class carries its Stream error code and HTTP status. They are rendered into Stream's error
body (``code``, ``message``, ``StatusCode``, ``duration``, ``more_info``, ``details``) in exactly
one place, :func:`error_body`, used by the REST layer and by the WebSocket error frame alike.

The message follows Stream's pattern ``<Operation> failed with error: "<detail>"`` when the
operation is known (the HTTP layer fills it in from the route), so SDK users see the same text
they would see from Stream.
"""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://getstream.io/chat/docs/api_errors_response"


class HubbubError(Exception):
    """Base of every error that is the client's to see. Never raised for a bug of ours."""

    code: int = -1
    status: int = 500

    def __init__(self, detail: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class InputError(HubbubError):
    """Bad data or parameters: malformed JSON, wrong types, missing fields."""

    code, status = 4, 400


class DuplicateUsername(HubbubError):
    code, status = 6, 400


class EventNotSupported(HubbubError):
    """A dotted event type that clients may not send."""

    code, status = 18, 400


class FeatureDisabled(HubbubError):
    """A channel feature (custom events, typing events...) switched off on the channel type."""

    code, status = 19, 400


class NotFound(HubbubError):
    code, status = 16, 404


class UserDeleted(NotFound):
    """The token's user was soft-deleted: Stream answers 404, code 16, "the user X was deleted"
    (seen from Stream's servers on REST and on connect)."""


class RouteNotFound(HubbubError):
    """No such endpoint. Stream answers unknown paths with 404 too."""

    code, status = 16, 404


class MethodNotAllowed(HubbubError):
    code, status = 4, 405


class PayloadTooBig(HubbubError):
    code, status = 22, 413


class RateLimited(HubbubError):
    code, status = 9, 429


class NotAllowed(HubbubError):
    """Permission denied (Stream code 17)."""

    code, status = 17, 403


class AuthError(HubbubError):
    """Generic authentication failure (Stream code 5)."""

    code, status = 5, 401


class BadApiKey(AuthError):
    code = 2


class TokenExpired(AuthError):
    code = 40


class TokenNotYetValid(AuthError):
    code = 41


class TokenRevoked(AuthError):
    code = 42


class TokenSignatureInvalid(AuthError):
    code = 43


class InternalError(HubbubError):
    code, status = -1, 500


class Unavailable(HubbubError):
    """A dependency (the event broker) is down: nothing was done, and the call may be retried
    as is, through this node later or through another node now (HTTP 503)."""

    code, status = -1, 503


def error_body(exc: HubbubError, *, operation: str | None, duration: str) -> dict[str, Any]:
    """Stream's error body for ``exc``. The one place errors take their wire shape."""
    detail = exc.detail
    message = f'{operation} failed with error: "{detail}"' if operation else detail
    return {
        "code": exc.code,
        "message": message,
        "exception_fields": exc.fields,
        "StatusCode": exc.status,
        "duration": duration,
        "more_info": MORE_INFO,
        "details": [],
    }
