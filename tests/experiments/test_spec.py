"""Run specifications: every YAML config validates; baselines; ``--set`` settings."""

from pathlib import Path

import pytest
import yaml

from gluonts_qf.experiments.spec import RunSpec, parse_baselines, parse_settings

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.yaml"))


def test_configs_exist():
    assert any(p.parent.name == "main" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_validates(path):
    spec = RunSpec.from_dict(yaml.safe_load(path.read_text())).validate()
    # the file name says <dataset>-<model>
    assert path.stem == f"{spec.dataset}-{spec.model}"


def test_unknown_key_is_an_error():
    with pytest.raises(ValueError, match="unknown run setting"):
        RunSpec.from_dict({"dataset": "m4_hourly", "epoch": 3})


@pytest.mark.parametrize("value", [None, "none", " none ", ["none"], [], ()])
def test_parse_baselines_none(value):
    assert parse_baselines(value) == []


def test_parse_baselines():
    assert parse_baselines("seasonal_naive, feedforward") == [
        "seasonal_naive",
        "feedforward",
    ]
    assert parse_baselines(["deepar"]) == ["deepar"]
    for bad in ("arima", "", ",", ["none", "deepar"], ["iqf"]):
        with pytest.raises(ValueError, match="unknown baseline"):
            parse_baselines(bad)


def test_parse_settings():
    got = parse_settings(
        [
            "hidden_size=32",
            "knot_levels=[0.1, 0.5, 0.9]",
            "anchor=last",
            "trainer.gradient_clip_val=1.5",
        ]
    )
    assert got == {
        "estimator": {
            "hidden_size": 32,
            "knot_levels": [0.1, 0.5, 0.9],
            "anchor": "last",
        },
        "trainer": {"gradient_clip_val": 1.5},
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_settings(["hidden_size"])
    with pytest.raises(ValueError, match="--lr"):
        parse_settings(["lr=0.1"])
