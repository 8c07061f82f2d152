"""How figures read in the terminal summary and the HTML report (both in Chinese)."""

from __future__ import annotations

from server.core.platforms import Timers


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f}秒"
    minutes, rest = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}分{rest:02d}秒"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}时{minutes:02d}分"


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _short(value: float) -> str:
    return f"{value:g}秒" if value < 60 else f"{value / 60:g}分"


def bound(upper: float | None, previous: float | None) -> str:
    """A histogram bucket's label: ``≤10秒``, ``10秒–30秒`` ... ``>15分``."""
    if upper is None:
        return f">{_short(previous)}" if previous is not None else "全部"
    if previous is None:
        return f"≤{_short(upper)}"
    return f"{_short(previous)}–{_short(upper)}"


def rules_line(platform: str, timers: Timers, target_rate: float) -> str:
    first, last = timers.window
    return (
        f"平台 {platform}：{timers.target_s:g} 秒内回复计为达标，"
        f"{timers.overdue_s:g} 秒未回复计为超时，"
        f"计入时段 {first:02d}:00–{last:02d}:00，达标率目标 {rate(target_rate)}"
    )
