"""Runs the real server (`python -m server serve`) as a child process for the browser tests.

The server prints its addresses on stdout once it is ready; they are read from there, so the
tests use port 0 and never guess a port.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_S = 30.0
# Clock levels far enough apart that a test reliably sees `warn` before `due`.
SUPERVISOR_TOKEN = "tok-s"  # shop1's supervisor, for the dashboard
TEST_TIMERS = {"warn_s": 0.5, "due_s": 6.0, "overdue_s": 12.0, "follow_up_s": 600.0}


class KefuProcess:
    """One server process; `start` may be called again after `kill` to restart on the same port."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.ws_url = ""
        self.http_url = ""
        self.demo_url = ""
        self.token = ""
        self.ws_port = 0
        self._log: IO[str] | None = None

    def start(self, ws_port: int = 0) -> None:
        env = {**os.environ, **self.env, "KEFU_WS_PORT": str(ws_port), "KEFU_HTTP_PORT": "0"}
        self._log = open(self.workdir / "server.log", "a", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, lines), daemon=True).start()
        self._read_banner(lines)

    def _read_banner(self, lines: queue.Queue[str | None]) -> None:
        fields: dict[str, str] = {}
        while "token" not in fields and "tokens" not in fields:
            try:
                line = lines.get(timeout=READY_WITHIN_S)
            except queue.Empty:
                raise RuntimeError(f"server not ready within {READY_WITHIN_S:g} s") from None
            if line is None:
                log = (self.workdir / "server.log").read_text(encoding="utf-8")
                raise RuntimeError(f"server exited before it was ready:\n{log[-3000:]}")
            parts = line.split()
            if len(parts) >= 2 and parts[0] in {"websocket", "http", "demo", "token", "tokens"}:
                fields[parts[0]] = parts[1]
        self.ws_url, self.http_url = fields["websocket"], fields["http"]
        # The banner shows only a generated demo token; a configured one comes from KEFU_TOKENS.
        configured = self.env.get("KEFU_TOKENS", "").split(":")[0]
        self.demo_url, self.token = fields["demo"], fields.get("token", configured)
        self.ws_port = int(self.ws_url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """Ends the server abruptly, as a crash would (no 1001 close, no flush)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, how: signal.Signals) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        self.proc.wait(timeout=15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
        self.proc = None


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    # Keeps draining stdout after the banner so the server never blocks on a full pipe.
    assert stream is not None
    try:
        for line in stream:
            lines.put(line)
    except ValueError:  # the stream was closed by kill()/stop()
        pass
    lines.put(None)


def configured_server(workdir: Path, allowed_origin: str) -> KefuProcess:
    """A server (not started) with short clocks and a first nudge 2 s after an order."""
    # Nudges never go out in quiet hours: put them half a day away so tests run at any hour.
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start, end, wake = (now + timedelta(hours=h) for h in (11, 12, 13))
    config = {
        "timers": {platform: TEST_TIMERS for platform in ("taobao", "tmall", "jd", "pdd")},
        "nudges": {
            "delays_s": [2.0, 7200.0],
            "timezone": "Asia/Shanghai",
            "quiet_hours": f"{start:%H:%M}-{end:%H:%M}",
            "wake_at": f"{wake:%H:%M}",
        },
    }
    # The served adapter set starts as the bundled one; tests edit their copy to fix a selector.
    adapters = workdir / "adapters"
    shutil.copytree(ROOT / "extension" / "adapters", adapters, dirs_exist_ok=True)
    config_file = workdir / "kefu.yaml"
    config_file.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return KefuProcess(
        workdir,
        {
            "KEFU_HOST": "127.0.0.1",
            "KEFU_DB": str(workdir / "kefu.db"),
            "KEFU_TOKENS": f"tok-a:alice:shop1,{SUPERVISOR_TOKEN}:sue:shop1:supervisor",
            "KEFU_ORIGINS": allowed_origin,
            "KEFU_CONFIG": str(config_file),
            "KEFU_ADAPTERS": str(adapters),
        },
    )
