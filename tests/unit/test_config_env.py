"""Every setting of every shipped YAML can be set from the environment
(issue #10, item 7). The files are loaded as ``nameko run --config`` loads
them (nameko's YAML loader with ${VAR:default} substitution)."""
import json
import re

import pytest
import yaml
from nameko.cli.main import setup_yaml_parser

from kernel.config import ROOT, setting

SHIPPED = ["config/appeals.yaml", "config/gateway.yaml", "config/inspections/inspections.yaml",
           "config/scoring.yaml", "config/notify.yaml"]
VAR = re.compile(r"\$\{([^{}:\s]+)")


@pytest.fixture(scope="module", autouse=True)
def nameko_yaml():
    setup_yaml_parser()


def load(path):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def top_level_lines(path):
    """key → the text of its value (a key's value must fit on its line)."""
    out = {}
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def other_value(value):
    """A value of the same kind as ``value`` but different, as an environment string."""
    if isinstance(value, bool):
        return json.dumps(not value)
    if isinstance(value, int):
        return str(value + 7)
    if isinstance(value, float):
        return str(value + 7.5)
    if isinstance(value, dict):
        return json.dumps({"from_env": 1})
    if isinstance(value, list):
        return json.dumps(["from_env"])
    if value in (None, ""):
        return "from-env"
    if "://" in str(value):
        return "amqp://env:env@10.0.0.9:5672//"
    return str(value) + "-env"


@pytest.mark.parametrize("path", SHIPPED)
def test_item7_the_environment_overrides_every_key_of_the_shipped_yaml(path, monkeypatch):
    # rule: GW-1 (an operator configures every service without editing its files)
    lines = top_level_lines(path)
    defaults = load(path)
    assert set(lines) == set(defaults)
    for key, text in lines.items():
        if key == "LOGGING":  # nameko's logging dict: its level is the setting
            continue
        names = VAR.findall(text)
        assert names, f"{path}: {key} cannot be set from the environment"
        whole = len(names) == 1 and text.strip().startswith("${") and text.strip().endswith("}")
        for name in names:
            if whole:
                wanted = other_value(defaults[key])
            else:  # a part of the value, e.g. the port of an address
                wanted = "9123"
            monkeypatch.setenv(name, wanted)
            loaded = load(path)
            assert loaded[key] != defaults[key], (path, key, name)
            if whole:
                assert loaded[key] == yaml.safe_load(wanted), (path, key, name)
                assert setting(loaded, key) == loaded[key]  # what the service reads
            monkeypatch.delenv(name)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    assert load(path)["LOGGING"]["root"]["level"] == "DEBUG"


def test_item7_without_environment_the_shipped_values_stand(monkeypatch):
    # rule: APP-4
    for name in ("ONE_TAP_DAYS", "APPEAL_TIER_DAYS", "ESCALATION_LADDER", "CHANNELS_BY_ROLE"):
        monkeypatch.delenv(name, raising=False)
    config = load("config/appeals.yaml")
    assert config["ONE_TAP_DAYS"] == 3
    assert config["APPEAL_TIER_DAYS"] == {"blue": 1, "red": 3, "yellow": 5}
    assert config["ESCALATION_LADDER"]["accountability"] == 10
    assert config["CHANNELS_BY_ROLE"]["enterprise"] == ["mini_program", "one_tap", "referral"]
    monkeypatch.setenv("ONE_TAP_DAYS", "2")
    monkeypatch.setenv("APPEAL_TIER_DAYS", '{"blue": 1, "red": 2, "yellow": 4}')
    config = load("config/appeals.yaml")
    assert config["ONE_TAP_DAYS"] == 2 and config["APPEAL_TIER_DAYS"]["red"] == 2
