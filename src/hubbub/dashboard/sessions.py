"""Dashboard sign-in state: signed session cookies, CSRF tokens, failed sign-in limits.

Guarantees:

- The cookie holds a random session id, a random CSRF token and an expiry, signed with
  HMAC-SHA256 under a key derived from the app's secret. The secret itself never leaves the
  server (not in the cookie, a URL or a log). Any node of a cluster that knows the secret accepts
  the cookie; changing the secret signs everybody out.
- A cookie whose signature, format or expiry is wrong is treated as no session at all.
- Sign-out forgets the session id on the process that handled it until the id would have expired
  (the cookie is also cleared in the browser).
- Failed sign-ins are counted per client address in a sliding window; past the limit, every
  sign-in from that address is refused until the window has moved on, right secret or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

import orjson

COOKIE = "hubbub_dashboard"
#: Double-submit token of the sign-in form (no session exists yet to hold one).
SIGNIN_COOKIE = "hubbub_dashboard_signin"
FLASH_COOKIE = "hubbub_dashboard_flash"
PATH = "/dashboard"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    csrf: str
    expires: float

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf)


class SessionCodec:
    """Makes and checks session cookies for one app secret."""

    def __init__(self, api_secret: str, ttl: float) -> None:
        self._key = hmac.new(api_secret.encode(), b"hubbub dashboard session v1",
                             hashlib.sha256).digest()
        self.ttl = ttl
        #: Signed-out session ids and their expiry (pruned as they expire).
        self._revoked: dict[str, float] = {}

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        now = time.time() if now is None else now
        session = Session(sid=secrets.token_urlsafe(18), csrf=secrets.token_urlsafe(24),
                          expires=now + self.ttl)
        body = _b64(orjson.dumps({"sid": session.sid, "csrf": session.csrf,
                                  "exp": session.expires}))
        return session, f"{body}.{self._sign(body)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie carries, or None (missing, forged, expired or signed out)."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = orjson.loads(_unb64(body))
            session = Session(sid=str(data["sid"]), csrf=str(data["csrf"]),
                              expires=float(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time() if now is None else now
        if session.expires <= now or session.sid in self._revoked:
            return None
        return session

    def revoke(self, session: Session, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.sid] = session.expires


@dataclass
class SignInLimiter:
    """At most ``limit`` failed sign-ins per address in ``window`` seconds."""

    limit: int = 5
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str, now: float | None = None) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        now = time.time() if now is None else now
        failures = self._recent(address, now)
        if len(failures) < self.limit:
            return 0.0
        return failures[-self.limit] + self.window - now

    def fail(self, address: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        failures = self._recent(address, now)
        failures.append(now)
        self._failures[address] = failures
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            for stale in [a for a, f in self._failures.items() if not self._recent(a, now)]:
                del self._failures[stale]
