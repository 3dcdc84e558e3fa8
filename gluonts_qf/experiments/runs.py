"""One experiment run: train a model, backtest it beside baselines, save the results.

The programmatic side of ``gluonts-qf train`` and ``gluonts-qf forecast``::

    spec = RunSpec(dataset="m4_hourly", epochs=10, baselines=["seasonal_naive"])
    run = prepare(spec)                    # loads data, checks every option
    result = train_and_backtest(run)       # {model: metrics} rows + predictor
    save_run(run, result, "runs/m4_hourly-iqf")

A ``RunSpec`` is also what a YAML config file (``gluonts-qf train --config``)
holds: one key per field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.backtest import REPORTED, BacktestResult, backtest
from ..evaluation.scores import forecast_quantiles
from ..evaluation.tables import format_markdown, write_csv

MODELS = ("iqf", "mqf2")
BASELINES = ("seasonal_naive", "deepar", "feedforward")
#: Estimator arguments a run sets itself, and where they come from instead.
RESERVED = {
    "freq": "the dataset",
    "prediction_length": "the dataset",
    "trainer_kwargs": "the trainer settings",
    "lr": "lr (--lr)",
    "batch_size": "batch_size (--batch-size)",
    "num_batches_per_epoch": "batches_per_epoch (--batches-per-epoch)",
}
TABLE_COLUMNS = (*REPORTED, "train_seconds", "predict_seconds")


@dataclass
class RunSpec:
    """What to train and compare: dataset, model, budget and baselines.

    Parameters
    ----------
    dataset
        GluonTS dataset name, e.g. ``"m4_hourly"``.
    model
        Model to train (``"iqf"`` or ``"mqf2"``).
    data_dir
        Folder of GluonTS datasets; default ``$GLUONTS_QF_DATA``, then
        GluonTS's own location.
    epochs, batches_per_epoch, batch_size, lr
        Training budget, shared by the model and the trained baselines.
    seed
        Seed set before each model is trained.
    max_series
        Use only the first ``max_series`` train and test series (quick runs).
    baselines
        Subset of ``("seasonal_naive", "deepar", "feedforward")``.
    estimator
        Extra keyword arguments of the model's estimator (e.g. ``hidden_size``).
    trainer
        Extra ``lightning.Trainer`` arguments (e.g. ``gradient_clip_val``).
    quiet
        No progress bars or training logs.
    """

    dataset: str
    model: str = "iqf"
    data_dir: Path | None = None
    epochs: int = 10
    batches_per_epoch: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    max_series: int | None = None
    baselines: list[str] = field(default_factory=lambda: ["seasonal_naive"])
    estimator: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        """Build from a mapping (e.g. a YAML config); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"unknown run setting(s) {unknown}; allowed: {sorted(names)}."
            )
        if "dataset" not in values:
            raise ValueError("a run needs a dataset (e.g. dataset: m4_hourly).")
        return cls(**values)

    def validate(self) -> RunSpec:
        """Check every field; raises ``ValueError`` saying what to fix."""
        for name in ("epochs", "batches_per_epoch", "batch_size"):
            _check_positive_int(name, getattr(self, name))
        if self.max_series is not None:
            _check_positive_int("max_series", self.max_series)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}.")  # noqa: TRY004
        with contextlib.suppress(TypeError, ValueError):
            self.lr = float(self.lr)  # YAML reads 1e-3 (no dot) as a string
        if not isinstance(self.lr, float) or not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}.")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}.")
        self.baselines = parse_baselines(self.baselines)
        for name in ("estimator", "trainer"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(  # noqa: TRY004
                    f"{name} must be a mapping of keyword arguments, "
                    f"got {getattr(self, name)!r}."
                )
        for key in self.estimator:
            if key in RESERVED:
                raise ValueError(
                    f"estimator setting {key!r} is not allowed; it comes from "
                    f"{RESERVED[key]}."
                )
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir).expanduser()
        return self


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def parse_baselines(value: str | Sequence[str] | None) -> list[str]:
    """``"seasonal_naive,deepar"``, a list of names, or ``"none"`` -> names."""
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in BASELINES]
    if unknown or not names:
        raise ValueError(
            f"unknown baseline(s) {unknown or value!r}; choose from "
            f"{', '.join(BASELINES)} (comma-separated) or 'none'."
        )
    return list(dict.fromkeys(names))


