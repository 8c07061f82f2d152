"""Prometheus metrics of one server, in a registry of its own (tests run several servers)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "kefu_connections", "Open authenticated websocket connections.", registry=self.registry
        )
        self.frames_in = Counter(
            "kefu_frames_in", "Client frames received, by type.", ["type"], registry=self.registry
        )
        self.frames_out = Counter(
            "kefu_frames_out", "Frames sent to clients, by type.", ["type"], registry=self.registry
        )
        self.errors = Counter(
            "kefu_errors", "Error frames and responses, by code.", ["code"], registry=self.registry
        )
        self.suggestions_skipped = Counter(
            "kefu_suggestions_skipped",
            "Buyer lines that got no suggestions, by reason (budget: overran it; failed).",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kefu_handler_seconds",
            "Time to handle one client frame, by type.",
            ["type"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5),
            registry=self.registry,
        )
        self.adapter_broken = Gauge(
            "kefu_adapter_broken",
            "Sessions whose page adapter matches nothing for a required key, by adapter and key.",
            ["adapter", "key"],
            registry=self.registry,
        )
        # prometheus-client's labels() costs ~1 us a call: at two frames per buyer message it
        # was 4% of the server's time, so the children are kept.
        self._sent: dict[str, Any] = {}
        self._handled: dict[str, tuple[Any, Any]] = {}

    def sent(self, kind: str) -> None:
        """Count one frame sent; the labelled child is looked up once per type, not per frame."""
        child = self._sent.get(kind)
        if child is None:
            child = self._sent[kind] = self.frames_out.labels(kind)
        child.inc()

    def handled(self, kind: str, seconds: float) -> None:
        """Count one client frame and the time its handler took."""
        children = self._handled.get(kind)
        if children is None:
            children = self._handled[kind] = (
                self.frames_in.labels(kind),
                self.latency.labels(kind),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
