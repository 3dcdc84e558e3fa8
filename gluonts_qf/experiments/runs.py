"""One experiment run: train a model, backtest it beside baselines, save the results.

The programmatic side of ``gluonts-qf train`` and ``gluonts-qf forecast``::

    spec = RunSpec(dataset="m4_hourly", epochs=10, baselines=["seasonal_naive"])
    run = prepare(spec)                    # loads data, checks every option
    result = train_and_backtest(run)       # {model: metrics} rows + predictor
    save_run(run, result, "runs/m4_hourly-iqf")

``RunSpec`` lives in :mod:`gluonts_qf.experiments.spec` and the models in
:mod:`gluonts_qf.experiments.registry`; ``RunSpec``, ``prepare``,
``train_and_backtest`` and ``save_run`` are also importable from
:mod:`gluonts_qf.experiments`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.backtest import REPORTED, BacktestResult, backtest
from ..evaluation.scores import forecast_quantiles, target_window
from ..evaluation.tables import format_markdown, write_csv
from .datasets import load_data
from .registry import get_model
from .spec import RunSpec

#: Columns of the printed and saved results table, in order.
TABLE_COLUMNS = (*REPORTED, "train_seconds", "predict_seconds")


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
    """The estimator of the trained ``model``, checkpoints under ``root``.

    Every trained model gets the same budget: epochs x batches x batch size;
    our models also get the run's ``estimator`` settings. ``ValueError`` for
    an unknown or untrained model, or for a bad estimator setting.
    """
    entry = get_model(model)
    if not entry.trained:
        raise ValueError(f"{model} is not trained, so it has no estimator.")
    spec = run.spec
    trainer_kwargs = {
        "max_epochs": spec.epochs,
        "logger": False,
        "enable_progress_bar": not spec.quiet,
        "enable_model_summary": not spec.quiet,
        **spec.trainer,
        "default_root_dir": str(root / model),
    }
    budget = {
        "trainer_kwargs": trainer_kwargs,
        "batch_size": spec.batch_size,
        "num_batches_per_epoch": spec.batches_per_epoch,
        "lr": float(spec.lr),
    }
    if not entry.ours:
        return entry.build(run.freq, run.prediction_length, **budget)
    if spec.num_threads is not None:
        budget["num_threads"] = spec.num_threads
    try:
        return entry.build(run.freq, run.prediction_length, **spec.estimator, **budget)
    except TypeError as err:  # an unknown estimator setting
        raise ValueError(f"bad estimator setting: {err}") from err


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators.

    GluonTS samples training windows with numpy and ``random``; torch draws
    the initial weights and the training samples.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    model: str, run: PreparedRun, root: Path, resume: bool = False
) -> tuple[Any, float]:
    """``(predictor, training seconds)`` of ``model``, trained on ``run.train``.

    An untrained model (seasonal naive) is built as it is, in 0 seconds. With
    ``resume``, one of our models continues from its last checkpoint under
    ``root`` (:func:`last_checkpoint`).
    """
    entry = get_model(model)
    if not entry.trained:
        return entry.build(run.freq, run.prediction_length), 0.0
    seed_everything(run.spec.seed)
    estimator = make_estimator(model, run, root)
    ckpt_path = last_checkpoint(model, run, root) if resume else None
    start = time.perf_counter()
    predictor = estimator.train(run.train, ckpt_path=ckpt_path)
    return predictor, time.perf_counter() - start


def last_checkpoint(model: str, run: PreparedRun, root: Path) -> Path:
    """The full checkpoint one of our models leaves under ``root`` after each epoch.

    ``ValueError`` if there is none, or ``model`` is not one of ours (only
    ours can resume).
    """
    if not get_model(model).ours:
        raise ValueError(f"{model} cannot resume; only our models save checkpoints.")
    path = make_estimator(model, run, root).checkpoint_path()
    if not path.is_file():
        raise ValueError(
            f"nothing to resume: no checkpoint at {path}; run without --resume."
        )
    return path


@contextlib.contextmanager
def quiet_lightning(quiet: bool = True) -> Iterator[None]:
    """Silence Lightning's info logs (hardware, checkpoints) when ``quiet``."""
    names = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    if quiet:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before):
            lg.setLevel(level)


