"""``gluonts-qf``: train, backtest and forecast from the command line.

``gluonts-qf train`` trains one of our forecasters (IQF unless ``--model``
says otherwise) on a GluonTS dataset, backtests it beside baselines trained at
the same budget, prints the metrics table and saves the predictor, metrics and
plots. ``gluonts-qf forecast`` loads a saved predictor and writes quantile
forecasts to CSV. Run ``gluonts-qf -h``; the work itself lives in
:mod:`gluonts_qf.experiments` (``spec``: settings and config files,
``registry``: the models, ``runs``: training, backtests and outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .checks import check_int, check_levels, check_positive
from .experiments import runs
from .experiments.datasets import load_data
from .experiments.registry import model_names
from .experiments.spec import RunSpec, load_config, parse_baselines, parse_settings

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
)
DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}


# -- argument types -------------------------------------------------------
def _parsed(
    text: str, parse: Callable[[str], Any], check: Callable[..., Any], what: str
):
    """``check("value", parse(text))``; an argparse error naming ``what`` otherwise."""
    try:
        return check("value", parse(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """Argument type: an integer >= 1."""
    return _parsed(text, int, check_int, "a positive integer")


def positive_float(text: str) -> float:
    """Argument type: a finite number > 0."""
    return _parsed(text, float, check_positive, "a positive number")


def level_list(text: str) -> list[float]:
    """``"0.05,0.5,0.95"`` -> ``[0.05, 0.5, 0.95]``, each strictly inside (0, 1)."""
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
        check_levels(levels)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            "levels must be comma-separated numbers strictly between 0 and 1 "
            f"(e.g. 0.05,0.5,0.95), got {text!r}"
        ) from err
    return list(dict.fromkeys(levels))


def name_list(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` (at least one name)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names, got {text!r}"
        )
    return names


def baseline_list(text: str) -> list[str]:
    try:
        return parse_baselines(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from err


# -- parser ---------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gluonts-qf",
        description="Learned quantile function forecasters for GluonTS.",
    )
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(subs)
    _add_forecast_parser(subs)
    _add_decide_parser(subs)
    _add_reproduce_parser(subs)
    return parser


def _add_train_parser(subs) -> None:
    p = subs.add_parser(
        "train",
        help="train a model, backtest it beside baselines, save the results",
        description="Train on a GluonTS dataset, backtest beside baselines trained at "
        "the same budget (epochs x batches x batch size), print the metrics table "
        "and save the predictor, metrics and plots. Options given on the command "
        "line override those of --config.",
    )
    d = DEFAULTS
    add = p.add_argument
    add("--config", type=Path, metavar="YAML", help="run settings file (keys as below)")
    _add_data_options(p, required=False)
    add(
        "--model",
        choices=model_names(ours=True),
        help=f"model to train (default {d['model']})",
    )
    add("--epochs", type=positive_int, metavar="N", help=f"default {d['epochs']}")
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
    p.set_defaults(func=run_train, parser=p)


def _add_forecast_parser(subs) -> None:
    p = subs.add_parser(
        "forecast",
        help="forecast a dataset's test series with a saved predictor",
        description="Forecast the last prediction window of each test series (or, "
        "with --future, the steps after its end) and write quantiles to CSV.",
    )
    add = p.add_argument
    _add_predictor_options(p)
    add(
        "--levels",
        type=level_list,
        default=[0.05, 0.5, 0.95],
        help="comma-separated quantile levels in (0, 1) (default 0.05,0.5,0.95)",
    )
    add("--future", action="store_true", help="forecast after the end of each series")
    add("--output", type=Path, metavar="CSV", help="CSV file (default standard output)")
    p.set_defaults(func=run_forecast, parser=p)


def _add_decide_parser(subs) -> None:
    p = subs.add_parser(
        "decide",
        help="service-level trade-off, fill rate and cost-optimal stock from forecasts",
        description="Forecast past the end of each test series with a saved "
        "predictor and print, summed over series, the quantity each service level "
        "requires, the extra quantity per extra percentage point, the fill rate "
        "and (with --costs) the expected cost and the cost-optimal level; with "
        "--lead-time k, for the total of the next k steps. Writes CSVs and plots "
        "to --out.",
    )
    add = p.add_argument
    _add_predictor_options(p)
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
    p.set_defaults(func=run_decide, parser=p)


def _add_reproduce_parser(subs) -> None:
    p = subs.add_parser(
        "reproduce",
        help="re-run a paper's experiment: every dataset x model cell, cached",
        description="Train and backtest every cell (configs/<experiment>/"
        "<dataset>-<model>.yaml) of a paper experiment, one progress line per cell, "
        "and write per-cell JSON, <experiment>.csv/.md and figures to --out. Finished "
        "cells are cached: run the same command again to resume.",
    )
    add = p.add_argument
    add("--experiment", required=True, metavar="NAME", help="iqf, mqf2 or figures")
    add("--smoke", action="store_true", help="tiny budgets (configs/smoke/...)")
    add("--datasets", type=name_list, metavar="LIST", help="default: all offline")
    add("--models", type=name_list, metavar="LIST", help="row labels; default all")
    add("--seeds", type=positive_int, default=1, metavar="N", help="default 1")
    add("--budget", type=positive_float, default=1.0, help="scale of the epochs")
    add("--out", type=Path, metavar="DIR", help="default runs/reproduce/<experiment>")
    add("--published", type=Path, metavar="CSV", help="published numbers to add")
    add("--configs", type=Path, metavar="DIR", help="config folder (default configs/)")
    add("--data-dir", type=Path, metavar="DIR", help="folder of GluonTS datasets")
    add("--no-figures", action="store_true", help="skip the PNG figures")
    p.set_defaults(func=run_reproduce, parser=p, quiet=True)


def _add_predictor_options(p: argparse.ArgumentParser) -> None:
    """``--predictor`` and the data options, shared by ``forecast`` and ``decide``."""
    p.add_argument(
        "--predictor",
        type=Path,
        required=True,
        metavar="DIR",
        help="a saved predictor, or the --out folder of `gluonts-qf train`",
    )
    _add_data_options(p, required=True)


def _add_data_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--dataset",
        required=required,
        metavar="NAME",
        help="GluonTS dataset name, e.g. m4_hourly",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder of GluonTS datasets (default $GLUONTS_QF_DATA, then "
        "../shared/data/gluonts if it holds the dataset, then GluonTS's own "
        "location, which downloads)",
    )
    p.add_argument(
        "--max-series",
        type=positive_int,
        metavar="N",
        help="use only the first N series (quick runs)",
    )


# -- commands -------------------------------------------------------------
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
    from .evaluation.tables import format_table

    with _usage_errors(args):
        spec = spec_from_args(args)
        out = runs.check_out_dir(
            args.out or Path("runs") / f"{spec.dataset}-{spec.model}"
        )
        run = runs.prepare(spec)
        if args.resume:
            runs.last_checkpoint(spec.model, run, out / "training")
    _say(
        spec.quiet,
        f"{spec.dataset}: freq {run.freq}, horizon "
        f"{run.prediction_length}, {len(run.train)} train / {len(run.test)} test series",
    )
    result = runs.train_and_backtest(
        run,
        log=lambda msg: print(msg, flush=True),
        checkpoints=out / "training",
        resume=args.resume,
    )
    if not runs.is_main_process():  # another DDP process: process 0 saves
        return dict(result.rows)
    print(format_table(result.rows, runs.TABLE_COLUMNS))
    runs.save_run(run, result, out)
    print(f"saved predictor, metrics and plots to {out}")
    return dict(result.rows)


def run_forecast(args: argparse.Namespace) -> dict[str, Any]:
    """The ``forecast`` command; returns a short summary."""
    from gluonts.evaluation import make_evaluation_predictions

    from .evaluation.scores import crossing_rate

    with _usage_errors(args):
        _check_output_file(args.output)
        test, predictor = _data_and_predictor(args)
    series = None
    if args.future:
        forecasts = list(predictor.predict(test))
    else:
        forecast_it, series_it = make_evaluation_predictions(test, predictor)
        forecasts, series = list(forecast_it), list(series_it)
    header = ["item_id", "step", "timestamp", "mean", *(f"q{u:g}" for u in args.levels)]
    with _open_output(args.output) as fp:
        writer = csv.writer(fp)
        writer.writerow(header + ([] if args.future else ["target"]))
        writer.writerows(runs.forecast_rows(forecasts, args.levels, series))
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


def run_decide(args: argparse.Namespace) -> Any:
    """The ``decide`` command; returns the :class:`~.decisions.DecisionReport`."""
    from . import decisions

    with _usage_errors(args):
        costs = None if args.costs is None else decisions.parse_costs(args.costs)
        test, predictor = _data_and_predictor(args)
        out = runs.check_out_dir(args.out or Path("runs") / f"{args.dataset}-decide")
        runs.seed_everything(args.seed)  # sample forecasts (MQF2) draw with torch
        forecasts = list(predictor.predict(test))
        report = decisions.decide(
            forecasts, args.levels, costs, args.lead_time, seed=args.seed
        )
    print(f"{args.dataset}: {report.describe()}")
    print(report.format())
    paths = report.save(out)
    print(f"wrote {', '.join(p.name for p in paths)} to {out}")
    return report


def run_reproduce(args: argparse.Namespace) -> Any:
    """The ``reproduce`` command; returns the :class:`~.reproduce.Reproduction`."""
    from .evaluation.tables import format_table
    from .experiments.reproduce import reproduce

    options = {
        "smoke": args.smoke,
        "datasets": args.datasets,
        "models": args.models,
        "seeds": args.seeds,
        "out": args.out,
        "published": args.published,
        "data_dir": args.data_dir,
        "config_dir": args.configs,
        "budget": args.budget,
        "figures": not args.no_figures,
    }
    with _usage_errors(args), runs.quiet_lightning(True):
        result = reproduce(
            args.experiment, **options, log=lambda m: print(m, flush=True)
        )
    columns = ["dataset", *result.experiment.columns, "error"]
    print(format_table(result.rows, columns))
    print(f"wrote {', '.join(str(f) for f in result.files)}")
    return result


# -- plumbing -------------------------------------------------------------
def _data_and_predictor(args: argparse.Namespace) -> tuple[list, Any]:
    """The test series of ``--dataset`` and the ``--predictor`` that fits them."""
    ds, _, test = load_data(args.dataset, args.data_dir, args.max_series)
    predictor = runs.load_predictor(args.predictor)
    runs.check_compatible(
        predictor,
        ds.metadata.freq,
        int(ds.metadata.prediction_length),
        args.dataset,
    )
    return test, predictor


def _check_output_file(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise ValueError(f"--output {path} is a folder; give a CSV file name.")
    runs.check_out_dir(path.parent)


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


@contextlib.contextmanager
def _usage_errors(args: argparse.Namespace) -> Iterator[None]:
    """Bad input (``ValueError``) becomes an argparse error: message, exit 2."""
    try:
        yield
    except ValueError as err:
        args.parser.error(str(err))


@contextlib.contextmanager
def _cli_warnings(quiet: bool) -> Iterator[None]:
    """Hide library deprecation chatter (and, when quiet, library hints)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings(
            "ignore", message=".*json.*module", category=UserWarning
        )
        if quiet:
            warnings.filterwarnings("ignore", module=r"(lightning|gluonts)\..*")
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gluonts-qf`` and ``python -m gluonts_qf``; returns 0.

    Bad input exits with status 2 and a one-line message (no traceback).
    """
    args = build_parser().parse_args(argv)
    with _cli_warnings(getattr(args, "quiet", False)):
        args.func(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
