"""What every benchmark module shares: the figure dict, percentiles, the machine description, and
the processes a scenario drives (the server under test, the echo baseline, the load generator).

Servers and load generators always run as separate processes, so the load generator's CPU is
never charged to the server and the server's event loop is the one it ships with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# The two event loops every network scenario runs on: the one the server picks when uvloop is
# installed (`python -m server serve`), and the standard library's, through a bench-only launcher.
LOOPS = ("uvloop", "asyncio")
SERVER_COMMANDS = {
    "uvloop": [PYTHON, "-m", "server", "serve"],
    "asyncio": [PYTHON, "-m", "bench.serve_default"],
}


def loops(quick: bool) -> tuple[str, ...]:
    """Full runs measure both loops; quick runs only the one the server ships with."""
    return LOOPS[:1] if quick else LOOPS


MAX_FRAME = 65536  # the server's default KEFU_MAX_FRAME; the echo baseline uses the same
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    target: float | None,
    higher_is_better: bool = False,
    baseline: float | None = None,
    baseline_label: str | None = None,
    digits: int = 2,
) -> dict[str, Any]:
    """One row of the benchmark table; ``target=None`` means report only (always met)."""
    if target is None:
        target_text, met = "report only", True
    elif higher_is_better:
        target_text, met = f">= {target:g} {unit}", value >= target
    else:
        target_text, met = f"<= {target:g} {unit}", value <= target
    return {
        "figure": name,
        "value": round(value, digits),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, digits),
        "baseline_label": baseline_label,
        "target": target_text,
        "met": met,
    }


def ratio_figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float,
    baseline_label: str,
    at_least: float,
    digits: int = 2,
) -> dict[str, Any]:
    """A row whose target is a share of its baseline: ``value / baseline >= at_least``."""
    row = figure(
        name,
        value,
        unit,
        target=None,
        baseline=baseline,
        baseline_label=baseline_label,
        digits=digits,
    )
    row["target"] = f">= {at_least:.0%} of baseline"
    row["met"] = baseline > 0 and value / baseline >= at_least
    return row


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank, sorted here); NaN when empty."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def machine() -> dict[str, str]:
    """CPU model, cores, Python and OS: printed next to every table, since figures depend on it."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def raise_open_files(wanted: int) -> int:
    """Lift this process's soft limit on open files towards ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (the SQLite writer included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bench_tokens(agents: int) -> list[str]:
    """``token:agent:shop`` credentials, one agent each, all in one shop."""
    return [f"tok{n}:agent{n}:shop-bench" for n in range(agents)]


@dataclass
class Spawned:
    """A server process (kefu or echo) and where it listens."""

    proc: subprocess.Popen[str]
    ws_url: str
    http_url: str | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.workdir is not None:
            self.workdir.cleanup()


@contextmanager
def kefu_server(
    loop: str,
    agents: int,
    timers: dict[str, Any] | None = None,
    tokens: list[str] | None = None,
    **env: str,
) -> Iterator[Spawned]:
    """``python -m server serve`` (or the default-loop launcher) on free ports, with a temp
    SQLite file, ``agents`` tokens (in a YAML config: 10,000 would not fit one environment
    variable) and the per-connection rate limit lifted so the load generator sets the pace.
    ``tokens`` (``token:agent:shop``, ``agents`` of them) replaces the one-shop default; ``env``
    adds settings, e.g. ``KEFU_REDIS_URL``."""
    if tokens is not None and len(tokens) != agents:
        raise ValueError(f"expected {agents} tokens, got {len(tokens)}")
    workdir = tempfile.TemporaryDirectory(prefix="kefu-bench-")
    config = Path(workdir.name) / "kefu.yaml"
    document: dict[str, Any] = {"tokens": tokens if tokens is not None else bench_tokens(agents)}
    if timers:
        document["timers"] = timers
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    environ = {
        **os.environ,
        "KEFU_WS_PORT": "0",
        "KEFU_HTTP_PORT": "0",
        "KEFU_DB": str(Path(workdir.name) / "kefu.db"),
        "KEFU_CONFIG": str(config),
        "KEFU_PHRASES": str(ROOT / "phrases"),
        "KEFU_RATE": "1000000",
        "KEFU_BURST": "1000000",
        **env,
    }
    environ.pop("KEFU_TOKENS", None)
    log = open(Path(workdir.name) / "server.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        SERVER_COMMANDS[loop], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=log, text=True
    )
    spawned = Spawned(proc, "", None, workdir)
    try:
        urls = _read_banner(proc, Path(workdir.name) / "server.log")
        spawned.ws_url, spawned.http_url = urls["websocket"], urls["http"]
        yield spawned
    finally:
        log.close()
        spawned.stop()


def _read_banner(proc: subprocess.Popen[str], log: Path) -> dict[str, str]:
    """The URLs from the banner, which ends with the count of the configured tokens."""
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    for line in proc.stdout:
        words = line.split()
        if len(words) >= 2 and words[0] in ("websocket", "http"):
            urls[words[0]] = words[1]
        elif words[:1] == ["tokens"]:
            return urls
    raise RuntimeError(f"server exited before its banner:\n{log.read_text()[-2000:]}")


@contextmanager
def echo_server(loop: str) -> Iterator[Spawned]:
    proc = subprocess.Popen(
        [PYTHON, "-m", "bench.echo_server", "--loop", loop, "--max-size", str(MAX_FRAME)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    spawned = Spawned(proc, "")
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().split()
        if port[:1] != ["port"]:
            raise RuntimeError("echo server exited before printing its port")
        spawned.ws_url = f"ws://127.0.0.1:{port[1]}"
        yield spawned
    finally:
        spawned.stop()


class LoadGenerator:
    """``python -m bench.loadgen SPEC``: reports one JSON object per line on stdout.

    Lines with ``"event"`` mark phases (``measure`` when the timed window opens, ``ready`` when
    every connection is authenticated); the last line is the result.
    """

    def __init__(self, spec: dict[str, Any], workdir: Path) -> None:
        spec_file = workdir / f"loadgen-{os.getpid()}-{time.monotonic_ns()}.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bench.loadgen", str(spec_file)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def next_event(self) -> dict[str, Any]:
        line = self.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"load generator exited ({code}) without reporting")
        report: dict[str, Any] = json.loads(line)
        return report

    def release(self) -> None:
        """Tell a holding load generator to close its connections (end of its stdin)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def finish(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


def chunks(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """``items`` in ``parts`` nearly equal runs, for spreading connections over processes."""
    size, extra = divmod(len(items), parts)
    result, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        result.append(list(items[start:end]))
        start = end
    return result


def buyer_messages() -> list[str]:
    """Buyer lines from the suggester's labelled set (kept in the repo; real data never is)."""
    path = ROOT / "tests" / "data" / "suggest" / "labelled.jsonl"
    return [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]


def real_buyer_messages() -> list[str]:
    """Every distinct real buyer message of ../shared/data/real (JDDC and ECD, read in place by
    scripts/eval_suggest.py, never copied), or none where that directory is absent."""
    spec = importlib.util.spec_from_file_location(
        "eval_suggest", ROOT / "scripts" / "eval_suggest.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if not script.REAL.is_dir():
        return []
    return sorted({text for _ref, text in script.buyer_lines() if text.strip()})
