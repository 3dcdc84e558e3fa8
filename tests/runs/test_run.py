"""The run layer's guards: quiet runs, data folders, atomic saves, compatibility."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from gluonts_qf.runs import RunSpec, predictors, prepare, run
from gluonts_qf.runs import data as ds_mod


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def lightning_records():
    logger = logging.getLogger("lightning.pytorch")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def _tiny_spec(data_dir: Path, quiet: bool) -> RunSpec:
    return RunSpec(
        dataset="m4_hourly",
        data_dir=data_dir,
        epochs=1,
        batches_per_epoch=1,
        batch_size=4,
        max_series=4,
        baselines=[],
        quiet=quiet,
    )


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_run_prints_no_lightning_info(quiet, data_dir, lightning_records):
    run.train_and_backtest(prepare(_tiny_spec(data_dir, quiet)), log=lambda m: None)
    said_hardware = any("GPU available" in m for m in lightning_records)
    assert said_hardware != quiet, lightning_records
    assert logging.getLogger("lightning.pytorch").level == logging.INFO  # restored


def test_default_data_dir_is_shared_data_when_it_holds_the_dataset(
    data_dir, monkeypatch, tmp_path
):
    monkeypatch.delenv(ds_mod.DATA_ENV, raising=False)
    empty = tmp_path / "empty"
    monkeypatch.setattr(ds_mod, "DEFAULT_DATA_DIRS", (empty, data_dir))
    assert ds_mod.find_data_dir(None, "m4_hourly") == data_dir
    # a dataset the folder lacks: GluonTS's own location (None)
    assert ds_mod.find_data_dir(None, "no_such_data") is None
    # an explicit folder, then the environment, come first
    assert ds_mod.find_data_dir(empty, "m4_hourly") == empty
    monkeypatch.setenv(ds_mod.DATA_ENV, str(empty))
    assert ds_mod.find_data_dir(None, "m4_hourly") == empty


def test_readme_default_data_dir_is_the_first_default():
    # the README promises ../shared/data/gluonts (from the repository root)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`../shared/data/gluonts`" in readme
    assert ds_mod.DEFAULT_DATA_DIRS[0] == Path("../shared/data/gluonts")


class _Saving:
    """A predictor whose ``serialize`` writes ``files`` and then may fail."""

    def __init__(self, files: dict[str, str], fail: bool = False) -> None:
        self.files, self.fail = files, fail

    def serialize(self, path: Path) -> None:
        for name, text in self.files.items():
            (path / name).write_text(text)
            if self.fail:
                raise KeyboardInterrupt  # interrupted after the first file


def test_save_predictor_is_atomic(tmp_path):
    folder = tmp_path / "predictor"
    predictors.save_predictor(_Saving({"a.json": "old", "b.pt": "old"}), folder)
    with pytest.raises(KeyboardInterrupt):
        predictors.save_predictor(
            _Saving({"a.json": "new", "b.pt": "new"}, True), folder
        )
    # the old predictor, whole; no half-written folder left behind
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "a.json": "old",
        "b.pt": "old",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictor"]
    predictors.save_predictor(_Saving({"a.json": "new"}), folder)
    assert [p.name for p in folder.iterdir()] == ["a.json"]  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictor"]
    with pytest.raises(KeyboardInterrupt):
        predictors.save_predictor(_Saving({"a.json": "x"}, True), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_interrupted_save_does_not_load(tmp_path):
    # a hard kill leaves the temporary folder, which load_predictor never reads
    tmp = tmp_path / ".predictor.saving-abc"
    tmp.mkdir()
    (tmp / "gluonts-config.json").write_text("{}")
    with pytest.raises(ValueError, match="no saved predictor"):
        predictors.load_predictor(tmp_path)


@pytest.mark.parametrize(
    "freq, horizon, message",
    [
        ("H", 48, None),
        ("h", 48, None),
        ("D", 48, "frequency 'H' (dataset: 'D')"),
        ("H", 24, "horizon 48 (dataset: 24)"),
    ],
)
def test_check_compatible(freq, horizon, message):
    predictor = SimpleNamespace(prediction_length=48, freq="H")
    if message is None:
        predictors.check_compatible(predictor, freq, horizon, "data")
    else:
        with pytest.raises(ValueError) as err:
            predictors.check_compatible(predictor, freq, horizon, "data")
        assert message in str(err.value)
