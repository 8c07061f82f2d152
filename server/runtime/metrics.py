"""Prometheus metrics of one server, in a registry of its own (tests run several servers)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5)


class FrameStats(Collector):
    """Frames in and out and handler time, by type: plain counts, rendered at scrape time.

    Two or three of these per buyer message went through prometheus-client's locked children
    (a histogram observe scans its buckets under a lock): ~5 us a message, 3% of the server.
    Only the event loop's thread counts, so plain integers are enough."""

    def __init__(self) -> None:
        self.frames_in: dict[str, int] = {}
        self.frames_out: dict[str, int] = {}
        self.latency: dict[str, tuple[list[int], list[float]]] = {}  # bucket counts, [sum]

    def handled(self, kind: str, seconds: float) -> None:
        self.frames_in[kind] = self.frames_in.get(kind, 0) + 1
        histogram = self.latency.get(kind)
        if histogram is None:
            histogram = self.latency[kind] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        histogram[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[1][0] += seconds

    def sent(self, kind: str) -> None:
        self.frames_out[kind] = self.frames_out.get(kind, 0) + 1

    def collect(self) -> Iterator[Metric]:
        for name, documentation, counts in (
            ("kefu_frames_in", "Client frames received, by type.", self.frames_in),
            ("kefu_frames_out", "Frames sent to clients, by type.", self.frames_out),
        ):
            family = CounterMetricFamily(name, documentation, labels=["type"])
            for kind, count in counts.items():
                family.add_metric([kind], count)
            yield family
        latency = HistogramMetricFamily(
            "kefu_handler_seconds", "Time to handle one client frame, by type.", labels=["type"]
        )
        for kind, (buckets, total) in self.latency.items():
            cumulative, running = [], 0
            for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([kind], cumulative, sum_value=total[0])
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "kefu_connections", "Open authenticated websocket connections.", registry=self.registry
        )
        self.frames = FrameStats()
        self.registry.register(self.frames)
        self.errors = Counter(
            "kefu_errors", "Error frames and responses, by code.", ["code"], registry=self.registry
        )
        self.suggestions_skipped = Counter(
            "kefu_suggestions_skipped",
            "Buyer lines that got no suggestions, by reason (budget: overran it; failed).",
            ["reason"],
            registry=self.registry,
        )
        self.adapter_broken = Gauge(
            "kefu_adapter_broken",
            "Sessions whose page adapter matches nothing for a required key, by adapter and key.",
            ["adapter", "key"],
            registry=self.registry,
        )
        self.sent = self.frames.sent
        self.handled = self.frames.handled

    def render(self) -> bytes:
        return generate_latest(self.registry)
