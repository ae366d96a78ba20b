"""Chat content: channels (get-or-create and watch, update, members, query)."""
