"""Structured logging with redaction.

Log lines are JSON objects (``ts``, ``level``, ``logger``, ``event`` and the record's ``extra``
fields). A filter masks buyer phone numbers, ID-card numbers, street addresses and credentials in
every message and field before anything is written. Chat text is never passed to INFO logs: callers
log metadata (conversation id, lengths, rule ids), and the filter is the safety net.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

import orjson

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Chinese ID-card numbers: 17 digits and a digit or X.
    (re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?!\d)"), "[身份证]"),
    # Mobile numbers, optionally with +86 and separators: 138 1234 5678, 138-1234-5678.
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"), "[手机号]"),
    # Landlines: 010-12345678, 0571-1234567.
    (re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), "[电话]"),
    # Street addresses: a run of Chinese ending in a road/building marker and a number.
    (
        re.compile(
            r"[\u4e00-\u9fff]{2,}(?:省|市|区|县|镇|乡|路|街|道|巷|弄|村)"
            r"[\u4e00-\u9fff\w-]*?\d+(?:号|栋|幢|单元|室|楼)[\w-]*"
        ),
        "[地址]",
    ),
    # Credentials written as key=value or "key": "value".
    (
        re.compile(r"(?i)((?:token|secret|password|signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        r"\1[redacted]",
    ),
)

MIN_SECRET_LENGTH = 6

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class Redactor(logging.Filter):
    """Masks personal data and known secrets in a record's message and extra fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a token that contains another is masked whole. A very short one
        # ("t1" in a test) would mask parts of ordinary words, like agent1: only real ones count.
        kept = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        self.secrets = tuple(sorted({*self.secrets, *kept}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[token]")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


REDACTOR = Redactor()


def configure(level: str, secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Route every ``kefu`` and library log line through the redactor to JSON on stderr."""
    REDACTOR.add_secrets(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The libraries log every handshake and request at INFO: keep them to warnings.
    for noisy in ("websockets", "aiohttp.access", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
