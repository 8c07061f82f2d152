"""What a buyer line asks for: clean it like the consoles dirty it, then detect its needs.

Two steps before any phrase is ranked (docs/suggestions.md, "Needs first"):

- :func:`clean` cuts the line to :data:`MAX_CHARS`, takes the order/product card a console
  pastes in front of a question (咨询订单号：… 订单金额：…) out of the text, keeping its
  order id and amount as context, and removes what carries no need: masks (``[数字x]``,
  ``[订单x]``, ``***``), long digit runs (product ids, phones), links, emoji and the consoles'
  emoji codes (``#E-s33``), and text the buyer pasted twice.
- :func:`detect` scores each phrase category by the cue families its normalised text matches:
  the words real buyers use for a need (价保: 降价了 / 补差价 / 保价; a fault: 充不进 / 不显示 /
  坏了 …), written as regular expressions over the whole text, so they hold across jieba's cuts,
  typos already fixed by the tokenizer's table and masks already gone.

The cue families are written from the buyers' vocabulary of the seeds and the library's
examples and tuned on the development half of the real-line labels only (never the test half).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from server.core.cues import CueSet
from server.core.fold import fold

# A buyer question is a sentence or two; a 5,000-character paste (a log, a product page) is cut
# here, before any regular expression or jieba sees it, so suggestion time stays bounded.
MAX_CHARS = 300

# The consoles' order/product cards: a label, a full- or half-width colon, a value. The order id
# and amount are kept as context; every other card field is dropped with its value.
_CARD_FIELD = re.compile(
    r"(咨询订单号|查询订单号|订单编号|订单号|订单金额|金额|下单时间|商品ID|商品id|商品号|商品编号|"
    r"商品名称|订单状态)\s*[:：]\s*(\[[^\]\s]{1,8}\]|[^\s,，;；!！?？]*)"
)
_ORDER_LABELS = frozenset({"咨询订单号", "查询订单号", "订单编号", "订单号"})
_AMOUNT_LABELS = frozenset({"订单金额", "金额"})
# Masks the data exports and consoles put in place of personal data, and bare ids.
_MASK = re.compile(
    r"\[(?:数字|订单|地址|金额|日期|时间|姓名|电话|手机|链接|站点|邮箱|商品)x?\d*\]|\[[a-z]{1,8}x\]"
    r"|[0-9a-z]*\*{2,}|\d{6,}"
)
_SIX_DIGITS = re.compile(r"\d{6}")
_LINK = re.compile(r"https?://\S+|www\.\S+|\S+\.(?:com|cn|html?)\S*")
_EMOJI_CODE = re.compile(r"#e-s\d+|\[[\u4e00-\u9fff]{1,4}\]")
# One character held down (啊啊啊), or the same stretch of two or more characters pasted again
# right after itself (stretches up to 30 characters: the search stays linear in the text).
_REPEAT = re.compile(r"(.)\1{2,}|(.{2,30}?)(?:[\s,，。!！?？~]*\2)+")
_SPACES = re.compile(r"\s+")
# One character str.isalnum() holds true (\w is those and the underscore).
_ALNUM = re.compile(r"[^\W_]")
# Characters that are never symbols (letters, digits, CJK, spaces, common punctuation): most lines
# hold only these and skip the per-character category test (~1.5 us a line).
_PLAIN = re.compile(r"[0-9a-zA-Z\u4e00-\u9fff\s,.?!，。？！、:;：；'\"()（）\[\]【】~\-]*")


@dataclass(frozen=True, slots=True)
class Cleaned:
    text: str  # what the buyer wrote, without cards, masks, links, emoji and repeats
    order: str = ""  # the order id of a pasted card, when the card shows one unmasked
    amount: str = ""  # the amount of a pasted card, number only


def clean(message: str) -> Cleaned:
    """``message`` cut to :data:`MAX_CHARS` and stripped of what carries no need."""
    text = fold(message[:MAX_CHARS])
    order = amount = ""
    # Each substitution runs only when the line holds what every match needs (a card field's
    # colon, a link's dot, a mask's bracket): most lines hold none of it (real buyer lines:
    # 12.7 -> 4.9 us for clean, the same output).
    if ":" in text or "：" in text:
        for match in _CARD_FIELD.finditer(text):
            label, value = match.group(1), match.group(2)
            if label in _ORDER_LABELS and value.isdigit():
                order = value
            elif label in _AMOUNT_LABELS:
                number = re.match(r"[¥￥]?(\d+(?:\.\d+)?)", value)
                amount = number.group(1) if number else ""
        text = _CARD_FIELD.sub(" ", text)
    if "." in text or "://" in text:
        text = _LINK.sub(" ", text)
    if "[" in text or "**" in text or _SIX_DIGITS.search(text):
        text = _MASK.sub("", text)
    if "[" in text or "#e-s" in text:
        text = _EMOJI_CODE.sub("", text)
    if not _PLAIN.fullmatch(text):
        text = "".join(char for char in text if not _is_symbol(char))
    if len(text) - len(set(text)) >= 2:  # a repeat holds two characters twice at least
        text = _collapse_repeats(text)
    text = _SPACES.sub(" ", text).strip(" ,，、;；:：")
    # Only punctuation left (a card's separators, "？？"): nothing the buyer asked for.
    return Cleaned(text if _ALNUM.search(text) else "", order, amount)


def _collapse_repeats(text: str) -> str:
    """``_REPEAT.sub(_first, text)``, the regex tried only where a match can start: at a
    character pair found again further on (a stretch and its copy start with the same pair,
    ccc holds cc twice). Searching tries up to 29 stretch lengths at every position, ~5 us on
    a line with a character seen twice; few positions start a pair seen again. _REPEAT has no
    anchor or lookbehind: whether it matches at a position depends on the text from there on."""
    pairs = list(zip(text, text[1:], strict=False))
    last = {pair: position for position, pair in enumerate(pairs)}
    parts: list[str] = []
    end = 0
    for start in [position for position, pair in enumerate(pairs) if last[pair] != position]:
        match = _REPEAT.match(text, start) if start >= end else None
        if match:
            parts += (text[end:start], _first(match))
            end = match.end()
    return "".join((*parts, text[end:])) if parts else text


def _first(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2)


def _is_symbol(char: str) -> bool:
    # So: emoji and pictographs; Sk: modifiers; Cs/Co: broken or private-use code points.
    return unicodedata.category(char) in ("So", "Sk", "Cs", "Co")


# category -> cue families: (pattern, weight). Weight 2 is a cue that names the need on its own
# (退货, 发票); 1 a cue that leans towards it (怎么办, 多少钱). Patterns run over the normalised
# text (simplified, lower case, typos fixed).
CUES: Mapping[str, tuple[tuple[str, float], ...]] = MappingProxyType(
    {
        "welcome": (
            (
                r"^(?:亲|亲亲|你好|您好|hi|hello|哈喽|嗨|在|在吗|在么|在嘛|在不在|在不|在\?|有人吗?"
                r"|有人在吗?"
                r"|还在吗?|老板在吗?|客服在吗?|掌柜在吗?)[\s!?,。.~]*$",
                2.0,
            ),
            (r"人工|转人工|真人|机器人|是客服吗|客服$|^客服", 2.0),
            (r"有人吗|有人在|有客服吗|客服在|在不在|在吗[\s?!。~]*$|在么[\s?!。~]*$|^喂", 1.5),
            # A greeting in front of a question: a tie-breaker, not a need.
            (r"^(?:你好|您好|在吗|亲)", 0.5),
        ),
        "farewell": (
            (r"谢谢|多谢|感谢|谢啦|辛苦了|麻烦你了|再见|拜拜|88$", 2.0),
            (r"^没有了|没问题了|没别的|没事了|没有其他|就这样吧|知道了谢", 2.0),
        ),
        "product": (
            (
                r"正品|真品|真的假的|假货|假的|真假|验货|验真|防伪|专柜|实体店|授权|行货|水货"
                r"|原装",
                2.0,
            ),
            (
                r"尺码|码数|多大码|什么码|穿多大|穿多少码|几码|[smlx]码|\d?x[sl]\b|大码|小码|偏大|偏小"
                r"|标准码|码子|\d{2,3}斤|身高|体重|腰围|胸围|肩宽|内衣|鞋码|顶脚|宽松|修身",
                2.0,
            ),
            (
                r"支持|兼容|适用|适配|通用|能用吗|能用不|可以用吗|能不能用|可不可以用|配不配"
                r"|匹配",
                1.5,
            ),
            (
                r"wifi|蓝牙|充电吗|电池|续航|功能|参数|型号|规格|配置|系列|版本|内存|屏幕多大|英寸"
                r"|尺寸"
                r"|接口|功率|电压|容量|重量|多重|多大|多长|多宽|多高|几张|几块|几片|几抽|抽数",
                1.5,
            ),
            (r"我要买|想买|我想要|要买个|要一个|这款呢|那款呢|这个呢|这款|那款", 1.5),
            (r"区别|差别|不同|哪款|哪个好|哪种好|哪个更|推荐|适合|怎么选|选哪", 1.5),
            (
                r"材质|面料|纯棉|棉的|无纺|成分|厚吗|薄吗|厚不厚|薄不薄|加厚|透气|褪色吗"
                r"|颜色|色差|款式|图片|起球吗|会起球|起不起球|缩水吗|会缩水|会不会缩|掉色吗"
                r"|会掉色|保修|质保|联保",
                1.5,
            ),
            (r"口味|味道怎么|好吃|咸|甜|辣|保质期|生产日期|日期是|新鲜|特级|等级|大小", 1.5),
            (
                r"怎么用|如何用|怎么使用|如何使用|使用方法|用法|说明书|怎么安装吗|怎么操作|教我|怎么泡"
                r"|不知道怎么|做什么用|干什么用|干嘛用|有什么用|什么用途|怎么安|安上|装上|卸下|取下",
                1.5,
            ),
            # Who or what it suits, how much is in it.
            (
                r"婴儿|宝宝|孕妇|小孩|儿童|老人|男生|女生|男士|女士|酒精|香精|添加|刺激|过敏"
                r"|几包|几袋|几个|几斤|几克|多少克|多少g|\d+克|\d+g\b|\d+ml|大号|小号|中号|包装"
                r"|(?:用|买|拍|选|要|是).{1,8}还是",
                1.5,
            ),
            (
                r"有货|现货|库存|还有吗|有没有货|缺货吗|断货|补货|没货了吗|有没有[^?？]{1,8}的"
                r"|有[^?？]{1,6}的吗"
                r"|有卖|有没有带|编号是|预售|定金",
                1.5,
            ),
            # A fault asked about before it happened (会不会坏, 有坏的吗): a question, not a claim.
            (
                r"会不会.{0,8}(?:坏|漏|碎|破|变质|变味|过期|掉色|起球)|(?:有|会有).{0,4}坏的吗"
                r"|会出现.{0,10}(?:情况|问题)吗",
                2.0,
            ),
            (
                r"质量(?:怎么|好不好|如何|有保证|有保障|可靠)|耐用|结实|安全吗|有害|荧光|化学"
                r"|甲醛",
                1.5,
            ),
        ),
        "bargain": (
            (
                r"优惠|便宜|打折|折扣|\d(?:\.\d)?折|满减|满\d+|减\d+|\d+-\d+|叠加|券|劵|红包|活动"
                r"|促销|秒杀"
                r"|618|双11|双十一|聚划算|特价|降价吗|会降价|降不降|抹零|零头|少点|少算|让点|划算"
                r"|性价比|老客户|老顾客"
                r"|打个?折|便宜点|优惠点|值这个价|值不值|这个价"
                r"|返\d|返现|(?:优惠|流量|\d+元?)卷|关注了|收藏了",
                2.0,
            ),
            # A price with a quantity: 99一包, 3包只需299, 两份990, 一共6包
            (
                r"\d+(?:元|块)?(?:一|就有|有|一共|共|只需|只要)\d*(?:包|盒|袋|件|个|斤|罐|份|箱|套|组|支)"
                r"|(?:包|盒|袋|件|斤|罐|份|箱|套|组|支)(?:只需|只要|才)?\d{2,}|(?:一共|只需|只要)\d+",
                1.5,
            ),
            (r"买了好几|一直在你家买|一直买|买过好几次|回头客|老买家", 1.5),
            (
                r"送(?:什么|啥|点|个|些|的|东西|礼|赠|湿巾|毛巾|\d)|赠品|赠送|礼品|小礼物|送不送|也送|还送|再送"
                r"|买.送.|有送",
                2.0,
            ),
            (
                r"多少钱|什么价|啥价|价格|价钱|单价|贵|\d+元|\d+块|几块钱|最低|能少|最多能减"
                r"|比.*便宜",
                1.0,
            ),
        ),
        "payment": (
            (
                r"怎么付|怎么支付|付款方式|支付方式|能付|付不了|付不上|付款失败|支付失败|怎么拍"
                r"|怎么买|怎么下单"
                r"|到付|货到付款|再给钱|先用后付|转账|私下|微信付|支付宝",
                2.0,
            ),
            (r"付款|支付|付钱|付了|已付|已经付|付过|拍了|拍下|拍好|拍完|下单了|下订单|下好单", 1.0),
            (
                r"白条|花呗|蚂蚁花|借呗|信用卡|分期|货到付款|京豆|京东豆|积分|定金|订金|尾款|余额|代付"
                r"|扣款|扣钱",
                2.0,
            ),
            (
                r"改价|改.{0,2}价格|改一下价|修改价格|价格不对|价格改|价改|改.{0,3}(?:邮费"
                r"|运费)|(?:邮费|运费).{0,4}改",
                2.0,
            ),
        ),
        "logistics": (
            (
                r"发货|发了吗|发出|发走|寄出|几时发|什么时候发|啥时候发|今天发|明天发|能发|先发|别发"
                r"|不要发"
                r"|没发|还没寄|出库|打包|还不发|怎么不发|不发货|多久发|几天发|多久能发|发吗$"
                r"|送吗$",
                2.0,
            ),
            (
                r"快递|物流|配送|送货|送到|送达|到货|到了吗|几天到|多久到|多久能到|能到|到哪"
                r"|什么时候到"
                r"|啥时候到|签收|派送|派件|揽收|揽件|分拣|中转|单号|运单|在路上|送上|送来|送过来"
                r"|收到货"
                r"|还没到|没收到货|催一下|催单|催哈|什么时候送|啥时候送|几点送|何时送",
                2.0,
            ),
            (
                r"顺丰|圆通|中通|韵达|申通|邮政|ems|百世|汇通|德邦|极兔|京东快递|自提|自取|驿站|快递柜"
                r"|站点|送货员|快递员|配送员|楼下|上楼|丰巢|周末送|新疆|西藏|偏远",
                2.0,
            ),
            (r"包邮|邮费|运费|快递费|免邮", 2.0),
            (
                r"改地址|地址(?:错|有变|改|写错|填错|留错|变了)|改.{0,3}地址|修改地址|改电话"
                r"|电话(?:错|改)"
                r"|改成.{0,4}送|改派|收货人|寄到|送到别",
                2.0,
            ),
            (r"加急|急用|着急|尽快|快点|急着|赶时间|来得及|多久|几天|要多长时间", 1.0),
            (r"那么久|这么久|太久|好久|太慢|不送|没送|不给送|再发|\d+号.{0,2}发", 1.5),
        ),
        "invoice": ((r"发票|开票|抬头|税号|专票|普票|收据|含税|税点|报销", 2.0),),
        "after_sales": (
            (
                r"退货|退款|退钱|退了|退掉|退回|退单|退换|换货|换一个|换个|换新|能换|可以换|售后"
                r"|申请|审核"
                r"|服务单|寄回|返货|退给|要退|我退|想退|取件|取货|仅退|无理由|可以退|能退"
                r"|退吗|运费险|退换无忧|换的(?:货|新)",
                2.0,
            ),
            (r"取消|不要了|不想要|拒收|买错|拍错|下错", 2.0),
            (
                r"坏了|坏的|破了|破损|破的|碎了|裂|漏|不能用|用不了|没法用|不好用|不工作|没反应"
                r"|充不进|冲不进"
                r"|充不上|不显示|黑屏|死机|故障|有问题|出问题|质量问题|这种问题|毛病|失灵|凹陷|异响"
                r"|噪音|发热|烧不|不停|不吸水|掉毛"
                r"|全是毛|褪色了|掉色了|褪色的|掉色严重|褪的|起球了|缩水了|开线|脱线|粗糙|不舒服|硌"
                r"|磨脚|太小|太大|小了|大了|不合适|不符"
                r"|不对|与描述|和图片不|味道|异味|发霉|过期|变质|坏掉",
                1.5,
            ),
            (r"漏发|少发|少寄|少了|发错|错发|没收到|缺件|差一|补发|重发|给我发了|发成", 2.0),
            (r"打开.{0,6}(?:都是|就是|发现|全是)|怎么都这样|都那样了|都这样了", 1.5),
            (r"(?:快递费|运费|邮费).{0,6}(?:给我|退|还|补)|退.{0,4}(?:运费|快递费|邮费)", 2.0),
            (r"送的.{0,6}(?:没|不见)|赠品.{0,4}(?:没|呢|少)", 2.0),
            (r"(?:卖家|商家|你们|仓库).{0,3}收到|照片|拍照|视频", 1.5),
            (
                r"价保|价格保护|保价|降价了|就降价|又降价|补差价|退差价|差价|退我\d|退\d+块"
                r"|便宜了\d",
                2.0,
            ),
            (
                r"安装|师傅|上门|检测|维修|修理|返修|地线|拿去修|去修|自营店|网点|服务中心"
                r"|维修点",
                2.0,
            ),
            (r"到账|钱(?:呢|没|还没)|退到哪|退去哪|原路", 2.0),
            (r"投诉|差劲|太差|骗|坑|怎么解决|怎么处理|怎么办|给个说法|责任|介入|费劲|麻烦死", 1.5),
        ),
        "review": (
            (r"好评|差评|中评|评价|追评|晒图|五星|打分", 2.0),
            # Praise of the goods (不满意 is a complaint, not praise).
            (
                r"质量(?:真的)?(?:挺|很|非常)?好|(?<!不)满意|不错|会再光顾|还会来|回头客"
                r"|一如既往|挺好的|很好用|好用的|味道不错|真的挺好",
                1.5,
            ),
        ),
        "nudge": ((r"晚点付|等会付|等下付|明天付|稍后付|回头付|晚点再付|过会付|一会付|再付", 2.0),),
    }
)
# Every family of every category, in CUES order, searched together (server/core/cues.py).
_FAMILIES = tuple(
    (category, weight) for category, families in CUES.items() for _pattern, weight in families
)
_CUES = CueSet([pattern for families in CUES.values() for pattern, _weight in families])
# A question no cue family claims is most often about the item itself: product phrases get a
# small lift (server/core/suggest.py QUESTION_LIFT) that only decides when nothing else matched.
QUESTION = re.compile(r"(?:吗|嘛|么|呢|不|\?)$|是不是|可不可以|能不能|有没有")
# A line that rates or praises the goods and asks nothing (nor is about to buy) reports what
# arrived: its item and price words (尺码很准, 颜色很正, 性价比高) describe the goods, they do
# not ask about them, so those needs keep REPORTED_SHARE of their strength.
ASKS = re.compile(
    r"[?？]|吗|嘛|么|呢|多少|怎么|如何|能不能|可不可以|有没有|是不是|会不会|哪|几[个天号点时]"
    r"|想买|想要|要买|准备买|打算买"  # about to buy: the item words are a question's
)
REPORTED_SHARE = 0.5
_DESCRIBED = ("product", "bargain")
# Words that praise the goods or the shop, read as praise only in a line that asks nothing
# (舒服吗 asks about the item): a review's need.
PRAISED = re.compile(
    r"(?:很|挺|超|非常|特别|真|也|都|蛮)(?:喜欢|好看|帅|舒服|合身)|(?<![不没])(?:给力|舒服)"
    r"|物美价廉|物超所值|超值|五星|五分|[1-9一-九]+个赞|点赞|推荐给(?:大家|朋友|同事)"
    r"|下次(?:还|再)|还会(?:再)?(?:来|买|光顾)|再来光顾|惊喜|很高兴的一次|愉快"
)
PRAISE_WEIGHT = 1.5
# Categories that answer a social move, not a need.
SOCIAL = frozenset({"welcome", "farewell"})


def detect(text: str) -> dict[str, float]:
    """Category -> strength (sum of the weights of the cue families ``text`` matches)."""
    found: dict[str, float] = {}
    if not text:
        return found
    for family in _CUES.matched(text):
        category, weight = _FAMILIES[family]
        found[category] = found.get(category, 0.0) + weight
    if not ASKS.search(text):
        if PRAISED.search(text):
            found["review"] = found.get("review", 0.0) + PRAISE_WEIGHT
        if "review" in found:
            for category in _DESCRIBED:
                if category in found:
                    found[category] *= REPORTED_SHARE
    return found
