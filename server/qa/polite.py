"""Polite-form coaching notes: an opening without 敬语, a refusal without an apology first.

Seed 004: 全程对话，开头、结尾必须用敬语; 在拒绝客户的时候，一定要说抱歉的话. Seed 001: 无法满足顾客
的要求，第一句需要回答"非常抱歉". Some shops fine a missing 敬语 (seed 004: ¥10 a sentence); here it
is a coaching note, never a fine: the cue lists below are wide but not the shop's judgement.
"""

from __future__ import annotations

import re

# Courtesy words that make an opening polite (您好, 亲, 欢迎, 请, 您 …; seed 001 欢迎语).
_COURTESY = re.compile(r"您|你好|亲|欢迎|请|谢谢|感谢|很高兴|抱歉|不好意思|在的|在呢|歡迎|請|謝謝")
# Saying no to the buyer (seed 001 avoids 不能/不行 and says 无法 … 非常抱歉 instead).
_REFUSAL = re.compile(
    r"不能|不行|不可以|没办法|沒辦法|无法|無法|做不到|不支持|不了|不退|不换|不包邮|很难做到|不议价"
)
# Cushioning a refusal: any of these before the refusal.
_APOLOGY = re.compile(r"抱歉|不好意思|对不起|對不起|见谅|見諒|遗憾")
# Negations that are not refusals: 不了解 asks, 少不了 reassures, 没问题 agrees.
_NOT_REFUSAL = re.compile(
    r"能不能|可不可以|行不行|不了解|少不了|免不了|错不了|跑不了|忘不了|受不了"
)

OPENING, REFUSAL = "opening", "refusal"
NOTE_LABELS = {OPENING: "开场没有敬语", REFUSAL: "拒绝时没有先致歉"}


def refuses(text: str) -> bool:
    """The line says no to the buyer (the cue words above)."""
    return _REFUSAL.search(_NOT_REFUSAL.sub("", text)) is not None


def notes(text: str, first_reply: bool) -> list[str]:
    """The coaching notes of one human agent line (the conversation's first reply or not)."""
    found = []
    if first_reply and not _COURTESY.search(text):
        found.append(OPENING)
    if _REFUSAL.search(text) is None:  # most lines: one search
        return found
    plain = _NOT_REFUSAL.sub("", text)
    refusal = _REFUSAL.search(plain)
    if refusal and not _APOLOGY.search(plain, 0, refusal.start()):
        found.append(REFUSAL)
    return found
