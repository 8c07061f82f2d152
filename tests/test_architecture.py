"""The core stays pure: no sockets, no event loop, no database (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parent.parent / "server" / "core"
FORBIDDEN = {"asyncio", "websockets", "aiohttp", "sqlite3", "redis", "socket"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_core_imports_no_io():
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_modules(path) & FORBIDDEN)
        for path in CORE.rglob("*.py")
        if imported_modules(path) & FORBIDDEN
    }
    assert offenders == {}


def test_core_does_not_import_the_runtime_storage_or_settings():
    # The settings read the environment and YAML for the runtime; the core is handed values.
    for path in CORE.rglob("*.py"):
        source = path.read_text()
        for layer in ("server.runtime", "server.storage", "server.settings"):
            assert layer not in source, (path, layer)


SERVER = CORE.parent


def frame_literals(path: Path) -> list[int]:
    """Lines of dict literals with a ``"type"`` key: a frame built outside the renderers."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Dict)
        and any(isinstance(key, ast.Constant) and key.value == "type" for key in node.keys)
    ]


def test_only_the_protocol_module_builds_frames():
    found = {
        str(path.relative_to(SERVER)): frame_literals(path)
        for path in SERVER.rglob("*.py")
        if path.name != "protocol.py"
    }
    # module: the lines of the dicts with a "type" key it builds (issue 15 moved the last ones)
    assert {module: lines for module, lines in found.items() if lines} == {}
