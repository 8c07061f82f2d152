"""Scenario (issue 14, in process): what one client can make the server do.

- *suggestions, 25,000-character buyer line*: ``Assist.suggest`` on the shipped library for a
  pasted page of a buyer line; only the first ``MAX_CHARS`` (300, server/core/intent.py)
  characters are read. Baseline, same run: a 300-character line. Before issue 14 the long line cost
  ~116 ms of event loop; the target is at most twice the baseline.

- *hello, small agent, big process*: ``Service.welcome`` (welcome, state, kpi, nudges waiting for
  the agent) for an agent with 10 waiting conversations, while 100 other shops hold 250,000
  waiting conversations between them (50,000 in a quick run). Baseline, same run: the same agent
  in a process holding nothing else. Before issue 14 every hello walked every conversation of
  every shop (1.6 ms → 17.7 ms at 250,000); the target is at most twice the baseline.
- *state frame, agent with 20,000 waiting*: the bytes of its (paged) ``state`` frame; the target
  is the send queue (``KEFU_SEND_QUEUE_BYTES``, 1 MiB), which the whole list (4 MB) outgrew.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import ROOT, figure
from server import protocol
from server.core.intent import MAX_CHARS
from server.core.suggest import SuggestContext
from server.runtime import library
from server.runtime.metrics import Metrics
from server.runtime.registry import Peer
from server.runtime.service import Service
from server.settings import Token, load_config
from server.storage import MemoryStore

NOW = 1_795_366_745.0
SHOPS = 100
REPEATS = 200


class QuietPeer(Peer):
    """A connection that only counts what it was sent."""

    __slots__ = ("sent",)

    def __init__(self, token: Token) -> None:
        super().__init__(token, "jd")
        self.sent = 0

    @property
    def id(self) -> str:
        return "bench"

    def enqueue(self, data: bytes, kind: str) -> None:
        self.sent += len(data)


def service(others: int, mine: int) -> Service:
    config = load_config({"KEFU_DB": ":memory:"})
    svc = Service(config, MemoryStore(), Metrics(), clock=lambda: NOW + 60)
    for n in range(others):
        shop = f"shop{n % SHOPS}"
        svc.tracker.buyer_message(shop, f"c{n}", f"b{n}", "jd", f"agent{n % 7}", NOW + n * 1e-4)
    for n in range(mine):
        svc.tracker.buyer_message("mine", f"m{n}", f"b{n}", "jd", "me", NOW + n * 1e-4)
    return svc


def hello_us(svc: Service) -> float:
    token = Token("tok", "me", "mine")
    samples = []
    for _ in range(REPEATS):
        peer = QuietPeer(token)
        began = time.perf_counter()
        svc.welcome(peer, None)
        samples.append((time.perf_counter() - began) * 1e6)
        svc.detach(peer)
    return statistics.median(samples)


def suggest_us(svc: Service, texts: tuple[str, str]) -> tuple[float, float]:
    """Median time of suggestions for each text, measured alternately (the machine is noisy)."""
    peer = QuietPeer(Token("tok", "me", "mine"))
    samples: tuple[list[float], list[float]] = ([], [])
    context = SuggestContext(platform="taobao")
    for _ in range(REPEATS // 4):
        for text, kept in zip(texts, samples, strict=True):
            began = time.perf_counter()
            found = svc.assist.suggest(peer, text, context)
            kept.append((time.perf_counter() - began) * 1e6)
            if not found:  # a failure or a missed budget gives none: not what is measured here
                raise RuntimeError(f"no suggestions for a {len(text):,}-character line")
    return statistics.median(samples[0]), statistics.median(samples[1])


def run(quick: bool) -> list[dict]:
    return asyncio.run(_measure(quick))


async def _measure(quick: bool) -> list[dict]:
    # Inside a running loop, as in the server: a hello arms the scheduler (loop.call_at).
    svc = service(0, 0)
    svc.assist.library = library.load(ROOT / "phrases")
    line = "请问这个有货吗，什么时候发货，可以便宜点吗 " * 1200
    suggest_us(svc, (line[:10], line[:10]))  # the segmenter loads its dictionary on first use
    cut, long = suggest_us(svc, (line[:MAX_CHARS], line[:25_000]))
    others = 50_000 if quick else 250_000
    alone = hello_us(service(0, 10))
    crowded = hello_us(service(others, 10))
    big = service(0, 20_000)
    state = protocol.encode(big.view.state_frame(QuietPeer(Token("tok", "me", "mine"))))
    return [
        figure(
            "suggestions for a 25,000-character buyer line",
            long,
            "us",
            target=round(2 * cut, 1),
            baseline=cut,
            baseline_label="a 300-character line (intent.MAX_CHARS)",
            digits=1,
        ),
        figure(
            f"hello, agent with 10 waiting, process holding {others:,} waiting conversations",
            crowded,
            "us",
            target=round(2 * alone, 1),
            baseline=alone,
            baseline_label="the same agent, nothing else in the process",
            digits=1,
        ),
        figure(
            "state frame, agent with 20,000 waiting conversations",
            len(state) / 1024,
            "KB",
            target=1024,
            baseline=None,
            digits=1,
        ),
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
