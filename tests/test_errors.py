"""The error tree: field and value errors are worded in server/errors.py, from what was wrong."""

from __future__ import annotations

import ast
from pathlib import Path

from server.errors import BadField, BadValue, ProtocolError, quote

SERVER = Path(__file__).parent.parent / "server"


def test_a_bad_field_names_the_field_its_frame_and_the_value():
    error = BadField.must_be("text", "check", "a string", 5)
    assert isinstance(error, ProtocolError)
    assert (error.code, error.status) == ("bad_field", 400)
    assert str(error) == "field 'text' of 'check' must be a string, got 5"


def test_a_bad_value_is_not_about_a_frame():
    error = BadValue.must_be("query 'month'", "YYYY-MM", "2026-13")
    assert not isinstance(error, ProtocolError)
    assert (error.code, error.status) == ("bad_value", 400)
    assert str(error) == "query 'month' must be YYYY-MM, got '2026-13'"
    assert str(BadValue.unknown("timezone", "Mars/Olympus")) == "unknown timezone: 'Mars/Olympus'"


def test_the_bad_value_is_quoted_short():
    assert str(BadField.must_be("text", "check", "a string", ["x" * 50])) == (
        f"field 'text' of 'check' must be a string, got '[\"{'x' * 38}…'"
    )
    assert quote(b"\xff") == repr("\ufffd")
    assert quote({"a": [1]}) == repr('{"a":[1]}')


def worded_here(path: Path) -> bool:
    """Whether the module calls ``BadField(...)`` itself, composing the message."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "BadField"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
    )


def test_bad_field_messages_are_worded_in_one_place():
    # BadField.must_be (or BadValue, for what is not a frame field) words every message.
    worded = {
        str(path.relative_to(SERVER))
        for path in SERVER.rglob("*.py")
        if path.name != "errors.py" and worded_here(path)
    }
    assert worded == set()
