"""Run specifications: config files, validation, baselines and ``--set`` settings."""

from pathlib import Path

import pytest
import yaml

from gluonts_qf.runs.spec import (
    RunSpec,
    load_config,
    parse_baselines,
    parse_settings,
)

# run configs (configs/<kind>/<dataset>-<model>.yaml); the experiments of
# `gluonts-qf reproduce` (configs/<experiment>.yaml) are another format,
# checked in tests/reproduce/test_cells.py
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*/*.yaml"))


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


def test_validate_normalises_and_is_idempotent():
    spec = RunSpec(
        dataset="m4_hourly", lr="1e-3", baselines="deepar,seasonal_naive,deepar"
    )
    spec.validate()
    assert spec.lr == 1e-3 and spec.baselines == ["deepar", "seasonal_naive"]
    before = vars(spec).copy()
    assert vars(spec.validate()) == before  # prepare() validates a second time


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"max_series": -1}, "max_series must be a positive integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"lr": "fast"}, "lr must be a positive number"),
        (
            {"model": "deepar"},
            r"model must be one of \('iqf_ensemble', 'iqf', 'mqf2'\)",
        ),
        ({"estimator": [1]}, "estimator must be a mapping"),
        ({"estimator": {"freq": "D"}}, "comes from the dataset"),
    ],
)
def test_validate_rejects(changes, message):
    with pytest.raises(ValueError, match=message):
        RunSpec(dataset="m4_hourly", **changes).validate()


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


def test_load_config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: m4_hourly\nbatches-per-epoch: 7\n")
    assert load_config(path) == {"dataset": "m4_hourly", "batches_per_epoch": 7}
    path.write_text("")
    assert load_config(path) == {}
    with pytest.raises(ValueError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("dataset: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(path)
