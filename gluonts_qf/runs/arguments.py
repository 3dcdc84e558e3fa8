"""Command-line plumbing shared by every ``gluonts-qf`` command.

Argument types that check their value (``positive_int``, ``level_list``, ...),
the data and predictor options, and :func:`usage_errors`, which turns a
``ValueError`` into argparse's one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..checks import check_int, check_levels, check_positive
from .spec import parse_baselines


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
    """``"seasonal_naive,deepar"`` -> names of baselines (or ``[]`` for ``none``)."""
    try:
        return parse_baselines(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from err


def add_command(
    subs, name: str, summary: str, description: str, run: Callable, **defaults: Any
) -> argparse.ArgumentParser:
    """A ``gluonts-qf NAME`` subcommand that calls ``run(args)``.

    ``args.parser`` is the subcommand's parser (for :func:`usage_errors`).
    """
    p = subs.add_parser(name, help=summary, description=description)
    p.set_defaults(func=run, **defaults)
    p.set_defaults(parser=p)
    return p


def add_predictor_options(p: argparse.ArgumentParser) -> None:
    """``--predictor`` and the data options, shared by ``forecast`` and ``decide``."""
    p.add_argument(
        "--predictor",
        type=Path,
        required=True,
        metavar="DIR",
        help="a saved predictor, or the --out folder of `gluonts-qf train`",
    )
    add_data_options(p, required=True)


def add_data_options(p: argparse.ArgumentParser, required: bool) -> None:
    """``--dataset`` and what reads it: data dir, horizon, frequency, columns."""
    add = p.add_argument
    add(
        "--dataset",
        required=required,
        metavar="NAME|PATH",
        help="a GluonTS dataset name (e.g. m4_hourly), a GluonTS dataset folder "
        "(metadata.json, train/, test/), or a file of your own series: .csv or "
        ".parquet with one row per series and timestamp, or GluonTS JSON lines",
    )
    add(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder of GluonTS dataset folders (default $GLUONTS_QF_DATA, then "
        "../shared/data/gluonts if it holds the dataset, then GluonTS's own "
        "location, which downloads)",
    )
    add(
        "--max-series",
        type=positive_int,
        metavar="N",
        help="use only the first N series (quick runs)",
    )
    add(
        "--prediction-length",
        type=positive_int,
        metavar="N",
        help="steps to forecast (and to hold out for the backtest); needed for a "
        "file, overrides a dataset's metadata",
    )
    add(
        "--freq",
        metavar="FREQ",
        help="pandas frequency of the data (e.g. h, D, W, MS); inferred from a "
        "file's timestamps when not given",
    )
    for column, default in (("id", "item_id"), ("timestamp", "timestamp")):
        add(
            f"--{column}-column",
            metavar="NAME",
            help=f"the {column} column of a long file (default {default})",
        )
    add("--target-column", metavar="NAME", help="the value column (default target)")


@contextlib.contextmanager
def usage_errors(args: argparse.Namespace) -> Iterator[None]:
    """Bad input (``ValueError``) becomes an argparse error: message, exit 2."""
    try:
        yield
    except ValueError as err:
        args.parser.error(str(err))