# -- data -----------------------------------------------------------------
def load_data(name: str, data_dir: Path | None = None, max_series: int | None = None):
    """``(dataset, train list, test list)``; ``ValueError`` when unavailable."""
    from gluonts.dataset.repository import dataset_names

    from .datasets import find_data_dir, load_dataset

    folder = find_data_dir(data_dir)
    if folder is not None and not folder.is_dir():
        raise ValueError(
            f"data dir {folder} does not exist; pass --data-dir (or set "
            "$GLUONTS_QF_DATA) with a folder of GluonTS datasets."
        )
    if folder is None and name not in dataset_names:
        raise ValueError(
            f"unknown dataset {name!r}; GluonTS knows: {', '.join(dataset_names)}."
        )
    try:
        ds = load_dataset(name, folder)
    except ValueError:
        raise
    except Exception as err:  # download or parse failure inside GluonTS
        raise ValueError(
            f"could not load dataset {name!r} with GluonTS: {err}"
        ) from err
    train = list(itertools.islice(ds.train, max_series))
    test = list(itertools.islice(ds.test, max_series))
    return ds, train, test


@dataclass
class PreparedRun:
    """A validated ``RunSpec`` with its data loaded."""

    spec: RunSpec
    freq: str
    prediction_length: int
    train: list
    test: list

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the run's settings and data."""
        spec = dataclasses.asdict(self.spec)
        spec["data_dir"] = (
            None if self.spec.data_dir is None else str(self.spec.data_dir)
        )
        return {
            **spec,
            "freq": self.freq,
            "prediction_length": self.prediction_length,
            "num_train_series": len(self.train),
            "num_test_series": len(self.test),
        }


def prepare(spec: RunSpec) -> PreparedRun:
    """Validate ``spec``, load its data and check the estimator can be built."""
    spec.validate()
    ds, train, test = load_data(spec.dataset, spec.data_dir, spec.max_series)
    run = PreparedRun(
        spec=spec,
        freq=ds.metadata.freq,
        prediction_length=int(ds.metadata.prediction_length),
        train=train,
        test=test,
    )
    make_estimator(spec.model, run, Path(tempfile.gettempdir()))  # bad settings
    return run


# -- training -------------------------------------------------------------
def make_estimator(model: str, run: PreparedRun, root: Path):
    """The estimator ``model`` (ours or a trained baseline), checkpoints under ``root``.

    Every trained model gets the same budget: epochs x batches x batch size.
    """
    spec = run.spec
    trainer_kwargs = {
        "max_epochs": spec.epochs,
        "logger": False,
        "enable_progress_bar": not spec.quiet,
        "enable_model_summary": not spec.quiet,
        **spec.trainer,
        "default_root_dir": str(root / model),
    }
    common = {
        "prediction_length": run.prediction_length,
        "trainer_kwargs": trainer_kwargs,
        "batch_size": spec.batch_size,
        "num_batches_per_epoch": spec.batches_per_epoch,
        "lr": float(spec.lr),
    }
    if model in MODELS:
        from ..model.iqf import IQFEstimator
        from ..model.mqf2 import MQF2Estimator

        cls = {"iqf": IQFEstimator, "mqf2": MQF2Estimator}[model]
        try:
            return cls(freq=run.freq, **spec.estimator, **common)
        except TypeError as err:  # an unknown estimator setting
            raise ValueError(f"bad estimator setting: {err}") from err
    if model == "deepar":
        from gluonts.torch.model.deepar import DeepAREstimator

        return DeepAREstimator(freq=run.freq, **common)  # Student's t output
    if model == "feedforward":
        from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

        return SimpleFeedForwardEstimator(**common)  # Student's t output
    raise ValueError(f"unknown model {model!r}; choose from {MODELS + BASELINES}.")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(model: str, run: PreparedRun, root: Path):
    """Train ``model`` (seasonal naive needs no training); ``(predictor, seconds)``."""
    if model == "seasonal_naive":
        from gluonts.model.seasonal_naive import SeasonalNaivePredictor
        from gluonts.time_feature import get_seasonality

        season = get_seasonality(run.freq)
        return SeasonalNaivePredictor(run.prediction_length, season), 0.0
    seed_everything(run.spec.seed)
    estimator = make_estimator(model, run, root)
    start = time.perf_counter()
    predictor = estimator.train(run.train)
    return predictor, time.perf_counter() - start


