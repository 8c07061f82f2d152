"""The one masker of personal data, for every text the server stores or logs.

The audit trail (SQLite or Redis, ``/api/audit`` JSON and CSV, the dashboard), ``kefu qa``
examples and every log field go through :func:`mask`. Numbers are found in the checker's own
normalisation (:func:`server.core.checker.normalize.compact`): full-width digits, Chinese numerals
and whatever an evader puts between digits (spaces, dots, dashes) are folded away first, so
``１３９１２３４５６７８``, ``139.1234.5678`` and ``139 123 45678`` are masked like ``13912345678``.
A match is mapped back to the original text, so the whole disguised span, separators included,
is replaced. What has no digits to hide (a street address, a credential written as
``token=...``) is matched in the original text.
"""

from __future__ import annotations

import re

from server.core.checker.normalize import compact, deleted_positions, original_index

PHONE, ID_NUMBER, BANK_CARD = "[手机号]", "[身份证]", "[银行卡]"
LANDLINE, ADDRESS = "[电话]", "[地址]"

# Over the compact text: digits only, every separator already deleted, letters lower case. The
# guards keep a number whole: the 11 digits inside an 18-digit order number are not a phone.
_ID_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_NUMBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # 18-digit ID: region, birth date 19xx/20xx, sequence, a check digit or X.
    (re.compile(rf"(?<!\d)[1-9]\d{{5}}(?:19|20)\d{{2}}{_ID_DATE}\d{{3}}[\dx](?!\d)"), ID_NUMBER),
    # 15-digit ID (issued before 1999): region, birth date as YYMMDD, sequence.
    (re.compile(rf"(?<!\d)[1-9]\d{{5}}\d{{2}}{_ID_DATE}\d{{3}}(?!\d)"), ID_NUMBER),
    # Mobile, optionally +86 (the plus is deleted by the normalisation).
    (re.compile(r"(?<!\d)(?:86)?1[3-9]\d{9}(?!\d)"), PHONE),
)
# Bank cards: 16-19 digits from the card ranges (UnionPay 62, Visa 4, Mastercard 5) whose Luhn
# check digit is right, so that order and tracking numbers of the same length stay readable.
_CARD = re.compile(r"(?<!\d)[456]\d{15,18}(?!\d)")

# Over the original text.
_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    # Landlines: 010-12345678, 0571-1234567.
    (re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), LANDLINE),
    # Street addresses: a run of Chinese ending in a road/building marker and a number.
    (
        re.compile(
            r"[\u4e00-\u9fff]{2,}(?:省|市|区|县|镇|乡|路|街|道|巷|弄|村)"
            r"[\u4e00-\u9fff\w-]*?\d+(?:号|栋|幢|单元|室|楼)[\w-]*"
        ),
        ADDRESS,
    ),
    # Credentials written as key=value or "key": "value".
    (
        re.compile(r"(?i)((?:token|secret|password|signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        r"\1[redacted]",
    ),
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _number_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, label)`` of every number to mask in ``text``, not overlapping."""
    spans: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for pattern, label in _NUMBERS:
        for match in pattern.finditer(text):
            if match.start() not in taken:
                spans.append((match.start(), match.end(), label))
                taken.add(match.start())
    for match in _CARD.finditer(text):
        if match.start() not in taken and luhn_ok(match.group()):
            spans.append((match.start(), match.end(), BANK_CARD))
    return spans


def _spans(text: str) -> list[tuple[int, int, str]]:
    """The numbers of the compact text, mapped back, and those the text shows as they are: a
    separator that the normalisation deletes may also end a number (``c-13912345678-2``)."""
    spans = []
    folded = _number_spans(compact(text))
    if folded:
        deleted = deleted_positions(text)
        for start, end, label in folded:
            first = original_index(deleted, start)
            if label == PHONE and text[first - 1 : first] == "+":
                first -= 1  # +86: the plus is deleted by the normalisation, but belongs to it
            spans.append((first, original_index(deleted, end - 1) + 1, label))
    spans += _number_spans(text)
    kept: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def mask(text: str) -> str:
    """``text`` with phone, ID, bank card and landline numbers, addresses and credentials
    replaced by labels such as ``[手机号]``."""
    for start, end, label in reversed(_spans(text)):
        text = text[:start] + label + text[end:]
    for pattern, replacement in _TEXT:
        text = pattern.sub(replacement, text)
    return text
