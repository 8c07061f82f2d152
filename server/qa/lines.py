"""Reading chat exports: JSONL or CSV files in, chat lines and malformed-line reports out.

A JSONL line is ``{"conversation", "from": "buyer"|"agent", "agent"?, "buyer"?, "text", "ts",
"auto"?}``; a CSV file has a header row whose columns are those field names, or others named by a
column map (``from=角色,text=内容``). ``ts`` is epoch seconds or ISO 8601; a time without a zone
is read in the shop's timezone. A line that cannot be read is reported with its file and line
number and skipped: one bad line never stops a report.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from server.errors import BadValue

FIELDS = ("conversation", "from", "agent", "buyer", "text", "ts", "auto")
REQUIRED = ("conversation", "from", "text", "ts")
SENDERS = ("buyer", "agent")

# Anything outside 1970..2100 is not epoch seconds: most often an export in milliseconds.
_LAST_TS = 4_102_444_800.0
_TRUE = frozenset(("true", "1", "yes"))
_FALSE = frozenset(("false", "0", "no", ""))
_BOM = b"\xef\xbb\xbf"
_DATE_LIKE = re.compile(r"\d{4}-")


@dataclass(slots=True)  # not frozen: a frozen __init__ took a fifth of reading a line
class ChatLine:
    """One chat line of an export, validated; ``line`` is its 1-based line number in ``file``."""

    file: str
    line: int
    conversation: str
    sender: str  # "buyer" | "agent"
    agent: str | None
    buyer: str | None
    text: str
    ts: float
    auto: bool


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that was skipped, and why."""

    file: str
    line: int
    reason: str


class BadLine(ValueError):
    """Raised while reading one line; becomes a :class:`Malformed` entry, never an exit."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadValue.unknown("timezone", name) from None


def parse_csv_map(spec: str) -> dict[str, str]:
    """``from=角色,text=内容`` -> ``{"from": "角色", "text": "内容"}``; unmapped fields are
    read from columns of their own name."""
    mapping = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        field, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not column:
            raise BadValue.must_be("csv map entry", "field=column", item.strip())
        if field not in FIELDS:
            raise BadValue.unknown("csv field", field)
        mapping[field] = column
    return mapping


def parse_ts(value: Any, tz: ZoneInfo) -> float:
    """Epoch seconds from a number, a numeric string, or ISO 8601 (naive: in ``tz``)."""
    kind = type(value)
    if kind is float or kind is int:
        ts = float(value)
    elif kind is str:
        ts = _parse_ts_text(value, tz)
    else:
        raise BadLine(f"invalid ts: {value!r}")  # bool, null, list...
    if not (math.isfinite(ts) and 0 < ts < _LAST_TS):
        raise BadLine(f"ts out of range (epoch seconds expected): {value!r}")
    return ts


def _parse_ts_text(value: str, tz: ZoneInfo) -> float:
    text = value.strip()
    if not _DATE_LIKE.match(text):  # no YYYY-MM-DD start: epoch seconds as text, or nonsense
        try:
            return float(text)
        except ValueError:
            raise BadLine(f"invalid ts: {value!r}") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadLine(f"invalid ts: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def chat_line(
    file: str,
    number: int,
    record: Mapping[str, Any],
    tz: ZoneInfo,
    names: dict[str, str] | None = None,
) -> ChatLine:
    """Validate one record (a JSON object, or a CSV row renamed to the field names).

    ``names``: the conversation and agent names seen so far in the file, so that the lines of
    one conversation share one string instead of a copy each (the replay compares and looks
    them up several times a line: a shared string is found by identity, and stays in cache).
    """
    get = record.get
    conversation, sender, text, ts = get("conversation"), get("from"), get("text"), get("ts")
    if conversation is None or sender is None or text is None or ts is None:
        missing = next(f for f in REQUIRED if get(f) is None)
        raise BadLine(f"missing field: {missing!r}")
    if sender not in SENDERS:
        raise BadLine(f"field 'from' must be 'buyer' or 'agent', got {sender!r}")
    sender = "buyer" if sender == "buyer" else "agent"
    if not isinstance(text, str):
        raise BadLine(f"field 'text' must be a string, got {text!r}")
    if type(conversation) is not str:
        conversation = _name(record, "conversation")
    if not conversation:
        raise BadLine("missing field: 'conversation'")
    # The optional fields are most often absent (None): no call to validate them then.
    agent, buyer, auto = get("agent"), get("buyer"), get("auto")
    if agent is not None and type(agent) is not str:
        agent = _name(record, "agent")
    if buyer is not None and type(buyer) is not str:
        buyer = _name(record, "buyer")
    if names is not None:
        conversation = names.setdefault(conversation, conversation)
        if agent:
            agent = names.setdefault(agent, agent)
    return ChatLine(
        file,
        number,
        conversation,
        sender,
        agent or None,
        buyer or None,
        text,
        parse_ts(ts, tz),
        auto if type(auto) is bool else auto is not None and _flag(auto),
    )


def _name(record: Mapping[str, Any], field: str) -> str:
    value = record.get(field)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadLine(f"field {field!r} must be a string, got {value!r}")
    return str(value)


def _flag(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise BadLine(f"field 'auto' must be true or false, got {value!r}")


def read_jsonl(path: Path, tz: ZoneInfo) -> Iterator[ChatLine | Malformed]:
    file = str(path)
    names: dict[str, str] = {}
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if number == 1:
                raw = raw.removeprefix(_BOM)
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield Malformed(file, number, f"invalid json: {exc}")
                continue
            if not isinstance(record, dict):
                yield Malformed(
                    file, number, f"expected a json object, got {type(record).__name__}"
                )
                continue
            try:
                yield chat_line(file, number, record, tz, names)
            except BadLine as exc:
                yield Malformed(file, number, str(exc))


def read_csv(
    path: Path, tz: ZoneInfo, columns: Mapping[str, str]
) -> Iterator[ChatLine | Malformed]:
    """Rows of a CSV export with a header; ``columns`` maps field names to header names."""
    file = str(path)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return
        position = {name.strip(): index for index, name in enumerate(header)}
        wanted = {field: columns.get(field, field) for field in FIELDS}
        missing = [f for f in REQUIRED if wanted[f] not in position]
        if missing:
            field = missing[0]
            yield Malformed(
                file, 1, f"no column {wanted[field]!r} for field {field!r} (see --csv-map)"
            )
            return
        present = {f: position[c] for f, c in wanted.items() if c in position}
        names: dict[str, str] = {}
        start = reader.line_num + 1
        for row in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield Malformed(file, number, f"expected {len(header)} columns, got {len(row)}")
                continue
            record = {field: row[index] for field, index in present.items()}
            try:
                yield chat_line(file, number, record, tz, names)
            except BadLine as exc:
                yield Malformed(file, number, str(exc))


def read_export(
    path: Path, tz: ZoneInfo, columns: Mapping[str, str]
) -> Iterator[ChatLine | Malformed]:
    """A ``.csv`` file as CSV, anything else as JSONL."""
    if path.suffix.lower() == ".csv":
        return read_csv(path, tz, columns)
    return read_jsonl(path, tz)
