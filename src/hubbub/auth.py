"""Tokens as the official SDKs make them, and who a request acts as.

Server tokens are ``{"server": true}`` (no iat, no exp); user tokens carry ``user_id`` and may
carry ``exp``, ``iat`` and ``nbf``. Both are HS256 with the app's secret. Verification is PyJWT's;
this module only maps its verdicts to Stream's error codes and adds the two rules PyJWT cannot
know: revocation (``revoke_tokens_issued_before``) and the dev token.
"""

from __future__ import annotations

import base64
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
import orjson

from hubbub import errors
from hubbub.core.models import User

# Stream lets apps choose their secrets; a short one is the operator's call, not a log line per
# request.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

DEV_TOKEN_SIGNATURE = "devtoken"
#: Seconds of clock skew tolerated on exp, nbf and iat.
LEEWAY = 5


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. Exactly one of server, user_id (with anonymous for no token)."""

    server: bool = False
    user_id: str | None = None
    anonymous: bool = False
    issued_at: float | None = None
    #: The token's ``exp`` and ``nbf`` claims, checked again whenever a cached verification
    #: is reused (:func:`check_times`).
    expires_at: float | None = None
    not_before: float | None = None
    #: A dev token (no signature): valid only while the app disables auth checks.
    dev: bool = False
    #: The client's address, for anonymous callers only: it binds them to the anonymous
    #: connections they opened (see ``service.watching``) and keys their rate limits.
    address: str | None = None
    #: The stored user, when authentication had to load it (saves the request a second read).
    user: User | None = field(default=None, compare=False)

    @property
    def client_side(self) -> bool:
        return not self.server


SERVER = Principal(server=True)


def create_token(secret: str, user_id: str | None = None, *, exp: int | None = None,
                 iat: int | None = None) -> str:
    """A server token when ``user_id`` is None, else a user token (as the SDKs make them)."""
    payload: dict[str, Any] = {"server": True} if user_id is None else {"user_id": user_id}
    if exp:
        payload["exp"] = exp
    if iat:
        payload["iat"] = iat
    return jwt.encode(payload, secret, algorithm="HS256")


def _unverified_payload(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[1]
        payload = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except Exception as exc:
        raise errors.AuthError("token is malformed") from exc
    if not isinstance(payload, dict):
        raise errors.AuthError("token is malformed")
    return payload


def verify_token(token: str, secret: str, *, api_key: str, allow_dev_tokens: bool) -> Principal:
    """Check signature and time claims; return the token's principal.

    Revocation is checked separately (:func:`check_revoked`) because it needs stored state.
    """
    if not token:
        raise errors.AuthError("token is missing")
    dev = allow_dev_tokens and token.endswith("." + DEV_TOKEN_SIGNATURE)
    if dev:
        payload = _unverified_payload(token)
        if payload.get("server") is not None:
            # A dev token names a user; server-side access always needs the secret.
            raise errors.TokenSignatureInvalid(
                "JWTAuth error: a dev token cannot be used for server-side requests")
    else:
        try:
            payload = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                leeway=LEEWAY,
                options={"require": [], "verify_aud": False, "verify_iss": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.TokenExpired("JWTAuth error: token is expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise errors.TokenNotYetValid("JWTAuth error: token is not valid yet") from exc
        except jwt.InvalidIssuedAtError as exc:
            raise errors.TokenNotYetValid("JWTAuth error: token used before issued at (iat)") from exc
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
            raise errors.TokenSignatureInvalid(
                "JWTAuth error: signature is not valid. Make sure the token is created using "
                f'the secret for API key "{api_key}"'
            ) from exc
        except jwt.PyJWTError as exc:
            raise errors.AuthError(f"JWTAuth error: {exc}") from exc
    if not isinstance(payload, dict):
        raise errors.AuthError("JWTAuth error: token payload is not an object")
    issued_at, expires_at, not_before = (_number(payload.get(k)) for k in ("iat", "exp", "nbf"))
    if payload.get("server") is True:
        return Principal(server=True, issued_at=issued_at, expires_at=expires_at,
                         not_before=not_before)
    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise errors.AuthError("JWTAuth error: token has no user_id claim")
    return Principal(user_id=user_id, issued_at=issued_at, expires_at=expires_at,
                     not_before=not_before, dev=dev)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def check_times(principal: Principal, now: float | None = None) -> None:
    """The time claims of an already verified token, for a cached verification: refused
    past ``exp`` (code 40) or before ``nbf`` (code 41), with the same leeway as PyJWT's."""
    now = time.time() if now is None else now
    if principal.expires_at is not None and now > principal.expires_at + LEEWAY:
        raise errors.TokenExpired("JWTAuth error: token is expired")
    if principal.not_before is not None and now < principal.not_before - LEEWAY:
        raise errors.TokenNotYetValid("JWTAuth error: token is not valid yet")


def check_revoked(principal: Principal, *, app_revoked_before: datetime | None,
                  user_revoked_before: datetime | None) -> None:
    """Stream's revocation rule: a user token issued before a cut-off is refused (code 42).

    A token without ``iat`` cannot prove its age, so either cut-off refuses it: the user-level
    one as Stream documents, the app-wide one as Stream documents for ``revoke_tokens`` ("all
    tokens issued before the date", which the SDKs' default ``create_token`` tokens without
    ``iat`` fall under). Server tokens are never revoked (they carry no ``iat`` and the server
    must be able to undo a revocation)."""
    if principal.server:
        return
    if is_revoked(principal.issued_at, app_revoked_before) or is_revoked(
            principal.issued_at, user_revoked_before):
        raise errors.TokenRevoked("JWTAuth error: token has been revoked")


def is_revoked(issued_at: float | None, cutoff: datetime | float | None) -> bool:
    """True when a token issued at ``issued_at`` (None: no ``iat``) falls under ``cutoff``."""
    if cutoff is None:
        return False
    if issued_at is None:
        return True
    limit = cutoff.timestamp() if isinstance(cutoff, datetime) else cutoff
    return issued_at < limit
