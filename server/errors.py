"""One error tree for the whole server.

Every error the server reports to a client is a :class:`KefuError` with a stable ``code``.
Messages are lowercase and quote the bad value (:func:`quote`), e.g. ``unknown message type:
'chek'``. A bad field of a frame (:class:`BadField`) and a bad value from anywhere else
(:class:`BadValue`) are built from what was wrong, so their wording is written once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

QUOTE_LIMIT = 40  # characters of a bad value quoted in an error message


def quote(value: Any) -> str:
    """``repr`` of a bad value, cut to :data:`QUOTE_LIMIT` characters so errors stay short."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        value = _json_text(value)
    if isinstance(value, str) and len(value) > QUOTE_LIMIT:
        return repr(value[:QUOTE_LIMIT] + "…")
    return repr(value)


def one_of(choices: Iterable[str]) -> str:
    """What a value from a fixed set must be: ``one of created, paid, closed``."""
    return f"one of {', '.join(choices)}"


def _json_text(value: dict[str, Any] | list[Any]) -> str:
    """A container as JSON; past the depth orjson writes (254 levels: it parses deeper), the
    opening of its first branch, which is as much as an error message quotes anyway."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        opening = ""
        while len(opening) <= QUOTE_LIMIT and isinstance(value, (dict, list)) and value:
            if isinstance(value, list):
                opening, value = opening + "[", value[0]
            else:
                key = next(iter(value))
                opening, value = opening + "{" + orjson.dumps(key).decode() + ":", value[key]
        return opening


class KefuError(Exception):
    """Base class of every error the server raises on purpose."""

    code = "internal"
    status = 500  # the HTTP status of a response carrying this error; subclasses narrow it


# --- protocol -------------------------------------------------------------------------------


class ProtocolError(KefuError):
    """Raised when a client frame cannot be understood."""

    code = "bad_frame"
    status = 400


class BadJSON(ProtocolError):
    """Raised when a frame is not valid JSON."""

    code = "bad_json"


class UnknownType(ProtocolError):
    """Raised when a frame's ``type`` names no message of protocol v1."""

    code = "unknown_type"


class MissingField(ProtocolError):
    """Raised when a required field of a message is absent."""

    code = "missing_field"


class BadField(ProtocolError):
    """Raised when a field of a client frame has the wrong JSON type or a value outside what
    it allows.

    Build it with :meth:`must_be` from the field, the frame's type, what the field must be and
    the value it had: ``field 'text' of 'check' must be a string, got 5``.
    """

    code = "bad_field"

    @classmethod
    def must_be(cls, field: str, frame: str, expected: str, got: Any) -> BadField:
        """``field {field!r} of {frame!r} must be {expected}, got {quote(got)}``."""
        return cls(f"field {field!r} of {frame!r} must be {expected}, got {quote(got)}")


class RequestTimeout(ProtocolError):
    """Raised when an HTTP request's body does not arrive within ``KEFU_HTTP_TIMEOUT_S``."""

    code = "request_timeout"
    status = 408


# --- values that are not frame fields -------------------------------------------------------


class BadValue(KefuError):
    """Raised when a value that does not come in a frame field is not one the server takes: an
    HTTP query parameter (``query 'month' must be YYYY-MM, got '2026-13'``), an option of a
    ``kefu`` command, an argument of the core (a platform it does not know).

    Build it with :meth:`must_be` or :meth:`unknown`. Settings have their own error,
    :class:`SettingsError`, because a bad one stops start-up.
    """

    code = "bad_value"
    status = 400

    @classmethod
    def must_be(cls, what: str, expected: str, got: Any) -> BadValue:
        """``{what} must be {expected}, got {quote(got)}``; ``what`` names the value, e.g.
        ``query 'month'``."""
        return cls(f"{what} must be {expected}, got {quote(got)}")

    @classmethod
    def unknown(cls, what: str, got: Any) -> BadValue:
        """``unknown {what}: {quote(got)}``: a name outside the set the server knows."""
        return cls(f"unknown {what}: {quote(got)}")


# --- session --------------------------------------------------------------------------------


class NotAuthenticated(KefuError):
    """Raised when a connection has not said a valid ``hello``, or its token is wrong."""

    code = "not_authenticated"
    status = 401


class Forbidden(KefuError):
    """Raised when an agent asks for data that belongs to another shop or agent."""

    code = "forbidden"
    status = 403


class NotFound(KefuError):
    """Raised when a message names a nudge, order or conversation the shop does not have."""

    code = "not_found"
    status = 404


class LimitExceeded(KefuError):
    """Raised when a message would take an agent or a shop past a cap (docs/deploy.md, Limits)."""

    code = "limit_exceeded"
    status = 429


class CheckUnavailable(KefuError):
    """Raised when the wording checker failed or overran its budget; never read as a pass."""

    code = "check_unavailable"
    status = 503


# --- configuration and libraries ------------------------------------------------------------


class SettingsError(KefuError):
    """Raised when a setting has an invalid value; start-up stops."""

    code = "bad_setting"


class LibraryError(KefuError):
    """Raised when a file of the phrase library or a rule pack is invalid.

    Carries the file, the 1-based line (0 when unknown) and the reason, so an editor can jump there.
    """

    code = "bad_library"

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}")


class RulePackError(LibraryError):
    """Raised when a banned-wording rule pack in ``phrases/banned/`` is invalid."""

    code = "bad_rule_pack"


class PhraseLibraryError(LibraryError):
    """Raised when a quick-phrase file in ``phrases/`` is invalid."""

    code = "bad_phrase_library"


class AdapterSetError(LibraryError):
    """Raised when a page adapter set in the adapters directory (``KEFU_ADAPTERS``) is invalid."""

    code = "bad_adapter_set"


# --- storage --------------------------------------------------------------------------------


class StoreError(KefuError):
    """Raised when the store cannot read or write; translated at the storage edge."""

    code = "store_unavailable"
    status = 503


class ClusterTimeout(StoreError):
    """Raised when the process owning a shop does not answer a forwarded request in time."""

    def __init__(self, shop: str) -> None:
        super().__init__(f"shop {shop!r}'s owner did not answer in time")
        self.shop = shop


class BadSignature(KefuError):
    """Raised when an HTTP order event's HMAC signature is missing or wrong."""

    code = "bad_signature"
    status = 401


class StaleOrder(BadSignature):
    """Raised when a signed order's timestamp is outside ``KEFU_ORDER_MAX_AGE_S`` of the clock."""

    code = "stale_order"


class ReplayedOrder(BadSignature):
    """Raised when a signed order's nonce was already accepted: the request is a replay."""

    code = "replayed_order"
    status = 409
