"""Administration: users, the app's settings and roles, channel types, slash commands and the
webhook outbox."""
