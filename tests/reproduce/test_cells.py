"""Experiment files: every shipped cell validates; bad files name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gluonts_qf.reproduce.cells import (
    CONFIG_DIR,
    experiment_file,
    fingerprint,
    load_cells,
)
from gluonts_qf.reproduce.experiments import EXPERIMENTS
from gluonts_qf.runs.registry import get_model

OFFLINE = (
    "exchange_rate",
    "m4_hourly",
    "m4_weekly",
    "tourism_monthly",
    "tourism_yearly",
    "electricity_weekly",
)
DOWNLOAD_ONLY = ("electricity", "traffic", "solar-energy", "wiki-rolling_nips")
#: Synthetic datasets with a known forecast distribution, per experiment.
SYNTHETIC_CELLS = {"mqf2": {"synthetic_ar1"}}
#: Datasets whose first series are also scored jointly across series.
SERIES_GROUPS = {
    "mqf2": {"exchange_rate", "electricity_weekly", "electricity", "traffic"}
}


#: Experiments made of cells (``figures`` has none: two fits, no datasets).
CELL_EXPERIMENTS = [e for e in EXPERIMENTS if e != "figures"]


@pytest.mark.parametrize("experiment", CELL_EXPERIMENTS)
def test_shipped_cells_validate_and_smoke_mirrors_them(experiment):
    full = load_cells(experiment_file(experiment))
    smoke = load_cells(experiment_file(experiment), smoke=True)
    assert [(c.dataset, c.label) for c in full] == [(c.dataset, c.label) for c in smoke]
    synthetic = SYNTHETIC_CELLS.get(experiment, set())
    assert {c.dataset for c in full} == {*OFFLINE, *DOWNLOAD_ONLY, *synthetic}
    labels = {c.label for c in full if c.series is None}
    for d in OFFLINE:
        assert {c.label for c in full if c.dataset == d and c.series is None} == labels
    grouped = {c.dataset for c in full if c.series is not None}
    assert grouped == SERIES_GROUPS.get(experiment, set())
    for f, s in zip(full, smoke):
        assert (f.model, f.estimator) == (s.model, s.estimator)
        assert (f.series is None) == (s.series is None)
        cut = s.max_series if s.series is None else s.series
        assert cut is not None and cut <= 8  # seconds, for tests
        if get_model(s.model).trained:
            assert s.epochs * s.batches_per_epoch <= 2


def _write(tmp_path: Path, cell: str = "", block: str = "", top: str = "") -> Path:
    """An ``iqf.yaml`` with one row ``iqf`` (settings ``cell``) on m4_hourly."""
    path = tmp_path / "iqf.yaml"
    path.write_text(
        "experiment: iqf\n"
        + top
        + "models:\n"
        + f"  iqf: {{model: iqf{', ' + cell if cell else ''}}}\n"
        + "matrix:\n"
        + "  - datasets: [m4_hourly]\n"
        + "    models: [iqf]\n"
        + block
    )
    return path


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        ("epoch: 3", r"unknown key\(s\) \['epoch'\]"),
        ("epochs: ten", "epochs must be a positive integer, got 'ten'"),
        ("epochs: 0", "epochs must be a positive integer, got 0"),
        ("epochs: 2.5", "epochs must be a positive integer, got 2.5"),
        ("lr: -1.0", "lr must be a positive number"),
        (
            "max_series: true",
            "max_series must be a positive integer, got True; or null",
        ),
        ("estimator: [1]", "estimator must be a mapping"),
        ("estimator: {freq: H}", "estimator setting 'freq' is not allowed"),
        ("series: 0", "series must be a positive integer, got 0; or null"),
        ("estimator: {joint: series}", "joint: series needs the cell key series"),
        ("series: 4, estimator: {target_dim: 4}", "'target_dim' is not allowed"),
        ("series: 4, max_series: 8", "series and max_series cannot both"),
        ("model: arima", "model 'arima' is not in the registry"),
        ("trainer: {max_epoch: 3}", "unknown trainer setting"),
    ],
)
def test_bad_cell_names_key_cell_and_file(tmp_path, cell, match):
    path = _write(tmp_path, cell)
    with pytest.raises(ValueError, match=match) as err:
        load_cells(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top": "colour: red\n"}, r"unknown key\(s\) \['colour'\]"),
        ({"top": "defaults: {epochs: 0}\n"}, "epochs must be a positive integer"),
        ({"block": "    colour: red\n"}, "matrix block 1 takes the keys"),
        ({"block": "  - datasets: [m4_hourly]\n    models: [iqf]\n"}, "given twice"),
        ({"block": "  - datasets: [m4_hourly]\n    models: [tft]\n"}, "'tft' is not"),
        ({"block": "  - datasets: []\n    models: [iqf]\n"}, "non-empty list"),
    ],
)
def test_bad_file_structure_names_what_and_file(tmp_path, kwargs, match):
    path = _write(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=match) as err:
        load_cells(path)
    assert str(path) in str(err.value)


def test_settings_layer_defaults_row_dataset_smoke(tmp_path):
    path = tmp_path / "mqf2.yaml"
    path.write_text(
        "experiment: mqf2\n"
        "defaults: {epochs: 10, batch_size: 32}\n"
        "smoke: {epochs: 1, max_series: 8}\n"
        "models:\n"
        "  a: {model: deepar, epochs: 3}\n"
        "  b: {model: mqf2, estimator: {joint: series}}\n"
        "matrix:\n"
        "  - datasets: {exchange_rate: {series: 8, batch_size: 4}}\n"
        "    models: [a, b]\n"
        "    smoke: {series: 2, max_series: null}\n"
    )
    a, b = load_cells(path)
    assert (a.model, a.label, a.epochs, a.batch_size, a.series) == (
        "deepar",
        "a",
        3,
        4,
        8,
    )
    assert b.estimator == {"joint": "series"} and b.epochs == 10
    a, b = load_cells(path, smoke=True)
    assert (a.epochs, a.series, a.max_series, a.batch_size) == (1, 2, None, 4)


def test_misplaced_settings_and_names(tmp_path):
    path = _write(tmp_path)
    path.write_text(
        path.read_text().replace(
            "model: iqf", "model: deepar, estimator: {hidden_size: 8}"
        )
    )
    with pytest.raises(ValueError, match="apply to our models only"):
        load_cells(path)
    other = tmp_path / "mqf2.yaml"
    other.write_text(_write(tmp_path).read_text())
    with pytest.raises(ValueError, match="does not match the file's name 'mqf2'"):
        load_cells(other)
    with pytest.raises(ValueError, match="no experiment config"):
        load_cells(tmp_path / "nothing.yaml")


def test_fingerprint_changes_with_settings_seed_and_budget():
    cell = load_cells(CONFIG_DIR / "iqf.yaml", smoke=True)[0]
    key = fingerprint(cell, 0, 1.0)
    assert key == fingerprint(load_cells(cell.path, smoke=True)[0], 0, 1.0)
    assert len({key, fingerprint(cell, 1, 1.0), fingerprint(cell, 0, 2.0)}) == 3
    full = load_cells(CONFIG_DIR / "iqf.yaml")[0]
    assert fingerprint(full, 0, 1.0) != key
