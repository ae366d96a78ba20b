"""Who a request acts as: the API key, the token, revocation, and the acting user."""

from __future__ import annotations

import secrets

from hubbub import auth, errors
from hubbub.auth import Principal
from hubbub.core.models import User, clone, parse_time, utcnow
from hubbub.core.validation import is_reserved_user_id
from hubbub.service.shared.context import Context
from hubbub.service.shared.reload import fresh


async def authenticate(ctx: Context, api_key: str | None, token: str | None,
                       auth_type: str | None) -> Principal:
    """Who the request acts as. Unknown key first: nothing else happens for a wrong app.

    The app's settings are brought up to date first
    (:func:`~hubbub.service.shared.reload.fresh`), so a change made through any process holds
    for this request. A verified token is cached by its
    string; its times (exp, nbf) are checked again on every use, and revocation always runs
    against the current app settings and user."""
    await fresh(ctx)
    assert ctx.app is not None
    if not api_key or not secrets.compare_digest(api_key, ctx.app.api_key):
        raise errors.BadApiKey(f'api_key not valid, api_key "{api_key or ""}" not found')
    if (auth_type or "").lower() == "anonymous" and not token:
        return Principal(anonymous=True, user_id=None)
    if not token:
        raise errors.AuthError(
            "missing authentication token: the Authorization header must carry a JWT")
    principal = _verified(ctx, token)
    user_cutoff = None
    if principal.user_id is not None:
        if is_reserved_user_id(principal.user_id):
            # Nobody may act as the anonymous user or an anonymous connection's made-up id.
            raise errors.AuthError(f"JWTAuth error: user_id {principal.user_id!r} is reserved")
        stored = await ctx.users.get_one(principal.user_id)
        if stored is not None and stored.deleted_at:
            # A soft-deleted user's tokens stop working at once (Stream: 404, code 16).
            raise errors.UserDeleted(f"the user {stored.id} was deleted")
        user_cutoff = parse_time(stored.revoke_tokens_issued_before) if stored else None
        principal = clone(principal, user=stored)
    auth.check_revoked(
        principal,
        app_revoked_before=parse_time(ctx.app_settings.get("revoke_tokens_issued_before")),
        user_revoked_before=user_cutoff)
    return principal


def _verified(ctx: Context, token: str) -> Principal:
    assert ctx.app is not None
    allow_dev = bool(ctx.app_settings.get("disable_auth_checks"))
    hit, cached = ctx.caches.tokens.get(token)
    if hit and isinstance(cached, Principal):
        auth.check_times(cached)
        # A dev token is valid only while the app allows them.
        if not cached.dev or allow_dev:
            return cached  # type: ignore[no-any-return]
    principal = auth.verify_token(token, ctx.app.api_secret, api_key=ctx.app.api_key,
                                  allow_dev_tokens=allow_dev)
    ctx.caches.tokens.put(token, principal)
    return principal


async def acting_user(ctx: Context, principal: Principal) -> User:
    """The user a client-side request acts as (anonymous users are not stored)."""
    if principal.anonymous or principal.user_id is None:
        return User(id="anonymous", role="anonymous")
    user = principal.user or await ctx.users.get_one(principal.user_id)
    if user is None:
        # A valid token for a user never upserted: Stream treats it as a plain user.
        now = utcnow()
        user = User(id=principal.user_id, created_at=now, updated_at=now)
    if user.deleted_at:
        raise errors.UserDeleted(f"the user {user.id} was deleted")
    if user.deactivated_at:
        raise errors.NotAllowed(f"user '{user.id}' is deactivated")
    return user
