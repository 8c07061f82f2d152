"""The terminal summary of a QA report: a KPI table, violations with examples, malformed lines."""

from __future__ import annotations

import unicodedata
from typing import Any

from server.qa import formats
from server.qa.labels import CATEGORY_LABELS
from server.qa.polite import NOTE_LABELS
from server.qa.report import Report

MALFORMED_SHOWN = 20  # the JSON and HTML reports list every malformed line

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("客服", "agent"),
    ("轮次", "rounds"),
    ("已回复", "answered"),
    ("未回复", "unanswered"),
    ("平均响应", "avg_response_s"),
    ("首次响应", "first_response_s"),
    ("P50", "p50_response_s"),
    ("P90", "p90_response_s"),
    ("达标率", "within_target_rate"),
    ("超时", "overdue"),
    ("最长等待", "longest_wait_s"),
    ("违规行", "flagged"),
)


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cell(key: str, value: Any) -> str:
    if key == "within_target_rate":
        return formats.rate(value)
    if key.endswith("_s"):
        return formats.seconds(value)
    return str(value)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell + " " * (w - width(cell)) if i == 0 else " " * (w - width(cell)) + cell
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def render_text(report: Report) -> str:
    document = report.to_json()
    out = [
        f"客服质检报告：{len(report.files)} 个文件，{document['lines']} 行，"
        f"{document['conversations']} 个会话，格式错误 {document['malformed']['count']} 行",
        f"时间 {document['from'] or '—'} 至 {document['to'] or '—'}（{report.timezone}）",
        formats.rules_line(report.platform, report.timers, report.target_rate),
        "",
    ]
    summaries = [*document["agents"], document["total"]]
    rows = [[label for label, _ in _COLUMNS]]
    rows += [[_cell(key, summary[key]) for _, key in _COLUMNS] for summary in summaries]
    out += _table(rows)

    flagged = [summary for summary in document["agents"] if summary["violations"]]
    if flagged:
        out += ["", "违规用语（按行计）："]
    for summary in flagged:
        counts = "，".join(f"{CATEGORY_LABELS[c]} {n}" for c, n in summary["violations"].items())
        out.append(f"  {summary['agent']}：{counts}")
        for category, examples in summary["examples"].items():
            for example in examples:
                where = f"{example['file']}:{example['line']}"
                out.append(f"    [{CATEGORY_LABELS[category]}] {where} {example['text']}")

    for month in report.penalties:
        out += ["", f"罚款与扣分 {month['month']}：{month['shop']['text']}"]
        for row in month["agents"]:
            out.append(f"  {row['agent']}：{row['text']}")
            out += [f"    {report.penalty_item(i)}" for i in row["items"]]

    coached = [summary for summary in document["agents"] if summary["notes"]]
    if coached:
        out += ["", "礼貌用语辅导（提醒，不罚款）："]
    for summary in coached:
        counts = "，".join(f"{NOTE_LABELS[n]} {count}" for n, count in summary["notes"].items())
        out.append(f"  {summary['agent']}：{counts}")

    malformed = report.malformed
    if malformed:
        out += ["", f"格式错误的行（{len(malformed)}）："]
        out += [f"  {m.file}:{m.line}: {m.reason}" for m in malformed[:MALFORMED_SHOWN]]
        if len(malformed) > MALFORMED_SHOWN:
            out.append(
                f"  …… 另有 {len(malformed) - MALFORMED_SHOWN} 行，完整列表见 --json 或 --html"
            )
    return "\n".join(out) + "\n"
