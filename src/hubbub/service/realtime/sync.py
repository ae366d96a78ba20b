"""``POST /sync`` (Stream's Sync Events): what a client missed while it was away.

The answer holds, oldest first, every kept event (see ``emit.emit``) of the requested
channels with a ``created_at`` after ``last_sync_at``, then hands out the caller's own inbox
(user events sent while they had no connection, each returned once).

When the history cannot answer completely, the call fails as Stream's does for a
``last_sync_at`` it will not serve: 400, code 4, ``Too old last_sync_at time, ...``; SDKs
then reload channel state instead of believing they have everything. Stream refuses
``last_sync_at`` older than 30 days; Hubbub refuses it when it is older than the history's
age bound (``HUBBUB_HISTORY_TTL``), when a requested channel dropped events after it for the
count bound (``HUBBUB_HISTORY_SIZE``), and always when history is switched off.

A channel the caller may not read (it does not exist, or ``ReadChannel`` is refused, e.g.
after the caller was removed from it) yields ``notification.removed_from_channel`` and none of
its events; or, with ``with_inaccessible_cids``, its cid in ``inaccessible_cids``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from hubbub import errors
from hubbub.auth import Principal
from hubbub.core import events, permissions
from hubbub.core.models import Channel, User, format_stamp, utcnow
from hubbub.core.validation import check_id
from hubbub.history import History, HistoryError, oldest_cursor, stream_name
from hubbub.history.base import parse_stamp
from hubbub.schemas import SyncRequest
from hubbub.service.shared import access, watching
from hubbub.service.shared.authentication import acting_user
from hubbub.service.shared.context import Context
from hubbub.service.shared.users import get_user

#: Stream refuses more channels than this in one call.
MAX_CIDS = 255


def _too_old(history: History | None, detail: str) -> errors.InputError:
    if history is not None:
        history.counters.too_old += 1
    return errors.InputError(f"Too old last_sync_at time, {detail}")


async def sync(ctx: Context, principal: Principal, request: SyncRequest,
               connection_id: str | None) -> dict[str, Any]:
    # resolve and validate
    if principal.server:
        if not request.user_id:
            raise errors.InputError("user_id is required for server-side sync")
        user = await get_user(ctx, check_id(request.user_id, "user_id"))
    else:
        user = await acting_user(ctx, principal)
    cids = list(dict.fromkeys(request.channel_cids))
    if not cids:
        raise errors.InputError("channel_cids must contain at least 1 item")
    if len(cids) > MAX_CIDS:
        raise errors.InputError(f"channel_cids must contain at most {MAX_CIDS} items")
    if not request.last_sync_at:
        raise errors.InputError("last_sync_at is a required field")
    try:
        after = parse_stamp(request.last_sync_at)
    except ValueError as exc:
        raise errors.InputError("last_sync_at must be an RFC 3339 time") from exc
    history = ctx.history
    now = time.time_ns() // 1000
    if history is None:
        raise _too_old(None, "event history is switched off on this server "
                             "(HUBBUB_HISTORY_SIZE or HUBBUB_HISTORY_TTL is 0)")
    if after < oldest_cursor(now, history.ttl):
        raise _too_old(history, "please have last_sync_at argument no later than "
                                f"{history.ttl:g} seconds ago")
    # authorize
    readable: list[tuple[Channel, str]] = []
    inaccessible: list[str] = []
    for cid in cids:
        channel = await _readable(ctx, user, cid)
        if channel is None:
            inaccessible.append(cid)
        else:
            readable.append((channel, cid))
    # act
    try:
        return await _answer(ctx, history, user, request, readable, inaccessible, after, now,
                             connection_id)
    except HistoryError as exc:
        raise errors.InternalError("event history is unavailable") from exc


async def _answer(ctx: Context, history: History, user: User, request: SyncRequest,
                  readable: list[tuple[Channel, str]], inaccessible: list[str], after: int,
                  now: int, connection_id: str | None) -> dict[str, Any]:
    pages = await history.read([stream_name("channel", cid) for _, cid in readable], after, now)
    entries: list[tuple[int, str, bytes]] = []
    for _, cid in readable:
        page = pages[stream_name("channel", cid)]
        if not page.complete:
            raise _too_old(history, f"channel {cid} keeps its last {history.size} events "
                                    "and dropped some after last_sync_at")
        entries.extend((stamp, cid, data) for stamp, data in page.entries)
    entries.extend((stamp, "", data) for stamp, data in await history.take(
        stream_name("user", user.id), after, now))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    out = [_event(stamp, data) for stamp, _, data in entries]
    answer: dict[str, Any] = {"events": out}
    if request.with_inaccessible_cids:
        answer["inaccessible_cids"] = inaccessible
    else:
        out.extend(_removed(ctx, user, cid) for cid in inaccessible)
    if request.watch and connection_id:
        for channel, _ in readable:
            await watching.watch(ctx, user, channel, ctx.channel_type(channel.type),
                                 connection_id)
    history.counters.syncs += 1
    history.counters.synced_events += len(entries)
    return answer


async def _readable(ctx: Context, user: User, cid: str) -> Channel | None:
    channel_type, _, channel_id = cid.partition(":")
    ct = ctx.channel_types.get(channel_type)
    if ct is None or not channel_id:
        return None
    channel, member = await ctx.storage.get_channel_and_member(cid, user.id)
    if channel is None or not access.can(ctx, user, permissions.READ_CHANNEL, ct, channel,
                                         member):
        return None
    return channel


def _event(stamp: int, data: bytes) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(data)
    event["created_at"] = format_stamp(stamp)
    return event


def _removed(ctx: Context, user: User, cid: str) -> dict[str, Any]:
    channel_type, _, channel_id = cid.partition(":")
    event = events.channel_event("notification.removed_from_channel", {},
                                 channel_type=channel_type, channel_id=channel_id,
                                 user=ctx.user_wire(user), created_at=utcnow())
    event["channel"] = {"id": channel_id, "type": channel_type, "cid": cid}
    event["member"] = {"user_id": user.id, "user": ctx.user_wire(user)}
    return event