@dataclass
class RunResult:
    """``rows``: ``(model, metrics)`` per model, the run's model first."""

    rows: list[tuple[str, dict[str, float]]]
    predictor: Any
    backtest: BacktestResult


def train_and_backtest(
    run: PreparedRun,
    log: Callable[[str], None] = print,
    checkpoints: str | Path | None = None,
    resume: bool = False,
) -> RunResult:
    """Train the model and the baselines, backtest each on the test windows.

    The run's model keeps its checkpoints under ``checkpoints`` (a temporary
    folder when ``None``) and, with ``resume``, continues from the last one
    there (e.g. after the process was killed); baselines train from scratch.
    """
    from ..model.forking.estimator import DEFAULT_NUM_THREADS
    from ..model.forking.predictor import torch_threads

    spec, rows, main = run.spec, [], None
    if checkpoints is not None and not resume:  # a fresh start: no stale files
        shutil.rmtree(Path(checkpoints) / spec.model, ignore_errors=True)
    threads = spec.num_threads or DEFAULT_NUM_THREADS  # baselines too
    with (
        quiet_lightning(spec.quiet),
        torch_threads(threads),
        tempfile.TemporaryDirectory(prefix="gluonts-qf-") as root,
    ):
        for model in [spec.model, *spec.baselines]:
            if not spec.quiet:
                log(f"== {model} ==")
            if model == spec.model and checkpoints is not None:
                predictor, seconds = fit(model, run, Path(checkpoints), resume)
            else:
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


def is_main_process() -> bool:
    """Whether this is process 0 of a distributed run (or not distributed).

    Under ``strategy="ddp"`` every process trains and returns the predictor;
    only process 0 should write outputs.
    """
    from ..model.forking.training import rank_and_world

    rank, world = rank_and_world()
    if world > 1:
        return rank == 0
    return all(
        os.environ.get(k, "0") == "0" for k in ("RANK", "NODE_RANK", "LOCAL_RANK")
    )


