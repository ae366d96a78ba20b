"""Real-time delivery: connections (connect, health checks), events to channels and users,
and ``/sync`` for what a client missed."""
