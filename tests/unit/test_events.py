"""Event validation and shaping, without a server (property-based where it pays)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub import errors
from hubbub.core import events
from hubbub.schemas import check_depth

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=10)
custom = st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=8)


@given(fields=custom, event_type=st.text(min_size=1, max_size=20).filter(str.strip))
def test_channel_event_envelope_always_wins(fields: dict, event_type: str) -> None:
    """Whatever a sender puts in the event, the envelope is the server's."""
    sender = {"id": "alice"}
    out = events.channel_event(event_type, events.custom_fields(fields),
                               channel_type="messaging", channel_id="general", user=sender,
                               created_at="2026-01-01T00:00:00.000000Z")
    assert out["type"] == event_type
    assert out["cid"] == "messaging:general"
    assert (out["channel_id"], out["channel_type"]) == ("general", "messaging")
    assert out["user"] is sender
    assert out["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert "user_id" not in out and "connection_id" not in out
    for key, value in fields.items():
        if key not in events.SERVER_KEYS:
            assert out[key] == value


@given(fields=custom)
def test_user_event_never_carries_a_channel(fields: dict) -> None:
    out = events.user_event("ping", events.custom_fields(fields), user={"id": "bob"},
                            created_at="t")
    assert "cid" not in out and "channel_id" not in out and "channel_type" not in out
    assert out["user"] == {"id": "bob"} and out["type"] == "ping"


@given(st.text(max_size=80))
def test_dot_marks_built_in_types(event_type: str) -> None:
    assert events.is_custom(event_type) == ("." not in event_type)


@pytest.mark.parametrize("bad", [None, "", "   ", 3, ["x"], "x" * 65])
def test_type_must_be_a_short_non_blank_string(bad: object) -> None:
    with pytest.raises(errors.InputError):
        events.check_type(bad)


@given(st.integers(min_value=1, max_value=60))
def test_depth_limit(depth: int) -> None:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": [value]} if depth % 2 else [value]
    levels = depth * (2 if depth % 2 else 1)
    if levels > 32:
        with pytest.raises(errors.InputError):
            check_depth(value)
    else:
        check_depth(value)
