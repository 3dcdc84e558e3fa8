"""One run: load the data, train a model, backtest it beside baselines.

The programmatic side of ``gluonts-qf train``::

    spec = RunSpec(dataset="m4_hourly", epochs=10, baselines=["seasonal_naive"])
    run = prepare(spec)                    # loads data, checks every option
    result = train_and_backtest(run)       # {model: metrics} rows + predictor
    save_run(run, result, "runs/m4_hourly-iqf_ensemble")

``RunSpec`` lives in :mod:`gluonts_qf.runs.spec`, the models in
:mod:`gluonts_qf.runs.registry`, ``save_run`` in :mod:`gluonts_qf.runs.outputs`;
all of them are also importable from :mod:`gluonts_qf.runs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestResult, backtest
from ..threads import torch_threads
from .registry import get_model
from .spec import RunSpec


@dataclass
class PreparedRun:
    """A validated ``RunSpec`` with its data loaded."""

    spec: RunSpec
    freq: str
    prediction_length: int
    train: list
    test: list
    #: where the data came from (:attr:`gluonts_qf.runs.data.Data.source`)
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

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
            "data_source": self.source,
        }


def prepare(spec: RunSpec) -> PreparedRun:
    """Validate ``spec``, load its data and check the estimator can be built."""
    spec.validate()
    data = spec.load_data()
    run = PreparedRun(
        spec=spec,
        freq=data.freq,
        prediction_length=data.prediction_length,
        train=data.train,
        test=data.test,
        source=data.source,
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
    estimator = make_estimator(model, run, root)
    if not hasattr(estimator, "checkpoint_path"):
        raise ValueError(f"{model} cannot resume: it trains more than one network.")
    path = estimator.checkpoint_path()
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
    spec, rows, main = run.spec, [], None
    if checkpoints is not None and not resume:  # a fresh start: no stale files
        shutil.rmtree(Path(checkpoints) / spec.model, ignore_errors=True)
    with (
        quiet_lightning(spec.quiet),
        torch_threads(spec.num_threads),  # the baselines' too
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
