"""Webhooks: durable, signed, retried copies of events (outbox in storage, sender task)."""
