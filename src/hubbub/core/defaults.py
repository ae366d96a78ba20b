"""Defaults: built-in channel types, their settings and commands, and the app's settings."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hubbub.core.models import Command

#: Every channel type starts from these (Stream's documented defaults). ``custom_events`` is on
#: everywhere: switching it off is a per-type decision made through the API.
BASE_CONFIG: dict[str, Any] = {
    "typing_events": True,
    "read_events": True,
    "connect_events": True,
    "custom_events": True,
    "reactions": True,
    "search": True,
    "replies": True,
    "quotes": True,
    "mutes": True,
    "uploads": True,
    "url_enrichment": True,
    "push_notifications": True,
    "delivery_events": True,
    "count_messages": False,
    "user_message_reminders": False,
    "mark_messages_pending": False,
    "polls": False,
    "shared_locations": False,
    "skip_last_msg_update_for_system_msgs": False,
    "reminders": False,
    "max_message_length": 5000,
    "message_retention": "infinite",
    "automod": "disabled",
    "automod_behavior": "flag",
    "blocklist_behavior": "flag",
    "blocklists": [],
    "partition_size": 0,
    "push_level": "all",
    "allowed_flag_reasons": [],
    # Hubbub extension: the custom event types this channel type accepts; empty means any.
    "allowed_custom_event_types": [],
}

#: Differences of the built-in types from ``BASE_CONFIG``.
BUILTIN_TYPES: dict[str, dict[str, Any]] = {
    "messaging": {"automod": "disabled"},
    "livestream": {
        "typing_events": False, "read_events": False, "connect_events": False,
        "replies": False, "mutes": False, "push_notifications": False, "delivery_events": False,
    },
    "team": {},
    "gaming": {"typing_events": False, "read_events": False, "mutes": False, "replies": False,
               "push_notifications": False},
    "commerce": {"url_enrichment": False, "uploads": True},
}

#: Stream's built-in slash commands, as ``GET /channeltypes/{name}`` shows them. They are always
#: there, cannot be changed or deleted, and their names cannot be taken by custom commands.
COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("giphy", "Post a random gif to the channel", "[text]", "fun_set"),
    Command("ban", "Ban a user", "[@username] [text]", "moderation_set"),
    Command("unban", "Unban a user", "[@username]", "moderation_set"),
    Command("mute", "Mute a user", "[@username]", "moderation_set"),
    Command("unmute", "Unmute a user", "[@username]", "moderation_set"),
)}
ALL_COMMANDS = list(COMMANDS)
#: Names a channel type's ``commands`` may use for a group of built-ins (``all``: every one).
COMMAND_GROUPS: dict[str, list[str]] = {
    "all": ALL_COMMANDS,
    "fun_set": [n for n, c in COMMANDS.items() if c.set == "fun_set"],
    "moderation_set": [n for n, c in COMMANDS.items() if c.set == "moderation_set"],
}


def expand_commands(names: list[str]) -> list[str]:
    """Groups (``all``, ``fun_set``, ``moderation_set``) become their built-in commands, in
    order and without repeats; other names (built-in or custom) are kept as they are."""
    out: list[str] = []
    for name in names:
        for expanded in COMMAND_GROUPS.get(name, [name]):
            if expanded not in out:
                out.append(expanded)
    return out


def command_objects(names: list[str], custom: Mapping[str, Command]) -> list[dict[str, str]]:
    """The command objects of a channel type's command names. A name that is neither built-in
    nor custom (its custom command was deleted elsewhere) shows as a bare name."""
    out = []
    for name in names:
        found = COMMANDS.get(name) or custom.get(name) or Command(name)
        out.append(found.to_wire())
    return out


#: Settable fields of a channel type and the Python types they must have.
CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    key: (bool if isinstance(value, bool) else int if isinstance(value, int)
          else str if isinstance(value, str) else list)
    for key, value in BASE_CONFIG.items()
}
CONFIG_TYPES.update({"automod_thresholds": dict, "blocklist": str, "partition_ttl": (str, int),
                     "chat_preferences": dict})


def builtin_config(name: str) -> dict[str, Any]:
    config = copy.deepcopy(BASE_CONFIG)
    config.update(BUILTIN_TYPES.get(name, {}))
    return config


#: App settings a new app starts with (the ``app`` object of ``GET /app`` adds derived fields).
APP_SETTINGS: dict[str, Any] = {
    "name": "hubbub",
    "organization": "hubbub",
    "disable_auth_checks": False,
    "disable_permissions_checks": False,
    "permission_version": "v2",
    "multi_tenant_enabled": False,
    "guest_user_creation_disabled": False,
    "enforce_unique_usernames": "no",
    "revoke_tokens_issued_before": None,
    "webhook_url": "",
    "webhook_events": [],
    "event_hooks": [],
    "custom_action_handler_url": "",
    "before_message_send_hook_url": "",
    "sqs_url": "",
    "sqs_key": "",
    "sqs_secret": "",
    "sns_topic_arn": "",
    "sns_key": "",
    "sns_secret": "",
    "push_notifications": {"version": "v3", "offline_only": False, "providers": []},
    "file_upload_config": {},
    "image_upload_config": {},
    "cdn_expiration_seconds": 0,
    "suspended": False,
    "reminders_interval": 3600,
    "grants": None,
}
