"""The application's commands: ``gluonts-qf train``, ``forecast`` and ``decide``.

Each command has a parser (``add_*_parser``) and a function that runs it
(``run_*``); the work itself lives in :mod:`gluonts_qf.runs` (``spec``:
settings and config files, ``registry``: the models, ``run``: training and
backtests, ``outputs``, ``predictors``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from . import outputs, predictors
from .arguments import (
    add_command,
    add_data_options,
    add_predictor_options,
    baseline_list,
    level_list,
    positive_float,
    positive_int,
    usage_errors,
)
from .data import dataset_label, load_data
from .files import Columns, kind_of
from .registry import model_names
from .run import (
    is_main_process,
    last_checkpoint,
    prepare,
    seed_everything,
    train_and_backtest,
)
from .spec import MODEL_EPOCHS, RunSpec, load_config, parse_settings

#: ``train`` options that a ``--config`` file may also set (flags win).
SPEC_OPTIONS = (
    "dataset",
    "model",
    "data_dir",
    "epochs",
    "batches_per_epoch",
    "batch_size",
    "lr",
    "seed",
    "max_series",
    "baselines",
    "num_threads",
    "prediction_length",
    "freq",
    "id_column",
    "timestamp_column",
    "target_column",
)
DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}


def add_train_parser(subs) -> None:
    p = add_command(
        subs,
        "train",
        "train a model, backtest it beside baselines, save the results",
        "Train on a GluonTS dataset, backtest beside baselines trained at "
        "the same budget (epochs x batches x batch size), print the metrics table "
        "and save the predictor, metrics and plots. Options given on the command "
        "line override those of --config.",
        run_train,
    )
    d = DEFAULTS
    add = p.add_argument
    add("--config", type=Path, metavar="YAML", help="run settings file (keys as below)")
    add_data_options(p, required=False)
    add(
        "--model",
        choices=model_names(ours=True),
        help=f"model to train (default {d['model']})",
    )
    add(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="default: the model's ("
        + ", ".join(f"{m} {n}" for m, n in MODEL_EPOCHS.items())
        + "), for the baselines too",
    )
    add(
        "--batches-per-epoch",
        type=positive_int,
        metavar="N",
        help=f"default {d['batches_per_epoch']}",
    )
    add(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help=f"default {d['batch_size']}",
    )
    add("--lr", type=positive_float, help=f"learning rate (default {d['lr']})")
    add("--seed", type=int, help=f"seed set before each model (default {d['seed']})")
    add(
        "--baselines",
        type=baseline_list,
        metavar="LIST",
        help=f"comma-separated subset of {','.join(model_names(ours=False))}, "
        "or 'none' (default seasonal_naive)",
    )
    add(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default runs/<dataset>-<model>)",
    )
    add(
        "--num-threads",
        type=positive_int,
        metavar="N",
        help="torch threads while training and forecasting (default 1: more "
        "threads than free cores slow training many times over)",
    )
    add(
        "--resume",
        action="store_true",
        help="continue training the model from the last checkpoint in "
        "--out/training (left by an interrupted run with the same settings)",
    )
    add("--quiet", action="store_true", help="no progress bars or training logs")
    add(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra estimator argument with a YAML value (e.g. hidden_size=32); "
        "trainer.KEY=VALUE goes to lightning.Trainer; repeatable",
    )


def add_forecast_parser(subs) -> None:
    p = add_command(
        subs,
        "forecast",
        "forecast a dataset's test series with a saved predictor",
        "Forecast the last prediction window of each test series (or, "
        "with --future, the steps after its end) and write quantiles to CSV.",
        run_forecast,
    )
    add = p.add_argument
    add_predictor_options(p)
    add(
        "--levels",
        type=level_list,
        default=[0.05, 0.5, 0.95],
        help="comma-separated quantile levels in (0, 1) (default 0.05,0.5,0.95)",
    )
    add("--future", action="store_true", help="forecast after the end of each series")
    add("--output", type=Path, metavar="CSV", help="CSV file (default standard output)")


def add_decide_parser(subs) -> None:
    p = add_command(
        subs,
        "decide",
        "service-level trade-off, fill rate and cost-optimal stock from forecasts",
        "Forecast past the end of each test series with a saved "
        "predictor and print, summed over series, the quantity each service level "
        "requires, the extra quantity per extra percentage point, the fill rate "
        "and (with --costs) the expected cost and the cost-optimal level; with "
        "--lead-time k, for the total of the next k steps. Writes CSVs and plots "
        "to --out.",
        run_decide,
    )
    add = p.add_argument
    add_predictor_options(p)
    add(
        "--levels",
        type=level_list,
        default=[0.5, 0.8, 0.9, 0.94, 0.95, 0.98, 0.99],
        help="comma-separated service levels in (0, 1) "
        "(default 0.5,0.8,0.9,0.94,0.95,0.98,0.99)",
    )
    add(
        "--costs",
        metavar="UNDER,OVER",
        help="per-unit cost of a unit short and of a unit left over, e.g. 4,1",
    )
    add(
        "--lead-time",
        type=positive_int,
        default=1,
        metavar="K",
        help="decide for the total of the next K steps (default 1)",
    )
    add("--seed", type=int, default=0, help="seed of any sampling (default 0)")
    add("--out", type=Path, metavar="DIR", help="default runs/<dataset>-decide")


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """Config file, then command-line flags, then ``--set``: a validated spec."""
    values = load_config(args.config) if args.config else {}
    for name in SPEC_OPTIONS:
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if "dataset" not in values:
        raise ValueError("--dataset is required (or a dataset: key in --config).")
    settings = parse_settings(args.settings)
    for group in ("estimator", "trainer"):
        values[group] = {**(values.get(group) or {}), **settings[group]}
    values["quiet"] = bool(args.quiet or values.get("quiet", False))
    return RunSpec.from_dict(values).validate()


def run_train(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The ``train`` command; returns ``{model: metrics}``."""
    from ..evaluation.tables import format_table

    with usage_errors(args):
        spec = spec_from_args(args)
        out = outputs.check_out_dir(
            args.out or Path("runs") / f"{dataset_label(spec.dataset)}-{spec.model}"
        )
        run = prepare(spec)
        if args.resume:
            last_checkpoint(spec.model, run, out / "training")
    _say(
        spec.quiet,
        f"{dataset_label(spec.dataset)}: freq {run.freq}, horizon "
        f"{run.prediction_length}, {len(run.train)} train / {len(run.test)} test series",
    )
    result = train_and_backtest(
        run,
        log=lambda msg: print(msg, flush=True),
        checkpoints=out / "training",
        resume=args.resume,
    )
    if not is_main_process():  # another DDP process: process 0 saves
        return dict(result.rows)
    print(format_table(result.rows, outputs.TABLE_COLUMNS))
    outputs.save_run(run, result, out)
    print(f"saved predictor, metrics and plots to {out}")
    return dict(result.rows)