@dataclass
class RunResult:
    """``rows``: ``(model, metrics)`` per model, the run's model first."""

    rows: list[tuple[str, dict[str, float]]]
    predictor: Any
    backtest: BacktestResult


def train_and_backtest(
    run: PreparedRun, log: Callable[[str], None] = print
) -> RunResult:
    """Train the model and the baselines, backtest each on the test windows."""
    spec, rows, main = run.spec, [], None
    with tempfile.TemporaryDirectory(prefix="gluonts-qf-") as root:
        for model in [spec.model, *spec.baselines]:
            if not spec.quiet:
                log(f"== {model} ==")
            predictor, seconds = fit(model, run, Path(root))
            res = backtest(
                predictor,
                run.test,
                progress=not spec.quiet,
                desc=f"forecasting {model}",
            )
            rows.append((model, {**res, "train_seconds": seconds}))
            main = main or (predictor, res)
    return RunResult(rows=rows, predictor=main[0], backtest=main[1])


# -- outputs --------------------------------------------------------------
def save_run(run: PreparedRun, result: RunResult, out: str | Path) -> Path:
    """Write ``predictor/``, ``metrics.{json,csv,md}`` and the plots under ``out``."""
    out = Path(out)
    (out / "predictor").mkdir(parents=True, exist_ok=True)
    result.predictor.serialize(out / "predictor")
    report = {**run.describe(), "models": {m: _json_safe(v) for m, v in result.rows}}
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_csv(result.rows, out / "metrics.csv")
    (out / "metrics.md").write_text(format_markdown(result.rows, TABLE_COLUMNS) + "\n")
    try:
        save_plots(run, result.backtest, out)
    except ImportError as err:  # matplotlib is an optional extra
        print(f"skipping plots: {err}", file=sys.stderr)
    return out


def save_plots(run: PreparedRun, res: BacktestResult, out: Path) -> None:
    """``fan_chart.png`` (4 series) and ``quantile_function.png`` (first series).

    The quantile-function plot shows a learned curve, so it is drawn only for
    IQF forecasts (not for MQF2's joint samples).
    """
    from ..distributions.iqf import IQF
    from ..plotting import plot_fan_chart, plot_quantile_function

    title = f"{run.spec.dataset}: {run.spec.model} forecasts"
    plot_fan_chart(res.forecasts, res.series, out / "fan_chart.png", title=title)
    if not isinstance(getattr(res.forecasts[0], "distribution", None), IQF):
        return
    step = run.prediction_length // 2
    fc, ts = res.forecasts[0], res.series[0]
    truth = float(np.asarray(ts.loc[fc.index[step]], dtype=float).reshape(-1)[0])
    plot_quantile_function(fc, step, out / "quantile_function.png", truth=truth)


def _json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }


# -- forecasting ----------------------------------------------------------
def load_predictor(path: str | Path):
    """Deserialize a predictor from ``path`` or from ``path/predictor``."""
    from gluonts.model.predictor import Predictor

    path = Path(path)
    if not (path / "gluonts-config.json").is_file():
        if not (path / "predictor" / "gluonts-config.json").is_file():
            raise ValueError(
                f"no saved predictor in {path} (expected {path}/gluonts-config.json); "
                "create one with `gluonts-qf train`."
            )
        path = path / "predictor"  # the output folder of `gluonts-qf train`
    return Predictor.deserialize(path)


def forecast_rows(
    forecasts: Sequence, levels: Sequence[float], series: Sequence | None = None
) -> Iterator[list]:
    """CSV rows ``item_id, step, timestamp, mean, <one per level>[, target]``.

    ``step`` counts from 1; ``item_id`` falls back to the forecast's position.
    """
    for i, fc in enumerate(forecasts):
        q = forecast_quantiles(fc, levels)  # (L, T)
        mean = np.asarray(fc.mean, dtype=float).reshape(-1)
        truth = None
        if series is not None:
            truth = np.asarray(series[i].loc[fc.index], dtype=float).reshape(-1)
        item = fc.item_id if fc.item_id is not None else i
        for t, period in enumerate(fc.index):
            row = [item, t + 1, period.to_timestamp().isoformat(), mean[t], *q[:, t]]
            yield row + ([truth[t]] if truth is not None else [])
