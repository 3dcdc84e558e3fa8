"""Every YAML config in configs/ is a valid run specification."""

from pathlib import Path

import pytest
import yaml

from gluonts_qf.experiments.runs import RunSpec

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
