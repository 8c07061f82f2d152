"""Search tokens for Chinese buyer messages and phrase entries: one segmenter, set up once.

One process-wide tokenizer serves the suggester and the library index, so a phrase keyword and a
buyer message are always cut the same way. It is built lazily on first use (loading the prefix
dictionary costs a few hundred milliseconds) behind a lock, so racing threads build it once.

The segmenter is rjieba (jieba-rs, jieba's algorithm and dictionary compiled): in search mode
with HMM off it cuts every buyer line and phrase field exactly as jieba 0.42 does (a test holds
the two to the same cuts on the library) in about a tenth of the time.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import rjieba

from server.core.fold import fold, fold_table

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
# Any wrong form of TYPOS: one search tells that a line holds none (nearly every line), where a
# test per entry costs ~0.8 us.
_ANY_TYPO = re.compile("|".join(re.escape(wrong) for wrong, _right in TYPOS))


class Tokenizer:
    """Normalises and cuts text into search tokens; build one with :func:`get_tokenizer`."""

    def __init__(self, userdict: Path) -> None:
        started = time.perf_counter()
        self._jieba = rjieba.Jieba()
        if userdict.exists():
            load_userdict(self._jieba, userdict)
        fold_table()  # built here, so start-up says what the first message would otherwise pay
        self.startup_s = time.perf_counter() - started

    def normalize(self, text: str) -> str:
        """Full-width to half-width, lower case, traditional to simplified, common typos fixed."""
        return fix_typos(fold(text))

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
            for token in self._jieba.cut_for_search(normalized, False)
            if token not in STOPWORDS and (token.isalnum() or _holds_alnum(token))
        ]


def fix_typos(folded: str) -> str:
    """``folded`` (see :func:`server.core.fold.fold`) with the pinyin-input slips of TYPOS fixed."""
    if not _ANY_TYPO.search(folded):
        return folded
    for wrong, right in TYPOS:
        if wrong in folded:
            folded = folded.replace(wrong, right)
    return folded


def load_userdict(segmenter: rjieba.Jieba, path: Path) -> None:
    """jieba's user-dictionary format: ``word [frequency] [tag]`` per line. Without a frequency
    the word gets the one that keeps it whole (jieba's ``suggest_freq``, computed by rjieba)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields:
            frequency = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
            tag = fields[-1] if len(fields) > 1 and not fields[-1].isdigit() else None
            segmenter.add_word(fields[0], frequency, tag)


def _holds_alnum(token: str) -> bool:
    # Most tokens are all letters (Chinese words): cut() tests that first, without this call.
    return any(char.isalnum() for char in token)


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
