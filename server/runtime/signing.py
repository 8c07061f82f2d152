"""Signed order events (``POST /api/orders``): what is signed, and who may not send it twice.

The signature covers the timestamp, the nonce and the body::

    X-Kefu-Timestamp: 1795000000
    X-Kefu-Nonce: 3f9c2a7e51d04b8a
    X-Kefu-Signature: sha256=<hex HMAC-SHA256 of b"1795000000.3f9c2a7e51d04b8a." + body>

A timestamp further than ``KEFU_ORDER_MAX_AGE_S`` from the server's clock is ``stale_order``; a
nonce already accepted within that window is ``replayed_order``. A captured request therefore
works once, and only for a few minutes. Nonces live in the process's memory: after a restart, or
on another process of a Redis deployment, a replay inside the window is accepted again, and then
changes nothing (the same event twice is a repeat, and an order's status never moves back).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping

from server import protocol
from server.errors import BadSignature, ReplayedOrder, StaleOrder

TIMESTAMP_HEADER = "X-Kefu-Timestamp"
NONCE_HEADER = "X-Kefu-Nonce"
SIGNATURE_HEADER = "X-Kefu-Signature"

_TIMESTAMP = re.compile(r"\d{1,12}(?:\.\d{1,6})?")
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Kefu-Signature`` value for these headers and body."""
    signed = f"{timestamp}.{nonce}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Nonces:
    """The nonces accepted within the last ``max_age_s``, per shop: each is accepted once."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.seen: dict[tuple[str, str], float] = {}  # in arrival order: the oldest go first

    def claim(self, shop: str, nonce: str, timestamp: float, now: float) -> None:
        while self.seen:
            oldest, at = next(iter(self.seen.items()))
            if at >= now - self.max_age_s:
                break
            del self.seen[oldest]  # stale by now: its timestamp alone refuses it
        if (shop, nonce) in self.seen:
            raise ReplayedOrder(f"{NONCE_HEADER} {protocol.quote(nonce)} was already used")
        self.seen[(shop, nonce)] = timestamp

    def release(self, shop: str, nonce: str) -> None:
        """Forget a nonce whose order was not taken (the store failed): a retry may reuse it."""
        self.seen.pop((shop, nonce), None)


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, nonces: Nonces, shop: str
) -> str:
    """Check the three headers and claim the nonce; returns the nonce. Raises ``bad_signature``,
    ``stale_order`` or ``replayed_order``."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise BadSignature(f"missing or malformed {TIMESTAMP_HEADER} header (epoch seconds)")
    if not _NONCE.fullmatch(nonce):
        raise BadSignature(
            f"missing or malformed {NONCE_HEADER} header (8-64 letters, digits, '-' or '_')"
        )
    expected = signature(secret, timestamp, nonce, body).encode()
    # Compared as bytes: a header with non-ASCII characters is simply wrong, never a crash.
    given = headers.get(SIGNATURE_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, expected):
        raise BadSignature(f"missing or wrong {SIGNATURE_HEADER} header")
    sent_at = float(timestamp)
    age = now - sent_at
    if not math.isfinite(age) or abs(age) > nonces.max_age_s:
        raise StaleOrder(
            f"{TIMESTAMP_HEADER} {timestamp} is {abs(age):.0f} s from the server's clock; "
            f"at most {nonces.max_age_s:g} s is accepted"
        )
    nonces.claim(shop, nonce, sent_at, now)
    return nonce
