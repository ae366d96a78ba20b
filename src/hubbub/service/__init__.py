"""The use cases: what the API does, independent of HTTP and WebSocket.

Grouped by area: ``realtime/`` (connections, events, ``/sync``), ``chat/`` (channels),
``admin/`` (users, app settings and roles, channel types, commands, webhooks), each a set of
functions over the server's :class:`~hubbub.service.shared.context.Context`. They call down
into ``shared/`` (context, access checks, lookups, ``emit``, watching and presence), never
sideways into each other. Each use case follows one order: resolve (load what it acts on),
validate (the input), authorize (client-side requests only), act (write, then publish).
Nothing is written or published before every check has passed.
"""

from hubbub.service.lifecycle import create_context, start, stop
from hubbub.service.shared.context import Context

__all__ = ["Context", "create_context", "start", "stop"]
