"""Chinese names of the wording categories, shared by the QA report and the live dashboard
(which receives them in its snapshot, so the page keeps no copy)."""

from __future__ import annotations

from types import MappingProxyType

CATEGORY_LABELS = MappingProxyType(
    {
        "offsite": "站外引流",
        "privacy": "泄露隐私",
        "invoice": "发票问题",
        "commitment": "违背承诺",
        "ad_law": "广告法用语",
        "cashback": "好评返现",
        "absolute": "绝对化承诺",
        "rude": "不文明用语",
        "dismissive": "推诿敷衍",
        "terse": "回复过短",
        "competitor": "提及竞品平台",
    }
)
