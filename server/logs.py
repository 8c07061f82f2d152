"""Structured logging with redaction.

Log lines are JSON objects (``ts``, ``level``, ``logger``, ``event`` and the record's ``extra``
fields). A filter masks buyer phone, ID and bank card numbers, street addresses and credentials
(:func:`server.core.mask.mask`, the masker of the audit trail too) and the known tokens in the
message, every field (inside lists and mappings too) and the traceback, before anything is
written. Chat text is never passed to INFO logs: callers
log metadata (conversation id, lengths, rule ids), and the filter is the safety net.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable
from typing import Any

import orjson

from server.core.mask import mask

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
        return mask(text)

    def redact_value(self, value: Any) -> Any:
        """A field's value with every string in it redacted; other objects as redacted text."""
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.redact_value(item) for item in value]
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_value(v) for k, v in value.items()}
        return self.redact(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self.redact_value(value))
        if record.exc_info:
            # A library's traceback quotes what it choked on (aiohttp: the bad header line).
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
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
        elif record.exc_text:
            line["exc"] = record.exc_text  # already formatted (and redacted) by the filter
        if record.stack_info:
            line["stack"] = record.stack_info
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
    for noisy in ("websockets", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
