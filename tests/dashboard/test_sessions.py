"""The session cookie and the sign-in limiter, with the clock given (no server needed)."""

from __future__ import annotations

from hubbub.dashboard.sessions import SessionCodec, SignInLimiter

SECRET = "an-app-secret"


def test_session_cookie_expires_and_cannot_be_forged_or_reused_after_sign_out() -> None:
    codec = SessionCodec(SECRET, ttl=60)
    session, cookie = codec.issue(now=1000)
    assert SECRET not in cookie
    assert codec.read(cookie, now=1059) == session
    assert codec.read(cookie, now=1060) is None  # expired

    body, signature = cookie.split(".")
    assert codec.read(f"{body}.{signature[:-2]}AA", now=1001) is None
    assert codec.read(f"{body[:-2]}xx.{signature}", now=1001) is None
    assert SessionCodec("another-secret", ttl=60).read(cookie, now=1001) is None
    assert codec.read("", now=1001) is None and codec.read("a.b.c", now=1001) is None

    codec.revoke(session, now=1002)
    assert codec.read(cookie, now=1003) is None
    other, other_cookie = codec.issue(now=1004)
    assert codec.read(other_cookie, now=1005) == other
    assert session.csrf != other.csrf and not other.csrf_ok(session.csrf)


def test_failed_sign_ins_block_an_address_for_the_window() -> None:
    limiter = SignInLimiter(limit=3, window=100)
    for t in (0, 10, 20):
        assert limiter.retry_after("1.2.3.4", now=t) == 0
        limiter.fail("1.2.3.4", now=t)
    assert limiter.retry_after("1.2.3.4", now=30) == 70
    assert limiter.retry_after("5.6.7.8", now=30) == 0
    assert limiter.retry_after("1.2.3.4", now=100) == 0  # the first failure left the window
