"""Settings: one table, env over YAML over default, errors that name the setting and the value."""

from __future__ import annotations

import pytest

from server.core.nudges import NudgePolicy
from server.errors import SettingsError
from server.settings import DEFAULT_TIMERS, SETTINGS, Token, load_config


def test_defaults():
    config = load_config({})
    assert (config.host, config.ws_port, config.http_port) == ("127.0.0.1", 8765, 8766)
    assert config.tokens == () and config.loopback_only
    assert config.timers == DEFAULT_TIMERS


def test_tokens_parse_with_optional_supervisor_role():
    config = load_config({"KEFU_TOKENS": "t1:alice:shop1, t2:lead:shop1:supervisor"})
    assert config.tokens == (Token("t1", "alice", "shop1"), Token("t2", "lead", "shop1", True))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEFU_WS_PORT": "70000"}, "invalid value for KEFU_WS_PORT: '70000'"),
        ({"KEFU_RATE": "-1"}, "invalid value for KEFU_RATE: '-1'"),
        ({"KEFU_TARGET_RATE": "1.5"}, "invalid value for KEFU_TARGET_RATE: '1.5'"),
        ({"KEFU_FAIL_CLOSED": "maybe"}, "invalid value for KEFU_FAIL_CLOSED: 'maybe'"),
        ({"KEFU_TOKENS": "only-a-token"}, "invalid value for KEFU_TOKENS: <hidden>"),
    ],
)
def test_invalid_values_name_the_setting(env, message):
    with pytest.raises(SettingsError) as caught:
        load_config(env)
    assert str(caught.value) == message


def test_yaml_file_sets_values_and_timers(tmp_path):
    path = tmp_path / "kefu.yaml"
    path.write_text("ws_port: 9000\ntimers:\n  jd: {warn_s: 5, due_s: 10}\n")
    config = load_config({"KEFU_CONFIG": str(path)})
    assert config.ws_port == 9000
    assert (config.timers["jd"].warn_s, config.timers["jd"].due_s) == (5.0, 10.0)
    assert config.timers["jd"].overdue_s == 180.0
    assert load_config({"KEFU_CONFIG": str(path), "KEFU_WS_PORT": "9001"}).ws_port == 9001


def test_nudge_policy_is_parsed_at_load_time_in_the_shops_time_zone(tmp_path):
    path = tmp_path / "kefu.yaml"
    path.write_text("nudges:\n  delays_s: [600]\n")
    config = load_config({"KEFU_CONFIG": str(path), "KEFU_TIMEZONE": "Asia/Hong_Kong"})
    assert (config.nudges.delays_s, config.nudges.timezone) == ((600,), "Asia/Hong_Kong")
    assert load_config({}).nudges == NudgePolicy()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("ws_prot: 1\n", "{path}: unknown setting: 'ws_prot'"),
        ("timers:\n  amazon: {warn_s: 1}\n", "timers: unknown platform: 'amazon'"),
        ("timers:\n  jd: {warn_s: -1}\n",
         "timers.jd.warn_s: expected a positive number of seconds, got -1"),
        ("timers:\n  jd: {warn_s: 50}\n",
         "timers.jd: expected warn_s <= due_s <= overdue_s, got 50 / 30 / 180"),
        ("nudges: [900]\n", "nudges: expected a mapping, got [900]"),
        ("nudges:\n  delays_s: [900, -5]\n",
         "nudges.delays_s: expected a list of positive seconds, got [900, -5]"),
        ("nudges:\n  wake_at: '08:00'\n",
         "nudges.wake_at: falls inside quiet hours '23:00-09:00', got '08:00'"),
        ("a: [1\n", "{path}:2: invalid yaml: expected ',' or ']', but got '<stream end>'"),
        ("penalties:\n  terse: {yuan: -1}\n",
         "penalties.terse.yuan: expected a whole number >= 0, got -1"),
        ("deadlines:\n  refund: 0\n",
         "deadlines.refund: expected a positive number of seconds, got 0"),
        ("shop_facts:\n  shop-a: {colour: red}\n", "shop_facts.shop-a: unknown fact: 'colour'"),
        ("idle_alert_s: 0\n", "invalid value for {path}: idle_alert_s: '0'"),
    ],
)  # fmt: skip
def test_invalid_yaml_settings(tmp_path, yaml_text, message):
    path = tmp_path / "kefu.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SettingsError) as caught:
        load_config({"KEFU_CONFIG": str(path)})
    assert str(caught.value) == message.format(path=path)


def test_the_shops_rulebook_sections_are_read(tmp_path):
    path = tmp_path / "kefu.yaml"
    path.write_text(
        "idle_alert_s: 900\n"
        "penalties:\n  terse: {yuan: 5}\n"
        "deadlines:\n  refund: 900\n"
        "shop_facts:\n  default: {cutoff: 下午4点}\n  shop-a: {cutoff: 下午5点}\n"
    )
    config = load_config({"KEFU_CONFIG": str(path)})
    assert config.idle_alert_s == 900.0
    assert config.penalties.terse.yuan == 5
    assert config.deadlines["refund"] == 900.0
    assert config.shop_facts == {"default": {"cutoff": "下午4点"}, "shop-a": {"cutoff": "下午5点"}}


def test_every_setting_has_help_and_a_parsable_default():
    for setting in SETTINGS:
        assert setting.name.startswith("KEFU_") and setting.help.endswith(".")
        setting.parse(setting.default)
