"""Every message type, error code, close code and setting is documented (datasette's test_docs)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from server import errors, protocol
from server.settings import SETTINGS

ROOT = Path(__file__).parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()
QA_DOC = (ROOT / "docs" / "qa.md").read_text()


def test_every_client_message_and_field_is_documented():
    for kind, fields in protocol.CLIENT_MESSAGES.items():
        assert f"### `{kind}`" in PROTOCOL, kind
        section = PROTOCOL.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        for field in fields:
            if field.name != "id":
                assert field.name in section, (kind, field.name)


def headed_names(section: str) -> set[str]:
    """The backticked names in a section's ``###`` headings (``### `ack` and `pong` ``)."""
    return {
        name
        for line in section.splitlines()
        if line.startswith("### ")
        for name in re.findall(r"`([a-z_]+)`", line)
    }


def test_every_server_frame_is_documented():
    # The sets come from the renderers themselves (protocol.renders), not from a kept list.
    server_section = PROTOCOL.split("## Server → client", 1)[1].split("\n## ", 1)[0]
    assert set(protocol.AGENT_FRAMES) == headed_names(server_section)
    for kind in protocol.DASHBOARD_FRAMES:
        assert f"| `{kind}` |" in QA_DOC, kind


def test_every_error_code_is_documented():
    codes = {
        cls.code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.KefuError)
    }
    for code in codes:
        assert f"| `{code}` |" in PROTOCOL, code


def test_every_close_code_is_documented():
    for code in protocol.CLOSE_CODES:
        assert f"| {code} |" in PROTOCOL, code


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert f"`{setting.name}`" in SETTINGS_DOC, setting.name