def run_forecast(args: argparse.Namespace) -> dict[str, Any]:
    """The ``forecast`` command; returns a short summary."""
    from gluonts.evaluation import make_evaluation_predictions

    from ..evaluation.scores import crossing_rate

    with usage_errors(args):
        _check_output_file(args.output)
        test, predictor = _data_and_predictor(args)
    series = None
    if args.future:
        forecasts = list(predictor.predict(test))
    else:
        forecast_it, series_it = make_evaluation_predictions(test, predictor)
        forecasts, series = list(forecast_it), list(series_it)
    header = ["item_id", "step", "timestamp", "mean", *(f"q{u:g}" for u in args.levels)]
    header += [] if args.future else ["target"]
    rows = predictors.forecast_rows(forecasts, args.levels, series)
    if args.output is not None and args.output.suffix.lower() == ".parquet":
        with usage_errors(args):
            _write_parquet(args.output, header, rows)
    else:
        with _open_output(args.output) as fp:
            writer = csv.writer(fp)
            writer.writerow(header)
            writer.writerows(rows)
    summary = {
        "num_series": len(forecasts),
        "prediction_length": predictor.prediction_length,
        "levels": args.levels,
        "crossing_rate": crossing_rate(forecasts, args.levels),
        "output": str(args.output) if args.output else "<stdout>",
    }
    print(
        f"forecast {summary['num_series']} series x {summary['prediction_length']} "
        f"steps at levels {args.levels} -> {summary['output']} "
        f"(crossing rate {summary['crossing_rate']:.4f})",
        file=sys.stdout if args.output else sys.stderr,
    )
    return summary


def _write_parquet(path: Path, header: list[str], rows) -> None:
    """The forecast rows as a parquet file (pyarrow: the ``files`` extra)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=header)
    frame["item_id"] = frame["item_id"].astype(str)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        frame.to_parquet(path, index=False)
    except ImportError:
        raise ValueError(
            f"writing {path} needs pyarrow: pip install 'gluonts-qf[files]', or "
            "write a .csv."
        ) from None


def run_decide(args: argparse.Namespace) -> Any:
    """The ``decide`` command; returns the :class:`~.decisions.DecisionReport`."""
    from .. import decisions

    with usage_errors(args):
        costs = None if args.costs is None else decisions.parse_costs(args.costs)
        test, predictor = _data_and_predictor(args)
        label = dataset_label(args.dataset)
        out = outputs.check_out_dir(args.out or Path("runs") / f"{label}-decide")
        seed_everything(args.seed)  # sample forecasts (MQF2) draw with torch
        forecasts = list(predictor.predict(test))
        report = decisions.decide(
            forecasts, args.levels, costs, args.lead_time, seed=args.seed
        )
    print(f"{dataset_label(args.dataset)}: {report.describe()}")
    print(report.format())
    paths = report.save(out)
    print(f"wrote {', '.join(p.name for p in paths)} to {out}")
    return report


def _data_and_predictor(args: argparse.Namespace) -> tuple[list, Any]:
    """The test series of ``--dataset`` and the ``--predictor`` that fits them.

    A file has no horizon or (JSON lines) frequency of its own: unless given,
    they are the predictor's.
    """
    predictor = predictors.load_predictor(args.predictor)
    length, freq = args.prediction_length, args.freq
    if Path(args.dataset).is_file():
        length = length or predictor.prediction_length
        if kind_of(Path(args.dataset)) == "jsonl":
            freq = freq or getattr(predictor, "freq", None)
    data = load_data(
        args.dataset,
        args.data_dir,
        args.max_series,
        length,
        freq,
        Columns(
            args.id_column or Columns.id,
            args.timestamp_column or Columns.timestamp,
            args.target_column or Columns.target,
        ),
    )
    predictors.check_compatible(
        predictor, data.freq, data.prediction_length, args.dataset
    )
    return data.test, predictor


def _check_output_file(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise ValueError(
            f"--output {path} is a folder; give a file name (.csv or .parquet)."
        )
    outputs.check_out_dir(path.parent)


@contextlib.contextmanager
def _open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fp:
        yield fp


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)
