"""Cell configs: every shipped file validates; bad files name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gluonts_qf.reproduce.cells import (
    CONFIG_DIR,
    experiment_folder,
    fingerprint,
    load_cell,
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
    full = load_cells(experiment_folder(experiment))
    smoke = load_cells(experiment_folder(experiment, smoke=True))
    assert [c.path.name for c in full] == [c.path.name for c in smoke]
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


def _write(tmp_path: Path, text: str, name: str = "m4_hourly-iqf.yaml") -> Path:
    folder = tmp_path / "iqf"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("experiment: iqf\ndataset: m4_hourly\nmodel: iqf\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epoch: 3\n", r"unknown key\(s\) \['epoch'\]"),
        ("epochs: ten\n", "epochs must be a positive integer, got 'ten'"),
        ("epochs: 0\n", "epochs must be a positive integer, got 0"),
        ("epochs: 2.5\n", "epochs must be a positive integer, got 2.5"),
        ("lr: -1.0\n", "lr must be a positive number"),
        (
            "max_series: true\n",
            "max_series must be a positive integer, got True; or null",
        ),
        ("estimator: [1]\n", "estimator must be a mapping"),
        ("estimator: {freq: H}\n", "estimator key 'freq' is not allowed"),
        ("label: isqf\n", "must be named m4_hourly-isqf.yaml"),
        ("series: 0\n", "series must be a positive integer, got 0; or null"),
        ("estimator: {joint: series}\n", "joint: series needs the cell key series"),
        ("series: 4\nestimator: {target_dim: 4}\n", "'target_dim' is not allowed"),
        ("series: 4\nmax_series: 8\n", "series and max_series cannot both"),
    ],
)
def test_bad_cell_names_key_and_file(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=match) as err:
        load_cell(path)
    assert str(path) in str(err.value)


def test_bad_model_and_misplaced_settings(tmp_path):
    path = _write(tmp_path, "", "m4_hourly-deepar.yaml")
    path.write_text(path.read_text().replace("model: iqf", "model: deepar"))
    assert load_cell(path).label == "deepar"
    path.write_text(path.read_text() + "estimator: {hidden_size: 8}\n")
    with pytest.raises(ValueError, match="apply to our models only"):
        load_cell(path)
    path.write_text(
        "experiment: iqf\ndataset: m4_hourly\nmodel: arima\nlabel: deepar\n"
    )
    with pytest.raises(ValueError, match="model 'arima' is not in the registry"):
        load_cell(path)
    path.write_text("experiment: mqf2\ndataset: m4_hourly\nmodel: deepar\n")
    with pytest.raises(ValueError, match="does not match its folder 'iqf'"):
        load_cell(path)
    with pytest.raises(ValueError, match="no cell configs"):
        load_cells(tmp_path / "nothing")


def test_fingerprint_changes_with_settings_seed_and_budget():
    cell = load_cell(CONFIG_DIR / "smoke" / "iqf" / "m4_hourly-iqf.yaml")
    key = fingerprint(cell, 0, 1.0)
    assert key == fingerprint(load_cell(cell.path), 0, 1.0)
    assert len({key, fingerprint(cell, 1, 1.0), fingerprint(cell, 0, 2.0)}) == 3
