"""Defaults: built-in channel types, their settings and commands, and the app's settings."""

from __future__ import annotations

import copy
from typing import Any

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

#: Stream's built-in slash commands, as ``GET /channeltypes/{name}`` shows them.
COMMANDS: dict[str, dict[str, str]] = {
    "giphy": {"name": "giphy", "description": "Post a random gif to the channel",
              "args": "[text]", "set": "fun_set"},
    "ban": {"name": "ban", "description": "Ban a user", "args": "[@username] [text]",
            "set": "moderation_set"},
    "unban": {"name": "unban", "description": "Unban a user", "args": "[@username]",
              "set": "moderation_set"},
    "mute": {"name": "mute", "description": "Mute a user", "args": "[@username]",
             "set": "moderation_set"},
    "unmute": {"name": "unmute", "description": "Unmute a user", "args": "[@username]",
               "set": "moderation_set"},
}
ALL_COMMANDS = list(COMMANDS)

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


def expand_commands(names: list[str]) -> list[str]:
    """``all`` means every built-in command; unknown names are kept (custom commands)."""
    out: list[str] = []
    for name in names:
        for expanded in (ALL_COMMANDS if name == "all" else [name]):
            if expanded not in out:
                out.append(expanded)
    return out


def command_objects(names: list[str]) -> list[dict[str, str]]:
    return [COMMANDS.get(n, {"name": n, "description": "", "args": "", "set": ""}) for n in names]


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
