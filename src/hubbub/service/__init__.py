"""The use cases: what the API does, independent of HTTP and WebSocket.

One module per concern, each a set of functions over the server's
:class:`~hubbub.service.context.Context`. Each use case follows one order: resolve (load what it
acts on), validate (the input), authorize (client-side requests only), act (write, then
publish). Nothing is written or published before every check has passed.
"""

from hubbub.service.context import Context
from hubbub.service.lifecycle import create_context, start, stop

__all__ = ["Context", "create_context", "start", "stop"]
