"""The marketplaces Kefu Assist serves and the reply-clock targets each one judges a shop by.

One definition for the core, the settings and the protocol: ``settings.py`` overrides the
targets from YAML, the tracker and ``kefu qa`` count with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PLATFORMS: tuple[str, ...] = ("taobao", "tmall", "jd", "pdd")


@dataclass(frozen=True, slots=True)
class Timers:
    """Reply-clock thresholds of one platform, in seconds since the round started.

    ``target_s`` is the platform's own KPI target (JD: 30 s answer rate; Taobao: 3-minute
    response rate); ``warn_s``/``due_s``/``overdue_s`` are when the agent is warned;
    ``follow_up_s`` is when a buyer who went silent after the agent's question is asked again.
    ``window`` is the platform's counting window in local hours ``(start, end)``.
    """

    warn_s: float
    due_s: float
    overdue_s: float
    follow_up_s: float
    target_s: float
    window: tuple[int, int]


# Defaults from the platforms' rules and the seeds (docs/settings.md, "timers"): JD counts a
# 30-second answer rate over 09:00-23:00; Taobao/Tmall a 3-minute response rate over
# 08:00-24:00, where buyers grow impatient at 15 s and 千牛 reminds at 100 s; Pinduoduo's
# commonly cited target is 3 minutes over 08:00-23:00.
DEFAULT_TIMERS: Mapping[str, Timers] = {
    "taobao": Timers(10, 15, 100, 900, 180, (8, 24)),
    "tmall": Timers(10, 15, 100, 900, 180, (8, 24)),
    "jd": Timers(20, 30, 180, 900, 30, (9, 23)),
    "pdd": Timers(60, 120, 180, 900, 180, (8, 23)),
}
