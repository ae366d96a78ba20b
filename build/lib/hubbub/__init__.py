"""Hubbub: a self-hosted real-time chat events server, wire-compatible with the Stream Chat API."""

__version__ = "0.1.0"
