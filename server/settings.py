"""Every setting in one table: name, default, help, parser.

Values come from ``KEFU_*`` environment variables, then from the YAML file named by
``KEFU_CONFIG`` (keys are the setting names without the prefix, in lower case: ``ws_port: 9000``),
then the default. The YAML file also holds the structured sections ``timers`` and ``nudges``.
Everything is frozen after start-up; an invalid value raises :class:`SettingsError` naming the
setting and the value.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from server.core.deadlines import parse_deadlines
from server.core.nudges import NudgePolicy
from server.core.penalties.rules import DEFAULT_RULES, PenaltyRules, parse_penalties
from server.core.platforms import DEFAULT_TIMERS, PLATFORMS, Timers
from server.core.shopfacts import parse_shop_facts
from server.errors import SettingsError

# extension/manifest.json carries a fixed public key, so the unpacked extension's id is stable.
EXTENSION_ORIGIN = "chrome-extension://jlgbimhnmfomfdcmaapjdpfkhfmgohjc"


@dataclass(frozen=True, slots=True)
class Token:
    """A credential: the token string, and the one agent and shop it speaks for."""

    token: str
    agent: str
    shop: str
    supervisor: bool = False


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError
    return value


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError
    return value


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError
    return level


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _tokens(raw: str) -> tuple[Token, ...]:
    tokens = []
    for item in _list(raw):
        parts = item.split(":")
        if len(parts) not in (3, 4) or not all(parts[:3]):
            raise ValueError
        supervisor = len(parts) == 4
        if supervisor and parts[3] != "supervisor":
            raise ValueError
        tokens.append(Token(parts[0], parts[1], parts[2], supervisor))
    return tuple(tokens)


def _secrets(raw: str) -> dict[str, str]:
    pairs = {}
    for item in _list(raw):
        shop, sep, secret = item.partition(":")
        if not sep or not shop or not secret:
            raise ValueError
        pairs[shop] = secret
    return pairs


def _text(raw: str) -> str:
    return raw


def _redis_url(raw: str) -> str:
    url = raw.strip()
    if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError
    return url


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = _text
    secret: bool = False

    @property
    def key(self) -> str:
        """The attribute of :class:`Config` and the YAML key: ``KEFU_WS_PORT`` -> ``ws_port``."""
        return self.name.removeprefix("KEFU_").lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("KEFU_HOST", "127.0.0.1", "Address both servers listen on."),
    Setting("KEFU_WS_PORT", "8765", "Websocket port for the extension (0 = any free port).", _port),
    Setting("KEFU_HTTP_PORT", "8766", "HTTP port: dashboard, demo, API, metrics (0 = any).", _port),
    Setting("KEFU_DB", "kefu.db", "SQLite file of the embedded store (':memory:' keeps nothing)."),
    Setting(
        "KEFU_REDIS_URL",
        "",
        "Redis URL (redis://, rediss:// or unix://) of a store shared by several server"
        " processes; empty = the embedded SQLite file KEFU_DB. See docs/deploy.md.",
        _redis_url,
        secret=True,  # may carry a password
    ),
    Setting(
        "KEFU_TOKENS",
        "",
        "Credentials as 'token:agent:shop' (add ':supervisor' for dashboard access),"
        " comma-separated. Empty on a loopback address: a demo token is generated and printed.",
        _tokens,
        secret=True,
    ),
    Setting(
        "KEFU_ORIGINS",
        EXTENSION_ORIGIN,
        "Browser Origins allowed to open the websocket, comma-separated; the default is this"
        " repository's extension (its manifest key fixes the id). Clients that send no Origin"
        " are always allowed.",
        _list,
    ),
    Setting(
        "KEFU_CONFIG",
        "",
        "Optional YAML file: any setting below plus the sections 'timers', 'nudges',"
        " 'penalties', 'deadlines' and 'shop_facts'.",
    ),
    Setting("KEFU_PHRASES", "phrases", "Directory of the phrase library and rule packs (banned/)."),
    Setting(
        "KEFU_ADAPTERS",
        "extension/adapters",
        "Directory of the page adapter sets (*.json) served to the extension; hot-reloaded.",
    ),
    Setting("KEFU_LOG_LEVEL", "INFO", "Log level: DEBUG, INFO, WARNING or ERROR.", _log_level),
    Setting(
        "KEFU_HELLO_TIMEOUT_S", "5", "Seconds a new connection has to send 'hello'.", _positive
    ),
    Setting(
        "KEFU_MAX_FRAME",
        "65536",
        "Largest frame accepted, in bytes (larger: close 1009).",
        _positive_int,
    ),
    Setting("KEFU_RATE", "50", "Frames per second a connection may send on average.", _positive),
    Setting(
        "KEFU_BURST",
        "200",
        "Frames a connection may send in a burst above the rate.",
        _positive_int,
    ),
    Setting(
        "KEFU_SEND_QUEUE_BYTES",
        "1048576",
        "Bytes waiting to be sent to one client before it is dropped as too slow.",
        _positive_int,
    ),
    Setting("KEFU_PING_INTERVAL_S", "20", "Seconds between keep-alive pings.", _positive),
    Setting(
        "KEFU_WS_MAX_CONNECTIONS",
        "20000",
        "Websocket connections held at once, from the TCP accept; past it the oldest not yet"
        " authenticated is dropped (all agents: a handshake gets HTTP 503). Lowered at start-up"
        " to the descriptors the HTTP side leaves (see docs/deploy.md, limits).",
        _positive_int,
    ),
    Setting(
        "KEFU_HTTP_MAX_CONNECTIONS",
        "256",
        "HTTP connections held at once; past it the oldest idle one is closed. Lowered at"
        " start-up to a quarter of the descriptors the process may open.",
        _positive_int,
    ),
    Setting(
        "KEFU_HTTP_TIMEOUT_S",
        "10",
        "Seconds an HTTP connection may take to send a complete request (headers, then a"
        " POST's body) and may stay idle between requests before it is closed.",
        _positive,
    ),
    Setting(
        "KEFU_FAIL_CLOSED", "false", "Block sending when the wording check is unavailable.", _bool
    ),
    Setting(
        "KEFU_CHECK_BUDGET_MS", "50", "Time the checker may take before it fails closed.", _positive
    ),
    Setting(
        "KEFU_SUGGEST_BUDGET_MS",
        "20",
        "Time suggestions may take; a line that overruns it gets none (its clock still runs).",
        _positive,
    ),
    Setting(
        "KEFU_CONVERSATION_IDLE_S",
        "3600",
        "Seconds a conversation with no clock running stays in memory after its last change;"
        " a later line reloads it from the store.",
        _positive,
    ),
    Setting(
        "KEFU_ROUND_EXPIRE_S",
        "86400",
        "Seconds a round may stay unanswered; then it is abandoned (it already counted as missed),"
        " cleared from the panel, and the conversation leaves memory.",
        _positive,
    ),
    Setting(
        "KEFU_MAX_WAITING_PER_AGENT",
        "25000",
        "Open rounds one agent may have; a buyer line opening one more gets 'limit_exceeded'.",
        _positive_int,
    ),
    Setting(
        "KEFU_MAX_CONVERSATIONS_PER_SHOP",
        "250000",
        "Conversations of one shop in memory; a line for one more gets 'limit_exceeded'.",
        _positive_int,
    ),
    Setting(
        "KEFU_STATE_PAGE",
        "200",
        "Waiting conversations (and nudges) in one 'state' frame, most urgent first; the client"
        " asks for the next page.",
        _positive_int,
    ),
    Setting(
        "KEFU_ORDER_IDLE_S",
        "3600",
        "Seconds a paid, shipped or closed order (or an unpaid one past its auto-close) stays in"
        " memory once its nudges are done; a later event reloads it from the store.",
        _positive,
    ),
    Setting(
        "KEFU_MAX_ORDERS_PER_SHOP",
        "100000",
        "Orders of one shop in memory; an event for one more gets 'limit_exceeded'.",
        _positive_int,
    ),
    Setting(
        "KEFU_TARGET_RATE",
        "0.9",
        "Shop's target within-target rate for the misses-left projection (0-1].",
        _rate,
    ),
    Setting("KEFU_TIMEZONE", "Asia/Shanghai", "Shop timezone for counting windows and days."),
    Setting(
        "KEFU_ORDER_SECRETS",
        "",
        "Per-shop HMAC secrets for POST /api/orders as 'shop:secret', comma-separated.",
        _secrets,
        secret=True,
    ),
    Setting(
        "KEFU_ORDER_MAX_AGE_S",
        "300",
        "Seconds a signed order's X-Kefu-Timestamp may be from the server's clock (either way);"
        " each X-Kefu-Nonce is accepted once within it.",
        _positive,
    ),
    Setting(
        "KEFU_IDLE_ALERT_S",
        "600",
        "Seconds an online agent with buyers waiting may do nothing before the dashboard"
        " shows an idle alert (空挂); the ledger fines the span from penalties.idle.at_least_s.",
        _positive,
    ),
    Setting(
        "KEFU_FREE_SHIPPING_SHOPS",
        "",
        "Shops whose every item ships free (包邮), comma-separated: the checker enforces 包邮.",
        _list,
    ),
    Setting(
        "KEFU_COD_SHOPS",
        "",
        "Shops that offer cash on delivery (货到付款), comma-separated: refusing it is checked.",
        _list,
    ),
)


@dataclass(frozen=True, slots=True)
class Config:
    """The settings in force, parsed and frozen."""

    host: str
    ws_port: int
    http_port: int
    db: str
    redis_url: str
    tokens: tuple[Token, ...]
    origins: tuple[str, ...]
    config: str
    phrases: str
    log_level: str
    hello_timeout_s: float
    max_frame: int
    rate: float
    burst: int
    send_queue_bytes: int
    ping_interval_s: float
    ws_max_connections: int
    http_max_connections: int
    http_timeout_s: float
    fail_closed: bool
    check_budget_ms: float
    suggest_budget_ms: float
    conversation_idle_s: float
    round_expire_s: float
    max_waiting_per_agent: int
    max_conversations_per_shop: int
    state_page: int
    order_idle_s: float
    max_orders_per_shop: int
    target_rate: float
    timezone: str
    order_secrets: dict[str, str]
    order_max_age_s: float
    idle_alert_s: float = 600.0
    free_shipping_shops: tuple[str, ...] = ()
    cod_shops: tuple[str, ...] = ()
    timers: Mapping[str, Timers] = field(default_factory=lambda: dict(DEFAULT_TIMERS))
    nudges: NudgePolicy = field(default_factory=NudgePolicy)
    penalties: PenaltyRules = DEFAULT_RULES
    deadlines: Mapping[str, float] = field(default_factory=lambda: parse_deadlines(None))
    shop_facts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    adapters: str = "extension/adapters"

    @property
    def loopback_only(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read every setting; raise :class:`SettingsError` on the first invalid one."""
    env = os.environ if environ is None else environ
    config_file = env.get("KEFU_CONFIG", "")
    document = _read_yaml(config_file) if config_file else {}
    sections = {"timers", "nudges", "penalties", "deadlines", "shop_facts"}
    unknown = set(document) - {s.key for s in SETTINGS} - sections
    if unknown:
        raise SettingsError(f"{config_file}: unknown setting: {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in env:
            raw, source = env[setting.name], setting.name
        elif setting.key in document:
            raw, source = _yaml_scalar(document[setting.key]), f"{config_file}: {setting.key}"
        else:
            raw, source = setting.default, setting.name
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError:
            shown = "<hidden>" if setting.secret else repr(raw)
            raise SettingsError(f"invalid value for {source}: {shown}") from None
    values["timers"] = parse_timers(document.get("timers") or {})
    values["nudges"] = parse_nudges(document.get("nudges"), values["timezone"])
    values["penalties"] = parse_penalties(document.get("penalties"))
    values["deadlines"] = parse_deadlines(document.get("deadlines"))
    values["shop_facts"] = parse_shop_facts(document.get("shop_facts"))
    return Config(**values)


def parse_nudges(raw: Any, timezone: str) -> NudgePolicy:
    """The ``nudges:`` section as a policy; the shop's time zone unless it names its own."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError(f"nudges: expected a mapping, got {raw!r}")
    return NudgePolicy.from_settings({"timezone": timezone, **raw})


def parse_timers(raw: Any) -> dict[str, Timers]:
    """Merge ``timers.<platform>.<field>`` overrides over :data:`DEFAULT_TIMERS`."""
    if not isinstance(raw, dict):
        raise SettingsError(f"timers: expected a mapping, got {raw!r}")
    timers = dict(DEFAULT_TIMERS)
    for platform, overrides in raw.items():
        if platform not in PLATFORMS:
            raise SettingsError(f"timers: unknown platform: {platform!r}")
        if not isinstance(overrides, dict):
            raise SettingsError(f"timers.{platform}: expected a mapping, got {overrides!r}")
        merged = {name: getattr(timers[platform], name) for name in Timers.__slots__}
        for name, value in overrides.items():
            if name not in merged:
                raise SettingsError(f"timers.{platform}: unknown field: {name!r}")
            merged[name] = _timer_value(platform, name, value)
        timer = Timers(**merged)
        if not timer.warn_s <= timer.due_s <= timer.overdue_s:
            raise SettingsError(
                f"timers.{platform}: expected warn_s <= due_s <= overdue_s, got "
                f"{timer.warn_s:g} / {timer.due_s:g} / {timer.overdue_s:g}"
            )
        timers[platform] = timer
    return timers


def _timer_value(platform: str, name: str, value: Any) -> Any:
    where = f"timers.{platform}.{name}"
    if name == "window":
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(type(h) is int and 0 <= h <= 24 for h in value)
            and value[0] < value[1]
        ):
            return (value[0], value[1])
        raise SettingsError(f"{where}: expected [start_hour, end_hour], got {value!r}")
    if type(value) not in (int, float) or value <= 0:
        raise SettingsError(f"{where}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read KEFU_CONFIG {path!r}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise SettingsError(f"{where}: invalid yaml: {getattr(exc, 'problem', exc)}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: expected a mapping at the top, got {type(document).__name__}")
    return document


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
