"""Scenario 6: start-up time, from spawning the server process to the first 200 from
``/healthz``: interpreter, imports, settings, the SQLite store, the phrase library (the
segmenter's dictionary included) and both listeners. Polled every 10 ms. Baseline, same run: a
process that only imports aiohttp and websockets and exits, the floor any server on them pays.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, SERVER_COMMANDS, figure, free_port, loops

POLL_S = 0.01
GIVE_UP_S = 30.0


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def startup_s(loop: str) -> float:
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as workdir:
        port = free_port()
        environ = {
            **os.environ,
            "KEFU_WS_PORT": "0",
            "KEFU_HTTP_PORT": str(port),
            "KEFU_DB": str(Path(workdir) / "kefu.db"),
            "KEFU_PHRASES": str(ROOT / "phrases"),
        }
        began = time.perf_counter()
        proc = subprocess.Popen(
            SERVER_COMMANDS[loop],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not healthy(port):
                if proc.poll() is not None or time.perf_counter() - began > GIVE_UP_S:
                    raise RuntimeError(f"server ({loop}) never answered /healthz")
                time.sleep(POLL_S)
            return time.perf_counter() - began
        finally:
            proc.terminate()
            proc.wait(15)


def imports_s() -> float:
    began = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import aiohttp, websockets"], check=True)
    return time.perf_counter() - began


def run(quick: bool) -> list[dict]:
    runs = 1 if quick else 5
    floor = statistics.median(imports_s() for _ in range(runs))
    return [
        figure(
            f"start-up to a 200 from /healthz, median of {runs} ({loop})",
            statistics.median(startup_s(loop) for _ in range(runs)),
            "s",
            target=3,
            baseline=floor,
            baseline_label="python -c 'import aiohttp, websockets'",
        )
        for loop in loops(quick)
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
