"""Search tokens for Chinese buyer messages and phrase entries: jieba, set up once.

One process-wide tokenizer serves the suggester and the library index, so a phrase keyword and a
buyer message are always cut the same way. It is built lazily on first use (loading jieba's
prefix dictionary costs about half a second) behind a lock, so racing threads build it once.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import jieba
import opencc

# The repository's e-commerce word list; `phrases/` is a sibling of the `server` package.
DEFAULT_USERDICT = Path(__file__).resolve().parents[2] / "phrases" / "userdict.txt"

# Particles, pronouns and fillers that say nothing about what the buyer wants. Kept short on
# purpose: BM25's IDF already discounts common words, this only drops the ones that would add noise
# to every message ("在" stays: "在吗" is how a buyer opens a conversation).
STOPWORDS = frozenset(
    (
        "的",
        "了",
        "吗",
        "呢",
        "啊",
        "吧",
        "呀",
        "哦",
        "喔",
        "噢",
        "嘛",
        "么",
        "哈",
        "呵",
        "嗯",
        "恩",
        "哇",
        "哟",
        "啦",
        "咯",
        "额",
        "呃",
        "亲",
        "亲亲",
        "请问",
        "问下",
        "问一下",
        "一下",
        "这个",
        "那个",
        "这",
        "那",
        "就",
        "也",
        "都",
        "还",
        "是",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "和",
        "与",
        "及",
        "哈哈",
        "呵呵",
        "嘿嘿",
        "老板",
        "掌柜",
    )
)

# Homophone slips buyers type with pinyin input, for the words that carry a question's intent.
# Applied after normalisation, before cutting; each wrong form is rare as a real word.
TYPOS: tuple[tuple[str, str], ...] = (
    ("包油", "包邮"),
    ("法货", "发货"),
    ("发或", "发货"),
    ("快第", "快递"),
    ("快的", "快递"),
    ("物留", "物流"),
    ("起求", "起球"),
    ("色查", "色差"),
    ("纯面", "纯棉"),
    ("尺吗", "尺码"),
    ("偏宜", "便宜"),
    ("便意", "便宜"),
    ("优惠卷", "优惠券"),
    ("发飘", "发票"),
    ("发漂", "发票"),
    ("开票据", "开发票"),
    ("退火", "退货"),
    ("退款退火", "退款退货"),
    ("换获", "换货"),
    ("花被", "花呗"),
    ("花贝", "花呗"),
    ("信用咔", "信用卡"),
    ("顺风", "顺丰"),
    ("正口", "正品"),
    ("质两", "质量"),
    ("好平", "好评"),
    ("差平", "差评"),
    ("付宽", "付款"),
    ("腿货", "退货"),
    ("推货", "退货"),
    ("退宽", "退款"),
    ("换或", "换货"),
    ("优惠劵", "优惠券"),
    ("冲电", "充电"),
    ("冲不进", "充不进"),
    ("物料", "物流"),
    ("到帐", "到账"),
    ("价格保户", "价格保护"),
    ("可味", "口味"),
)


class Tokenizer:
    """Normalises and cuts text into search tokens; build one with :func:`get_tokenizer`."""

    def __init__(self, userdict: Path) -> None:
        started = time.perf_counter()
        # jieba logs "Building prefix dict..." at DEBUG to stderr; keep the server's stderr clean.
        logging.getLogger("jieba").setLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        if userdict.exists():
            with userdict.open("rb") as words:  # a path would be opened and left open by jieba
                self._jieba.load_userdict(words)
        self._t2s = opencc.OpenCC("t2s")
        self._traditional = _conversion_triggers(self._t2s)
        self._cut: Callable[..., list[str]] = self._jieba.lcut_for_search
        self.startup_s = time.perf_counter() - started

    def normalize(self, text: str) -> str:
        """Full-width to half-width, lower case, traditional to simplified, common typos fixed."""
        text = unicodedata.normalize("NFKC", text).lower()
        # The converter costs ~9 us per message; most messages are already simplified.
        if self._traditional is None or not self._traditional.isdisjoint(text):
            text = self._t2s.convert(text)
        for wrong, right in TYPOS:
            if wrong in text:
                text = text.replace(wrong, right)
        return text

    def tokens(self, text: str) -> list[str]:
        """Search tokens of ``text``: normalised, cut (with sub-words of long words), no stopwords.

        HMM is off: an unknown run of characters falls apart into single characters, which still
        match, instead of becoming a guessed word that matches nothing.
        """
        return self.cut(self.normalize(text))

    def cut(self, normalized: str) -> list[str]:
        """Search tokens of text already passed through :meth:`normalize`."""
        return [
            token
            for token in self._cut(normalized, HMM=False)
            if token not in STOPWORDS and _is_word(token)
        ]


def _is_word(token: str) -> bool:
    return any(char.isalnum() for char in token)


def _conversion_triggers(converter: opencc.OpenCC) -> frozenset[str] | None:
    """Characters that can start a traditional-to-simplified replacement, or None if unknown.

    Reads the converter's loaded tables (a private structure of opencc-python-reimplemented:
    groups of ``(max_len, min_len, {traditional: simplified})``). Should a later release change it,
    None makes :meth:`Tokenizer.normalize` convert every message: slower, never wrong.
    """
    try:
        return frozenset(
            key[0]
            for group in converter._dict_chain_data
            for _max_len, _min_len, table in group
            for key in table
        )
    except (AttributeError, TypeError, ValueError):
        return None


_lock = threading.Lock()
_instances: dict[Path, Tokenizer] = {}


def get_tokenizer(userdict: Path = DEFAULT_USERDICT) -> Tokenizer:
    """The shared tokenizer for ``userdict``, built on first call."""
    tokenizer = _instances.get(userdict)
    if tokenizer is None:
        with _lock:
            tokenizer = _instances.get(userdict)
            if tokenizer is None:
                tokenizer = _instances[userdict] = Tokenizer(userdict)
    return tokenizer