# -- outputs --------------------------------------------------------------
def save_run(run: PreparedRun, result: RunResult, out: str | Path) -> Path:
    """Write ``predictor/``, ``metrics.{json,csv,md}`` and the plots under ``out``."""
    out = check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    save_predictor(result.predictor, out / "predictor")
    report = {**run.describe(), "models": {m: _json_safe(v) for m, v in result.rows}}
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_csv(result.rows, out / "metrics.csv")
    (out / "metrics.md").write_text(format_markdown(result.rows, TABLE_COLUMNS) + "\n")
    try:
        save_plots(run, result.backtest, out)
    except ImportError as err:  # matplotlib is an optional extra
        print(f"skipping plots: {err}", file=sys.stderr)
    return out


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a ``Path``; ``ValueError`` if it (or a parent) is not a folder.

    Called before training, so a bad ``--out`` never costs a trained model.
    """
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"output folder {out}: {folder} exists and is not a folder; "
                "choose another --out."
            )
    return out


def save_plots(run: PreparedRun, res: BacktestResult, out: Path) -> None:
    """``fan_chart.png`` (4 series) and ``quantile_function.png`` (first series).

    The quantile-function plot shows a learned curve, so it is drawn only for
    models with ``exact_quantiles`` in the registry (IQF, not MQF2's samples).
    """
    from ..plotting import plot_fan_chart, plot_quantile_function

    title = f"{run.spec.dataset}: {run.spec.model} forecasts"
    plot_fan_chart(res.forecasts, res.series, out / "fan_chart.png", title=title)
    if not get_model(run.spec.model).exact_quantiles:
        return
    step = run.prediction_length // 2
    fc, ts = res.forecasts[0], res.series[0]
    truth = float(target_window(ts, fc)[step])
    plot_quantile_function(fc, step, out / "quantile_function.png", truth=truth)


def _json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }


# -- forecasting ----------------------------------------------------------
def load_predictor(path: str | Path):
    """Deserialize a predictor from ``path`` or from ``path/predictor``.

    Raises
    ------
    ValueError
        If there is no saved predictor there, or one of its files is corrupt
        or truncated; the message names the file.
    """
    from gluonts.model.predictor import Predictor

    path = Path(path)
    if not (path / "gluonts-config.json").is_file():
        if not (path / "predictor" / "gluonts-config.json").is_file():
            raise ValueError(
                f"no saved predictor in {path} (expected {path}/gluonts-config.json); "
                "create one with `gluonts-qf train`."
            )
        path = path / "predictor"  # the output folder of `gluonts-qf train`
    try:
        return Predictor.deserialize(path)
    except Exception as err:  # any failure: find the file to blame
        raise ValueError(_diagnose_predictor(path, err)) from err


def _diagnose_predictor(path: Path, err: Exception) -> str:
    """Which file of the predictor folder ``path`` made loading fail, in words."""
    import torch

    for file in sorted(path.iterdir()):
        try:
            if file.suffix == ".json":
                json.loads(file.read_text())
            elif file.suffix in (".pt", ".pth"):
                torch.load(file, map_location="cpu", weights_only=True)
            else:
                continue
        except Exception as bad:
            why = _one_line(bad)
            return (
                f"corrupt or truncated predictor file {file} ({why}); "
                "save the predictor again (e.g. rerun `gluonts-qf train`)."
            )
    return f"cannot load the predictor in {path}: {_one_line(err)}"


def _one_line(err: BaseException) -> str:
    """``"EOFError"`` or ``"JSONDecodeError: Expecting value: ..."`` (first line)."""
    text = str(err).strip()
    return type(err).__name__ + (f": {text.splitlines()[0]}" if text else "")


def check_compatible(predictor, freq: str, prediction_length: int, name: str) -> None:
    """``ValueError`` unless ``predictor`` forecasts data of ``freq`` over ``prediction_length``.

    The horizon is every GluonTS predictor's ``prediction_length``; the
    frequency is checked when the predictor records it (ours do, as ``freq``).
    """
    import pandas as pd

    problems = []
    if predictor.prediction_length != prediction_length:
        problems.append(
            f"horizon {predictor.prediction_length} (dataset: {prediction_length})"
        )
    trained = getattr(predictor, "freq", None)
    if trained is not None:
        offset = pd.tseries.frequencies.to_offset
        if offset(trained) != offset(freq):
            problems.append(f"frequency {trained!r} (dataset: {freq!r})")
    if problems:
        raise ValueError(
            f"the predictor does not fit {name!r}: it was trained for "
            f"{' and '.join(problems)}; use one trained on this dataset."
        )


def save_predictor(predictor, folder: str | Path) -> Path:
    """Serialize ``predictor`` into ``folder`` atomically.

    The files go to a temporary folder beside ``folder``, which then replaces
    ``folder`` by a rename; so an interrupted save leaves either the old
    predictor or none (plus, after a hard kill, a ``.<name>.saving-*`` folder
    that nothing loads), never a mix of old and new files.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.saving-", dir=folder.parent))
    try:
        predictor.serialize(tmp)
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            folder.rename(old)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder


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
            truth = target_window(series[i], fc)  # (T,)
        item = fc.item_id if fc.item_id is not None else i
        for t, period in enumerate(fc.index):
            row = [item, t + 1, period.to_timestamp().isoformat(), mean[t], *q[:, t]]
            yield row + ([truth[t]] if truth is not None else [])
