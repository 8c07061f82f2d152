"""The QA report as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every piece of export text (agent names, conversation ids, masked lines, file names) is escaped:
an export is untrusted input and the page is opened in a supervisor's browser.
"""

from __future__ import annotations

from html import escape
from typing import Any

from server.qa import formats, svg
from server.qa.labels import CATEGORY_LABELS
from server.qa.polite import NOTE_LABELS
from server.qa.report import HISTOGRAM_BOUNDS, Report, histogram

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;
background:#f5f6f8;color:#1f2937}
header{background:#1e3a8a;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:22px}header p{margin:2px 0;font-size:13px;opacity:.9}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:12px 16px;margin:0 0 16px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:4px 0 12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:140px;background:#eef2ff;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#4b5563}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
tr.total td{font-weight:bold;background:#f9fafb}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
figure{margin:0}figcaption{font-size:14px;font-weight:bold;margin:0 0 6px}
details{margin:6px 0}summary{cursor:pointer}
.example{font-size:13px;margin:4px 0 4px 16px}.where{color:#6b7280;margin-right:8px}
.text{background:#fef3c7;padding:1px 4px;border-radius:3px}
.bad th,.bad td{text-align:left}
#penalties-table td{white-space:normal;vertical-align:top}
"""

_KPI_COLUMNS: tuple[tuple[str, str], ...] = (
    ("客服", "agent"),
    ("接待轮次", "rounds"),
    ("已回复", "answered"),
    ("未回复", "unanswered"),
    ("窗口外轮次", "outside_window"),
    ("平均响应", "avg_response_s"),
    ("首次响应", "first_response_s"),
    ("P50", "p50_response_s"),
    ("P90", "p90_response_s"),
    ("达标率", "within_target_rate"),
    ("超时轮次", "overdue"),
    ("最长等待", "longest_wait_s"),
    ("检查行数", "checked"),
    ("违规行", "flagged"),
    ("拦截级", "blocked"),
)


def _cell(key: str, value: Any) -> str:
    if key == "within_target_rate":
        return formats.rate(value)
    if key.endswith("_s"):
        return formats.seconds(value)
    return escape(str(value))


def _kpi_table(summaries: list[dict[str, Any]], total: dict[str, Any]) -> str:
    head = "".join(f"<th>{label}</th>" for label, _ in _KPI_COLUMNS)
    rows = [
        f"<tr{' class=total' if summary is total else ''}>"
        + "".join(f"<td>{_cell(key, summary[key])}</td>" for _, key in _KPI_COLUMNS)
        + "</tr>"
        for summary in [*summaries, total]
    ]
    body = "".join(rows)
    return f'<table id="kpi-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _charts(report: Report, summaries: list[dict[str, Any]], total: dict[str, Any]) -> str:
    timers = report.timers
    times = report.total.response_times
    buckets = histogram(times)
    previous = (None, *HISTOGRAM_BOUNDS)
    columns = [
        (formats.bound(upper, before), count)
        for (upper, count), before in zip(buckets, previous, strict=True)
    ]
    good = sum(1 for bound in HISTOGRAM_BOUNDS if bound <= timers.target_s)
    histogram_svg = svg.column_chart(
        "响应时间分布",
        columns,
        good=good,
        note=f"绿色：{formats.seconds(timers.target_s)}内（达标）；橙色：超过目标",
    )
    rated = [s for s in summaries if s["within_target_rate"] is not None]
    rate_svg = svg.bar_chart(
        "各客服达标率",
        [
            (s["agent"], s["within_target_rate"], formats.rate(s["within_target_rate"]))
            for s in rated
        ],
        scale_max=1.0,
        marker=(report.target_rate, f"目标 {formats.rate(report.target_rate)}"),
        color="#2563eb",
    )
    category_svg = svg.bar_chart(
        "违规（按类别）",
        [(CATEGORY_LABELS[c], n, str(n)) for c, n in total["violations"].items()],
        color="#dc2626",
    )
    agent_svg = svg.bar_chart(
        "违规（按客服）",
        [(s["agent"], s["flagged"], str(s["flagged"])) for s in summaries if s["flagged"]],
        color="#ea580c",
    )
    figures = [
        ("响应时间分布（全部客服）", histogram_svg),
        ("各客服达标率", rate_svg),
        ("违规行数（按类别）", category_svg),
        ("违规行数（按客服）", agent_svg),
    ]
    return "".join(
        f"<figure><figcaption>{caption}</figcaption>{chart}</figure>" for caption, chart in figures
    )


def _violations(summaries: list[dict[str, Any]]) -> str:
    parts = []
    for summary in summaries:
        if not summary["violations"]:
            continue
        counts = "，".join(f"{CATEGORY_LABELS[c]} {n}" for c, n in summary["violations"].items())
        examples = "".join(
            f'<div class="example"><span class="where">{escape(e["file"])}:{e["line"]} · '
            f"会话 {escape(e['conversation'])} · {escape(CATEGORY_LABELS[category])} · "
            f'{escape(", ".join(e["rules"]))}</span><span class="text">{escape(e["text"])}</span>'
            "</div>"
            for category, listed in summary["examples"].items()
            for e in listed
        )
        parts.append(
            f"<details open><summary><b>{escape(summary['agent'])}</b>：{counts}</summary>"
            f"{examples}</details>"
        )
    return "".join(parts) or "<p>未发现违规用语。</p>"


def _penalties(report: Report) -> str:
    if not report.penalties:
        return "<p>本次导出没有罚款或扣分。</p>"
    head = "<tr><th>月份</th><th>客服</th><th>罚款</th><th>扣分</th><th>明细</th><th>提醒</th></tr>"
    rows = []
    for month in report.penalties:
        for row in month["agents"]:
            items = "<br>".join(escape(report.penalty_item(i)) for i in row["items"])
            rows.append(
                f"<tr><td>{month['month']}</td><td>{escape(row['agent'])}</td>"
                f"<td>¥{row['yuan']}</td><td>{row['points']}</td><td>{items}</td>"
                f"<td>{escape(row['text'])}</td></tr>"
            )
        shop = month["shop"]
        rows.append(
            f"<tr class=total><td>{month['month']}</td><td>全店</td><td>¥{shop['yuan']}</td>"
            f"<td>{shop['points']}</td><td></td><td>{escape(shop['text'])}</td></tr>"
        )
    return (
        f'<table id="penalties-table" class="bad"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _notes(summaries: list[dict[str, Any]]) -> str:
    parts = []
    for summary in summaries:
        if not summary["notes"]:
            continue
        counts = "，".join(f"{NOTE_LABELS[n]} {count}" for n, count in summary["notes"].items())
        examples = "".join(
            f'<div class="example"><span class="where">{escape(e["file"])}:{e["line"]} · '
            f"会话 {escape(e['conversation'])} · {NOTE_LABELS[note]}</span>"
            f'<span class="text">{escape(e["text"])}</span></div>'
            for note, listed in summary["note_examples"].items()
            for e in listed
        )
        parts.append(
            f"<details><summary><b>{escape(summary['agent'])}</b>：{counts}</summary>"
            f"{examples}</details>"
        )
    return "".join(parts) or "<p>开场和拒绝用语都有敬语。</p>"


def _malformed(report: Report) -> str:
    if not report.malformed:
        return "<p>没有格式错误的行。</p>"
    rows = "".join(
        f"<tr><td>{escape(m.file)}</td><td>{m.line}</td><td>{escape(m.reason)}</td></tr>"
        for m in report.malformed
    )
    return (
        '<table class="bad"><thead><tr><th>文件</th><th>行号</th><th>原因</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def render_html(report: Report) -> str:
    document = report.to_json()
    summaries, total = document["agents"], document["total"]
    cards = [
        (str(total["rounds"]), "接待轮次"),
        (formats.rate(total["within_target_rate"]), "达标率"),
        (formats.seconds(total["avg_response_s"]), "平均响应"),
        (str(total["overdue"]), "超时轮次"),
        (str(total["flagged"]), "违规行"),
        (f"¥{total['penalties']['yuan']}", "罚款"),
        (str(document["malformed"]["count"]), "格式错误行"),
    ]
    files = "，".join(escape(f) for f in report.files)
    period = f"{escape(document['from'] or '—')} 至 {escape(document['to'] or '—')}"
    rules = formats.rules_line(report.platform, report.timers, report.target_rate)
    counts = f"共 {document['lines']} 行，{document['conversations']} 个会话"
    card_html = "".join(
        f'<div class="card"><b>{value}</b><span>{label}</span></div>' for value, label in cards
    )
    sections = [
        ("summary", "", f'<div class="cards">{card_html}</div>'),
        ("kpi", "客服响应指标", _kpi_table(summaries, total)),
        ("charts", "图表", f'<div class="charts">{_charts(report, summaries, total)}</div>'),
        ("violations", "违规用语（个人信息已打码）", _violations(summaries)),
        ("penalties", "罚款与扣分（按月，店铺规则）", _penalties(report)),
        ("notes", "礼貌用语辅导（提醒，不罚款）", _notes(summaries)),
        ("malformed", f"格式错误的行（{document['malformed']['count']}）", _malformed(report)),
    ]
    body = "".join(
        f'<section id="{name}">{f"<h2>{title}</h2>" if title else ""}{content}</section>'
        for name, title, content in sections
    )
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>客服质检报告</title><style>{_CSS}</style></head>"
        "<body><header><h1>客服质检报告</h1>"
        f"<p>时间：{period}（{escape(report.timezone)}）</p><p>{escape(rules)}</p>"
        f"<p>文件：{files}；{counts}；规则版本 {escape(report.rules_version)}</p>"
        f"</header><main>{body}</main></body></html>\n"
    )
