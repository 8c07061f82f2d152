"""Run ``python -m server serve`` as a real process and read its banner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BANNER_LINE = re.compile(r"^\s+(websocket|http|demo|dashboard|token)\s+(\S+)")


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    urls: dict[str, str]
    tokens: list[str]

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout)
        if self.proc.stdout:
            self.proc.stdout.close()
        return code


def start_server(
    tmp: Path, preexec_fn: Callable[[], None] | None = None, **env: str
) -> ServerProcess:
    environ = {
        **os.environ,
        "KEFU_WS_PORT": "0",
        "KEFU_HTTP_PORT": "0",
        "KEFU_DB": str(tmp / "kefu.db"),
        **env,
    }
    with open(tmp / "server.log", "a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            preexec_fn=preexec_fn,
        )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    tokens: list[str] = []
    for line in proc.stdout:
        match = BANNER_LINE.match(line)
        if match and match[1] == "token":
            tokens.append(match[2])
        elif match:
            urls[match[1]] = match[2]
        if "dashboard" in urls and line.startswith("  token"):  # the demo token or "tokens"
            break
    else:
        raise AssertionError(f"server exited before its banner: {(tmp / 'server.log').read_text()}")
    return ServerProcess(proc, urls, tokens)
