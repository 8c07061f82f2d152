"""Prometheus metrics of one server, in a registry of its own (tests run several servers)."""

from __future__ import annotations

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
        self.latency = Histogram(
            "kefu_handler_seconds",
            "Time to handle one client frame, by type.",
            ["type"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
