"""Input rules shared by every use case: ids and the size of custom data (pure functions)."""

from __future__ import annotations

from typing import Any

import orjson

from hubbub import errors

ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@_-!")
MAX_ID_LENGTH = 64
MAX_CUSTOM_DATA_BYTES = 5 * 1024


def check_id(value: Any, what: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise errors.InputError(f"{what} is a required field")
    if len(value) > max_length:
        raise errors.InputError(f"{what} must be at most {max_length} characters")
    if not set(value) <= ID_CHARS:
        raise errors.InputError(
            f"{what} {value!r} may only contain letters, digits and @ _ - !")
    return value


def check_custom_size(data: dict[str, Any], what: str) -> None:
    if len(orjson.dumps(data)) > MAX_CUSTOM_DATA_BYTES:
        raise errors.PayloadTooBig(f"{what} custom data must be less than 5KB")


#: User ids nobody may take: ``anonymous`` is the acting user of every anonymous request, and
#: ``anon-…`` the made-up ids of anonymous connections. A stored user with such an id would be
#: acted through by every anonymous caller.
RESERVED_USER_IDS = frozenset({"anonymous"})
RESERVED_USER_ID_PREFIX = "anon-"


def is_reserved_user_id(value: str) -> bool:
    return value in RESERVED_USER_IDS or value.startswith(RESERVED_USER_ID_PREFIX)


def check_user_id(value: Any, what: str) -> str:
    """:func:`check_id` for a user that is to be stored: reserved ids are refused (400, code 4)."""
    uid = check_id(value, what)
    if is_reserved_user_id(uid):
        raise errors.InputError(f"{what} {uid!r} is reserved and cannot be used")
    return uid
