"""The shared layer every use case calls down into: the :class:`~.context.Context`, who is
asking (``authentication``) and what they may do (``access``), lookups (``users``), the one way
an event leaves (``emit``), the channel as the SDKs read it (``channel_state``), watching and
presence, tasks, and the in-memory state kept current (``reload``, ``activity``).

Nothing here imports a use case (``realtime``, ``chat``, ``admin``)."""
