"""Reproduce the papers' experiments: every cell of a table, cached and resumable.

``gluonts-qf reproduce --experiment iqf`` (or :func:`reproduce`) trains and
backtests each cell of ``configs/<experiment>.yaml`` (a datasets x models
matrix, :mod:`gluonts_qf.reproduce.cells`) for each seed, and writes under
``--out``::

    cells/<dataset>/<label>-seed<k>.json   one finished cell (the resume cache)
    <experiment>.csv, <experiment>.md      the table: mean (and spread) over seeds
    figures/<dataset>/...                  fan charts, quantile functions, heatmaps

A cell's JSON is written to a temporary file and moved into place
(``os.replace``) once complete, and it records a fingerprint of its settings,
seed and budget; a re-run reads a cell only when its file parses and its
fingerprint matches, and recomputes it otherwise. Cells that fail (a GluonTS
reference that crashes) become a row with the error and are retried on the
next run.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_int, check_positive
from ..evaluation.backtest import BacktestResult, backtest
from ..evaluation.joint import crps_sum, horizon_correlation, series_correlation
from ..runs.data import find_data_dir
from ..runs.outputs import json_safe
from ..runs.registry import get_model
from ..runs.run import PreparedRun, fit
from ..runs.spec import RunSpec
from .cache import read_cell, write_atomic
from .cells import CellSpec, experiment_file, fingerprint, load_cells
from .correlation import correlation_figures
from .experiments import Experiment, cell_metrics, get_experiment
from .figures import run_figures
from .series import SeriesData, backtest_series, group_series
from .synthetic import SYNTHETIC, load_data
from .tables import load_published, write_tables


# -- one cell ---------------------------------------------------------------
def run_cell(
    exp: Experiment,
    cell: CellSpec,
    seed: int,
    budget: float,
    data: PreparedRun,
    figures: Path | None,
    groups: SeriesData | None = None,
) -> dict[str, Any]:
    """Train and backtest one cell; a JSON-ready record (``status`` ok or error).

    ``groups`` (for a cell with ``series``): the series scored jointly; the
    model trains on them one by one, or grouped when the cell is joint across
    series.
    """
    start = time.perf_counter()
    record = {"experiment": exp.name, "dataset": cell.group, "label": cell.label}
    record.update(model=cell.model, seed=seed, settings=cell.settings())
    estimator = dict(cell.estimator)
    train = data.train
    if cell.joint_series:
        estimator["target_dim"] = cell.series
        train = groups.grouped_train
    spec = RunSpec(
        dataset=cell.dataset,
        model=cell.model if get_model(cell.model).ours else "iqf",
        epochs=max(1, round(cell.epochs * budget)),
        batches_per_epoch=cell.batches_per_epoch,
        batch_size=cell.batch_size,
        lr=cell.lr,
        seed=seed,
        baselines=[],
        estimator=estimator,
        trainer=cell.trainer,
        quiet=True,
    ).validate()
    run = PreparedRun(spec, data.freq, data.prediction_length, train, data.test)
    try:
        with tempfile.TemporaryDirectory(prefix="gluonts-qf-") as root:
            predictor, seconds = fit(cell.model, run, Path(root))
        with warnings.catch_warnings():  # scores a forecast type lacks show as nan
            warnings.simplefilter("ignore", UserWarning)
            if groups is not None:
                res = backtest_series(
                    predictor,
                    groups,
                    data.freq,
                    cell.joint_series,
                    cell.num_samples,
                    exp.levels,
                )
                metrics = {**res, "train_seconds": seconds}
                corr = series_correlation(res.forecasts)
                record["series_correlation"] = _matrix(corr)
            else:
                res = backtest(
                    predictor, run.test, cell.num_samples, exp.levels, progress=False
                )
                metrics = {**cell_metrics(exp, res), "train_seconds": seconds}
        if exp.joint and groups is None:
            metrics["CRPS_Sum"] = _or_nan(lambda: crps_sum(res.forecasts, res.series))
            corr = np.asarray(_or_nan(lambda: horizon_correlation(res.forecasts)))
            record["horizon_correlation"] = _matrix(corr)
    except Exception as err:  # a reference that crashes is a row saying so
        text = str(err).strip()
        message = text.splitlines()[0][:300] if text else "(no message)"
        record.update(status="error", error=f"{type(err).__name__}: {message}")
    else:
        record.update(status="ok", metrics=json_safe(metrics))
        if figures is not None and seed == 0 and groups is None:
            _cell_figures(cell, res, figures)
    record["elapsed_seconds"] = time.perf_counter() - start
    return record


def _matrix(corr: np.ndarray) -> list[list[float | None]] | None:
    """A correlation matrix for JSON (``None`` if not a matrix or all nan)."""
    if corr.ndim != 2 or not np.isfinite(corr).any():
        return None
    return [[_finite(v) for v in row] for row in corr.round(4)]


def _or_nan(score: Callable[[], Any]) -> Any:
    """``score()``, or ``nan`` for forecasts without samples (``TypeError``)."""
    try:
        return score()
    except TypeError:
        return float("nan")


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _cell_figures(cell: CellSpec, res: BacktestResult, folder: Path) -> None:
    """The fan chart, and the learned quantile function for exact-quantile models."""
    try:
        from ..plotting import plot_backtest

        folder = folder / cell.dataset
        exact = get_model(cell.model).exact_quantiles
        plot_backtest(
            res.forecasts,
            res.series,
            folder / f"{cell.label}-fan.png",
            folder / f"{cell.label}-quantile_function.png" if exact else None,
            title=f"{cell.dataset}: {cell.label}",
        )
    except ImportError:  # matplotlib is an optional extra
        pass


# -- the experiment -------------------------------------------------------
@dataclass
class Reproduction:
    """What :func:`reproduce` did: the records of every cell and the files written."""

    experiment: Experiment
    records: list[dict[str, Any]]
    rows: list[tuple[str, dict[str, Any]]]
    out: Path
    files: list[Path]


def select_cells(
    cells: list[CellSpec],
    datasets: Sequence[str] | None,
    models: Sequence[str] | None,
    data_dir: str | Path | None,
) -> list[CellSpec]:
    """The cells of ``datasets`` and ``models`` (labels); by default every dataset
    the data folder holds (all of them without a folder: GluonTS downloads) and
    the synthetic ones.

    ``ValueError`` for a name with no cell, or a dataset the folder lacks.
    """
    folder = find_data_dir(data_dir)
    have = {c.dataset for c in cells}
    labels = {c.label for c in cells}
    for names, known, what in ((datasets, have, "dataset"), (models, labels, "model")):
        unknown = sorted(set(names or ()) - known)
        if unknown:
            raise ValueError(
                f"no cell config for {what}(s) {unknown}; this experiment has "
                f"{', '.join(sorted(known))}."
            )

    def available(name: str) -> bool:
        return folder is None or name in SYNTHETIC or (folder / name).is_dir()

    if datasets is None:
        datasets = sorted(n for n in have if available(n))
    elif folder is not None:
        lacking = sorted(n for n in datasets if not available(n))
        if lacking:
            raise ValueError(
                f"dataset(s) {lacking} are not in {folder}; unset --data-dir and "
                "$GLUONTS_QF_DATA to let GluonTS download them."
            )
    if not datasets:
        raise ValueError(f"none of this experiment's datasets is in {folder}.")
    return [
        c
        for c in cells
        if c.dataset in datasets and (models is None or c.label in models)
    ]


def _load(
    cell: CellSpec, data_dir: Path | None, cache: dict
) -> tuple[PreparedRun, SeriesData | None]:
    """The cell's data (cached per dataset and cut); with ``series``, its group.

    For a cell with ``series: M`` the run's series are the group's ``M``
    univariate series (training series and their test entries).
    """
    key = (cell.dataset, cell.max_series, cell.series)
    if key not in cache:
        data = load_data(cell.dataset, data_dir, cell.max_series)
        train, test, groups = data.train, data.test, None
        if cell.series is not None:
            groups = group_series(train, test, cell.series)
            train, test = groups.train, groups.test
        run = PreparedRun(
            RunSpec(dataset=cell.dataset),
            data.freq,
            data.prediction_length,
            train,
            test,
            data.source,
        )
        cache[key] = (run, groups)
    return cache[key]


def reproduce(
    experiment: str,
    smoke: bool = False,
    datasets: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    seeds: int = 1,
    out: str | Path | None = None,
    published: str | Path | None = None,
    data_dir: str | Path | None = None,
    config_dir: str | Path | None = None,
    budget: float = 1.0,
    figures: bool = True,
    log: Callable[[str], None] = print,
) -> Reproduction:
    """Run (or resume) every cell of ``experiment`` and write its tables.

    Parameters
    ----------
    experiment
        ``"iqf"`` (alias ``"quantile-functions"``), ``"mqf2"``
        (``"multivariate"``) or ``"figures"`` (the illustrations of
        :mod:`gluonts_qf.reproduce.figures`; it takes only ``smoke``,
        ``out``, ``figures`` and ``log``).
    smoke
        Lay the experiment file's ``smoke`` settings over every cell (tiny
        budgets, the first series: seconds).
    datasets, models
        Run only these datasets and models (row labels); default: every cell
        whose dataset the data folder holds.
    seeds
        Seeds ``0, ..., seeds - 1`` per cell; tables show mean and spread.
    out
        Output folder (default ``runs/reproduce/<experiment>[-smoke]``).
    published
        CSV of published numbers (``dataset, model, metric, value, source``)
        shown beside ours, with our distance to the best of them.
    data_dir, config_dir
        Folders of the GluonTS datasets and of the experiment files
        (``<config_dir>/<experiment>.yaml``, default the repository's ``configs/``).
    budget
        Scale of every cell's epochs (e.g. 10 for the papers' long schedules).
    figures
        Draw the figures (needs matplotlib).
    log
        Receives one progress line per cell.
    """
    exp = get_experiment(experiment)
    seeds = check_int("seeds", seeds)
    budget = check_positive("budget", budget)
    default = f"runs/reproduce/{exp.name}{'-smoke' if smoke else ''}"
    out = Path(out if out is not None else default)
    if exp.name == "figures":  # no datasets or cells: two fits, seconds
        rows, files = run_figures(out, smoke, figures, log)
        return Reproduction(exp, [], rows, out, files)
    pub = load_published(published) if published is not None else None
    cells = load_cells(experiment_file(exp.name, config_dir), smoke)
    cells = select_cells(cells, datasets, models, data_dir)
    folder, data, records = find_data_dir(data_dir), {}, []
    total = len(cells) * seeds
    for cell in cells:
        for seed in range(seeds):
            path = out / "cells" / cell.dataset / f"{cell.label}-seed{seed}.json"
            key = fingerprint(cell, seed, budget)
            record = read_cell(path, key)
            if record is None:
                run, groups = _load(cell, folder, data)
                fig_dir = out / "figures" if figures else None
                record = run_cell(exp, cell, seed, budget, run, fig_dir, groups)
                record["fingerprint"] = key
                if record["status"] == "ok":
                    write_atomic(path, json.dumps(record, indent=1) + "\n")
                record["cached"] = False
            else:
                record["cached"] = True
            records.append(record)
            log(_progress(len(records), total, exp, record))
    rows, files = write_tables(exp, records, out, seeds, pub)
    if figures and exp.joint:
        files += correlation_figures(records, out / "figures")
    return Reproduction(exp, records, rows, out, files)


def _progress(i: int, total: int, exp: Experiment, record: dict[str, Any]) -> str:
    head = (
        f"[{i}/{total}] {record['dataset']:<18} {record['label']:<16} "
        f"seed {record['seed']}  {record['elapsed_seconds']:7.1f}s  "
    )
    if record["status"] != "ok":
        return head + f"FAILED {record['error']}"
    value = record["metrics"].get(exp.main_metric)
    shown = "-" if value is None else f"{value:.4g}"
    return (
        head + f"{exp.main_metric} {shown}" + ("  (cached)" if record["cached"] else "")
    )
